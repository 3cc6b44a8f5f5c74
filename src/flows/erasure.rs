//! Erasure (SPEC §3.11): a person anonymised in place, at once when staff execute it (with a
//! reason and a choice about their Stripe subscription), or after a cooling-off period when
//! they ask for it themselves (cancellable until then).
//!
//! The person, not one membership, is erased: their account and every membership they hold
//! (each organisation gets its `member.erased`). Stripe is asked first, outside the database
//! transaction: when it fails nothing is erased and the action may be retried. Then one
//! transaction anonymises everything: the account (address `erased-{id}@invalid`, no username,
//! password, factors, sessions, tokens, links), the member records, notes, keys (retired, so
//! the door lists drop them with a change record) and authorisations, the email to them
//! (queued dropped, sent kept without address, subject or body), the audit trail (the address
//! replaced, their IP and user agent removed: this is the only code that rewrites audit
//! rows, and the `member.erased` record says how many it rewrote), stored webhook bodies and
//! Stripe payloads; a banned membership leaves a tombstone of the hashed address.

use serde::Serialize;
use serde_json::json;

use super::{Ctx, FlowError, FlowResult, invalid, lifecycle};
use crate::domain::erasure::{self, StripeChoice};
use crate::domain::settings::ERASURE_COOLING_OFF_DAYS;
use crate::domain::text::{Lines, clean};
use crate::domain::{MembershipStatus, StaffRole};
use crate::store::audit::{self, Actor, Origin};
use crate::store::erasure::{self as store_erasure, Removed};
use crate::store::memberships::{self, Membership};
use crate::store::{Store, Tx, api_tokens, now, sessions, users};
use crate::stripe::{Client, StripeError};

/// What happened to one subscription.
#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionOutcome {
    pub subscription: String,
    /// `cancelled_now`, `cancels_at_period_end`, `already_ended` or `stripe_not_configured`.
    pub outcome: &'static str,
}

/// What an erasure did.
#[derive(Debug, Clone, Serialize)]
pub struct Erased {
    pub user_id: i64,
    /// The address the account has now.
    pub email: String,
    pub memberships: Vec<i64>,
    pub subscriptions: Vec<SubscriptionOutcome>,
    pub removed: Removed,
    pub audit_events_anonymised: u64,
    pub erased_at: i64,
}

/// Who asked: staff (with a reason) or the person (after the cooling-off period).
enum By<'a> {
    Staff { actor: &'a Actor, origin: &'a Origin, reason: &'a str },
    Member,
}

/// `POST /api/v1/orgs/{slug}/members/{id}/erase`: staff erase the person holding this
/// membership, at once.
pub async fn erase_member(
    store: &Store,
    stripe: Option<&Client>,
    ctx: &Ctx,
    slug: &str,
    membership_id: i64,
    reason: &str,
    choice: Option<&str>,
) -> FlowResult<Erased> {
    ctx.require_admin()?;
    let reason = match clean(reason, 500, Lines::Single) {
        Ok(Some(reason)) => reason,
        Ok(None) => return Err(invalid("reason", "required")),
        Err(e) => return Err(invalid("reason", e.code())),
    };
    let choice = StripeChoice::parse(choice).ok_or_else(|| invalid("stripe", "invalid_stripe_choice"))?;
    let record = super::members::get(store, ctx, slug, membership_id).await?;
    let by = By::Staff { actor: &ctx.actor, origin: &ctx.origin, reason: &reason };
    erase(store, stripe, record.membership.user_id, choice, by).await
}

/// `last_admin` when `user` is the only enabled staff admin.
async fn refuse_last_admin(store: &Store, user: &users::User) -> FlowResult<()> {
    if user.staff_role != Some(StaffRole::Admin) || user.disabled_at.is_some() {
        return Ok(());
    }
    let staff = users::staff(store.pool()).await?;
    let admin = |u: &users::User| u.staff_role == Some(StaffRole::Admin) && u.disabled_at.is_none();
    if staff.iter().any(|(u, _)| u.id != user.id && admin(u)) {
        Ok(())
    } else {
        Err(FlowError::Conflict { code: "last_admin" })
    }
}

/// Cancels (or ends at period end) each live subscription of the memberships.
async fn settle_stripe(
    stripe: Option<&Client>,
    held: &[Membership],
    choice: StripeChoice,
) -> FlowResult<Vec<SubscriptionOutcome>> {
    let mut outcomes = Vec::new();
    for m in held {
        let Some(sub) = &m.payment.subscription else { continue };
        let ended = m.payment.subscription_status.as_deref().is_some_and(super::payments::subscription_ended);
        let outcome = match (stripe, ended, choice) {
            (_, true, _) => "already_ended",
            (None, false, _) => "stripe_not_configured",
            (Some(client), false, StripeChoice::CancelNow) => match client.cancel_subscription(sub).await {
                Ok(_) => "cancelled_now",
                // Cancelled already (by an earlier attempt, or at Stripe): what was wanted.
                Err(StripeError::Api { status: 400 | 404, .. }) => "already_ended",
                Err(e) => return Err(e.into()),
            },
            (Some(client), false, StripeChoice::CancelAtPeriodEnd) => {
                client.update_subscription(sub, &[("cancel_at_period_end", "true")]).await?;
                "cancels_at_period_end"
            }
        };
        outcomes.push(SubscriptionOutcome { subscription: sub.clone(), outcome });
    }
    Ok(outcomes)
}

async fn erase(
    store: &Store,
    stripe: Option<&Client>,
    user_id: i64,
    choice: StripeChoice,
    by: By<'_>,
) -> FlowResult<Erased> {
    let pool = store.pool();
    let user = users::find_by_id(pool, user_id).await?.ok_or(FlowError::NotFound)?;
    if user.erased_at.is_some() {
        return Err(FlowError::Conflict { code: "already_erased" });
    }
    let mut held = Vec::new();
    for id in store_erasure::memberships_of(pool, user_id).await? {
        held.extend(memberships::find(pool, id).await?);
    }
    // Asked before Stripe: a refusal must change nothing anywhere.
    refuse_last_admin(store, &user).await?;
    let subscriptions = settle_stripe(stripe, &held, choice).await?;

    let at = now();
    let old = user.email.as_str().to_lowercase();
    let new = erasure::erased_address(user_id);
    let mut tx = store.begin().await?;
    if !store_erasure::claim(tx.conn(), user_id, at).await? {
        return Err(FlowError::Conflict { code: "already_erased" });
    }
    // Again in the transaction: the database decides a race between two admins' erasures.
    if user.staff_role.is_some()
        && user.disabled_at.is_none()
        && !users::disable_keeping_an_admin(tx.conn(), user_id, at).await?
    {
        return Err(FlowError::Conflict { code: "last_admin" });
    }
    let mut removed = Removed::default();
    for m in &held {
        if m.status == MembershipStatus::Banned {
            store_erasure::add_tombstone(tx.conn(), m.org_id, &erasure::tombstone_hash(&old), at).await?;
        }
    }
    store_erasure::clear_records(tx.conn(), user_id, at, &mut removed).await?;
    for m in &held {
        if matches!(m.status, MembershipStatus::Active | MembershipStatus::Pending) {
            memberships::set_status(tx.conn(), m.id, m.status, MembershipStatus::Suspended, at).await?;
        }
        if m.status == MembershipStatus::Active {
            lifecycle::list_changed(&mut tx, m.org_id, true, "erasure", Some(m.id), "member erased").await?;
        }
    }
    sessions::delete_for_user(tx.conn(), user_id).await?;
    api_tokens::revoke_all_of(tx.conn(), user_id, at).await?;
    super::oidc::end_user_grants(&mut tx, user_id, "erased").await?;
    store_erasure::clear_credentials(tx.conn(), user_id, &old, &new, &mut removed).await?;
    store_erasure::clear_mail(tx.conn(), &old, &new, &mut removed).await?;
    for bucket in store_erasure::buckets_naming(tx.conn(), &old).await? {
        if erasure::scrub_text(&bucket, &old, "").is_some() {
            store_erasure::delete_bucket(tx.conn(), &bucket).await?;
        }
    }
    store_erasure::anonymise_user(tx.conn(), user_id, &new, at).await?;
    let audit_events_anonymised = anonymise_audit(&mut tx, user_id, &old, &new).await?;
    scrub_documents(&mut tx, user_id, &old, &new, &held).await?;
    store_erasure::end_request(tx.conn(), user_id, "done", at).await?;
    let (actor, origin, reason, by_label) = match &by {
        By::Staff { actor, origin, reason } => ((*actor).clone(), (*origin).clone(), Some(*reason), "staff"),
        By::Member => (Actor::system("erasure"), Origin::default(), None, "member"),
    };
    for m in &held {
        let stripe: Vec<&SubscriptionOutcome> = subscriptions
            .iter()
            .filter(|s| m.payment.subscription.as_deref() == Some(&s.subscription))
            .collect();
        let details = json!({
            "by": by_label,
            "reason": reason,
            "stripe": stripe,
            "removed": removed,
            "audit_events_anonymised": audit_events_anonymised,
        });
        let about = lifecycle::About { org_id: m.org_id, membership_id: m.id, email: &new };
        lifecycle::record(&mut tx, &actor, &origin, about, "member.erased", details).await?;
    }
    if held.is_empty() {
        audit::record(
            tx.conn(),
            audit::NewEvent {
                actor: &actor,
                origin: &origin,
                action: "account.erased",
                target: Some(&new),
                org_id: None,
                details: json!({ "by": by_label, "reason": reason, "removed": removed,
                                 "audit_events_anonymised": audit_events_anonymised }),
            },
        )
        .await?;
    }
    tx.commit().await?;
    tracing::info!(user = user_id, memberships = held.len(), "person erased");
    Ok(Erased {
        user_id,
        email: new,
        memberships: held.iter().map(|m| m.id).collect(),
        subscriptions,
        removed,
        audit_events_anonymised,
        erased_at: at,
    })
}

/// The audit trail keeps what happened and when; the address becomes the erased one and, on
/// what the person did, their IP and user agent go. Returns the rows rewritten.
async fn anonymise_audit(tx: &mut Tx, user_id: i64, old: &str, new: &str) -> FlowResult<u64> {
    let mut rewritten = 0;
    for mut row in store_erasure::audit_rows(tx.conn(), user_id, old).await? {
        if let Some(actor) = erasure::scrub_text(&row.actor, old, new) {
            row.actor = actor;
        }
        if let Some(target) = row.target.as_deref().and_then(|t| erasure::scrub_text(t, old, new)) {
            row.target = Some(target);
        }
        if let Ok(mut details) = serde_json::from_str::<serde_json::Value>(&row.details)
            && erasure::scrub_json(&mut details, old, new)
        {
            row.details = details.to_string();
        }
        store_erasure::rewrite_audit_row(tx.conn(), &row).await?;
        rewritten += 1;
    }
    Ok(rewritten)
}

/// Stored webhook bodies lose the address; Stripe payloads about the person lose every
/// personal field.
async fn scrub_documents(
    tx: &mut Tx,
    user_id: i64,
    old: &str,
    new: &str,
    held: &[Membership],
) -> FlowResult<()> {
    for (id, body) in store_erasure::webhook_bodies(tx.conn(), user_id, old).await? {
        if let Ok(mut value) = serde_json::from_str::<serde_json::Value>(&body)
            && erasure::scrub_json(&mut value, old, new)
        {
            store_erasure::set_webhook_body(tx.conn(), id, &value.to_string()).await?;
        }
    }
    let customers: Vec<String> = held.iter().filter_map(|m| m.payment.customer.clone()).collect();
    for (id, payload) in store_erasure::stripe_payloads(tx.conn(), user_id, old, &customers).await? {
        if let Ok(mut value) = serde_json::from_str::<serde_json::Value>(&payload)
            && erasure::scrub_stripe(&mut value, old, new)
        {
            store_erasure::set_stripe_payload(tx.conn(), &id, &value.to_string()).await?;
        }
    }
    Ok(())
}

// ---- the member's own request ---------------------------------------------------------------

/// A pending request: when it was made and when it is carried out.
#[derive(Debug, Clone, Copy)]
pub struct Pending {
    pub requested_at: i64,
    pub due_at: i64,
}

pub async fn pending(store: &Store, user_id: i64) -> FlowResult<Option<Pending>> {
    Ok(store_erasure::pending_request(store.pool(), user_id)
        .await?
        .map(|(_, requested_at, due_at)| Pending { requested_at, due_at }))
}

/// The signed-in person asks to be erased: carried out after `erasure.cooling_off_days`.
/// A last admin is refused (`last_admin`), as is a second request (`erasure_pending`).
pub async fn request(store: &Store, user_id: i64, origin: &Origin) -> FlowResult<Pending> {
    let user = users::find_by_id(store.pool(), user_id).await?.ok_or(FlowError::NotFound)?;
    refuse_last_admin(store, &user).await?;
    let days = super::settings::get(store, &ERASURE_COOLING_OFF_DAYS).await?;
    let at = now();
    let due_at = at + days * 86_400;
    let mut tx = store.begin().await?;
    if !store_erasure::insert_request(tx.conn(), user_id, at, due_at).await? {
        return Err(FlowError::Conflict { code: "erasure_pending" });
    }
    super::account::record(&mut tx, &user, origin, "account.erasure_requested", json!({ "due_at": due_at }))
        .await?;
    tx.commit().await?;
    Ok(Pending { requested_at: at, due_at })
}

/// Cancels the signed-in person's pending request; nothing else changed meanwhile.
pub async fn cancel(store: &Store, user_id: i64, origin: &Origin) -> FlowResult<()> {
    let user = users::find_by_id(store.pool(), user_id).await?.ok_or(FlowError::NotFound)?;
    let mut tx = store.begin().await?;
    if !store_erasure::end_request(tx.conn(), user_id, "cancelled", now()).await? {
        return Err(FlowError::NotFound);
    }
    super::account::record(&mut tx, &user, origin, "account.erasure_cancelled", json!({})).await?;
    tx.commit().await?;
    Ok(())
}

/// Carries out the requests whose cooling-off period is over (the scheduler's job; safe in
/// several processes: a second erasure of the same person is refused as `already_erased`).
/// Returns how many people were erased.
pub async fn run_due(store: &Store, stripe: Option<&Client>) -> FlowResult<u64> {
    let mut erased = 0;
    for user_id in store_erasure::due(store.pool(), now(), 20).await? {
        match erase(store, stripe, user_id, StripeChoice::CancelNow, By::Member).await {
            Ok(_) => erased += 1,
            Err(FlowError::Conflict { code: "already_erased" }) => {}
            // Stripe down, a last admin: the request stays and is tried again next run.
            Err(e) => tracing::warn!(user = user_id, error = %e, "erasure request not carried out"),
        }
    }
    Ok(erased)
}

/// Whether `address` may not join organisation `org_id` again: a banned member of it was
/// erased under that address.
pub async fn tombstoned(store: &Store, org_id: i64, address: &str) -> FlowResult<bool> {
    Ok(store_erasure::tombstoned(store.pool(), org_id, &erasure::tombstone_hash(address)).await?)
}
