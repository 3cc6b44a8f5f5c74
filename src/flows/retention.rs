//! Keeping only what is needed (SPEC §3.11): each kind of kept data has a retention setting in
//! days (0 keeps it forever), and once a day `serve` removes what is older, in batches, and
//! records one `retention.pruned` audit event for the run saying how much of each went. The
//! audit log's own retention is `audit::prune` (its own `audit.pruned` record).

use std::collections::BTreeMap;

use serde_json::json;

use super::FlowResult;
use crate::domain::settings::{
    EMAIL_RETENTION_DAYS, EXPIRED_TOKEN_RETENTION_DAYS, SIGNUP_REQUEST_RETENTION_DAYS,
    STRIPE_PAYLOAD_RETENTION_DAYS, SettingDef, WEBHOOK_DELIVERY_RETENTION_DAYS,
};
use crate::store::retention::{self, Kept};
use crate::store::{Store, audit, now};

/// Rows removed per statement.
const BATCH: i64 = 5000;

/// The setting that decides how long `kept` stays.
pub fn setting_of(kept: Kept) -> &'static SettingDef {
    match kept {
        Kept::Emails | Kept::DevMail => &EMAIL_RETENTION_DAYS,
        Kept::WebhookDeliveries | Kept::WebhookEvents => &WEBHOOK_DELIVERY_RETENTION_DAYS,
        Kept::SignupRequests => &SIGNUP_REQUEST_RETENTION_DAYS,
        Kept::Tokens | Kept::OidcCodes | Kept::OidcTokens => &EXPIRED_TOKEN_RETENTION_DAYS,
        Kept::StripePayloads => &STRIPE_PAYLOAD_RETENTION_DAYS,
    }
}

/// One run: every kind past its retention removed (or, for Stripe payloads, scrubbed), one
/// batch per transaction, then one audit record when anything went. Returns what went, by kind.
pub async fn run(store: &Store) -> FlowResult<BTreeMap<&'static str, u64>> {
    let at = now();
    let mut removed = BTreeMap::new();
    let mut days_of = BTreeMap::new();
    for kept in Kept::ALL {
        let def = setting_of(kept);
        let days = super::settings::get(store, def).await?;
        if days == 0 {
            continue;
        }
        days_of.insert(def.key, days);
        let cutoff = at - days * 86_400;
        let mut total = 0;
        loop {
            let mut tx = store.begin().await?;
            let n = retention::remove_batch(tx.conn(), kept, cutoff, BATCH).await?;
            tx.commit().await?;
            total += n;
            if n < BATCH as u64 {
                break;
            }
        }
        if total > 0 {
            removed.insert(kept.name(), total);
        }
    }
    if !removed.is_empty() {
        let mut tx = store.begin().await?;
        audit::record(
            tx.conn(),
            audit::NewEvent {
                actor: &audit::Actor::system("retention"),
                origin: &audit::Origin::default(),
                action: "retention.pruned",
                target: None,
                org_id: None,
                details: json!({ "removed": removed, "retention_days": days_of }),
            },
        )
        .await?;
        tx.commit().await?;
    }
    Ok(removed)
}
