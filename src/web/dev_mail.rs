//! The dev mail viewer at `/dev/mail`: every message the dev outbox "delivered", with its
//! headers, both parts and its links. Routed only when no SMTP server is configured, and only
//! answered for clients on this machine.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::pages::{DevMailList, DevMailShow};
use super::{WebCtx, error_page, render};
use crate::http_error::{ErrorInfo, classify};
use crate::state::AppState;
use crate::store::outbox;

/// The not-found page for anyone not on this machine (the dev viewers are for the developer).
pub(super) fn local_only(ctx: &WebCtx) -> Option<Response> {
    let local = ctx
        .origin
        .client_ip
        .as_deref()
        .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
        .is_some_and(|ip| ip.is_loopback());
    (!local).then(|| error_page(ctx, ErrorInfo::new(StatusCode::NOT_FOUND, "not_found", "error-not-found")))
}

pub async fn list(State(state): State<AppState>, ctx: WebCtx) -> Response {
    if let Some(denied) = local_only(&ctx) {
        return denied;
    }
    match outbox::dev_mails(state.store.pool(), 200).await {
        Ok(mails) => render(StatusCode::OK, &DevMailList { p: &ctx, mails }),
        Err(e) => error_page(&ctx, classify(&e.into())),
    }
}

pub async fn show(
    State(state): State<AppState>,
    ctx: WebCtx,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
) -> Response {
    if let Some(denied) = local_only(&ctx) {
        return denied;
    }
    let not_found = || ErrorInfo::new(StatusCode::NOT_FOUND, "not_found", "error-not-found");
    let Ok(Path(id)) = id else { return error_page(&ctx, not_found()) };
    match outbox::dev_mail_by_id(state.store.pool(), id).await {
        Ok(Some(mail)) => {
            let links = crate::mail::links(&mail.body_text);
            render(StatusCode::OK, &DevMailShow { p: &ctx, mail, links })
        }
        Ok(None) => error_page(&ctx, not_found()),
        Err(e) => error_page(&ctx, classify(&e.into())),
    }
}
