//! The rules of Portico's OpenID Connect provider (SPEC §3.9) that need no I/O: redirect URIs,
//! scopes, PKCE, signing algorithms, client ids.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// The algorithm a client's ID tokens are signed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdTokenAlg {
    /// The OIDC default, and the only one some relying parties verify.
    Rs256,
    Es256,
    EdDsa,
}

impl IdTokenAlg {
    pub const ALL: [IdTokenAlg; 3] = [IdTokenAlg::Rs256, IdTokenAlg::Es256, IdTokenAlg::EdDsa];

    pub fn parse(s: &str) -> Option<IdTokenAlg> {
        match s.trim() {
            "RS256" => Some(IdTokenAlg::Rs256),
            "ES256" => Some(IdTokenAlg::Es256),
            "EdDSA" => Some(IdTokenAlg::EdDsa),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IdTokenAlg::Rs256 => "RS256",
            IdTokenAlg::Es256 => "ES256",
            IdTokenAlg::EdDsa => "EdDSA",
        }
    }
}

/// Longest redirect URI accepted.
pub const MAX_REDIRECT_URI: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectUriError {
    /// Not an absolute http(s) URL, or with a fragment or credentials.
    Malformed,
    /// Plain http to a host that is not this machine.
    Insecure,
}

/// What a redirect URI's path and query may hold beyond a webhook URL's: RFC 3986 sub-delimiters
/// and `:` (never `@`, a backslash, `#` or `*`).
pub const REDIRECT_URI_MORE_CHARS: &str = ":+,;!$()";

/// A redirect URI as a client registers it: an absolute `https://` URL (or `http://` to
/// `localhost` or `127.0.0.1`, for applications on the user's own machine) in the grammar of
/// webhook URLs (`destination::parse_url`: a host name or IPv4 address, an optional port, a path
/// and query of `[A-Za-z0-9._~/?=&%-]`, and here also `:+,;!$()`, which applications use in
/// their callback paths; no fragment, no credentials). The OpenAPI document states the same. Requests must name it exactly as registered: no wildcards, no normalisation.
pub fn parse_redirect_uri(text: &str) -> Result<String, RedirectUriError> {
    let text = text.trim();
    if text.chars().count() > MAX_REDIRECT_URI {
        return Err(RedirectUriError::Malformed);
    }
    let url = super::destination::parse_url_with(text, true, true, REDIRECT_URI_MORE_CHARS)
        .map_err(|_| RedirectUriError::Malformed)?;
    match (url.scheme(), url.host_str()) {
        ("https", _) => Ok(text.to_string()),
        ("http", Some("localhost" | "127.0.0.1")) => Ok(text.to_string()),
        _ => Err(RedirectUriError::Insecure),
    }
}

/// The scopes Portico knows; others in a request are ignored (RFC 6749 §3.3 lets the server
/// grant fewer than asked).
pub const SCOPES: [&str; 6] = ["openid", "email", "profile", "groups", "membership", "offline_access"];

/// The known scopes of a `scope` parameter, in a fixed order, or `None` without `openid` (this
/// is an OpenID Connect provider only).
pub fn parse_scopes(text: &str) -> Option<Vec<&'static str>> {
    let asked: Vec<&str> = text.split(' ').filter(|s| !s.is_empty()).collect();
    if !asked.contains(&"openid") {
        return None;
    }
    Some(SCOPES.iter().copied().filter(|s| asked.contains(s)).collect())
}

/// A PKCE `code_challenge` (S256): base64url without padding of a SHA-256, 43 characters.
pub fn valid_challenge(challenge: &str) -> bool {
    challenge.len() == 43 && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether a `code_verifier` (RFC 7636 §4.1: 43–128 characters of `[A-Za-z0-9-._~]`) is the
/// one whose S256 transform is `challenge`. Compared in constant time.
pub fn verifier_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !well_formed {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    computed.len() == challenge.len()
        && computed.bytes().zip(challenge.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// A `client_id` Portico issues: `pc_` and 22 characters of base64url (128 random bits).
pub fn new_client_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    format!("pc_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Whether a presented `client_id` has the form Portico issues (anything else names no client,
/// and is not looked up).
pub fn plausible_client_id(text: &str) -> bool {
    text.len() == 25
        && text.starts_with("pc_")
        && text[3..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_https_or_loopback_http_without_fragments() {
        for good in [
            "https://wiki.example.org/oauth/callback",
            "https://cloud.example.org/apps/user_oidc/code?x=1",
            "http://localhost:3000/cb",
            "http://127.0.0.1:8000/callback",
            "https://wiki.example.org/index.php/Special:PluggableAuthLogin",
            "https://x.example.org/a;b,c+d!e$(f)",
        ] {
            assert_eq!(parse_redirect_uri(good).as_deref(), Ok(good), "{good}");
        }
        assert_eq!(parse_redirect_uri("http://wiki.example.org/cb"), Err(RedirectUriError::Insecure));
        for bad in [
            "",
            "/relative",
            "https://x.example/cb#frag",
            "https://user:pw@x.example/cb",
            "javascript:alert(1)",
            "ftp://x.example/",
            "https:///nohost",
            "https:\\\\x.example\\cb",
            "https://x.example\\@evil.example/",
            "https://x.example/\u{0}",
            "http://[::1]/cb",
            "https://x.example/cb*",
        ] {
            assert_eq!(parse_redirect_uri(bad), Err(RedirectUriError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn scopes_need_openid_and_unknown_ones_are_dropped() {
        assert_eq!(parse_scopes("email openid unknown profile"), Some(vec!["openid", "email", "profile"]));
        assert_eq!(parse_scopes("email profile"), None);
        assert_eq!(parse_scopes(""), None);
    }

    #[test]
    fn pkce_s256_as_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(valid_challenge(challenge));
        assert!(verifier_matches(verifier, challenge));
        assert!(!verifier_matches("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj", challenge));
        assert!(!verifier_matches("short", challenge));
        assert!(!valid_challenge("plain-text-challenge"));
    }

    #[test]
    fn client_ids() {
        let id = new_client_id();
        assert!(plausible_client_id(&id), "{id}");
        assert!(!plausible_client_id("pc_short"));
        assert!(!plausible_client_id("../etc/passwd"));
    }
}
