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

/// Members per page of an organisation export (one statement each, plus two for their keys
/// and authorisations): memory stays the same whatever the organisation's size.
pub const MEMBERS_PER_PAGE: i64 = 500;

/// The start of an organisation's export (admin; audited as `org.exported`): one JSON line
/// each for the organisation, its plans, its catalogue, its devices (no tokens) and its webhook
/// endpoints (no secrets). The members follow, page by page ([`org_members`]).
pub async fn org_head(store: &Store, ctx: &Ctx, slug: &str) -> FlowResult<(i64, Vec<String>)> {
    ctx.require_admin()?;
    let org = super::orgs::get(store, ctx, slug).await?;
    let pool = store.pool();
    let mut tx = store.begin().await?;
    audit::record(
        tx.conn(),
        audit::NewEvent {
            actor: &ctx.actor,
            origin: &ctx.origin,
            action: "org.exported",
            target: Some(&org.slug),
            org_id: Some(org.id),
            details: json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    let mut lines = vec![json!({
        "type": "organisation", "format": "portico-org-export-1", "generated_at": crate::domain::rfc3339(now()),
        "slug": org.slug, "name": org.name, "kind": org.kind, "company_name": org.company_name,
        "signup": org.signup, "activation": org.activation, "requires_waiver": org.requires_waiver,
        "requires_id_check": org.requires_id_check, "past_due_grace_days": org.past_due_grace_days,
        "min_age": org.min_age, "second_factor": org.second_factor, "created_at": org.created_at,
    })];
    for p in store::plans::list(pool, org.id).await? {
        lines.push(json!({
            "type": "plan", "name": p.name, "price_id": p.price_id, "display_price": p.display_price,
            "interval": p.interval, "active": p.active,
        }));
    }
    for c in store::records::catalogue_entries(pool, org.id).await? {
        lines.push(json!({ "type": "authorisation", "name": c.name, "valid_days": c.valid_days, "requires": c.requires }));
    }
    for d in store::access::list(pool, org.id).await? {
        lines.push(json!({
            "type": "device", "name": d.name, "requires": d.requires, "created_at": d.created_at,
            "revoked_at": d.revoked_at, "last_seen_at": d.last_seen_at,
        }));
    }
    for w in store::webhooks::endpoints_of(pool, org.id).await? {
        lines.push(json!({
            "type": "webhook_endpoint", "url": w.url, "events": w.event_types, "enabled": w.enabled,
            "created_at": w.created_at,
        }));
    }
    Ok((org.id, lines.into_iter().map(|l| l.to_string()).collect()))
}

/// The next page of member lines after membership id `after`; the last id of the page, or
/// `None` when there are no more.
pub async fn org_members(store: &Store, org_id: i64, after: i64) -> FlowResult<(Vec<String>, Option<i64>)> {
    let page = store::export::members_page(store.pool(), org_id, after, MEMBERS_PER_PAGE).await?;
    let next = (page.len() as i64 == MEMBERS_PER_PAGE).then(|| page.last().map(|m| m.0)).flatten();
    Ok((page.into_iter().map(|(_, line)| line.to_string()).collect(), next))
}

/// The whole organisation export as a stream of chunks of JSON lines: `head` first, then the
/// members page by page, each page read when the previous one has been taken.
pub fn org_lines(
    store: Store,
    org_id: i64,
    head: Vec<String>,
) -> impl futures_util::Stream<Item = FlowResult<String>> + Send + 'static {
    futures_util::stream::unfold(Some((head, Some(0i64))), move |state| {
        let store = store.clone();
        async move {
            let (head, after) = state?;
            if !head.is_empty() {
                return Some((Ok(head.join("\n") + "\n"), Some((Vec::new(), after))));
            }
            match org_members(&store, org_id, after?).await {
                Ok((lines, _)) if lines.is_empty() => None,
                Ok((lines, next)) => Some((Ok(lines.join("\n") + "\n"), Some((Vec::new(), next)))),
                Err(e) => Some((Err(e), None)),
            }
        }
    })
}
