//! Delivery: the workers that send what transactions queued, email ([`email`]) and webhooks
//! ([`webhooks`]), and what they share: claims are leases held by a
//! random token; every database step has a deadline; an attempt's outcome is written until it
//! is written or the claim is found lost, so a database that restarts delays an outcome but
//! never drops it (a dropped outcome would mean a second send when the lease runs out).

pub mod email;
pub mod logouts;
pub mod webhooks;

use std::future::Future;
use std::time::Duration;

use rand::Rng;

use crate::domain::SecretToken;
use crate::store::StoreError;

/// Deadline of each database step of a worker (claiming, recording), so a database that stops
/// answering cannot stall the worker either.
pub const STORE_DEADLINE: Duration = Duration::from_secs(15);

/// A fresh claim token (stored hashed-looking; only the claimer knows which claim is its own).
pub fn claim_token() -> String {
    SecretToken::generate("").hash()
}

/// A random point in the upper half of `full_ms`, so deliveries that failed together do not
/// retry together.
pub fn jittered(full_ms: i64) -> i64 {
    rand::rng().random_range(full_ms / 2..=full_ms.max(1))
}

/// Runs `write` (which returns whether the claim was still held) until it succeeds, backing
/// off from 100 ms to 5 s between tries. `what` and `id` name the delivery in the log.
pub async fn record_until_written<F, Fut>(what: &str, id: i64, write: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<bool, StoreError>>,
{
    let mut pause = Duration::from_millis(100);
    loop {
        match tokio::time::timeout(STORE_DEADLINE, write()).await {
            Ok(Ok(true)) => return,
            Ok(Ok(false)) => {
                tracing::warn!(what, id, "the lease ran out before the outcome was recorded");
                return;
            }
            Ok(Err(e)) => tracing::warn!(what, id, error = %e, "recording an outcome failed; retrying"),
            Err(_) => tracing::warn!(what, id, "recording an outcome timed out; retrying"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}
