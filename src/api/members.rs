use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::ApiCaller;
use super::error::{ApiError, ApiJson, ApiPath, ErrorBody, OptionalApiJson};
use crate::domain::{MembershipRole, MembershipStatus, rfc3339};
use crate::flows;
use crate::flows::FlowError;
use crate::flows::members::{CatalogueRules, Record};
use crate::state::AppState;
use crate::store::orgs::MemberRow;
use crate::store::outbox::Delivery;

#[derive(Serialize, ToSchema)]
pub struct MemberJson {
    /// The membership id.
    pub id: i64,
    pub user_id: i64,
    pub email: String,
    pub username: Option<String>,
    pub role: MembershipRole,
    pub status: MembershipStatus,
    pub member_since: Option<String>,
    /// The latest email sent to this member, or null.
    pub delivery: Option<Delivery>,
}

impl From<MemberRow> for MemberJson {
    fn from(m: MemberRow) -> MemberJson {
        MemberJson {
            id: m.membership_id,
            user_id: m.user_id,
            email: m.email,
            username: m.username,
            role: m.role,
            status: m.status,
            member_since: m.member_since.map(rfc3339),
            delivery: m.delivery,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MemberList {
    pub items: Vec<MemberJson>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MemberQuery {
    /// `pending`, `active`, `suspended` or `banned`.
    pub status: Option<String>,
    /// Case-insensitive search in email and username.
    pub q: Option<String>,
}

/// List an organisation's members.
#[utoipa::path(
    get, path = "/api/v1/orgs/{slug}/members", tag = "members",
    params(("slug" = String, Path, description = "Organisation slug"), MemberQuery),
    responses(
        (status = 200, description = "Members", body = MemberList),
        (status = 400, description = "`invalid_status`", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list_members(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath(slug): ApiPath<String>,
    query: Result<Query<MemberQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<MemberList>, ApiError> {
    let Query(query) = query
        .map_err(|e| ApiError::new(axum::http::StatusCode::BAD_REQUEST, "invalid_request", e.body_text()))?;
    let members =
        flows::members::list(&state.store, &ctx, &slug, query.status.as_deref(), query.q.as_deref()).await?;
    Ok(Json(MemberList { items: members.into_iter().map(MemberJson::from).collect() }))
}

#[derive(Serialize, ToSchema)]
pub struct ProfileJson {
    pub first_name: String,
    pub last_name: String,
    pub preferred_name: Option<String>,
    pub pronouns: Option<String>,
    pub birthday: Option<String>,
    pub phone: Option<String>,
    pub emergency_contact: Option<String>,
    pub chat_handle: Option<String>,
    pub storage: Option<String>,
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Value,
}

/// A member's whole record.
#[derive(Serialize, ToSchema)]
pub struct RecordJson {
    pub id: i64,
    pub user_id: i64,
    pub email: String,
    pub username: Option<String>,
    pub role: MembershipRole,
    pub status: MembershipStatus,
    pub plan: Option<String>,
    pub member_since: Option<String>,
    pub profile: ProfileJson,
    pub agreements: Vec<crate::store::records::Agreement>,
    pub notes: Vec<crate::store::records::Note>,
    pub credentials: Vec<crate::store::records::Credential>,
    pub authorisations: Vec<crate::store::records::Authorisation>,
}

impl From<Record> for RecordJson {
    fn from(r: Record) -> RecordJson {
        let p = r.profile;
        RecordJson {
            id: r.membership.id,
            user_id: r.membership.user_id,
            email: r.membership.email,
            username: r.membership.username,
            role: r.membership.role,
            status: r.membership.status,
            plan: r.membership.plan,
            member_since: r.membership.member_since.map(rfc3339),
            profile: ProfileJson {
                custom_fields: serde_json::from_str(&p.custom_fields)
                    .unwrap_or_else(|_| serde_json::json!({})),
                first_name: p.first_name,
                last_name: p.last_name,
                preferred_name: p.preferred_name,
                pronouns: p.pronouns,
                birthday: p.birthday,
                phone: p.phone,
                emergency_contact: p.emergency_contact,
                chat_handle: p.chat_handle,
                storage: p.storage,
            },
            agreements: r.agreements,
            notes: r.notes,
            credentials: r.credentials,
            authorisations: r.authorisations,
        }
    }
}

/// Read a member's whole record.
#[utoipa::path(
    get, path = "/api/v1/orgs/{slug}/members/{id}", tag = "members",
    params(("slug" = String, Path, description = "Organisation slug"), ("id" = i64, Path, description = "Membership id")),
    responses((status = 200, description = "The record", body = RecordJson), (status = 404, description = "`not_found`", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get_member(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath((slug, id)): ApiPath<(String, i64)>,
) -> Result<Json<RecordJson>, ApiError> {
    Ok(Json(flows::members::get(&state.store, &ctx, &slug, id).await?.into()))
}

/// Everything Portico holds about a member (SPEC §3.11): the same JSON document the member can
/// download at `/account/export`. Audited (`member.exported`).
#[utoipa::path(
    get, path = "/api/v1/orgs/{slug}/members/{id}/export", tag = "members",
    params(("slug" = String, Path, description = "Organisation slug"), ("id" = i64, Path, description = "Membership id")),
    responses(
        (status = 200, description = "The export: format, generated_at, account, memberships, member_records, agreements, keys, authorisations, notes, authenticator_app, passkeys, recovery_codes, connected_applications, sessions, emails, payments, audit_events", body = Object),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn export_member(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath((slug, id)): ApiPath<(String, i64)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(flows::export::member(&state.store, &ctx, &slug, id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    /// Why (kept in the audit trail), 1 to 500 characters.
    pub reason: String,
    /// The person's Stripe subscription: `cancel_now` (the default) or `cancel_at_period_end`.
    #[serde(default, deserialize_with = "crate::flows::present")]
    pub stripe: Option<String>,
}

/// Erase the person holding this membership, at once (SPEC §3.11): anonymised in place across
/// every organisation they belong to, keys and authorisations removed, sign-ins revoked, their
/// subscription cancelled, `member.erased` emitted. Audited with the reason.
#[utoipa::path(
    post, path = "/api/v1/orgs/{slug}/members/{id}/erase", tag = "members",
    params(("slug" = String, Path, description = "Organisation slug"), ("id" = i64, Path, description = "Membership id")),
    request_body = EraseRequest,
    responses(
        (status = 200, description = "Erased: user_id, email (the erased address), memberships, subscriptions (each with its outcome), removed, audit_events_anonymised, erased_at", body = Object),
        (status = 400, description = "`required` or `too_long` (reason), `invalid_stripe_choice`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`already_erased`, `last_admin`", body = ErrorBody),
        (status = 502, description = "`payment_provider_unavailable`: Stripe failed; nothing was erased", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn erase_member(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath((slug, id)): ApiPath<(String, i64)>,
    ApiJson(body): ApiJson<EraseRequest>,
) -> Result<Json<flows::erasure::Erased>, ApiError> {
    let stripe = state.stripe.as_ref();
    let erased = flows::erasure::erase_member(
        &state.store,
        stripe,
        &ctx,
        &slug,
        id,
        &body.reason,
        body.stripe.as_deref(),
    )
    .await?;
    Ok(Json(erased))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberChange {
    /// New status, along the allowed transitions (a reason is required).
    #[serde(default, deserialize_with = "crate::flows::present")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "crate::flows::present")]
    pub role: Option<String>,
    #[serde(default, deserialize_with = "crate::flows::present")]
    pub reason: Option<String>,
    /// With `status: "suspended"`: when the suspension ends by itself (RFC 3339, in the future).
    #[serde(default, deserialize_with = "crate::flows::present")]
    pub until: Option<String>,
    /// Storage assignment; an empty string clears it.
    #[serde(default, deserialize_with = "crate::flows::present")]
    pub storage: Option<String>,
    /// Replaces the custom fields: at most 50 scalar values.
    #[serde(default, deserialize_with = "crate::flows::present")]
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<crate::domain::member::UniqueKeys>,
}

/// Change a member's status and/or role.
#[utoipa::path(
    patch, path = "/api/v1/orgs/{slug}/members/{id}", tag = "members",
    params(("slug" = String, Path, description = "Organisation slug"), ("id" = i64, Path, description = "Membership id")),
    request_body = MemberChange,
    responses(
        (status = 200, description = "Changed", body = RecordJson),
        (status = 400, description = "`invalid_status`, `invalid_role`, `required` (reason)", body = ErrorBody),
        (status = 422, description = "`transition_not_allowed`", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn patch_member(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath((slug, id)): ApiPath<(String, i64)>,
    ApiJson(change): ApiJson<MemberChange>,
) -> Result<Json<RecordJson>, ApiError> {
    let storage = change.storage.as_deref().map(|s| Some(s).filter(|s| !s.trim().is_empty()));
    let fields = change.custom_fields.map(|fields| fields.0);
    let has_fields = storage.is_some() || fields.is_some();
    // Every part of the change is checked before anything is written: a bad part (or a
    // transition the table refuses) changes nothing.
    if let Some(fields) = &fields {
        flows::members::validate_custom_fields(fields)?;
    }
    if let Some(Some(storage)) = storage {
        flows::members::storage_value(storage)?;
    }
    let mut record = None;
    if change.status.is_some() || change.role.is_some() || !has_fields {
        record = Some(
            flows::members::change(
                &state.store,
                &ctx,
                &slug,
                id,
                &flows::members::Change {
                    status: change.status.as_deref(),
                    role: change.role.as_deref(),
                    reason: change.reason.as_deref(),
                    until: change.until.as_deref(),
                },
            )
            .await?,
        );
    }
    if has_fields {
        record = Some(
            flows::members::set_staff_fields(&state.store, &ctx, &slug, id, storage, fields.as_ref()).await?,
        );
    }
    record.map(|r| Json(r.into())).ok_or_else(|| FlowError::Internal("no change was made".into()).into())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    pub text: String,
}

/// Append a staff note (notes are never edited or deleted).
#[utoipa::path(
    post, path = "/api/v1/orgs/{slug}/members/{id}/notes", tag = "members",
    params(("slug" = String, Path, description = "Organisation slug"), ("id" = i64, Path, description = "Membership id")),
    request_body = NoteInput,
    responses((status = 201, description = "Added", body = RecordJson), (status = 400, description = "Empty or too long", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn add_note(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath((slug, id)): ApiPath<(String, i64)>,
    ApiJson(input): ApiJson<NoteInput>,
) -> Result<(StatusCode, Json<RecordJson>), ApiError> {
    let record = flows::members::add_note(&state.store, &ctx, &slug, id, &input.text).await?;
    Ok((StatusCode::CREATED, Json(record.into())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialInput {
    /// An RFID tag: exactly 10 digits.
    pub tag: String,
}

/// Add an RFID credential; a tag live for anyone in the organisation is a 409.
#[utoipa::path(
    post, path = "/api/v1/orgs/{slug}/members/{id}/credentials", tag = "members",
    params(("slug" = String, Path, description = "Organisation slug"), ("id" = i64, Path, description = "Membership id")),
    request_body = CredentialInput,
    responses(
        (status = 201, description = "Added", body = RecordJson),
        (status = 400, description = "`invalid_tag`", body = ErrorBody),
        (status = 409, description = "`credential_taken`", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn add_credential(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath((slug, id)): ApiPath<(String, i64)>,
    ApiJson(input): ApiJson<CredentialInput>,
) -> Result<(StatusCode, Json<RecordJson>), ApiError> {
    let record = flows::members::add_credential(&state.store, &ctx, &slug, id, &input.tag).await?;
    Ok((StatusCode::CREATED, Json(record.into())))
}

/// Retire a credential.
#[utoipa::path(
    delete, path = "/api/v1/orgs/{slug}/members/{id}/credentials/{credential_id}", tag = "members",
    params(
        ("slug" = String, Path, description = "Organisation slug"),
        ("id" = i64, Path, description = "Membership id"),
        ("credential_id" = i64, Path, description = "Credential id"),
    ),
    responses((status = 200, description = "Removed", body = RecordJson), (status = 404, description = "`not_found`", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn remove_credential(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath((slug, id, credential_id)): ApiPath<(String, i64, i64)>,
) -> Result<Json<RecordJson>, ApiError> {
    Ok(Json(flows::members::remove_credential(&state.store, &ctx, &slug, id, credential_id).await?.into()))
}

/// Grant an authorisation from the organisation's catalogue.
#[utoipa::path(
    put, path = "/api/v1/orgs/{slug}/members/{id}/authorisations/{name}", tag = "members",
    params(
        ("slug" = String, Path, description = "Organisation slug"),
        ("id" = i64, Path, description = "Membership id"),
        ("name" = String, Path, description = "Authorisation name"),
    ),
    responses((status = 200, description = "Granted", body = RecordJson), (status = 404, description = "`not_in_catalogue`", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn grant(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath((slug, id, name)): ApiPath<(String, i64, String)>,
) -> Result<Json<RecordJson>, ApiError> {
    Ok(Json(flows::members::set_authorisation(&state.store, &ctx, &slug, id, &name, true).await?.into()))
}

/// Revoke an authorisation.
#[utoipa::path(
    delete, path = "/api/v1/orgs/{slug}/members/{id}/authorisations/{name}", tag = "members",
    params(
        ("slug" = String, Path, description = "Organisation slug"),
        ("id" = i64, Path, description = "Membership id"),
        ("name" = String, Path, description = "Authorisation name"),
    ),
    responses((status = 200, description = "Revoked", body = RecordJson)),
    security(("bearer" = []))
)]
pub async fn revoke(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath((slug, id, name)): ApiPath<(String, i64, String)>,
) -> Result<Json<RecordJson>, ApiError> {
    Ok(Json(flows::members::set_authorisation(&state.store, &ctx, &slug, id, &name, false).await?.into()))
}

#[derive(Serialize, ToSchema)]
pub struct Catalogue {
    pub items: Vec<String>,
    /// Each authorisation with its validity period and prerequisites.
    pub entries: Vec<crate::store::records::CatalogueEntry>,
}

/// Add a name to the organisation's authorisation catalogue (admin). With a body, set its
/// validity period and prerequisites (replacing earlier ones); without, add it if missing.
#[utoipa::path(
    put, path = "/api/v1/orgs/{slug}/authorisations/{name}", tag = "members",
    params(("slug" = String, Path, description = "Organisation slug"), ("name" = String, Path, description = "Authorisation name")),
    request_body(content = Option<CatalogueRules>, content_type = "application/json"),
    responses(
        (status = 200, description = "The catalogue", body = Catalogue),
        (status = 400, description = "`invalid_authorisation_name` (letters, digits, spaces and - _ . only; starting with a letter or digit; at most 60), `invalid_valid_days`, `invalid_prerequisites`", body = ErrorBody),
        (status = 409, description = "`self_prerequisite`: it names itself as a prerequisite", body = ErrorBody),
        (status = 404, description = "`not_in_catalogue`: a prerequisite is not in the catalogue", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn add_to_catalogue(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath((slug, name)): ApiPath<(String, String)>,
    OptionalApiJson(rules): OptionalApiJson<CatalogueRules>,
) -> Result<Json<Catalogue>, ApiError> {
    let entries = flows::members::add_to_catalogue(&state.store, &ctx, &slug, &name, rules.as_ref()).await?;
    let items = entries.iter().map(|e| e.name.clone()).collect();
    Ok(Json(Catalogue { items, entries }))
}
