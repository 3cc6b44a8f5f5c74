//! `/account`, for every signed-in user: change the password (this session continues under a
//! new id, every other ends), change the address by a link sent to the new one, see and end
//! one's sessions or sign out everywhere, choose a language. Thin over `flows::account`.

use axum::Form;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use super::pages::{AccountPage, EmailChangeConfirm};
use super::{
    FlashKind, Link, WebCtx, bad_request_page, cookies, error_page, flash_redirect, link_gone_page, render,
    see_other, start_session,
};
use crate::flows::FlowError;
use crate::flows::account::{self, Me};
use crate::flows::erasure;
use crate::http_error::{classify, field_key};
use crate::state::AppState;

const PAGE: &str = "/account";

/// The signed-in user and their session (`None`: send them to sign in).
pub(super) fn me(ctx: &WebCtx) -> Option<Me<'_>> {
    match (&ctx.user, &ctx.session_token) {
        (Some(user), Some(session)) => Some(Me { user_id: user.user_id, origin: &ctx.origin, session }),
        _ => None,
    }
}

/// The page, with a message for the section (`password`, `email`, `locale`) a form came from.
async fn page(
    state: &AppState,
    ctx: &WebCtx,
    error: Option<(&'static str, String)>,
    status: StatusCode,
) -> Response {
    let Some(me) = me(ctx) else { return see_other("/login") };
    let erasure = match erasure::pending(&state.store, me.user_id).await {
        Ok(pending) => pending,
        Err(e) => return error_page(ctx, classify(&e)),
    };
    match account::overview(&state.store, &me).await {
        Ok(overview) => render(status, &AccountPage { p: ctx, overview, erasure, error }),
        Err(e) => error_page(ctx, classify(&e)),
    }
}

/// `POST /account/erasure` (behind a recent sign-in): asks to be erased after the cooling-off
/// period. The form must carry `confirm=erase`.
pub async fn request_erasure(
    State(state): State<AppState>,
    ctx: WebCtx,
    form: Result<Form<ErasureForm>, FormRejection>,
) -> Response {
    let Some(me) = me(&ctx) else { return see_other("/login") };
    let Ok(Form(f)) = form else { return bad_request_page(&ctx) };
    if f.confirm.trim() != "erase" {
        return refused(&state, &ctx, "erasure", crate::flows::invalid("confirm", "confirm_erase")).await;
    }
    match erasure::request(&state.store, me.user_id, me.origin).await {
        Ok(_) => flash_redirect(&ctx, FlashKind::Success, "flash-erasure-requested", PAGE),
        Err(FlowError::Conflict { code: "erasure_pending" }) => see_other(PAGE),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

/// `POST /account/erasure/cancel`: the pending request ends; nothing else changed.
pub async fn cancel_erasure(State(state): State<AppState>, ctx: WebCtx) -> Response {
    let Some(me) = me(&ctx) else { return see_other("/login") };
    match erasure::cancel(&state.store, me.user_id, me.origin).await {
        Ok(()) | Err(FlowError::NotFound) => {
            flash_redirect(&ctx, FlashKind::Success, "flash-erasure-cancelled", PAGE)
        }
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

#[derive(Deserialize)]
pub struct ErasureForm {
    #[serde(default)]
    confirm: String,
}

pub async fn show(State(state): State<AppState>, ctx: WebCtx) -> Response {
    page(&state, &ctx, None, StatusCode::OK).await
}

/// `GET /account/export`: everything Portico holds about the signed-in person, as a download.
pub async fn export(State(state): State<AppState>, ctx: WebCtx) -> Response {
    let Some(me) = me(&ctx) else { return see_other("/login") };
    match crate::flows::export::own(&state.store, &me).await {
        Ok(document) => crate::downloads::json(&document, "portico-export.json"),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

/// A refused form: its section again with the message of each field, or the error page.
async fn refused(state: &AppState, ctx: &WebCtx, section: &'static str, e: FlowError) -> Response {
    match e {
        FlowError::Invalid(fields) => {
            let message = fields.iter().map(|f| ctx.t.t(&field_key(f.code))).collect::<Vec<_>>().join(" ");
            page(state, ctx, Some((section, message)), StatusCode::BAD_REQUEST).await
        }
        e => error_page(ctx, classify(&e)),
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    ctx: WebCtx,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Response {
    let Some(me) = me(&ctx) else { return see_other("/login") };
    let Ok(Form(f)) = form else { return bad_request_page(&ctx) };
    let changed = account::change_password(
        &state.store,
        &state.hasher,
        &state.config,
        &me,
        &f.current_password,
        &f.password,
        &f.password_confirm,
    )
    .await;
    match changed {
        Ok(session) => {
            let response = flash_redirect(&ctx, FlashKind::Success, "flash-password-changed", PAGE);
            start_session(response, &ctx, &session, state.config.session_hours)
        }
        Err(e) => refused(&state, &ctx, "password", e).await,
    }
}

#[derive(Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    current_password: String,
}

pub async fn change_email(
    State(state): State<AppState>,
    ctx: WebCtx,
    form: Result<Form<EmailForm>, FormRejection>,
) -> Response {
    let Some(me) = me(&ctx) else { return see_other("/login") };
    let Ok(Form(f)) = form else { return bad_request_page(&ctx) };
    let asked = account::request_email_change(
        &state.store,
        &state.hasher,
        &state.config,
        &me,
        &f.email,
        &f.current_password,
        ctx.t.locale,
    )
    .await;
    match asked {
        // The same answer whether or not the address has an account.
        Ok(()) => flash_redirect(&ctx, FlashKind::Success, "flash-email-change-sent", PAGE),
        Err(e) => refused(&state, &ctx, "email", e).await,
    }
}

/// The link from the new address: says which address it confirms; the POST confirms it (a
/// mail scanner following the link changes nothing).
pub async fn show_email_link(
    State(state): State<AppState>,
    ctx: WebCtx,
    token: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(token)) = token else { return link_gone_page(&ctx, Link::EmailChange) };
    match account::email_change_target(&state.store, &token).await {
        Ok(address) => render(StatusCode::OK, &EmailChangeConfirm { p: &ctx, token, address }),
        Err(FlowError::NotFound) => link_gone_page(&ctx, Link::EmailChange),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

pub async fn confirm_email(
    State(state): State<AppState>,
    ctx: WebCtx,
    token: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(token)) = token else { return link_gone_page(&ctx, Link::EmailChange) };
    match account::confirm_email_change(&state.store, &ctx.origin, &token).await {
        Ok(_) => {
            let to = if ctx.user.is_some() { PAGE } else { "/login" };
            flash_redirect(&ctx, FlashKind::Success, "flash-email-changed", to)
        }
        Err(FlowError::NotFound) => link_gone_page(&ctx, Link::EmailChange),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

#[derive(Deserialize)]
pub struct SessionForm {
    #[serde(default)]
    session: String,
}

/// Clears the session cookie: this browser is signed out.
fn signed_out(ctx: &WebCtx, flash_key: &str) -> Response {
    let mut response = flash_redirect(ctx, FlashKind::Info, flash_key, "/login");
    response
        .headers_mut()
        .append(header::SET_COOKIE, cookies::set(cookies::SESSION, "", Some(0), ctx.secure_cookies));
    response
}

pub async fn end_session(
    State(state): State<AppState>,
    ctx: WebCtx,
    form: Result<Form<SessionForm>, FormRejection>,
) -> Response {
    let Some(me) = me(&ctx) else { return see_other("/login") };
    let Ok(Form(f)) = form else { return bad_request_page(&ctx) };
    let this_one = f.session == crate::domain::SecretToken::hash_presented(me.session);
    match account::end_session(&state.store, &me, f.session.trim()).await {
        Ok(()) if this_one => signed_out(&ctx, "flash-signed-out"),
        Ok(()) => flash_redirect(&ctx, FlashKind::Success, "flash-session-ended", PAGE),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

pub async fn end_all_sessions(State(state): State<AppState>, ctx: WebCtx) -> Response {
    let Some(me) = me(&ctx) else { return see_other("/login") };
    match account::end_all_sessions(&state.store, &me).await {
        Ok(_) => signed_out(&ctx, "flash-signed-out-everywhere"),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

#[derive(Deserialize)]
pub struct LocaleForm {
    #[serde(default)]
    locale: String,
}

pub async fn set_locale(
    State(state): State<AppState>,
    ctx: WebCtx,
    form: Result<Form<LocaleForm>, FormRejection>,
) -> Response {
    let Some(me) = me(&ctx) else { return see_other("/login") };
    let Ok(Form(f)) = form else { return bad_request_page(&ctx) };
    match account::set_locale(&state.store, &me, &f.locale).await {
        Ok(()) => flash_redirect(&ctx, FlashKind::Success, "flash-locale-changed", PAGE),
        Err(e) => refused(&state, &ctx, "locale", e).await,
    }
}

#[derive(Deserialize)]
pub struct ApplicationForm {
    #[serde(default)]
    client_id: String,
}

/// Withdraws the permission given to a connected application.
pub async fn withdraw_application(
    State(state): State<AppState>,
    ctx: WebCtx,
    form: Result<Form<ApplicationForm>, FormRejection>,
) -> Response {
    let Some(me) = me(&ctx) else { return see_other("/login") };
    let Ok(Form(f)) = form else { return bad_request_page(&ctx) };
    match account::withdraw_application(&state.store, &me, f.client_id.trim()).await {
        Ok(()) => flash_redirect(&ctx, FlashKind::Success, "flash-application-withdrawn", PAGE),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}
