//! CSRF protection for every state-changing form. Each form carries (field `csrf_token`) an HMAC,
//! under the server's secret key, of what the request is bound to:
//!
//! - a signed-in visitor's **session** token, so a token is good for one session only: a token
//!   and cookie pair an attacker got from a visit of their own is worthless with the victim's
//!   session, even if the attacker manages to plant the cookie;
//! - for anonymous forms (sign-in, signup, password reset), a random **pre-session** value in an
//!   `HttpOnly` cookie, replaced at sign-in and sign-out.
//!
//! A cross-site page can neither read the cookies nor compute the HMAC; the origin check in
//! `context` refuses cross-site submissions on top of that.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What a form token is bound to.
#[derive(Clone, Copy, Debug)]
pub enum Binding<'a> {
    /// The session cookie's token of a signed-in visitor.
    Session(&'a str),
    /// The pre-session cookie of an anonymous visitor.
    PreSession(&'a str),
}

fn mac(key: &[u8], binding: Binding<'_>) -> HmacSha256 {
    // HMAC accepts keys of any length.
    let mut mac =
        HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("hmac takes any key length"));
    match binding {
        Binding::Session(token) => {
            mac.update(b"portico-csrf:session:");
            mac.update(token.as_bytes());
        }
        Binding::PreSession(value) => {
            mac.update(b"portico-csrf:pre-session:");
            mac.update(value.as_bytes());
        }
    }
    mac
}

pub fn token_for(key: &[u8], binding: Binding<'_>) -> String {
    URL_SAFE_NO_PAD.encode(mac(key, binding).finalize().into_bytes())
}

pub fn verify(key: &[u8], binding: Binding<'_>, presented: &str) -> bool {
    match URL_SAFE_NO_PAD.decode(presented.trim()) {
        Ok(bytes) => mac(key, binding).verify_slice(&bytes).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_bind_to_what_they_were_made_for() {
        let t = token_for(b"key-one", Binding::Session("session-a"));
        assert!(verify(b"key-one", Binding::Session("session-a"), &t));
        assert!(!verify(b"key-two", Binding::Session("session-a"), &t));
        assert!(!verify(b"key-one", Binding::Session("session-b"), &t));
        assert!(!verify(b"key-one", Binding::PreSession("session-a"), &t), "kinds never mix");
        let anon = token_for(b"key-one", Binding::PreSession("cookie-a"));
        assert!(verify(b"key-one", Binding::PreSession("cookie-a"), &anon));
        assert!(!verify(b"key-one", Binding::Session("cookie-a"), &anon));
        assert!(!verify(b"key-one", Binding::Session("session-a"), ""));
        assert!(!verify(b"key-one", Binding::Session("session-a"), "not base64!"));
    }
}
