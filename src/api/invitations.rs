use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::ApiCaller;
use super::error::{ApiError, ApiJson, ApiPath, ErrorBody};
use crate::domain::{InvitationState, MembershipRole, rfc3339};
use crate::flows::{self, FlowError, invitations::InviteInput};
use crate::state::AppState;
use crate::store::invitations::Invitation;
use crate::store::outbox::Delivery;

#[derive(Serialize, ToSchema)]
pub struct InvitationJson {
    pub id: i64,
    pub email: String,
    pub role: MembershipRole,
    /// `pending`, `accepted`, `revoked` or `expired`.
    pub state: InvitationState,
    /// RFC 3339.
    pub expires_at: String,
    pub send_count: i64,
    pub invited_by: String,
    /// The latest email of this invitation: `queued`, `sending`, `sent`, `failed` or `dead`,
    /// with the last error.
    pub delivery: Option<Delivery>,
}

impl From<Invitation> for InvitationJson {
    fn from(i: Invitation) -> InvitationJson {
        InvitationJson {
            id: i.id,
            email: i.email,
            role: i.role,
            state: i.state,
            expires_at: rfc3339(i.expires_at),
            send_count: i.send_count,
            invited_by: i.inviter,
            delivery: i.delivery,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct InvitationList {
    pub items: Vec<InvitationJson>,
}

/// Flow errors, with the pending invitation named and its resend action given.
fn api_error(slug: &str, e: FlowError) -> ApiError {
    match e {
        FlowError::InvitationPending { invitation_id } => ApiError::new(
            StatusCode::CONFLICT,
            "invitation_pending",
            format!(
                "a pending invitation (id {invitation_id}) exists for this address; \
                 resend it with POST /api/v1/orgs/{slug}/invitations/{invitation_id}/resend"
            ),
        ),
        FlowError::Conflict { code: "already_member" } => ApiError::new(
            StatusCode::CONFLICT,
            "already_member",
            "this address already belongs to a member of your organisation",
        ),
        other => other.into(),
    }
}

/// Invite an email address into an organisation.
#[utoipa::path(
    post, path = "/api/v1/orgs/{slug}/invitations", tag = "invitations",
    params(("slug" = String, Path, description = "Organisation slug")),
    request_body = InviteInput,
    responses(
        (status = 201, description = "Invited (also when the address has an account elsewhere)", body = InvitationJson),
        (status = 400, description = "`invalid_email`, `invalid_role`, `invalid_locale`", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such organisation", body = ErrorBody),
        (status = 409, description = "`already_member` or `invitation_pending` (names the invitation and its resend action)", body = ErrorBody),
        (status = 429, description = "`rate_limited`: per recipient, per token or per IP; see `Retry-After`", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath(slug): ApiPath<String>,
    ApiJson(input): ApiJson<InviteInput>,
) -> Result<(StatusCode, Json<InvitationJson>), ApiError> {
    let invitation = flows::invitations::create(&state.store, &state.config, &ctx, &slug, &input)
        .await
        .map_err(|e| api_error(&slug, e))?;
    Ok((StatusCode::CREATED, Json(invitation.into())))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InvitationQuery {
    /// `pending`, `accepted`, `revoked` or `expired`.
    pub state: Option<String>,
}

/// List an organisation's invitations with their delivery state, newest first.
#[utoipa::path(
    get, path = "/api/v1/orgs/{slug}/invitations", tag = "invitations",
    params(("slug" = String, Path, description = "Organisation slug"), InvitationQuery),
    responses(
        (status = 200, description = "Invitations", body = InvitationList),
        (status = 400, description = "`invalid_state`", body = ErrorBody),
        (status = 404, description = "No such organisation", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath(slug): ApiPath<String>,
    query: Result<Query<InvitationQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<InvitationList>, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", e.body_text()))?;
    let items = flows::invitations::list(&state.store, &ctx, &slug, query.state.as_deref()).await?;
    Ok(Json(InvitationList { items: items.into_iter().map(Into::into).collect() }))
}

/// Send a pending invitation again: a new link (the previous one stops working) and a new expiry.
#[utoipa::path(
    post, path = "/api/v1/orgs/{slug}/invitations/{id}/resend", tag = "invitations",
    params(("slug" = String, Path, description = "Organisation slug"), ("id" = i64, Path, description = "Invitation id")),
    responses(
        (status = 202, description = "Queued", body = InvitationJson),
        (status = 404, description = "No such invitation in this organisation", body = ErrorBody),
        (status = 409, description = "`not_pending`", body = ErrorBody),
        (status = 429, description = "`rate_limited` for this recipient; see `Retry-After`", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn resend(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath((slug, id)): ApiPath<(String, i64)>,
) -> Result<(StatusCode, Json<InvitationJson>), ApiError> {
    let invitation = flows::invitations::resend(&state.store, &state.config, &ctx, &slug, id).await?;
    Ok((StatusCode::ACCEPTED, Json(invitation.into())))
}

/// Revoke a pending invitation; its link stops working at once.
#[utoipa::path(
    post, path = "/api/v1/orgs/{slug}/invitations/{id}/revoke", tag = "invitations",
    params(("slug" = String, Path, description = "Organisation slug"), ("id" = i64, Path, description = "Invitation id")),
    responses(
        (status = 200, description = "Revoked", body = InvitationJson),
        (status = 404, description = "No such invitation in this organisation", body = ErrorBody),
        (status = 409, description = "`not_pending`", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn revoke(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath((slug, id)): ApiPath<(String, i64)>,
) -> Result<Json<InvitationJson>, ApiError> {
    Ok(Json(flows::invitations::revoke(&state.store, &ctx, &slug, id).await?.into()))
}
