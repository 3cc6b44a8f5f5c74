//! The staff console's member pages: a member's whole record, status changes with a reason,
//! notes, credentials, authorisations; the catalogue; CSV export.

use axum::Form;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::pages::{AuditRow, StaffMember};
use super::{
    FlashKind, WebCtx, bad_request_page, deny_unless_staff, error_page, explain, flash_redirect,
    not_found_page, render,
};
use crate::domain::MembershipStatus;
use crate::flows::members;
use crate::http_error::classify;
use crate::state::AppState;

async fn page(
    state: &AppState,
    ctx: &WebCtx,
    slug: &str,
    id: i64,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let loaded = async {
        let record = members::get(&state.store, &ctx.flow_ctx(), slug, id).await?;
        let history = members::history(&state.store, &record).await?;
        Ok::<_, crate::flows::FlowError>((record, history))
    };
    match loaded.await {
        Ok((record, history)) => {
            let transitions = MembershipStatus::ALL
                .iter()
                .copied()
                .filter(|to| record.membership.status.can_become(*to))
                .collect();
            let m = &record.membership;
            let waiting = if m.status == MembershipStatus::Pending && m.payment.paid_at.is_some() {
                crate::flows::payments::waiting_for(&record.org, &record.agreements)
            } else {
                Vec::new()
            };
            let has = |kind: &str| record.agreements.iter().any(|a| a.kind == kind);
            let gates = [("waiver", record.org.requires_waiver), ("id_check", record.org.requires_id_check)]
                .into_iter()
                .filter(|(kind, required)| *required && !has(kind))
                .map(|(kind, _)| kind)
                .collect();
            let audit_rows = history.into_iter().map(AuditRow::from_event).collect();
            let m = StaffMember {
                p: ctx,
                r: record,
                transitions,
                error,
                waiting,
                gates,
                audit_rows,
                audit_show_org: false,
            };
            render(status, &m)
        }
        Err(e) => error_page(ctx, classify(&e)),
    }
}

pub async fn show(
    State(state): State<AppState>,
    ctx: WebCtx,
    path: Result<Path<(String, i64)>, PathRejection>,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let Ok(Path((slug, id))) = path else { return not_found_page(&ctx) };
    page(&state, &ctx, &slug, id, None, StatusCode::OK).await
}

#[derive(Deserialize, Default)]
pub struct ActionForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    reason: String,
    /// When a suspension ends by itself (`YYYY-MM-DD` or RFC 3339); blank: never.
    #[serde(default)]
    until: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    credential_id: i64,
    #[serde(default)]
    name: String,
    #[serde(default)]
    storage: String,
}

pub async fn act(
    State(state): State<AppState>,
    ctx: WebCtx,
    path: Result<Path<(String, i64, String)>, PathRejection>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let Ok(Path((slug, id, action))) = path else { return not_found_page(&ctx) };
    // A form that does not parse (a duplicate or malformed field) is a bad request.
    let Ok(Form(f)) = form else { return bad_request_page(&ctx) };
    let (store, fctx) = (&state.store, ctx.flow_ctx());
    let opt = |s: &str| Some(s.to_string()).filter(|s| !s.trim().is_empty());
    let outcome = match action.as_str() {
        "status" => {
            let (status, until) = (opt(&f.status), opt(&f.until));
            let change = members::Change {
                status: status.as_deref(),
                reason: Some(&f.reason),
                until: until.as_deref(),
                ..Default::default()
            };
            members::change(store, &fctx, &slug, id, &change).await
        }
        "role" => {
            let role = opt(&f.role);
            members::change(
                store,
                &fctx,
                &slug,
                id,
                &members::Change { role: role.as_deref(), ..Default::default() },
            )
            .await
        }
        "note" => members::add_note(store, &fctx, &slug, id, &f.text).await,
        "reset-factors" => match members::get(store, &fctx, &slug, id).await {
            Ok(record) => {
                let user_id = record.membership.user_id;
                crate::flows::second_factor::reset(store, &state.config, &fctx, user_id, &f.reason)
                    .await
                    .map(|()| record)
            }
            Err(e) => Err(e),
        },
        "credential" => members::add_credential(store, &fctx, &slug, id, &f.tag).await,
        "credential-remove" => members::remove_credential(store, &fctx, &slug, id, f.credential_id).await,
        "grant" => members::set_authorisation(store, &fctx, &slug, id, &f.name, true).await,
        "revoke" => members::set_authorisation(store, &fctx, &slug, id, &f.name, false).await,
        "waiver" | "id_check" => members::record_gate(store, &fctx, &slug, id, &action).await,
        "storage" => {
            let storage = Some(Some(f.storage.as_str()).filter(|s| !s.trim().is_empty()));
            members::set_staff_fields(store, &fctx, &slug, id, storage, None).await
        }
        _ => return not_found_page(&ctx),
    };
    match outcome {
        Ok(_) => flash_redirect(
            &ctx,
            FlashKind::Success,
            "flash-member-updated",
            &format!("/staff/orgs/{slug}/members/{id}"),
        ),
        Err(e) if e.is_correctable() => {
            let (message, status) = explain(&ctx, &e);
            page(&state, &ctx, &slug, id, Some(message), status).await
        }
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

#[derive(Deserialize)]
pub struct EraseForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    stripe: String,
}

/// `POST /staff/orgs/{slug}/members/{id}/erase` (admins, behind a recent sign-in): erases the
/// person at once, with a reason and a choice about their subscription.
pub async fn erase(
    State(state): State<AppState>,
    ctx: WebCtx,
    path: Result<Path<(String, i64)>, PathRejection>,
    form: Result<Form<EraseForm>, FormRejection>,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let Ok(Path((slug, id))) = path else { return not_found_page(&ctx) };
    let Ok(Form(f)) = form else { return bad_request_page(&ctx) };
    let stripe = Some(f.stripe.as_str()).filter(|s| !s.is_empty());
    let erased = crate::flows::erasure::erase_member(
        &state.store,
        state.stripe.as_ref(),
        &ctx.flow_ctx(),
        &slug,
        id,
        &f.reason,
        stripe,
    )
    .await;
    match erased {
        Ok(_) => flash_redirect(
            &ctx,
            FlashKind::Success,
            "flash-member-erased",
            &format!("/staff/orgs/{slug}/members/{id}"),
        ),
        Err(e) if e.is_correctable() => {
            let (message, status) = explain(&ctx, &e);
            page(&state, &ctx, &slug, id, Some(message), status).await
        }
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

pub async fn csv(
    State(state): State<AppState>,
    ctx: WebCtx,
    slug: Result<Path<String>, PathRejection>,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let Ok(Path(slug)) = slug else { return not_found_page(&ctx) };
    match members::export_csv(&state.store, &ctx.flow_ctx(), &slug).await {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{slug}-members.csv\"")),
            ],
            body,
        )
            .into_response(),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

/// The member's whole export (audited), behind a recent sign-in or factor check.
pub async fn export(
    State(state): State<AppState>,
    ctx: WebCtx,
    path: Result<Path<(String, i64)>, PathRejection>,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let Ok(Path((slug, id))) = path else { return not_found_page(&ctx) };
    match crate::flows::export::member(&state.store, &ctx.flow_ctx(), &slug, id).await {
        Ok(document) => crate::downloads::json(&document, &format!("{slug}-member-{id}.json")),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

/// The whole organisation as JSON Lines (admins; audited), streamed.
pub async fn export_org(
    State(state): State<AppState>,
    ctx: WebCtx,
    slug: Result<Path<String>, PathRejection>,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let Ok(Path(slug)) = slug else { return not_found_page(&ctx) };
    match crate::flows::export::org_head(&state.store, &ctx.flow_ctx(), &slug).await {
        Ok((org_id, head)) => crate::downloads::jsonl(
            crate::flows::export::org_lines(state.store.clone(), org_id, head),
            &format!("{slug}.jsonl"),
        ),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

#[derive(Deserialize, Default)]
pub struct CatalogueForm {
    #[serde(default)]
    name: String,
    /// Days a grant lasts; blank: no expiry.
    #[serde(default)]
    valid_days: String,
    /// Prerequisites, comma-separated.
    #[serde(default)]
    requires: String,
}

pub async fn add_to_catalogue(
    State(state): State<AppState>,
    ctx: WebCtx,
    slug: Result<Path<String>, PathRejection>,
    form: Result<Form<CatalogueForm>, FormRejection>,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let (Ok(Path(slug)), Ok(Form(f))) = (slug, form) else { return not_found_page(&ctx) };
    let valid_days = match f.valid_days.trim() {
        "" => None,
        days => match days.parse::<i64>() {
            Ok(days) => Some(days),
            Err(_) => {
                return error_page(
                    &ctx,
                    classify(&crate::flows::invalid("valid_days", "invalid_valid_days")),
                );
            }
        },
    };
    let requires: Vec<String> =
        f.requires.split(',').map(str::trim).filter(|r| !r.is_empty()).map(str::to_string).collect();
    let rules = members::CatalogueRules { valid_days, requires };
    match members::add_to_catalogue(&state.store, &ctx.flow_ctx(), &slug, &f.name, Some(&rules)).await {
        Ok(_) => flash_redirect(
            &ctx,
            FlashKind::Success,
            "flash-catalogue-updated",
            &format!("/staff/orgs/{slug}"),
        ),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}
