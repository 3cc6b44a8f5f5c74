use sqlx::{AnyConnection, Executor, Row};

use super::{Result, StoreError};
use crate::domain::{MembershipRole, MembershipStatus, OrgKind, display_name};

pub async fn exists<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    org_id: i64,
    user_id: i64,
) -> Result<bool> {
    let row = sqlx::query("SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND user_id = $2")
        .bind(org_id)
        .bind(user_id)
        .fetch_one(e)
        .await?;
    Ok(row.try_get::<i64, _>(0)? > 0)
}

/// Adds a user to an organisation; `Conflict("membership")` if they are in it already.
pub async fn insert(
    conn: &mut AnyConnection,
    org_id: i64,
    user_id: i64,
    role: MembershipRole,
    status: MembershipStatus,
    now: i64,
) -> Result<i64> {
    let member_since = (status == MembershipStatus::Active).then_some(now);
    let row = sqlx::query(
        "INSERT INTO memberships (org_id, user_id, role, status, member_since, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(org_id)
    .bind(user_id)
    .bind(role.as_str())
    .bind(status.as_str())
    .bind(member_since)
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(|e| StoreError::conflict_as(e, "membership"))?;
    Ok(row.try_get(0)?)
}

/// One of a user's memberships, with what the dashboard shows of the organisation.
#[derive(Clone, Debug)]
pub struct UserMembership {
    pub org_slug: String,
    pub org_display_name: String,
    pub role: MembershipRole,
    pub status: MembershipStatus,
    pub member_since: Option<i64>,
}

pub async fn of_user<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    user_id: i64,
) -> Result<Vec<UserMembership>> {
    let rows = sqlx::query(
        "SELECT o.slug, o.name, o.kind, o.company_name, m.role, m.status, m.member_since
         FROM memberships m JOIN organisations o ON o.id = m.org_id
         WHERE m.user_id = $1 ORDER BY o.name",
    )
    .bind(user_id)
    .fetch_all(e)
    .await?;
    let corrupt = |e: crate::domain::UnknownValue| StoreError::Corrupt(e.to_string());
    rows.iter()
        .map(|r| {
            let slug: String = r.try_get(0)?;
            let name: String = r.try_get(1)?;
            let kind = OrgKind::parse(&r.try_get::<String, _>(2)?).map_err(corrupt)?;
            let company: Option<String> = r.try_get(3)?;
            Ok(UserMembership {
                org_display_name: display_name(kind, &name, company.as_deref(), &slug).to_string(),
                org_slug: slug,
                role: MembershipRole::parse(&r.try_get::<String, _>(4)?).map_err(corrupt)?,
                status: MembershipStatus::parse(&r.try_get::<String, _>(5)?).map_err(corrupt)?,
                member_since: r.try_get(6)?,
            })
        })
        .collect()
}
