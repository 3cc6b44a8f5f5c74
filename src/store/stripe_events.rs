//! The Stripe event ledger: each verified event once, by its id.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Executor, Row};

use super::Result;

pub struct NewEvent<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub created: i64,
    pub livemode: bool,
    pub payload: &'a str,
    pub received_at: i64,
}

/// Stores the event unless its id is already in the ledger; true when it was new. The unique
/// id decides, so concurrent deliveries of one event store it once.
pub async fn insert_once(conn: &mut AnyConnection, e: &NewEvent<'_>) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO stripe_events (id, type, created, livemode, payload, received_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
    )
    .bind(e.id)
    .bind(e.kind)
    .bind(e.created)
    // 0 or 1: the `Any` driver cannot read SQLite booleans.
    .bind(i64::from(e.livemode))
    .bind(e.payload)
    .bind(e.received_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A ledger row as staff see it.
#[derive(Debug, Clone)]
pub struct LedgerEvent {
    pub id: String,
    pub kind: String,
    pub created: i64,
    pub livemode: bool,
    pub state: String,
    pub membership_id: Option<i64>,
    pub outcome: Option<String>,
    pub error: Option<String>,
}

const COLUMNS: &str = "id, type, created, livemode, state, membership_id, outcome, error";

fn ledger_event(r: &AnyRow) -> Result<LedgerEvent> {
    Ok(LedgerEvent {
        id: r.try_get(0)?,
        kind: r.try_get(1)?,
        created: r.try_get(2)?,
        livemode: r.try_get::<i64, _>(3)? == 1,
        state: r.try_get(4)?,
        membership_id: r.try_get(5)?,
        outcome: r.try_get(6)?,
        error: r.try_get(7)?,
    })
}

pub async fn find<'c, E: Executor<'c, Database = sqlx::Any>>(e: E, id: &str) -> Result<Option<LedgerEvent>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM stripe_events WHERE id = $1")))
        .bind(id)
        .fetch_optional(e)
        .await?;
    row.as_ref().map(ledger_event).transpose()
}

/// The raw event as it was stored.
pub async fn payload<'c, E: Executor<'c, Database = sqlx::Any>>(e: E, id: &str) -> Result<Option<String>> {
    let row =
        sqlx::query("SELECT payload FROM stripe_events WHERE id = $1").bind(id).fetch_optional(e).await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// Records what processing did: `processed`, `ignored` or `failed` (with the error).
pub async fn mark(
    conn: &mut AnyConnection,
    id: &str,
    state: &str,
    membership_id: Option<i64>,
    outcome: &str,
    error: Option<&str>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE stripe_events SET state = $2, membership_id = COALESCE($3, membership_id), outcome = $4,
         error = $5, processed_at = $6 WHERE id = $1",
    )
    .bind(id)
    .bind(state)
    .bind(membership_id)
    .bind(outcome)
    .bind(error)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Which ledger rows staff want to see.
#[derive(Debug, Clone, Default)]
pub struct Filter<'a> {
    pub kind: Option<&'a str>,
    pub membership_id: Option<i64>,
    pub outcome: Option<&'a str>,
}

/// The newest events matching the filter (at most `limit`).
pub async fn list<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    filter: &Filter<'_>,
    limit: i64,
) -> Result<Vec<LedgerEvent>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM stripe_events
         WHERE ($1 IS NULL OR type = $1) AND ($2 IS NULL OR membership_id = $2) AND ($3 IS NULL OR outcome = $3)
         ORDER BY created DESC, id DESC LIMIT $4"
    )))
    .bind(filter.kind)
    .bind(filter.membership_id)
    .bind(filter.outcome)
    .bind(limit)
    .fetch_all(e)
    .await?;
    rows.iter().map(ledger_event).collect()
}

/// Events stored before `before` that no processing has finished: their processing was cut
/// off (a crash, a restart) and is taken up again.
pub async fn unprocessed<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    before: i64,
    limit: i64,
) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT id FROM stripe_events WHERE state = 'received' AND received_at < $1 ORDER BY created LIMIT $2",
    )
    .bind(before)
    .bind(limit)
    .fetch_all(e)
    .await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}
