//! Outbox rows and the dev mailbox. Claiming is the one query that differs per backend:
//! PostgreSQL skips rows another process has locked; SQLite has a single writer anyway.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Executor, Row};

use super::{Backend, Result, Tx};

pub struct NewMessage<'a> {
    pub message_id: &'a str,
    pub recipient: &'a str,
    pub template: &'a str,
    pub locale: &'a str,
    pub subject: &'a str,
    pub body_text: &'a str,
    pub body_html: &'a str,
    /// What the message is about, e.g. `("invitation", 42)`.
    pub belongs_to: Option<(&'a str, i64)>,
    /// The rate-limit window this message was counted in (bucket, window start); given back if
    /// the message ends up `dead`.
    pub charged: Option<(&'a str, i64)>,
    pub priority: Priority,
}

/// Which lane a message travels in. Interactive mail is what someone is waiting for right now
/// (a verification or password-reset link); bulk mail (invitations) may wait behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    // `any_due` and `oldest_due_ms` spell these values out so their index is searched.
    Interactive = 0,
    Bulk = 1,
}

impl Priority {
    pub fn of(template: &str) -> Priority {
        match template {
            "invitation" | "claim_account" => Priority::Bulk,
            _ => Priority::Interactive,
        }
    }
}

/// Adds a message inside the caller's transaction, to be sent from `send_at_ms` on; the worker
/// is woken when it commits.
pub async fn insert(tx: &mut Tx, m: &NewMessage<'_>, now_ms: i64, send_at_ms: i64) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO outbox (message_id, recipient, template, locale, subject, body_text, body_html,
             state, next_attempt_ms, belongs_to_kind, belongs_to_id, created_at, updated_at,
             charged_bucket, charged_window, priority)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $8, $9, $10, $11, $11, $12, $13, $14) RETURNING id",
    )
    .bind(m.message_id)
    .bind(m.recipient)
    .bind(m.template)
    .bind(m.locale)
    .bind(m.subject)
    .bind(m.body_text)
    .bind(m.body_html)
    .bind(send_at_ms.max(now_ms))
    .bind(m.belongs_to.map(|(kind, _)| kind))
    .bind(m.belongs_to.map(|(_, id)| id))
    .bind(now_ms / 1000)
    .bind(m.charged.map(|(bucket, _)| bucket))
    .bind(m.charged.map(|(_, window)| window))
    .bind(m.priority as i16)
    .fetch_one(tx.conn())
    .await?;
    tx.enqueued += 1;
    Ok(row.try_get(0)?)
}

/// The latest time a queued message of `template` is to be sent at, if any is queued: where
/// a paced series (an import's claim emails) continues.
pub async fn last_queued_ms(conn: &mut AnyConnection, template: &str) -> Result<Option<i64>> {
    let row = sqlx::query("SELECT MAX(next_attempt_ms) FROM outbox WHERE template = $1 AND state = 'queued'")
        .bind(template)
        .fetch_one(conn)
        .await?;
    Ok(row.try_get(0)?)
}

/// Whether an email of `template` was ever queued to `recipient` (and not pruned since).
pub async fn ever_sent<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    recipient: &str,
    template: &str,
) -> Result<bool> {
    let row = sqlx::query("SELECT COUNT(*) FROM outbox WHERE recipient = $1 AND template = $2")
        .bind(recipient)
        .bind(template)
        .fetch_one(e)
        .await?;
    Ok(row.try_get::<i64, _>(0)? > 0)
}

/// A message reserved for one delivery attempt by the holder of `claim_token`.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    pub message_id: String,
    pub recipient: String,
    pub subject: String,
    pub body_text: Option<String>,
    pub body_html: Option<String>,
    /// Attempts including this one.
    pub attempts: i64,
    pub claim_token: String,
    pub charged: Option<(String, i64)>,
    /// When the claim runs out; after it another process may take the message.
    pub lease_until_ms: i64,
    pub priority: Priority,
}

const CLAIM_SQL: &str = "UPDATE outbox SET state = 'sending', attempts = attempts + 1, lease_until_ms = $1, claim_token = $2, updated_at = $3
     WHERE id IN (
         SELECT id FROM outbox
         WHERE priority = $6
           AND ((state IN ('queued', 'failed') AND next_attempt_ms <= $4) OR (state = 'sending' AND lease_until_ms <= $4))
         ORDER BY next_attempt_ms, id LIMIT $5";

/// Whether any message is due (a plain read, so an idle worker takes no write lock).
pub async fn any_due(pool: &sqlx::AnyPool, now_ms: i64) -> Result<bool> {
    // Two index searches (the lanes spelled out so `outbox_due` is searched, not scanned): an
    // OR of the two made SQLite scan the whole table, sent messages included, on every poll.
    let row = sqlx::query(
        "SELECT 1 FROM outbox WHERE state IN ('queued', 'failed') AND priority IN (0, 1) AND next_attempt_ms <= $1
         UNION ALL
         SELECT 1 FROM outbox WHERE state = 'sending' AND lease_until_ms <= $1
         LIMIT 1",
    )
    .bind(now_ms)
    .fetch_optional(pool)
    .await?;
    Ok(row.is_some())
}

/// Reserves up to `limit` due messages of one lane: queued or failed ones whose time has come,
/// and ones left in `sending` by a claimer whose lease ran out (a crashed process).
pub async fn claim(
    conn: &mut AnyConnection,
    backend: Backend,
    priority: Priority,
    now_ms: i64,
    lease_until_ms: i64,
    claim_token: &str,
    limit: i64,
) -> Result<Vec<Claimed>> {
    if limit <= 0 {
        return Ok(Vec::new());
    }
    let tail = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED)",
        Backend::Sqlite => ")",
    };
    let sql = format!(
        "{CLAIM_SQL}{tail} RETURNING id, message_id, recipient, subject, body_text, body_html, attempts, claim_token, \
         charged_bucket, charged_window"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lease_until_ms)
        .bind(claim_token)
        .bind(now_ms / 1000)
        .bind(now_ms)
        .bind(limit)
        .bind(priority as i16)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Claimed {
                id: r.try_get(0)?,
                message_id: r.try_get(1)?,
                recipient: r.try_get(2)?,
                subject: r.try_get(3)?,
                body_text: r.try_get(4)?,
                body_html: r.try_get(5)?,
                attempts: r.try_get(6)?,
                claim_token: r.try_get(7)?,
                charged: match (r.try_get::<Option<String>, _>(8)?, r.try_get::<Option<i64>, _>(9)?) {
                    (Some(bucket), Some(window)) => Some((bucket, window)),
                    _ => None,
                },
                lease_until_ms,
                priority,
            })
        })
        .collect()
}

/// The outcome of one attempt. Returns false when the claim was lost (the lease ran out and
/// someone else took the message), in which case nothing is changed. Sent and dead messages
/// lose their bodies: the links in them may be secrets.
pub async fn record_outcome(
    conn: &mut AnyConnection,
    claimed: &Claimed,
    outcome: &Outcome,
    now_ms: i64,
) -> Result<bool> {
    // $1 id, $2 claim token, $3 now (seconds); then the outcome's own parameters.
    let sql = match outcome {
        Outcome::Sent => {
            "UPDATE outbox SET state = 'sent', sent_at = $3, updated_at = $3, lease_until_ms = NULL,
                 claim_token = NULL, last_error = NULL, body_text = NULL, body_html = NULL
             WHERE id = $1 AND claim_token = $2 AND state = 'sending'"
        }
        Outcome::Retry { .. } => {
            "UPDATE outbox SET state = 'failed', updated_at = $3, lease_until_ms = NULL, claim_token = NULL,
                 last_error = $4, next_attempt_ms = $5
             WHERE id = $1 AND claim_token = $2 AND state = 'sending'"
        }
        Outcome::Dead { .. } => {
            "UPDATE outbox SET state = 'dead', updated_at = $3, lease_until_ms = NULL, claim_token = NULL,
                 last_error = $4, body_text = NULL, body_html = NULL
             WHERE id = $1 AND claim_token = $2 AND state = 'sending'"
        }
    };
    let mut query = sqlx::query(sql).bind(claimed.id).bind(&claimed.claim_token).bind(now_ms / 1000);
    match outcome {
        Outcome::Sent => {}
        Outcome::Retry { next_attempt_ms, error } => {
            query = query.bind(truncate(error)).bind(*next_attempt_ms)
        }
        Outcome::Dead { error } => query = query.bind(truncate(error)),
    }
    let recorded = query.execute(&mut *conn).await?.rows_affected() == 1;
    // A message that was never delivered does not use up its recipient's allowance.
    if recorded && let (Outcome::Dead { .. }, Some((bucket, window))) = (outcome, &claimed.charged) {
        super::rate_limits::refund(conn, bucket, *window).await?;
    }
    Ok(recorded)
}

/// Hands a claimed message back untouched (the attempt was not started): queued again, the
/// attempt not counted. False when the claim was no longer held.
pub async fn release(conn: &mut AnyConnection, claimed: &Claimed, now_ms: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE outbox SET state = 'queued', attempts = attempts - 1, lease_until_ms = NULL, claim_token = NULL,
             updated_at = $3
         WHERE id = $1 AND claim_token = $2 AND state = 'sending'",
    )
    .bind(claimed.id)
    .bind(&claimed.claim_token)
    .bind(now_ms / 1000)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

fn truncate(error: &str) -> String {
    error.chars().take(500).collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    Retry { next_attempt_ms: i64, error: String },
    Dead { error: String },
}

/// Where the latest message about something stands, for staff.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Delivery {
    /// `queued`, `sending`, `sent`, `failed` (will retry) or `dead` (gave up).
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// RFC 3339.
    pub updated_at: String,
}

fn delivery(row: &AnyRow) -> Result<Delivery> {
    Ok(Delivery {
        state: row.try_get(0)?,
        attempts: row.try_get(1)?,
        last_error: row.try_get(2)?,
        updated_at: crate::domain::rfc3339(row.try_get(3)?),
    })
}

pub async fn latest_for<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    kind: &str,
    id: i64,
) -> Result<Option<Delivery>> {
    let row = sqlx::query(
        "SELECT state, attempts, last_error, updated_at FROM outbox
         WHERE belongs_to_kind = $1 AND belongs_to_id = $2 ORDER BY id DESC LIMIT 1",
    )
    .bind(kind)
    .bind(id)
    .fetch_optional(e)
    .await?;
    row.as_ref().map(delivery).transpose()
}

pub async fn latest_to<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    recipient: &str,
) -> Result<Option<Delivery>> {
    let row = sqlx::query(
        "SELECT state, attempts, last_error, updated_at FROM outbox WHERE recipient = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(recipient)
    .fetch_optional(e)
    .await?;
    row.as_ref().map(delivery).transpose()
}

/// Message counts per state, for `/metrics`.
pub async fn depth<'c, E: Executor<'c, Database = sqlx::Any>>(e: E) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetch_all(e).await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

/// Milliseconds since the longest-waiting due message became due (0 when none is waiting): a
/// worker that makes no progress shows here however it got stuck.
pub async fn oldest_due_ms(pool: &sqlx::AnyPool, now_ms: i64) -> Result<i64> {
    // As in `any_due`: one index search per kind of due message.
    let row = sqlx::query(
        "SELECT MIN(t) FROM (
             SELECT MIN(next_attempt_ms) AS t FROM outbox
             WHERE state IN ('queued', 'failed') AND priority IN (0, 1) AND next_attempt_ms <= $1
             UNION ALL
             SELECT MIN(lease_until_ms) AS t FROM outbox WHERE state = 'sending' AND lease_until_ms <= $1
         ) due",
    )
    .bind(now_ms)
    .fetch_one(pool)
    .await?;
    let oldest: Option<i64> = row.try_get(0)?;
    Ok(oldest.map_or(0, |t| (now_ms - t).max(0)))
}

/// A row as staff see it in the console.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: i64,
    pub recipient: String,
    pub template: String,
    pub subject: String,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub updated_at: i64,
}

pub async fn recent<'c, E: Executor<'c, Database = sqlx::Any>>(e: E, limit: i64) -> Result<Vec<OutboxRow>> {
    let rows = sqlx::query(
        "SELECT id, recipient, template, subject, state, attempts, last_error, updated_at
         FROM outbox ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(OutboxRow {
                id: r.try_get(0)?,
                recipient: r.try_get(1)?,
                template: r.try_get(2)?,
                subject: r.try_get(3)?,
                state: r.try_get(4)?,
                attempts: r.try_get(5)?,
                last_error: r.try_get(6)?,
                updated_at: r.try_get(7)?,
            })
        })
        .collect()
}

/// A message "delivered" to the dev mailbox.
#[derive(Debug, Clone)]
pub struct DevMail {
    pub id: i64,
    pub message_id: String,
    pub recipient: String,
    pub subject: String,
    pub headers: String,
    pub body_text: String,
    pub body_html: String,
    pub delivered_at: i64,
}

pub async fn insert_dev_mail(conn: &mut AnyConnection, m: &DevMail) -> Result<()> {
    sqlx::query(
        "INSERT INTO dev_mailbox (message_id, recipient, subject, headers, body_text, body_html, delivered_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&m.message_id)
    .bind(&m.recipient)
    .bind(&m.subject)
    .bind(&m.headers)
    .bind(&m.body_text)
    .bind(&m.body_html)
    .bind(m.delivered_at)
    .execute(conn)
    .await?;
    Ok(())
}

macro_rules! dev_columns {
    () => {
        "id, message_id, recipient, subject, headers, body_text, body_html, delivered_at"
    };
}

fn dev_mail(r: &AnyRow) -> Result<DevMail> {
    Ok(DevMail {
        id: r.try_get(0)?,
        message_id: r.try_get(1)?,
        recipient: r.try_get(2)?,
        subject: r.try_get(3)?,
        headers: r.try_get(4)?,
        body_text: r.try_get(5)?,
        body_html: r.try_get(6)?,
        delivered_at: r.try_get(7)?,
    })
}

pub async fn dev_mails<'c, E: Executor<'c, Database = sqlx::Any>>(e: E, limit: i64) -> Result<Vec<DevMail>> {
    let rows = sqlx::query(concat!("SELECT ", dev_columns!(), " FROM dev_mailbox ORDER BY id DESC LIMIT $1"))
        .bind(limit)
        .fetch_all(e)
        .await?;
    rows.iter().map(dev_mail).collect()
}

pub async fn dev_mail_by_id<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    id: i64,
) -> Result<Option<DevMail>> {
    let row = sqlx::query(concat!("SELECT ", dev_columns!(), " FROM dev_mailbox WHERE id = $1"))
        .bind(id)
        .fetch_optional(e)
        .await?;
    row.as_ref().map(dev_mail).transpose()
}
