//! Signup requests: the email step records one; the mail worker turns it into an email.

use sqlx::Row;

use super::{Backend, Result, Tx};

pub async fn insert(
    tx: &mut Tx,
    org_id: i64,
    email: &str,
    locale: &str,
    charged: (&str, i64),
    now: i64,
) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO signup_requests (org_id, email, locale, charged_bucket, charged_window, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(org_id)
    .bind(email)
    .bind(locale)
    .bind(charged.0)
    .bind(charged.1)
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    // The worker that sends mail also dispatches these; wake it.
    tx.enqueued += 1;
    Ok(row.try_get(0)?)
}

#[derive(Clone, Debug)]
pub struct Request {
    pub id: i64,
    pub org_id: i64,
    pub email: String,
    pub locale: String,
    pub charged: Option<(String, i64)>,
}

/// Marks up to `limit` new requests processed and returns them, inside `tx`: the caller queues
/// their emails in the same transaction, so a request is answered exactly once.
pub async fn claim(tx: &mut Tx, backend: Backend, limit: i64, now: i64) -> Result<Vec<Request>> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "UPDATE signup_requests SET state = 'processed', processed_at = $1
         WHERE id IN (SELECT id FROM signup_requests WHERE state = 'new' ORDER BY id LIMIT $2{lock})
         RETURNING id, org_id, email, locale, charged_bucket, charged_window"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(limit).fetch_all(tx.conn()).await?;
    rows.iter()
        .map(|r| {
            Ok(Request {
                id: r.try_get(0)?,
                org_id: r.try_get(1)?,
                email: r.try_get(2)?,
                locale: r.try_get(3)?,
                charged: match (r.try_get::<Option<String>, _>(4)?, r.try_get::<Option<i64>, _>(5)?) {
                    (Some(b), Some(w)) => Some((b, w)),
                    _ => None,
                },
            })
        })
        .collect()
}

/// A password reset request (same life cycle as a signup request, without an organisation).
#[derive(Clone, Debug)]
pub struct ResetRequest {
    pub id: i64,
    pub email: String,
    pub locale: String,
    pub charged: Option<(String, i64)>,
}

pub async fn insert_reset(
    tx: &mut Tx,
    email: &str,
    locale: &str,
    charged: (&str, i64),
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO password_reset_requests (email, locale, charged_bucket, charged_window, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(email)
    .bind(locale)
    .bind(charged.0)
    .bind(charged.1)
    .bind(now)
    .execute(tx.conn())
    .await?;
    tx.enqueued += 1;
    Ok(())
}

pub async fn claim_resets(tx: &mut Tx, backend: Backend, limit: i64, now: i64) -> Result<Vec<ResetRequest>> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "UPDATE password_reset_requests SET state = 'processed', processed_at = $1
         WHERE id IN (SELECT id FROM password_reset_requests WHERE state = 'new' ORDER BY id LIMIT $2{lock})
         RETURNING id, email, locale, charged_bucket, charged_window"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(limit).fetch_all(tx.conn()).await?;
    rows.iter()
        .map(|r| {
            Ok(ResetRequest {
                id: r.try_get(0)?,
                email: r.try_get(1)?,
                locale: r.try_get(2)?,
                charged: match (r.try_get::<Option<String>, _>(3)?, r.try_get::<Option<i64>, _>(4)?) {
                    (Some(b), Some(w)) => Some((b, w)),
                    _ => None,
                },
            })
        })
        .collect()
}

/// Whether any request of `table` waits (a plain read, so an idle worker takes no write lock).
async fn any_new(pool: &sqlx::AnyPool, sql: &'static str) -> Result<bool> {
    Ok(sqlx::query(sql).fetch_optional(pool).await?.is_some())
}

pub async fn any_new_signup(pool: &sqlx::AnyPool) -> Result<bool> {
    any_new(pool, "SELECT 1 FROM signup_requests WHERE state = 'new' LIMIT 1").await
}

pub async fn any_new_reset(pool: &sqlx::AnyPool) -> Result<bool> {
    any_new(pool, "SELECT 1 FROM password_reset_requests WHERE state = 'new' LIMIT 1").await
}
