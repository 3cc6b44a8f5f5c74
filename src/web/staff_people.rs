//! `/staff/people` (admins): staff accounts — create one (a password shown once, or an emailed
//! set-password link), change a role, disable (ending every session and API token at once) or
//! enable; each account's API tokens with their last use, revocable. Thin over `flows::staff`.

use axum::Form;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::pages::StaffPeople;
use super::{
    FlashKind, WebCtx, bad_request_page, deny_unless_admin, error_page, explain, flash_redirect,
    not_found_page, render,
};
use crate::flows::staff::{self, FirstPassword};
use crate::http_error::classify;
use crate::state::AppState;

const PAGE: &str = "/staff/people";

/// The page, with a password just generated (address, password) or what went wrong.
async fn page(
    state: &AppState,
    ctx: &WebCtx,
    new_password: Option<(String, String)>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    match staff::list(&state.store, &ctx.flow_ctx()).await {
        Ok(accounts) => render(status, &StaffPeople { p: ctx, accounts, new_password, error }),
        Err(e) => error_page(ctx, classify(&e)),
    }
}

pub async fn show(State(state): State<AppState>, ctx: WebCtx) -> Response {
    if let Some(denied) = deny_unless_admin(&ctx) {
        return denied;
    }
    page(&state, &ctx, None, None, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    /// `link` (email a set-password link) or `shown` (show a password once).
    #[serde(default)]
    first_password: String,
}

pub async fn create(
    State(state): State<AppState>,
    ctx: WebCtx,
    form: Result<Form<CreateForm>, FormRejection>,
) -> Response {
    if let Some(denied) = deny_unless_admin(&ctx) {
        return denied;
    }
    let Ok(Form(f)) = form else { return bad_request_page(&ctx) };
    let first = match f.first_password.as_str() {
        "shown" => FirstPassword::ShownOnce,
        _ => FirstPassword::EmailedLink,
    };
    let created = staff::create_from_console(
        &state.store,
        &state.hasher,
        &state.config,
        &ctx.flow_ctx(),
        &f.email,
        &f.role,
        first,
    )
    .await;
    match created {
        // The password is on this answer only: never in a redirect, a flash or a log.
        Ok(Some(password)) => {
            let email = f.email.trim().to_lowercase();
            page(&state, &ctx, Some((email, password)), None, StatusCode::CREATED).await
        }
        Ok(None) => flash_redirect(&ctx, FlashKind::Success, "flash-staff-link-sent", PAGE),
        Err(e) if e.is_correctable() => {
            let (message, status) = explain(&ctx, &e);
            page(&state, &ctx, None, Some(message), status).await
        }
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
    #[serde(default)]
    reason: String,
}

/// `POST /staff/people/{id}/{action}`: `role`, `disable` or `enable`.
pub async fn act(
    State(state): State<AppState>,
    ctx: WebCtx,
    path: Result<Path<(i64, String)>, PathRejection>,
    form: Result<Form<RoleForm>, FormRejection>,
) -> Response {
    if let Some(denied) = deny_unless_admin(&ctx) {
        return denied;
    }
    let Ok(Path((id, action))) = path else { return not_found_page(&ctx) };
    let Ok(Form(f)) = form else { return bad_request_page(&ctx) };
    let (store, fctx) = (&state.store, ctx.flow_ctx());
    let (outcome, done) = match action.as_str() {
        "role" => (staff::set_role(store, &fctx, id, &f.role).await, "flash-staff-role-changed"),
        "disable" => (staff::disable(store, &fctx, id).await, "flash-staff-disabled"),
        "enable" => (staff::enable(store, &fctx, id).await, "flash-staff-enabled"),
        "reset-factors" => (
            crate::flows::second_factor::reset(store, &state.config, &fctx, id, &f.reason).await,
            "flash-factors-reset",
        ),
        _ => return not_found_page(&ctx),
    };
    respond(&state, &ctx, outcome, done).await
}

pub async fn revoke_token(
    State(state): State<AppState>,
    ctx: WebCtx,
    path: Result<Path<i64>, PathRejection>,
) -> Response {
    if let Some(denied) = deny_unless_admin(&ctx) {
        return denied;
    }
    let Ok(Path(id)) = path else { return not_found_page(&ctx) };
    let outcome = staff::revoke_token(&state.store, &ctx.flow_ctx(), id).await;
    respond(&state, &ctx, outcome, "flash-token-revoked").await
}

async fn respond(
    state: &AppState,
    ctx: &WebCtx,
    outcome: crate::flows::FlowResult<()>,
    done: &str,
) -> Response {
    match outcome {
        Ok(()) => flash_redirect(ctx, FlashKind::Success, done, PAGE),
        Err(e) if e.is_correctable() => {
            let (message, status) = explain(ctx, &e);
            page(state, ctx, None, Some(message), status).await
        }
        Err(e) => error_page(ctx, classify(&e)),
    }
}
