//! The outbox worker. Each round claims a batch of due messages (skipping rows another process
//! holds on PostgreSQL), tries each once, and records the outcome: sent, failed with a retry
//! time (exponential backoff with jitter), or dead. A claim is a lease: messages a crashed
//! process left in `sending` are claimed again when the lease runs out.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use rand::Rng;
use tokio::sync::Notify;

use super::transport::{SendError, Transport};
use crate::config::{Config, OutboxConfig};
use crate::domain::SecretToken;
use crate::metrics;
use crate::store::outbox::{self, Claimed, Outcome};
use crate::store::{Store, StoreError, now_ms};

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

    /// Runs until the task is dropped.
    pub async fn run(self) {
        let poll = Duration::from_millis(self.config.poll_ms);
        loop {
            match self.run_once().await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "outbox round failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = self.wakeup.notified() => {}
            }
        }
    }

    /// One round: claim a batch, attempt each message concurrently, record the outcomes.
    /// Returns how many messages were claimed.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        // Signup requests become emails here, off the request path, so the email step answers
        // known and unknown addresses with the same work.
        match crate::flows::signup::dispatch(&self.store, &self.app_config, self.config.batch).await {
            Ok(n) if n > 0 => tracing::debug!(n, "signup requests dispatched"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "signup dispatch failed"),
        }
        match crate::flows::password_reset::dispatch(&self.store, &self.app_config, self.config.batch).await {
            Ok(n) if n > 0 => tracing::debug!(n, "password reset requests dispatched"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "password reset dispatch failed"),
        }
        let now = now_ms();
        if !outbox::any_due(self.store.pool(), now).await? {
            return Ok(0);
        }
        let token = SecretToken::generate("").hash();
        let mut tx = self.store.begin().await?;
        let claimed = outbox::claim(
            tx.conn(),
            self.store.backend(),
            now,
            now + self.config.lease_secs * 1000,
            &token,
            self.config.batch,
        )
        .await?;
        tx.commit().await?;
        let count = claimed.len();
        tracing::debug!(count, "outbox claimed");
        if count == 0 {
            return Ok(0);
        }
        let outcomes = futures_util::future::join_all(claimed.iter().map(|m| self.attempt(m))).await;
        // One transaction records the whole batch. If it fails, the leases run out and the
        // messages are tried again: at-least-once, never lost.
        let mut tx = self.store.begin().await?;
        let now = now_ms();
        let mut lost = 0;
        for (message, outcome) in claimed.iter().zip(&outcomes) {
            if !outbox::record_outcome(tx.conn(), message, outcome, now).await? {
                lost += 1;
            }
        }
        tx.commit().await?;
        if lost > 0 {
            tracing::warn!(lost, "leases ran out before the outcomes were recorded");
        }
        Ok(count)
    }

    /// One delivery attempt, counted and logged.
    async fn attempt(&self, claimed: &Claimed) -> Outcome {
        let result = self.transport.send(&self.store, &self.from, claimed).await;
        let outcome = decide(result, claimed.attempts, &self.config);
        match &outcome {
            Outcome::Sent => {
                metrics::MAIL_SENT.add(1);
                tracing::info!(id = claimed.id, message_id = %claimed.message_id, "email sent");
            }
            Outcome::Retry { error, .. } => {
                metrics::MAIL_FAILED.add(1);
                tracing::warn!(
                    id = claimed.id,
                    attempts = claimed.attempts,
                    error,
                    "email failed; will retry"
                );
            }
            Outcome::Dead { error } => {
                metrics::MAIL_DEAD.add(1);
                tracing::error!(id = claimed.id, attempts = claimed.attempts, error, "email dead");
            }
        }
        outcome
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
    let full = (base_secs * 1000).saturating_mul(1 << exponent).min(3_600_000);
    rand::rng().random_range(full / 2..=full.max(1))
}

/// Starts the worker as a background task.
pub fn spawn(store: Store, config: &Config) -> Result<tokio::task::JoinHandle<()>, String> {
    let worker = Worker::new(store, config)?;
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
            smtp_timeout_secs: 5,
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
