//! Secrets the server must read back, stored encrypted: AES-256-GCM with a key derived from the
//! server's secret key by HKDF-SHA256 (RFC 5869), one key per purpose, each sealed value bound to
//! what it belongs to (associated data). OpenID Connect signing keys and TOTP secrets use it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use super::{FlowError, FlowResult};

/// A sealed value could not be opened: another secret key sealed it, or it is damaged.
#[derive(Debug)]
pub struct Unreadable;

#[derive(Clone)]
pub struct Sealer([u8; 32]);

impl Sealer {
    /// HKDF-SHA256 of the secret key with `purpose` as the salt, for one purpose.
    pub fn derive(secret_key: &[u8], purpose: &[u8]) -> Sealer {
        let mut extract = <Hmac<Sha256>>::new_from_slice(purpose).expect("any key length");
        extract.update(secret_key);
        let prk = extract.finalize().into_bytes();
        let mut expand = <Hmac<Sha256>>::new_from_slice(&prk).expect("any key length");
        expand.update(b"aes-256-gcm v1");
        expand.update(&[1]);
        Sealer(expand.finalize().into_bytes().into())
    }

    /// `base64(nonce ‖ ciphertext ‖ tag)`, bound to `context`.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> FlowResult<String> {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let mut tag = [0u8; 16];
        let cipher = openssl::symm::Cipher::aes_256_gcm();
        let sealed = openssl::symm::encrypt_aead(
            cipher,
            &self.0,
            Some(&nonce),
            context.as_bytes(),
            plaintext,
            &mut tag,
        )
        .map_err(|e| FlowError::Internal(format!("encrypting a secret: {e}")))?;
        Ok(STANDARD.encode([&nonce[..], &sealed, &tag].concat()))
    }

    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, Unreadable> {
        let bytes = STANDARD.decode(sealed).map_err(|_| Unreadable)?;
        if bytes.len() < 12 + 16 {
            return Err(Unreadable);
        }
        let (nonce, rest) = bytes.split_at(12);
        let (ciphertext, tag) = rest.split_at(rest.len() - 16);
        let cipher = openssl::symm::Cipher::aes_256_gcm();
        openssl::symm::decrypt_aead(cipher, &self.0, Some(nonce), context.as_bytes(), ciphertext, tag)
            .map_err(|_| Unreadable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_purpose_and_context() {
        let sealer = Sealer::derive(b"a secret key of at least thirty-two bytes", b"purpose one");
        let sealed = sealer.seal("ctx", b"secret").unwrap();
        assert_eq!(sealer.open("ctx", &sealed).unwrap(), b"secret");
        assert!(sealer.open("other", &sealed).is_err());
        let other_purpose = Sealer::derive(b"a secret key of at least thirty-two bytes", b"purpose two");
        assert!(other_purpose.open("ctx", &sealed).is_err());
        assert!(sealer.open("ctx", "not base64!").is_err());
    }
}
