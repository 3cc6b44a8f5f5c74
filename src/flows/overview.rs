//! An organisation at a glance (SPEC §3.12): the figures its console page opens with, and
//! `GET /api/v1/orgs/{slug}/stats`. Each figure is one indexed statement (`store::overview`).

use serde::Serialize;
use utoipa::ToSchema;

use super::{Ctx, FlowError, FlowResult};
use crate::store::{self, Store, now};

/// Months the joins and leaves cover, the current one included.
pub const MONTHS: usize = 12;
/// A device that has not fetched its access list for this long counts as silent.
pub const SILENT_AFTER_SECS: i64 = 600;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Overview {
    pub members: MembersByStatus,
    pub pending_activation: PendingActivation,
    /// The last 12 months, oldest first, the current one last.
    pub months: Vec<MonthFigures>,
    /// Active members whose Stripe subscription is active or trialing.
    pub paying_members: i64,
    pub devices: DeviceFigures,
    pub failed_deliveries: DeliveryFigures,
    /// RFC 3339.
    pub generated_at: String,
}

#[derive(Debug, Clone, Copy, Default, Serialize, ToSchema)]
pub struct MembersByStatus {
    pub total: i64,
    pub pending: i64,
    pub active: i64,
    pub suspended: i64,
    pub banned: i64,
}

/// Pending memberships and what each waits for (one may wait for several things).
#[derive(Debug, Clone, Copy, Default, Serialize, ToSchema)]
pub struct PendingActivation {
    pub total: i64,
    /// Not paid yet (organisations with a plan).
    pub payment: i64,
    /// Paid (or nothing to pay) but no signed waiver, where the organisation requires one.
    pub waiver: i64,
    /// Paid (or nothing to pay) but no recorded ID check, where required.
    pub id_check: i64,
    /// Paid (or nothing to pay), waiting for staff to activate them (manual activation).
    pub staff: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MonthFigures {
    /// `YYYY-MM` (UTC).
    pub month: String,
    /// Memberships that became active for the first time.
    pub joins: i64,
    /// Memberships that left `active` (suspended or banned).
    pub leaves: i64,
}

#[derive(Debug, Clone, Copy, Default, Serialize, ToSchema)]
pub struct DeviceFigures {
    pub total: i64,
    /// Devices that have not fetched their access list for 10 minutes, or never.
    pub silent: i64,
}

#[derive(Debug, Clone, Copy, Default, Serialize, ToSchema)]
pub struct DeliveryFigures {
    /// Webhook deliveries failing and due for another attempt.
    pub failing: i64,
    /// Webhook deliveries given up after every attempt.
    pub dead: i64,
}

/// The first instants (Unix seconds, UTC) of the last `MONTHS` months and of the next one, and
/// each month's `YYYY-MM`.
pub fn month_bounds(at: i64) -> (Vec<i64>, Vec<String>) {
    let today = time::OffsetDateTime::from_unix_timestamp(at).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let (mut year, mut month) = (today.year(), u8::from(today.month()) as i32);
    // Back to the first of the 12 months.
    month -= MONTHS as i32 - 1;
    while month < 1 {
        month += 12;
        year -= 1;
    }
    let mut bounds = Vec::with_capacity(MONTHS + 1);
    let mut labels = Vec::with_capacity(MONTHS);
    for i in 0..=MONTHS {
        let first = time::Date::from_calendar_date(
            year,
            time::Month::try_from(month as u8).unwrap_or(time::Month::January),
            1,
        )
        .map(|d| d.midnight().assume_utc().unix_timestamp())
        .unwrap_or(0);
        bounds.push(first);
        if i < MONTHS {
            labels.push(format!("{year:04}-{month:02}"));
        }
        month += 1;
        if month > 12 {
            month = 1;
            year += 1;
        }
    }
    (bounds, labels)
}

pub async fn get(store: &Store, ctx: &Ctx, slug: &str) -> FlowResult<Overview> {
    ctx.require_staff()?;
    let pool = store.pool();
    let org = store::orgs::find_by_slug(pool, slug).await?.ok_or(FlowError::NotFound)?;
    let at = now();
    let mut members = MembersByStatus::default();
    for (status, n) in store::overview::by_status(pool, org.id).await? {
        match status.as_str() {
            "pending" => members.pending = n,
            "active" => members.active = n,
            "suspended" => members.suspended = n,
            "banned" => members.banned = n,
            _ => {}
        }
        members.total += n;
    }
    let charges = store::plans::list(pool, org.id).await?.iter().any(|p| p.active);
    let pending = store::overview::pending(pool, org.id, charges).await?;
    let pending_activation = PendingActivation {
        total: pending.total,
        payment: pending.payment,
        waiver: if org.requires_waiver { pending.waiver } else { 0 },
        id_check: if org.requires_id_check { pending.id_check } else { 0 },
        staff: if org.activation == "automatic" { 0 } else { pending.ready },
    };
    let (bounds, labels) = month_bounds(at);
    let joins = store::overview::joins(pool, org.id, &bounds).await?;
    let leaves = store::overview::leaves(pool, org.id, &bounds).await?;
    let months = labels
        .into_iter()
        .zip(joins.into_iter().zip(leaves))
        .map(|(month, (joins, leaves))| MonthFigures { month, joins, leaves })
        .collect();
    let (total, silent) = store::overview::devices(pool, org.id, at - SILENT_AFTER_SECS).await?;
    let (failing, dead) = store::overview::troubled_deliveries(pool, org.id).await?;
    Ok(Overview {
        members,
        pending_activation,
        months,
        paying_members: store::overview::paying(pool, org.id).await?,
        devices: DeviceFigures { total, silent },
        failed_deliveries: DeliveryFigures { failing, dead },
        generated_at: crate::domain::rfc3339(at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twelve_months_ending_with_the_current_one() {
        // 2026-12-02T15:41:00Z
        let (bounds, labels) = month_bounds(1_796_226_060);
        assert_eq!(labels.first().map(String::as_str), Some("2026-01"));
        assert_eq!(labels.last().map(String::as_str), Some("2026-12"));
        assert_eq!(bounds.len(), 13);
        assert_eq!(bounds[0], 1_767_225_600, "2026-01-01T00:00:00Z");
        assert_eq!(bounds[12], 1_798_761_600, "2027-01-01T00:00:00Z");
        // Across a year boundary: March 2026 covers April 2025 to March 2026.
        let (_, labels) = month_bounds(1_773_000_000);
        assert_eq!((labels[0].as_str(), labels[11].as_str()), ("2025-04", "2026-03"));
    }
}
