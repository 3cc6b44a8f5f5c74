//! `/staff/orgs/{slug}/webhooks`: an organisation's webhook endpoints (add one — its secret is
//! shown once —, enable or disable, rotate the secret, delete, send a test event) and, per
//! endpoint, its deliveries (event, state, attempts, last status, answer excerpt, error, next
//! attempt) with replay of one and of every dead one since a time. Thin over `flows::webhooks`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawForm, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::pages::{StaffWebhook, StaffWebhooks};
use super::{
    FlashKind, WebCtx, deny_unless_staff, error_page, explain, flash_redirect, not_found_page, render,
};
use crate::flows::webhooks::{self, EndpointInput, EndpointUpdate};
use crate::flows::{self, FlowError};
use crate::http_error::classify;
use crate::state::AppState;

/// The endpoints page, with a secret just made (URL, secret) or what went wrong.
async fn page(
    state: &AppState,
    ctx: &WebCtx,
    slug: &str,
    new_secret: Option<(String, String)>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let fctx = ctx.flow_ctx();
    let loaded = async {
        let org = flows::orgs::get(&state.store, &fctx, slug).await?;
        let endpoints = webhooks::list(&state.store, &fctx, slug).await?;
        Ok::<_, FlowError>((org, endpoints))
    };
    match loaded.await {
        Ok((org, endpoints)) => render(
            status,
            &StaffWebhooks { p: ctx, org, endpoints, event_types: &webhooks::EVENT_TYPES, new_secret, error },
        ),
        Err(e) => error_page(ctx, classify(&e)),
    }
}

/// The form's fields, repeated ones (`events`) kept in order.
fn fields(form: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(form).into_owned().collect()
}

fn field(fields: &[(String, String)], name: &str) -> Option<String> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
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

pub async fn create(
    State(state): State<AppState>,
    ctx: WebCtx,
    slug: Result<Path<String>, PathRejection>,
    RawForm(form): RawForm,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let Ok(Path(slug)) = slug else { return not_found_page(&ctx) };
    let fields = fields(&form);
    let input = EndpointInput {
        url: field(&fields, "url").unwrap_or_default(),
        events: Some(fields.iter().filter(|(k, _)| k == "events").map(|(_, v)| v.clone()).collect()),
        enabled: Some(true),
    };
    match webhooks::create(&state.store, &state.config.webhooks, &ctx.flow_ctx(), &slug, &input).await {
        // The secret is shown on this answer only.
        Ok((endpoint, secret)) => {
            let shown = Some((endpoint.url, secret.expose().to_string()));
            page(&state, &ctx, &slug, shown, None, StatusCode::CREATED).await
        }
        Err(e) if e.is_correctable() => {
            let (message, status) = explain(&ctx, &e);
            page(&state, &ctx, &slug, None, Some(message), status).await
        }
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

/// The actions on one endpoint: `rotate`, `enable`, `disable`, `delete`, `test`, `replay`
/// (every dead delivery since `since`).
pub async fn act(
    State(state): State<AppState>,
    ctx: WebCtx,
    path: Result<Path<(String, i64, String)>, PathRejection>,
    RawForm(form): RawForm,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let Ok(Path((slug, id, action))) = path else { return not_found_page(&ctx) };
    let (store, fctx) = (&state.store, ctx.flow_ctx());
    let list = format!("/staff/orgs/{slug}/webhooks");
    let one = format!("/staff/orgs/{slug}/webhooks/{id}");
    let toggle = |enabled: bool| EndpointUpdate { enabled: Some(enabled), ..EndpointUpdate::default() };
    let outcome = match action.as_str() {
        "rotate" => match webhooks::rotate(store, &fctx, &slug, id).await {
            Ok((endpoint, secret)) => {
                let shown = Some((endpoint.url, secret.expose().to_string()));
                return page(&state, &ctx, &slug, shown, None, StatusCode::OK).await;
            }
            Err(e) => Err(e),
        },
        "enable" | "disable" => {
            let change = toggle(action == "enable");
            webhooks::update(store, &state.config.webhooks, &fctx, &slug, id, &change)
                .await
                .map(|_| (list, "flash-saved"))
        }
        "delete" => webhooks::delete(store, &fctx, &slug, id).await.map(|()| (list, "flash-webhook-deleted")),
        "test" => {
            webhooks::send_test(store, &fctx, &slug, id).await.map(|()| (one, "flash-webhook-test-queued"))
        }
        "replay" => {
            let since = field(&fields(&form), "since").unwrap_or_default();
            webhooks::replay_dead_since(store, &fctx, &slug, id, &since)
                .await
                .map(|_| (one, "flash-webhook-replayed"))
        }
        _ => return not_found_page(&ctx),
    };
    match outcome {
        Ok((to, flash)) => flash_redirect(&ctx, FlashKind::Success, flash, &to),
        Err(e) if e.is_correctable() => {
            let (message, status) = explain(&ctx, &e);
            page(&state, &ctx, &slug, None, Some(message), status).await
        }
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

/// One endpoint's deliveries.
pub async fn deliveries(
    State(state): State<AppState>,
    ctx: WebCtx,
    path: Result<Path<(String, i64)>, PathRejection>,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let Ok(Path((slug, id))) = path else { return not_found_page(&ctx) };
    let fctx = ctx.flow_ctx();
    let loaded = async {
        let org = flows::orgs::get(&state.store, &fctx, &slug).await?;
        let (endpoint, deliveries) = webhooks::deliveries(&state.store, &fctx, &slug, id).await?;
        Ok::<_, FlowError>((org, endpoint, deliveries))
    };
    match loaded.await {
        Ok((org, endpoint, deliveries)) => render(
            StatusCode::OK,
            &StaffWebhook { p: &ctx, org, endpoint, deliveries, now_ms: crate::store::now_ms() },
        ),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

/// Sends one delivery again.
pub async fn replay(
    State(state): State<AppState>,
    ctx: WebCtx,
    path: Result<Path<(String, i64, i64)>, PathRejection>,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let Ok(Path((slug, id, delivery_id))) = path else { return not_found_page(&ctx) };
    let one = format!("/staff/orgs/{slug}/webhooks/{id}");
    match webhooks::replay(&state.store, &ctx.flow_ctx(), &slug, id, delivery_id).await {
        Ok(()) => flash_redirect(&ctx, FlashKind::Success, "flash-webhook-replayed", &one),
        Err(FlowError::Conflict { .. }) => {
            flash_redirect(&ctx, FlashKind::Error, "flash-webhook-not-finished", &one)
        }
        Err(e) => error_page(&ctx, classify(&e)),
    }
}
