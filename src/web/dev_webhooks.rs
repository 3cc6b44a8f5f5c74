//! The dev webhook receiver, `/dev/webhooks/receive`, and its page `/dev/webhooks`: a webhook endpoint on Portico itself, for the
//! demo and for trying endpoints out without a receiver of one's own. It takes deliveries
//! (`POST`), checks their Standard Webhooks signature against the secret of the endpoint whose
//! URL it is, keeps the last hundred in memory and lists them (`GET`). Routed only with the dev
//! mailbox (no SMTP server), and only for clients on this machine, like `/dev/mail`.

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::pages::DevWebhookList;
use super::{WebCtx, render};
use crate::domain::webhook_signature::SigningSecret;
use crate::state::{AppState, DevWebhook};
use crate::store::{now, webhooks};

use crate::flows::webhooks::DEV_RECEIVER_PATH as PATH;

pub async fn list(State(state): State<AppState>, ctx: WebCtx) -> Response {
    if let Some(denied) = super::dev_mail::local_only(&ctx) {
        return denied;
    }
    let url = state.config.base_url.join(PATH).map(|u| u.to_string()).unwrap_or_default();
    render(StatusCode::OK, &DevWebhookList { p: &ctx, url, deliveries: state.dev_webhooks.list() })
}

/// Routed beside the API (outside the pages and their form checks): deliveries are JSON.
pub async fn receive(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    if !crate::state::client_ip(peer.ip(), forwarded, &state.config.trusted_proxies).is_loopback() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let (id, timestamp, signature) =
        (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"));
    let url = state.config.base_url.join(PATH).map(|u| u.to_string()).unwrap_or_default();
    let secrets = match webhooks::secrets_for_url(state.store.pool(), &url, now()).await {
        Ok(secrets) => secrets,
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let verified = timestamp.parse::<i64>().is_ok_and(|t| {
        secrets.iter().filter_map(|s| SigningSecret::parse(s).ok()).any(|secret| {
            let expected = secret.sign(&id, t, &body);
            signature.split(' ').any(|given| given == expected)
        })
    });
    let text = String::from_utf8_lossy(&body);
    let event_type = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["type"].as_str().map(String::from))
        .unwrap_or_default();
    state.dev_webhooks.push(DevWebhook {
        at: now(),
        id,
        event_type,
        verified,
        body: text.chars().take(4_000).collect(),
    });
    StatusCode::NO_CONTENT.into_response()
}
