//! Staff pages for payments: an organisation's plans and activation policy
//! (`/staff/orgs/{slug}/payments`) and the Stripe event ledger (`/staff/stripe/events`) with
//! re-processing. Thin over `flows::plans`, `flows::orgs` and `flows::payments`.

use axum::Form;
use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::pages::{StaffLedger, StaffPayments};
use super::{
    FlashKind, WebCtx, bad_request_page, deny_unless_staff, error_page, explain, flash_redirect,
    not_found_page, render,
};
use crate::flows::orgs::OrgPatch;
use crate::flows::payments::LedgerQuery;
use crate::flows::plans::PlanInput;
use crate::flows::{self, FlowError};
use crate::http_error::classify;
use crate::state::AppState;

async fn payments_page(
    state: &AppState,
    ctx: &WebCtx,
    slug: &str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let fctx = ctx.flow_ctx();
    let loaded = async {
        let org = flows::orgs::get(&state.store, &fctx, slug).await?;
        let plans = flows::plans::list(&state.store, &fctx, slug).await?;
        Ok::<_, FlowError>((org, plans))
    };
    match loaded.await {
        Ok((org, plans)) => render(
            status,
            &StaffPayments {
                p: ctx,
                org,
                plans,
                error,
                takes_payments: state.stripe.is_some(),
                intervals: &flows::plans::INTERVALS,
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
    payments_page(&state, &ctx, &slug, None, StatusCode::OK).await
}

/// After a change: back to the page with a flash, or the page again with what went wrong.
async fn answer(state: &AppState, ctx: &WebCtx, slug: &str, outcome: Result<(), FlowError>) -> Response {
    match outcome {
        Ok(()) => {
            flash_redirect(ctx, FlashKind::Success, "flash-saved", &format!("/staff/orgs/{slug}/payments"))
        }
        Err(e) if e.is_correctable() => {
            let (message, status) = explain(ctx, &e);
            payments_page(state, ctx, slug, Some(message), status).await
        }
        Err(e) => error_page(ctx, classify(&e)),
    }
}

#[derive(Deserialize)]
pub struct PolicyForm {
    #[serde(default)]
    activation: String,
    /// Checkboxes: present ("on") when ticked.
    requires_waiver: Option<String>,
    requires_id_check: Option<String>,
    #[serde(default)]
    past_due_grace_days: String,
}

pub async fn save_policy(
    State(state): State<AppState>,
    ctx: WebCtx,
    slug: Result<Path<String>, PathRejection>,
    form: Result<Form<PolicyForm>, FormRejection>,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let (Ok(Path(slug)), Ok(Form(f))) = (slug, form) else { return bad_request_page(&ctx) };
    let grace = match f.past_due_grace_days.trim().parse::<i64>() {
        Ok(days) => days,
        Err(_) => {
            return answer(
                &state,
                &ctx,
                &slug,
                Err(flows::invalid("past_due_grace_days", "invalid_grace_days")),
            )
            .await;
        }
    };
    let patch = OrgPatch {
        activation: Some(f.activation),
        requires_waiver: Some(f.requires_waiver.is_some()),
        requires_id_check: Some(f.requires_id_check.is_some()),
        past_due_grace_days: Some(grace),
        ..Default::default()
    };
    let outcome = flows::orgs::update(&state.store, &ctx.flow_ctx(), &slug, &patch).await.map(|_| ());
    answer(&state, &ctx, &slug, outcome).await
}

/// The plan form (the API's `PlanInput` refuses unknown fields; a form also carries its CSRF token).
#[derive(Deserialize)]
pub struct PlanForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    price_id: String,
    #[serde(default)]
    display_price: String,
    #[serde(default)]
    interval: String,
}

pub async fn create_plan(
    State(state): State<AppState>,
    ctx: WebCtx,
    slug: Result<Path<String>, PathRejection>,
    form: Result<Form<PlanForm>, FormRejection>,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let (Ok(Path(slug)), Ok(Form(f))) = (slug, form) else { return bad_request_page(&ctx) };
    let input = PlanInput {
        name: f.name,
        price_id: f.price_id,
        display_price: f.display_price,
        interval: f.interval,
    };
    let outcome = flows::plans::create(&state.store, &ctx.flow_ctx(), &slug, &input).await.map(|_| ());
    answer(&state, &ctx, &slug, outcome).await
}

pub async fn deactivate_plan(
    State(state): State<AppState>,
    ctx: WebCtx,
    path: Result<Path<(String, i64)>, PathRejection>,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let Ok(Path((slug, id))) = path else { return not_found_page(&ctx) };
    let outcome = flows::plans::deactivate(&state.store, &ctx.flow_ctx(), &slug, id).await.map(|_| ());
    answer(&state, &ctx, &slug, outcome).await
}

pub async fn ledger(
    State(state): State<AppState>,
    ctx: WebCtx,
    query: Result<Query<LedgerQuery>, QueryRejection>,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let Ok(Query(query)) = query else { return bad_request_page(&ctx) };
    match flows::payments::ledger(&state.store, &ctx.flow_ctx(), &query).await {
        Ok(events) => render(StatusCode::OK, &StaffLedger { p: &ctx, events, query }),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

pub async fn reprocess(
    State(state): State<AppState>,
    ctx: WebCtx,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let Ok(Path(id)) = id else { return not_found_page(&ctx) };
    match flows::payments::reprocess(&state.store, &ctx.flow_ctx(), state.stripe.as_ref(), &id).await {
        Ok(_) => flash_redirect(&ctx, FlashKind::Success, "flash-reprocessed", "/staff/stripe/events"),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}
