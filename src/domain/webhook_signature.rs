//! Signing of outgoing webhooks by the Standard Webhooks convention (SPEC §3.7): a secret is
//! `whsec_` + base64 of 32 random bytes; the key is the base64-decoded part after the prefix;
//! `webhook-signature` is `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, several
//! separated by spaces while a rotated secret still signs.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

const PREFIX: &str = "whsec_";

/// An endpoint's signing secret, `whsec_…`.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret {
    text: String,
    key: Vec<u8>,
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(…)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a signing secret is `whsec_` followed by base64")]
pub struct BadSecret;

impl SigningSecret {
    /// A new secret: 32 random bytes.
    pub fn generate() -> SigningSecret {
        let mut key = vec![0u8; 32];
        rand::rng().fill_bytes(&mut key);
        SigningSecret { text: format!("{PREFIX}{}", STANDARD.encode(&key)), key }
    }

    /// A stored or given secret (the prefix is required, the base64 part must decode).
    pub fn parse(text: &str) -> Result<SigningSecret, BadSecret> {
        let encoded = text.strip_prefix(PREFIX).ok_or(BadSecret)?;
        let key = STANDARD.decode(encoded).map_err(|_| BadSecret)?;
        if key.is_empty() {
            return Err(BadSecret);
        }
        Ok(SigningSecret { text: text.to_string(), key })
    }

    /// The secret as shown once to staff and stored.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// `v1,<base64>` for one message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` header: one signature per secret that signs (the current one, and
/// the previous one during a rotation), separated by spaces.
pub fn header(secrets: &[&SigningSecret], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets.iter().map(|s| s.sign(id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_standard_webhooks_test_vector_reproduces() {
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_generated_secret_parses_back_and_two_secrets_sign_side_by_side() {
        let (new, old) = (SigningSecret::generate(), SigningSecret::generate());
        assert!(new.expose().starts_with("whsec_"));
        assert_eq!(SigningSecret::parse(new.expose()).unwrap(), new);
        let both = header(&[&new, &old], "msg_1", 1, b"{}");
        assert_eq!(both, format!("{} {}", new.sign("msg_1", 1, b"{}"), old.sign("msg_1", 1, b"{}")));
        assert_ne!(new.sign("msg_1", 1, b"{}"), old.sign("msg_1", 1, b"{}"));
    }

    #[test]
    fn malformed_secrets_are_refused() {
        for bad in ["", "whsec_", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!"] {
            assert_eq!(SigningSecret::parse(bad), Err(BadSecret), "{bad}");
        }
    }
}
