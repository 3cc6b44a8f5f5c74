use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A random 256-bit secret handed to someone once (a session cookie, an API token, an emailed
/// link). Only its SHA-256 is ever stored.
pub struct SecretToken(String);

impl SecretToken {
    pub fn generate(prefix: &str) -> SecretToken {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        SecretToken(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> String {
        Self::hash_presented(&self.0)
    }

    /// The stored form of a token someone presented.
    pub fn hash_presented(presented: &str) -> String {
        let digest = Sha256::digest(presented.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hash_stably() {
        let a = SecretToken::generate("pt_");
        let b = SecretToken::generate("pt_");
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with("pt_"));
        assert_eq!(a.expose().len(), 3 + 43);
        assert_eq!(a.hash(), SecretToken::hash_presented(a.expose()));
        assert_eq!(a.hash().len(), 64);
    }
}
