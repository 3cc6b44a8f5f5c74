use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Executor, Row};

use super::outbox::Delivery;
use super::{Result, StoreError};
use crate::domain::{InvitationState, MembershipRole};

#[derive(Clone, Debug)]
pub struct Invitation {
    pub id: i64,
    pub org_id: i64,
    pub email: String,
    pub role: MembershipRole,
    pub locale: Option<String>,
    /// The effective state: a pending invitation past its expiry reads as `expired`.
    pub state: InvitationState,
    pub inviter: String,
    pub expires_at: i64,
    pub send_count: i64,
    pub created_at: i64,
    /// The latest email of this invitation.
    pub delivery: Option<Delivery>,
}

pub struct NewInvitation<'a> {
    pub org_id: i64,
    pub email: &'a str,
    pub role: MembershipRole,
    pub locale: Option<&'a str>,
    pub invited_by: Option<i64>,
    pub inviter: &'a str,
    pub expires_at: i64,
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

// $1 is always "now", to derive the effective state.
macro_rules! select {
    () => {
        "SELECT i.id, i.org_id, i.email, i.role, i.locale,
                CASE WHEN i.state = 'pending' AND i.expires_at <= $1 THEN 'expired' ELSE i.state END AS state,
                i.inviter, i.expires_at, i.send_count, i.created_at,
                o.state AS delivery_state, o.attempts AS delivery_attempts, o.last_error AS delivery_error,
                o.updated_at AS delivery_updated_at
         FROM invitations i
         LEFT JOIN outbox o ON o.id = (SELECT MAX(x.id) FROM outbox x
                                       WHERE x.belongs_to_kind = 'invitation' AND x.belongs_to_id = i.id) "
    };
}

fn from_row(r: &AnyRow) -> Result<Invitation> {
    let delivery_state: Option<String> = r.try_get(10)?;
    Ok(Invitation {
        id: r.try_get(0)?,
        org_id: r.try_get(1)?,
        email: r.try_get(2)?,
        role: MembershipRole::parse(&r.try_get::<String, _>(3)?).map_err(corrupt)?,
        locale: r.try_get(4)?,
        state: InvitationState::parse(&r.try_get::<String, _>(5)?).map_err(corrupt)?,
        inviter: r.try_get(6)?,
        expires_at: r.try_get(7)?,
        send_count: r.try_get(8)?,
        created_at: r.try_get(9)?,
        delivery: match delivery_state {
            None => None,
            Some(state) => Some(Delivery {
                state,
                attempts: r.try_get(11)?,
                last_error: r.try_get(12)?,
                updated_at: crate::domain::rfc3339(r.try_get(13)?),
            }),
        },
    })
}

/// Marks a pending invitation whose time ran out as expired, so a new one may be made; true if
/// there was one.
pub async fn expire_stale(conn: &mut AnyConnection, org_id: i64, email: &str, now: i64) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE invitations SET state = 'expired', updated_at = $3
         WHERE org_id = $1 AND email = $2 AND state = 'pending' AND expires_at <= $3",
    )
    .bind(org_id)
    .bind(email)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        > 0)
}

/// Inserts a pending invitation; `None` if the address has a pending one in the organisation
/// already (the partial unique index decides, so of concurrent inserts exactly one wins).
pub async fn insert(conn: &mut AnyConnection, new: &NewInvitation<'_>, now: i64) -> Result<Option<i64>> {
    let row = sqlx::query(
        "INSERT INTO invitations (org_id, email, role, locale, state, invited_by, inviter, expires_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $8) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(new.org_id)
    .bind(new.email)
    .bind(new.role.as_str())
    .bind(new.locale)
    .bind(new.invited_by)
    .bind(new.inviter)
    .bind(new.expires_at)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

pub async fn find<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    id: i64,
    now: i64,
) -> Result<Option<Invitation>> {
    let row = sqlx::query(concat!(select!(), "WHERE i.id = $2")).bind(now).bind(id).fetch_optional(e).await?;
    row.as_ref().map(from_row).transpose()
}

/// The pending invitation of an address in an organisation, if any.
pub async fn find_pending<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    org_id: i64,
    email: &str,
    now: i64,
) -> Result<Option<Invitation>> {
    let row = sqlx::query(concat!(select!(), "WHERE i.org_id = $2 AND i.email = $3 AND i.state = 'pending'"))
        .bind(now)
        .bind(org_id)
        .bind(email)
        .fetch_optional(e)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// An organisation's invitations, newest first, optionally in one effective state.
pub async fn list<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    org_id: i64,
    state: Option<InvitationState>,
    now: i64,
) -> Result<Vec<Invitation>> {
    let rows = sqlx::query(concat!(
        "SELECT * FROM (",
        select!(),
        "WHERE i.org_id = $2) listed WHERE ($3 IS NULL OR listed.state = $3) ORDER BY listed.id DESC"
    ))
    .bind(now)
    .bind(org_id)
    .bind(state.map(|s| s.as_str()))
    .fetch_all(e)
    .await?;
    rows.iter().map(from_row).collect()
}

/// A resend: one more email, a new expiry. Only while still pending.
pub async fn record_resend(conn: &mut AnyConnection, id: i64, expires_at: i64, now: i64) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE invitations SET send_count = send_count + 1, expires_at = $2, updated_at = $3
         WHERE id = $1 AND state = 'pending'",
    )
    .bind(id)
    .bind(expires_at)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Moves a pending invitation to `accepted` or `revoked`; false if it was not pending.
pub async fn close(
    conn: &mut AnyConnection,
    id: i64,
    state: InvitationState,
    accepted_by: Option<i64>,
    now: i64,
) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE invitations SET state = $2, accepted_by = $3, updated_at = $4 WHERE id = $1 AND state = 'pending'",
    )
    .bind(id)
    .bind(state.as_str())
    .bind(accepted_by)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}
