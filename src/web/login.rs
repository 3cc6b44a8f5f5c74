use axum::Form;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::pages::{Login, SecondFactor};
use super::{
    FlashKind, WebCtx, cookies, error_page, flash_redirect, password_opened, render, see_other, start_session,
};
use crate::flows::{self, FlowError};
use crate::http_error::classify;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    /// Where to go once signed in (a path of this site).
    #[serde(default)]
    next: String,
}

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    #[serde(default)]
    next: String,
}

/// A path of this site to continue to after signing in: it starts with one `/` (never `//`
/// or `/\`, which browsers take for another host), has no control characters, and is bounded.
pub fn local_path(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 4000
        && !next.chars().any(|c| c.is_control() || c == '\\');
    ok.then_some(next)
}

/// The sign-in page. With `next` (a sign-in asked for by another page, such as an OpenID
/// Connect authorization that needs a fresh one), it is shown to a signed-in person too.
pub async fn form(
    State(state): State<AppState>,
    ctx: WebCtx,
    query: Result<Query<LoginQuery>, QueryRejection>,
) -> Response {
    let next = query.map(|Query(q)| q.next).unwrap_or_default();
    let next = local_path(&next).map(String::from);
    if ctx.user.is_some() && next.is_none() {
        return see_other("/");
    }
    let next = next.unwrap_or_default();
    let page =
        render(StatusCode::OK, &Login { p: &ctx, email: String::new(), error: None, next: next.clone() });
    leading_on(&state, page, &next).await
}

/// The sign-in page of an OpenID Connect authorization ends, through redirects, at the
/// application: its form may lead there.
async fn leading_on(state: &AppState, page: Response, next: &str) -> Response {
    match super::oidc::redirect_after_sign_in(state, next).await {
        Some(target) => super::oidc::form_leads_to(page, &target),
        None => page,
    }
}

pub async fn submit(
    State(state): State<AppState>,
    ctx: WebCtx,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return error_page(
            &ctx,
            crate::http_error::ErrorInfo::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "error-invalid-input",
            ),
        );
    };
    let outcome = flows::auth::sign_in(
        &state.store,
        &state.hasher,
        &ctx.origin,
        (&form.email, &form.password),
        ctx.session_token.as_deref(),
        state.config.session_hours,
        local_path(&form.next),
    )
    .await;
    match outcome {
        Ok(signed_in) => {
            let home = if signed_in.is_staff { "/staff/orgs" } else { "/" };
            let target = see_other(local_path(&form.next).unwrap_or(home));
            password_opened(target, &ctx, &signed_in.opened, state.config.session_hours)
        }
        // The same page for a wrong password and an unknown email.
        Err(FlowError::InvalidCredentials) => {
            let next = local_path(&form.next).unwrap_or_default().to_string();
            let page = Login {
                p: &ctx,
                email: form.email.trim().chars().take(254).collect(),
                error: Some(ctx.t.t("login-failed")),
                next: next.clone(),
            };
            leading_on(&state, render(StatusCode::UNAUTHORIZED, &page), &next).await
        }
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

pub async fn logout(State(state): State<AppState>, ctx: WebCtx) -> Response {
    if let Some(token) = &ctx.session_token
        && let Err(e) = flows::auth::sign_out(&state.store, &ctx.flow_ctx(), token).await
    {
        return error_page(&ctx, classify(&e));
    }
    super::signed_out(see_other("/login"), &ctx)
}

#[derive(Deserialize)]
pub struct SecondFactorForm {
    #[serde(default)]
    code: String,
}

/// The pending sign-in this browser holds, if it is live.
async fn pending(
    state: &AppState,
    ctx: &WebCtx,
) -> Result<Option<(String, crate::store::factors::Pending)>, Response> {
    let Some(token) = ctx.pending_sign_in.as_deref() else { return Ok(None) };
    match flows::auth::pending_sign_in(&state.store, token).await {
        Ok(found) => Ok(found.map(|p| (token.to_string(), p))),
        Err(e) => Err(error_page(ctx, classify(&e))),
    }
}

/// Back to the sign-in page: the pending sign-in is gone (expired, or finished elsewhere).
fn start_again(ctx: &WebCtx) -> Response {
    let mut response = flash_redirect(ctx, FlashKind::Info, "flash-second-factor-expired", "/login");
    response.headers_mut().append(
        axum::http::header::SET_COOKIE,
        cookies::set(cookies::PENDING, "", Some(0), ctx.secure_cookies),
    );
    response
}

async fn second_factor_page(
    state: &AppState,
    ctx: &WebCtx,
    pending: &crate::store::factors::Pending,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let next = pending.next_path.as_deref();
    let has_passkeys = match crate::store::factors::passkeys_of(state.store.pool(), pending.user_id).await {
        Ok(keys) => !keys.is_empty(),
        Err(e) => return error_page(ctx, classify(&FlowError::from(e))),
    };
    let page = render(status, &SecondFactor { p: ctx, error, has_passkeys });
    match next {
        Some(next) => leading_on(state, page, next).await,
        None => page,
    }
}

/// The second step of a sign-in: one field, `code`, for a code of the authenticator
/// application or a recovery code.
pub async fn second_factor_form(State(state): State<AppState>, ctx: WebCtx) -> Response {
    match pending(&state, &ctx).await {
        Ok(Some((_, p))) => second_factor_page(&state, &ctx, &p, None, StatusCode::OK).await,
        Ok(None) => start_again(&ctx),
        Err(page) => page,
    }
}

pub async fn second_factor_submit(
    State(state): State<AppState>,
    ctx: WebCtx,
    form: Result<Form<SecondFactorForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let code = form.map(|Form(f)| f.code).unwrap_or_default();
    let (token, pending) = match pending(&state, &ctx).await {
        Ok(Some(found)) => found,
        Ok(None) => return start_again(&ctx),
        Err(page) => return page,
    };
    match flows::second_factor::second_step(&state.store, &state.config, &ctx.origin, &token, &code).await {
        Ok(done) => {
            let home = if done.is_staff { "/staff/orgs" } else { "/" };
            let target = done.next_path.as_deref().and_then(local_path).unwrap_or(home).to_string();
            let mut response =
                start_session(see_other(&target), &ctx, &done.session_token, state.config.session_hours);
            response.headers_mut().append(
                axum::http::header::SET_COOKIE,
                cookies::set(cookies::PENDING, "", Some(0), ctx.secure_cookies),
            );
            response
        }
        // The same answer for every wrong code.
        Err(FlowError::InvalidCredentials) => {
            let error = Some(ctx.t.t("second-factor-failed"));
            second_factor_page(&state, &ctx, &pending, error, StatusCode::UNAUTHORIZED).await
        }
        Err(FlowError::NotFound) => start_again(&ctx),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}
