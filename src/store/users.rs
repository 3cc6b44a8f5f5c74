use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Executor, Row};

use super::{Result, StoreError};
use crate::domain::{Email, StaffRole};

#[derive(Clone, Debug)]
pub struct User {
    pub id: i64,
    pub email: Email,
    pub username: Option<String>,
    pub password_hash: Option<String>,
    pub locale: Option<String>,
    pub staff_role: Option<StaffRole>,
    /// When an admin disabled the account: it cannot sign in and has no sessions or tokens.
    pub disabled_at: Option<i64>,
    /// When the person was erased (SPEC §3.11): the account is anonymised and disabled.
    pub erased_at: Option<i64>,
}

macro_rules! columns {
    () => {
        "id, email, username, password_hash, locale, staff_role, disabled_at, erased_at"
    };
}
const COLUMN_COUNT: usize = 8;

pub(crate) fn staff_role_column(row: &AnyRow, column: &str) -> Result<Option<StaffRole>> {
    row.try_get::<Option<String>, _>(column)?
        .map(|s| StaffRole::parse(&s).map_err(|e| StoreError::Corrupt(e.to_string())))
        .transpose()
}

fn from_row(row: &AnyRow) -> Result<User> {
    Ok(User {
        id: row.try_get("id")?,
        email: Email::from_trusted(row.try_get("email")?),
        username: row.try_get("username")?,
        password_hash: row.try_get("password_hash")?,
        locale: row.try_get("locale")?,
        staff_role: staff_role_column(row, "staff_role")?,
        disabled_at: row.try_get("disabled_at")?,
        erased_at: row.try_get("erased_at")?,
    })
}

pub async fn find_by_email<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    email: &Email,
) -> Result<Option<User>> {
    let row = sqlx::query(concat!("SELECT ", columns!(), " FROM users WHERE lower(email) = $1"))
        .bind(email.as_str())
        .fetch_optional(e)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The ids of the users with these addresses, as (address, id); unknown addresses are absent.
pub async fn ids_by_email<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    emails: &[Email],
) -> Result<Vec<(String, i64)>> {
    if emails.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=emails.len()).map(|i| format!("${i}")).collect();
    let sql =
        format!("SELECT lower(email), id FROM users WHERE lower(email) IN ({})", placeholders.join(", "));
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for email in emails {
        query = query.bind(email.as_str());
    }
    let rows = query.fetch_all(e).await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

/// The user with this email, if any, and whether they are a member of `org_id`: one query.
pub async fn find_by_email_in_org<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    email: &Email,
    org_id: i64,
) -> Result<Option<(User, bool)>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        ", (SELECT COUNT(*) FROM memberships m WHERE m.org_id = $2 AND m.user_id = users.id)
         FROM users WHERE lower(email) = $1"
    ))
    .bind(email.as_str())
    .bind(org_id)
    .fetch_optional(e)
    .await?;
    row.as_ref().map(|r| Ok((from_row(r)?, r.try_get::<i64, _>(COLUMN_COUNT)? > 0))).transpose()
}

pub async fn insert(
    conn: &mut AnyConnection,
    email: &Email,
    staff_role: Option<StaffRole>,
    password_hash: Option<&str>,
    now: i64,
) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO users (email, staff_role, password_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(email.as_str())
    .bind(staff_role.map(|r| r.as_str()))
    .bind(password_hash)
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(|e| StoreError::conflict_as(e, "email"))?;
    Ok(row.try_get(0)?)
}

pub async fn set_staff_role_and_password(
    conn: &mut AnyConnection,
    user_id: i64,
    role: StaffRole,
    password_hash: &str,
) -> Result<()> {
    sqlx::query("UPDATE users SET staff_role = $1, password_hash = $2 WHERE id = $3")
        .bind(role.as_str())
        .bind(password_hash)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Every staff account with when it was created, by address.
pub async fn staff<'c, E: Executor<'c, Database = sqlx::Any>>(e: E) -> Result<Vec<(User, i64)>> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        ", created_at FROM users WHERE staff_role IS NOT NULL ORDER BY email"
    ))
    .fetch_all(e)
    .await?;
    rows.iter().map(|r| Ok((from_row(r)?, r.try_get(COLUMN_COUNT)?))).collect()
}

/// "Some other enabled admin exists" as SQL, for a change to `$1` that would remove an admin.
const ANOTHER_ADMIN: &str =
    "EXISTS (SELECT 1 FROM users o WHERE o.staff_role = 'admin' AND o.disabled_at IS NULL AND o.id <> $1)";

/// Sets a staff role unless that would leave no enabled admin; whether it was set.
pub async fn set_staff_role_keeping_an_admin(
    conn: &mut AnyConnection,
    user_id: i64,
    role: StaffRole,
) -> Result<bool> {
    let sql = format!(
        "UPDATE users SET staff_role = $2 WHERE id = $1 AND staff_role IS NOT NULL
         AND ($2 = 'admin' OR {ANOTHER_ADMIN})"
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user_id).bind(role.as_str()).execute(conn).await?;
    Ok(done.rows_affected() == 1)
}

/// Disables an account unless it is the last enabled admin; whether it was disabled.
pub async fn disable_keeping_an_admin(conn: &mut AnyConnection, user_id: i64, now: i64) -> Result<bool> {
    let sql = format!(
        "UPDATE users SET disabled_at = $2 WHERE id = $1 AND disabled_at IS NULL
         AND (staff_role IS NULL OR staff_role <> 'admin' OR {ANOTHER_ADMIN})"
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user_id).bind(now).execute(conn).await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_disabled(conn: &mut AnyConnection, user_id: i64, at: Option<i64>) -> Result<()> {
    sqlx::query("UPDATE users SET disabled_at = $2 WHERE id = $1")
        .bind(user_id)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn find_by_id<'c, E: Executor<'c, Database = sqlx::Any>>(e: E, id: i64) -> Result<Option<User>> {
    let row = sqlx::query(concat!("SELECT ", columns!(), " FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(e)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Changes a user's address; `Conflict("email")` when another account has it.
pub async fn set_email(conn: &mut AnyConnection, user_id: i64, email: &Email) -> Result<()> {
    sqlx::query("UPDATE users SET email = $1 WHERE id = $2")
        .bind(email.as_str())
        .bind(user_id)
        .execute(conn)
        .await
        .map_err(|e| StoreError::conflict_as(e, "email"))?;
    Ok(())
}

/// Gives a user a username (an import's); `Conflict("username")` when someone else has it.
pub async fn set_username(
    conn: &mut AnyConnection,
    user_id: i64,
    username: &crate::domain::Username,
) -> Result<()> {
    sqlx::query("UPDATE users SET username = $1 WHERE id = $2")
        .bind(username.as_str())
        .bind(user_id)
        .execute(conn)
        .await
        .map_err(|e| StoreError::conflict_as(e, "username"))?;
    Ok(())
}

pub async fn set_locale(conn: &mut AnyConnection, user_id: i64, locale: &str) -> Result<()> {
    sqlx::query("UPDATE users SET locale = $1 WHERE id = $2")
        .bind(locale)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_password(conn: &mut AnyConnection, user_id: i64, password_hash: &str) -> Result<()> {
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(password_hash)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Creates a member's user with a username and password. `Conflict("username")` or
/// `Conflict("email")` says which unique index refused it.
pub async fn insert_with_username(
    conn: &mut AnyConnection,
    email: &Email,
    username: &str,
    password_hash: &str,
    locale: &str,
    now: i64,
) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO users (email, username, password_hash, locale, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(email.as_str())
    .bind(username)
    .bind(password_hash)
    .bind(locale)
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(|e| match StoreError::unique_violation(&e) {
        Some(which) if which.contains("username") => StoreError::Conflict("username"),
        Some(_) => StoreError::Conflict("email"),
        None => StoreError::from(e),
    })?;
    Ok(row.try_get(0)?)
}

pub async fn username_taken<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    username: &crate::domain::Username,
) -> Result<bool> {
    // A parsed username is already ASCII lower case; the database folds nothing.
    let row = sqlx::query("SELECT COUNT(*) FROM users WHERE lower(username) = $1")
        .bind(username.as_str())
        .fetch_one(e)
        .await?;
    Ok(row.try_get::<i64, _>(0)? > 0)
}
