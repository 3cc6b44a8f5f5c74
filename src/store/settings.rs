use sqlx::{AnyConnection, Executor, Row};

use super::Result;

pub async fn get<'c, E: Executor<'c, Database = sqlx::Any>>(e: E, key: &str) -> Result<Option<String>> {
    let row = sqlx::query("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(e).await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

pub async fn set(conn: &mut AnyConnection, key: &str, value: &str, by: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO settings (key, value, updated_at, updated_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (key) DO UPDATE SET value = $2, updated_at = $3, updated_by = $4",
    )
    .bind(key)
    .bind(value)
    .bind(super::now())
    .bind(by)
    .execute(conn)
    .await?;
    Ok(())
}
