use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use crate::flows;
use crate::server::AppState;

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
    let received =
        flows::payments::receive_stripe_event(&state.store, &state.config, state.stripe.as_ref(), signature, &body).await?;
    Ok(Json(WebhookAnswer { received: true, duplicate: received.duplicate }))
}
