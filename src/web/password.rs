//! `/password/forgot` and `/password/reset/{token}`.

use axum::Form;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::pages::{Field, ForgotPassword, ResetPassword, ResetSent};
use super::{FlashKind, Link, WebCtx, error_page, flash_redirect, link_gone_page, password_opened, render};
use crate::flows::{FlowError, password_reset};
use crate::http_error::{ErrorInfo, classify, field_key};
use crate::state::AppState;

pub async fn forgot(ctx: WebCtx) -> Response {
    render(StatusCode::OK, &ForgotPassword { p: &ctx, email: Field::default() })
}

#[derive(Deserialize, Default)]
pub struct ForgotForm {
    #[serde(default)]
    email: String,
}

pub async fn request(
    State(state): State<AppState>,
    ctx: WebCtx,
    form: Result<Form<ForgotForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return error_page(
            &ctx,
            ErrorInfo::new(StatusCode::BAD_REQUEST, "invalid_request", "error-invalid-input"),
        );
    };
    match password_reset::request(&state.store, &ctx.origin, &form.email, ctx.t.locale).await {
        // The same page whether or not the address has an account.
        Ok(()) => render(StatusCode::OK, &ResetSent { p: &ctx }),
        Err(FlowError::Invalid(_)) => render(
            StatusCode::BAD_REQUEST,
            &ForgotPassword {
                p: &ctx,
                email: Field { value: form.email, error: Some(ctx.t.t("field-invalid-email")) },
            },
        ),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

pub async fn show(
    State(state): State<AppState>,
    ctx: WebCtx,
    token: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(token)) = token else { return link_gone_page(&ctx, Link::PasswordReset) };
    match password_reset::check(&state.store, &token).await {
        Ok(()) => render(StatusCode::OK, &ResetPassword { p: &ctx, token, error: None }),
        Err(FlowError::NotFound) => link_gone_page(&ctx, Link::PasswordReset),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

#[derive(Deserialize, Default)]
pub struct ResetForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

pub async fn reset(
    State(state): State<AppState>,
    ctx: WebCtx,
    token: Result<Path<String>, PathRejection>,
    form: Result<Form<ResetForm>, FormRejection>,
) -> Response {
    let (Ok(Path(token)), Ok(Form(form))) = (token, form) else {
        return link_gone_page(&ctx, Link::PasswordReset);
    };
    match password_reset::reset(
        &state.store,
        &state.config,
        &state.hasher,
        &ctx.origin,
        &token,
        &form.password,
        &form.password_confirm,
    )
    .await
    {
        Ok((session, is_staff)) => {
            let target = if is_staff { "/staff/orgs" } else { "/dashboard" };
            let response = flash_redirect(&ctx, FlashKind::Success, "flash-password-reset", target);
            password_opened(response, &ctx, &session, state.config.session_hours)
        }
        Err(FlowError::Invalid(fields)) => {
            let message = fields.iter().map(|f| ctx.t.t(&field_key(f.code))).collect::<Vec<_>>().join(" ");
            render(StatusCode::BAD_REQUEST, &ResetPassword { p: &ctx, token, error: Some(message) })
        }
        Err(FlowError::NotFound) => link_gone_page(&ctx, Link::PasswordReset),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}
