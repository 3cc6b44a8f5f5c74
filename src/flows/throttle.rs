use super::{FlowError, FlowResult, settings};
use crate::domain::{Email, SIGNUP_EMAILS_PER_RECIPIENT, SIGNUP_REQUESTS_PER_IP};
use crate::store::audit::Origin;
use crate::store::{Store, Tx, now, rate_limits};

/// Counts one attempt against `bucket` and refuses it when more than `limit` attempts were made
/// in the current window of `window_secs`.
pub async fn charge(store: &Store, bucket: &str, limit: i64, window_secs: i64) -> FlowResult<()> {
    let now = now();
    let mut tx = store.begin().await?;
    let (hits, window_start) = rate_limits::hit(tx.conn(), bucket, window_secs, now).await?;
    tx.commit().await?;
    if hits > limit {
        return Err(FlowError::RateLimited { retry_after: (window_start + window_secs - now).max(1) });
    }
    Ok(())
}

/// As [`charge`], for several buckets with one limit and window, in one statement: refused
/// when any of them is over the limit.
pub async fn charge_all(store: &Store, buckets: &[&str], limit: i64, window_secs: i64) -> FlowResult<()> {
    let now = now();
    let mut tx = store.begin().await?;
    let hits = rate_limits::hit_all(tx.conn(), buckets, window_secs, now).await?;
    tx.commit().await?;
    if hits.iter().any(|(_, n)| *n > limit) {
        let window_start = now - now.rem_euclid(window_secs);
        return Err(FlowError::RateLimited { retry_after: (window_start + window_secs - now).max(1) });
    }
    Ok(())
}

/// An "email me" request (signup, password reset): counts it against the client IP, then opens
/// a transaction and counts it against the recipient's hourly allowance inside it, so a request
/// that is rolled back costs nothing. `kind` keeps the counters of different requests apart.
/// Returns the transaction, the window charged (bucket, start) and the time used.
pub async fn charge_email_request(
    store: &Store,
    origin: &Origin,
    kind: &str,
    email: &Email,
) -> FlowResult<(Tx, (String, i64), i64)> {
    let ip_limit = settings::get(store, &SIGNUP_REQUESTS_PER_IP).await?;
    let ip = origin.client_ip.as_deref().unwrap_or("unknown");
    charge(store, &format!("{kind}:ip:{ip}"), ip_limit, 15 * 60).await?;
    // Read before the transaction: it never waits for a second pooled connection.
    let limit = settings::get(store, &SIGNUP_EMAILS_PER_RECIPIENT).await?;
    let now = now();
    let mut tx = store.begin().await?;
    let bucket = format!("{kind}:recipient:{email}");
    let (hits, window) = rate_limits::hit(tx.conn(), &bucket, 3600, now).await?;
    if hits > limit {
        return Err(FlowError::RateLimited { retry_after: (window + 3600 - now).max(1) });
    }
    Ok((tx, (bucket, window), now))
}
