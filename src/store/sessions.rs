use sqlx::{AnyConnection, Executor, Row};

use super::Result;
use crate::domain::StaffRole;

/// The signed-in user behind a session cookie.
#[derive(Clone, Debug)]
pub struct SessionUser {
    pub user_id: i64,
    pub email: String,
    pub staff_role: Option<StaffRole>,
    pub locale: Option<String>,
    /// When the session was last seen (recorded at most every few minutes).
    pub last_seen_at: i64,
    /// When this session was opened: the sign-in (`auth_time` in OpenID Connect).
    pub signed_in_at: i64,
    /// How it was signed in, space-separated (`pwd`, `otp`, `mfa`…: OpenID Connect's `amr`).
    pub amr: String,
    /// When the person last proved who they are in this session (the sign-in, or a second
    /// factor or password checked since): sensitive actions want it recent.
    pub verified_at: i64,
    /// Whether the account has a second factor that counts.
    pub has_factor: bool,
    /// Whether an organisation the person belongs to requires one of them.
    pub org_requires_factor: bool,
}

/// One of a user's sessions, as their account page lists it.
#[derive(Clone, Debug)]
pub struct SessionInfo {
    /// The stored hash of the session's cookie: names the session without revealing it.
    pub id_hash: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_seen_at: i64,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
}

pub async fn insert(
    conn: &mut AnyConnection,
    id_hash: &str,
    user_id: i64,
    (now, expires_at): (i64, i64),
    amr: &str,
    origin: &super::audit::Origin,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, created_at, expires_at, last_seen_at, client_ip, user_agent, amr, verified_at)
         VALUES ($1, $2, $3, $4, $3, $5, $6, $7, $3)",
    )
    .bind(id_hash)
    .bind(user_id)
    .bind(now)
    .bind(expires_at)
    .bind(origin.client_ip.as_deref())
    .bind(origin.user_agent.as_deref().map(|ua| ua.chars().take(300).collect::<String>()))
    .bind(amr)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records that the person proved who they are again in this session (a second factor or the
/// password, for a sensitive action).
pub async fn verified(conn: &mut AnyConnection, id_hash: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE sessions SET verified_at = $2 WHERE id_hash = $1")
        .bind(id_hash)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records that a session was used now.
pub async fn touch<'c, E: Executor<'c, Database = sqlx::Any>>(e: E, id_hash: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
        .bind(now)
        .bind(id_hash)
        .execute(e)
        .await?;
    Ok(())
}

/// A user's live sessions, most recently used first.
pub async fn list_for_user<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    user_id: i64,
    now: i64,
) -> Result<Vec<SessionInfo>> {
    let rows = sqlx::query(
        "SELECT id_hash, created_at, expires_at, COALESCE(last_seen_at, created_at), client_ip, user_agent
         FROM sessions WHERE user_id = $1 AND expires_at > $2 ORDER BY 4 DESC, 2 DESC",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(SessionInfo {
                id_hash: r.try_get(0)?,
                created_at: r.try_get(1)?,
                expires_at: r.try_get(2)?,
                last_seen_at: r.try_get(3)?,
                client_ip: r.try_get(4)?,
                user_agent: r.try_get(5)?,
            })
        })
        .collect()
}

/// Ends one of a user's sessions (named by its hash); whether it was theirs and still there.
pub async fn delete_of_user(conn: &mut AnyConnection, user_id: i64, id_hash: &str) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM sessions WHERE id_hash = $1 AND user_id = $2")
        .bind(id_hash)
        .bind(user_id)
        .execute(conn)
        .await?
        .rows_affected())
}

/// Ends every session of a user but one.
pub async fn delete_others(conn: &mut AnyConnection, user_id: i64, keep_hash: &str) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
        .bind(user_id)
        .bind(keep_hash)
        .execute(conn)
        .await?
        .rows_affected())
}

pub async fn delete(conn: &mut AnyConnection, id_hash: &str) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(conn)
        .await?
        .rows_affected())
}

pub async fn find_user<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    id_hash: &str,
    now: i64,
) -> Result<Option<SessionUser>> {
    let row = sqlx::query(
        "SELECT u.id, u.email, u.staff_role, u.locale, COALESCE(s.last_seen_at, s.created_at), s.created_at,
                s.amr, COALESCE(s.verified_at, s.created_at),
                (SELECT COUNT(*) FROM totp_factors t WHERE t.user_id = u.id AND t.confirmed_at IS NOT NULL)
                  + (SELECT COUNT(*) FROM passkeys k WHERE k.user_id = u.id),
                (SELECT COUNT(*) FROM memberships m JOIN organisations o ON o.id = m.org_id
                 WHERE m.user_id = u.id AND m.status <> 'banned'
                   AND (o.second_factor = 'everyone' OR (o.second_factor = 'admins' AND m.role IN ('admin', 'owner'))))
         FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.id_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL",
    )
    .bind(id_hash)
    .bind(now)
    .fetch_optional(e)
    .await?;
    row.map(|r| {
        Ok(SessionUser {
            user_id: r.try_get(0)?,
            email: r.try_get(1)?,
            staff_role: super::users::staff_role_column(&r, "staff_role")?,
            locale: r.try_get(3)?,
            last_seen_at: r.try_get(4)?,
            signed_in_at: r.try_get(5)?,
            amr: r.try_get(6)?,
            verified_at: r.try_get(7)?,
            has_factor: r.try_get::<i64, _>(8)? > 0,
            org_requires_factor: r.try_get::<i64, _>(9)? > 0,
        })
    })
    .transpose()
}

pub async fn delete_expired(conn: &mut AnyConnection, now: i64) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(conn)
        .await?
        .rows_affected())
}

/// Ends every session of a user (after a password change).
pub async fn delete_for_user(conn: &mut AnyConnection, user_id: i64) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?
        .rows_affected())
}
