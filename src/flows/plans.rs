//! Membership plans: each a Stripe price with a name and a displayed price. Admins create and
//! deactivate them; an organisation with no active plan has no payment step.

use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{Ctx, FlowError, FlowResult, invalid_fields};
use crate::domain::member::text;
use crate::store::audit;
use crate::store::plans::{self, NewPlan, Plan};
use crate::store::{Store, StoreError, now};

/// The intervals Stripe bills in.
pub const INTERVALS: [&str; 4] = ["day", "week", "month", "year"];

/// What an admin submits to create a plan.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanInput {
    /// Shown to members, e.g. "Full membership" (at most 100 characters).
    pub name: String,
    /// The Stripe price, `price_…`.
    pub price_id: String,
    /// Shown next to the name, e.g. "€30 / month" (at most 40 characters).
    pub display_price: String,
    /// `day`, `week`, `month` or `year`.
    pub interval: String,
}

/// A Stripe price id: `price_` and 1 to 100 letters or digits.
pub fn price_id(input: &str) -> Option<&str> {
    let id = input.trim();
    let rest = id.strip_prefix("price_")?;
    ((1..=100).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(id)
}

pub async fn create(store: &Store, ctx: &Ctx, slug: &str, input: &PlanInput) -> FlowResult<Plan> {
    ctx.require_admin()?;
    let org = super::orgs::get(store, ctx, slug).await?;
    let mut problems = Vec::new();
    let name = text(&input.name, "name", 100, true, &mut problems);
    let display_price = text(&input.display_price, "display_price", 40, true, &mut problems);
    let price = price_id(&input.price_id);
    if price.is_none() {
        problems.push(("price_id", "invalid_price_id"));
    }
    let interval = INTERVALS.iter().find(|i| **i == input.interval.trim());
    if interval.is_none() {
        problems.push(("interval", "invalid_interval"));
    }
    let (Some(name), Some(display_price), Some(price), Some(interval), true) =
        (name, display_price, price, interval, problems.is_empty())
    else {
        return Err(invalid_fields(problems));
    };
    let mut tx = store.begin().await?;
    let plan = plans::insert(
        tx.conn(),
        &NewPlan {
            org_id: org.id,
            name: &name,
            price_id: price,
            display_price: &display_price,
            interval,
            created_at: now(),
        },
    )
    .await
    .map_err(|e| match e {
        StoreError::Conflict(_) => FlowError::Conflict { code: "price_taken" },
        other => other.into(),
    })?;
    audit::record(
        tx.conn(),
        audit::NewEvent {
            actor: &ctx.actor,
            origin: &ctx.origin,
            action: "plan.created",
            target: Some(&plan.price_id),
            org_id: Some(org.id),
            details: json!({ "plan_id": plan.id, "name": plan.name, "interval": plan.interval }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(plan)
}

pub async fn list(store: &Store, ctx: &Ctx, slug: &str) -> FlowResult<Vec<Plan>> {
    let org = super::orgs::get(store, ctx, slug).await?;
    Ok(plans::list(store.pool(), org.id).await?)
}

pub async fn deactivate(store: &Store, ctx: &Ctx, slug: &str, id: i64) -> FlowResult<Plan> {
    ctx.require_admin()?;
    let org = super::orgs::get(store, ctx, slug).await?;
    let mut tx = store.begin().await?;
    let plan = plans::deactivate(tx.conn(), org.id, id).await?.ok_or(FlowError::NotFound)?;
    audit::record(
        tx.conn(),
        audit::NewEvent {
            actor: &ctx.actor,
            origin: &ctx.origin,
            action: "plan.deactivated",
            target: Some(&plan.price_id),
            org_id: Some(org.id),
            details: json!({ "plan_id": plan.id }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(plan)
}
