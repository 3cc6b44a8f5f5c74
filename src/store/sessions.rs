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
}

pub async fn insert(
    conn: &mut AnyConnection,
    id_hash: &str,
    user_id: i64,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    sqlx::query("INSERT INTO sessions (id_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(id_hash)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(conn)
        .await?;
    Ok(())
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
        "SELECT u.id, u.email, u.staff_role, u.locale FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.id_hash = $1 AND s.expires_at > $2",
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
