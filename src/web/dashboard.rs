//! The member's dashboard (SPEC §3.3). Every page works on one membership: `?org=slug`, else
//! the first. A banned membership sends every dashboard URL to `/dashboard/locked`. Every page
//! renders for every status and for an empty record.

use axum::Form;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::pages::{DashAuthorisations, DashKeys, DashLocked, DashProfile, DashStorage, DashView, Dashboard};
use super::{FlashKind, WebCtx, error_page, flash_redirect, render, see_other};
use crate::domain::MembershipStatus;
use crate::flows::members::{self, ProfileInput, Record, Sections};
use crate::flows::payments::{self, PaymentView};
use crate::flows::{FlowError, FlowResult};
use crate::http_error::{ErrorInfo, classify, field_key};
use crate::state::AppState;
use crate::store::memberships;

#[derive(Deserialize, Default)]
pub struct DashQuery {
    org: Option<String>,
}

enum Page {
    Overview,
    Profile,
    Keys,
    Authorisations,
    Storage,
    Locked,
}

/// Loads the view for a dashboard page, or the response to send instead (sign in, locked).
async fn view(state: &AppState, ctx: &WebCtx, org: Option<String>, page: Page) -> Result<DashView, Response> {
    let Some(user) = &ctx.user else { return Err(see_other("/login")) };
    let load = async {
        let memberships = memberships::of_user(state.store.pool(), user.user_id).await?;
        let sections = match page {
            Page::Overview | Page::Profile | Page::Storage => Sections::PROFILE,
            Page::Keys => Sections::CREDENTIALS,
            Page::Authorisations => Sections::AUTHORISATIONS,
            Page::Locked => Sections::NONE,
        };
        let record = members::own_record(&state.store, &memberships, org.as_deref(), sections).await?;
        let payment = match (&page, &record) {
            (Page::Overview, Some(r)) => {
                payments::payment_view(&state.store, state.stripe.is_some(), r).await?
            }
            _ => PaymentView::default(),
        };
        FlowResult::Ok((memberships, record, payment))
    };
    let (memberships, record, payment) = load.await.map_err(|e| error_page(ctx, classify(&e)))?;
    let banned = record.as_ref().is_some_and(|r| r.membership.status == MembershipStatus::Banned);
    let org_q = record.as_ref().map(|r| r.org.slug.clone()).unwrap_or_default();
    match page {
        Page::Locked if !banned => return Err(see_other(&format!("/dashboard?org={org_q}"))),
        Page::Locked => {}
        _ if banned => return Err(see_other(&format!("/dashboard/locked?org={org_q}"))),
        _ => {}
    }
    Ok(DashView { memberships, record, org_q, payment })
}

pub async fn show(State(state): State<AppState>, ctx: WebCtx, Query(q): Query<DashQuery>) -> Response {
    match view(&state, &ctx, q.org, Page::Overview).await {
        Ok(d) => render(StatusCode::OK, &Dashboard { p: &ctx, d }),
        Err(r) => r,
    }
}

pub async fn locked(State(state): State<AppState>, ctx: WebCtx, Query(q): Query<DashQuery>) -> Response {
    match view(&state, &ctx, q.org, Page::Locked).await {
        Ok(d) => render(StatusCode::FORBIDDEN, &DashLocked { p: &ctx, d }),
        Err(r) => r,
    }
}

pub async fn authorisations(
    State(state): State<AppState>,
    ctx: WebCtx,
    Query(q): Query<DashQuery>,
) -> Response {
    match view(&state, &ctx, q.org, Page::Authorisations).await {
        Ok(d) => render(StatusCode::OK, &DashAuthorisations { p: &ctx, d }),
        Err(r) => r,
    }
}

pub async fn storage(State(state): State<AppState>, ctx: WebCtx, Query(q): Query<DashQuery>) -> Response {
    match view(&state, &ctx, q.org, Page::Storage).await {
        Ok(d) => render(StatusCode::OK, &DashStorage { p: &ctx, d }),
        Err(r) => r,
    }
}

fn profile_page(
    ctx: &WebCtx,
    d: DashView,
    input: ProfileInput,
    errors: Vec<(&'static str, String)>,
    status: StatusCode,
) -> Response {
    render(status, &DashProfile { p: ctx, d, input, errors })
}

fn input_of(record: &Option<Record>) -> ProfileInput {
    let Some(r) = record else { return ProfileInput::default() };
    let p = &r.profile;
    ProfileInput {
        first_name: p.first_name.clone(),
        last_name: p.last_name.clone(),
        preferred_name: p.preferred_name.clone().unwrap_or_default(),
        pronouns: p.pronouns.clone().unwrap_or_default(),
        phone: p.phone.clone().unwrap_or_default(),
        emergency_contact: p.emergency_contact.clone().unwrap_or_default(),
        chat_handle: p.chat_handle.clone().unwrap_or_default(),
    }
}

pub async fn profile(State(state): State<AppState>, ctx: WebCtx, Query(q): Query<DashQuery>) -> Response {
    match view(&state, &ctx, q.org, Page::Profile).await {
        Ok(d) => {
            let input = input_of(&d.record);
            profile_page(&ctx, d, input, vec![], StatusCode::OK)
        }
        Err(r) => r,
    }
}

pub async fn save_profile(
    State(state): State<AppState>,
    ctx: WebCtx,
    Query(q): Query<DashQuery>,
    form: Result<Form<ProfileInput>, FormRejection>,
) -> Response {
    let d = match view(&state, &ctx, q.org, Page::Profile).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let Ok(Form(input)) = form else {
        return error_page(
            &ctx,
            ErrorInfo::new(StatusCode::BAD_REQUEST, "invalid_request", "error-invalid-input"),
        );
    };
    let Some(record) = &d.record else { return see_other("/dashboard") };
    match members::update_own_profile(&state.store, &ctx.flow_ctx(), record, &input).await {
        Ok(()) => flash_redirect(
            &ctx,
            FlashKind::Success,
            "flash-profile-saved",
            &format!("/dashboard/profile?org={}", d.org_q),
        ),
        Err(FlowError::Invalid(fields)) => {
            let errors = fields.iter().map(|f| (f.field, ctx.t.t(&field_key(f.code)))).collect();
            profile_page(&ctx, d, input, errors, StatusCode::BAD_REQUEST)
        }
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

fn keys_page(ctx: &WebCtx, d: DashView, tag: String, error: Option<String>, status: StatusCode) -> Response {
    render(status, &DashKeys { p: ctx, d, tag, error })
}

pub async fn keys(State(state): State<AppState>, ctx: WebCtx, Query(q): Query<DashQuery>) -> Response {
    match view(&state, &ctx, q.org, Page::Keys).await {
        Ok(d) => keys_page(&ctx, d, String::new(), None, StatusCode::OK),
        Err(r) => r,
    }
}

#[derive(Deserialize, Default)]
pub struct KeyForm {
    #[serde(default)]
    tag: String,
}

pub async fn add_key(
    State(state): State<AppState>,
    ctx: WebCtx,
    Query(q): Query<DashQuery>,
    form: Result<Form<KeyForm>, FormRejection>,
) -> Response {
    let d = match view(&state, &ctx, q.org, Page::Keys).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let tag = form.map(|Form(f)| f.tag).unwrap_or_default();
    let Some(record) = &d.record else { return see_other("/dashboard") };
    match members::add_own_credential(&state.store, &ctx.flow_ctx(), record, &tag).await {
        Ok(()) => flash_redirect(
            &ctx,
            FlashKind::Success,
            "flash-key-added",
            &format!("/dashboard/keys?org={}", d.org_q),
        ),
        Err(e @ (FlowError::Invalid(_) | FlowError::Conflict { .. } | FlowError::Forbidden)) => {
            let info = classify(&e);
            let message = match &e {
                FlowError::Invalid(fields) => ctx.t.t(&field_key(fields[0].code)),
                FlowError::Forbidden => ctx.t.t("keys-only-active"),
                _ => ctx.t.t(info.message_key),
            };
            keys_page(&ctx, d, tag, Some(message), info.status)
        }
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

pub async fn remove_key(
    State(state): State<AppState>,
    ctx: WebCtx,
    Query(q): Query<DashQuery>,
    id: Result<Path<i64>, PathRejection>,
) -> Response {
    let d = match view(&state, &ctx, q.org, Page::Keys).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let (Ok(Path(id)), Some(record)) = (id, &d.record) else {
        return error_page(&ctx, ErrorInfo::new(StatusCode::NOT_FOUND, "not_found", "error-not-found"));
    };
    match members::remove_own_credential(&state.store, &ctx.flow_ctx(), record, id).await {
        Ok(()) => flash_redirect(
            &ctx,
            FlashKind::Success,
            "flash-key-removed",
            &format!("/dashboard/keys?org={}", d.org_q),
        ),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}
