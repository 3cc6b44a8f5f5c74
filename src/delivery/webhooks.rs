//! The webhook delivery worker (SPEC §3.7), on the outbox's pattern (`crate::delivery`): it
//! keeps up to `IN_FLIGHT` deliveries going, each claimed with a lease, attempted once under
//! the configured deadline (15 s), and its outcome recorded as soon as it returns. Success is a
//! 2xx; anything else — a redirect, another status, a timeout, a refused connection — is a
//! failure retried on the schedule (jittered; a `Retry-After` is honoured), and after the last
//! retry the delivery is dead. `410 Gone` disables the endpoint and says so to staff.
//!
//! Crash window: a delivery whose attempt completed but whose outcome was not yet written is
//! sent again when its lease runs out, with the same `webhook-id` (receivers deduplicate on it).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tokio::task::JoinSet;

use crate::config::{Config, WebhookConfig};
use crate::delivery::{self, STORE_DEADLINE};
use crate::domain::destination;
use crate::domain::webhook_signature;
use crate::flows::webhooks::signing_secrets;
use crate::store::webhooks::{self, Claimed, Outcome};
use crate::store::{Store, StoreError, audit, now, now_ms};

/// Deliveries in flight at once, per process.
const IN_FLIGHT: usize = 32;
/// How much of a response body is kept for staff.
const EXCERPT_BYTES: usize = 500;
/// The longest `Retry-After` honoured (a receiver cannot park a delivery for longer).
const MAX_RETRY_AFTER_SECS: i64 = 24 * 3600;
/// The longest a free slot waits for the next claim while deliveries are in flight.
const BATCH_WAIT: Duration = Duration::from_millis(20);

/// Resolves destination names and refuses addresses on internal networks, so a public name
/// that points inside (or starts to) is not reached.
pub(super) struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> =
                addrs.into_iter().filter(|a| !destination::is_internal(a.ip())).collect();
            if public.is_empty() {
                return Err("the destination resolves only to internal addresses".into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

pub struct Worker {
    store: Store,
    config: WebhookConfig,
    client: reqwest::Client,
    wakeup: Arc<tokio::sync::Notify>,
}

impl Worker {
    pub fn new(store: Store, config: &Config) -> Result<Worker, String> {
        let webhooks = config.webhooks.clone();
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(webhooks.timeout_secs))
            .connect_timeout(Duration::from_secs(webhooks.timeout_secs.min(10)))
            // A redirect is a failure (SPEC §3.7), never followed.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Portico-Webhooks/", env!("CARGO_PKG_VERSION")));
        if !webhooks.allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        let client = builder.build().map_err(|e| e.to_string())?;
        Ok(Worker { wakeup: store.webhook_wakeup(), store, config: webhooks, client })
    }

    fn lease_ms(&self) -> i64 {
        // The attempt's deadline, and time to record its outcome while the claim is ours.
        (self.config.timeout_secs as i64 + 30) * 1000
    }

    /// Runs until the task is dropped.
    pub async fn run(self: Arc<Self>) {
        let mut in_flight = JoinSet::new();
        let mut last_claim: Option<Instant> = None;
        loop {
            while let Some(done) = in_flight.try_join_next() {
                log_task(done);
            }
            let free = IN_FLIGHT - in_flight.len();
            // Claims go in batches: each is a transaction (on PostgreSQL also a sort of the due
            // rows), so one per finished delivery would be the limit. Claim when a quarter of
            // the slots are free, when nothing is in flight, or every `BATCH_WAIT`.
            let due = last_claim.is_none_or(|at| at.elapsed() >= BATCH_WAIT);
            if free > 0 && (free >= IN_FLIGHT / 4 || in_flight.is_empty() || due) {
                last_claim = Some(Instant::now());
                for c in self.claim_logged(free).await {
                    let worker = self.clone();
                    in_flight.spawn(async move { worker.deliver(c).await });
                }
            }
            let wait =
                if in_flight.is_empty() { Duration::from_millis(self.config.poll_ms) } else { BATCH_WAIT };
            tokio::select! {
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => log_task(done),
                _ = tokio::time::sleep(wait) => {}
                // A commit of this process queued deliveries: claim them now.
                _ = self.wakeup.notified() => last_claim = None,
            }
        }
    }

    async fn claim_logged(&self, free: usize) -> Vec<Claimed> {
        match tokio::time::timeout(STORE_DEADLINE, self.claim(free)).await {
            Ok(Ok(claimed)) => claimed,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "claiming webhook deliveries failed");
                Vec::new()
            }
            Err(_) => {
                tracing::warn!("claiming webhook deliveries timed out");
                Vec::new()
            }
        }
    }

    async fn claim(&self, free: usize) -> Result<Vec<Claimed>, StoreError> {
        if free == 0 {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let token = delivery::claim_token();
        let mut tx = self.store.begin().await?;
        let backend = self.store.backend();
        let claimed =
            webhooks::claim(tx.conn(), backend, now, now + self.lease_ms(), &token, free as i64).await?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// One attempt, and its outcome recorded.
    async fn deliver(&self, c: Claimed) {
        let outcome = self.attempt(&c).await;
        match &outcome {
            Outcome::Delivered { status, .. } => tracing::info!(id = c.id, status, "webhook delivered"),
            Outcome::Retry { error, .. } => {
                tracing::warn!(id = c.id, attempts = c.attempts, error, "webhook failed; will retry")
            }
            Outcome::Dead { error, .. } => {
                tracing::warn!(id = c.id, attempts = c.attempts, error, "webhook dead")
            }
        }
        let gone = matches!(outcome, Outcome::Dead { status: Some(410), .. });
        delivery::record_until_written("webhook", c.id, || async {
            let mut tx = self.store.begin().await?;
            let held = webhooks::record(tx.conn(), &c, &outcome, now_ms()).await?;
            if held && gone {
                disable_gone(&mut tx, &c).await?;
            }
            tx.commit().await?;
            Ok(held)
        })
        .await;
    }

    async fn attempt(&self, c: &Claimed) -> Outcome {
        let endpoint = &c.endpoint;
        // The URL is checked again: the configuration may have changed since it was saved.
        if let Err(e) =
            destination::parse_url(&endpoint.url, self.config.allow_http, self.config.allow_private)
        {
            return Outcome::Dead { status: None, excerpt: None, error: format!("refused destination: {e}") };
        }
        let timestamp = now();
        let secrets = signing_secrets(endpoint, timestamp);
        let secrets: Vec<&_> = secrets.iter().collect();
        let signature = webhook_signature::header(&secrets, &c.message_id, timestamp, c.body.as_bytes());
        let sent = self
            .client
            .post(&endpoint.url)
            .header("content-type", "application/json")
            .header("webhook-id", &c.message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(c.body.clone())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => return self.failed(c, None, None, None, describe(&e)),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
            .map(|secs| secs.clamp(0, MAX_RETRY_AFTER_SECS));
        let excerpt = excerpt(response).await;
        let code = i64::from(status.as_u16());
        if status.is_success() {
            return Outcome::Delivered { status: code, excerpt };
        }
        if status == reqwest::StatusCode::GONE {
            return Outcome::Dead {
                status: Some(code),
                excerpt: Some(excerpt),
                error: "410 Gone: the endpoint was disabled".into(),
            };
        }
        self.failed(c, Some(code), Some(excerpt), retry_after, format!("answered {status}"))
    }

    /// A failed attempt: retried after the next wait of the schedule (or the receiver's
    /// `Retry-After`), or dead after the last.
    fn failed(
        &self,
        c: &Claimed,
        status: Option<i64>,
        excerpt: Option<String>,
        retry_after: Option<i64>,
        error: String,
    ) -> Outcome {
        let schedule = &self.config.retry_schedule_ms;
        let retries_used = (c.attempts - 1).max(0) as usize;
        match schedule.get(retries_used) {
            None => Outcome::Dead {
                status,
                excerpt,
                error: format!("gave up after {} attempts: {error}", c.attempts),
            },
            Some(wait) => {
                let wait = match retry_after {
                    Some(secs) => secs * 1000,
                    None => delivery::jittered(*wait as i64),
                };
                Outcome::Retry { next_attempt_ms: now_ms() + wait, status, excerpt, error }
            }
        }
    }
}

fn log_task(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done {
        tracing::error!(error = %e, "a webhook delivery task failed");
    }
}

/// The first bytes of a response body (read under the attempt's deadline).
async fn excerpt(mut response: reqwest::Response) -> String {
    let mut kept = Vec::new();
    while kept.len() < EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk[..chunk.len().min(EXCERPT_BYTES - kept.len())]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out: no answer within the deadline".into()
    } else if e.is_connect() {
        format!("could not connect: {e}")
    } else {
        e.to_string()
    }
}

/// The endpoint said it is gone: disabled, with the reason, and audited so staff see it.
async fn disable_gone(tx: &mut crate::store::Tx, c: &Claimed) -> Result<(), StoreError> {
    let reason = format!("answered 410 Gone at {}", crate::domain::rfc3339(now()));
    if webhooks::disable_gone(tx.conn(), c.endpoint.id, &reason, now()).await? {
        audit::record(
            tx.conn(),
            audit::NewEvent {
                actor: &audit::Actor::system("webhooks"),
                origin: &audit::Origin::default(),
                action: "webhook.endpoint_disabled",
                target: Some(&c.endpoint.url),
                org_id: Some(c.endpoint.org_id),
                details: serde_json::json!({ "endpoint_id": c.endpoint.id, "reason": reason }),
            },
        )
        .await?;
    }
    Ok(())
}

/// Starts the worker as a background task.
pub fn spawn(store: Store, config: &Config) -> Result<tokio::task::JoinHandle<()>, String> {
    let worker = Arc::new(Worker::new(store, config)?);
    Ok(tokio::spawn(worker.run()))
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[tokio::test]
    async fn a_name_that_resolves_only_to_internal_addresses_is_refused_at_connect_time() {
        // `localhost` resolves (from /etc/hosts) to loopback only.
        let refused = PublicOnly.resolve(Name::from_str("localhost").unwrap()).await;
        assert!(refused.is_err(), "loopback must not be reached");
    }
}
