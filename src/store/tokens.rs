//! Emailed tokens: single-use, expiring, bound to a purpose and a subject. Only the SHA-256 of
//! a token is stored. Consuming is one conditional UPDATE, so a token is used at most once even
//! when two requests race.

use sqlx::{AnyConnection, Executor, Row};

use super::Result;
use crate::domain::SecretToken;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Invitation,
    EmailVerification,
    PasswordReset,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Invitation => "invitation",
            Purpose::EmailVerification => "email_verification",
            Purpose::PasswordReset => "password_reset",
        }
    }
}

/// What a live token points at.
#[derive(Clone, Debug)]
pub struct TokenSubject {
    pub subject_kind: String,
    pub subject_id: i64,
    pub email: String,
}

/// Issues a token for a subject, invalidating the subject's earlier tokens of that purpose.
pub async fn issue(
    conn: &mut AnyConnection,
    purpose: Purpose,
    subject: (&str, i64),
    email: &str,
    expires_at: i64,
    now: i64,
) -> Result<SecretToken> {
    sqlx::query(
        "UPDATE tokens SET revoked_at = $4
         WHERE purpose = $1 AND subject_kind = $2 AND subject_id = $3 AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(purpose.as_str())
    .bind(subject.0)
    .bind(subject.1)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let token = SecretToken::generate("");
    insert(conn, &token, purpose, subject, email, expires_at, now).await?;
    Ok(token)
}

/// Stores a token made by the caller for a subject that has no live one (a new invitation):
/// nothing to revoke.
pub async fn insert(
    conn: &mut AnyConnection,
    token: &SecretToken,
    purpose: Purpose,
    subject: (&str, i64),
    email: &str,
    expires_at: i64,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO tokens (token_hash, purpose, subject_kind, subject_id, email, expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(token.hash())
    .bind(purpose.as_str())
    .bind(subject.0)
    .bind(subject.1)
    .bind(email)
    .bind(expires_at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The subject of a live token (unused, not revoked, not expired), without using it up.
pub async fn peek<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    purpose: Purpose,
    presented: &str,
    now: i64,
) -> Result<Option<TokenSubject>> {
    let row = sqlx::query(
        "SELECT subject_kind, subject_id, email FROM tokens
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $3",
    )
    .bind(SecretToken::hash_presented(presented))
    .bind(purpose.as_str())
    .bind(now)
    .fetch_optional(e)
    .await?;
    row.map(|r| {
        Ok(TokenSubject { subject_kind: r.try_get(0)?, subject_id: r.try_get(1)?, email: r.try_get(2)? })
    })
    .transpose()
}

/// Uses a live token up; `None` if it was not live (unknown, used, revoked or expired).
pub async fn consume(
    conn: &mut AnyConnection,
    purpose: Purpose,
    presented: &str,
    now: i64,
) -> Result<Option<TokenSubject>> {
    let row = sqlx::query(
        "UPDATE tokens SET used_at = $3
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $3
         RETURNING subject_kind, subject_id, email",
    )
    .bind(SecretToken::hash_presented(presented))
    .bind(purpose.as_str())
    .bind(now)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(TokenSubject { subject_kind: r.try_get(0)?, subject_id: r.try_get(1)?, email: r.try_get(2)? })
    })
    .transpose()
}

/// Reserves a live token for one request for `lease_secs`; false when it is used, revoked,
/// expired, unknown, or reserved by another request whose lease has not ended.
pub async fn claim(
    conn: &mut AnyConnection,
    purpose: Purpose,
    presented: &str,
    now: i64,
    lease_secs: i64,
) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE tokens SET claimed_until = $4
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $3
           AND (claimed_until IS NULL OR claimed_until <= $3)",
    )
    .bind(SecretToken::hash_presented(presented))
    .bind(purpose.as_str())
    .bind(now)
    .bind(now + lease_secs)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Ends a reservation made by [`claim`] (the request failed before it used the token).
pub async fn release(conn: &mut AnyConnection, purpose: Purpose, presented: &str) -> Result<()> {
    sqlx::query(
        "UPDATE tokens SET claimed_until = NULL WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL",
    )
    .bind(SecretToken::hash_presented(presented))
    .bind(purpose.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// Revokes every live token of a subject (for example when an invitation is revoked).
pub async fn revoke_subject(conn: &mut AnyConnection, subject: (&str, i64), now: i64) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE tokens SET revoked_at = $3
         WHERE subject_kind = $1 AND subject_id = $2 AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(subject.0)
    .bind(subject.1)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected())
}

/// After a password is set: every outstanding password-reset and invitation token sent to this
/// address stops working.
pub async fn revoke_after_password_set(conn: &mut AnyConnection, email: &str, now: i64) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE tokens SET revoked_at = $2
         WHERE email = $1 AND purpose IN ('invitation', 'password_reset') AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(email)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected())
}
