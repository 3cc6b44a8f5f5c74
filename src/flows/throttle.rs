use super::{FlowError, FlowResult, settings};
use crate::domain::{Email, SIGNUP_EMAILS_PER_RECIPIENT, SIGNUP_REQUESTS_PER_IP};
use crate::store::audit::Origin;
use crate::store::rate_limits::{self, Charge};
use crate::store::{Store, Tx, now};

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

/// A counter and the most it may hold in its window.
pub struct Limit<'a> {
    pub bucket: &'a str,
    pub window_secs: i64,
    pub limit: i64,
}

/// As [`charge`], for several counters in one statement inside the caller's transaction (so a
/// rolled-back change costs nothing): refused when any of them is over its limit. Returns
/// each counter's window, in the order given.
pub async fn charge_each(tx: &mut Tx, limits: &[Limit<'_>], now: i64) -> FlowResult<Vec<i64>> {
    let charges: Vec<Charge> =
        limits.iter().map(|l| Charge { bucket: l.bucket, window_secs: l.window_secs }).collect();
    let hits = rate_limits::hit_each(tx.conn(), &charges, now).await?;
    let mut windows = Vec::with_capacity(limits.len());
    let mut retry_after = 0;
    for l in limits {
        let h = hits
            .iter()
            .find(|h| h.bucket == l.bucket)
            .ok_or_else(|| FlowError::Internal(format!("rate limit counter {} not returned", l.bucket)))?;
        if h.hits > l.limit {
            retry_after = retry_after.max((h.window_start + l.window_secs - now).max(1));
        }
        windows.push(h.window_start);
    }
    if retry_after > 0 {
        return Err(FlowError::RateLimited { retry_after });
    }
    Ok(windows)
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
