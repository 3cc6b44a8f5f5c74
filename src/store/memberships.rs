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

/// One membership with its user, as staff and the member see it.
#[derive(Clone, Debug)]
pub struct Membership {
    pub id: i64,
    pub org_id: i64,
    pub user_id: i64,
    pub email: String,
    pub username: Option<String>,
    pub role: MembershipRole,
    pub status: MembershipStatus,
    pub plan: Option<String>,
    pub member_since: Option<i64>,
    pub renews_at: Option<i64>,
}

pub async fn find<'c, E: Executor<'c, Database = sqlx::Any>>(e: E, id: i64) -> Result<Option<Membership>> {
    let row = sqlx::query(
        "SELECT m.id, m.org_id, m.user_id, u.email, u.username, m.role, m.status, m.plan, m.member_since, m.renews_at
         FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.id = $1",
    )
    .bind(id)
    .fetch_optional(e)
    .await?;
    let corrupt = |e: crate::domain::UnknownValue| StoreError::Corrupt(e.to_string());
    row.map(|r| {
        Ok(Membership {
            id: r.try_get(0)?,
            org_id: r.try_get(1)?,
            user_id: r.try_get(2)?,
            email: r.try_get(3)?,
            username: r.try_get(4)?,
            role: MembershipRole::parse(&r.try_get::<String, _>(5)?).map_err(corrupt)?,
            status: MembershipStatus::parse(&r.try_get::<String, _>(6)?).map_err(corrupt)?,
            plan: r.try_get(7)?,
            member_since: r.try_get(8)?,
            renews_at: r.try_get(9)?,
        })
    })
    .transpose()
}

/// The membership of a user in an organisation given by slug.
pub async fn find_for_user<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    user_id: i64,
    slug: &str,
) -> Result<Option<i64>> {
    let row = sqlx::query(
        "SELECT m.id FROM memberships m JOIN organisations o ON o.id = m.org_id WHERE m.user_id = $1 AND o.slug = $2",
    )
    .bind(user_id)
    .bind(slug)
    .fetch_optional(e)
    .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// Changes status (only from `from`, so concurrent changes cannot both apply) and role.
/// Becoming active for the first time sets `member_since`.
pub async fn set_status(
    conn: &mut AnyConnection,
    id: i64,
    from: MembershipStatus,
    to: MembershipStatus,
    now: i64,
) -> Result<bool> {
    let since = (to == MembershipStatus::Active).then_some(now);
    Ok(sqlx::query(
        "UPDATE memberships SET status = $3, member_since = COALESCE(member_since, $4) WHERE id = $1 AND status = $2",
    )
    .bind(id)
    .bind(from.as_str())
    .bind(to.as_str())
    .bind(since)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

pub async fn set_role(conn: &mut AnyConnection, id: i64, role: MembershipRole) -> Result<()> {
    sqlx::query("UPDATE memberships SET role = $2 WHERE id = $1")
        .bind(id)
        .bind(role.as_str())
        .execute(conn)
        .await?;
    Ok(())
}
