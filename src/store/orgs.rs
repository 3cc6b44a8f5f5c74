use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Executor, Row};

use super::{Result, StoreError};
use crate::domain::{MembershipRole, MembershipStatus, OrgKind, SignupMode, Slug, display_name};

#[derive(Clone, Debug)]
pub struct Org {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub kind: OrgKind,
    pub company_name: Option<String>,
    pub signup: SignupMode,
    pub activation: String,
    pub created_at: i64,
    /// Minimum age for signup, in years (0: none).
    pub min_age: i64,
    /// Activation gates: a signed waiver, an ID check recorded by staff.
    pub requires_waiver: bool,
    pub requires_id_check: bool,
    /// Days a membership whose payment is past due keeps its access.
    pub past_due_grace_days: i64,
    /// Who must have a second factor: `none`, `admins` (owners and admins) or `everyone`.
    pub second_factor: String,
}

/// The settings staff may change on an organisation (all of them, already validated).
pub struct OrgSettings<'a> {
    pub name: &'a str,
    pub signup: SignupMode,
    pub activation: &'a str,
    pub requires_waiver: bool,
    pub requires_id_check: bool,
    pub past_due_grace_days: i64,
    pub second_factor: &'a str,
}

impl Org {
    pub fn display_name(&self) -> &str {
        display_name(self.kind, &self.name, self.company_name.as_deref(), &self.slug)
    }
}

pub struct NewOrg<'a> {
    pub slug: &'a Slug,
    pub name: &'a str,
    pub kind: OrgKind,
    pub company_name: Option<&'a str>,
    pub signup: SignupMode,
}

/// The columns [`from_row_at`] reads, in its order.
macro_rules! columns {
    () => {
        "id, slug, name, kind, company_name, signup, activation, created_at, min_age, requires_waiver, \
         requires_id_check, past_due_grace_days, second_factor"
    };
}
pub(super) use columns;
pub(super) const COLUMN_COUNT: usize = 13;

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn from_row(row: &AnyRow) -> Result<Org> {
    from_row_at(row, 0)
}

/// An organisation from [`columns!`] starting at column `at` (so a join can read one too).
pub(super) fn from_row_at(row: &AnyRow, at: usize) -> Result<Org> {
    Ok(Org {
        id: row.try_get(at)?,
        slug: row.try_get(at + 1)?,
        name: row.try_get(at + 2)?,
        kind: OrgKind::parse(&row.try_get::<String, _>(at + 3)?).map_err(corrupt)?,
        company_name: row.try_get(at + 4)?,
        signup: SignupMode::parse(&row.try_get::<String, _>(at + 5)?).map_err(corrupt)?,
        activation: row.try_get(at + 6)?,
        created_at: row.try_get(at + 7)?,
        min_age: row.try_get(at + 8)?,
        requires_waiver: row.try_get::<i64, _>(at + 9)? == 1,
        requires_id_check: row.try_get::<i64, _>(at + 10)? == 1,
        past_due_grace_days: row.try_get(at + 11)?,
        second_factor: row.try_get(at + 12)?,
    })
}

pub async fn insert(conn: &mut AnyConnection, new: &NewOrg<'_>, now: i64) -> Result<Org> {
    let row = sqlx::query(concat!(
        "INSERT INTO organisations (slug, name, kind, company_name, signup, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
        columns!()
    ))
    .bind(new.slug.as_str())
    .bind(new.name)
    .bind(new.kind.as_str())
    .bind(new.company_name)
    .bind(new.signup.as_str())
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(|e| StoreError::conflict_as(e, "slug"))?;
    from_row(&row)
}

pub async fn find_by_slug<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    slug: &str,
) -> Result<Option<Org>> {
    // Only a valid slug can name an organisation; parsing folds ASCII only, so both databases
    // agree (PostgreSQL's lower() would fold the Kelvin sign into `k`).
    let Ok(slug) = crate::domain::Slug::parse(slug) else { return Ok(None) };
    let row = sqlx::query(concat!("SELECT ", columns!(), " FROM organisations WHERE lower(slug) = $1"))
        .bind(slug.as_str())
        .fetch_optional(e)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn find_by_id<'c, E: Executor<'c, Database = sqlx::Any>>(e: E, id: i64) -> Result<Option<Org>> {
    let row = sqlx::query(concat!("SELECT ", columns!(), " FROM organisations WHERE id = $1"))
        .bind(id)
        .fetch_optional(e)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub struct OrgSummary {
    pub org: Org,
    pub members: i64,
}

/// Every organisation's slug, in order.
pub async fn slugs<'c, E: Executor<'c, Database = sqlx::Any>>(e: E) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT slug FROM organisations ORDER BY slug").fetch_all(e).await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

pub async fn list<'c, E: Executor<'c, Database = sqlx::Any>>(e: E) -> Result<Vec<OrgSummary>> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        ", (SELECT COUNT(*) FROM memberships m WHERE m.org_id = organisations.id) AS members
         FROM organisations ORDER BY slug"
    ))
    .fetch_all(e)
    .await?;
    rows.iter().map(|r| Ok(OrgSummary { org: from_row(r)?, members: r.try_get("members")? })).collect()
}

#[derive(Clone, Debug)]
pub struct MemberRow {
    pub membership_id: i64,
    pub user_id: i64,
    pub email: String,
    pub username: Option<String>,
    pub role: MembershipRole,
    pub status: MembershipStatus,
    pub member_since: Option<i64>,
    /// The latest email sent to this member, if any.
    pub delivery: Option<super::outbox::Delivery>,
}

/// Optional narrowing of a member list.
#[derive(Default)]
pub struct MemberFilter<'a> {
    pub status: Option<MembershipStatus>,
    /// Matched case-insensitively anywhere in the email or username.
    pub query: Option<&'a str>,
    /// At most this many, first by email (`None`: all).
    pub limit: Option<i64>,
}

/// `%` and `_` in a search are literal characters, not patterns.
fn like_pattern(query: &str) -> String {
    let escaped: String = query
        .to_lowercase()
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("%{escaped}%")
}

pub async fn members<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    org_id: i64,
    filter: &MemberFilter<'_>,
) -> Result<Vec<MemberRow>> {
    // The page of members is chosen first, so the latest email is looked up for those only.
    let rows = sqlx::query(
        "SELECT p.id, p.user_id, p.email, p.username, p.role, p.status, p.member_since,
                o.state, o.attempts, o.last_error, o.updated_at
         FROM (SELECT m.id, m.user_id, u.email, u.username, m.role, m.status, m.member_since
               FROM memberships m
               JOIN users u ON u.id = m.user_id
               WHERE m.org_id = $1
                 AND ($2 IS NULL OR m.status = $2)
                 AND ($3 IS NULL OR lower(u.email) LIKE $3 ESCAPE '\\' OR lower(u.username) LIKE $3 ESCAPE '\\')
               ORDER BY u.email
               LIMIT $4) p
         LEFT JOIN outbox o ON o.id = (SELECT MAX(x.id) FROM outbox x WHERE x.recipient = p.email)
         ORDER BY p.email",
    )
    .bind(org_id)
    .bind(filter.status.map(|s| s.as_str()))
    .bind(filter.query.map(like_pattern))
    .bind(filter.limit.unwrap_or(i64::MAX))
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|r| {
            let state: Option<String> = r.try_get(7)?;
            Ok(MemberRow {
                membership_id: r.try_get(0)?,
                user_id: r.try_get(1)?,
                email: r.try_get(2)?,
                username: r.try_get(3)?,
                role: MembershipRole::parse(&r.try_get::<String, _>(4)?).map_err(corrupt)?,
                status: MembershipStatus::parse(&r.try_get::<String, _>(5)?).map_err(corrupt)?,
                member_since: r.try_get(6)?,
                delivery: match state {
                    None => None,
                    Some(state) => Some(super::outbox::Delivery {
                        state,
                        attempts: r.try_get(8)?,
                        last_error: r.try_get(9)?,
                        updated_at: crate::domain::rfc3339(r.try_get(10)?),
                    }),
                },
            })
        })
        .collect()
}

pub async fn update(conn: &mut AnyConnection, id: i64, s: &OrgSettings<'_>) -> Result<Org> {
    let row = sqlx::query(concat!(
        "UPDATE organisations SET name = $2, signup = $3, activation = $4, requires_waiver = $5,
             requires_id_check = $6, past_due_grace_days = $7, second_factor = $8 WHERE id = $1 RETURNING ",
        columns!()
    ))
    .bind(id)
    .bind(s.name)
    .bind(s.signup.as_str())
    .bind(s.activation)
    .bind(i64::from(s.requires_waiver))
    .bind(i64::from(s.requires_id_check))
    .bind(s.past_due_grace_days)
    .bind(s.second_factor)
    .fetch_one(conn)
    .await?;
    from_row(&row)
}
