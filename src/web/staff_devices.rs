//! `/staff/orgs/{slug}/devices`: an organisation's door devices (last contact, address, the
//! list version each holds, current or stale and for how long), registering one (its token is
//! shown once), revoking one, and the proof of revocation: for each change that removed
//! someone's access, which devices picked up a list without it and after how long.

use axum::Form;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::pages::StaffDevices;
use super::{
    FlashKind, WebCtx, bad_request_page, deny_unless_staff, error_page, explain, flash_redirect,
    not_found_page, render,
};
use crate::flows::{self, FlowError};
use crate::http_error::classify;
use crate::state::AppState;

async fn page(
    state: &AppState,
    ctx: &WebCtx,
    slug: &str,
    new_token: Option<(String, String)>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let fctx = ctx.flow_ctx();
    let loaded = async {
        let org = flows::orgs::get(&state.store, &fctx, slug).await?;
        let (devices, revocations) = flows::access::overview(&state.store, &fctx, slug).await?;
        let catalogue = crate::store::records::catalogue(state.store.pool(), org.id).await?;
        Ok::<_, FlowError>((org, devices, revocations, catalogue))
    };
    match loaded.await {
        Ok((org, devices, revocations, catalogue)) => render(
            status,
            &StaffDevices {
                p: ctx,
                org,
                devices,
                revocations,
                catalogue,
                new_token,
                error,
                now: crate::store::now(),
            },
        ),
        Err(e) => error_page(ctx, classify(&e)),
    }
}

pub async fn show(
    State(state): State<AppState>,
    ctx: WebCtx,
    slug: Result<Path<String>, PathRejection>,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let Ok(Path(slug)) = slug else { return not_found_page(&ctx) };
    page(&state, &ctx, &slug, None, None, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct DeviceForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    requires: String,
}

pub async fn create(
    State(state): State<AppState>,
    ctx: WebCtx,
    slug: Result<Path<String>, PathRejection>,
    form: Result<Form<DeviceForm>, FormRejection>,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let (Ok(Path(slug)), Ok(Form(f))) = (slug, form) else { return bad_request_page(&ctx) };
    let requires = Some(f.requires.as_str()).filter(|r| !r.trim().is_empty());
    match flows::access::create_device(&state.store, &ctx.flow_ctx(), &slug, &f.name, requires).await {
        // The token is shown on this answer only; it is not stored anywhere readable.
        Ok(created) => {
            page(&state, &ctx, &slug, Some((created.device.name, created.token)), None, StatusCode::CREATED)
                .await
        }
        Err(e) if e.is_correctable() => {
            let (message, status) = explain(&ctx, &e);
            page(&state, &ctx, &slug, None, Some(message), status).await
        }
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

pub async fn set_requirement(
    State(state): State<AppState>,
    ctx: WebCtx,
    path: Result<Path<(String, i64)>, PathRejection>,
    form: Result<Form<DeviceForm>, FormRejection>,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let (Ok(Path((slug, id))), Ok(Form(f))) = (path, form) else { return bad_request_page(&ctx) };
    match flows::access::set_requirement(&state.store, &ctx.flow_ctx(), &slug, id, Some(&f.requires)).await {
        Ok(()) => {
            flash_redirect(&ctx, FlashKind::Success, "flash-saved", &format!("/staff/orgs/{slug}/devices"))
        }
        Err(e) if e.is_correctable() => {
            let (message, status) = explain(&ctx, &e);
            page(&state, &ctx, &slug, None, Some(message), status).await
        }
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

pub async fn revoke(
    State(state): State<AppState>,
    ctx: WebCtx,
    path: Result<Path<(String, i64)>, PathRejection>,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let Ok(Path((slug, id))) = path else { return not_found_page(&ctx) };
    match flows::access::revoke_device(&state.store, &ctx.flow_ctx(), &slug, id).await {
        Ok(()) => flash_redirect(
            &ctx,
            FlashKind::Success,
            "flash-device-revoked",
            &format!("/staff/orgs/{slug}/devices"),
        ),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}
