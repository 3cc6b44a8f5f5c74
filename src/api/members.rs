use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::ApiCaller;
use super::error::{ApiError, ApiPath, ErrorBody};
use crate::domain::{MembershipRole, MembershipStatus, rfc3339};
use crate::flows;
use crate::server::AppState;
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
