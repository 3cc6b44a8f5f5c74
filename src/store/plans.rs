//! Membership plans of an organisation.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Executor, Row};

use super::{Result, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub id: i64,
    pub org_id: i64,
    pub name: String,
    pub price_id: String,
    pub display_price: String,
    pub interval: String,
    pub active: bool,
    pub created_at: i64,
}

pub struct NewPlan<'a> {
    pub org_id: i64,
    pub name: &'a str,
    pub price_id: &'a str,
    pub display_price: &'a str,
    pub interval: &'a str,
    pub created_at: i64,
}

const COLUMNS: &str = "id, org_id, name, price_id, display_price, interval, active, created_at";

fn plan(r: &AnyRow) -> Result<Plan> {
    Ok(Plan {
        id: r.try_get(0)?,
        org_id: r.try_get(1)?,
        name: r.try_get(2)?,
        price_id: r.try_get(3)?,
        display_price: r.try_get(4)?,
        interval: r.try_get(5)?,
        active: r.try_get::<i64, _>(6)? == 1,
        created_at: r.try_get(7)?,
    })
}

/// A price already used by a plan of this organisation is `Conflict("price_id")`.
pub async fn insert(conn: &mut AnyConnection, p: &NewPlan<'_>) -> Result<Plan> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO plans (org_id, name, price_id, display_price, interval, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    )))
    .bind(p.org_id)
    .bind(p.name)
    .bind(p.price_id)
    .bind(p.display_price)
    .bind(p.interval)
    .bind(p.created_at)
    .fetch_one(conn)
    .await
    .map_err(|e| StoreError::conflict_as(e, "price_id"))?;
    plan(&row)
}

pub async fn list<'c, E: Executor<'c, Database = sqlx::Any>>(e: E, org_id: i64) -> Result<Vec<Plan>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM plans WHERE org_id = $1 ORDER BY id"
    )))
    .bind(org_id)
    .fetch_all(e)
    .await?;
    rows.iter().map(plan).collect()
}

/// Deactivates a plan of the organisation; `None` when there is no such plan.
pub async fn deactivate(conn: &mut AnyConnection, org_id: i64, id: i64) -> Result<Option<Plan>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE plans SET active = 0 WHERE org_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(org_id)
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(plan).transpose()
}
