//! Payments end to end against the fake Stripe (a real HTTP server speaking Stripe's wire
//! format): the checkout bound to the member's own pending membership, webhook processing with
//! ordering, activation policy and gates, past-due grace, banned members, reconciliation.

use crate::common;

use std::time::{Duration, Instant};

use common::{TestApp, client, spawn_with};
use portico::config::{Config, Redacted};
use portico::domain::NewPassword;
use portico::domain::stripe_signature::sign;
use portico::flows::{self, Ctx};
use portico::store::now;
use portico::stripe::fake::FakeStripe;
use serde_json::Value;

const KEY: &str = "sk_test_portico_0123456789";
const SECRET: &str = "whsec_portico_lifecycle_secret";
const PASSWORD: &str = "correct horse battery";

struct Pay {
    app: TestApp,
    fake: FakeStripe,
    plan_id: i64,
}

async fn setup_with(activation: &str, adjust: impl FnOnce(&mut Config)) -> Pay {
    let fake = FakeStripe::start("127.0.0.1".parse().unwrap(), KEY, SECRET, None).await.unwrap();
    let api = fake.url().clone();
    let app = spawn_with(|c| {
        c.stripe.secret_key = Some(Redacted(KEY.into()));
        c.stripe.webhook_secret = Some(Redacted(SECRET.into()));
        c.stripe.api_base = api;
        adjust(c);
    })
    .await;
    fake.set_webhook_url(Some(app.url("/webhooks/stripe").parse().unwrap()));
    let ctx = Ctx::cli();
    let org = flows::orgs::OrgInput {
        slug: "space".into(),
        name: "The Space".into(),
        kind: "nonprofit".into(),
        company_name: None,
        signup: Some("open".into()),
    };
    flows::orgs::create(&app.store, &ctx, &org).await.unwrap();
    let patch = flows::orgs::OrgPatch { activation: Some(activation.into()), ..Default::default() };
    flows::orgs::update(&app.store, &ctx, "space", &patch).await.unwrap();
    let plan = flows::plans::PlanInput {
        name: "Full".into(),
        price_id: "price_full".into(),
        display_price: "€30 / month".into(),
        interval: "month".into(),
    };
    let plan_id = flows::plans::create(&app.store, &ctx, "space", &plan).await.unwrap().id;
    Pay { app, fake, plan_id }
}

async fn setup(activation: &str) -> Pay {
    setup_with(activation, |_| {}).await
}

impl Pay {
    /// A signed-in person with a pending membership of `space` (no waiver signed); returns
    /// their browser and the membership id.
    async fn member(&self, email: &str) -> (reqwest::Client, i64) {
        let hash = self.app.hasher.hash(&NewPassword::parse(PASSWORD, &[]).unwrap()).await.unwrap();
        let id = self.app.join("space", email, Some(&hash)).await;
        let c = client();
        assert_eq!(self.app.login(&c, email, PASSWORD).await.status(), 303);
        (c, id)
    }

    /// Chooses the plan on the payment page: the 303 to the fake's checkout page.
    async fn checkout(&self, c: &reqwest::Client, extra: &[(&str, &str)]) -> String {
        let plan = self.plan_id.to_string();
        let mut fields = vec![("plan", plan.as_str())];
        fields.extend_from_slice(extra);
        let r = self.app.post_form(c, "/o/space/join/payment", "/o/space/join/payment", &fields).await;
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
        let location = r.headers()["location"].to_str().unwrap().to_string();
        assert!(location.starts_with(self.fake.url().as_str()), "to the checkout page: {location}");
        location
    }

    /// Checkout and pay: the fake delivers its three events to the webhook.
    async fn pay(&self, c: &reqwest::Client) -> Vec<Value> {
        let location = self.checkout(c, &[]).await;
        let session = location.rsplit('/').next().unwrap().to_string();
        self.fake.pay(&session).await.unwrap()
    }

    async fn status(&self, membership: i64) -> String {
        sqlx::query_scalar("SELECT status FROM memberships WHERE id = $1")
            .bind(membership)
            .fetch_one(self.app.store.pool())
            .await
            .unwrap()
    }

    async fn subscription(&self, membership: i64) -> String {
        sqlx::query_scalar("SELECT stripe_subscription FROM memberships WHERE id = $1")
            .bind(membership)
            .fetch_one(self.app.store.pool())
            .await
            .unwrap()
    }

    /// Delivers an event to the webhook as Stripe would, signed now.
    async fn deliver(&self, event: &Value) -> u16 {
        let body = event.to_string();
        reqwest::Client::new()
            .post(self.app.url("/webhooks/stripe"))
            .header("stripe-signature", sign(SECRET, body.as_bytes(), now()))
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// (to, cause) of every status change, oldest first.
    async fn status_changes(&self) -> Vec<(String, String)> {
        self.app
            .audit("member.status_changed")
            .await
            .into_iter()
            .rev()
            .map(|e| {
                (
                    e.details["to"].as_str().unwrap().to_string(),
                    e.details["cause"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

#[tokio::test]
async fn signup_to_checkout_to_webhook_to_active() {
    let p = setup("automatic").await;
    let (c, id) = p.member("ada@example.org").await;

    let (status, page) = p.app.get_page(&c, "/dashboard?org=space").await;
    assert_eq!(status, 200);
    assert!(page.contains("href=\"/o/space/join/payment\""), "pay now is offered");
    let (status, page) = p.app.get_page(&c, "/o/space/join/payment").await;
    assert_eq!(status, 200);
    assert!(page.contains("Full — €30 / month"), "{page}");

    let location = p.checkout(&c, &[]).await;
    let requests = p.fake.checkout_requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    let reference: String = sqlx::query_scalar("SELECT payment_ref FROM memberships WHERE id = $1")
        .bind(id)
        .fetch_one(p.app.store.pool())
        .await
        .unwrap();
    assert!(reference.starts_with("mbr_") && reference.len() == 28, "an opaque reference: {reference}");
    for (name, value) in [
        ("mode", "subscription"),
        ("line_items[0][price]", "price_full"),
        ("line_items[0][quantity]", "1"),
        ("client_reference_id", reference.as_str()),
        ("subscription_data[metadata][membership]", reference.as_str()),
        ("customer_email", "ada@example.org"),
    ] {
        assert_eq!(sent.param(name), Some(value), "{name}");
    }
    assert_eq!(sent.param("success_url"), Some(p.app.url("/o/space/join/payment/done").as_str()));
    assert_eq!(sent.param("cancel_url"), Some(p.app.url("/o/space/join/payment/cancelled").as_str()));
    assert!(sent.param("customer").is_none());
    assert!(sent.idempotency_key.as_deref().is_some_and(|k| k.contains(&reference)));

    // A double submit gets the same session (same idempotency key).
    assert_eq!(p.checkout(&c, &[]).await, location);

    let session = location.rsplit('/').next().unwrap();
    p.fake.pay(session).await.unwrap();
    assert_eq!(p.status(id).await, "active");
    let (status, page) = p.app.get_page(&c, "/o/space/join/payment/done").await;
    assert_eq!(status, 200);
    assert!(page.contains("is active"), "{page}");
    let (_, dashboard) = p.app.get_page(&c, "/dashboard?org=space").await;
    assert!(
        dashboard.contains("Full") && dashboard.contains("Renews on"),
        "plan and renewal from the subscription"
    );
    assert!(dashboard.contains("Manage billing") && !dashboard.contains("/join/payment\""));
    assert_eq!(p.app.count("SELECT COUNT(*) FROM stripe_events").await, 3);
    assert_eq!(p.app.count("SELECT COUNT(*) FROM stripe_events WHERE state = 'processed'").await, 3);
    let changes = p.status_changes().await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].0, "active");
    assert!(changes[0].1.starts_with("stripe:evt_"), "caused by an event: {changes:?}");

    // The billing portal of the member's own customer.
    let r = p.app.post_form(&c, "/dashboard?org=space", "/dashboard/billing", &[("org", "space")]).await;
    assert_eq!(r.status(), 303);
    assert!(r.headers()["location"].to_str().unwrap().starts_with(&format!("{}portal/", p.fake.url())));
    // Once paid, the payment page sends to the dashboard.
    let r = c.get(p.app.url("/o/space/join/payment")).send().await.unwrap();
    assert_eq!(r.status(), 303);
}

#[tokio::test]
async fn manual_activation_stays_pending_and_says_paid() {
    let p = setup("manual").await;
    let (c, id) = p.member("bo@example.org").await;
    p.pay(&c).await;
    assert_eq!(p.status(id).await, "pending");
    let (_, dashboard) = p.app.get_page(&c, "/dashboard?org=space").await;
    assert!(
        dashboard.contains("Your payment is received") && dashboard.contains("activation by staff"),
        "{dashboard}"
    );
    let staff = client();
    let password = p.app.create_staff("staff@portico.test", portico::domain::StaffRole::Admin).await;
    p.app.login(&staff, "staff@portico.test", &password).await;
    let (_, page) = p.app.get_page(&staff, &format!("/staff/orgs/space/members/{id}")).await;
    assert!(page.contains("Paid, waiting for:") && page.contains("activation by staff"), "{page}");
    assert!(p.status_changes().await.is_empty());
    assert_eq!(p.app.audit("member.paid").await.len(), 1);
}

#[tokio::test]
async fn gates_hold_activation_until_the_waiver_and_id_check_are_recorded() {
    let p = setup("automatic").await;
    let patch = flows::orgs::OrgPatch {
        requires_waiver: Some(true),
        requires_id_check: Some(true),
        ..Default::default()
    };
    flows::orgs::update(&p.app.store, &Ctx::cli(), "space", &patch).await.unwrap();
    let (c, id) = p.member("cy@example.org").await;
    p.pay(&c).await;
    assert_eq!(p.status(id).await, "pending");
    let (_, dashboard) = p.app.get_page(&c, "/dashboard?org=space").await;
    assert!(
        dashboard.contains("a signed waiver") && dashboard.contains("an ID check by staff"),
        "{dashboard}"
    );

    let staff = client();
    let password = p.app.create_staff("staff@portico.test", portico::domain::StaffRole::Support).await;
    p.app.login(&staff, "staff@portico.test", &password).await;
    let member_page = format!("/staff/orgs/space/members/{id}");
    let r = p.app.post_form(&staff, &member_page, &format!("{member_page}/id_check"), &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(p.status(id).await, "pending", "the waiver is still missing");
    let recorded: (String, String) = sqlx::query_as(
        "SELECT kind, recorded_by FROM member_agreements WHERE membership_id = $1 AND kind = 'id_check'",
    )
    .bind(id)
    .fetch_one(p.app.store.pool())
    .await
    .unwrap();
    assert_eq!(recorded, ("id_check".into(), "staff@portico.test".into()), "who checked");
    let r = p.app.post_form(&staff, &member_page, &format!("{member_page}/waiver"), &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(p.status(id).await, "active", "the last gate activates the paid membership");
    let changes = p.status_changes().await;
    assert_eq!(changes, vec![("active".to_string(), "staff".to_string())]);
}

#[tokio::test]
async fn the_same_event_delivered_twenty_times_at_once_acts_once() {
    let p = setup("automatic").await;
    let (c, id) = p.member("di@example.org").await;
    // Pay with the webhook off, then deliver the events ourselves, each 20 times at once.
    p.fake.set_webhook_url(None);
    let events = p.pay(&c).await;
    assert_eq!(p.status(id).await, "pending");
    for event in &events {
        let answers = futures_util::future::join_all((0..20).map(|_| p.deliver(event))).await;
        assert!(answers.iter().all(|s| *s == 200), "{answers:?}");
    }
    assert_eq!(p.app.count("SELECT COUNT(*) FROM stripe_events").await, 3);
    assert_eq!(p.status(id).await, "active");
    assert_eq!(p.status_changes().await.len(), 1, "one transition");
    assert_eq!(p.app.audit("member.paid").await.len(), 1, "one audit event");
}

#[tokio::test]
async fn out_of_order_deliveries_end_in_the_newest_state() {
    let p = setup("automatic").await;
    let (c, id) = p.member("ed@example.org").await;
    p.fake.set_webhook_url(None);
    let paid = p.pay(&c).await;
    let sub = paid[0]["data"]["object"]["id"].as_str().unwrap().to_string();
    let past_due = p.fake.set_status(&sub, "past_due").await.unwrap();
    let updated = past_due.last().unwrap().clone();
    assert_eq!(updated["type"], "customer.subscription.updated");

    // `updated` (past_due) arrives before `created` (active): the older one changes nothing.
    assert_eq!(p.deliver(&updated).await, 200);
    assert_eq!(p.deliver(&paid[0]).await, 200);
    let stale: String = sqlx::query_scalar("SELECT outcome FROM stripe_events WHERE id = $1")
        .bind(paid[0]["id"].as_str().unwrap())
        .fetch_one(p.app.store.pool())
        .await
        .unwrap();
    assert_eq!(stale, "stale");
    let sub_status: String = sqlx::query_scalar("SELECT subscription_status FROM memberships WHERE id = $1")
        .bind(id)
        .fetch_one(p.app.store.pool())
        .await
        .unwrap();
    assert_eq!(sub_status, "past_due");

    // `deleted` before a late `updated` (active again): it stays cancelled and suspended.
    let mut deliveries = Vec::new();
    let reactivated = p.fake.set_status(&sub, "active").await.unwrap();
    let deleted = p.fake.set_status(&sub, "canceled").await.unwrap();
    deliveries.push(deleted.last().unwrap().clone());
    deliveries.extend(reactivated);
    for event in &deliveries {
        assert_eq!(p.deliver(event).await, 200);
    }
    let sub_status: String = sqlx::query_scalar("SELECT subscription_status FROM memberships WHERE id = $1")
        .bind(id)
        .fetch_one(p.app.store.pool())
        .await
        .unwrap();
    assert_eq!(sub_status, "canceled");
    // It was never active (created came late), so a cancelled subscription leaves it pending.
    assert_eq!(p.status(id).await, "pending");
    assert_eq!(p.subscription(id).await, sub);
}

#[tokio::test]
async fn past_due_suspends_after_the_grace_period_and_payment_reactivates() {
    let p = setup_with("automatic", |c| c.scheduler_secs = 1).await;
    let (c, id) = p.member("fa@example.org").await;
    let paid = p.pay(&c).await;
    let sub = paid[0]["data"]["object"]["id"].as_str().unwrap().to_string();
    assert_eq!(p.status(id).await, "active");

    // Seven days of grace: past due keeps access.
    p.fake.set_status(&sub, "past_due").await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(p.status(id).await, "active");

    // No grace: the scheduler inside `serve` suspends within a sweep.
    let patch = flows::orgs::OrgPatch { past_due_grace_days: Some(0), ..Default::default() };
    flows::orgs::update(&p.app.store, &Ctx::cli(), "space", &patch).await.unwrap();
    let started = Instant::now();
    while p.status(id).await != "suspended" {
        assert!(started.elapsed() < Duration::from_secs(10), "not suspended by the scheduler");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let changes = p.status_changes().await;
    assert_eq!(changes.last().unwrap(), &("suspended".to_string(), "schedule:past_due_grace".to_string()));

    // The member pays: active again, caused by the event.
    p.fake.set_status(&sub, "active").await.unwrap();
    assert_eq!(p.status(id).await, "active");
    let changes = p.status_changes().await;
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert!(changes[2].1.starts_with("stripe:evt_"));

    // A suspension by staff is not lifted by a payment.
    let suspend =
        flows::members::Change { status: Some("suspended"), reason: Some("conduct"), ..Default::default() };
    flows::members::change(&p.app.store, &Ctx::cli(), "space", id, &suspend).await.unwrap();
    p.fake.set_status(&sub, "past_due").await.unwrap();
    p.fake.set_status(&sub, "active").await.unwrap();
    assert_eq!(p.status(id).await, "suspended");
}

#[tokio::test]
async fn a_banned_member_stays_banned_through_any_payment_event() {
    let p = setup("automatic").await;
    let (c, id) = p.member("gu@example.org").await;
    let paid = p.pay(&c).await;
    let sub = paid[0]["data"]["object"]["id"].as_str().unwrap().to_string();
    let ban = flows::members::Change { status: Some("banned"), reason: Some("theft"), ..Default::default() };
    flows::members::change(&p.app.store, &Ctx::cli(), "space", id, &ban).await.unwrap();
    for status in ["past_due", "active", "canceled"] {
        p.fake.set_status(&sub, status).await.unwrap();
        assert_eq!(p.status(id).await, "banned", "after {status}");
    }
    let outcomes: Vec<String> = sqlx::query_scalar(
        "SELECT outcome FROM stripe_events WHERE type LIKE 'customer.subscription.%' ORDER BY created",
    )
    .fetch_all(p.app.store.pool())
    .await
    .unwrap();
    assert!(outcomes[1..].iter().all(|o| o == "banned_unchanged"), "{outcomes:?}");
    // Replaying the original payment does nothing either.
    for event in &paid {
        assert_eq!(p.deliver(event).await, 200);
    }
    assert_eq!(p.status(id).await, "banned");
}

#[tokio::test]
async fn ids_supplied_by_the_client_never_bind_a_payment() {
    let p = setup("automatic").await;
    let (_, victim) = p.member("victim@example.org").await;
    let (c, attacker) = p.member("attacker@example.org").await;
    // Pay once as the victim so a customer id exists to try.
    let victim_customer = {
        let (vc, _) = (client(), ());
        assert_eq!(p.app.login(&vc, "victim@example.org", PASSWORD).await.status(), 303);
        let events = p.pay(&vc).await;
        events[0]["data"]["object"]["customer"].as_str().unwrap().to_string()
    };
    assert_eq!(p.status(victim).await, "active");
    let victim_id = victim.to_string();
    let extra = [
        ("membership", victim_id.as_str()),
        ("membership_id", victim_id.as_str()),
        ("email", "victim@example.org"),
        ("customer_email", "victim@example.org"),
        ("customer", victim_customer.as_str()),
        ("client_reference_id", "mbr_forged"),
    ];
    // As form fields and as query parameters: every one is ignored.
    p.checkout(&c, &extra).await;
    let query: String = extra.iter().map(|(k, v)| format!("{k}={v}&")).collect();
    let path = format!("/o/space/join/payment?{query}");
    let r = p.app.post_form(&c, "/o/space/join/payment", &path, &[("plan", &p.plan_id.to_string())]).await;
    assert_eq!(r.status(), 303);
    let attacker_ref: String = sqlx::query_scalar("SELECT payment_ref FROM memberships WHERE id = $1")
        .bind(attacker)
        .fetch_one(p.app.store.pool())
        .await
        .unwrap();
    for sent in p.fake.checkout_requests().iter().skip(1) {
        assert_eq!(sent.param("client_reference_id"), Some(attacker_ref.as_str()));
        assert_eq!(sent.param("customer_email"), Some("attacker@example.org"));
        assert_eq!(sent.param("customer"), None);
    }
    // A forged event naming the victim's customer, or carrying the victim's email, binds nothing.
    let forged = serde_json::json!({
        "id": "evt_forged", "object": "event", "type": "checkout.session.completed", "created": now(),
        "livemode": false, "data": {"object": {"id": "cs_x", "object": "checkout.session",
            "client_reference_id": victim_id, "customer": victim_customer, "customer_email": "attacker@example.org",
            "payment_status": "paid", "subscription": null, "metadata": {"membership": victim_id}}}
    });
    assert_eq!(p.deliver(&forged).await, 200);
    let outcome: String = sqlx::query_scalar("SELECT outcome FROM stripe_events WHERE id = 'evt_forged'")
        .fetch_one(p.app.store.pool())
        .await
        .unwrap();
    assert_eq!(outcome, "unbound");
    assert_eq!(p.status(attacker).await, "pending");
}

#[tokio::test]
async fn reconciliation_picks_up_missed_events_once_by_command_and_by_the_daily_run() {
    let p = setup_with("automatic", |c| c.stripe.reconcile_interval_secs = 2).await;
    p.fake.set_webhook_url(None);
    let (c, id) = p.member("ha@example.org").await;
    p.pay(&c).await;
    assert_eq!(p.status(id).await, "pending", "the webhook is off");
    // The daily run (every 2 s here) finds the three events.
    let started = Instant::now();
    while p.status(id).await != "active" {
        assert!(started.elapsed() < Duration::from_secs(10), "the periodic reconciliation did not run");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The membership turns active at the payment; the run stores the third event after it.
    while p.app.count("SELECT COUNT(*) FROM stripe_events").await < 3 {
        assert!(started.elapsed() < Duration::from_secs(10), "the run did not store every event");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(p.app.count("SELECT COUNT(*) FROM stripe_events").await, 3);

    // The command: a second member's events, found once; a second run adds nothing.
    let (c2, id2) = p.member("ib@example.org").await;
    p.pay(&c2).await;
    let run = || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_portico"));
        command
            .args(["stripe", "reconcile", "--since", "2020-01-01"])
            .env("PORTICO_DATABASE_URL", &p.app.database_url)
            .env("PORTICO_STRIPE_SECRET_KEY", KEY)
            .env("PORTICO_STRIPE_API_BASE", p.fake.url().as_str())
            .env("PORTICO_LOG", "warn");
        // Off the test's runtime thread: the fake answering the command runs on it.
        async move {
            let output = tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap();
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
            String::from_utf8_lossy(&output.stdout).to_string()
        }
    };
    // The periodic run may take them first; either way each event is stored and acted on once.
    let first = run().await;
    assert!(first.contains("listed 6 event(s)"), "{first}");
    assert_eq!(p.status(id2).await, "active");
    let second = run().await;
    assert!(second.contains("0 were missing"), "{second}");
    assert_eq!(p.app.count("SELECT COUNT(*) FROM stripe_events").await, 6);
    assert_eq!(p.status_changes().await.len(), 2);
}

#[tokio::test]
async fn staff_manage_plans_and_policy_in_the_console_and_read_the_ledger() {
    let p = setup("manual").await;
    let staff = client();
    let password = p.app.create_staff("admin@portico.test", portico::domain::StaffRole::Admin).await;
    p.app.login(&staff, "admin@portico.test", &password).await;
    let page = "/staff/orgs/space/payments";
    let (status, html) = p.app.get_page(&staff, page).await;
    assert_eq!(status, 200);
    assert!(html.contains("price_full") && html.contains("€30 / month"));

    // A plan with a bad price id re-renders with the reason; a good one is added.
    let bad = [("name", "Day pass"), ("price_id", "prod_x"), ("display_price", "€5"), ("interval", "day")];
    let r = p.app.post_form(&staff, page, "/staff/orgs/space/plans", &bad).await;
    assert_eq!(r.status(), 400);
    assert_eq!(p.app.count("SELECT COUNT(*) FROM plans").await, 1);
    let good =
        [("name", "Day pass"), ("price_id", "price_day"), ("display_price", "€5"), ("interval", "day")];
    assert_eq!(p.app.post_form(&staff, page, "/staff/orgs/space/plans", &good).await.status(), 303);
    assert_eq!(p.app.count("SELECT COUNT(*) FROM plans WHERE active = 1").await, 2);
    let day: i64 = sqlx::query_scalar("SELECT id FROM plans WHERE price_id = 'price_day'")
        .fetch_one(p.app.store.pool())
        .await
        .unwrap();
    let r = p.app.post_form(&staff, page, &format!("/staff/orgs/space/plans/{day}/deactivate"), &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(p.app.count("SELECT COUNT(*) FROM plans WHERE active = 1").await, 1);

    // The policy: automatic, both gates, 3 days of grace; an out-of-range grace is refused.
    let policy = [
        ("activation", "automatic"),
        ("requires_waiver", "on"),
        ("requires_id_check", "on"),
        ("past_due_grace_days", "61"),
    ];
    let r = p.app.post_form(&staff, page, "/staff/orgs/space/payments/policy", &policy).await;
    assert_eq!(r.status(), 400);
    let policy = [("activation", "automatic"), ("requires_id_check", "on"), ("past_due_grace_days", "3")];
    assert_eq!(
        p.app.post_form(&staff, page, "/staff/orgs/space/payments/policy", &policy).await.status(),
        303
    );
    let org: (String, i64, i64, i64) = sqlx::query_as(
        "SELECT activation, requires_waiver, requires_id_check, past_due_grace_days FROM organisations WHERE slug = 'space'",
    )
    .fetch_one(p.app.store.pool())
    .await
    .unwrap();
    assert_eq!(org, ("automatic".into(), 0, 1, 3));

    // The ledger, in the console and the API, with filters.
    let (c, id) = p.member("jo@example.org").await;
    p.pay(&c).await;
    let (status, html) = p.app.get_page(&staff, "/staff/stripe/events?type=invoice.paid").await;
    assert_eq!(status, 200);
    assert!(html.contains("invoice.paid") && !html.contains("checkout.session.completed"), "{html}");
    let token = p.app.api_token("admin@portico.test").await;
    let api = |path: &str| reqwest::Client::new().get(p.app.url(path)).bearer_auth(&token).send();
    let all: Value =
        api(&format!("/api/v1/stripe/events?membership={id}")).await.unwrap().json().await.unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 3, "{all}");
    let waiting: Value =
        api("/api/v1/stripe/events?outcome=paid_waiting").await.unwrap().json().await.unwrap();
    // Each of the three events found the membership paid and waiting (for its ID check); newest first.
    let types: Vec<&str> =
        waiting["items"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["checkout.session.completed", "invoice.paid", "customer.subscription.created"]);
    assert_eq!(waiting["items"][0]["membership"], id);
    let r = api("/api/v1/stripe/events?type=%3Cscript%3E").await.unwrap();
    assert_eq!(r.status(), 400);

    // An invoice of a subscription nobody knows fails (Stripe has no such subscription);
    // staff can process it again, audited.
    let orphan = serde_json::json!({
        "id": "evt_orphan", "object": "event", "type": "invoice.paid", "created": now(), "livemode": false,
        "data": {"object": {"id": "in_orphan", "object": "invoice", "customer": "cus_nobody",
            "parent": {"type": "subscription_details", "subscription_details": {"subscription": "sub_nobody", "metadata": {}}}}}
    });
    assert_eq!(p.deliver(&orphan).await, 200, "stored even though processing fails");
    let failed: Value = api("/api/v1/stripe/events?outcome=error").await.unwrap().json().await.unwrap();
    assert_eq!(failed["items"][0]["id"], "evt_orphan");
    assert!(failed["items"][0]["error"].as_str().unwrap().contains("404"), "{failed}");
    let r = reqwest::Client::new()
        .post(p.app.url("/api/v1/stripe/events/evt_orphan/reprocess"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(p.app.audit("stripe.event_reprocessed").await.len(), 1);
    let r = reqwest::Client::new()
        .post(p.app.url("/api/v1/stripe/events/evt_missing/reprocess"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn a_stripe_that_hangs_gets_a_502_within_the_deadline_and_nothing_changes() {
    // A server that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}/", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let p = setup_with("automatic", |c| c.stripe.api_base = silent_url.parse().unwrap()).await;
    let (c, id) = p.member("ka@example.org").await;
    let started = Instant::now();
    let plan = p.plan_id.to_string();
    let r = p.app.post_form(&c, "/o/space/join/payment", "/o/space/join/payment", &[("plan", &plan)]).await;
    assert_eq!(r.status(), 502);
    assert!(started.elapsed() < Duration::from_secs(15), "answered within the deadline");
    assert!(r.text().await.unwrap().contains("did not answer"));
    assert_eq!(p.status(id).await, "pending");
}

#[tokio::test]
async fn payments_and_their_status_changes_go_out_as_webhook_events() {
    let p = setup_with("automatic", |c| {
        c.webhooks.allow_http = true;
        c.webhooks.allow_private = true;
        c.webhooks.poll_ms = 50;
    })
    .await;
    let receiver = common::webhook_receiver::Receiver::start().await;
    let input = flows::webhooks::EndpointInput {
        url: receiver.url.clone(),
        events: Some(
            ["payment.succeeded", "payment.failed", "membership.activated", "membership.suspended"]
                .map(String::from)
                .to_vec(),
        ),
        enabled: None,
    };
    flows::webhooks::create(&p.app.store, &p.app.config.webhooks, &Ctx::cli(), "space", &input)
        .await
        .unwrap();
    let (c, id) = p.member("hooks@example.org").await;
    let paid = p.pay(&c).await;
    let sub = paid[0]["data"]["object"]["id"].as_str().unwrap().to_string();
    let patch = flows::orgs::OrgPatch { past_due_grace_days: Some(0), ..Default::default() };
    flows::orgs::update(&p.app.store, &Ctx::cli(), "space", &patch).await.unwrap();
    p.fake.set_status(&sub, "past_due").await.unwrap();
    let got = receiver.wait_for(3, Duration::from_secs(15)).await;
    let types: Vec<String> = got.iter().map(|r| r.json()["type"].as_str().unwrap().to_string()).collect();
    // Paid: the completed checkout activates, its invoice is a payment; then the failed
    // invoice. (The suspension follows from the scheduler's next sweep.)
    assert_eq!(types[..3], ["membership.activated", "payment.succeeded", "payment.failed"], "{types:?}");
    for r in &got[..3] {
        let body = r.json();
        assert_eq!(body["data"]["membership"]["id"], id);
        assert!(body["data"]["details"]["cause"].as_str().unwrap().starts_with("stripe:evt_"), "{body}");
    }
}

impl Pay {
    /// `portico import members --org space FILE ARGS` with Stripe configured, off the test's
    /// runtime thread (the fake answering it runs there): (success, stdout).
    async fn import(&self, csv: &str, args: &[&str]) -> (bool, String) {
        let dir = crate::operating::temp_dir("stripe-import");
        let file = dir.join("members.csv");
        std::fs::write(&file, csv).unwrap();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_portico"));
        command
            .args(["import", "members", "--org", "space"])
            .arg(&file)
            .args(args)
            .env("PORTICO_DATABASE_URL", &self.app.database_url)
            .env("PORTICO_STRIPE_SECRET_KEY", KEY)
            .env("PORTICO_STRIPE_API_BASE", self.fake.url().as_str())
            .env("PORTICO_LOG", "warn");
        let output = tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap();
        let out = String::from_utf8_lossy(&output.stdout).to_string();
        (output.status.success(), out + &String::from_utf8_lossy(&output.stderr))
    }

    async fn column(&self, membership: i64, column: &str) -> Option<String> {
        let sql = format!("SELECT CAST({column} AS TEXT) FROM memberships WHERE id = $1");
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(membership)
            .fetch_one(self.app.store.pool())
            .await
            .unwrap()
    }

    async fn membership_of(&self, email: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT m.id FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.email = $1",
        )
        .bind(email)
        .fetch_one(self.app.store.pool())
        .await
        .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_subscription_is_bound_and_stripes_later_events_follow_it() {
    let p = setup("automatic").await;
    let (customer, sub) = p.fake.add_existing_subscription("moved@example.org", "price_full");
    let (_, other_sub) = p.fake.add_existing_subscription("else@example.org", "price_full");
    // A member who paid through Portico: their subscription's metadata names them.
    let (c, paying) = p.member("paying@example.org").await;
    p.pay(&c).await;
    let paying_sub = p.subscription(paying).await;

    // Bad rows: a subscription bound elsewhere (by its metadata), one Stripe does not have,
    // the customer of another subscription, the same subscription twice.
    let bad = format!(
        "email,stripe_subscription,stripe_customer\n\
         thief@example.org,{paying_sub},\n\
         ghost@example.org,sub_nothere,\n\
         mixed@example.org,{other_sub},{customer}\n\
         moved@example.org,{sub},\n\
         twice@example.org,{sub},\n"
    );
    let (ok, out) = p.import(&bad, &[]).await;
    assert!(!ok, "{out}");
    for expected in [
        "line 2, column stripe_subscription: this subscription belongs to another membership",
        "line 3, column stripe_subscription: Stripe has no such subscription",
        "line 4, column stripe_customer: not the customer of the row's subscription",
        "line 6, column stripe_subscription: appears on an earlier line of the file",
    ] {
        assert!(out.contains(expected), "{expected}\n{out}");
    }
    assert_eq!(p.app.count("SELECT COUNT(*) FROM memberships").await, 1, "nothing written");
    let paying_meta = p.fake.subscription(&paying_sub).unwrap()["metadata"]["membership"].clone();
    assert_eq!(paying_meta.as_str(), p.column(paying, "payment_ref").await.as_deref(), "left as it was");

    let (ok, out) = p.import(&format!("email,stripe_subscription\nmoved@example.org,{sub}\n"), &[]).await;
    assert!(ok, "{out}");
    assert!(out.contains("created 1, updated 0, unchanged 0, refused 0"), "{out}");
    assert!(out.contains("Stripe subscriptions bound: 1"), "{out}");
    let moved = p.membership_of("moved@example.org").await;
    let reference = p.column(moved, "payment_ref").await.expect("a reference");
    let stripe_side = p.fake.subscription(&sub).unwrap();
    assert_eq!(stripe_side["metadata"]["membership"], reference.as_str(), "Stripe's metadata names it");
    // Status, customer, plan and renewal from the subscription.
    assert_eq!(p.status(moved).await, "active");
    assert_eq!(p.column(moved, "stripe_customer").await.as_deref(), Some(customer.as_str()));
    assert_eq!(p.column(moved, "subscription_status").await.as_deref(), Some("active"));
    assert_eq!(p.column(moved, "plan").await.as_deref(), Some("Full"));
    let period_end = stripe_side["items"]["data"][0]["current_period_end"].as_i64().unwrap();
    assert_eq!(p.column(moved, "renews_at").await, Some(period_end.to_string()));

    // Again: nothing to change, nothing sent to Stripe.
    let updates = || p.fake.events().iter().filter(|e| e["type"] == "customer.subscription.updated").count();
    let before = updates();
    let (ok, out) = p.import(&format!("email,stripe_subscription\nmoved@example.org,{sub}\n"), &[]).await;
    assert!(ok && out.contains("created 0, updated 0, unchanged 1, refused 0"), "{out}");
    assert!(!out.contains("bound"), "{out}");
    assert_eq!(updates(), before);

    // The subscription made elsewhere now drives the membership: a failed renewal, then a
    // cancellation, arrive as events and act on it.
    p.fake.set_status(&sub, "past_due").await.unwrap();
    assert_eq!(p.column(moved, "subscription_status").await.as_deref(), Some("past_due"));
    p.fake.set_status(&sub, "canceled").await.unwrap();
    assert_eq!(p.status(moved).await, "suspended");
    let processed = p
        .app
        .count("SELECT COUNT(*) FROM stripe_events WHERE state = 'processed' AND membership_id IS NOT NULL")
        .await;
    // The paying member's three events, the update the binding caused, and the two changes'
    // three (an invoice and an update, then a deletion).
    assert_eq!(processed, 3 + 1 + 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_through_member_first_pays_when_the_paid_period_ends() {
    let p = setup("automatic").await;
    let (c, id) = p.member("early@example.org").await;
    let through = time::OffsetDateTime::now_utc().date() + time::Duration::days(60);
    let (ok, out) =
        p.import(&format!("email,status,paid_through\nearly@example.org,active,{through}\n"), &[]).await;
    assert!(ok, "{out}");
    assert_eq!(p.status(id).await, "active");

    let (_, dashboard) = p.app.get_page(&c, "/dashboard?org=space").await;
    assert!(dashboard.contains("Set up your subscription now"), "{dashboard}");
    assert!(dashboard.contains("href=\"/o/space/join/payment\""));
    let location = p.checkout(&c, &[]).await;
    let sent = p.fake.checkout_requests().pop().unwrap();
    let midnight = through.midnight().assume_utc().unix_timestamp();
    assert_eq!(sent.param("subscription_data[trial_end]"), Some(midnight.to_string().as_str()));

    p.fake.pay(location.rsplit('/').next().unwrap()).await.unwrap();
    assert_eq!(p.status(id).await, "active");
    let sub = p.subscription(id).await;
    let stripe_side = p.fake.subscription(&sub).unwrap();
    assert_eq!(stripe_side["status"], "trialing");
    assert_eq!(stripe_side["trial_end"], midnight);
    assert_eq!(p.column(id, "renews_at").await, Some(midnight.to_string()), "first charge at that date");
    let (_, dashboard) = p.app.get_page(&c, "/dashboard?org=space").await;
    assert!(!dashboard.contains("href=\"/o/space/join/payment\""), "nothing more to pay");

    // A member whose paid period ends tomorrow is charged at once: Stripe wants 48 hours.
    let (c2, id2) = p.member("late@example.org").await;
    let soon = time::OffsetDateTime::now_utc().date() + time::Duration::days(1);
    let (ok, out) =
        p.import(&format!("email,status,paid_through\nlate@example.org,active,{soon}\n"), &[]).await;
    assert!(ok, "{out}");
    assert_eq!(p.status(id2).await, "active");
    p.checkout(&c2, &[]).await;
    let sent = p.fake.checkout_requests().pop().unwrap();
    assert_eq!(sent.param("subscription_data[trial_end]"), None);
}
