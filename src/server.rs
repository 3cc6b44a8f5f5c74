//! Wires configuration, storage, pages and the API into one axum application.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

pub use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(state: AppState) -> Router {
    let mut top = Router::new();
    // The dev webhook receiver takes JSON, beside the API (see `web::dev_webhooks`).
    if state.config.smtp_url.is_none() {
        top = top.route("/dev/webhooks/receive", axum::routing::post(crate::web::dev_webhooks::receive));
    }
    top.route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(crate::api::router(state.clone()))
        .merge(crate::web::router(state.clone()))
        .layer(axum::middleware::from_fn_with_state(state.clone(), limit_body))
        .layer(axum::middleware::from_fn_with_state(state.clone(), refuse_malformed_url))
        .layer(axum::middleware::from_fn_with_state(state.clone(), security_headers))
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

/// How long in-flight requests may take to finish once shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves until `shutdown` resolves. Also runs the email worker and periodic housekeeping.
///
/// Connections are served by hyper directly (not `axum::serve`) so that one client cannot
/// exhaust the server: a request's headers must arrive within the header timeout, which also
/// closes a kept-alive connection that stays idle that long; bodies are bounded in size and time
/// by [`limit_body`]; a response the client stops taking is cut off after the write timeout
/// ([`crate::write_deadline`]); and past `max_connections` new connections get a 503 and are
/// closed.
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
    // The OpenID Connect signing keys: generated on the first start.
    match crate::flows::oidc::keys::ensure_active(&state.store, &state.oidc_encryption).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(keys = n, "generated OpenID Connect signing keys"),
        Err(e) => {
            tracing::warn!(error = %e, "cannot make the OpenID Connect signing keys; sign-in elsewhere fails until they exist")
        }
    }
    let mail_worker =
        crate::delivery::email::spawn(state.store.clone(), &state.config).map_err(std::io::Error::other)?;
    let webhook_worker = crate::delivery::webhooks::spawn(state.store.clone(), &state.config)
        .map_err(std::io::Error::other)?;
    let logout_worker = crate::delivery::logouts::spawn(
        state.store.clone(),
        &state.config,
        state.oidc_keys.clone(),
        state.oidc_encryption.clone(),
    )
    .map_err(std::io::Error::other)?;
    let housekeeping = tokio::spawn(housekeeping(state.clone()));
    let scheduled = tokio::spawn(scheduler(state.clone()));
    let reconcile = tokio::spawn(payments_reconcile(state.clone()));
    let retention = tokio::spawn(audit_retention(state.clone()));
    let backups = tokio::spawn(scheduled_backups(state.clone()));
    let access_watch = tokio::spawn(state.access_watch.clone().run(state.store.clone()));
    let limits = state.config.http.clone();
    let write_timeout = Duration::from_secs(limits.write_timeout_secs);
    let app = router(state);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_timeout_secs))
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            crate::metrics::CONNECTIONS_REFUSED.add(1);
            tokio::spawn(refuse_connection(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                tower::ServiceExt::oneshot(app.clone(), request)
            });
        let stream = crate::write_deadline::WriteDeadline::new(stream, write_timeout);
        let connection = graceful.watch(http.serve_connection(hyper_util::rt::TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still running after the shutdown grace period were cut off");
    }
    housekeeping.abort();
    scheduled.abort();
    reconcile.abort();
    retention.abort();
    backups.abort();
    access_watch.abort();
    // An interrupted delivery stays leased and is retried by whichever process claims it next.
    mail_worker.abort();
    webhook_worker.abort();
    logout_worker.abort();
    Ok(())
}

/// Why a request's URL is refused, if it is: every path and query parameter, decoded, must be
/// valid UTF-8 without control characters. Checked here, once, before any route runs, so no
/// handler sees a NUL (which PostgreSQL refuses, and SQLite would store) or a replaced byte.
fn url_problem(uri: &axum::http::Uri) -> Option<&'static str> {
    for part in [uri.path(), uri.query().unwrap_or("")] {
        // `+` is a space in a query; it decodes the same either way for this check.
        match percent_encoding::percent_decode_str(part).decode_utf8() {
            Err(_) => return Some("the URL is not valid UTF-8 once decoded"),
            Ok(text) if text.chars().any(char::is_control) => {
                return Some("the URL contains a control character");
            }
            Ok(_) => {}
        }
    }
    None
}

/// Routes whose refusals are the JSON error body (the API and machine-to-machine webhooks);
/// everything else answers with a page.
fn answers_json(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/webhooks/") || is_oidc_machine_path(path)
}

/// The OpenID Connect endpoints that answer machines (discovery, JWKS, token, userinfo,
/// introspection, revocation); authorization and logout are pages.
fn is_oidc_machine_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/o/") else { return false };
    let Some((_, tail)) = rest.split_once('/') else { return false };
    matches!(
        tail,
        ".well-known/openid-configuration"
            | "oidc/jwks"
            | "oidc/token"
            | "oidc/userinfo"
            | "oidc/introspect"
            | "oidc/revoke"
    )
}

async fn refuse_malformed_url(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    let Some(problem) = url_problem(request.uri()) else {
        return next.run(request).await;
    };
    if answers_json(request.uri().path()) {
        crate::api::error::ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", problem).into_response()
    } else {
        let ctx = crate::web::WebCtx::anonymous(&state, request.headers());
        crate::web::bad_request_page(&ctx)
    }
}

/// The dev mail viewer shows each email's HTML in a sandboxed `srcdoc` frame, which inherits
/// this policy: emails carry inline styles, and may show remote images. Scripts stay off.
const DEV_MAIL_CSP: &str = "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: https:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// Security headers on every response. Everything but the stylesheet is `no-store`: pages show
/// personal data, the API answers with it, and exports are files of it.
async fn security_headers(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    use axum::http::HeaderValue;
    let path = request.uri().path();
    // The payment step and the dashboard post forms that answer with a redirect to Stripe's
    // checkout or billing portal; browsers hold such redirects to `form-action` too.
    let csp = match &state.payment_csp {
        Some(csp) if path.starts_with("/dashboard") || path.contains("/join/payment") => {
            HeaderValue::from_str(csp).unwrap_or(HeaderValue::from_static(crate::state::CSP))
        }
        _ if path.starts_with("/dev/mail") => HeaderValue::from_static(DEV_MAIL_CSP),
        _ => HeaderValue::from_static(crate::state::CSP),
    };
    let cacheable = path.starts_with("/static/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    // A page whose form leads elsewhere (OpenID Connect consent and logout redirect to the
    // application) sets its own policy; browsers hold redirects after a form to `form-action`.
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Links carry secrets in their paths (/invite/…, /password/reset/…): no Referer leaves this
    // origin. (`no-referrer` would also make browsers send `Origin: null` on our own form posts,
    // which the cross-site check must refuse.)
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static(
            "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
        ),
    );
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    // A handler that chose its caching (the stylesheet, OpenID Connect discovery and keys) keeps
    // it; everything else is personal and `no-store`.
    if !cacheable && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if state.config.https() {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    response
}

/// The answer to a connection over the cap: a short 503 (written with a deadline), then close.
async fn refuse_connection(mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    const BODY: &str = "server busy: too many open connections\n";
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(response.as_bytes())).await;
}

/// Every request body is read here, before any handler: a declared `Content-Length` over the
/// limit is refused at once with 413 (nothing is read), a body that grows past the limit gets
/// 413, and one that does not arrive in full within the body timeout gets 408.
async fn limit_body(State(state): State<AppState>, request: axum::extract::Request, next: Next) -> Response {
    // The console's import takes a file: its two forms may be as large as the import allows.
    let limit = crate::web::staff_import::body_limit(&state.config, request.uri().path())
        .filter(|_| request.method() == axum::http::Method::POST)
        .unwrap_or(state.config.max_body_bytes);
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        let message = format!("the body is larger than {limit} bytes");
        return body_refused(
            &state,
            request.uri(),
            request.headers(),
            StatusCode::PAYLOAD_TOO_LARGE,
            &message,
        )
        .await;
    }
    if http_body::Body::is_end_stream(request.body()) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let deadline = Duration::from_secs(state.config.http.body_timeout_secs);
    let (status, message) = match tokio::time::timeout(deadline, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => {
            return next.run(axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes))).await;
        }
        Ok(Err(e)) if is_length_limit(&e) => {
            (StatusCode::PAYLOAD_TOO_LARGE, format!("the body is larger than {limit} bytes"))
        }
        Ok(Err(_)) => (StatusCode::BAD_REQUEST, "the body could not be read".to_string()),
        Err(_) => {
            (StatusCode::REQUEST_TIMEOUT, format!("the body did not arrive within {} s", deadline.as_secs()))
        }
    };
    body_refused(&state, &parts.uri, &parts.headers, status, &message).await
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// A refused body closes the connection: whatever rest of it is in flight is never read. The API
/// answers its error body, a page the error page in the visitor's language.
async fn body_refused(
    state: &AppState,
    uri: &axum::http::Uri,
    headers: &axum::http::HeaderMap,
    status: StatusCode,
    message: &str,
) -> Response {
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        _ => "invalid_request",
    };
    let mut response = if answers_json(uri.path()) {
        crate::api::error::ApiError::new(status, code, message).into_response()
    } else {
        crate::web::refusal_page(state, headers, status, code).await
    };
    response.headers_mut().insert(header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    response
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

/// The scheduled work, every `scheduler_secs`: past-due grace periods and interrupted Stripe
/// event processing; timed suspensions and expired authorisations; erasure requests whose
/// cooling-off period is over. Several processes may run
/// it at once: each change is conditional.
async fn scheduler(state: AppState) {
    let mut interval = tokio::time::interval(Duration::from_secs(state.config.scheduler_secs));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        match crate::flows::payments::sweep(&state.store, state.stripe.as_ref()).await {
            Ok(swept) if swept != Default::default() => tracing::info!(?swept, "payments sweep"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "payments sweep failed"),
        }
        match crate::flows::access::sweep(&state.store).await {
            Ok(swept) if swept != Default::default() => tracing::info!(?swept, "access sweep"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "access sweep failed"),
        }
        match crate::flows::erasure::run_due(&state.store, state.stripe.as_ref()).await {
            Ok(0) => {}
            Ok(erased) => tracing::info!(erased, "erasure requests carried out"),
            Err(e) => tracing::warn!(error = %e, "erasure requests failed"),
        }
        match crate::flows::oidc::keys::upkeep(&state.store, state.config.oidc_key_publish_secs).await {
            Ok(done) if done != Default::default() => tracing::info!(?done, "signing keys rotated"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "signing key upkeep failed"),
        }
    }
}

/// Removes what is past its retention setting (audit events, emails, webhook deliveries,
/// finished signups, spent links and tokens, Stripe payloads): at start, then every
/// `audit_prune_interval_secs` (a day by default).
async fn audit_retention(state: AppState) {
    let mut interval = tokio::time::interval(Duration::from_secs(state.config.audit_prune_interval_secs));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        match crate::flows::audit::prune(&state.store).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "audit retention"),
            Err(e) => tracing::warn!(error = %e, "audit retention failed"),
        }
        match crate::flows::retention::run(&state.store).await {
            Ok(removed) if removed.is_empty() => {}
            Ok(removed) => tracing::info!(?removed, "retention"),
            Err(e) => tracing::warn!(error = %e, "retention failed"),
        }
    }
}

/// Takes a SQLite backup whenever the newest is `backup_interval` old (looking every minute at
/// most, so a backup another process took counts), keeping the last `backup_keep`. Off on
/// PostgreSQL and when the interval is 0.
async fn scheduled_backups(state: AppState) {
    let every = state.config.backup.interval_secs;
    if every == 0 || state.store.backend() != crate::store::Backend::Sqlite {
        return;
    }
    let mut interval = tokio::time::interval(Duration::from_secs(every.min(60)));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        match crate::flows::backup::scheduled(&state.store, &state.config).await {
            Ok(crate::flows::backup::Scheduled::Taken { backup, pruned }) => {
                tracing::info!(path = %backup.path.display(), pruned, "scheduled backup taken")
            }
            Ok(_) => {}
            Err(e) => {
                crate::metrics::BACKUP_FAILED.add(1);
                tracing::error!(error = %e, "scheduled backup failed");
            }
        }
    }
}

/// Picks up Stripe events the webhook missed, every `stripe_reconcile_interval_secs` (a day by
/// default; the first run is one interval after start).
async fn payments_reconcile(state: AppState) {
    let Some(stripe) = state.stripe.clone() else { return };
    let every = Duration::from_secs(state.config.stripe.reconcile_interval_secs);
    loop {
        tokio::time::sleep(every).await;
        let since = crate::store::now() - crate::flows::payments::RECONCILE_WINDOW_SECS;
        match crate::flows::payments::reconcile(&state.store, &stripe, since).await {
            Ok(report) => {
                tracing::info!(listed = report.listed, added = report.added, "stripe reconciliation")
            }
            Err(e) => tracing::warn!(error = %e, "stripe reconciliation failed"),
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

/// The time of the newest good backup in the backup directory (0: none yet), whoever took it;
/// `None` on PostgreSQL.
fn last_backup(config: &crate::config::Config) -> Option<i64> {
    let dir = crate::flows::backup::backup_dir(config).ok()?;
    match crate::flows::backup::list(&dir) {
        Ok(found) => Some(found.first().map_or(0, |b| b.taken_at)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the backups");
            Some(0)
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let pool = state.store.pool();
    let read = async {
        let now = crate::store::now_ms();
        let (webhook_deliveries, webhook_oldest_due_ms) = crate::store::webhooks::health(pool, now).await?;
        Ok::<_, crate::flows::FlowError>(crate::metrics::Gauges {
            outbox_depth: crate::store::outbox::depth(pool).await?,
            oldest_due_ms: crate::store::outbox::oldest_due_ms(pool, now).await?,
            devices: crate::flows::access::health(&state.store).await?,
            webhook_deliveries,
            webhook_oldest_due_ms,
            last_backup: last_backup(&state.config),
        })
    };
    match read.await {
        Ok(gauges) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
            crate::metrics::render(&gauges),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "metrics unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}
