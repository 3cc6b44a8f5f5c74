//! Reading the `Cookie` header and writing `Set-Cookie` values. Every cookie Portico sets is
//! `HttpOnly`, `SameSite=Lax`, path `/`, and `Secure` when the base URL is https. Under https
//! the names carry the `__Host-` prefix: browsers then accept such a cookie only from this exact
//! host over https, so a sibling subdomain or a plain-http attacker cannot plant one.

use std::borrow::Cow;

use axum::http::{HeaderMap, HeaderValue, header};

pub const SESSION: &str = "portico_session";
pub const CSRF: &str = "portico_csrf";
pub const FLASH: &str = "portico_flash";
/// A sign-in that passed the password and waits for its second step (never a session).
pub const PENDING: &str = "portico_pending";

/// The name a cookie has on the wire.
pub fn wire_name(name: &str, secure: bool) -> Cow<'_, str> {
    if secure { Cow::Owned(format!("__Host-{name}")) } else { Cow::Borrowed(name) }
}

pub fn get<'a>(headers: &'a HeaderMap, name: &str, secure: bool) -> Option<&'a str> {
    let name = wire_name(name, secure);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name.as_ref())
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// `max_age` of `Some(0)` deletes the cookie; `None` makes it last for the browser session.
pub fn set(name: &str, value: &str, max_age: Option<i64>, secure: bool) -> HeaderValue {
    let name = wire_name(name, secure);
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age {
        cookie.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        cookie.push_str("; Secure");
    }
    // Values are our own base64url tokens and flash keys, which are always valid header text.
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// Only values made of characters our own cookies use are accepted back.
pub fn plausible(value: &str) -> bool {
    value.len() <= 100 && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}
