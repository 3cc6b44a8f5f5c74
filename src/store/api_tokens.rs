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
        "SELECT t.id, u.id, u.email, u.staff_role FROM api_tokens t JOIN users u ON u.id = t.user_id
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.staff_role IS NOT NULL",
    )
    .bind(token_hash)
    .fetch_optional(e)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let Some(staff_role) = super::users::staff_role_column(&r, "staff_role")? else {
        return Ok(None);
    };
    Ok(Some(TokenOwner { token_id: r.try_get(0)?, user_id: r.try_get(1)?, email: r.try_get(2)?, staff_role }))
}
