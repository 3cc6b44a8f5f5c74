use axum::Form;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use super::pages::Login;
use super::{FlashKind, WebCtx, cookies, error_page, render, see_other, start_session};
use crate::domain::SecretToken;
use crate::flows::{self, FlowError};
use crate::http_error::classify;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

pub async fn form(ctx: WebCtx) -> Response {
    if ctx.user.is_some() {
        return see_other("/");
    }
    render(StatusCode::OK, &Login { p: &ctx, email: String::new(), error: None })
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
        &form.email,
        &form.password,
        ctx.session_token.as_deref(),
        state.config.session_hours,
    )
    .await;
    match outcome {
        Ok(signed_in) => {
            let target = see_other(if signed_in.is_staff { "/staff/orgs" } else { "/" });
            start_session(target, &ctx, &signed_in.session_token, state.config.session_hours)
        }
        // The same page for a wrong password and an unknown email.
        Err(FlowError::InvalidCredentials) => {
            let page = Login {
                p: &ctx,
                email: form.email.trim().chars().take(254).collect(),
                error: Some(ctx.t.t("login-failed")),
            };
            render(StatusCode::UNAUTHORIZED, &page)
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
    let secure = ctx.secure_cookies;
    let new_csrf = SecretToken::generate("");
    let mut response = see_other("/login");
    // Appended one by one: a header array would keep only the last `Set-Cookie`.
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, cookies::set(cookies::SESSION, "", Some(0), secure));
    headers.append(header::SET_COOKIE, cookies::set(cookies::CSRF, new_csrf.expose(), None, secure));
    let (name, flash) = ctx.set_flash(FlashKind::Info, "flash-signed-out");
    headers.append(name, flash);
    response
}
