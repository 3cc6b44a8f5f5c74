//! Payments with Stripe (SPEC §3.5): the checkout for a member's own pending membership, the
//! verified webhook and its event ledger, processing events into the payment-driven lifecycle
//! (SPEC §3.8), the past-due grace period, reconciliation from Stripe's events list, and the
//! billing portal.
//!
//! Binding is by the membership's opaque `payment_ref` (sent as `client_reference_id` and
//! subscription metadata), never by an email or an id a client sends. Ordering: every event
//! carries its `created` time; an event older than the newest one applied for the membership's
//! subscription changes nothing, and on a tie the subscription is fetched from Stripe.

use std::time::Duration;

use rand::Rng;
use rand::distr::Alphanumeric;
use serde::Deserialize;
use serde_json::json;

use super::lifecycle::{self, Cause, activate_if_ready, transition};
use super::{Ctx, FlowError, FlowResult, invalid};
use crate::config::Config;
use crate::domain::{MembershipStatus, stripe_signature};
use crate::store::audit::{self, Actor};
use crate::store::memberships::{self, Membership, Observed};
use crate::store::orgs::{self as org_store, Org};
use crate::store::stripe_events::{self, LedgerEvent, NewEvent};
use crate::store::{Store, Tx, now, plans, records};
use crate::stripe::{self, CheckoutSession, Client, Invoice, StripeError, Subscription};
pub use lifecycle::waiting_for;

impl From<StripeError> for FlowError {
    fn from(e: StripeError) -> FlowError {
        FlowError::Upstream(e.to_string())
    }
}

/// What the webhook did with a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub event_id: String,
    /// The ledger already had this event: nothing was done again.
    pub duplicate: bool,
}

/// The envelope every Stripe event has.
#[derive(Deserialize)]
struct Envelope {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    livemode: bool,
}

/// How long the webhook answer waits for processing; processing that takes longer (a slow
/// Stripe API call on a tie) goes on in the background and the answer is sent.
const PROCESS_IN_ANSWER: Duration = Duration::from_secs(5);

/// Stored events whose processing has not finished after this long are taken up again by
/// the sweep (the process that stored them stopped).
const ABANDONED_AFTER_SECS: i64 = 300;

/// Verifies a delivery and stores its event once. Without a configured webhook secret the
/// endpoint does not exist (`NotFound`, though a delivery with no signature at all is still a
/// 400); a bad, missing or stale signature stores nothing.
pub async fn receive_stripe_event(
    store: &Store,
    config: &Config,
    stripe: Option<&Client>,
    signature: Option<&str>,
    body: &[u8],
) -> FlowResult<Received> {
    // A delivery without a signature is malformed whether or not payments are configured.
    if signature.is_none() {
        return Err(invalid("stripe_signature", "invalid_signature"));
    }
    let secret = config.stripe.webhook_secret.as_ref().ok_or(FlowError::NotFound)?;
    stripe_signature::verify(&secret.0, signature, body, now())
        .map_err(|_| invalid("stripe_signature", "invalid_signature"))?;
    let payload = std::str::from_utf8(body).map_err(|_| invalid("body", "invalid_event"))?;
    let event: Envelope = serde_json::from_str(payload).map_err(|_| invalid("body", "invalid_event"))?;
    let plausible_id = event.id.starts_with("evt_")
        && event.id.len() <= 255
        && event.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !plausible_id || event.kind.is_empty() || event.kind.len() > 100 {
        return Err(invalid("body", "invalid_event"));
    }
    let new = store_once(store, &event, payload).await?;
    if new {
        tracing::info!(event = %event.id, kind = %event.kind, "stripe event stored");
        // Only the delivery that stored the event acts on it, so concurrent deliveries of one
        // event cause one transition.
        let (store, stripe, id) = (store.clone(), stripe.cloned(), event.id.clone());
        let work = tokio::spawn(async move { process(&store, stripe.as_ref(), &id).await });
        if let Ok(Ok(Err(e))) = tokio::time::timeout(PROCESS_IN_ANSWER, work).await {
            tracing::warn!(event = %event.id, error = %e, "stripe event stored, processing failed");
        }
    }
    Ok(Received { event_id: event.id, duplicate: !new })
}

/// Stores an event in the ledger unless its id is there already; true when it was new.
async fn store_once(store: &Store, event: &Envelope, payload: &str) -> FlowResult<bool> {
    let mut tx = store.begin().await?;
    let new = stripe_events::insert_once(
        tx.conn(),
        &NewEvent {
            id: &event.id,
            kind: &event.kind,
            created: event.created,
            livemode: event.livemode,
            payload,
            received_at: now(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(new)
}

/// What one event says, read from its object by type.
#[derive(Debug, Default)]
struct Extracted {
    reference: Option<String>,
    customer: Option<String>,
    subscription: Option<String>,
    status: Option<String>,
    period_end: Option<i64>,
    price: Option<String>,
}

fn extract(event: &stripe::Event) -> Result<Option<Extracted>, serde_json::Error> {
    let object = event.data.object.clone();
    Ok(Some(match event.kind.as_str() {
        "checkout.session.completed" => {
            let session: CheckoutSession = serde_json::from_value(object)?;
            Extracted {
                reference: session.client_reference_id,
                customer: session.customer,
                subscription: session.subscription,
                // A completed checkout with its payment taken means the subscription is paid.
                status: (session.payment_status.as_deref() == Some("paid")).then(|| "active".to_string()),
                ..Extracted::default()
            }
        }
        "customer.subscription.created"
        | "customer.subscription.updated"
        | "customer.subscription.deleted" => {
            let sub: Subscription = serde_json::from_value(object)?;
            Extracted {
                reference: sub.metadata.get("membership").cloned(),
                period_end: sub.period_end(),
                price: sub.price_id().map(str::to_string),
                customer: Some(sub.customer),
                subscription: Some(sub.id),
                status: Some(sub.status),
            }
        }
        "invoice.paid" | "invoice.payment_failed" => {
            let invoice: Invoice = serde_json::from_value(object)?;
            let Some(details) = invoice.subscription_details() else { return Ok(None) };
            let paid = event.kind == "invoice.paid";
            Extracted {
                reference: details.metadata.as_ref().and_then(|m| m.get("membership").cloned()),
                subscription: details.subscription.clone(),
                period_end: if paid { invoice.period_end() } else { None },
                customer: invoice.customer.clone(),
                status: Some(if paid { "active" } else { "past_due" }.to_string()),
                price: None,
            }
        }
        _ => return Ok(None),
    }))
}

/// How a subscription status bears on the membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// `active`, `trialing`: paid.
    Good,
    /// `past_due`: a renewal failed; access stays for the grace period.
    PastDue,
    /// `canceled`, `unpaid`, `incomplete_expired`: the subscription no longer pays.
    Ended,
    /// Anything else (`incomplete`, `paused`): nothing changes.
    Other,
}

/// A subscription in this status no longer pays (`canceled`, `unpaid`, `incomplete_expired`).
pub fn subscription_ended(status: &str) -> bool {
    standing(status) == Standing::Ended
}

/// A new membership reference for Stripe: opaque, never an email or an id.
pub fn new_payment_ref() -> String {
    let candidate: String = rand::rng().sample_iter(&Alphanumeric).take(24).map(char::from).collect();
    format!("mbr_{candidate}")
}

fn standing(status: &str) -> Standing {
    match status {
        "active" | "trialing" => Standing::Good,
        "past_due" => Standing::PastDue,
        "canceled" | "unpaid" | "incomplete_expired" => Standing::Ended,
        _ => Standing::Other,
    }
}

/// Processes one stored event and records the outcome in the ledger: `processed` (with what
/// it did), `ignored` (nothing to do: not a type Portico acts on, bound to no membership, or
/// older than what was applied) or `failed` (with the error; the sweep does not retry a
/// failed event, staff re-process it).
pub async fn process(store: &Store, stripe: Option<&Client>, id: &str) -> FlowResult<LedgerEvent> {
    let payload = stripe_events::payload(store.pool(), id).await?.ok_or(FlowError::NotFound)?;
    if let Err(e) = apply(store, stripe, id, &payload).await {
        let message = e.to_string();
        let mut tx = store.begin().await?;
        stripe_events::mark(tx.conn(), id, "failed", None, "error", Some(&message), now()).await?;
        tx.commit().await?;
        tracing::warn!(event = %id, error = %message, "stripe event failed");
    }
    stripe_events::find(store.pool(), id).await?.ok_or(FlowError::NotFound)
}

async fn ignore(store: &Store, id: &str, membership: Option<i64>, outcome: &str) -> FlowResult<()> {
    let mut tx = store.begin().await?;
    stripe_events::mark(tx.conn(), id, "ignored", membership, outcome, None, now()).await?;
    tx.commit().await?;
    Ok(())
}

async fn apply(store: &Store, stripe: Option<&Client>, id: &str, payload: &str) -> FlowResult<()> {
    let event: stripe::Event =
        serde_json::from_str(payload).map_err(|e| FlowError::Internal(format!("unreadable event: {e}")))?;
    let Some(mut seen) =
        extract(&event).map_err(|e| FlowError::Internal(format!("unreadable {}: {e}", event.kind)))?
    else {
        return ignore(store, id, None, "not_handled").await;
    };
    let pool = store.pool();
    let mut membership_id =
        memberships::by_payment(pool, seen.reference.as_deref(), seen.subscription.as_deref()).await?;
    if membership_id.is_none()
        && seen.reference.is_none()
        && let (Some(client), Some(sub)) = (stripe, seen.subscription.as_deref())
    {
        // An invoice of a subscription not bound yet: its metadata names the membership.
        let fetched = client.retrieve_subscription(sub).await?;
        seen.reference = fetched.metadata.get("membership").cloned();
        membership_id = memberships::by_payment(pool, seen.reference.as_deref(), None).await?;
    }
    let Some(membership_id) = membership_id else { return ignore(store, id, None, "unbound").await };
    let membership = memberships::find(pool, membership_id).await?.ok_or(FlowError::NotFound)?;
    if let (Some(current), Some(other)) = (&membership.payment.subscription, &seen.subscription)
        && current != other
        && !membership.payment.subscription_status.as_deref().is_some_and(|s| standing(s) == Standing::Ended)
    {
        // A second subscription while the first still counts: the first one decides.
        return ignore(store, id, Some(membership_id), "other_subscription").await;
    }
    if seen.status.is_some()
        && membership.payment.seen == Some(event.created)
        && let (Some(client), Some(sub)) = (stripe, seen.subscription.as_deref())
    {
        // Two events of the same second: their order is unknown, so ask Stripe what is true now.
        let fetched = client.retrieve_subscription(sub).await?;
        seen.period_end = fetched.period_end().or(seen.period_end);
        seen.price = fetched.price_id().map(str::to_string).or(seen.price);
        seen.status = Some(fetched.status);
    }
    let org = org_store::find_by_id(pool, membership.org_id).await?.ok_or(FlowError::NotFound)?;
    let plan = match &seen.price {
        Some(price) => plans::list(pool, org.id).await?.into_iter().find(|p| &p.price_id == price),
        None => None,
    };
    let observed = Observed {
        customer: seen.customer.as_deref(),
        subscription: seen.subscription.as_deref(),
        status: seen.status.as_deref(),
        period_end: seen.period_end,
        plan: plan.as_ref().map(|p| (p.id, p.name.as_str())),
        at: event.created,
    };
    let mut tx = store.begin().await?;
    if !memberships::apply_observed(tx.conn(), membership_id, &observed, now()).await? {
        stripe_events::mark(tx.conn(), id, "ignored", Some(membership_id), "stale", None, now()).await?;
        tx.commit().await?;
        return Ok(());
    }
    // Read again inside the transaction: the row is now held by it.
    let after = memberships::find(tx.conn(), membership_id).await?.ok_or(FlowError::NotFound)?;
    let cause = Cause { actor: Actor::system("stripe"), label: format!("stripe:{id}") };
    if membership.payment.paid_at.is_none() && after.payment.paid_at.is_some() {
        lifecycle::record_with_cause(
            &mut tx,
            &cause,
            &org,
            &after,
            "member.paid",
            json!({ "plan": after.plan }),
        )
        .await?;
    }
    // Each invoice's outcome is a payment event out (SPEC §3.7); the first one's too.
    let payment = match event.kind.as_str() {
        "invoice.paid" => Some("member.payment_succeeded"),
        "invoice.payment_failed" => Some("member.payment_failed"),
        _ => None,
    };
    if let Some(action) = payment {
        lifecycle::record_with_cause(&mut tx, &cause, &org, &after, action, json!({ "plan": after.plan }))
            .await?;
    }
    let outcome = match seen.status.as_deref() {
        Some(status) => lifecycle(&mut tx, &org, &after, standing(status), &cause).await?,
        None => "recorded",
    };
    stripe_events::mark(tx.conn(), id, "processed", Some(membership_id), outcome, None, now()).await?;
    tx.commit().await?;
    tracing::info!(event = %id, membership = membership_id, outcome, "stripe event processed");
    Ok(())
}

/// The status change a subscription's standing calls for. `banned` is never touched.
async fn lifecycle(
    tx: &mut Tx,
    org: &Org,
    m: &Membership,
    standing: Standing,
    cause: &Cause,
) -> FlowResult<&'static str> {
    use MembershipStatus::*;
    if m.status == Banned {
        return Ok("banned_unchanged");
    }
    let (to, reason, done) = match (standing, m.status) {
        (Standing::Good, Pending) => {
            let activated = activate_if_ready(tx, org, m, cause).await?;
            return Ok(if activated { "activated" } else { "paid_waiting" });
        }
        (Standing::Good, Suspended) if m.payment.suspended_for_payment => (Active, "payment", "reactivated"),
        (Standing::PastDue, _) => return Ok("past_due"),
        (Standing::Ended, Active) => (Suspended, "subscription_ended", "suspended"),
        _ => return Ok("recorded"),
    };
    Ok(if transition(tx, org, m, to, cause, reason).await? { done } else { "recorded" })
}

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Swept {
    /// Memberships suspended because their past-due grace period ended.
    pub suspended: usize,
    /// Stored events whose interrupted processing was taken up again.
    pub resumed: usize,
}

/// Suspends memberships whose payment stayed past due beyond the organisation's grace period
/// (unless paid meanwhile: the condition is re-checked in the UPDATE), and resumes events
/// whose processing was cut off. Safe to run in several processes at once.
pub async fn sweep(store: &Store, stripe: Option<&Client>) -> FlowResult<Swept> {
    let mut swept = Swept::default();
    let cause = Cause { actor: Actor::system("schedule"), label: "schedule:past_due_grace".into() };
    for id in memberships::past_due_expired(store.pool(), now(), 100).await? {
        let mut tx = store.begin().await?;
        let Some(m) = memberships::find(tx.conn(), id).await? else { continue };
        let org = org_store::find_by_id(tx.conn(), m.org_id).await?.ok_or(FlowError::NotFound)?;
        let still_due = m.status == MembershipStatus::Active
            && m.payment.subscription_status.as_deref() == Some("past_due")
            && m.payment.past_due_since.is_some_and(|t| t + org.past_due_grace_days * 86_400 <= now());
        if still_due
            && transition(&mut tx, &org, &m, MembershipStatus::Suspended, &cause, "past_due_grace").await?
        {
            swept.suspended += 1;
        }
        tx.commit().await?;
    }
    for id in stripe_events::unprocessed(store.pool(), now() - ABANDONED_AFTER_SECS, 50).await? {
        process(store, stripe, &id).await?;
        swept.resumed += 1;
    }
    Ok(swept)
}

/// What a reconciliation found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// Events Stripe listed since the start time.
    pub listed: usize,
    /// Of those, the ones the ledger lacked (now stored and processed).
    pub added: usize,
}

/// How far back Stripe lists events.
pub const RECONCILE_WINDOW_SECS: i64 = 30 * 86_400;

/// Lists Stripe's events created since `since` (`GET /v1/events`, every page) and stores and
/// processes, oldest first, each one the ledger lacks. Running it twice, or in two processes,
/// adds each event once: the ledger's unique id decides.
pub async fn reconcile(store: &Store, stripe: &Client, since: i64) -> FlowResult<Reconciled> {
    let mut listed = Vec::new();
    let mut after: Option<String> = None;
    // At most 100 pages of 100: Stripe keeps 30 days of events.
    for _ in 0..100 {
        let page = stripe.list_events(since, after.as_deref()).await?;
        after = page.data.last().and_then(|e| e["id"].as_str()).map(str::to_string);
        listed.extend(page.data);
        if !page.has_more || after.is_none() {
            break;
        }
    }
    listed.sort_by_key(|e| e["created"].as_i64().unwrap_or_default());
    let mut report = Reconciled { listed: listed.len(), added: 0 };
    for raw in listed {
        let Ok(event) = serde_json::from_value::<Envelope>(raw.clone()) else { continue };
        if store_once(store, &event, &raw.to_string()).await? {
            report.added += 1;
            process(store, Some(stripe), &event.id).await?;
        }
    }
    Ok(report)
}

/// The signed-in user's membership of an organisation, by slug.
async fn own_membership(store: &Store, user_id: i64, slug: &str) -> FlowResult<(Org, Membership)> {
    let pool = store.pool();
    let org = org_store::find_by_slug(pool, slug).await?.ok_or(FlowError::NotFound)?;
    let id = memberships::find_for_user(pool, user_id, &org.slug).await?.ok_or(FlowError::NotFound)?;
    let membership = memberships::find(pool, id).await?.ok_or(FlowError::NotFound)?;
    Ok((org, membership))
}

/// What the payment page shows: the organisation, its active plans, the membership.
pub struct PaymentStep {
    pub org: Org,
    pub membership: Membership,
    pub plans: Vec<plans::Plan>,
}

impl PaymentStep {
    /// A payment can be started: see [`may_pay`]; and there is a plan.
    pub fn can_pay(&self) -> bool {
        may_pay(&self.membership) && !self.plans.is_empty()
    }
}

/// A membership whose member may start a checkout: pending and unpaid, or active with a
/// paid-through date and no subscription (moved in by an import: billing starts at that date).
fn may_pay(m: &Membership) -> bool {
    let unpaid = m.status == MembershipStatus::Pending && m.payment.paid_at.is_none();
    let paid_through =
        m.status == MembershipStatus::Active && m.payment.subscription.is_none() && m.renews_at.is_some();
    unpaid || paid_through
}

/// Stripe refuses a trial that ends less than 48 hours ahead; a paid-through date closer than
/// this is charged at once.
const MIN_TRIAL_SECS: i64 = 48 * 3600 + 600;

/// When the first charge of a checkout starts: the paid-through date of a member who has one
/// and no subscription, when it is far enough ahead for Stripe.
fn first_charge_at(m: &Membership, now: i64) -> Option<i64> {
    m.renews_at.filter(|at| m.payment.subscription.is_none() && *at >= now + MIN_TRIAL_SECS)
}

/// The payment step of the signed-in user's own membership.
pub async fn payment_step(store: &Store, user_id: i64, slug: &str) -> FlowResult<PaymentStep> {
    let (_, membership) = own_membership(store, user_id, slug).await?;
    payment_step_of(store, membership.id).await
}

/// What the dashboard shows about a membership's payment.
#[derive(Debug, Clone, Default)]
pub struct PaymentView {
    /// The member may start a checkout (see `may_pay`) and the organisation has a plan.
    pub pay_now: bool,
    /// Paid but still pending: what it waits for (`waiver`, `id_check`, `staff`).
    pub waiting: Vec<&'static str>,
    /// Has a Stripe customer: the billing-portal button.
    pub portal: bool,
}

/// The dashboard's payment part of a member's own record (`takes_payments`: Stripe is configured).
pub async fn payment_view(
    store: &Store,
    takes_payments: bool,
    record: &super::members::Record,
) -> FlowResult<PaymentView> {
    let m = &record.membership;
    let pending = m.status == MembershipStatus::Pending;
    let paid = m.payment.paid_at.is_some();
    let pay_now = takes_payments
        && may_pay(m)
        && plans::list(store.pool(), record.org.id).await?.iter().any(|p| p.active);
    Ok(PaymentView {
        pay_now,
        // Agreements are read only for this rare state (the dashboard does not load them).
        waiting: if pending && paid {
            waiting_for(&record.org, &records::agreements(store.pool(), m.id).await?)
        } else {
            Vec::new()
        },
        portal: takes_payments && m.payment.customer.is_some() && m.status != MembershipStatus::Banned,
    })
}

/// The payment step of a membership just created (by its id).
pub async fn payment_step_of(store: &Store, membership_id: i64) -> FlowResult<PaymentStep> {
    let pool = store.pool();
    let membership = memberships::find(pool, membership_id).await?.ok_or(FlowError::NotFound)?;
    let org = org_store::find_by_id(pool, membership.org_id).await?.ok_or(FlowError::NotFound)?;
    let plans = plans::list(pool, org.id).await?.into_iter().filter(|p| p.active).collect();
    Ok(PaymentStep { org, membership, plans })
}

/// Creates a Checkout Session for the signed-in user's own pending, unpaid membership and
/// returns its URL. Nothing here comes from the request except the user (from the session)
/// and the chosen plan of that organisation.
pub async fn start_checkout(
    store: &Store,
    config: &Config,
    stripe: Option<&Client>,
    ctx: &Ctx,
    user_id: i64,
    slug: &str,
    plan_id: i64,
) -> FlowResult<String> {
    let stripe = stripe.ok_or(FlowError::NotFound)?;
    let step = payment_step(store, user_id, slug).await?;
    if !step.can_pay() {
        return Err(FlowError::Conflict { code: "nothing_to_pay" });
    }
    let plan = step
        .plans
        .iter()
        .find(|p| p.id == plan_id)
        .ok_or(FlowError::Unknown { field: "plan", code: "unknown_plan" })?;
    let mut tx = store.begin().await?;
    let reference =
        memberships::ensure_payment_ref(tx.conn(), step.membership.id, &new_payment_ref()).await?;
    audit::record(
        tx.conn(),
        audit::NewEvent {
            actor: &ctx.actor,
            origin: &ctx.origin,
            action: "payment.checkout_started",
            target: Some(&step.membership.email),
            org_id: Some(step.org.id),
            details: json!({ "plan": plan.name, "price_id": plan.price_id }),
        },
    )
    .await?;
    tx.commit().await?;
    let page = |path: &str| config.base_url.join(&format!("o/{}/join/payment/{path}", step.org.slug));
    let (Ok(success), Ok(cancel)) = (page("done"), page("cancelled")) else {
        return Err(FlowError::Internal("base URL cannot carry the payment pages".into()));
    };
    let mut params = vec![
        ("mode".to_string(), "subscription".to_string()),
        ("line_items[0][price]".into(), plan.price_id.clone()),
        ("line_items[0][quantity]".into(), "1".into()),
        ("client_reference_id".into(), reference.clone()),
        ("subscription_data[metadata][membership]".into(), reference.clone()),
        ("metadata[membership]".into(), reference.clone()),
        ("success_url".into(), success.to_string()),
        ("cancel_url".into(), cancel.to_string()),
    ];
    if let Some(at) = first_charge_at(&step.membership, now()) {
        params.push(("subscription_data[trial_end]".into(), at.to_string()));
    }
    match &step.membership.payment.customer {
        Some(customer) => params.push(("customer".into(), customer.clone())),
        None => params.push(("customer_email".into(), step.membership.email.clone())),
    }
    // One session per membership, plan and hour: a double submit gets the same session, and a
    // session handed out again is never older than Stripe's 24 h expiry.
    let key = format!("portico-checkout-{reference}-{}-{}", plan.id, now() / 3600);
    let session = stripe.create_checkout_session(&params, &key).await?;
    session.url.ok_or_else(|| FlowError::Upstream("the checkout session has no URL".into()))
}

/// Opens Stripe's billing portal for the signed-in user's own membership.
pub async fn open_portal(
    store: &Store,
    config: &Config,
    stripe: Option<&Client>,
    user_id: i64,
    slug: &str,
) -> FlowResult<String> {
    let stripe = stripe.ok_or(FlowError::NotFound)?;
    let (org, membership) = own_membership(store, user_id, slug).await?;
    let customer = membership.payment.customer.ok_or(FlowError::Conflict { code: "no_customer" })?;
    let back = config
        .base_url
        .join(&format!("dashboard?org={}", org.slug))
        .map_err(|_| FlowError::Internal("base URL cannot carry the dashboard".into()))?;
    Ok(stripe.create_portal_session(&customer, back.as_str()).await?.url)
}

/// Which ledger rows staff asked for.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    /// An event type, e.g. `invoice.paid`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// A membership id.
    pub membership: Option<i64>,
    /// An outcome, e.g. `activated`, `stale`, `error`.
    pub outcome: Option<String>,
}

/// The newest 200 ledger events matching the filter (staff).
pub async fn ledger(store: &Store, ctx: &Ctx, q: &LedgerQuery) -> FlowResult<Vec<LedgerEvent>> {
    ctx.require_staff()?;
    let word = |value: &Option<String>, field: &'static str| -> FlowResult<Option<String>> {
        match value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v)
                if v.len() <= 100 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"._".contains(&b)) =>
            {
                Ok(Some(v.to_string()))
            }
            Some(_) => Err(invalid(field, "invalid_filter")),
        }
    };
    let kind = word(&q.kind, "type")?;
    let outcome = word(&q.outcome, "outcome")?;
    let filter = stripe_events::Filter {
        kind: kind.as_deref(),
        membership_id: q.membership,
        outcome: outcome.as_deref(),
    };
    Ok(stripe_events::list(store.pool(), &filter, 200).await?)
}

/// Staff re-process one ledger event (after fixing what made it fail); audited.
/// What retention leaves of a Stripe event's payload (`retention.stripe_payloads_days`).
pub const PRUNED_PAYLOAD: &str = "{}";

pub async fn reprocess(
    store: &Store,
    ctx: &Ctx,
    stripe: Option<&Client>,
    id: &str,
) -> FlowResult<LedgerEvent> {
    ctx.require_admin()?;
    stripe_events::find(store.pool(), id).await?.ok_or(FlowError::NotFound)?;
    // Retention keeps an old event's id, type, times and outcome, not its payload.
    if stripe_events::payload(store.pool(), id).await?.as_deref() == Some(PRUNED_PAYLOAD) {
        return Err(FlowError::Conflict { code: "payload_pruned" });
    }
    let mut tx = store.begin().await?;
    audit::record(
        tx.conn(),
        audit::NewEvent {
            actor: &ctx.actor,
            origin: &ctx.origin,
            action: "stripe.event_reprocessed",
            target: Some(id),
            org_id: None,
            details: json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    process(store, stripe, id).await
}
