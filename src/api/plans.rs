use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::ApiCaller;
use super::error::{ApiError, ApiJson, ApiPath, ErrorBody};
use crate::flows::{self, plans::PlanInput};
use crate::state::AppState;
use crate::store::plans::Plan;

#[derive(Serialize, ToSchema)]
pub struct PlanJson {
    pub id: i64,
    pub name: String,
    pub price_id: String,
    pub display_price: String,
    /// `day`, `week`, `month` or `year`.
    pub interval: String,
    pub active: bool,
}

impl From<Plan> for PlanJson {
    fn from(p: Plan) -> PlanJson {
        PlanJson {
            id: p.id,
            name: p.name,
            price_id: p.price_id,
            display_price: p.display_price,
            interval: p.interval,
            active: p.active,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PlanList {
    pub items: Vec<PlanJson>,
}

/// An organisation's plans, active and inactive, oldest first.
#[utoipa::path(
    get, path = "/api/v1/orgs/{slug}/plans", tag = "plans",
    params(("slug" = String, Path, description = "Organisation slug")),
    responses((status = 200, description = "The plans", body = PlanList)),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<PlanList>, ApiError> {
    let plans = flows::plans::list(&state.store, &ctx, &slug).await?;
    Ok(Json(PlanList { items: plans.into_iter().map(PlanJson::from).collect() }))
}

/// Create a plan (admin staff).
#[utoipa::path(
    post, path = "/api/v1/orgs/{slug}/plans", tag = "plans",
    params(("slug" = String, Path, description = "Organisation slug")),
    request_body = PlanInput,
    responses(
        (status = 201, description = "Created", body = PlanJson),
        (status = 409, description = "`price_taken`: a plan of this organisation has this price", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath(slug): ApiPath<String>,
    ApiJson(input): ApiJson<PlanInput>,
) -> Result<(StatusCode, Json<PlanJson>), ApiError> {
    let plan = flows::plans::create(&state.store, &ctx, &slug, &input).await?;
    Ok((StatusCode::CREATED, Json(plan.into())))
}

/// Deactivate a plan (admin staff): new members can no longer choose it.
#[utoipa::path(
    post, path = "/api/v1/orgs/{slug}/plans/{id}/deactivate", tag = "plans",
    params(("slug" = String, Path, description = "Organisation slug"), ("id" = i64, Path, description = "Plan id")),
    responses((status = 200, description = "Deactivated", body = PlanJson)),
    security(("bearer" = []))
)]
pub async fn deactivate(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath((slug, id)): ApiPath<(String, i64)>,
) -> Result<Json<PlanJson>, ApiError> {
    Ok(Json(flows::plans::deactivate(&state.store, &ctx, &slug, id).await?.into()))
}
