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

/// One counter to charge: its bucket and window length.
#[derive(Clone, Copy, Debug)]
pub struct Charge<'a> {
    pub bucket: &'a str,
    pub window_secs: i64,
}

/// What a counter holds after a charge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hits {
    pub bucket: String,
    pub window_start: i64,
    pub hits: i64,
}

/// Counts one hit against each of `charges` (each in its own window) in one statement.
pub async fn hit_each(conn: &mut AnyConnection, charges: &[Charge<'_>], now: i64) -> Result<Vec<Hits>> {
    if charges.is_empty() {
        return Ok(Vec::new());
    }
    let values: Vec<String> =
        (0..charges.len()).map(|i| format!("(${}, ${}, 1)", 2 * i + 1, 2 * i + 2)).collect();
    let sql = format!(
        "INSERT INTO rate_limits (bucket, window_start, hits) VALUES {}
         ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limits.hits + 1
         RETURNING bucket, window_start, hits",
        values.join(", ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for c in charges {
        query = query.bind(c.bucket).bind(now - now.rem_euclid(c.window_secs));
    }
    let rows = query.fetch_all(conn).await?;
    rows.iter()
        .map(|r| Ok(Hits { bucket: r.try_get(0)?, window_start: r.try_get(1)?, hits: r.try_get(2)? }))
        .collect()
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
