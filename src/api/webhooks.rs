//! Webhook endpoints (SPEC §3.7): staff list them; admins add, change, rotate and delete them.
//! A secret is in the answer of its creation or rotation only.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::ApiCaller;
use super::error::{ApiError, ApiJson, ApiPath, ErrorBody};
use crate::domain::rfc3339;
use crate::flows::webhooks::{self, EndpointInput, EndpointUpdate};
use crate::state::AppState;
use crate::store::webhooks::Endpoint;

#[derive(Serialize, ToSchema)]
pub struct EndpointJson {
    pub id: i64,
    pub url: String,
    pub events: Vec<String>,
    pub enabled: bool,
    /// Why Portico disabled it (its receiver answered 410 Gone); cleared when enabled again.
    pub disabled_reason: Option<String>,
    /// Until when the secret before the last rotation still signs (RFC 3339).
    pub previous_secret_until: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Endpoint> for EndpointJson {
    fn from(e: Endpoint) -> EndpointJson {
        let until = e.previous_until.filter(|t| *t > crate::store::now()).map(rfc3339);
        EndpointJson {
            id: e.id,
            url: e.url,
            events: e.event_types,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            previous_secret_until: until,
            created_at: rfc3339(e.created_at),
            updated_at: rfc3339(e.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct EndpointList {
    pub items: Vec<EndpointJson>,
}

#[derive(Serialize, ToSchema)]
pub struct EndpointWithSecret {
    #[serde(flatten)]
    pub endpoint: EndpointJson,
    /// `whsec_…`, shown this once.
    pub secret: String,
}

/// An organisation's webhook endpoints (staff).
#[utoipa::path(
    get, path = "/api/v1/orgs/{slug}/webhooks", tag = "webhooks",
    params(("slug" = String, Path, description = "Organisation slug")),
    responses((status = 200, description = "The endpoints", body = EndpointList)),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<EndpointList>, ApiError> {
    let items = webhooks::list(&state.store, &ctx, &slug).await?;
    Ok(Json(EndpointList { items: items.into_iter().map(EndpointJson::from).collect() }))
}

/// Add an endpoint (admin); its signing secret is in the answer, once.
#[utoipa::path(
    post, path = "/api/v1/orgs/{slug}/webhooks", tag = "webhooks",
    params(("slug" = String, Path, description = "Organisation slug")),
    request_body = EndpointInput,
    responses(
        (status = 201, description = "Created", body = EndpointWithSecret),
        (status = 409, description = "`insecure_destination` (http not allowed) or `private_destination`", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath(slug): ApiPath<String>,
    ApiJson(input): ApiJson<EndpointInput>,
) -> Result<(StatusCode, Json<EndpointWithSecret>), ApiError> {
    let (endpoint, secret) =
        webhooks::create(&state.store, &state.config.webhooks, &ctx, &slug, &input).await?;
    let body = EndpointWithSecret { endpoint: endpoint.into(), secret: secret.expose().to_string() };
    Ok((StatusCode::CREATED, Json(body)))
}

/// One endpoint (staff).
#[utoipa::path(
    get, path = "/api/v1/orgs/{slug}/webhooks/{id}", tag = "webhooks",
    params(("slug" = String, Path, description = "Organisation slug"), ("id" = i64, Path, description = "Endpoint id")),
    responses((status = 200, description = "The endpoint", body = EndpointJson), (status = 404, description = "No such endpoint", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath((slug, id)): ApiPath<(String, i64)>,
) -> Result<Json<EndpointJson>, ApiError> {
    Ok(Json(webhooks::get(&state.store, &ctx, &slug, id).await?.into()))
}

/// Change an endpoint's URL, event types or enabled flag (admin).
#[utoipa::path(
    patch, path = "/api/v1/orgs/{slug}/webhooks/{id}", tag = "webhooks",
    params(("slug" = String, Path, description = "Organisation slug"), ("id" = i64, Path, description = "Endpoint id")),
    request_body = EndpointUpdate,
    responses(
        (status = 200, description = "Changed", body = EndpointJson),
        (status = 404, description = "No such endpoint", body = ErrorBody),
        (status = 409, description = "`insecure_destination` or `private_destination`", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath((slug, id)): ApiPath<(String, i64)>,
    ApiJson(change): ApiJson<EndpointUpdate>,
) -> Result<Json<EndpointJson>, ApiError> {
    let endpoint = webhooks::update(&state.store, &state.config.webhooks, &ctx, &slug, id, &change).await?;
    Ok(Json(endpoint.into()))
}

/// Rotate an endpoint's secret (admin): the new one is in the answer, once; the old one keeps
/// signing (a second `v1,` signature) for 24 hours.
#[utoipa::path(
    post, path = "/api/v1/orgs/{slug}/webhooks/{id}/rotate", tag = "webhooks",
    params(("slug" = String, Path, description = "Organisation slug"), ("id" = i64, Path, description = "Endpoint id")),
    responses((status = 200, description = "Rotated", body = EndpointWithSecret), (status = 404, description = "No such endpoint", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn rotate(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath((slug, id)): ApiPath<(String, i64)>,
) -> Result<Json<EndpointWithSecret>, ApiError> {
    let (endpoint, secret) = webhooks::rotate(&state.store, &ctx, &slug, id).await?;
    Ok(Json(EndpointWithSecret { endpoint: endpoint.into(), secret: secret.expose().to_string() }))
}

/// Delete an endpoint (admin); what it had not been sent yet is dropped.
#[utoipa::path(
    delete, path = "/api/v1/orgs/{slug}/webhooks/{id}", tag = "webhooks",
    params(("slug" = String, Path, description = "Organisation slug"), ("id" = i64, Path, description = "Endpoint id")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such endpoint", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath((slug, id)): ApiPath<(String, i64)>,
) -> Result<StatusCode, ApiError> {
    webhooks::delete(&state.store, &ctx, &slug, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryJson {
    pub id: i64,
    /// The `webhook-id` of every attempt.
    pub message_id: String,
    pub event_type: String,
    pub membership_id: Option<i64>,
    /// The membership's sequence number of the event (0 for a test event).
    pub sequence: i64,
    /// `pending`, `sending`, `delivered`, `failed` (will retry) or `dead`.
    pub state: String,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    /// The first 500 bytes of the last answer.
    pub response_excerpt: Option<String>,
    /// For a pending or failed delivery, when it is next attempted (RFC 3339).
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

impl From<crate::store::webhooks::DeliveryRow> for DeliveryJson {
    fn from(d: crate::store::webhooks::DeliveryRow) -> DeliveryJson {
        let waiting = matches!(d.state.as_str(), "pending" | "failed");
        DeliveryJson {
            id: d.id,
            message_id: d.message_id,
            event_type: d.event_type,
            membership_id: d.membership_id,
            sequence: d.seq,
            next_attempt_at: waiting.then(|| rfc3339(d.next_attempt_ms / 1000)),
            state: d.state,
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error,
            response_excerpt: d.response_excerpt,
            created_at: rfc3339(d.created_at),
            delivered_at: d.delivered_at.map(rfc3339),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    pub items: Vec<DeliveryJson>,
}

/// An endpoint's latest 200 deliveries, newest first (staff).
#[utoipa::path(
    get, path = "/api/v1/orgs/{slug}/webhooks/{id}/deliveries", tag = "webhooks",
    params(("slug" = String, Path, description = "Organisation slug"), ("id" = i64, Path, description = "Endpoint id")),
    responses((status = 200, description = "The deliveries", body = DeliveryList), (status = 404, description = "No such endpoint", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn deliveries(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath((slug, id)): ApiPath<(String, i64)>,
) -> Result<Json<DeliveryList>, ApiError> {
    let (_, rows) = webhooks::deliveries(&state.store, &ctx, &slug, id).await?;
    Ok(Json(DeliveryList { items: rows.into_iter().map(DeliveryJson::from).collect() }))
}

/// Send a delivered or dead delivery again (admin), with the same `webhook-id`.
#[utoipa::path(
    post, path = "/api/v1/orgs/{slug}/webhooks/{id}/deliveries/{delivery_id}/replay", tag = "webhooks",
    params(("slug" = String, Path, description = "Organisation slug"), ("id" = i64, Path, description = "Endpoint id"),
           ("delivery_id" = i64, Path, description = "Delivery id")),
    responses(
        (status = 202, description = "Queued again"),
        (status = 404, description = "No such delivery", body = ErrorBody),
        (status = 409, description = "`not_finished`: it is still being attempted", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn replay(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath((slug, id, delivery_id)): ApiPath<(String, i64, i64)>,
) -> Result<StatusCode, ApiError> {
    webhooks::replay(&state.store, &ctx, &slug, id, delivery_id).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayInput {
    /// RFC 3339 or `YYYY-MM-DD` (midnight UTC): dead deliveries created since then are sent again.
    pub since: String,
}

#[derive(Serialize, ToSchema)]
pub struct Replayed {
    pub replayed: u64,
}

/// Send again every dead delivery of an endpoint since a time (admin).
#[utoipa::path(
    post, path = "/api/v1/orgs/{slug}/webhooks/{id}/replay", tag = "webhooks",
    params(("slug" = String, Path, description = "Organisation slug"), ("id" = i64, Path, description = "Endpoint id")),
    request_body = ReplayInput,
    responses((status = 200, description = "How many were queued again", body = Replayed), (status = 404, description = "No such endpoint", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn replay_dead(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath((slug, id)): ApiPath<(String, i64)>,
    ApiJson(input): ApiJson<ReplayInput>,
) -> Result<Json<Replayed>, ApiError> {
    let replayed = webhooks::replay_dead_since(&state.store, &ctx, &slug, id, &input.since).await?;
    Ok(Json(Replayed { replayed }))
}

/// Queue a `webhook.test` event to this endpoint (admin).
#[utoipa::path(
    post, path = "/api/v1/orgs/{slug}/webhooks/{id}/test", tag = "webhooks",
    params(("slug" = String, Path, description = "Organisation slug"), ("id" = i64, Path, description = "Endpoint id")),
    responses((status = 202, description = "Queued"), (status = 404, description = "No such endpoint", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn send_test(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath((slug, id)): ApiPath<(String, i64)>,
) -> Result<StatusCode, ApiError> {
    webhooks::send_test(&state.store, &ctx, &slug, id).await?;
    Ok(StatusCode::ACCEPTED)
}
