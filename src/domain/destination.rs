//! Where Portico may send webhooks. An endpoint URL is `https://` (or `http://` where the
//! configuration allows it), without credentials, and does not name an address on loopback,
//! private, link-local, shared or metadata networks unless the configuration allows those. A
//! host name is checked again when it resolves, at every delivery (see `flows::delivery`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

pub const MAX_URL_CHARS: usize = 1000;
/// The path and query together.
pub const MAX_TAIL_CHARS: usize = 501;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    #[error(
        "not a URL like https://hooks.example.org/portico: http(s), a host name or IPv4 address, an optional \
         port, a path and query of letters, digits and ._~/?=&%- (at most 1000 characters)"
    )]
    Malformed,
    #[error("http:// is not allowed; use https://")]
    Insecure,
    #[error("the address is on a loopback, private, link-local or metadata network")]
    Internal,
}

/// Checks an endpoint URL as staff give it (surrounding whitespace trimmed). The grammar is
/// deliberately narrow (and stated the same in the OpenAPI document): `http(s)://`, a host name
/// whose last label starts with a letter or a dotted-quad IPv4 address, an optional port, and
/// a path and query of unreserved characters and `/?=&%`. No credentials, no IPv6 literals,
/// none of the numeric host spellings (`0x7f.1`) that parsers turn into other addresses.
pub fn parse_url(text: &str, allow_http: bool, allow_private: bool) -> Result<Url, DestinationError> {
    parse_url_with(text, allow_http, allow_private, "")
}

/// `parse_url` with more characters allowed in the path and query (RFC 3986 sub-delimiters a
/// caller can accept, such as the `:` of MediaWiki's `Special:PluggableAuthLogin`).
pub fn parse_url_with(
    text: &str,
    allow_http: bool,
    allow_private: bool,
    more_tail_chars: &str,
) -> Result<Url, DestinationError> {
    if text.chars().count() > MAX_URL_CHARS {
        return Err(DestinationError::Malformed);
    }
    let text = text.trim();
    let (scheme, rest) = text.split_once("://").ok_or(DestinationError::Malformed)?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let tail_ok = tail.len() <= MAX_TAIL_CHARS
        && tail
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._~/?=&%-".contains(c) || more_tail_chars.contains(c));
    if !matches!(scheme, "http" | "https") || !(is_dotted_quad(host) || is_host_name(host)) || !tail_ok {
        return Err(DestinationError::Malformed);
    }
    if let Some(port) = port
        && !(port.len() <= 5 && !port.starts_with('0') && port.parse::<u16>().is_ok_and(|p| p > 0))
    {
        return Err(DestinationError::Malformed);
    }
    let url = Url::parse(text).map_err(|_| DestinationError::Malformed)?;
    let internal = match url.host() {
        Some(Host::Ipv4(ip)) => is_internal(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => is_internal(IpAddr::V6(ip)),
        Some(Host::Domain(name)) => {
            let name = name.to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost") || name.ends_with(".internal")
        }
        None => true,
    };
    if internal && !allow_private {
        return Err(DestinationError::Internal);
    }
    // A receiver on the operator's own network is allowed plain http with the private
    // destinations (what a local receiver needs); a public one needs https unless http is
    // allowed as well.
    if scheme == "http" && !allow_http && !(internal && allow_private) {
        return Err(DestinationError::Insecure);
    }
    Ok(url)
}

/// Four decimal octets 0–255 without leading zeros.
fn is_dotted_quad(host: &str) -> bool {
    let parts: Vec<&str> = host.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.chars().all(|c| c.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
                && p.parse::<u16>().is_ok_and(|n| n <= 255)
        })
}

/// At most 11 labels of letters, digits and inner hyphens (1–63 characters); the last starts
/// with a letter.
fn is_host_name(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    let label_ok = |l: &&str| {
        (1..=63).contains(&l.len())
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    labels.len() <= 11
        && labels.iter().all(label_ok)
        && labels.last().and_then(|l| l.chars().next()).is_some_and(|c| c.is_ascii_alphabetic())
}

/// True for addresses a webhook must not reach unless allowed: loopback, unspecified, private
/// (RFC 1918, unique local), shared (100.64/10), link-local (which holds the cloud metadata
/// address 169.254.169.254), multicast and broadcast, and IPv4 written as IPv6.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => internal_v4(v4),
            None => internal_v6(v6),
        },
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || ip.to_ipv4().is_some_and(internal_v4) // IPv4-compatible ::a.b.c.d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused_unless_allowed() {
        for url in [
            "https://127.0.0.1/hook",
            "https://10.1.2.3/",
            "https://172.16.0.1/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://localhost:8080/",
            "https://api.localhost/",
        ] {
            assert_eq!(parse_url(url, false, false), Err(DestinationError::Internal), "{url}");
            assert!(parse_url(url, false, true).is_ok(), "{url} when allowed");
        }
        for url in ["https://hooks.example.org/portico?x=1", "https://93.184.216.34:8443/"] {
            assert!(parse_url(url, false, false).is_ok(), "{url}");
        }
        // Addresses written so a parser reads another one, and IPv6 literals, are not accepted.
        for url in [
            "https://0x7f.1/",
            "https://2130706433/",
            "https://127.1/",
            "https://[::1]/",
            "https://010.0.0.1/",
        ] {
            assert_eq!(parse_url(url, true, true), Err(DestinationError::Malformed), "{url}");
        }
        for ip in ["::1", "fd00::1", "fe80::1", "::ffff:127.0.0.1"] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        assert!(!is_internal("2606:4700::1111".parse().unwrap()));
    }

    #[test]
    fn only_https_unless_http_is_allowed_and_never_credentials_or_other_schemes() {
        assert_eq!(parse_url("http://hooks.example.org/", false, false), Err(DestinationError::Insecure));
        assert!(parse_url("http://hooks.example.org/", true, false).is_ok());
        // Private destinations, once allowed, may be plain http (a receiver on the operator's
        // own network); public ones still need https or the http setting.
        assert!(parse_url("http://127.0.0.1:9000/hook", false, true).is_ok());
        assert!(parse_url("http://192.168.1.5/", false, true).is_ok());
        assert_eq!(parse_url("http://127.0.0.1:9000/hook", false, false), Err(DestinationError::Internal));
        assert_eq!(parse_url("http://hooks.example.org/", false, true), Err(DestinationError::Insecure));
        for bad in [
            "ftp://hooks.example.org/",
            "https://user:pw@hooks.example.org/",
            "hooks.example.org",
            "",
            "https://",
            "https://hooks.example.org:0/",
            "https://hooks.example.org:65536/",
            "https://hooks.example.org/a b",
            "https://hooks.example.org/#frag",
            "HTTPS://hooks.example.org/",
        ] {
            assert_eq!(parse_url(bad, true, true), Err(DestinationError::Malformed), "{bad}");
        }
        let long = format!("https://hooks.example.org/{}", "a".repeat(MAX_URL_CHARS));
        assert_eq!(parse_url(&long, true, true), Err(DestinationError::Malformed));
    }
}
