//! Fixed-window counters shared by every server process through the database. One atomic
//! upsert both counts and reads, so concurrent requests can never both slip under a limit.

use sqlx::{AnyConnection, Row};

use super::Result;

/// Counts one hit in the window that contains `now`; returns the hits so far in that window
/// (this one included) and the window's start.
pub async fn hit(conn: &mut AnyConnection, bucket: &str, window_secs: i64, now: i64) -> Result<(i64, i64)> {
    let window_start = now - now.rem_euclid(window_secs);
    let row = sqlx::query(
        "INSERT INTO rate_limits (bucket, window_start, hits) VALUES ($1, $2, 1)
         ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limits.hits + 1
         RETURNING hits",
    )
    .bind(bucket)
    .bind(window_start)
    .fetch_one(conn)
    .await?;
    Ok((row.try_get(0)?, window_start))
}

/// Counts one attempt against each of `buckets` (same window) in one statement; the hits of
/// each, in no particular order.
pub async fn hit_all(
    conn: &mut AnyConnection,
    buckets: &[&str],
    window_secs: i64,
    now: i64,
) -> Result<Vec<(String, i64)>> {
    if buckets.is_empty() {
        return Ok(Vec::new());
    }
    let window_start = now - now.rem_euclid(window_secs);
    let values: Vec<String> = (0..buckets.len()).map(|i| format!("(${}, $1, 1)", i + 2)).collect();
    let sql = format!(
        "INSERT INTO rate_limits (bucket, window_start, hits) VALUES {}
         ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limits.hits + 1
         RETURNING bucket, hits",
        values.join(", ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(window_start);
    for bucket in buckets {
        query = query.bind(*bucket);
    }
    let rows = query.fetch_all(conn).await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

/// Gives back one hit (for an attempt that must not use up the allowance).
pub async fn refund(conn: &mut AnyConnection, bucket: &str, window_start: i64) -> Result<()> {
    sqlx::query(
        "UPDATE rate_limits SET hits = hits - 1 WHERE bucket = $1 AND window_start = $2 AND hits > 0",
    )
    .bind(bucket)
    .bind(window_start)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn purge_before(conn: &mut AnyConnection, cutoff: i64) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM rate_limits WHERE window_start < $1")
        .bind(cutoff)
        .execute(conn)
        .await?
        .rows_affected())
}
