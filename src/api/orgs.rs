use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::ApiCaller;
use super::error::{ApiError, ApiJson, ApiPath, ErrorBody};
use crate::domain::{OrgKind, SignupMode, rfc3339};
use crate::flows::{self, orgs::OrgInput, orgs::OrgPatch};
use crate::state::AppState;
use crate::store::orgs::Org;

#[derive(Serialize, ToSchema)]
pub struct OrgJson {
    pub id: i64,
    pub slug: String,
    pub name: String,
    /// The company name for a company that has one, else the name; never empty.
    pub display_name: String,
    pub kind: OrgKind,
    pub company_name: Option<String>,
    pub signup: SignupMode,
    /// `automatic` or `manual`.
    pub activation: String,
    pub requires_waiver: bool,
    pub requires_id_check: bool,
    pub past_due_grace_days: i64,
    /// Who must have a second factor: `none`, `admins` (owners and admins) or `everyone`.
    pub second_factor: String,
    /// RFC 3339.
    pub created_at: String,
}

impl From<&Org> for OrgJson {
    fn from(o: &Org) -> OrgJson {
        OrgJson {
            id: o.id,
            slug: o.slug.clone(),
            name: o.name.clone(),
            display_name: o.display_name().to_string(),
            kind: o.kind,
            company_name: o.company_name.clone(),
            signup: o.signup,
            activation: o.activation.clone(),
            requires_waiver: o.requires_waiver,
            requires_id_check: o.requires_id_check,
            past_due_grace_days: o.past_due_grace_days,
            second_factor: o.second_factor.clone(),
            created_at: rfc3339(o.created_at),
        }
    }
}

/// Create an organisation (admin staff only).
#[utoipa::path(
    post, path = "/api/v1/orgs", tag = "organisations",
    request_body = OrgInput,
    responses(
        (status = 201, description = "Created", body = OrgJson),
        (status = 400, description = "Invalid input (`invalid_slug`, `invalid_name`, `invalid_kind`, `malformed_json`, ...)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "`slug_taken`", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create_org(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiJson(input): ApiJson<OrgInput>,
) -> Result<(StatusCode, Json<OrgJson>), ApiError> {
    let org = flows::orgs::create(&state.store, &ctx, &input).await?;
    Ok((StatusCode::CREATED, Json(OrgJson::from(&org))))
}

/// Read one organisation.
#[utoipa::path(
    get, path = "/api/v1/orgs/{slug}", tag = "organisations",
    params(("slug" = String, Path, description = "Organisation slug")),
    responses(
        (status = 200, description = "The organisation", body = OrgJson),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get_org(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<OrgJson>, ApiError> {
    let org = flows::orgs::get(&state.store, &ctx, &slug).await?;
    Ok(Json(OrgJson::from(&org)))
}

/// Change an organisation's name, signup mode, activation policy, gates or grace period (admin).
#[utoipa::path(
    patch, path = "/api/v1/orgs/{slug}", tag = "organisations",
    params(("slug" = String, Path, description = "Organisation slug")),
    request_body = OrgPatch,
    responses((status = 200, description = "Changed", body = OrgJson)),
    security(("bearer" = []))
)]
pub async fn patch_org(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath(slug): ApiPath<String>,
    ApiJson(patch): ApiJson<OrgPatch>,
) -> Result<Json<OrgJson>, ApiError> {
    let org = flows::orgs::update(&state.store, &ctx, &slug, &patch).await?;
    Ok(Json(OrgJson::from(&org)))
}

/// The whole organisation as JSON Lines (admin; audited as `org.exported`): a line for the
/// organisation, then its plans, catalogue, devices (no tokens), webhook endpoints (no
/// secrets), and one line per member with their record, keys and authorisations, named as the
/// import's columns. Streamed: memory stays the same whatever the organisation's size.
#[utoipa::path(
    get, path = "/api/v1/orgs/{slug}/export", tag = "organisations",
    params(("slug" = String, Path, description = "Organisation slug")),
    responses(
        (status = 200, description = "JSON Lines, each with a type: organisation, plan, authorisation, device, webhook_endpoint, member", body = String, content_type = "application/x-ndjson"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn export_org(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath(slug): ApiPath<String>,
) -> Result<axum::response::Response, ApiError> {
    let (org_id, head) = flows::export::org_head(&state.store, &ctx, &slug).await?;
    Ok(crate::downloads::jsonl(
        flows::export::org_lines(state.store.clone(), org_id, head),
        &format!("{slug}.jsonl"),
    ))
}

/// An organisation at a glance: members by status, pending activations and what they wait for,
/// joins and leaves per month for the last 12 months, paying members, silent devices and
/// failing webhook deliveries (any staff).
#[utoipa::path(
    get, path = "/api/v1/orgs/{slug}/stats", tag = "organisations",
    params(("slug" = String, Path, description = "Organisation slug")),
    responses(
        (status = 200, description = "The figures", body = crate::flows::overview::Overview),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn org_stats(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<crate::flows::overview::Overview>, ApiError> {
    Ok(Json(flows::overview::get(&state.store, &ctx, &slug).await?))
}
