use sqlx::{AnyConnection, Executor, Row};

use super::{Result, StoreError};
use sqlx::any::AnyRow;

use super::orgs::Org;
use super::records::Profile;
use crate::domain::{MembershipRole, MembershipStatus};

/// The columns [`from_row`] reads, in its order (`m`: memberships, `u`: users).
macro_rules! columns {
    () => {
        "m.id, m.org_id, m.user_id, u.email, u.username, m.role, m.status, m.plan, m.member_since, m.renews_at,
         m.payment_ref, m.stripe_customer, m.stripe_subscription, m.subscription_status, m.subscription_seen,
         m.plan_id, m.paid_at, m.past_due_since, m.suspended_for_payment, m.suspended_until"
    };
}
const COLUMN_COUNT: usize = 20;

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

/// One of a user's memberships with its organisation and profile.
#[derive(Clone, Debug)]
pub struct UserMembership {
    pub membership: Membership,
    pub org: Org,
    /// All defaults when the membership has no record yet.
    pub profile: Profile,
}

/// A user's memberships with their organisations and profiles, in one query (by organisation
/// name): what the dashboard shows of every membership.
pub async fn of_user<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    user_id: i64,
) -> Result<Vec<UserMembership>> {
    // The joined tables come through subqueries so that `o.*` and `r.*` are the columns their
    // modules read, in their order; both databases flatten them.
    let rows = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        ", o.*, r.* FROM memberships m JOIN users u ON u.id = m.user_id
         JOIN (SELECT ",
        super::orgs::columns!(),
        " FROM organisations) o ON o.id = m.org_id
         LEFT JOIN (SELECT membership_id, ",
        super::records::profile_columns!(),
        " FROM member_records) r ON r.membership_id = m.id
         WHERE m.user_id = $1 ORDER BY o.name, o.id"
    ))
    .bind(user_id)
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(UserMembership {
                membership: from_row(r)?,
                org: super::orgs::from_row_at(r, COLUMN_COUNT)?,
                profile: super::records::profile_at(r, COLUMN_COUNT + super::orgs::COLUMN_COUNT)?
                    .unwrap_or_default(),
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
    /// When a timed suspension ends by itself.
    pub suspended_until: Option<i64>,
    pub payment: Payment,
}

/// What Stripe has told us about a membership's payment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Payment {
    /// The opaque reference sent to Stripe; the only thing a payment is bound by.
    pub reference: Option<String>,
    pub customer: Option<String>,
    pub subscription: Option<String>,
    /// Stripe's subscription status (`active`, `past_due`, `canceled`, …).
    pub subscription_status: Option<String>,
    /// `created` of the newest event applied for the subscription.
    pub seen: Option<i64>,
    pub plan_id: Option<i64>,
    /// When the first payment was recorded.
    pub paid_at: Option<i64>,
    pub past_due_since: Option<i64>,
    /// Suspended because of its payment: a later payment lifts it.
    pub suspended_for_payment: bool,
}

fn from_row(r: &AnyRow) -> Result<Membership> {
    let corrupt = |e: crate::domain::UnknownValue| StoreError::Corrupt(e.to_string());
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
        suspended_until: r.try_get(19)?,
        payment: Payment {
            reference: r.try_get(10)?,
            customer: r.try_get(11)?,
            subscription: r.try_get(12)?,
            subscription_status: r.try_get(13)?,
            seen: r.try_get(14)?,
            plan_id: r.try_get(15)?,
            paid_at: r.try_get(16)?,
            past_due_since: r.try_get(17)?,
            suspended_for_payment: r.try_get::<i64, _>(18)? == 1,
        },
    })
}

pub async fn find<'c, E: Executor<'c, Database = sqlx::Any>>(e: E, id: i64) -> Result<Option<Membership>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.id = $1"
    ))
    .bind(id)
    .fetch_optional(e)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The membership of a user in an organisation, whole.
pub async fn find_of_user<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    org_id: i64,
    user_id: i64,
) -> Result<Option<Membership>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 AND m.user_id = $2"
    ))
    .bind(org_id)
    .bind(user_id)
    .fetch_optional(e)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The membership of a user in an organisation.
pub async fn id_of(conn: &mut AnyConnection, org_id: i64, user_id: i64) -> Result<Option<i64>> {
    let row = sqlx::query("SELECT id FROM memberships WHERE org_id = $1 AND user_id = $2")
        .bind(org_id)
        .bind(user_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
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
    let changed = sqlx::query(
        "UPDATE memberships SET status = $3, member_since = COALESCE(member_since, $4), suspended_for_payment = 0,
             suspended_until = NULL
         WHERE id = $1 AND status = $2",
    )
    .bind(id)
    .bind(from.as_str())
    .bind(to.as_str())
    .bind(since)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    // The organisation overview counts leaves per month from these rows.
    if changed {
        sqlx::query(
            "INSERT INTO status_changes (org_id, membership_id, from_status, to_status, at)
             SELECT org_id, id, $2, $3, $4 FROM memberships WHERE id = $1",
        )
        .bind(id)
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(now)
        .execute(conn)
        .await?;
    }
    Ok(changed)
}

pub async fn set_role(conn: &mut AnyConnection, id: i64, role: MembershipRole) -> Result<()> {
    sqlx::query("UPDATE memberships SET role = $2 WHERE id = $1")
        .bind(id)
        .bind(role.as_str())
        .execute(conn)
        .await?;
    Ok(())
}

/// Gives the membership its payment reference unless it has one; returns the one it has.
pub async fn ensure_payment_ref(conn: &mut AnyConnection, id: i64, candidate: &str) -> Result<String> {
    let row = sqlx::query(
        "UPDATE memberships SET payment_ref = COALESCE(payment_ref, $2) WHERE id = $1 RETURNING payment_ref",
    )
    .bind(id)
    .bind(candidate)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

/// The membership a payment reference, or a bound subscription, belongs to.
pub async fn by_payment<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    reference: Option<&str>,
    subscription: Option<&str>,
) -> Result<Option<i64>> {
    let row = sqlx::query(
        "SELECT id FROM memberships WHERE payment_ref = $1 OR stripe_subscription = $2 ORDER BY payment_ref = $1 DESC LIMIT 1",
    )
    .bind(reference)
    .bind(subscription)
    .fetch_optional(e)
    .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// What one Stripe event says about a membership's subscription.
#[derive(Debug, Clone, Default)]
pub struct Observed<'a> {
    pub customer: Option<&'a str>,
    pub subscription: Option<&'a str>,
    /// The subscription's status, when the event tells it.
    pub status: Option<&'a str>,
    pub period_end: Option<i64>,
    pub plan: Option<(i64, &'a str)>,
    /// The event's `created`.
    pub at: i64,
}

/// Records what an event says, unless a newer event was already applied for the subscription
/// (then nothing changes and the answer is false). The condition is in the UPDATE, so two
/// events racing for one membership are ordered by the database. A status in good standing
/// (`active`, `trialing`) records the first payment and ends a past-due period; `past_due`
/// starts one (at the event's time) unless one is running.
pub async fn apply_observed(conn: &mut AnyConnection, id: i64, o: &Observed<'_>, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE memberships SET
            stripe_customer = COALESCE($2, stripe_customer),
            stripe_subscription = COALESCE($3, stripe_subscription),
            subscription_status = COALESCE($4, subscription_status),
            subscription_seen = CASE WHEN $4 IS NULL THEN subscription_seen ELSE $5 END,
            renews_at = COALESCE($6, renews_at),
            plan_id = COALESCE($7, plan_id),
            plan = COALESCE($8, plan),
            paid_at = CASE WHEN $4 IN ('active', 'trialing') THEN COALESCE(paid_at, $9) ELSE paid_at END,
            past_due_since = CASE WHEN $4 = 'past_due' THEN COALESCE(past_due_since, $5)
                                  WHEN $4 IS NULL THEN past_due_since ELSE NULL END
         WHERE id = $1 AND ($4 IS NULL OR subscription_seen IS NULL OR subscription_seen <= $5)",
    )
    .bind(id)
    .bind(o.customer)
    .bind(o.subscription)
    .bind(o.status)
    .bind(o.at)
    .bind(o.period_end)
    .bind(o.plan.map(|p| p.0))
    .bind(o.plan.map(|p| p.1))
    .bind(now)
    .execute(conn)
    .await
    .map_err(|e| StoreError::conflict_as(e, "subscription"))?;
    Ok(done.rows_affected() == 1)
}

/// The terms an import gives a membership; `None` leaves a value as it is.
#[derive(Debug, Default)]
pub struct ImportedTerms<'a> {
    /// The plan's id and name.
    pub plan: Option<(i64, &'a str)>,
    pub member_since: Option<i64>,
    /// Paid through (the renewal date).
    pub renews_at: Option<i64>,
    pub customer: Option<&'a str>,
    /// Binding a subscription another membership holds is `Conflict("subscription")`.
    pub subscription: Option<&'a str>,
}

pub async fn set_imported_terms(conn: &mut AnyConnection, id: i64, t: &ImportedTerms<'_>) -> Result<()> {
    sqlx::query(
        "UPDATE memberships SET plan_id = COALESCE($2, plan_id), plan = COALESCE($3, plan),
             member_since = COALESCE($4, member_since), renews_at = COALESCE($5, renews_at),
             stripe_customer = COALESCE($6, stripe_customer), stripe_subscription = COALESCE($7, stripe_subscription)
         WHERE id = $1",
    )
    .bind(id)
    .bind(t.plan.map(|p| p.0))
    .bind(t.plan.map(|p| p.1))
    .bind(t.member_since)
    .bind(t.renews_at)
    .bind(t.customer)
    .bind(t.subscription)
    .execute(conn)
    .await
    .map_err(|e| StoreError::conflict_as(e, "subscription"))?;
    Ok(())
}

/// Sets when a suspension ends by itself.
pub async fn set_suspended_until(conn: &mut AnyConnection, id: i64, until: i64) -> Result<()> {
    sqlx::query("UPDATE memberships SET suspended_until = $2 WHERE id = $1 AND status = 'suspended'")
        .bind(id)
        .bind(until)
        .execute(conn)
        .await?;
    Ok(())
}

/// Timed suspensions whose end has come: (membership, organisation).
pub async fn suspensions_due<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    now: i64,
    limit: i64,
) -> Result<Vec<(i64, i64)>> {
    let rows = sqlx::query(
        "SELECT id, org_id FROM memberships
         WHERE suspended_until IS NOT NULL AND suspended_until <= $1 AND status = 'suspended'
         ORDER BY suspended_until LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(e)
    .await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

/// Ends a timed suspension whose time has come, unless the membership changed meanwhile
/// (any status change clears `suspended_until`); true when it did.
pub async fn end_timed_suspension(conn: &mut AnyConnection, id: i64, now: i64) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE memberships SET status = 'active', suspended_until = NULL, suspended_for_payment = 0
         WHERE id = $1 AND status = 'suspended' AND suspended_until IS NOT NULL AND suspended_until <= $2",
    )
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

pub async fn set_suspended_for_payment(conn: &mut AnyConnection, id: i64, value: bool) -> Result<()> {
    sqlx::query("UPDATE memberships SET suspended_for_payment = $2 WHERE id = $1")
        .bind(id)
        .bind(i64::from(value))
        .execute(conn)
        .await?;
    Ok(())
}

/// Active memberships whose payment has been past due for longer than their organisation's
/// grace period.
pub async fn past_due_expired<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    now: i64,
    limit: i64,
) -> Result<Vec<i64>> {
    let rows = sqlx::query(
        "SELECT m.id FROM memberships m JOIN organisations o ON o.id = m.org_id
         WHERE m.past_due_since IS NOT NULL AND m.subscription_status = 'past_due' AND m.status = 'active'
           AND m.past_due_since + o.past_due_grace_days * 86400 <= $1
         ORDER BY m.past_due_since LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(e)
    .await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

/// The membership a Stripe subscription is bound to, if any.
pub async fn by_subscription<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    subscription: &str,
) -> Result<Option<i64>> {
    let row = sqlx::query("SELECT id FROM memberships WHERE stripe_subscription = $1")
        .bind(subscription)
        .fetch_optional(e)
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}
