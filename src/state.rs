//! What every request handler shares: the application state (configuration, storage, the
//! hashing pool, Stripe, the access-list watch) and the request's origin. `web` and `api` depend
//! on this, never on `server`, which composes them.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use ipnet::IpNet;

use crate::config::Config;
use crate::flows::password::Hasher;
use crate::store::Store;
use crate::store::audit::Origin;

/// Pages use no inline script or style and are never framed.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";
#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

pub struct AppInner {
    pub config: Config,
    pub store: Store,
    pub hasher: Hasher,
    /// Stripe's API; `None` when no secret key is configured (no payment step).
    pub stripe: Option<crate::stripe::Client>,
    /// The policy of pages whose forms lead to Stripe (see `security_headers`).
    pub payment_csp: Option<String>,
    /// Wakes access-list polls that wait for a change.
    pub access_watch: crate::flows::access::AccessWatch,
    /// The OpenID Connect signing keys this process has decrypted.
    pub oidc_keys: crate::flows::oidc::keys::KeyCache,
    /// What decrypts them (derived from the secret key).
    pub oidc_encryption: crate::flows::oidc::keys::KeyEncryption,
    /// The dev webhook receiver's last deliveries (`/dev/webhooks`, dev mailbox only).
    pub dev_webhooks: DevWebhookInbox,
}

/// A webhook delivery the dev receiver took.
#[derive(Clone, Debug)]
pub struct DevWebhook {
    pub at: i64,
    pub id: String,
    pub event_type: String,
    /// The `webhook-signature` matched the secret of an endpoint whose URL is the receiver's.
    pub verified: bool,
    pub body: String,
}

/// The last [`DevWebhookInbox::KEEP`] deliveries, newest first, in this process's memory.
#[derive(Default)]
pub struct DevWebhookInbox(std::sync::Mutex<std::collections::VecDeque<DevWebhook>>);

impl DevWebhookInbox {
    pub const KEEP: usize = 100;

    pub fn push(&self, delivery: DevWebhook) {
        let mut items = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        items.push_front(delivery);
        items.truncate(Self::KEEP);
    }

    pub fn list(&self) -> Vec<DevWebhook> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().cloned().collect()
    }
}

impl std::ops::Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl AppState {
    /// Starts the password hashing pool the configuration asks for.
    pub fn new(config: Config, store: Store) -> AppState {
        let hasher = Hasher::new(config.hash_workers, config.hash_queue);
        let oidc_encryption = crate::flows::oidc::keys::KeyEncryption::derive(&config.secret_key.0);
        let stripe = crate::stripe::Client::new(&config.stripe);
        let payment_csp = stripe.as_ref().map(|_| {
            let targets = if config.stripe.api_base.as_str() == crate::config::STRIPE_API_BASE {
                "https://checkout.stripe.com https://billing.stripe.com".to_string()
            } else {
                // A fake (tests, the demo): its pages are on its own origin.
                config.stripe.api_base.origin().ascii_serialization()
            };
            CSP.replace("form-action 'self'", &format!("form-action 'self' {targets}"))
        });
        AppState(Arc::new(AppInner {
            config,
            store,
            hasher,
            stripe,
            payment_csp,
            access_watch: Default::default(),
            oidc_keys: Default::default(),
            oidc_encryption,
            dev_webhooks: Default::default(),
        }))
    }
}

/// The client's IP: the socket peer, unless that peer is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    let mut candidate = peer;
    for hop in header.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                candidate = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            // A malformed hop: stop trusting what comes before it.
            Err(_) => break,
        }
    }
    candidate
}

/// The request's origin (client IP, user agent) for audit events and throttles.
pub struct RequestOrigin(pub Origin);

impl FromRequestParts<AppState> for RequestOrigin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
        let forwarded = parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
        let ip = peer.map(|peer| client_ip(peer, forwarded, &state.config.trusted_proxies));
        let user_agent =
            parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(String::from);
        Ok(RequestOrigin(Origin { client_ip: ip.map(|ip| ip.to_string()), user_agent }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ip_only_trusts_configured_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(client_ip(ip("203.0.113.9"), Some("1.2.3.4"), &trusted), ip("203.0.113.9"));
        assert_eq!(client_ip(ip("10.0.0.1"), Some("1.2.3.4"), &trusted), ip("1.2.3.4"));
        assert_eq!(client_ip(ip("10.0.0.1"), Some("6.6.6.6, 1.2.3.4, 10.0.0.7"), &trusted), ip("1.2.3.4"));
        assert_eq!(client_ip(ip("10.0.0.1"), None, &trusted), ip("10.0.0.1"));
        assert_eq!(client_ip(ip("10.0.0.1"), Some("garbage"), &trusted), ip("10.0.0.1"));
        assert_eq!(client_ip(ip("10.0.0.1"), Some("1.2.3.4"), &[]), ip("10.0.0.1"));
    }
}
