//! The figures of an organisation's overview, each one statement over an index
//! (`memberships (org_id, status, subscription_status)`, `(org_id, member_since)`, `status_changes (org_id, at)`,
//! the troubled webhook deliveries), so they cost the same with 100 members or 100 000.

use sqlx::{Executor, Row};

use super::Result;

/// Members per status (statuses nobody has are absent).
pub async fn by_status<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    org_id: i64,
) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query("SELECT status, COUNT(*) FROM memberships WHERE org_id = $1 GROUP BY status")
        .bind(org_id)
        .fetch_all(e)
        .await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

/// Pending memberships and what holds them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pending {
    pub total: i64,
    /// Not paid, where the organisation charges.
    pub payment: i64,
    /// Past payment (or nothing to pay), without the signed waiver / recorded ID check.
    pub waiver: i64,
    pub id_check: i64,
    /// Past payment (or nothing to pay): staff activate them when activation is manual.
    pub ready: i64,
}

pub async fn pending<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    org_id: i64,
    charges: bool,
) -> Result<Pending> {
    // "Past payment": paid, or in an organisation that charges nothing.
    const PAST_PAYMENT: &str = "(m.paid_at IS NOT NULL OR $2 = 0)";
    let missing = |kind: &str| {
        format!(
            "SUM(CASE WHEN {PAST_PAYMENT} AND NOT EXISTS (SELECT 1 FROM member_agreements a
                 WHERE a.membership_id = m.id AND a.kind = '{kind}') THEN 1 ELSE 0 END)"
        )
    };
    let sql = format!(
        "SELECT COUNT(*), SUM(CASE WHEN NOT {PAST_PAYMENT} THEN 1 ELSE 0 END), {}, {},
                SUM(CASE WHEN {PAST_PAYMENT} THEN 1 ELSE 0 END)
         FROM memberships m WHERE m.org_id = $1 AND m.status = 'pending'",
        missing("waiver"),
        missing("id_check")
    );
    let row =
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org_id).bind(i64::from(charges)).fetch_one(e).await?;
    let n = |i: usize| -> Result<i64> { Ok(row.try_get::<Option<i64>, _>(i)?.unwrap_or(0)) };
    Ok(Pending { total: n(0)?, payment: n(1)?, waiver: n(2)?, id_check: n(3)?, ready: n(4)? })
}

/// How many rows of `table` (of the organisation, and `condition`) have `column` in each of
/// the intervals between consecutive `bounds` (Unix seconds, ascending): one count over an
/// index range per interval, all in one statement.
async fn per_interval<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    table: &str,
    column: &str,
    condition: &str,
    org_id: i64,
    bounds: &[i64],
) -> Result<Vec<i64>> {
    let counts: Vec<String> = (0..bounds.len().saturating_sub(1))
        .map(|i| {
            format!(
                "(SELECT COUNT(*) FROM {table} WHERE org_id = $1 {condition} AND {column} >= ${} AND {column} < ${})",
                i + 2,
                i + 3
            )
        })
        .collect();
    let mut query = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {}", counts.join(", ")))).bind(org_id);
    for bound in bounds {
        query = query.bind(*bound);
    }
    let row = query.fetch_one(e).await?;
    (0..counts.len()).map(|i| Ok(row.try_get::<i64, _>(i)?)).collect()
}

/// Memberships that became active for the first time, per interval.
pub async fn joins<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    org_id: i64,
    bounds: &[i64],
) -> Result<Vec<i64>> {
    per_interval(e, "memberships", "member_since", "", org_id, bounds).await
}

/// Changes away from `active` (to suspended or banned), per interval.
pub async fn leaves<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    org_id: i64,
    bounds: &[i64],
) -> Result<Vec<i64>> {
    per_interval(e, "status_changes", "at", "AND from_status = 'active'", org_id, bounds).await
}

/// Active members whose Stripe subscription is active or trialing.
pub async fn paying<'c, E: Executor<'c, Database = sqlx::Any>>(e: E, org_id: i64) -> Result<i64> {
    Ok(sqlx::query(
        "SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND status = 'active'
           AND subscription_status IN ('active', 'trialing')",
    )
    .bind(org_id)
    .fetch_one(e)
    .await?
    .try_get(0)?)
}

/// Live devices, and those whose last poll is older than `silent_since` (or that never polled).
pub async fn devices<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    org_id: i64,
    silent_since: i64,
) -> Result<(i64, i64)> {
    let row = sqlx::query(
        "SELECT COUNT(*), SUM(CASE WHEN last_seen_at IS NULL OR last_seen_at < $2 THEN 1 ELSE 0 END)
         FROM devices WHERE org_id = $1 AND revoked_at IS NULL",
    )
    .bind(org_id)
    .bind(silent_since)
    .fetch_one(e)
    .await?;
    Ok((row.try_get(0)?, row.try_get::<Option<i64>, _>(1)?.unwrap_or(0)))
}

/// Webhook deliveries of the organisation's endpoints that are failing (being retried) and
/// that were given up (dead).
pub async fn troubled_deliveries<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    org_id: i64,
) -> Result<(i64, i64)> {
    let row = sqlx::query(
        "SELECT SUM(CASE WHEN d.state = 'failed' THEN 1 ELSE 0 END), SUM(CASE WHEN d.state = 'dead' THEN 1 ELSE 0 END)
         FROM webhook_endpoints w JOIN webhook_deliveries d ON d.endpoint_id = w.id
         WHERE w.org_id = $1 AND d.state IN ('failed', 'dead')",
    )
    .bind(org_id)
    .fetch_one(e)
    .await?;
    Ok((row.try_get::<Option<i64>, _>(0)?.unwrap_or(0), row.try_get::<Option<i64>, _>(1)?.unwrap_or(0)))
}
