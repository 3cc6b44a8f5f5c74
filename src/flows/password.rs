//! argon2id hashing, always on a blocking thread so it never stalls the async runtime.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, password_hash::rand_core::OsRng};

use super::{FlowError, FlowResult};
use crate::domain::NewPassword;

fn hash_sync(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default().hash_password(password.as_bytes(), &salt)?.to_string())
}

pub async fn hash(password: &NewPassword) -> FlowResult<String> {
    let password = password.expose().to_string();
    tokio::task::spawn_blocking(move || hash_sync(&password))
        .await
        .map_err(|e| FlowError::Internal(e.to_string()))?
        .map_err(|e| FlowError::Internal(format!("hashing failed: {e}")))
}

/// Checks `password` against `stored`. With no stored hash (unknown user, or no password set
/// yet) it still does the same work against a dummy hash, so timing does not tell them apart.
pub async fn verify(password: &str, stored: Option<String>) -> bool {
    let password = password.to_string();
    let known = stored.is_some();
    let hash = stored.unwrap_or_else(|| dummy_hash().to_string());
    tokio::task::spawn_blocking(move || {
        let ok = PasswordHash::new(&hash)
            .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
            .unwrap_or(false);
        ok && known
    })
    .await
    .unwrap_or(false)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_sync("portico-dummy-password-for-timing").unwrap_or_default())
}

/// A random password for generated staff logins: 20 characters from an unambiguous alphabet.
pub fn generate() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..20).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}
