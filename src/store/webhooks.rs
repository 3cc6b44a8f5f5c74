//! Webhook endpoints, the events written with the changes that cause them, and their
//! deliveries (SPEC §3.7).

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Executor, Row};

use super::{Result, StoreError};

/// An organisation's webhook endpoint. The secrets sign; they are never shown after creation
/// or rotation.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub id: i64,
    pub org_id: i64,
    pub url: String,
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub secret: String,
    /// The secret before the last rotation, still signing until `previous_until`.
    pub previous_secret: Option<String>,
    pub previous_until: Option<i64>,
    /// Why Portico disabled it (the receiver answered 410 Gone).
    pub disabled_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const ENDPOINT_COLUMNS: &str = "id, org_id, url, event_types, enabled, secret, previous_secret, previous_until, \
     disabled_reason, created_at, updated_at";

fn endpoint(r: &AnyRow) -> Result<Endpoint> {
    endpoint_at(r, 0)
}

/// An endpoint from `ENDPOINT_COLUMNS` starting at column `at`.
fn endpoint_at(r: &AnyRow, at: usize) -> Result<Endpoint> {
    let types: String = r.try_get(at + 3)?;
    Ok(Endpoint {
        id: r.try_get(at)?,
        org_id: r.try_get(at + 1)?,
        url: r.try_get(at + 2)?,
        event_types: serde_json::from_str(&types).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        enabled: r.try_get::<i64, _>(at + 4)? == 1,
        secret: r.try_get(at + 5)?,
        previous_secret: r.try_get(at + 6)?,
        previous_until: r.try_get(at + 7)?,
        disabled_reason: r.try_get(at + 8)?,
        created_at: r.try_get(at + 9)?,
        updated_at: r.try_get(at + 10)?,
    })
}

pub struct NewEndpoint<'a> {
    pub org_id: i64,
    pub url: &'a str,
    pub event_types: &'a [String],
    pub enabled: bool,
    pub secret: &'a str,
    pub created_by: &'a str,
}

fn types_json(types: &[String]) -> String {
    serde_json::Value::from(types.to_vec()).to_string()
}

pub async fn insert_endpoint(conn: &mut AnyConnection, new: &NewEndpoint<'_>, now: i64) -> Result<Endpoint> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO webhook_endpoints (org_id, url, event_types, enabled, secret, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {ENDPOINT_COLUMNS}"
    )))
    .bind(new.org_id)
    .bind(new.url)
    .bind(types_json(new.event_types))
    .bind(i64::from(new.enabled))
    .bind(new.secret)
    .bind(new.created_by)
    .bind(now)
    .fetch_one(conn)
    .await?;
    endpoint(&row)
}

/// An organisation's endpoints (deleted ones left out), oldest first.
pub async fn endpoints_of<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    org_id: i64,
) -> Result<Vec<Endpoint>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE org_id = $1 AND deleted_at IS NULL ORDER BY id"
    )))
    .bind(org_id)
    .fetch_all(e)
    .await?;
    rows.iter().map(endpoint).collect()
}

/// One endpoint of an organisation (another organisation's id is not found).
pub async fn endpoint_of<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    org_id: i64,
    id: i64,
) -> Result<Option<Endpoint>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL"
    )))
    .bind(org_id)
    .bind(id)
    .fetch_optional(e)
    .await?;
    row.as_ref().map(endpoint).transpose()
}

/// Replaces URL, event types and the enabled flag; enabling clears a recorded disable reason.
pub async fn update_endpoint(
    conn: &mut AnyConnection,
    id: i64,
    url: &str,
    event_types: &[String],
    enabled: bool,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE webhook_endpoints SET url = $2, event_types = $3, enabled = $4,
             disabled_reason = CASE WHEN $4 = 1 THEN NULL ELSE disabled_reason END, updated_at = $5
         WHERE id = $1",
    )
    .bind(id)
    .bind(url)
    .bind(types_json(event_types))
    .bind(i64::from(enabled))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A new secret; the current one keeps signing until `previous_until`.
pub async fn rotate(
    conn: &mut AnyConnection,
    id: i64,
    secret: &str,
    previous_until: i64,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE webhook_endpoints SET previous_secret = secret, previous_until = $3, secret = $2, updated_at = $4
         WHERE id = $1",
    )
    .bind(id)
    .bind(secret)
    .bind(previous_until)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes an endpoint (kept for its deliveries' history); its unfinished deliveries die.
pub async fn delete_endpoint(conn: &mut AnyConnection, id: i64, now: i64) -> Result<()> {
    sqlx::query("UPDATE webhook_endpoints SET deleted_at = $2, enabled = 0, updated_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE webhook_deliveries SET state = 'dead', last_error = 'endpoint deleted', updated_at = $2
         WHERE endpoint_id = $1 AND state IN ('pending', 'failed')",
    )
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The next number in a membership's event sequence (1, 2, …), taken inside the caller's
/// transaction: concurrent changes of one membership get distinct, ordered numbers.
pub async fn next_seq(conn: &mut AnyConnection, membership_id: i64) -> Result<i64> {
    let row =
        sqlx::query("UPDATE memberships SET event_seq = event_seq + 1 WHERE id = $1 RETURNING event_seq")
            .bind(membership_id)
            .fetch_one(conn)
            .await?;
    Ok(row.try_get(0)?)
}

pub struct NewEvent<'a> {
    pub message_id: &'a str,
    pub org_id: i64,
    pub membership_id: Option<i64>,
    pub seq: i64,
    pub event_type: &'a str,
    pub body: &'a str,
}

/// Stores an event and queues one delivery of it to each enabled endpoint of its organisation
/// that subscribes to its type (or only to `only_endpoint`, for a test event). Returns the
/// number of deliveries queued.
pub async fn insert_event(
    conn: &mut AnyConnection,
    new: &NewEvent<'_>,
    only_endpoint: Option<i64>,
    now_ms: i64,
) -> Result<u64> {
    let row = sqlx::query(
        "INSERT INTO webhook_events (message_id, org_id, membership_id, seq, type, body, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(new.message_id)
    .bind(new.org_id)
    .bind(new.membership_id)
    .bind(new.seq)
    .bind(new.event_type)
    .bind(new.body)
    .bind(now_ms / 1000)
    .fetch_one(&mut *conn)
    .await?;
    let event_id: i64 = row.try_get(0)?;
    // Event type names are from a fixed catalogue without LIKE wildcards (`%`, `_`), and the
    // column is a JSON array of them, so the quoted name matches exactly one element.
    Ok(sqlx::query(
        "INSERT INTO webhook_deliveries (event_id, endpoint_id, membership_id, seq, state, next_attempt_ms,
             created_at, updated_at)
         SELECT $1, e.id, $3, $4, 'pending', $5, $6, $6 FROM webhook_endpoints e
         WHERE e.org_id = $2 AND e.deleted_at IS NULL
           AND (($7 IS NULL AND e.enabled = 1 AND e.event_types LIKE '%\"' || $8 || '\"%') OR e.id = $7)",
    )
    .bind(event_id)
    .bind(new.org_id)
    .bind(new.membership_id)
    .bind(new.seq)
    .bind(now_ms)
    .bind(now_ms / 1000)
    .bind(only_endpoint)
    .bind(new.event_type)
    .execute(conn)
    .await?
    .rows_affected())
}

/// A membership as its events describe it, and how many endpoints want an event of the type
/// asked about.
pub struct Subject {
    pub subscribers: i64,
    pub org_id: i64,
    pub org_slug: String,
    pub email: String,
    pub username: Option<String>,
    pub role: String,
    pub status: String,
}

pub async fn subject(
    conn: &mut AnyConnection,
    membership_id: i64,
    event_type: &str,
) -> Result<Option<Subject>> {
    // As in `insert_event`: the quoted type name matches one element of the JSON array.
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM webhook_endpoints e WHERE e.org_id = m.org_id AND e.enabled = 1
                   AND e.deleted_at IS NULL AND e.event_types LIKE '%\"' || $2 || '\"%'),
                m.org_id, o.slug, u.email, u.username, m.role, m.status
         FROM memberships m JOIN users u ON u.id = m.user_id JOIN organisations o ON o.id = m.org_id
         WHERE m.id = $1",
    )
    .bind(membership_id)
    .bind(event_type)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(Subject {
            subscribers: r.try_get(0)?,
            org_id: r.try_get(1)?,
            org_slug: r.try_get(2)?,
            email: r.try_get(3)?,
            username: r.try_get(4)?,
            role: r.try_get(5)?,
            status: r.try_get(6)?,
        })
    })
    .transpose()
}

/// A delivery reserved for one attempt by the holder of `claim_token`, with what it sends.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub id: i64,
    pub attempts: i64,
    pub claim_token: String,
    pub lease_until_ms: i64,
    pub message_id: String,
    pub body: String,
    pub endpoint: Endpoint,
}

/// Reserves up to `limit` due deliveries to enabled endpoints: pending or failed ones whose
/// time has come, and ones a crashed claimer left in `sending`. A delivery about a membership
/// waits while an earlier one (lower `seq`) to the same endpoint is unfinished, so each
/// endpoint receives a membership's events in order.
pub async fn claim(
    conn: &mut AnyConnection,
    backend: super::Backend,
    now_ms: i64,
    lease_until_ms: i64,
    claim_token: &str,
    limit: i64,
) -> Result<Vec<Claimed>> {
    let lock = match backend {
        super::Backend::Postgres => " FOR UPDATE OF d SKIP LOCKED",
        super::Backend::Sqlite => "",
    };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE webhook_deliveries SET state = 'sending', attempts = attempts + 1, lease_until_ms = $1,
             claim_token = $2, updated_at = $3
         WHERE id IN (
             SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id
             WHERE ((d.state IN ('pending', 'failed') AND d.next_attempt_ms <= $4)
                    OR (d.state = 'sending' AND d.lease_until_ms <= $4))
               AND w.enabled = 1 AND w.deleted_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e
                               WHERE e.endpoint_id = d.endpoint_id AND e.membership_id = d.membership_id
                                 AND e.seq < d.seq AND e.state IN ('pending', 'sending', 'failed'))
             ORDER BY d.next_attempt_ms, d.id LIMIT $5{lock})
"
    )))
    .bind(lease_until_ms)
    .bind(claim_token)
    .bind(now_ms / 1000)
    .bind(now_ms)
    .bind(limit)
    .execute(&mut *conn)
    .await?;
    // What the claimed deliveries send, read at once: the claim token names them (and the lease
    // end finds them through `webhook_deliveries_leased`).
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT d.id, d.attempts, ev.message_id, ev.body, {} FROM webhook_deliveries d
         JOIN webhook_events ev ON ev.id = d.event_id JOIN webhook_endpoints w ON w.id = d.endpoint_id
         WHERE d.state = 'sending' AND d.lease_until_ms = $2 AND d.claim_token = $1 ORDER BY d.id",
        ENDPOINT_COLUMNS.split(", ").map(|c| format!("w.{c}")).collect::<Vec<_>>().join(", ")
    )))
    .bind(claim_token)
    .bind(lease_until_ms)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Claimed {
                id: r.try_get(0)?,
                attempts: r.try_get(1)?,
                claim_token: claim_token.to_string(),
                lease_until_ms,
                message_id: r.try_get(2)?,
                body: r.try_get(3)?,
                endpoint: endpoint_at(r, 4)?,
            })
        })
        .collect()
}

/// What one attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Delivered { status: i64, excerpt: String },
    Retry { next_attempt_ms: i64, status: Option<i64>, excerpt: Option<String>, error: String },
    Dead { status: Option<i64>, excerpt: Option<String>, error: String },
}

/// Records an attempt's outcome; false when the claim was lost (nothing changed).
pub async fn record(conn: &mut AnyConnection, c: &Claimed, outcome: &Outcome, now_ms: i64) -> Result<bool> {
    let (state, status, excerpt, error, next, delivered) = match outcome {
        Outcome::Delivered { status, excerpt } => {
            ("delivered", Some(*status), Some(excerpt.as_str()), None, None, Some(now_ms / 1000))
        }
        Outcome::Retry { next_attempt_ms, status, excerpt, error } => {
            ("failed", *status, excerpt.as_deref(), Some(error.as_str()), Some(*next_attempt_ms), None)
        }
        Outcome::Dead { status, excerpt, error } => {
            ("dead", *status, excerpt.as_deref(), Some(error.as_str()), None, None)
        }
    };
    Ok(sqlx::query(
        "UPDATE webhook_deliveries SET state = $3, last_status = $4, response_excerpt = $5, last_error = $6,
             next_attempt_ms = COALESCE($7, next_attempt_ms), delivered_at = $8, lease_until_ms = NULL,
             claim_token = NULL, updated_at = $9
         WHERE id = $1 AND claim_token = $2 AND state = 'sending'",
    )
    .bind(c.id)
    .bind(&c.claim_token)
    .bind(state)
    .bind(status)
    .bind(excerpt)
    .bind(error)
    .bind(next)
    .bind(delivered)
    .bind(now_ms / 1000)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Disables an endpoint whose receiver said it is gone (410), saying so for staff.
pub async fn disable_gone(conn: &mut AnyConnection, id: i64, reason: &str, now: i64) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = $2, updated_at = $3 WHERE id = $1 AND enabled = 1",
    )
    .bind(id)
    .bind(reason)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// One delivery as staff see it.
#[derive(Clone, Debug)]
pub struct DeliveryRow {
    pub id: i64,
    pub message_id: String,
    pub event_type: String,
    pub membership_id: Option<i64>,
    pub seq: i64,
    pub state: String,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub response_excerpt: Option<String>,
    /// Milliseconds; for `pending` and `failed` deliveries, when the next attempt is due.
    pub next_attempt_ms: i64,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

/// An endpoint's deliveries, newest first.
pub async fn deliveries_of<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    endpoint_id: i64,
    limit: i64,
) -> Result<Vec<DeliveryRow>> {
    let rows = sqlx::query(
        "SELECT d.id, ev.message_id, ev.type, d.membership_id, d.seq, d.state, d.attempts, d.last_status,
                d.last_error, d.response_excerpt, d.next_attempt_ms, d.created_at, d.delivered_at
         FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id
         WHERE d.endpoint_id = $1 ORDER BY d.id DESC LIMIT $2",
    )
    .bind(endpoint_id)
    .bind(limit)
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(DeliveryRow {
                id: r.try_get(0)?,
                message_id: r.try_get(1)?,
                event_type: r.try_get(2)?,
                membership_id: r.try_get(3)?,
                seq: r.try_get(4)?,
                state: r.try_get(5)?,
                attempts: r.try_get(6)?,
                last_status: r.try_get(7)?,
                last_error: r.try_get(8)?,
                response_excerpt: r.try_get(9)?,
                next_attempt_ms: r.try_get(10)?,
                created_at: r.try_get(11)?,
                delivered_at: r.try_get(12)?,
            })
        })
        .collect()
}

/// Sends a finished delivery (delivered or dead) again, as a new round of attempts with the
/// same `webhook-id`; false when it is not the endpoint's or still under way.
pub async fn replay(conn: &mut AnyConnection, endpoint_id: i64, id: i64, now_ms: i64) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_ms = $3, updated_at = $4
         WHERE id = $1 AND endpoint_id = $2 AND state IN ('delivered', 'dead')",
    )
    .bind(id)
    .bind(endpoint_id)
    .bind(now_ms)
    .bind(now_ms / 1000)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Replays every dead delivery of an endpoint created since `since` (Unix seconds).
pub async fn replay_dead_since(
    conn: &mut AnyConnection,
    endpoint_id: i64,
    since: i64,
    now_ms: i64,
) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_ms = $3, updated_at = $4
         WHERE endpoint_id = $1 AND state = 'dead' AND created_at >= $2",
    )
    .bind(endpoint_id)
    .bind(since)
    .bind(now_ms)
    .bind(now_ms / 1000)
    .execute(conn)
    .await?
    .rows_affected())
}

/// Deliveries by state, and the age of the oldest one waiting to go out (for `/metrics`).
pub async fn health<'c, E: Executor<'c, Database = sqlx::Any> + Copy>(
    e: E,
    now_ms: i64,
) -> Result<(Vec<(String, i64)>, i64)> {
    let rows =
        sqlx::query("SELECT state, COUNT(*) FROM webhook_deliveries GROUP BY state").fetch_all(e).await?;
    let by_state = rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect::<Result<Vec<_>>>()?;
    let row = sqlx::query(
        "SELECT MIN(next_attempt_ms) FROM webhook_deliveries WHERE state IN ('pending', 'failed') AND next_attempt_ms <= $1",
    )
    .bind(now_ms)
    .fetch_one(e)
    .await?;
    let oldest: Option<i64> = row.try_get(0)?;
    Ok((by_state, oldest.map_or(0, |t| (now_ms - t).max(0))))
}

pub async fn delivery_exists(conn: &mut AnyConnection, endpoint_id: i64, id: i64) -> Result<bool> {
    let row = sqlx::query("SELECT COUNT(*) FROM webhook_deliveries WHERE id = $1 AND endpoint_id = $2")
        .bind(id)
        .bind(endpoint_id)
        .fetch_one(conn)
        .await?;
    Ok(row.try_get::<i64, _>(0)? > 0)
}

/// The signing secrets (current, and previous while it still signs) of the live endpoints
/// whose URL is `url`: the dev receiver checks signatures with them.
pub async fn secrets_for_url<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    url: &str,
    now: i64,
) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT secret, CASE WHEN previous_until > $2 THEN previous_secret END
         FROM webhook_endpoints WHERE url = $1 AND deleted_at IS NULL",
    )
    .bind(url)
    .bind(now)
    .fetch_all(e)
    .await?;
    let mut secrets = Vec::new();
    for r in rows {
        secrets.push(r.try_get::<String, _>(0)?);
        if let Some(previous) = r.try_get::<Option<String>, _>(1)? {
            secrets.push(previous);
        }
    }
    Ok(secrets)
}
