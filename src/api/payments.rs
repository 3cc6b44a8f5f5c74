use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::ApiCaller;
use super::error::{ApiError, ApiPath, ErrorBody};
use crate::flows;
use crate::flows::payments::LedgerQuery;
use crate::state::AppState;
use crate::store::stripe_events::LedgerEvent;

#[derive(Serialize, ToSchema)]
pub struct WebhookAnswer {
    pub received: bool,
    /// True when the event was already in the ledger (nothing was done again).
    pub duplicate: bool,
}

/// Stripe's webhook: a verified event is stored once in the ledger and answered at once.
#[utoipa::path(
    post, path = "/webhooks/stripe", tag = "payments",
    params(("Stripe-Signature" = String, Header, description = "`t=…,v1=…[,v1=…]`")),
    request_body(content = Object, content_type = "application/json", description = "A Stripe event, as Stripe sends it"),
    responses(
        (status = 200, description = "Stored (or already stored)", body = WebhookAnswer),
        (status = 400, description = "`invalid_signature` (missing, malformed, stale or not matching) or `invalid_event`; nothing stored", body = ErrorBody),
        (status = 404, description = "No webhook secret is configured", body = ErrorBody),
    )
)]
pub async fn stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookAnswer>, ApiError> {
    let signature = headers.get("stripe-signature").and_then(|v| v.to_str().ok());
    let received = flows::payments::receive_stripe_event(
        &state.store,
        &state.config,
        state.stripe.as_ref(),
        signature,
        &body,
    )
    .await?;
    Ok(Json(WebhookAnswer { received: true, duplicate: received.duplicate }))
}

#[derive(Serialize, ToSchema)]
pub struct LedgerEventJson {
    /// Stripe's event id, `evt_…`.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// When Stripe created the event (Unix seconds).
    pub created: i64,
    pub livemode: bool,
    /// The membership the event was bound to, if any.
    pub membership: Option<i64>,
    /// `received`, `processed`, `ignored` or `failed`.
    pub state: String,
    /// What processing did: `activated`, `paid_waiting`, `reactivated`, `suspended`,
    /// `past_due`, `recorded`, `banned_unchanged`, `stale`, `unbound`, `other_subscription`,
    /// `not_handled` or `error`.
    pub outcome: Option<String>,
    pub error: Option<String>,
}

impl From<LedgerEvent> for LedgerEventJson {
    fn from(e: LedgerEvent) -> LedgerEventJson {
        LedgerEventJson {
            id: e.id,
            kind: e.kind,
            created: e.created,
            livemode: e.livemode,
            membership: e.membership_id,
            state: e.state,
            outcome: e.outcome,
            error: e.error,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct LedgerList {
    pub items: Vec<LedgerEventJson>,
}

/// The Stripe event ledger, newest first (at most 200), with filters (staff).
#[utoipa::path(
    get, path = "/api/v1/stripe/events", tag = "payments",
    params(LedgerQuery),
    responses((status = 200, description = "Ledger events", body = LedgerList)),
    security(("bearer" = []))
)]
pub async fn ledger(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    query: Result<Query<LedgerQuery>, QueryRejection>,
) -> Result<Json<LedgerList>, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", e.body_text()))?;
    let events = flows::payments::ledger(&state.store, &ctx, &query).await?;
    Ok(Json(LedgerList { items: events.into_iter().map(LedgerEventJson::from).collect() }))
}

/// Process one ledger event again (admin staff), e.g. after fixing what made it fail.
#[utoipa::path(
    post, path = "/api/v1/stripe/events/{id}/reprocess", tag = "payments",
    params(("id" = String, Path, description = "Stripe event id, `evt_…`")),
    responses(
        (status = 200, description = "The event after processing", body = LedgerEventJson),
        (status = 409, description = "`payload_pruned`: retention removed the event's payload", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn reprocess(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<LedgerEventJson>, ApiError> {
    let event = flows::payments::reprocess(&state.store, &ctx, state.stripe.as_ref(), &id).await?;
    Ok(Json(event.into()))
}
