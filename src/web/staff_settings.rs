//! `/staff/settings` (admins): every runtime setting with its current value, default, range and
//! meaning, each editable with the validation of the CLI and the API; a value out of range
//! re-renders the page saying the allowed range. Thin over `flows::settings`.

use axum::Form;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::pages::{SettingRow, StaffSettings};
use super::{
    FlashKind, WebCtx, bad_request_page, deny_unless_admin, error_page, flash_redirect, not_found_page,
    render,
};
use crate::domain::{ALL_SETTINGS, SettingDef};
use crate::flows::{self, FlowError};
use crate::http_error::classify;
use crate::state::AppState;

/// The page; `error` is the setting whose value was refused.
async fn page(state: &AppState, ctx: &WebCtx, error: Option<&'static SettingDef>) -> Response {
    let mut rows = Vec::with_capacity(ALL_SETTINGS.len());
    for def in ALL_SETTINGS {
        match flows::settings::get(&state.store, def).await {
            Ok(value) => rows.push(SettingRow { def, value }),
            Err(e) => return error_page(ctx, classify(&e)),
        }
    }
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let error = error.map(|def| {
        ctx.t.t2("settings-out-of-range", ("key", def.key), ("range", format!("{}–{}", def.min, def.max)))
    });
    render(status, &StaffSettings { p: ctx, rows, error })
}

pub async fn show(State(state): State<AppState>, ctx: WebCtx) -> Response {
    if let Some(denied) = deny_unless_admin(&ctx) {
        return denied;
    }
    page(&state, &ctx, None).await
}

#[derive(Deserialize)]
pub struct SettingForm {
    #[serde(default)]
    value: String,
}

pub async fn save(
    State(state): State<AppState>,
    ctx: WebCtx,
    key: Result<Path<String>, PathRejection>,
    form: Result<Form<SettingForm>, FormRejection>,
) -> Response {
    if let Some(denied) = deny_unless_admin(&ctx) {
        return denied;
    }
    let Ok(Path(key)) = key else { return not_found_page(&ctx) };
    let Ok(def) = SettingDef::find(&key) else { return not_found_page(&ctx) };
    let Ok(Form(f)) = form else { return bad_request_page(&ctx) };
    match flows::settings::set(&state.store, &ctx.flow_ctx(), def.key, &f.value).await {
        Ok(_) => flash_redirect(&ctx, FlashKind::Success, "flash-setting-saved", "/staff/settings"),
        Err(FlowError::Invalid(_)) => page(&state, &ctx, Some(def)).await,
        Err(e) => error_page(&ctx, classify(&e)),
    }
}
