//! The passkey ceremonies' requests (SPEC §3.10), for `templates/passkeys.js`: each ceremony
//! is a `start` (the options for the browser's authenticator, as JSON) and a `finish` (its
//! answer). They are forms (the page middleware checks their origin and form token) answered
//! with JSON. Thin over `flows::passkeys`.

use axum::Json;
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::account::me;
use super::login::local_path;
use super::{WebCtx, cookies, start_session};
use crate::flows::{FlowError, passkeys};
use crate::http_error::{classify, code_message};
use crate::state::AppState;

/// The fields of a form body (bounded by the page middleware).
async fn fields(body: Body) -> Vec<(String, String)> {
    match to_bytes(body, usize::MAX).await {
        Ok(bytes) => url::form_urlencoded::parse(&bytes).into_owned().collect(),
        Err(_) => Vec::new(),
    }
}

fn field(fields: &[(String, String)], name: &str) -> String {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
}

/// An error as JSON: `{"error": message}` in the person's language.
fn refused(ctx: &WebCtx, e: &FlowError) -> Response {
    let (status, message) = match e {
        FlowError::Invalid(_) => (StatusCode::BAD_REQUEST, super::correction(ctx, e).unwrap_or_default()),
        FlowError::InvalidCredentials => (StatusCode::UNAUTHORIZED, ctx.t.t("passkey-failed")),
        FlowError::NotFound => (StatusCode::NOT_FOUND, ctx.t.t("flash-second-factor-expired")),
        other => {
            let info = classify(other);
            (info.status, code_message(info.code, &ctx.t).unwrap_or_else(|| ctx.t.t(info.message_key)))
        }
    };
    (status, Json(json!({ "error": message }))).into_response()
}

fn started(s: passkeys::Started) -> Response {
    Json(json!({ "ceremony": s.ceremony, "options": s.options })).into_response()
}

fn signed_out(ctx: &WebCtx) -> Response {
    refused(ctx, &FlowError::Forbidden)
}

pub async fn register_start(State(state): State<AppState>, ctx: WebCtx) -> Response {
    let Some(me) = me(&ctx) else { return signed_out(&ctx) };
    match passkeys::start_registration(&state.store, &state.config, &me).await {
        Ok(s) => started(s),
        Err(e) => refused(&ctx, &e),
    }
}

pub async fn register_finish(State(state): State<AppState>, ctx: WebCtx, body: Body) -> Response {
    let Some(me) = me(&ctx) else { return signed_out(&ctx) };
    let f = fields(body).await;
    let (ceremony, name, credential) = (field(&f, "ceremony"), field(&f, "name"), field(&f, "credential"));
    match passkeys::finish_registration(&state.store, &state.config, &me, &ceremony, &name, &credential).await
    {
        Ok(()) => {
            let (name, flash) = ctx.set_flash(super::FlashKind::Success, "flash-passkey-added");
            ([(name, flash)], Json(json!({ "location": "/account/security" }))).into_response()
        }
        Err(e) => refused(&ctx, &e),
    }
}

/// A signed-in answer: the session cookie set, the pending one cleared, where to go.
fn signed_in(ctx: &WebCtx, session: &crate::domain::SecretToken, hours: i64, location: &str) -> Response {
    let response = Json(json!({ "location": location })).into_response();
    let mut response = start_session(response, ctx, session, hours);
    response
        .headers_mut()
        .append(header::SET_COOKIE, cookies::set(cookies::PENDING, "", Some(0), ctx.secure_cookies));
    response
}

pub async fn second_step_start(State(state): State<AppState>, ctx: WebCtx) -> Response {
    let Some(pending) = ctx.pending_sign_in.as_deref() else { return refused(&ctx, &FlowError::NotFound) };
    match passkeys::start_second_step(&state.store, &state.config, pending).await {
        Ok(s) => started(s),
        Err(e) => refused(&ctx, &e),
    }
}

pub async fn second_step_finish(State(state): State<AppState>, ctx: WebCtx, body: Body) -> Response {
    let Some(pending) = ctx.pending_sign_in.clone() else { return refused(&ctx, &FlowError::NotFound) };
    let f = fields(body).await;
    let (ceremony, credential) = (field(&f, "ceremony"), field(&f, "credential"));
    match passkeys::finish_second_step(
        &state.store,
        &state.config,
        &ctx.origin,
        &pending,
        &ceremony,
        &credential,
    )
    .await
    {
        Ok(done) => {
            let home = if done.is_staff { "/staff/orgs" } else { "/" };
            let target = done.next_path.as_deref().and_then(local_path).unwrap_or(home).to_string();
            signed_in(&ctx, &done.session_token, state.config.session_hours, &target)
        }
        Err(e) => refused(&ctx, &e),
    }
}

pub async fn sign_in_start(State(state): State<AppState>, ctx: WebCtx) -> Response {
    match passkeys::start_discoverable(&state.store, &state.config, &ctx.origin).await {
        Ok(s) => started(s),
        Err(e) => refused(&ctx, &e),
    }
}

pub async fn sign_in_finish(State(state): State<AppState>, ctx: WebCtx, body: Body) -> Response {
    let f = fields(body).await;
    let (ceremony, credential, next) = (field(&f, "ceremony"), field(&f, "credential"), field(&f, "next"));
    let previous = ctx.session_token.as_deref();
    match passkeys::finish_discoverable(
        &state.store,
        &state.config,
        &ctx.origin,
        &ceremony,
        &credential,
        previous,
    )
    .await
    {
        Ok((session, is_staff)) => {
            let home = if is_staff { "/staff/orgs" } else { "/" };
            let target = local_path(&next).unwrap_or(home).to_string();
            signed_in(&ctx, &session, state.config.session_hours, &target)
        }
        Err(e) => refused(&ctx, &e),
    }
}

pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../templates/passkeys.js"),
    )
}
