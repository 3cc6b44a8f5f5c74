//! Erasure's SQL (SPEC §3.11): anonymising a person in place, table by table, in the caller's
//! transaction; the scrubbing of documents (audit details, webhook bodies, Stripe payloads)
//! is done by `domain::erasure` on the rows these functions hand out and take back.

use sqlx::{AnyConnection, Executor, Row};

use super::Result;

/// The ids of the person's memberships.
pub async fn memberships_of<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    user_id: i64,
) -> Result<Vec<i64>> {
    let rows = sqlx::query("SELECT id FROM memberships WHERE user_id = $1 ORDER BY id")
        .bind(user_id)
        .fetch_all(e)
        .await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

/// Marks the person erased, unless they are already (whether it was marked): the first write
/// of an erasure, so that two at once are ordered by the database and the second changes
/// nothing.
pub async fn claim(conn: &mut AnyConnection, user_id: i64, now: i64) -> Result<bool> {
    let done = sqlx::query("UPDATE users SET erased_at = $2 WHERE id = $1 AND erased_at IS NULL")
        .bind(user_id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The account without anything that says who it was: the address given, no username,
/// password or passkey handle, disabled, no staff role, erased now.
pub async fn anonymise_user(conn: &mut AnyConnection, user_id: i64, address: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE users SET email = $2, username = NULL, password_hash = NULL, webauthn_handle = NULL,
             staff_role = NULL, disabled_at = COALESCE(disabled_at, $3), erased_at = $3
         WHERE id = $1",
    )
    .bind(user_id)
    .bind(address)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// What the anonymisation removed, by kind.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Removed {
    pub keys: u64,
    pub authorisations: u64,
    pub notes: u64,
    pub factors: u64,
    pub links: u64,
    pub emails_dropped: u64,
    pub emails_scrubbed: u64,
}

/// Runs a statement whose only parameter, `$1`, is the user id; rows changed.
async fn of_user(conn: &mut AnyConnection, sql: &'static str, user_id: i64) -> Result<u64> {
    Ok(sqlx::query(sql).bind(user_id).execute(conn).await?.rows_affected())
}

/// Member records emptied, notes deleted, keys retired (so door lists drop them),
/// authorisations removed, of every membership of the person.
pub async fn clear_records(
    conn: &mut AnyConnection,
    user_id: i64,
    now: i64,
    removed: &mut Removed,
) -> Result<()> {
    sqlx::query(
        "UPDATE member_records SET first_name = '', last_name = '', preferred_name = NULL, pronouns = NULL,
             birthday = NULL, phone = NULL, emergency_contact = NULL, chat_handle = NULL, storage = NULL,
             custom_fields = '{}', updated_at = $2
         WHERE membership_id IN (SELECT id FROM memberships WHERE user_id = $1)",
    )
    .bind(user_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    removed.keys += sqlx::query(
        "UPDATE member_credentials SET removed_at = $2
         WHERE membership_id IN (SELECT id FROM memberships WHERE user_id = $1) AND removed_at IS NULL",
    )
    .bind(user_id)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    removed.notes += of_user(
        conn,
        "DELETE FROM member_notes WHERE membership_id IN (SELECT id FROM memberships WHERE user_id = $1)",
        user_id,
    )
    .await?;
    removed.authorisations += of_user(
        conn,
        "DELETE FROM member_authorisations WHERE membership_id IN (SELECT id FROM memberships WHERE user_id = $1)",
        user_id,
    )
    .await?;
    Ok(())
}

/// Second factors, pending sign-ins, consents and links (tokens) of the person, and every
/// link or request made out to their address.
pub async fn clear_credentials(
    conn: &mut AnyConnection,
    user_id: i64,
    old: &str,
    new: &str,
    removed: &mut Removed,
) -> Result<()> {
    for sql in [
        "DELETE FROM totp_factors WHERE user_id = $1",
        "DELETE FROM recovery_codes WHERE user_id = $1",
        "DELETE FROM passkeys WHERE user_id = $1",
    ] {
        removed.factors += of_user(conn, sql, user_id).await?;
    }
    of_user(conn, "DELETE FROM pending_sign_ins WHERE user_id = $1", user_id).await?;
    of_user(conn, "DELETE FROM oidc_consents WHERE user_id = $1", user_id).await?;
    removed.links +=
        sqlx::query("DELETE FROM tokens WHERE (subject_kind = 'user' AND subject_id = $1) OR email = $2")
            .bind(user_id)
            .bind(old)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    // Requests and invitations stay counted, under the new address; a pending invitation ends.
    for sql in [
        "UPDATE invitations SET email = $2, state = CASE WHEN state = 'pending' THEN 'revoked' ELSE state END
         WHERE email = $1",
        "UPDATE signup_requests SET email = $2, charged_bucket = NULL WHERE email = $1",
        "UPDATE password_reset_requests SET email = $2, charged_bucket = NULL WHERE email = $1",
    ] {
        sqlx::query(sql).bind(old).bind(new).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Email to the address: what waits is dropped, what went keeps its date and template but
/// neither address, subject nor body; the dev mailbox forgets it.
pub async fn clear_mail(conn: &mut AnyConnection, old: &str, new: &str, removed: &mut Removed) -> Result<()> {
    removed.emails_dropped +=
        sqlx::query("DELETE FROM outbox WHERE recipient = $1 AND state IN ('queued', 'failed')")
            .bind(old)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    removed.emails_scrubbed += sqlx::query(
        "UPDATE outbox SET recipient = $2, subject = '', body_text = NULL, body_html = NULL, charged_bucket = NULL,
             last_error = NULL
         WHERE recipient = $1",
    )
    .bind(old)
    .bind(new)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    sqlx::query("DELETE FROM dev_mailbox WHERE recipient = $1").bind(old).execute(&mut *conn).await?;
    Ok(())
}

/// Rate-limit counters named after the address (`…:{address}`), as candidates: the caller
/// keeps those that end with exactly the address.
pub async fn buckets_naming<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    old: &str,
) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT DISTINCT bucket FROM rate_limits WHERE bucket LIKE '%' || $1")
        .bind(old)
        .fetch_all(e)
        .await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

pub async fn delete_bucket(conn: &mut AnyConnection, bucket: &str) -> Result<()> {
    sqlx::query("DELETE FROM rate_limits WHERE bucket = $1").bind(bucket).execute(conn).await?;
    Ok(())
}

/// An audit row that may be about the person: what the scrubbing reads and writes.
pub struct AuditRow {
    pub id: i64,
    pub actor: String,
    pub target: Option<String>,
    pub details: String,
    /// The person did it (their IP and user agent are theirs).
    pub by_them: bool,
}

/// Audit rows the person did, is the target of, or whose details name the address.
pub async fn audit_rows(conn: &mut AnyConnection, user_id: i64, old: &str) -> Result<Vec<AuditRow>> {
    let rows = sqlx::query(
        "SELECT id, actor, target, details,
                CASE WHEN actor_user_id = $1 OR lower(actor) = $2 THEN 1 ELSE 0 END FROM audit_events
         WHERE actor_user_id = $1 OR lower(actor) = $2 OR lower(target) = $2
            OR lower(details) LIKE '%' || $2 || '%'
         ORDER BY id",
    )
    .bind(user_id)
    .bind(old)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(AuditRow {
                id: r.try_get(0)?,
                actor: r.try_get(1)?,
                target: r.try_get(2)?,
                details: r.try_get(3)?,
                by_them: r.try_get::<i64, _>(4)? == 1,
            })
        })
        .collect()
}

pub async fn rewrite_audit_row(conn: &mut AnyConnection, row: &AuditRow) -> Result<()> {
    sqlx::query(
        "UPDATE audit_events SET actor = $2, target = $3, details = $4,
             client_ip = CASE WHEN $5 = 1 THEN NULL ELSE client_ip END,
             user_agent = CASE WHEN $5 = 1 THEN NULL ELSE user_agent END
         WHERE id = $1",
    )
    .bind(row.id)
    .bind(&row.actor)
    .bind(&row.target)
    .bind(&row.details)
    .bind(i64::from(row.by_them))
    .execute(conn)
    .await?;
    Ok(())
}

/// Stored webhook events about the person's memberships, or naming the address: (id, body).
pub async fn webhook_bodies(conn: &mut AnyConnection, user_id: i64, old: &str) -> Result<Vec<(i64, String)>> {
    let rows = sqlx::query(
        "SELECT id, body FROM webhook_events
         WHERE membership_id IN (SELECT id FROM memberships WHERE user_id = $1) OR lower(body) LIKE '%' || $2 || '%'",
    )
    .bind(user_id)
    .bind(old)
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

pub async fn set_webhook_body(conn: &mut AnyConnection, id: i64, body: &str) -> Result<()> {
    sqlx::query("UPDATE webhook_events SET body = $2 WHERE id = $1")
        .bind(id)
        .bind(body)
        .execute(conn)
        .await?;
    Ok(())
}

/// Stored Stripe events about the person's memberships or customers, or naming the address.
pub async fn stripe_payloads(
    conn: &mut AnyConnection,
    user_id: i64,
    old: &str,
    customers: &[String],
) -> Result<Vec<(String, String)>> {
    let mut found = Vec::new();
    let rows = sqlx::query(
        "SELECT id, payload FROM stripe_events
         WHERE membership_id IN (SELECT id FROM memberships WHERE user_id = $1) OR lower(payload) LIKE '%' || $2 || '%'",
    )
    .bind(user_id)
    .bind(old)
    .fetch_all(&mut *conn)
    .await?;
    for r in &rows {
        found.push((r.try_get(0)?, r.try_get(1)?));
    }
    for customer in customers {
        let rows =
            sqlx::query("SELECT id, payload FROM stripe_events WHERE payload LIKE '%\"' || $1 || '\"%'")
                .bind(customer)
                .fetch_all(&mut *conn)
                .await?;
        for r in &rows {
            let id: String = r.try_get(0)?;
            if !found.iter().any(|(f, _)| *f == id) {
                found.push((id, r.try_get(1)?));
            }
        }
    }
    Ok(found)
}

pub async fn set_stripe_payload(conn: &mut AnyConnection, id: &str, payload: &str) -> Result<()> {
    sqlx::query("UPDATE stripe_events SET payload = $2 WHERE id = $1")
        .bind(id)
        .bind(payload)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn add_tombstone(conn: &mut AnyConnection, org_id: i64, hash: &str, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO erasure_tombstones (org_id, address_hash, erased_at) VALUES ($1, $2, $3)
         ON CONFLICT (org_id, address_hash) DO NOTHING",
    )
    .bind(org_id)
    .bind(hash)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The tombstones of an organisation (a few: banned members who were erased).
pub async fn tombstones_of<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    org_id: i64,
) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT address_hash FROM erasure_tombstones WHERE org_id = $1")
        .bind(org_id)
        .fetch_all(e)
        .await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

pub async fn tombstoned<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    org_id: i64,
    hash: &str,
) -> Result<bool> {
    let row = sqlx::query("SELECT 1 FROM erasure_tombstones WHERE org_id = $1 AND address_hash = $2")
        .bind(org_id)
        .bind(hash)
        .fetch_optional(e)
        .await?;
    Ok(row.is_some())
}

// ---- requests -----------------------------------------------------------------------------

/// A member's pending request: (id, requested_at, due_at).
pub async fn pending_request<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    user_id: i64,
) -> Result<Option<(i64, i64, i64)>> {
    let row = sqlx::query(
        "SELECT id, requested_at, due_at FROM erasure_requests WHERE user_id = $1 AND state = 'pending'",
    )
    .bind(user_id)
    .fetch_optional(e)
    .await?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))).transpose()
}

/// Files a request unless one is pending (the database decides); whether it was filed.
pub async fn insert_request(conn: &mut AnyConnection, user_id: i64, now: i64, due_at: i64) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO erasure_requests (user_id, requested_at, due_at) VALUES ($1, $2, $3)
         ON CONFLICT (user_id) WHERE state = 'pending' DO NOTHING",
    )
    .bind(user_id)
    .bind(now)
    .bind(due_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends the pending request as `cancelled` or `done`; whether there was one.
pub async fn end_request(conn: &mut AnyConnection, user_id: i64, state: &str, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE erasure_requests SET state = $2, decided_at = $3 WHERE user_id = $1 AND state = 'pending'",
    )
    .bind(user_id)
    .bind(state)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// People whose request is due.
pub async fn due<'c, E: Executor<'c, Database = sqlx::Any>>(e: E, now: i64, limit: i64) -> Result<Vec<i64>> {
    let rows = sqlx::query(
        "SELECT user_id FROM erasure_requests WHERE state = 'pending' AND due_at <= $1 ORDER BY due_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(e)
    .await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}
