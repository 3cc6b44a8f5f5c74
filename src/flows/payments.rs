//! Payments with Stripe. This part receives Stripe's webhook: it verifies the signature over
//! the raw body and stores each event once in the ledger before anything acts on it. Acting on
//! the events (binding checkout sessions and subscriptions to memberships, the payment-driven
//! lifecycle) is not built yet: stored events wait in state `received`.

use serde::Deserialize;

use super::{FlowError, FlowResult, invalid};
use crate::config::Config;
use crate::domain::stripe_signature;
use crate::store::stripe_events::{self, NewEvent};
use crate::store::{Store, now};

/// What the webhook did with a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub event_id: String,
    /// The ledger already had this event: nothing was done again.
    pub duplicate: bool,
}

/// The envelope every Stripe event has.
#[derive(Deserialize)]
struct Envelope {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    livemode: bool,
}

/// Verifies a delivery and stores its event once. Without a configured webhook secret the
/// endpoint does not exist (`NotFound`, though a delivery with no signature at all is still a
/// 400); a bad, missing or stale signature stores nothing.
pub async fn receive_stripe_event(
    store: &Store,
    config: &Config,
    signature: Option<&str>,
    body: &[u8],
) -> FlowResult<Received> {
    // A delivery without a signature is malformed whether or not payments are configured.
    if signature.is_none() {
        return Err(invalid("stripe_signature", "invalid_signature"));
    }
    let secret = config.stripe.webhook_secret.as_ref().ok_or(FlowError::NotFound)?;
    stripe_signature::verify(&secret.0, signature, body, now())
        .map_err(|_| invalid("stripe_signature", "invalid_signature"))?;
    let payload = std::str::from_utf8(body).map_err(|_| invalid("body", "invalid_event"))?;
    let event: Envelope = serde_json::from_str(payload).map_err(|_| invalid("body", "invalid_event"))?;
    let plausible_id = event.id.starts_with("evt_")
        && event.id.len() <= 255
        && event.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !plausible_id || event.kind.is_empty() || event.kind.len() > 100 {
        return Err(invalid("body", "invalid_event"));
    }
    let mut tx = store.begin().await?;
    let new = stripe_events::insert_once(
        tx.conn(),
        &NewEvent {
            id: &event.id,
            kind: &event.kind,
            created: event.created,
            livemode: event.livemode,
            payload,
            received_at: now(),
        },
    )
    .await?;
    tx.commit().await?;
    if new {
        tracing::info!(event = %event.id, kind = %event.kind, "stripe event stored");
    }
    Ok(Received { event_id: event.id, duplicate: !new })
}
