//! Stripe's webhook: the signature over the raw body, and the event ledger (each event once).

use crate::common;

use common::{TestApp, spawn_with};
use portico::config::Redacted;
use portico::domain::stripe_signature::sign;
use portico::store::now;
use serde_json::{Value, json};

const SECRET: &str = "whsec_portico_test_secret_0123456789";

async fn app() -> TestApp {
    spawn_with(|c| c.stripe.webhook_secret = Some(Redacted(SECRET.into()))).await
}

fn event(id: &str) -> String {
    json!({
        "id": id, "object": "event", "type": "invoice.paid", "created": now() - 5, "livemode": false,
        "data": {"object": {"id": "in_1", "object": "invoice"}}
    })
    .to_string()
}

async fn deliver(app: &TestApp, body: &str, signature: Option<String>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(app.url("/webhooks/stripe"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(signature) = signature {
        request = request.header("stripe-signature", signature);
    }
    let r = request.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn ledger_rows(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) FROM stripe_events").await
}

#[tokio::test]
async fn a_verified_event_is_stored_once_with_its_envelope() {
    let app = app().await;
    let body = event("evt_first");
    let (status, answer) = deliver(&app, &body, Some(sign(SECRET, body.as_bytes(), now()))).await;
    assert_eq!((status, answer["duplicate"].as_bool()), (200, Some(false)), "{answer}");
    let stored = portico::store::stripe_events::find(app.store.pool(), "evt_first").await.unwrap().unwrap();
    assert_eq!(
        (stored.kind.as_str(), stored.livemode, stored.state.as_str()),
        ("invoice.paid", false, "ignored"),
        "stored, then processed: an invoice of no subscription is not acted on"
    );
    let payload: String =
        sqlx::query_scalar("SELECT payload FROM stripe_events").fetch_one(app.store.pool()).await.unwrap();
    assert_eq!(payload, body, "the raw event is kept as it came");

    // Stripe delivers again (a retry): answered 200, nothing new.
    let (status, answer) = deliver(&app, &body, Some(sign(SECRET, body.as_bytes(), now()))).await;
    assert_eq!((status, answer["duplicate"].as_bool()), (200, Some(true)));
    assert_eq!(ledger_rows(&app).await, 1);
}

#[tokio::test]
async fn every_bad_signature_is_refused_and_stores_nothing() {
    let app = app().await;
    let body = event("evt_bad");
    let t = now();
    let good = sign(SECRET, body.as_bytes(), t);
    let cases = [
        ("no header", None),
        ("another secret", Some(sign("whsec_someone_else", body.as_bytes(), t))),
        ("the secret without its prefix", Some(sign(&SECRET["whsec_".len()..], body.as_bytes(), t))),
        // Well past the 300 s tolerance, so a slow machine crossing a second boundary between
        // signing and checking cannot bring them back in (the exact edge is a unit test).
        ("a stale timestamp", Some(sign(SECRET, body.as_bytes(), t - 400))),
        ("a timestamp from the future", Some(sign(SECRET, body.as_bytes(), t + 400))),
        ("garbage", Some("t=1,v1=zz".to_string())),
        ("no v1", Some(format!("t={t}"))),
        ("the signature of a shorter body", Some(sign(SECRET, &body.as_bytes()[..body.len() - 1], t))),
    ];
    for (what, header) in cases {
        let (status, answer) = deliver(&app, &body, header).await;
        assert_eq!(status, 400, "{what}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_signature", "{what}");
    }
    // The body altered after signing.
    let altered = body.replace("invoice.paid", "invoice.payment_failed");
    assert_eq!(deliver(&app, &altered, Some(good.clone())).await.0, 400, "altered body");
    assert_eq!(ledger_rows(&app).await, 0, "nothing stored");

    // While a secret rolls, Stripe signs with both: any v1 may match.
    let rolled =
        format!("{},v1={}", sign("whsec_old_secret", body.as_bytes(), t), good.split("v1=").nth(1).unwrap());
    assert_eq!(deliver(&app, &body, Some(rolled)).await.0, 200);
    assert_eq!(ledger_rows(&app).await, 1);
}

#[tokio::test]
async fn a_signed_body_that_is_not_an_event_is_refused() {
    let app = app().await;
    for body in [
        "not json",
        r#"{"id": "evt_x"}"#,
        r#"{"id": "not-an-event", "type": "x", "created": 1, "livemode": false}"#,
    ] {
        let (status, answer) = deliver(&app, body, Some(sign(SECRET, body.as_bytes(), now()))).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("invalid_event")), "{body}");
    }
    assert_eq!(ledger_rows(&app).await, 0);
}

#[tokio::test]
async fn twenty_concurrent_deliveries_of_one_event_make_one_ledger_row() {
    let app = app().await;
    let body = event("evt_storm");
    let deliveries = (0..20).map(|_| deliver(&app, &body, Some(sign(SECRET, body.as_bytes(), now()))));
    let answers = futures_util::future::join_all(deliveries).await;
    assert!(answers.iter().all(|(status, _)| *status == 200), "{answers:?}");
    let first = answers.iter().filter(|(_, a)| a["duplicate"] == false).count();
    assert_eq!(first, 1, "exactly one delivery stored it");
    assert_eq!(ledger_rows(&app).await, 1);
}

#[tokio::test]
async fn without_a_webhook_secret_there_is_no_webhook() {
    let app = spawn_with(|_| {}).await;
    let body = event("evt_nowhere");
    let (status, answer) = deliver(&app, &body, Some(sign(SECRET, body.as_bytes(), now()))).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (404, Some("not_found")));
    assert_eq!(ledger_rows(&app).await, 0);
}
