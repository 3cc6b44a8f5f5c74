//! Second factors (SPEC §3.10): a user's TOTP, recovery codes, and sign-ins waiting for their
//! second step. Every use is a conditional update, so two requests with one code cannot both
//! succeed.

use sqlx::{AnyConnection, Executor, Row};

use super::Result;

/// A user's TOTP factor.
#[derive(Clone, Debug)]
pub struct Totp {
    pub secret_sealed: String,
    pub created_at: i64,
    /// `None` until a code confirmed it: it does not count before.
    pub confirmed_at: Option<i64>,
    /// The last step whose code was accepted.
    pub last_step: i64,
    pub last_used_at: Option<i64>,
}

pub async fn totp<'c, E: Executor<'c, Database = sqlx::Any>>(e: E, user_id: i64) -> Result<Option<Totp>> {
    let row = sqlx::query(
        "SELECT secret_sealed, created_at, confirmed_at, last_step, last_used_at FROM totp_factors WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(e)
    .await?;
    row.map(|r| {
        Ok(Totp {
            secret_sealed: r.try_get(0)?,
            created_at: r.try_get(1)?,
            confirmed_at: r.try_get(2)?,
            last_step: r.try_get(3)?,
            last_used_at: r.try_get(4)?,
        })
    })
    .transpose()
}

/// Starts an enrolment: a new unconfirmed secret replaces an unconfirmed one. False when a
/// confirmed TOTP exists (it must be removed first).
pub async fn start_totp(conn: &mut AnyConnection, user_id: i64, sealed: &str, at: i64) -> Result<bool> {
    sqlx::query("DELETE FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NULL")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    let added = sqlx::query(
        "INSERT INTO totp_factors (user_id, secret_sealed, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(user_id)
    .bind(sealed)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(added.rows_affected() == 1)
}

/// Confirms the enrolment with the step of a valid code (which is then used).
pub async fn confirm_totp(conn: &mut AnyConnection, user_id: i64, step: i64, at: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE totp_factors SET confirmed_at = $3, last_step = $2, last_used_at = $3
         WHERE user_id = $1 AND confirmed_at IS NULL",
    )
    .bind(user_id)
    .bind(step)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Uses a code's step: only a step later than the last accepted one (so a code is accepted
/// once, even by two requests at the same moment).
pub async fn use_totp_step(conn: &mut AnyConnection, user_id: i64, step: i64, at: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE totp_factors SET last_step = $2, last_used_at = $3
         WHERE user_id = $1 AND confirmed_at IS NOT NULL AND last_step < $2",
    )
    .bind(user_id)
    .bind(step)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete_totp(conn: &mut AnyConnection, user_id: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM totp_factors WHERE user_id = $1").bind(user_id).execute(conn).await?;
    Ok(done.rows_affected())
}

/// Replaces a user's recovery codes with a new set (the old ones are void).
pub async fn replace_recovery_codes(
    conn: &mut AnyConnection,
    user_id: i64,
    hashes: &[String],
    at: i64,
) -> Result<()> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id).execute(&mut *conn).await?;
    for hash in hashes {
        sqlx::query("INSERT INTO recovery_codes (code_hash, user_id, created_at) VALUES ($1, $2, $3)")
            .bind(hash)
            .bind(user_id)
            .bind(at)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub async fn delete_recovery_codes(conn: &mut AnyConnection, user_id: i64) -> Result<u64> {
    let done =
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id).execute(conn).await?;
    Ok(done.rows_affected())
}

/// Uses a recovery code of this user, once.
pub async fn use_recovery_code(conn: &mut AnyConnection, user_id: i64, hash: &str, at: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
    )
    .bind(user_id)
    .bind(hash)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A user's recovery codes: (unused, when the set was made, when one was last used).
pub async fn recovery_codes<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    user_id: i64,
) -> Result<Option<(i64, i64, Option<i64>)>> {
    let row = sqlx::query(
        "SELECT COUNT(*) - COUNT(used_at), MIN(created_at), MAX(used_at) FROM recovery_codes WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_one(e)
    .await?;
    let made: Option<i64> = row.try_get(1)?;
    made.map(|made| Ok((row.try_get(0)?, made, row.try_get(2)?))).transpose()
}

/// Whether a user has a second factor that counts (a confirmed TOTP or a passkey).
pub async fn has_factor<'c, E: Executor<'c, Database = sqlx::Any>>(e: E, user_id: i64) -> Result<bool> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL)
              + (SELECT COUNT(*) FROM passkeys WHERE user_id = $1)",
    )
    .bind(user_id)
    .fetch_one(e)
    .await?;
    Ok(row.try_get::<i64, _>(0)? > 0)
}

/// A sign-in waiting for its second step.
#[derive(Clone, Debug)]
pub struct Pending {
    pub user_id: i64,
    pub next_path: Option<String>,
}

pub async fn insert_pending(
    conn: &mut AnyConnection,
    id_hash: &str,
    user_id: i64,
    next_path: Option<&str>,
    at: i64,
    expires_at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO pending_sign_ins (id_hash, user_id, next_path, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id_hash)
    .bind(user_id)
    .bind(next_path)
    .bind(at)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn pending<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    id_hash: &str,
    now: i64,
) -> Result<Option<Pending>> {
    let row = sqlx::query(
        "SELECT p.user_id, p.next_path FROM pending_sign_ins p JOIN users u ON u.id = p.user_id
         WHERE p.id_hash = $1 AND p.expires_at > $2 AND u.disabled_at IS NULL",
    )
    .bind(id_hash)
    .bind(now)
    .fetch_optional(e)
    .await?;
    row.map(|r| Ok(Pending { user_id: r.try_get(0)?, next_path: r.try_get(1)? })).transpose()
}

/// Ends a pending sign-in; false if it was gone already (another request finished it).
pub async fn delete_pending(conn: &mut AnyConnection, id_hash: &str) -> Result<bool> {
    let done =
        sqlx::query("DELETE FROM pending_sign_ins WHERE id_hash = $1").bind(id_hash).execute(conn).await?;
    Ok(done.rows_affected() == 1)
}

/// Ends every sign-in of a user waiting for its second step.
pub async fn delete_pending_of(conn: &mut AnyConnection, user_id: i64) -> Result<u64> {
    let done =
        sqlx::query("DELETE FROM pending_sign_ins WHERE user_id = $1").bind(user_id).execute(conn).await?;
    Ok(done.rows_affected())
}

pub async fn delete_expired_pending(conn: &mut AnyConnection, now: i64) -> Result<u64> {
    let done =
        sqlx::query("DELETE FROM pending_sign_ins WHERE expires_at <= $1").bind(now).execute(conn).await?;
    Ok(done.rows_affected())
}

/// A user's passkey, as their security page lists it.
#[derive(Clone, Debug)]
pub struct PasskeyRow {
    pub id: i64,
    pub user_id: i64,
    /// The credential id, base64url.
    pub cred_id: String,
    pub name: String,
    /// The credential as webauthn-rs keeps it (JSON).
    pub credential: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

macro_rules! passkey_columns {
    () => {
        "id, user_id, cred_id, name, credential, created_at, last_used_at"
    };
}

fn passkey_row(r: &sqlx::any::AnyRow) -> Result<PasskeyRow> {
    Ok(PasskeyRow {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        cred_id: r.try_get(2)?,
        name: r.try_get(3)?,
        credential: r.try_get(4)?,
        created_at: r.try_get(5)?,
        last_used_at: r.try_get(6)?,
    })
}

pub async fn passkeys_of<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    user_id: i64,
) -> Result<Vec<PasskeyRow>> {
    let rows =
        sqlx::query(concat!("SELECT ", passkey_columns!(), " FROM passkeys WHERE user_id = $1 ORDER BY id"))
            .bind(user_id)
            .fetch_all(e)
            .await?;
    rows.iter().map(passkey_row).collect()
}

pub async fn passkey_by_cred<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    cred_id: &str,
) -> Result<Option<PasskeyRow>> {
    let row = sqlx::query(concat!("SELECT ", passkey_columns!(), " FROM passkeys WHERE cred_id = $1"))
        .bind(cred_id)
        .fetch_optional(e)
        .await?;
    row.as_ref().map(passkey_row).transpose()
}

/// Adds a passkey; a credential registered already (to anyone) is a conflict (unique index).
pub async fn insert_passkey(
    conn: &mut AnyConnection,
    user_id: i64,
    cred_id: &str,
    name: &str,
    credential: &str,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO passkeys (user_id, cred_id, name, credential, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(user_id)
    .bind(cred_id)
    .bind(name)
    .bind(credential)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a use: the credential as updated (its counter), and when.
pub async fn passkey_used(conn: &mut AnyConnection, id: i64, credential: &str, at: i64) -> Result<()> {
    sqlx::query("UPDATE passkeys SET credential = $2, last_used_at = $3 WHERE id = $1")
        .bind(id)
        .bind(credential)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn delete_passkey(conn: &mut AnyConnection, user_id: i64, id: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM passkeys WHERE user_id = $1 AND id = $2")
        .bind(user_id)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

pub async fn delete_passkeys_of(conn: &mut AnyConnection, user_id: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM passkeys WHERE user_id = $1").bind(user_id).execute(conn).await?;
    Ok(done.rows_affected())
}

/// A user's handle for authenticators, made on first use (a random UUID).
pub async fn webauthn_handle(conn: &mut AnyConnection, user_id: i64, fresh: &str) -> Result<String> {
    sqlx::query("UPDATE users SET webauthn_handle = $2 WHERE id = $1 AND webauthn_handle IS NULL")
        .bind(user_id)
        .bind(fresh)
        .execute(&mut *conn)
        .await?;
    let row =
        sqlx::query("SELECT webauthn_handle FROM users WHERE id = $1").bind(user_id).fetch_one(conn).await?;
    Ok(row.try_get(0)?)
}

/// The user whose authenticator handle this is.
pub async fn user_by_webauthn_handle<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    handle: &str,
) -> Result<Option<i64>> {
    let row = sqlx::query("SELECT id FROM users WHERE webauthn_handle = $1 AND disabled_at IS NULL")
        .bind(handle)
        .fetch_optional(e)
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

pub async fn insert_challenge(
    conn: &mut AnyConnection,
    id_hash: &str,
    purpose: &str,
    user_id: Option<i64>,
    state: &str,
    at: i64,
    expires_at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO webauthn_challenges (id_hash, purpose, user_id, state, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id_hash)
    .bind(purpose)
    .bind(user_id)
    .bind(state)
    .bind(at)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes a live ceremony state, once: (user id, state). Whoever deletes it has it.
pub async fn take_challenge(
    conn: &mut AnyConnection,
    id_hash: &str,
    purpose: &str,
    now: i64,
) -> Result<Option<(Option<i64>, String)>> {
    let row = sqlx::query(
        "DELETE FROM webauthn_challenges WHERE id_hash = $1 AND purpose = $2 AND expires_at > $3
         RETURNING user_id, state",
    )
    .bind(id_hash)
    .bind(purpose)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
}

pub async fn delete_expired_challenges(conn: &mut AnyConnection, now: i64) -> Result<u64> {
    let done =
        sqlx::query("DELETE FROM webauthn_challenges WHERE expires_at <= $1").bind(now).execute(conn).await?;
    Ok(done.rows_affected())
}
