//! CSRF protection for every state-changing form: a random value in an `HttpOnly` cookie, and
//! in each form its HMAC under the server's secret key (field `csrf_token`). A cross-site page
//! can neither read the cookie nor compute the HMAC. The cookie is replaced at sign-in and
//! sign-out, so a token never outlives the session it was issued in.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8], cookie_value: &str) -> HmacSha256 {
    // HMAC accepts keys of any length.
    let mut mac =
        HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("hmac takes any key length"));
    mac.update(b"portico-csrf:");
    mac.update(cookie_value.as_bytes());
    mac
}

pub fn token_for(key: &[u8], cookie_value: &str) -> String {
    URL_SAFE_NO_PAD.encode(mac(key, cookie_value).finalize().into_bytes())
}

pub fn verify(key: &[u8], cookie_value: &str, presented: &str) -> bool {
    match URL_SAFE_NO_PAD.decode(presented.trim()) {
        Ok(bytes) => mac(key, cookie_value).verify_slice(&bytes).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_bind_to_cookie_and_key() {
        let t = token_for(b"key-one", "cookie-a");
        assert!(verify(b"key-one", "cookie-a", &t));
        assert!(!verify(b"key-two", "cookie-a", &t));
        assert!(!verify(b"key-one", "cookie-b", &t));
        assert!(!verify(b"key-one", "cookie-a", ""));
        assert!(!verify(b"key-one", "cookie-a", "not base64!"));
    }
}
