//! Second factors as values (SPEC §3.10): a TOTP secret (RFC 6238 with SHA-1, 6 digits and
//! 30-second steps, as every authenticator application reads an `otpauth://` URI) and recovery
//! codes. Pure: the time and the last accepted step are the caller's.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rand::RngCore;
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, TOTP};

/// What the URI's label and issuer escape: everything but RFC 3986's unreserved characters.
const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'.').remove(b'-').remove(b'_').remove(b'~');

/// Seconds per TOTP step.
pub const TOTP_STEP_SECS: i64 = 30;
/// Steps of clock drift accepted either side of now.
pub const TOTP_DRIFT_STEPS: i64 = 1;
/// How many recovery codes a set holds.
pub const RECOVERY_CODES: usize = 10;

/// A TOTP shared secret: 20 random bytes (160 bits, RFC 4226's recommendation for SHA-1).
pub struct TotpSecret(Vec<u8>);

impl TotpSecret {
    pub fn generate() -> TotpSecret {
        let mut bytes = vec![0u8; 20];
        rand::rng().fill_bytes(&mut bytes);
        TotpSecret(bytes)
    }

    /// A stored secret (at least 128 bits, as RFC 4226 requires).
    pub fn from_bytes(bytes: Vec<u8>) -> Option<TotpSecret> {
        (bytes.len() >= 16).then_some(TotpSecret(bytes))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    fn totp(&self) -> TOTP {
        // Unchecked: the length is checked by the constructors, six digits are valid.
        TOTP::new_unchecked(Algorithm::SHA1, 6, 0, TOTP_STEP_SECS as u64, self.0.clone())
    }

    /// The secret as authenticator applications take it typed in: base32 without padding.
    pub fn base32(&self) -> String {
        self.totp().get_secret_base32()
    }

    /// `otpauth://totp/{issuer}:{account}?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`
    /// (the Key Uri Format every authenticator application reads).
    pub fn uri(&self, issuer: &str, account: &str) -> String {
        let enc = |s: &str| utf8_percent_encode(s, ESCAPED).to_string();
        format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits=6&period={TOTP_STEP_SECS}",
            enc(issuer),
            enc(account),
            self.base32(),
            enc(issuer)
        )
    }

    /// The code of one step.
    pub fn code_at_step(&self, step: i64) -> String {
        self.totp().generate((step.max(0) * TOTP_STEP_SECS) as u64)
    }

    /// The step, within the accepted drift of `now_secs`, whose code `code` is, provided it is
    /// later than `after_step` (the last step accepted: a code is accepted once). Each candidate
    /// is compared in constant time.
    pub fn matching_step(&self, code: &str, now_secs: i64, after_step: i64) -> Option<i64> {
        let code = totp_code(code)?;
        let current = now_secs / TOTP_STEP_SECS;
        let mut found = None;
        for step in current - TOTP_DRIFT_STEPS..=current + TOTP_DRIFT_STEPS {
            if constant_time_eq(self.code_at_step(step).as_bytes(), code.as_bytes()) && step > after_step {
                found = Some(step);
            }
        }
        found
    }
}

/// Six digits, spaces allowed between them (applications show `123 456`).
pub fn totp_code(input: &str) -> Option<String> {
    let digits: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    (digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The alphabet of recovery codes: lowercase letters and digits without the easily confused
/// `0 o 1 l i` (31 symbols, so ten of them carry 49 bits).
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// A recovery code: ten symbols, shown as `xxxxx-xxxxx`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl RecoveryCode {
    pub fn generate() -> RecoveryCode {
        let mut rng = rand::rng();
        let code = (0..10)
            .map(|_| RECOVERY_ALPHABET[(rng.next_u32() % RECOVERY_ALPHABET.len() as u32) as usize] as char)
            .collect();
        RecoveryCode(code)
    }

    /// What a person types: any letter case, with or without the dash and spaces.
    pub fn parse(input: &str) -> Option<RecoveryCode> {
        let code: String =
            input.chars().filter(|c| !c.is_whitespace() && *c != '-').flat_map(char::to_lowercase).collect();
        (code.len() == 10 && code.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)))
            .then_some(RecoveryCode(code))
    }

    /// As shown: `xxxxx-xxxxx`.
    pub fn display(&self) -> String {
        format!("{}-{}", &self.0[..5], &self.0[5..])
    }

    /// What is stored: SHA-256, hex (the codes are random, so no slow hash is needed).
    pub fn hash(&self) -> String {
        Sha256::digest(self.0.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 (the last six digits of its eight-digit values).
    #[test]
    fn codes_are_those_of_rfc_6238() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec()).unwrap();
        for (time, code) in
            [(59, "287082"), (1111111109, "081804"), (1234567890, "005924"), (2000000000, "279037")]
        {
            assert_eq!(secret.code_at_step(time / TOTP_STEP_SECS), code, "{time}");
        }
    }

    #[test]
    fn one_step_of_drift_is_accepted_two_are_not_and_a_step_is_accepted_once() {
        let secret = TotpSecret::generate();
        let now = 1_800_000_015;
        let step = now / TOTP_STEP_SECS;
        for drift in [-1, 0, 1] {
            let code = secret.code_at_step(step + drift);
            assert_eq!(secret.matching_step(&code, now, 0), Some(step + drift), "{drift}");
        }
        for drift in [-2, 2] {
            assert_eq!(secret.matching_step(&secret.code_at_step(step + drift), now, 0), None, "{drift}");
        }
        let code = secret.code_at_step(step);
        assert_eq!(secret.matching_step(&code, now, step), None, "the same step again");
        assert_eq!(secret.matching_step(&secret.code_at_step(step - 1), now, step), None, "an earlier one");
        assert_eq!(secret.matching_step(&format!("{} {}", &code[..3], &code[3..]), now, 0), Some(step));
        assert_eq!(secret.matching_step("12345", now, 0), None);
        assert_eq!(secret.matching_step("abcdef", now, 0), None);
    }

    #[test]
    fn the_uri_is_the_key_uri_format() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec()).unwrap();
        assert_eq!(secret.base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            secret.uri("Maker Club", "ada@example.org"),
            "otpauth://totp/Maker%20Club:ada%40example.org?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Maker%20Club&algorithm=SHA1&digits=6&period=30"
        );
        assert!(TotpSecret::from_bytes(vec![1; 15]).is_none());
    }

    #[test]
    fn recovery_codes_are_typed_loosely_and_stored_hashed() {
        let code = RecoveryCode::generate();
        let shown = code.display();
        assert_eq!(shown.len(), 11);
        assert_eq!(RecoveryCode::parse(&shown), Some(code.clone()));
        assert_eq!(
            RecoveryCode::parse(&format!(" {} ", shown.to_uppercase().replace('-', " "))),
            Some(code.clone())
        );
        assert_eq!(code.hash().len(), 64);
        assert_ne!(RecoveryCode::generate(), code);
        for bad in ["", "abcde", "abcde-fghij-k", "0bcde-fghij", "123456"] {
            assert_eq!(RecoveryCode::parse(bad), None, "{bad}");
        }
    }
}
