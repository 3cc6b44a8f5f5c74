//! Events out (SPEC §3.7), on both backends, against a real HTTP receiver that changes its
//! answers mid-test.

use crate::common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::webhook_receiver::{Answer, Receiver};
use common::{TestApp, spawn_with};
use hmac::{Hmac, Mac};
use portico::flows::{self, Ctx};
use serde_json::{Value, json};
use sha2::Sha256;

struct Setup {
    app: TestApp,
    token: String,
    receiver: Receiver,
}

/// A server that may send to loopback over http, polls often and retries on a compressed
/// schedule (three retries, 300 ms apart), with an organisation "club".
async fn setup() -> Setup {
    let app = spawn_with(|c| {
        c.webhooks.allow_private = true;
        c.webhooks.poll_ms = 50;
        c.webhooks.timeout_secs = 2;
        c.webhooks.retry_schedule_ms = vec![300, 300, 300];
    })
    .await;
    let token = app.admin_token().await;
    let input = flows::orgs::OrgInput {
        slug: "club".into(),
        name: "Club".into(),
        kind: "nonprofit".into(),
        company_name: None,
        signup: Some("open".into()),
    };
    flows::orgs::create(&app.store, &Ctx::cli(), &input).await.unwrap();
    Setup { app, token, receiver: Receiver::start().await }
}

impl Setup {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = reqwest::Client::new().request(method, self.app.url(path)).bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// An endpoint for every event type at the receiver; its id and secret.
    async fn endpoint(&self) -> (i64, String) {
        let types = portico::flows::webhooks::EVENT_TYPES;
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/api/v1/orgs/club/webhooks",
                Some(json!({"url": self.receiver.url, "events": types})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        (body["id"].as_i64().unwrap(), body["secret"].as_str().unwrap().to_string())
    }

    async fn set_status(&self, id: i64, status: &str) {
        let path = format!("/api/v1/orgs/club/members/{id}");
        let (code, body) =
            self.call(reqwest::Method::PATCH, &path, Some(json!({"status": status, "reason": "test"}))).await;
        assert_eq!(code, 200, "{body}");
    }
}

/// Standard Webhooks verification, written here from the specification (not Portico's code):
/// the key is the base64 after `whsec_`; any `v1,` signature may match.
fn verifies(secret: &str, id: &str, timestamp: &str, body: &str, header: &str) -> bool {
    let key = STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    header.split(' ').any(|s| s.strip_prefix("v1,") == Some(expected.as_str()))
}

#[test]
fn the_test_verifier_accepts_the_published_test_vector() {
    let header = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    let body = r#"{"test": 2432232314}"#;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    assert!(verifies(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body, header));
    assert!(!verifies(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265331", body, header));
}

#[tokio::test]
async fn endpoints_are_managed_over_the_api_and_a_secret_is_shown_only_once() {
    let s = setup().await;
    let (id, secret) = s.endpoint().await;
    assert!(secret.starts_with("whsec_") && STANDARD.decode(&secret[6..]).unwrap().len() == 32);
    let (status, list) = s.call(reqwest::Method::GET, "/api/v1/orgs/club/webhooks", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["items"][0]["id"], id);
    assert!(!list.to_string().contains(&secret), "the secret is never listed");
    let path = format!("/api/v1/orgs/club/webhooks/{id}");
    let (status, changed) = s
        .call(reqwest::Method::PATCH, &path, Some(json!({"events": ["membership.banned"], "enabled": false})))
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (changed["events"].clone(), changed["enabled"].clone()),
        (json!(["membership.banned"]), json!(false))
    );
    let (status, rotated) = s.call(reqwest::Method::POST, &format!("{path}/rotate"), None).await;
    assert_eq!(status, 200);
    let new_secret = rotated["secret"].as_str().unwrap();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    assert!(rotated["previous_secret_until"].is_string());
    assert_eq!(s.call(reqwest::Method::DELETE, &path, None).await.0, 204);
    assert_eq!(s.call(reqwest::Method::GET, &path, None).await.0, 404);
    for action in [
        "webhook.endpoint_created",
        "webhook.endpoint_updated",
        "webhook.secret_rotated",
        "webhook.endpoint_deleted",
    ] {
        let events = s.app.audit(action).await;
        assert_eq!(events.len(), 1, "{action}");
        assert_eq!(events[0].target.as_deref(), Some(s.receiver.url.as_str()), "{action}");
    }
}

#[tokio::test]
async fn bad_destinations_and_types_are_refused_and_change_nothing() {
    let s = setup().await;
    let strict = spawn_with(|_| {}).await;
    let strict_token = strict.admin_token().await;
    let input = flows::orgs::OrgInput {
        slug: "club".into(),
        name: "Club".into(),
        kind: "nonprofit".into(),
        company_name: None,
        signup: None,
    };
    flows::orgs::create(&strict.store, &Ctx::cli(), &input).await.unwrap();
    let post = |app: &TestApp, token: &str, body: Value| {
        reqwest::Client::new()
            .post(app.url("/api/v1/orgs/club/webhooks"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    // By default: https only, and no loopback, private, link-local or metadata addresses.
    for (url, code) in [
        ("http://hooks.example.org/x", "insecure_destination"),
        ("https://127.0.0.1:9/x", "private_destination"),
        ("https://169.254.169.254/latest", "private_destination"),
        ("https://10.0.0.8/", "private_destination"),
        ("https://localhost/", "private_destination"),
    ] {
        let r = post(&strict, &strict_token, json!({"url": url, "events": ["membership.created"]}))
            .await
            .unwrap();
        assert_eq!(r.status(), 409, "{url}");
        let body = r.json::<Value>().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{url}");
        // The message says what is wrong and what to do, not a conflict's "already exists".
        let message = body["error"]["message"].as_str().unwrap();
        let hint = if code == "insecure_destination" { "https://" } else { "PORTICO_WEBHOOKS_ALLOW_PRIVATE" };
        assert!(message.contains(hint) && !message.contains("already exists"), "{url}: {message}");
    }
    let ok = post(
        &strict,
        &strict_token,
        json!({"url": "https://hooks.example.org/x", "events": ["membership.created"]}),
    )
    .await
    .unwrap();
    assert_eq!(ok.status(), 201);
    for body in [
        json!({"url": "ftp://hooks.example.org/", "events": ["membership.created"]}),
        json!({"url": "https://0x7f.1/", "events": ["membership.created"]}),
        json!({"url": s.receiver.url, "events": []}),
        json!({"url": s.receiver.url, "events": ["membership.exploded"]}),
        json!({"url": s.receiver.url, "events": null}),
    ] {
        let r = post(&s.app, &s.token, body.clone()).await.unwrap();
        assert!(r.status() == 400 || r.status() == 422, "{body}: {}", r.status());
    }
    assert_eq!(s.app.count("SELECT COUNT(*) FROM webhook_endpoints").await, 0);
    // SPEC §6: `{url}` alone subscribes to every event type; with PORTICO_WEBHOOKS_ALLOW_PRIVATE
    // (and nothing else), a plain-http receiver on loopback is accepted.
    assert!(s.receiver.url.starts_with("http://127.0.0.1:"));
    let r = post(&s.app, &s.token, json!({"url": s.receiver.url})).await.unwrap();
    assert_eq!(r.status(), 201);
    let created = r.json::<Value>().await.unwrap();
    let events: Vec<&str> =
        created["events"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    let mut every = portico::flows::webhooks::EVENT_TYPES.to_vec();
    every.sort();
    assert_eq!(events, every);
}

#[tokio::test]
async fn a_status_change_arrives_signed_with_the_standard_webhooks_headers() {
    let s = setup().await;
    let (_, secret) = s.endpoint().await;
    let id = s.app.join("club", "ada@example.org", None).await;
    s.set_status(id, "active").await;
    let got = s.receiver.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 2, "membership.created then membership.activated: {got:?}");
    for r in &got {
        assert!(r.id.starts_with("msg_"), "{r:?}");
        assert!((r.timestamp.parse::<i64>().unwrap() - portico::store::now()).abs() < 30);
        assert!(verifies(&secret, &r.id, &r.timestamp, &r.body, &r.signature), "{r:?}");
        assert!(!verifies(&secret, &r.id, &r.timestamp, &format!("{} ", r.body), &r.signature));
    }
    let (created, activated) = (got[0].json(), got[1].json());
    assert_eq!(created["type"], "membership.created");
    assert_eq!(activated["type"], "membership.activated");
    assert_eq!(activated["data"]["membership"]["id"], id);
    assert_eq!(activated["data"]["membership"]["status"], "active");
    assert_eq!(activated["data"]["membership"]["email"], "ada@example.org");
    assert_eq!(activated["data"]["membership"]["organisation"], "club");
    assert_eq!(activated["data"]["details"]["reason"], "test");
    assert_eq!(
        (created["data"]["sequence"].as_i64(), activated["data"]["sequence"].as_i64()),
        (Some(1), Some(2))
    );
    assert!(activated["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_ne!(got[0].id, got[1].id);
}

#[tokio::test]
async fn during_a_rotation_both_secrets_sign() {
    let s = setup().await;
    let (endpoint, old) = s.endpoint().await;
    let (_, rotated) =
        s.call(reqwest::Method::POST, &format!("/api/v1/orgs/club/webhooks/{endpoint}/rotate"), None).await;
    let new = rotated["secret"].as_str().unwrap().to_string();
    s.app.join("club", "rot@example.org", None).await;
    let got = s.receiver.wait_for(1, Duration::from_secs(10)).await;
    let r = &got[0];
    assert_eq!(r.signature.split(' ').count(), 2, "{}", r.signature);
    assert!(verifies(&new, &r.id, &r.timestamp, &r.body, &r.signature));
    assert!(verifies(&old, &r.id, &r.timestamp, &r.body, &r.signature));
}

#[tokio::test]
async fn a_failing_first_delivery_holds_the_later_ones_of_that_membership_in_order() {
    let s = setup().await;
    s.endpoint().await;
    s.receiver.script([Answer::Status(500), Answer::Status(503)]);
    let id = s.app.join("club", "order@example.org", None).await;
    s.set_status(id, "active").await;
    s.set_status(id, "suspended").await;
    s.set_status(id, "active").await;
    let got = s.receiver.wait_for(6, Duration::from_secs(15)).await;
    // Two failed attempts of the first event, then each event once, in sequence order.
    let sequences: Vec<i64> = got.iter().map(|r| r.json()["data"]["sequence"].as_i64().unwrap()).collect();
    assert_eq!(sequences, vec![1, 1, 1, 2, 3, 4], "{got:?}");
    let types: Vec<String> =
        got[2..].iter().map(|r| r.json()["type"].as_str().unwrap().to_string()).collect();
    assert_eq!(
        types,
        ["membership.created", "membership.activated", "membership.suspended", "membership.reinstated"]
    );
    // The retries keep the webhook-id; every event has its own.
    assert!(got[0].id == got[1].id && got[1].id == got[2].id);
    let ids: std::collections::HashSet<&str> = got[2..].iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 4);
    // The compressed schedule: each retry waited at least half its 300 ms.
    assert!(got[1].at - got[0].at >= Duration::from_millis(150), "{:?}", got[1].at - got[0].at);
}

#[tokio::test]
async fn retries_end_dead_after_the_schedule_and_410_disables_the_endpoint() {
    let s = setup().await;
    let (endpoint, _) = s.endpoint().await;
    s.receiver.answer(Answer::Status(500));
    s.app.join("club", "dead@example.org", None).await;
    // One attempt and three retries, then dead.
    s.receiver.wait_for(4, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(s.receiver.count(), 4);
    assert_eq!(s.app.count("SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'dead'").await, 1);

    s.receiver.answer(Answer::Status(410));
    s.app.join("club", "gone@example.org", None).await;
    s.receiver.wait_for(5, Duration::from_secs(10)).await;
    let path = format!("/api/v1/orgs/club/webhooks/{endpoint}");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let disabled = loop {
        let (_, e) = s.call(reqwest::Method::GET, &path, None).await;
        if e["enabled"] == false || std::time::Instant::now() > deadline {
            break e;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(disabled["enabled"], false, "{disabled}");
    assert!(disabled["disabled_reason"].as_str().unwrap().contains("410"));
    assert_eq!(s.app.audit("webhook.endpoint_disabled").await.len(), 1);
    // Nothing more goes to a disabled endpoint.
    s.app.join("club", "after@example.org", None).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(s.receiver.count(), 5);
}

#[tokio::test]
async fn a_refused_change_emits_nothing_and_an_organisation_without_endpoints_stores_nothing() {
    let s = setup().await;
    // No endpoint yet: changes are made, nothing is stored for delivery.
    let id = s.app.join("club", "quiet@example.org", None).await;
    s.set_status(id, "active").await;
    assert_eq!(s.app.count("SELECT COUNT(*) FROM webhook_events").await, 0);
    s.endpoint().await;
    // A status change refused (not an allowed transition) writes nothing, event included. (A
    // change that fails after its event was written is in tests/signup.rs.)
    let path = format!("/api/v1/orgs/club/members/{id}");
    let (code, _) =
        s.call(reqwest::Method::PATCH, &path, Some(json!({"status": "pending", "reason": "x"}))).await;
    assert_eq!(code, 422);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.app.count("SELECT COUNT(*) FROM webhook_events").await, 0);
    assert_eq!(s.receiver.count(), 0);
}

#[tokio::test]
async fn staff_manage_endpoints_and_see_and_replay_deliveries_in_the_console() {
    let s = setup().await;
    let password = s.app.create_staff("console@portico.test", portico::domain::StaffRole::Admin).await;
    let c = common::client();
    s.app.login(&c, "console@portico.test", &password).await;
    let page = "/staff/orgs/club/webhooks";
    let form =
        [("url", s.receiver.url.as_str()), ("events", "membership.created"), ("events", "membership.banned")];
    let r = s.app.post_form(&c, page, page, &form).await;
    assert_eq!(r.status(), 201);
    let shown = r.text().await.unwrap();
    let secret = shown.split("<code class=\"token\">").nth(1).unwrap().split('<').next().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{shown}");
    let (_, listed) = s.app.get_page(&c, page).await;
    assert!(listed.contains("membership.banned, membership.created") && !listed.contains(&secret));
    let id: i64 =
        sqlx::query_scalar("SELECT id FROM webhook_endpoints").fetch_one(s.app.store.pool()).await.unwrap();

    // A test event goes to this endpoint whatever its types, signed with the secret shown.
    let r = s.app.post_form(&c, page, &format!("{page}/{id}/test"), &[]).await;
    assert_eq!(r.status(), 303);
    let got = s.receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].json()["type"], "webhook.test");
    assert!(verifies(&secret, &got[0].id, &got[0].timestamp, &got[0].body, &got[0].signature));
    let one = format!("{page}/{id}");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let delivered = loop {
        let (status, body) = s.app.get_page(&c, &one).await;
        assert_eq!(status, 200);
        if body.contains("delivery-delivered") || std::time::Instant::now() > deadline {
            break body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(delivered.contains("webhook.test") && delivered.contains("receiver says hi"), "{delivered}");

    // Replay: the same webhook-id again.
    let delivery: i64 =
        sqlx::query_scalar("SELECT id FROM webhook_deliveries").fetch_one(s.app.store.pool()).await.unwrap();
    let r = s.app.post_form(&c, &one, &format!("{one}/deliveries/{delivery}/replay"), &[]).await;
    assert_eq!(r.status(), 303);
    let got = s.receiver.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(got[1].id, got[0].id);

    // Disable: nothing more is sent; delete: gone from the page.
    assert_eq!(s.app.post_form(&c, page, &format!("{page}/{id}/disable"), &[]).await.status(), 303);
    let (_, listed) = s.app.get_page(&c, page).await;
    assert!(listed.contains(">Disabled<"), "{listed}");
    assert_eq!(s.app.post_form(&c, page, &format!("{page}/{id}/delete"), &[]).await.status(), 303);
    let (_, listed) = s.app.get_page(&c, page).await;
    assert!(!listed.contains(&s.receiver.url));
    // A bad URL re-renders the form with the reason.
    let r = s
        .app
        .post_form(&c, page, page, &[("url", "ftp://x.example/"), ("events", "membership.created")])
        .await;
    assert_eq!(r.status(), 400);
}

/// The types the receiver got, in arrival order, once `n` arrived.
async fn types_received(s: &Setup, n: usize) -> Vec<String> {
    let got = s.receiver.wait_for(n, Duration::from_secs(15)).await;
    got.iter().map(|r| r.json()["type"].as_str().unwrap_or_default().to_string()).collect()
}

#[tokio::test]
async fn each_event_type_is_emitted_by_its_cause() {
    let s = setup().await;
    s.endpoint().await;
    let id = s.app.join("club", "causes@example.org", None).await;
    let base = format!("/api/v1/orgs/club/members/{id}");
    let patch = |body: Value| s.call(reqwest::Method::PATCH, &base, Some(body));
    assert_eq!(patch(json!({"status": "active", "reason": "paid"})).await.0, 200);
    assert_eq!(patch(json!({"storage": "Shelf 4"})).await.0, 200);
    let post = s
        .call(reqwest::Method::POST, &format!("{base}/credentials"), Some(json!({"tag": "1234567890"})))
        .await;
    assert_eq!(post.0, 201);
    assert_eq!(s.call(reqwest::Method::PUT, "/api/v1/orgs/club/authorisations/Laser", None).await.0, 200);
    assert_eq!(s.call(reqwest::Method::PUT, &format!("{base}/authorisations/Laser"), None).await.0, 200);
    assert_eq!(patch(json!({"status": "suspended", "reason": "late"})).await.0, 200);
    assert_eq!(patch(json!({"status": "active", "reason": "paid up"})).await.0, 200);
    assert_eq!(patch(json!({"status": "banned", "reason": "conduct"})).await.0, 200);
    // A note is staff's own: no event.
    assert_eq!(
        s.call(reqwest::Method::POST, &format!("{base}/notes"), Some(json!({"text": "hm"}))).await.0,
        201
    );
    let expected = [
        "membership.created",
        "membership.activated",
        "member.updated",
        "credentials.changed",
        "authorisations.changed",
        "membership.suspended",
        "membership.reinstated",
        "membership.banned",
    ];
    assert_eq!(types_received(&s, expected.len()).await, expected);

    // An invitation accepted: the membership is created, and the invitation is used.
    let invite = json!({"email": "invited@example.org"});
    assert_eq!(s.call(reqwest::Method::POST, "/api/v1/orgs/club/invitations", Some(invite)).await.0, 201);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mail = loop {
        let mail = portico::store::outbox::dev_mails(s.app.store.pool(), 10).await.unwrap();
        if !mail.is_empty() || std::time::Instant::now() > deadline {
            break mail;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let link = portico::mail::links(&mail[0].body_text).into_iter().find(|l| l.contains("/invite/")).unwrap();
    let token = link.rsplit('/').next().unwrap();
    let how = portico::flows::invitations::Acceptance::NewPassword {
        password: "a long enough password",
        confirm: "a long enough password",
    };
    let origin = portico::store::audit::Origin::default();
    portico::flows::invitations::accept(
        &s.app.store,
        &s.app.config,
        &s.app.hasher,
        &origin,
        token,
        how,
        None,
    )
    .await
    .unwrap();
    let all = types_received(&s, expected.len() + 2).await;
    assert_eq!(all[expected.len()..], ["membership.created", "invitation.accepted"]);
    let got = s.receiver.received();
    let (created, accepted) = (got[expected.len()].json(), got[expected.len() + 1].json());
    assert_eq!(created["data"]["membership"]["status"], "active");
    assert_eq!(accepted["data"]["membership"]["id"], created["data"]["membership"]["id"]);
    assert_eq!(
        (created["data"]["sequence"].as_i64(), accepted["data"]["sequence"].as_i64()),
        (Some(1), Some(2))
    );
}

#[tokio::test]
async fn a_receiver_that_does_not_answer_in_time_is_a_failure_and_the_retry_delivers() {
    let s = setup().await;
    s.endpoint().await;
    s.receiver.script([Answer::Hang, Answer::Slow(Duration::from_millis(300))]);
    s.app.join("club", "slow@example.org", None).await;
    let got = s.receiver.wait_for(2, Duration::from_secs(15)).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].id, got[1].id, "the retry of the same event");
    // The first attempt was given up at the 2 s deadline; the slow second one succeeded.
    assert!(got[1].at - got[0].at >= Duration::from_millis(1900), "{:?}", got[1].at - got[0].at);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while s.app.count("SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'delivered'").await == 0 {
        assert!(std::time::Instant::now() < deadline, "delivered after the slow answer");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let error: String = sqlx::query_scalar("SELECT last_error FROM webhook_deliveries")
        .fetch_one(s.app.store.pool())
        .await
        .unwrap_or_default();
    assert!(error.is_empty() || error.contains("timed out"), "{error}");
}

#[tokio::test]
async fn two_servers_on_one_database_deliver_a_thousand_events_once_each() {
    let s = setup().await;
    s.endpoint().await;
    let second = common::spawn_on(s.app.database_url.clone(), None, |c| {
        c.webhooks.allow_http = true;
        c.webhooks.allow_private = true;
        c.webhooks.poll_ms = 50;
    })
    .await;
    let n = 1000;
    for i in 0..n {
        s.app.join("club", &format!("many{i}@example.org"), None).await;
    }
    let got = s.receiver.wait_for(n, Duration::from_secs(120)).await;
    assert_eq!(got.len(), n);
    let ids: std::collections::HashSet<&str> = got.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), n, "no webhook-id twice");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.receiver.count(), n, "nothing more");
    drop(second);
}

#[tokio::test]
async fn a_redirect_is_a_failure_retry_after_is_honoured_and_metrics_count_deliveries() {
    let s = setup().await;
    s.endpoint().await;
    // A redirect is not followed and not a success; then the receiver asks for 1 s.
    s.receiver.script([Answer::Status(302), Answer::StatusRetryAfter(503, 1)]);
    s.app.join("club", "later@example.org", None).await;
    let got = s.receiver.wait_for(3, Duration::from_secs(15)).await;
    assert_eq!(got.len(), 3);
    assert!(got[0].id == got[1].id && got[1].id == got[2].id);
    // The schedule says 300 ms; the receiver's Retry-After said a second.
    assert!(got[2].at - got[1].at >= Duration::from_millis(950), "{:?}", got[2].at - got[1].at);
    assert!(got[1].at - got[0].at < Duration::from_millis(950), "{:?}", got[1].at - got[0].at);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let metrics = loop {
        let body = reqwest::get(s.app.url("/metrics")).await.unwrap().text().await.unwrap();
        if body.contains("portico_webhook_deliveries{state=\"delivered\"} 1")
            || std::time::Instant::now() > deadline
        {
            break body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(metrics.contains("portico_webhook_deliveries{state=\"delivered\"} 1"), "{metrics}");
    assert!(metrics.contains("portico_webhook_oldest_due_seconds 0.000"), "{metrics}");
}
