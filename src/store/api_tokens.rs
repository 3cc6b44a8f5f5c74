use sqlx::{AnyConnection, Executor, Row};

use super::Result;
use crate::domain::StaffRole;

/// The staff member an API token acts for.
#[derive(Clone, Debug)]
pub struct TokenOwner {
    pub token_id: i64,
    pub user_id: i64,
    pub email: String,
    pub staff_role: StaffRole,
    pub last_used_at: Option<i64>,
}

/// An API token as the console lists it (never its secret).
#[derive(Clone, Debug)]
pub struct TokenInfo {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

pub async fn insert(
    conn: &mut AnyConnection,
    user_id: i64,
    name: &str,
    token_hash: &str,
    now: i64,
) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO api_tokens (user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(user_id)
    .bind(name)
    .bind(token_hash)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

/// A live token of a user who is still staff; `None` for anything else.
pub async fn find_staff_owner<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    token_hash: &str,
) -> Result<Option<TokenOwner>> {
    let row = sqlx::query(
        "SELECT t.id, u.id, u.email, u.staff_role, t.last_used_at FROM api_tokens t JOIN users u ON u.id = t.user_id
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.staff_role IS NOT NULL AND u.disabled_at IS NULL",
    )
    .bind(token_hash)
    .fetch_optional(e)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let Some(staff_role) = super::users::staff_role_column(&r, "staff_role")? else {
        return Ok(None);
    };
    Ok(Some(TokenOwner {
        token_id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        email: r.try_get(2)?,
        staff_role,
        last_used_at: r.try_get(4)?,
    }))
}

/// Records that a token was used now.
pub async fn touch<'c, E: Executor<'c, Database = sqlx::Any>>(e: E, token_id: i64, now: i64) -> Result<()> {
    sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
        .bind(now)
        .bind(token_id)
        .execute(e)
        .await?;
    Ok(())
}

/// Every token of the staff, newest first.
pub async fn list<'c, E: Executor<'c, Database = sqlx::Any>>(e: E) -> Result<Vec<TokenInfo>> {
    let rows = sqlx::query(
        "SELECT t.id, t.user_id, t.name, t.created_at, t.last_used_at, t.revoked_at
         FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE u.staff_role IS NOT NULL
         ORDER BY t.id DESC",
    )
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(TokenInfo {
                id: r.try_get(0)?,
                user_id: r.try_get(1)?,
                name: r.try_get(2)?,
                created_at: r.try_get(3)?,
                last_used_at: r.try_get(4)?,
                revoked_at: r.try_get(5)?,
            })
        })
        .collect()
}

/// Revokes one token; the user it belonged to, if it was live.
pub async fn revoke(conn: &mut AnyConnection, token_id: i64, now: i64) -> Result<Option<i64>> {
    let row = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING user_id",
    )
    .bind(now)
    .bind(token_id)
    .fetch_optional(conn)
    .await?;
    row.map(|r| Ok(r.try_get(0)?)).transpose()
}

/// Revokes every live token of a user; how many.
pub async fn revoke_all_of(conn: &mut AnyConnection, user_id: i64, now: i64) -> Result<u64> {
    Ok(sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(user_id)
        .execute(conn)
        .await?
        .rows_affected())
}
