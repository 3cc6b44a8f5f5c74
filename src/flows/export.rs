//! Handing over everything Portico holds about a person (SPEC §3.11): to themselves
//! (`/account/export`) and, audited, to staff for any member (the member page's button and
//! `GET /api/v1/orgs/{slug}/members/{id}/export`). One JSON document: the account, memberships,
//! member records, agreements, keys, authorisations, notes about them, second factors by name,
//! connected applications, sessions, emails sent to them (subject and date), payments, and the
//! audit events about them. Nothing about anyone else: see `store::export`.

use serde_json::{Value, json};

use super::account::{Me, record, user};
use super::{Ctx, FlowResult};
use crate::store::{self, Store, audit, now};

/// Names the document's shape, for whoever reads it back.
pub const FORMAT: &str = "portico-person-export-1";

async fn document(store: &Store, user: &store::users::User) -> FlowResult<Value> {
    let mut doc = serde_json::Map::new();
    doc.insert("format".into(), FORMAT.into());
    doc.insert("generated_at".into(), crate::domain::rfc3339(now()).into());
    doc.extend(store::export::person(store.pool(), user.id, user.email.as_str()).await?);
    Ok(Value::Object(doc))
}

/// The signed-in person's own export (audited as `account.exported`).
pub async fn own(store: &Store, me: &Me<'_>) -> FlowResult<Value> {
    let user = user(store, me.user_id).await?;
    let mut tx = store.begin().await?;
    record(&mut tx, &user, me.origin, "account.exported", json!({})).await?;
    tx.commit().await?;
    document(store, &user).await
}

/// A member's export for staff, recorded (`member.exported`, with who asked) before it is
/// produced.
pub async fn member(store: &Store, ctx: &Ctx, slug: &str, membership_id: i64) -> FlowResult<Value> {
    let record = super::members::get(store, ctx, slug, membership_id).await?;
    let user = user(store, record.membership.user_id).await?;
    let mut tx = store.begin().await?;
    audit::record(
        tx.conn(),
        audit::NewEvent {
            actor: &ctx.actor,
            origin: &ctx.origin,
            action: "member.exported",
            target: Some(user.email.as_str()),
            org_id: Some(record.org.id),
            details: json!({ "membership": membership_id }),
        },
    )
    .await?;
    tx.commit().await?;
    document(store, &user).await
}
