//! The outbox worker. It keeps up to `batch` deliveries in flight, each an independent task:
//! claim (a lease), one attempt under a deadline shorter than the lease, and the outcome recorded
//! as soon as that attempt returns. So a slow or silent SMTP server holds up only the messages
//! it is delivering, never the worker; a crash re-sends at most the messages whose attempts were
//! in flight (and had not been recorded); and a claim that ran out is never acted on.
//!
//! Part of the capacity is kept for interactive mail (verification, password reset), which is
//! also claimed first, so it never waits behind a flood of invitations.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::config::{Config, OutboxConfig};
use crate::delivery::{self, STORE_DEADLINE};
use crate::mail::transport::{SendError, Transport};
use crate::metrics;
use crate::store::outbox::{self, Claimed, Outcome, Priority};
use crate::store::{Store, StoreError, now_ms};

/// An attempt is started only if at least this much of its lease remains after its deadline,
/// leaving time to record the outcome while the claim is still ours.
const START_MARGIN_MS: i64 = 1000;

pub struct Worker {
    store: Store,
    transport: Transport,
    from: Mailbox,
    config: OutboxConfig,
    app_config: Arc<Config>,
    wakeup: Arc<Notify>,
}

impl Worker {
    pub fn new(store: Store, config: &Config) -> Result<Worker, String> {
        Ok(Worker {
            wakeup: store.outbox_wakeup(),
            store,
            transport: Transport::from_config(config)?,
            from: config.mail_from.clone(),
            config: config.outbox.clone(),
            app_config: Arc::new(config.clone()),
        })
    }

    /// How many of the `batch` slots only interactive mail may use.
    fn reserved_for_interactive(&self) -> usize {
        let batch = self.config.batch.max(1) as usize;
        ((batch + 2) / 4).min(batch - 1)
    }

    /// Runs until the task is dropped (which also drops the attempts in flight: their claims
    /// run out and the messages are tried again).
    pub async fn run(self: Arc<Self>) {
        let poll = Duration::from_millis(self.config.poll_ms);
        let capacity = self.config.batch.max(1) as usize;
        // Claim again once this many slots are free, rather than after every single delivery.
        let refill_at = (capacity / 4).max(1);
        let mut in_flight: JoinSet<Priority> = JoinSet::new();
        let mut bulk_in_flight = 0usize;
        let mut look_for_work = true;
        loop {
            if look_for_work {
                self.dispatch_requests().await;
            }
            let free = capacity - in_flight.len();
            if free >= refill_at || in_flight.is_empty() {
                let bulk_free = (capacity - self.reserved_for_interactive()).saturating_sub(bulk_in_flight);
                match tokio::time::timeout(STORE_DEADLINE, self.claim(free, bulk_free.min(free))).await {
                    Ok(Ok(claimed)) => {
                        for message in claimed {
                            if message.priority == Priority::Bulk {
                                bulk_in_flight += 1;
                            }
                            let worker = self.clone();
                            in_flight.spawn(async move {
                                let priority = message.priority;
                                worker.deliver(message).await;
                                priority
                            });
                        }
                    }
                    Ok(Err(e)) => tracing::warn!(error = %e, "outbox claim failed"),
                    Err(_) => tracing::warn!("outbox claim timed out"),
                }
            }
            look_for_work = tokio::select! {
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                    match done {
                        Ok(Priority::Bulk) => bulk_in_flight = bulk_in_flight.saturating_sub(1),
                        Ok(Priority::Interactive) => {}
                        Err(e) => {
                            // A panicking attempt: its lane is unknown, so recount conservatively.
                            tracing::error!(error = %e, "an email delivery task failed");
                            bulk_in_flight = bulk_in_flight.min(in_flight.len());
                        }
                    }
                    false
                }
                _ = tokio::time::sleep(poll) => true,
                _ = self.wakeup.notified() => true,
            };
        }
    }

    /// Signup and password-reset requests become emails here, off the request path, so those
    /// pages answer known and unknown addresses with the same work.
    async fn dispatch_requests(&self) {
        let batch = self.config.batch;
        let signups = crate::flows::signup::dispatch(&self.store, &self.app_config, batch);
        log_dispatch("signup", tokio::time::timeout(STORE_DEADLINE, signups).await);
        let resets = crate::flows::password_reset::dispatch(&self.store, &self.app_config, batch);
        log_dispatch("password reset", tokio::time::timeout(STORE_DEADLINE, resets).await);
    }

    /// Claims up to `free` due messages, interactive ones first; bulk ones only up to
    /// `bulk_free`.
    async fn claim(&self, free: usize, bulk_free: usize) -> Result<Vec<Claimed>, StoreError> {
        let now = now_ms();
        if free == 0 || !outbox::any_due(self.store.pool(), now).await? {
            return Ok(Vec::new());
        }
        let token = delivery::claim_token();
        let lease_until = now + self.config.lease_secs * 1000;
        let mut tx = self.store.begin().await?;
        let backend = self.store.backend();
        let mut claimed =
            outbox::claim(tx.conn(), backend, Priority::Interactive, now, lease_until, &token, free as i64)
                .await?;
        let bulk_limit = bulk_free.min(free - claimed.len()) as i64;
        claimed.extend(
            outbox::claim(tx.conn(), backend, Priority::Bulk, now, lease_until, &token, bulk_limit).await?,
        );
        tx.commit().await?;
        if !claimed.is_empty() {
            tracing::debug!(count = claimed.len(), "outbox claimed");
        }
        Ok(claimed)
    }

    /// One message: attempt it under the deadline and record what happened.
    async fn deliver(&self, claimed: Claimed) {
        let deadline = Duration::from_secs(self.config.send_timeout_secs as u64);
        if claimed.lease_until_ms - now_ms() < deadline.as_millis() as i64 + START_MARGIN_MS {
            // Too little of the lease is left to finish an attempt before another process may
            // claim the message: hand it back instead of risking a second copy.
            tracing::warn!(id = claimed.id, "lease too short to start a delivery; releasing it");
            let release = async {
                let mut tx = self.store.begin().await?;
                outbox::release(tx.conn(), &claimed, now_ms()).await?;
                tx.commit().await
            };
            match tokio::time::timeout(STORE_DEADLINE, release).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(id = claimed.id, error = %e, "could not release a message"),
                Err(_) => tracing::warn!(id = claimed.id, "releasing a message timed out"),
            }
            return;
        }
        let result = match tokio::time::timeout(
            deadline,
            self.transport.send(&self.store, &self.from, &claimed),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => {
                metrics::MAIL_TIMED_OUT.add(1);
                Err(SendError::Transient(format!(
                    "timed out after {} s: the mail server did not complete the delivery",
                    deadline.as_secs()
                )))
            }
        };
        let outcome = decide(result, claimed.attempts, &self.config);
        log_outcome(&claimed, &outcome);
        self.record(&claimed, &outcome).await;
    }

    /// Records an outcome, retrying until it is written or the claim is found lost.
    async fn record(&self, claimed: &Claimed, outcome: &Outcome) {
        delivery::record_until_written("email", claimed.id, || async {
            let mut tx = self.store.begin().await?;
            let held = outbox::record_outcome(tx.conn(), claimed, outcome, now_ms()).await?;
            tx.commit().await?;
            Ok(held)
        })
        .await;
    }
}

fn log_dispatch(what: &str, result: Result<crate::flows::FlowResult<usize>, tokio::time::error::Elapsed>) {
    match result {
        Ok(Ok(0)) => {}
        Ok(Ok(n)) => tracing::debug!(n, what, "requests dispatched"),
        Ok(Err(e)) => tracing::warn!(error = %e, what, "request dispatch failed"),
        Err(_) => tracing::warn!(what, "request dispatch timed out"),
    }
}

fn log_outcome(claimed: &Claimed, outcome: &Outcome) {
    match outcome {
        Outcome::Sent => {
            metrics::MAIL_SENT.add(1);
            tracing::info!(id = claimed.id, message_id = %claimed.message_id, "email sent");
        }
        Outcome::Retry { error, .. } => {
            metrics::MAIL_FAILED.add(1);
            tracing::warn!(id = claimed.id, attempts = claimed.attempts, error, "email failed; will retry");
        }
        Outcome::Dead { error } => {
            metrics::MAIL_DEAD.add(1);
            tracing::error!(id = claimed.id, attempts = claimed.attempts, error, "email dead");
        }
    }
}

/// What to do after an attempt.
pub fn decide(result: Result<(), SendError>, attempts: i64, config: &OutboxConfig) -> Outcome {
    match result {
        Ok(()) => Outcome::Sent,
        Err(SendError::Permanent(error)) => Outcome::Dead { error },
        Err(SendError::Transient(error)) if attempts >= config.max_attempts => {
            Outcome::Dead { error: format!("gave up after {attempts} attempts: {error}") }
        }
        Err(SendError::Transient(error)) => {
            Outcome::Retry { next_attempt_ms: now_ms() + backoff_ms(attempts, config.retry_base_secs), error }
        }
    }
}

/// `base * 2^(attempts-1)`, capped at an hour, then a random point in its upper half, so
/// messages that failed together do not retry together.
pub fn backoff_ms(attempts: i64, base_secs: i64) -> i64 {
    let exponent = (attempts.max(1) - 1).min(20) as u32;
    delivery::jittered((base_secs * 1000).saturating_mul(1 << exponent).min(3_600_000))
}

/// Starts the worker as a background task.
pub fn spawn(store: Store, config: &Config) -> Result<tokio::task::JoinHandle<()>, String> {
    let worker = Arc::new(Worker::new(store, config)?);
    Ok(tokio::spawn(worker.run()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> OutboxConfig {
        OutboxConfig {
            poll_ms: 1000,
            lease_secs: 60,
            retry_base_secs: 30,
            max_attempts: 5,
            batch: 10,
            send_timeout_secs: 5,
        }
    }

    #[test]
    fn backoff_grows_with_jitter_and_a_cap() {
        for attempts in 1..=4 {
            let full = 30_000 * (1 << (attempts - 1));
            for _ in 0..50 {
                let b = backoff_ms(attempts, 30);
                assert!((full / 2..=full).contains(&b), "{attempts}: {b}");
            }
        }
        assert!(backoff_ms(40, 30) <= 3_600_000);
        let samples: std::collections::HashSet<i64> = (0..20).map(|_| backoff_ms(3, 30)).collect();
        assert!(samples.len() > 1, "jitter");
    }

    #[test]
    fn decisions() {
        let c = config();
        assert_eq!(decide(Ok(()), 1, &c), Outcome::Sent);
        assert!(matches!(decide(Err(SendError::Permanent("550".into())), 1, &c), Outcome::Dead { .. }));
        assert!(matches!(decide(Err(SendError::Transient("421".into())), 1, &c), Outcome::Retry { .. }));
        assert!(matches!(decide(Err(SendError::Transient("421".into())), 5, &c), Outcome::Dead { .. }));
    }
}
