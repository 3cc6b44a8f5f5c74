//! Events out (SPEC §3.7). An event is written in the transaction of the change that causes
//! it, numbered in its membership's sequence, with one delivery per subscribed endpoint; the
//! delivery worker sends them.

use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{Ctx, FlowError, FlowResult, invalid};
use crate::config::WebhookConfig;
use crate::domain::destination::{self, DestinationError};
use crate::domain::webhook_signature::SigningSecret;
use crate::store::audit;
use crate::store::webhooks::{self, Endpoint};
use crate::store::{Store, Tx, now, now_ms};

/// How long a rotated-out secret keeps signing.
pub const ROTATION_OVERLAP_SECS: i64 = 24 * 3600;

pub use crate::domain::events::EVENT_TYPES;

/// Where the dev webhook receiver takes deliveries, under the base URL (routed with the dev
/// mailbox only; its page is `/dev/webhooks`).
pub const DEV_RECEIVER_PATH: &str = "dev/webhooks/receive";

/// What staff give for a new endpoint.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointInput {
    /// `https://…` (or `http://` where the configuration allows it).
    pub url: String,
    /// The event types to send (at least one); absent: every type Portico sends, stored as
    /// that list so the endpoint shows what it receives.
    #[serde(default, deserialize_with = "super::present")]
    pub events: Option<Vec<String>>,
    /// Default true.
    #[serde(default, deserialize_with = "super::present")]
    pub enabled: Option<bool>,
}

/// A change of an endpoint: what is given is replaced.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointUpdate {
    #[serde(default, deserialize_with = "super::present")]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "super::present")]
    pub events: Option<Vec<String>>,
    #[serde(default, deserialize_with = "super::present")]
    pub enabled: Option<bool>,
}

fn checked_url(config: &WebhookConfig, url: &str) -> FlowResult<String> {
    match destination::parse_url(url, config.allow_http, config.allow_private) {
        Ok(url) => Ok(url.to_string()),
        Err(DestinationError::Malformed) => Err(invalid("url", "invalid_url")),
        // Well-formed, but this server will not send there.
        Err(DestinationError::Insecure) => Err(FlowError::Conflict { code: "insecure_destination" }),
        Err(DestinationError::Internal) => Err(FlowError::Conflict { code: "private_destination" }),
    }
}

fn checked_types(types: &[String]) -> FlowResult<Vec<String>> {
    let mut out: Vec<String> = types.iter().map(|t| t.trim().to_string()).collect();
    if out.is_empty() || out.len() > 20 || out.iter().any(|t| !EVENT_TYPES.contains(&t.as_str())) {
        return Err(invalid("events", "invalid_event_types"));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

async fn audit_endpoint(tx: &mut Tx, ctx: &Ctx, org_id: i64, action: &str, e: &Endpoint) -> FlowResult<()> {
    audit::record(
        tx.conn(),
        audit::NewEvent {
            actor: &ctx.actor,
            origin: &ctx.origin,
            action,
            target: Some(&e.url),
            org_id: Some(org_id),
            details: json!({ "endpoint_id": e.id, "event_types": e.event_types, "enabled": e.enabled }),
        },
    )
    .await?;
    Ok(())
}

/// Adds an endpoint (admin); its secret is in the answer, once.
pub async fn create(
    store: &Store,
    config: &WebhookConfig,
    ctx: &Ctx,
    slug: &str,
    input: &EndpointInput,
) -> FlowResult<(Endpoint, SigningSecret)> {
    ctx.require_admin()?;
    let org = super::orgs::get(store, ctx, slug).await?;
    let url = checked_url(config, &input.url)?;
    let event_types = match &input.events {
        Some(types) => checked_types(types)?,
        None => checked_types(&EVENT_TYPES.map(String::from))?,
    };
    let secret = SigningSecret::generate();
    let new = webhooks::NewEndpoint {
        org_id: org.id,
        url: &url,
        event_types: &event_types,
        enabled: input.enabled.unwrap_or(true),
        secret: secret.expose(),
        created_by: &ctx.actor.label,
    };
    let mut tx = store.begin().await?;
    let endpoint = webhooks::insert_endpoint(tx.conn(), &new, now()).await?;
    audit_endpoint(&mut tx, ctx, org.id, "webhook.endpoint_created", &endpoint).await?;
    tx.commit().await?;
    Ok((endpoint, secret))
}

/// An organisation's endpoints (staff).
pub async fn list(store: &Store, ctx: &Ctx, slug: &str) -> FlowResult<Vec<Endpoint>> {
    let org = super::orgs::get(store, ctx, slug).await?;
    Ok(webhooks::endpoints_of(store.pool(), org.id).await?)
}

/// One endpoint of an organisation (staff).
pub async fn get(store: &Store, ctx: &Ctx, slug: &str, id: i64) -> FlowResult<Endpoint> {
    let org = super::orgs::get(store, ctx, slug).await?;
    webhooks::endpoint_of(store.pool(), org.id, id).await?.ok_or(FlowError::NotFound)
}

/// Changes URL, event types or the enabled flag (admin). Enabling again clears the reason
/// Portico disabled it for.
pub async fn update(
    store: &Store,
    config: &WebhookConfig,
    ctx: &Ctx,
    slug: &str,
    id: i64,
    change: &EndpointUpdate,
) -> FlowResult<Endpoint> {
    ctx.require_admin()?;
    let current = get(store, ctx, slug, id).await?;
    let url = match &change.url {
        Some(url) => checked_url(config, url)?,
        None => current.url.clone(),
    };
    let event_types = match &change.events {
        Some(types) => checked_types(types)?,
        None => current.event_types.clone(),
    };
    let enabled = change.enabled.unwrap_or(current.enabled);
    let mut tx = store.begin().await?;
    webhooks::update_endpoint(tx.conn(), id, &url, &event_types, enabled, now()).await?;
    let updated = webhooks::endpoint_of(tx.conn(), current.org_id, id).await?.ok_or(FlowError::NotFound)?;
    audit_endpoint(&mut tx, ctx, current.org_id, "webhook.endpoint_updated", &updated).await?;
    tx.commit().await?;
    Ok(updated)
}

/// A new secret (admin), shown once; the previous one signs too for 24 hours.
pub async fn rotate(store: &Store, ctx: &Ctx, slug: &str, id: i64) -> FlowResult<(Endpoint, SigningSecret)> {
    ctx.require_admin()?;
    let current = get(store, ctx, slug, id).await?;
    let secret = SigningSecret::generate();
    let now = now();
    let mut tx = store.begin().await?;
    webhooks::rotate(tx.conn(), id, secret.expose(), now + ROTATION_OVERLAP_SECS, now).await?;
    let rotated = webhooks::endpoint_of(tx.conn(), current.org_id, id).await?.ok_or(FlowError::NotFound)?;
    audit_endpoint(&mut tx, ctx, current.org_id, "webhook.secret_rotated", &rotated).await?;
    tx.commit().await?;
    Ok((rotated, secret))
}

/// Deletes an endpoint (admin); what it had not yet been sent is dropped.
pub async fn delete(store: &Store, ctx: &Ctx, slug: &str, id: i64) -> FlowResult<()> {
    ctx.require_admin()?;
    let current = get(store, ctx, slug, id).await?;
    let mut tx = store.begin().await?;
    webhooks::delete_endpoint(tx.conn(), id, now()).await?;
    audit_endpoint(&mut tx, ctx, current.org_id, "webhook.endpoint_deleted", &current).await?;
    tx.commit().await?;
    Ok(())
}

/// An endpoint and its latest deliveries (staff).
pub async fn deliveries(
    store: &Store,
    ctx: &Ctx,
    slug: &str,
    id: i64,
) -> FlowResult<(Endpoint, Vec<webhooks::DeliveryRow>)> {
    let endpoint = get(store, ctx, slug, id).await?;
    let rows = webhooks::deliveries_of(store.pool(), endpoint.id, 200).await?;
    Ok((endpoint, rows))
}

/// Sends one finished delivery again (admin): 409 `not_finished` while it is still under way.
pub async fn replay(store: &Store, ctx: &Ctx, slug: &str, id: i64, delivery_id: i64) -> FlowResult<()> {
    ctx.require_admin()?;
    let endpoint = get(store, ctx, slug, id).await?;
    let mut tx = store.begin().await?;
    if !webhooks::replay(tx.conn(), endpoint.id, delivery_id, now_ms()).await? {
        return Err(match webhooks::delivery_exists(tx.conn(), endpoint.id, delivery_id).await? {
            true => FlowError::Conflict { code: "not_finished" },
            false => FlowError::NotFound,
        });
    }
    audit_endpoint(&mut tx, ctx, endpoint.org_id, "webhook.delivery_replayed", &endpoint).await?;
    tx.commit().await?;
    Ok(())
}

/// Sends again every dead delivery of an endpoint since `since` (RFC 3339 or `YYYY-MM-DD`);
/// how many (admin).
pub async fn replay_dead_since(
    store: &Store,
    ctx: &Ctx,
    slug: &str,
    id: i64,
    since: &str,
) -> FlowResult<u64> {
    ctx.require_admin()?;
    let since = crate::domain::parse_instant(since.trim()).ok_or_else(|| invalid("since", "invalid_time"))?;
    let endpoint = get(store, ctx, slug, id).await?;
    let mut tx = store.begin().await?;
    let n = webhooks::replay_dead_since(tx.conn(), endpoint.id, since, now_ms()).await?;
    audit_endpoint(&mut tx, ctx, endpoint.org_id, "webhook.deliveries_replayed", &endpoint).await?;
    tx.commit().await?;
    Ok(n)
}

/// Queues a `webhook.test` event to this endpoint alone (admin), whatever its event types.
pub async fn send_test(store: &Store, ctx: &Ctx, slug: &str, id: i64) -> FlowResult<()> {
    ctx.require_admin()?;
    let endpoint = get(store, ctx, slug, id).await?;
    let message_id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let body = json!({
        "type": "webhook.test",
        "timestamp": crate::domain::rfc3339(now()),
        "data": { "endpoint_id": endpoint.id, "sent_by": ctx.actor.label },
    })
    .to_string();
    let new = webhooks::NewEvent {
        message_id: &message_id,
        org_id: endpoint.org_id,
        membership_id: None,
        seq: 0,
        event_type: "webhook.test",
        body: &body,
    };
    let mut tx = store.begin().await?;
    tx.webhooks_queued += webhooks::insert_event(tx.conn(), &new, Some(endpoint.id), now_ms()).await?;
    audit_endpoint(&mut tx, ctx, endpoint.org_id, "webhook.test_sent", &endpoint).await?;
    tx.commit().await?;
    Ok(())
}

/// The secrets that sign now: the current one, and the previous one while its overlap lasts.
pub fn signing_secrets(endpoint: &Endpoint, at: i64) -> Vec<SigningSecret> {
    let previous = match (&endpoint.previous_secret, endpoint.previous_until) {
        (Some(secret), Some(until)) if until > at => Some(secret.as_str()),
        _ => None,
    };
    std::iter::once(endpoint.secret.as_str())
        .chain(previous)
        .filter_map(|s| SigningSecret::parse(s).ok())
        .collect()
}
