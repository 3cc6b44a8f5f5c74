//! `/o/{slug}/join/payment`: the payment step of the signed-in user's own membership (SPEC
//! §3.5), its success and cancel pages, and the dashboard's billing-portal button. Nothing here
//! reads a person, membership or customer from the request: the user comes from the session,
//! the organisation from the path, and the only choice is a plan of that organisation.

use axum::Form;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::pages::{JoinPayment, JoinPaymentCancelled, JoinPaymentDone};
use super::{
    FlashKind, WebCtx, bad_request_page, error_page, flash_redirect, not_found_page, render, see_other,
};
use crate::flows::FlowError;
use crate::flows::payments::{self, PaymentStep};
use crate::http_error::classify;
use crate::state::AppState;

/// Where a member goes once their membership exists: the payment step when the organisation
/// takes payments, else the dashboard.
pub async fn after_joining(state: &AppState, membership_id: i64, slug: &str) -> String {
    let payable = state.stripe.is_some()
        && payments::payment_step_of(&state.store, membership_id).await.is_ok_and(|step| step.can_pay());
    if payable { format!("/o/{slug}/join/payment") } else { "/dashboard".to_string() }
}

async fn step(
    state: &AppState,
    ctx: &WebCtx,
    slug: Result<Path<String>, PathRejection>,
) -> Result<PaymentStep, Response> {
    let Ok(Path(slug)) = slug else { return Err(not_found_page(ctx)) };
    let Some(user) = &ctx.user else { return Err(see_other("/login")) };
    if state.stripe.is_none() {
        return Err(not_found_page(ctx));
    }
    match payments::payment_step(&state.store, user.user_id, &slug).await {
        Ok(step) => Ok(step),
        Err(FlowError::NotFound) => Err(not_found_page(ctx)),
        Err(e) => Err(error_page(ctx, classify(&e))),
    }
}

fn payment_page(ctx: &WebCtx, step: PaymentStep, error: Option<String>, status: StatusCode) -> Response {
    render(
        status,
        &JoinPayment {
            p: ctx,
            org_name: step.org.display_name().to_string(),
            slug: step.org.slug,
            plans: step.plans,
            error,
        },
    )
}

pub async fn show(
    State(state): State<AppState>,
    ctx: WebCtx,
    slug: Result<Path<String>, PathRejection>,
) -> Response {
    match step(&state, &ctx, slug).await {
        // Paid already, not pending, or nothing to choose: the dashboard says what is next.
        Ok(step) if !step.can_pay() => see_other(&format!("/dashboard?org={}", step.org.slug)),
        Ok(step) => payment_page(&ctx, step, None, StatusCode::OK),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub struct PlanChoice {
    #[serde(default)]
    plan: String,
}

pub async fn start(
    State(state): State<AppState>,
    ctx: WebCtx,
    slug: Result<Path<String>, PathRejection>,
    form: Result<Form<PlanChoice>, FormRejection>,
) -> Response {
    let step = match step(&state, &ctx, slug).await {
        Ok(step) => step,
        Err(r) => return r,
    };
    let Ok(Form(choice)) = form else { return bad_request_page(&ctx) };
    let Some(user) = &ctx.user else { return see_other("/login") };
    let Ok(plan_id) = choice.plan.trim().parse::<i64>() else {
        let message = ctx.t.t("field-unknown-plan");
        return payment_page(&ctx, step, Some(message), StatusCode::BAD_REQUEST);
    };
    let slug = step.org.slug.clone();
    let started = payments::start_checkout(
        &state.store,
        &state.config,
        state.stripe.as_ref(),
        &ctx.flow_ctx(),
        user.user_id,
        &slug,
        plan_id,
    )
    .await;
    match started {
        Ok(url) => see_other(&url),
        Err(FlowError::Unknown { .. }) => {
            let message = ctx.t.t("field-unknown-plan");
            payment_page(&ctx, step, Some(message), StatusCode::BAD_REQUEST)
        }
        Err(FlowError::Conflict { .. }) => see_other(&format!("/dashboard?org={slug}")),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

pub async fn done(
    State(state): State<AppState>,
    ctx: WebCtx,
    slug: Result<Path<String>, PathRejection>,
) -> Response {
    match step(&state, &ctx, slug).await {
        Ok(step) => render(
            StatusCode::OK,
            &JoinPaymentDone {
                p: &ctx,
                org_name: step.org.display_name().to_string(),
                slug: step.org.slug.clone(),
                active: step.membership.status == crate::domain::MembershipStatus::Active,
                paid: step.membership.payment.paid_at.is_some(),
            },
        ),
        Err(r) => r,
    }
}

pub async fn cancelled(
    State(state): State<AppState>,
    ctx: WebCtx,
    slug: Result<Path<String>, PathRejection>,
) -> Response {
    match step(&state, &ctx, slug).await {
        Ok(step) => render(
            StatusCode::OK,
            &JoinPaymentCancelled {
                p: &ctx,
                org_name: step.org.display_name().to_string(),
                slug: step.org.slug,
            },
        ),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub struct PortalForm {
    #[serde(default)]
    org: String,
}

/// `POST /dashboard/billing`: to Stripe's customer portal for the user's own membership.
pub async fn portal(
    State(state): State<AppState>,
    ctx: WebCtx,
    form: Result<Form<PortalForm>, FormRejection>,
) -> Response {
    let Some(user) = &ctx.user else { return see_other("/login") };
    let Ok(Form(f)) = form else { return bad_request_page(&ctx) };
    match payments::open_portal(
        &state.store,
        &state.config,
        state.stripe.as_ref(),
        user.user_id,
        f.org.trim(),
    )
    .await
    {
        Ok(url) => see_other(&url),
        Err(FlowError::Conflict { .. }) => flash_redirect(
            &ctx,
            FlashKind::Info,
            "flash-no-billing",
            &format!("/dashboard?org={}", f.org.trim()),
        ),
        Err(FlowError::NotFound) => not_found_page(&ctx),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}
