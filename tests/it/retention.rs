//! Keeping only what is needed (SPEC §3.11): each kind of kept data past its retention setting
//! is removed (Stripe payloads scrubbed) by one run, recorded once in the audit log; what is
//! recent, unfinished, or kept forever (0) stays. On both backends.

use std::time::Duration;

use portico::config::Redacted;
use portico::domain::stripe_signature::sign;
use portico::flows::{self, Ctx};
use portico::store::now;
use serde_json::json;

use crate::common::{TestApp, spawn_with, webhook_receiver};

const SECRET: &str = "whsec_portico_retention_secret_0123456789";
const DAY: i64 = 86_400;

async fn exec(app: &TestApp, sql: &'static str, at: i64) {
    sqlx::query(sql).bind(at).execute(app.store.pool()).await.unwrap();
}

async fn stripe_event(app: &TestApp, id: &str) {
    let body = json!({
        "id": id, "object": "event", "type": "invoice.paid", "created": now() - 5, "livemode": false,
        "data": {"object": {"id": "in_1", "object": "invoice", "customer_email": "payer@example.org"}}
    })
    .to_string();
    let r = reqwest::Client::new()
        .post(app.url("/webhooks/stripe"))
        .header("content-type", "application/json")
        .header("stripe-signature", sign(SECRET, body.as_bytes(), now()))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn one_run_removes_what_is_past_its_retention_and_keeps_the_rest() {
    let app = spawn_with(|c| {
        c.stripe.webhook_secret = Some(Redacted(SECRET.into()));
        c.webhooks.allow_private = true;
    })
    .await;
    let token = app.admin_token().await;
    let org = json!({"slug": "club", "name": "Club", "kind": "nonprofit", "signup": "open"});
    assert_eq!(app.api(&token, reqwest::Method::POST, "/api/v1/orgs", Some(org)).await.0, 201);
    let receiver = webhook_receiver::Receiver::start().await;
    let endpoint = json!({"url": receiver.url});
    assert_eq!(
        app.api(&token, reqwest::Method::POST, "/api/v1/orgs/club/webhooks", Some(endpoint)).await.0,
        201
    );

    // Emails (to the dev mailbox), links, a signup request, webhook deliveries, Stripe events:
    // all made the usual way, then the old ones aged as if months had passed.
    for who in ["old@example.org", "new@example.org"] {
        let invite = json!({"email": who, "role": "member"});
        assert_eq!(
            app.api(&token, reqwest::Method::POST, "/api/v1/orgs/club/invitations", Some(invite)).await.0,
            201
        );
    }
    let member = app.join("club", "joiner@example.org", None).await;
    receiver.wait_for(1, Duration::from_secs(20)).await;
    stripe_event(&app, "evt_old").await;
    stripe_event(&app, "evt_new").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while app.count("SELECT COUNT(*) FROM outbox WHERE state <> 'sent'").await > 0
        || app.count("SELECT COUNT(*) FROM webhook_deliveries WHERE state <> 'delivered'").await > 0
        || app.count("SELECT COUNT(*) FROM stripe_events WHERE state = 'received'").await > 0
    {
        assert!(tokio::time::Instant::now() < deadline, "emails, deliveries and events did not settle");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let old = now() - 100 * DAY;
    exec(&app, "UPDATE outbox SET updated_at = $1 WHERE recipient = 'old@example.org'", old).await;
    exec(&app, "UPDATE dev_mailbox SET delivered_at = $1 WHERE recipient = 'old@example.org'", old).await;
    exec(&app, "UPDATE tokens SET expires_at = $1 WHERE email = 'old@example.org'", old).await;
    exec(&app, "UPDATE webhook_deliveries SET updated_at = $1", old).await;
    exec(&app, "UPDATE webhook_events SET created_at = $1", old).await;
    exec(&app, "UPDATE stripe_events SET received_at = $1 WHERE id = 'evt_old'", now() - 500 * DAY).await;
    // Two finished signup requests (one old) and an unfinished old one.
    for (state, processed) in [("processed", Some(old)), ("processed", Some(now())), ("new", None)] {
        sqlx::query(
            "INSERT INTO signup_requests (org_id, email, locale, state, created_at, processed_at)
             SELECT id, 'signup@example.org', 'en', $1, $2, $3 FROM organisations WHERE slug = 'club'",
        )
        .bind(state)
        .bind(old)
        .bind(processed)
        .execute(app.store.pool())
        .await
        .unwrap();
    }
    let before = counts(&app).await;
    assert!(before.3 >= 1 && before.4 >= 1, "{before:?}");

    let removed = flows::retention::run(&app.store).await.unwrap();
    assert_eq!(removed.get("emails"), Some(&1));
    assert_eq!(removed.get("dev_mail"), Some(&1));
    assert_eq!(removed.get("tokens"), Some(&1));
    assert_eq!(removed.get("webhook_deliveries").copied(), Some(before.3 as u64));
    assert_eq!(removed.get("webhook_events").copied(), Some(before.4 as u64));
    assert_eq!(removed.get("stripe_payloads"), Some(&1));
    assert_eq!(removed.get("signup_requests"), Some(&1));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM signup_requests").await,
        2,
        "the recent one and the unfinished one stay"
    );
    let after = counts(&app).await;
    assert_eq!(after, (before.0 - 1, before.1 - 1, before.2 - 1, 0, 0));
    // What is recent stays: the second invitation's email and link work as before.
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox WHERE recipient = 'new@example.org'").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM tokens WHERE email = 'new@example.org'").await, 1);
    // A Stripe event keeps its id, type, times and outcome; its payload is gone; the recent
    // one keeps its payload.
    let (payload, kind, state): (String, String, String) =
        sqlx::query_as("SELECT payload, type, state FROM stripe_events WHERE id = 'evt_old'")
            .fetch_one(app.store.pool())
            .await
            .unwrap();
    assert_eq!((payload.as_str(), kind.as_str()), ("{}", "invoice.paid"));
    assert_ne!(state, "received");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM stripe_events WHERE payload LIKE '%payer@example.org%'").await,
        1
    );
    let (code, body) =
        app.api(&token, reqwest::Method::POST, "/api/v1/stripe/events/evt_old/reprocess", None).await;
    assert_eq!((code, body["error"]["code"].as_str()), (409, Some("payload_pruned")), "{body}");

    // One audit record for the run, naming what went; a second run finds nothing and records nothing.
    let runs = app.audit("retention.pruned").await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].details["removed"]["emails"], 1);
    assert_eq!(runs[0].details["retention_days"]["retention.emails_days"], 90);
    assert!(flows::retention::run(&app.store).await.unwrap().is_empty());
    assert_eq!(app.audit("retention.pruned").await.len(), 1);

    // 0 keeps forever.
    flows::settings::set(&app.store, &Ctx::cli(), "retention.emails_days", "0").await.unwrap();
    exec(&app, "UPDATE outbox SET updated_at = $1", now() - 5000 * DAY).await;
    let removed = flows::retention::run(&app.store).await.unwrap();
    assert!(!removed.contains_key("emails"), "{removed:?}");
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox").await, before.0 - 1);
    let _ = member;
}

async fn counts(app: &TestApp) -> (i64, i64, i64, i64, i64) {
    (
        app.count("SELECT COUNT(*) FROM outbox").await,
        app.count("SELECT COUNT(*) FROM dev_mailbox").await,
        app.count("SELECT COUNT(*) FROM tokens").await,
        app.count("SELECT COUNT(*) FROM webhook_deliveries").await,
        app.count("SELECT COUNT(*) FROM webhook_events").await,
    )
}
