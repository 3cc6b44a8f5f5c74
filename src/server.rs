//! Wires configuration, storage, pages and the API into one axum application.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ipnet::IpNet;
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::config::Config;
use crate::flows::password::Hasher;
use crate::store::Store;
use crate::store::audit::Origin;

#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

pub struct AppInner {
    pub config: Config,
    pub store: Store,
    pub hasher: Hasher,
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
        AppState(Arc::new(AppInner { config, store, hasher }))
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(crate::api::router(state.clone()))
        .merge(crate::web::router(state.clone()))
        .with_state(state)
        .layer(
            tower::ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                    let request_id = req
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-")
                        .to_string();
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id)
                }).on_response(DefaultOnResponse::new().level(Level::INFO)))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID)),
        )
}

/// Serves until `shutdown` resolves. Also runs periodic housekeeping.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if state.config.smtp_url.is_none() {
        tracing::warn!(
            "no SMTP server configured: email goes to the dev mailbox at /dev/mail and is never sent"
        );
    }
    let mail_worker =
        crate::mail::worker::spawn(state.store.clone(), &state.config).map_err(std::io::Error::other)?;
    let housekeeping = tokio::spawn(housekeeping(state.clone()));
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let result = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    housekeeping.abort();
    // An interrupted delivery stays leased and is retried by whichever process claims it next.
    mail_worker.abort();
    result
}

async fn housekeeping(state: AppState) {
    let mut interval = tokio::time::interval(Duration::from_secs(600));
    loop {
        interval.tick().await;
        match crate::flows::auth::housekeeping(&state.store).await {
            Ok((sessions, windows)) => tracing::debug!(sessions, windows, "housekeeping"),
            Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
        }
    }
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// How long `/readyz` waits for its write probe.
const READY_DEADLINE: Duration = Duration::from_secs(2);

/// Ready means the database takes a write within [`READY_DEADLINE`]: a read-only or
/// unreachable database makes this instance unready, and a load balancer stops sending to it.
async fn readyz(State(state): State<AppState>) -> Response {
    let reason = match tokio::time::timeout(READY_DEADLINE, state.store.check_writable()).await {
        Ok(Ok(())) => return Json(json!({ "status": "ready" })).into_response(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no write within {} s", READY_DEADLINE.as_secs()),
    };
    tracing::warn!(reason, "not ready");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, crate::http_error::STORE_RETRY_AFTER_SECS.to_string())],
        Json(json!({ "status": "unavailable", "reason": "database", "message": reason })),
    )
        .into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    match crate::store::outbox::depth(state.store.pool()).await {
        Ok(depth) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
            crate::metrics::render(&depth),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "metrics unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
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
