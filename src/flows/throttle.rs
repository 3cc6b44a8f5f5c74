use super::{FlowError, FlowResult};
use crate::store::{Store, now, rate_limits};

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
