//! The Stripe event ledger: each verified event once, by its id.

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

pub async fn find<'c, E: Executor<'c, Database = sqlx::Any>>(e: E, id: &str) -> Result<Option<LedgerEvent>> {
    let row = sqlx::query(
        "SELECT id, type, created, livemode, state, membership_id, outcome, error FROM stripe_events WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(e)
    .await?;
    row.map(|r| {
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
    })
    .transpose()
}
