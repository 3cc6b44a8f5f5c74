//! Verification of Stripe's `Stripe-Signature` header: `t=<unix seconds>,v1=<hex>[,v1=<hex>…]`,
//! each `v1` an HMAC-SHA256 of `"{t}.{raw body}"` keyed with the endpoint secret string exactly
//! as given (`whsec_…` included). Any `v1` may match (Stripe sends two while a secret rolls);
//! comparisons are constant-time; the timestamp must be within the tolerance of now.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Stripe's own default tolerance.
pub const TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no Stripe-Signature header")]
    Missing,
    #[error("the Stripe-Signature header is malformed")]
    Malformed,
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
    #[error("no signature matches")]
    NoMatch,
}

/// Checks `header` against `body` at time `now` (Unix seconds).
pub fn verify(secret: &str, header: Option<&str>, body: &[u8], now: i64) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (key, value) = part.trim().split_once('=').ok_or(SignatureError::Malformed)?;
        match key {
            "t" => timestamp = Some(value.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            "v1" => signatures.push(decode_hex(value).ok_or(SignatureError::Malformed)?),
            // Other schemes (`v0`, test-mode extras) are ignored, as Stripe's libraries do.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return Err(SignatureError::Stale);
    }
    let mac = |_: ()| {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .unwrap_or_else(|_| unreachable!("hmac takes any key length"));
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    };
    // `verify_slice` compares in constant time; every candidate is checked.
    let matched =
        signatures.iter().fold(false, |found, candidate| mac(()).verify_slice(candidate).is_ok() | found);
    if matched { Ok(()) } else { Err(SignatureError::NoMatch) }
}

/// The header Stripe would send for `body` at `timestamp` (for tests and the fake).
pub fn sign(secret: &str, body: &[u8], timestamp: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("hmac takes any key length"));
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 128 {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret_123";
    const BODY: &[u8] = br#"{"id":"evt_1","object":"event"}"#;
    /// Computed independently (Python's `hmac`) for SECRET, BODY and t=1700000000.
    const EXPECTED: &str = "e7f0d58c18acfe06e9a0f31a511b14d90240a2fb7dfee077f321fb2f336323ba";

    #[test]
    fn a_known_signature_verifies_and_everything_else_does_not() {
        let t = 1_700_000_000;
        let header = format!("t={t},v1={EXPECTED}");
        assert_eq!(sign(SECRET, BODY, t), header);
        assert_eq!(verify(SECRET, Some(&header), BODY, t + 10), Ok(()));
        assert_eq!(verify(SECRET, Some(&header), BODY, t + TOLERANCE_SECS + 1), Err(SignatureError::Stale));
        assert_eq!(verify(SECRET, Some(&header), BODY, t - TOLERANCE_SECS - 1), Err(SignatureError::Stale));
        assert_eq!(verify(SECRET, Some(&header), b"{\"id\":\"evt_2\"}", t), Err(SignatureError::NoMatch));
        assert_eq!(verify("whsec_other", Some(&header), BODY, t), Err(SignatureError::NoMatch));
        assert_eq!(verify(SECRET, None, BODY, t), Err(SignatureError::Missing));
        assert_eq!(verify(SECRET, Some("garbage"), BODY, t), Err(SignatureError::Malformed));
        assert_eq!(verify(SECRET, Some(&format!("t={t}")), BODY, t), Err(SignatureError::Malformed));
        assert_eq!(
            verify(SECRET, Some(&format!("t=x,v1={EXPECTED}")), BODY, t),
            Err(SignatureError::Malformed)
        );
        let rolled = format!("t={t},v1={},v1={EXPECTED},v0=abc", "00".repeat(32));
        assert_eq!(verify(SECRET, Some(&rolled), BODY, t), Ok(()), "any v1 may match");
        // The key is the secret string as given: without its prefix it is another key.
        assert_eq!(verify("test_secret_123", Some(&header), BODY, t), Err(SignatureError::NoMatch));
    }
}
