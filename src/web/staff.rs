use axum::Form;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::pages::{Field, InviteForm, MemberFilterQuery, OrgForm, StaffOrg, StaffOrgs, StaffOutbox};
use super::{FlashKind, WebCtx, deny_unless_staff, error_page, flash_redirect, render, see_other};
use crate::domain::{MembershipRole, MembershipStatus, OrgKind};
use crate::flows::{self, FlowError, invitations::InviteInput, orgs::OrgInput};
use crate::http_error::{ErrorInfo, classify, field_key};
use crate::state::AppState;
use crate::store;

async fn orgs_page(state: &AppState, ctx: &WebCtx, form: OrgForm, status: StatusCode) -> Response {
    match store::orgs::list(state.store.pool()).await {
        Ok(orgs) => render(status, &StaffOrgs { p: ctx, orgs, form, kinds: OrgKind::ALL }),
        Err(e) => error_page(ctx, classify(&e.into())),
    }
}

pub async fn orgs(State(state): State<AppState>, ctx: WebCtx) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let form = OrgForm { kind: Field { value: "individual".into(), error: None }, ..Default::default() };
    orgs_page(&state, &ctx, form, StatusCode::OK).await
}

#[derive(Deserialize, Default)]
pub struct OrgFormInput {
    #[serde(default)]
    slug: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    company_name: String,
    #[serde(default)]
    signup: String,
}

pub async fn create_org(
    State(state): State<AppState>,
    ctx: WebCtx,
    form: Result<Form<OrgFormInput>, axum::extract::rejection::FormRejection>,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let Ok(Form(form)) = form else {
        return error_page(
            &ctx,
            ErrorInfo::new(StatusCode::BAD_REQUEST, "invalid_request", "error-invalid-input"),
        );
    };
    let input = OrgInput {
        slug: form.slug.clone(),
        name: form.name.clone(),
        kind: form.kind.clone(),
        company_name: Some(form.company_name.clone()),
        signup: Some(form.signup.clone()),
    };
    let error = match flows::orgs::create(&state.store, &ctx.flow_ctx(), &input).await {
        Ok(org) => {
            return flash_redirect(
                &ctx,
                FlashKind::Success,
                "flash-org-created",
                &format!("/staff/orgs/{}", org.slug),
            );
        }
        Err(e) => e,
    };
    // Re-render the form with what was typed and a message next to each bad field.
    let mut view = OrgForm {
        slug: Field { value: form.slug, error: None },
        name: Field { value: form.name, error: None },
        kind: Field { value: form.kind, error: None },
        company_name: Field { value: form.company_name, error: None },
        signup: Field { value: form.signup, error: None },
        has_errors: true,
    };
    let info = classify(&error);
    match &error {
        FlowError::Invalid(fields) => {
            for f in fields {
                let message = Some(ctx.t.t(&field_key(f.code)));
                match f.field {
                    "slug" => view.slug.error = message,
                    "name" => view.name.error = message,
                    "kind" => view.kind.error = message,
                    "company_name" => view.company_name.error = message,
                    _ => view.signup.error = message,
                }
            }
        }
        FlowError::Conflict { .. } => view.slug.error = Some(ctx.t.t(info.message_key)),
        _ => return error_page(&ctx, info),
    }
    orgs_page(&state, &ctx, view, info.status).await
}

pub async fn org(
    State(state): State<AppState>,
    ctx: WebCtx,
    slug: Result<Path<String>, PathRejection>,
    filter: Result<Query<MemberFilterQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let filter = filter.map(|Query(f)| f).unwrap_or_default();
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let Ok(Path(slug)) = slug else {
        return error_page(&ctx, ErrorInfo::new(StatusCode::NOT_FOUND, "not_found", "error-not-found"));
    };
    let invite = InviteForm { role: Field { value: "member".into(), error: None }, ..Default::default() };
    org_page(&state, &ctx, &slug, invite, StatusCode::OK, filter).await
}

async fn org_page(
    state: &AppState,
    ctx: &WebCtx,
    slug: &str,
    invite: InviteForm,
    status: StatusCode,
    filter: MemberFilterQuery,
) -> Response {
    let flow_ctx = ctx.flow_ctx();
    let org = match flows::orgs::get(&state.store, &flow_ctx, slug).await {
        Ok(org) => org,
        Err(e) => return error_page(ctx, classify(&e)),
    };
    let loaded = async {
        // One more than shown, to know whether there are more.
        let mut members = flows::members::list_at_most(
            &state.store,
            &flow_ctx,
            slug,
            Some(&filter.status),
            Some(&filter.q),
            Some(MEMBERS_SHOWN as i64 + 1),
        )
        .await?;
        let more_members = members.len() > MEMBERS_SHOWN;
        members.truncate(MEMBERS_SHOWN);
        let invitations = flows::invitations::list(&state.store, &flow_ctx, slug, None).await?;
        let catalogue = store::records::catalogue_entries(state.store.pool(), org.id).await?;
        let overview = flows::overview::get(&state.store, &flow_ctx, slug).await?;
        Ok::<_, FlowError>((members, more_members, invitations, catalogue, overview))
    };
    match loaded.await {
        Ok((members, more_members, invitations, catalogue, overview)) => render(
            status,
            &StaffOrg {
                p: ctx,
                org,
                members,
                invitations,
                invite,
                roles: MembershipRole::ALL,
                statuses: MembershipStatus::ALL,
                catalogue,
                filter,
                overview,
                more_members,
            },
        ),
        Err(e) => error_page(ctx, classify(&e)),
    }
}

/// Members listed on an organisation's page; the filters, the search and the CSV reach the rest.
const MEMBERS_SHOWN: usize = 200;

#[derive(Deserialize, Default)]
pub struct InviteFormInput {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    locale: String,
}

pub async fn invite(
    State(state): State<AppState>,
    ctx: WebCtx,
    slug: Result<Path<String>, PathRejection>,
    form: Result<Form<InviteFormInput>, axum::extract::rejection::FormRejection>,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let (Ok(Path(slug)), Ok(Form(form))) = (slug, form) else {
        return error_page(
            &ctx,
            ErrorInfo::new(StatusCode::BAD_REQUEST, "invalid_request", "error-invalid-input"),
        );
    };
    let input = InviteInput {
        email: form.email.clone(),
        role: Some(form.role.clone()),
        locale: Some(form.locale.clone()),
    };
    let error =
        match flows::invitations::create(&state.store, &state.config, &ctx.flow_ctx(), &slug, &input).await {
            Ok(_) => {
                return flash_redirect(
                    &ctx,
                    FlashKind::Success,
                    "flash-invitation-sent",
                    &format!("/staff/orgs/{slug}#invitations"),
                );
            }
            Err(e) => e,
        };
    let info = classify(&error);
    let mut view = InviteForm {
        email: Field { value: form.email, error: None },
        role: Field { value: form.role, error: None },
        locale: Field { value: form.locale, error: None },
        pending_id: None,
        has_errors: true,
    };
    match &error {
        FlowError::Invalid(fields) => {
            for f in fields {
                let message = Some(ctx.t.t(&field_key(f.code)));
                match f.field {
                    "email" => view.email.error = message,
                    "role" => view.role.error = message,
                    _ => view.locale.error = message,
                }
            }
        }
        FlowError::InvitationPending { invitation_id } => {
            view.email.error = Some(ctx.t.t(info.message_key));
            view.pending_id = Some(*invitation_id);
        }
        FlowError::Conflict { .. } => view.email.error = Some(ctx.t.t(info.message_key)),
        _ => return error_page(&ctx, info),
    }
    org_page(&state, &ctx, &slug, view, info.status, MemberFilterQuery::default()).await
}

pub async fn invitation_action(
    State(state): State<AppState>,
    ctx: WebCtx,
    path: Result<Path<(String, i64, String)>, PathRejection>,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let Ok(Path((slug, id, action))) = path else {
        return error_page(&ctx, ErrorInfo::new(StatusCode::NOT_FOUND, "not_found", "error-not-found"));
    };
    let flow_ctx = ctx.flow_ctx();
    let (outcome, flash) = match action.as_str() {
        "resend" => (
            flows::invitations::resend(&state.store, &state.config, &flow_ctx, &slug, id).await,
            "flash-invitation-resent",
        ),
        "revoke" => {
            (flows::invitations::revoke(&state.store, &flow_ctx, &slug, id).await, "flash-invitation-revoked")
        }
        _ => return error_page(&ctx, ErrorInfo::new(StatusCode::NOT_FOUND, "not_found", "error-not-found")),
    };
    match outcome {
        Ok(_) => (
            [ctx.set_flash(FlashKind::Success, flash)],
            see_other(&format!("/staff/orgs/{slug}#invitation-{id}")),
        )
            .into_response(),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

/// Recent outbox messages with their delivery state, for staff.
pub async fn outbox(State(state): State<AppState>, ctx: WebCtx) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    match store::outbox::recent(state.store.pool(), 200).await {
        Ok(messages) => render(StatusCode::OK, &StaffOutbox { p: &ctx, messages }),
        Err(e) => error_page(&ctx, classify(&e.into())),
    }
}

#[derive(serde::Deserialize)]
pub struct SecondFactorForm {
    #[serde(default)]
    second_factor: String,
}

/// Who in the organisation must have a second factor (admins).
pub async fn set_second_factor(
    State(state): State<AppState>,
    ctx: WebCtx,
    slug: Result<Path<String>, PathRejection>,
    form: Result<axum::Form<SecondFactorForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let (Ok(Path(slug)), Ok(axum::Form(f))) = (slug, form) else { return super::bad_request_page(&ctx) };
    let patch = flows::orgs::OrgPatch { second_factor: Some(f.second_factor), ..Default::default() };
    match flows::orgs::update(&state.store, &ctx.flow_ctx(), &slug, &patch).await {
        Ok(_) => super::flash_redirect(
            &ctx,
            super::FlashKind::Success,
            "flash-org-saved",
            &format!("/staff/orgs/{slug}"),
        ),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}
