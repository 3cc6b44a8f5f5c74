//! Erasure (SPEC §3.11) on both backends: staff erase at once, a member asks and may cancel
//! during the cooling-off period, a banned member's tombstone stops a rejoin. After it the old
//! address is nowhere — not in any row of any table, API answer, page, audit CSV, access list,
//! webhook payload, Stripe ledger or outbox — while counts and the audit trail's actions and
//! times remain.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Row;

use crate::common::{self, TestApp, client, spawn_with, webhook_receiver::Receiver};
use portico::config::Redacted;
use portico::domain::NewPassword;
use portico::flows::{self, Ctx};
use portico::store::Backend;
use portico::stripe::fake::FakeStripe;

const KEY: &str = "sk_test_portico_erasure_0123";
const SECRET: &str = "whsec_portico_erasure_secret";
const PASSWORD: &str = "correct horse battery";
const ADA: &str = "ada@example.org";

struct Space {
    app: TestApp,
    fake: FakeStripe,
    token: String,
    receiver: Receiver,
}

async fn space() -> Space {
    let fake = FakeStripe::start("127.0.0.1".parse().unwrap(), KEY, SECRET, None).await.unwrap();
    let api = fake.url().clone();
    let app = spawn_with(|c| {
        c.stripe.secret_key = Some(Redacted(KEY.into()));
        c.stripe.webhook_secret = Some(Redacted(SECRET.into()));
        c.stripe.api_base = api;
        c.webhooks.allow_private = true;
        c.webhooks.poll_ms = 50;
        c.scheduler_secs = 1;
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
    let patch = flows::orgs::OrgPatch { activation: Some("automatic".into()), ..Default::default() };
    flows::orgs::update(&app.store, &ctx, "space", &patch).await.unwrap();
    let plan = flows::plans::PlanInput {
        name: "Full".into(),
        price_id: "price_full".into(),
        display_price: "€30 / month".into(),
        interval: "month".into(),
    };
    flows::plans::create(&app.store, &ctx, "space", &plan).await.unwrap();
    flows::members::add_to_catalogue(&app.store, &ctx, "space", "laser", None).await.unwrap();
    let token = app.admin_token().await;
    let receiver = Receiver::start().await;
    let (status, body) = app
        .api(
            &token,
            Method::POST,
            "/api/v1/orgs/space/webhooks",
            Some(json!({"url": receiver.url, "events": flows::webhooks::EVENT_TYPES})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    Space { app, fake, token, receiver }
}

impl Space {
    /// A signed-in member who paid through Stripe and has a whole record: names, phone,
    /// birthday, a custom field, a key, an authorisation, a staff note. (browser, membership)
    async fn member(&self, email: &str, tag: &str, name: (&str, &str)) -> (reqwest::Client, i64) {
        let hash = self.app.hasher.hash(&NewPassword::parse(PASSWORD, &[]).unwrap()).await.unwrap();
        let id = self.app.join("space", email, Some(&hash)).await;
        let c = client();
        assert_eq!(self.app.login(&c, email, PASSWORD).await.status(), 303);
        let plan = flows::plans::list(&self.app.store, &Ctx::cli(), "space").await.unwrap()[0].id.to_string();
        let r = self
            .app
            .post_form(&c, "/o/space/join/payment", "/o/space/join/payment", &[("plan", &plan)])
            .await;
        let location = r.headers()["location"].to_str().unwrap().to_string();
        self.fake.pay(location.rsplit('/').next().unwrap()).await.unwrap();
        let csv = format!(
            "email,first_name,last_name,phone,birthday,tags,authorisations,note,custom.locker\n\
             {email},{first},{last},+44 20 7946 0000,1990-12-10,{tag},laser,Prefers {email},A12\n",
            first = name.0,
            last = name.1,
        );
        let today = time::OffsetDateTime::now_utc().date();
        let options = flows::import::Options::default();
        let written = flows::import::write(
            &self.app.store,
            &self.app.config,
            None,
            &Ctx::cli(),
            "space",
            csv.as_bytes(),
            today,
            &options,
        )
        .await
        .unwrap();
        assert_eq!(written.report.refused, 0, "{:?}", written.report.refusals);
        (c, id)
    }

    async fn erase(&self, id: i64, body: Value) -> (u16, Value) {
        let path = format!("/api/v1/orgs/space/members/{id}/erase");
        self.app.api(&self.token, Method::POST, &path, Some(body)).await
    }

    async fn device(&self) -> String {
        let (status, body) = self
            .app
            .api(&self.token, Method::POST, "/api/v1/orgs/space/devices", Some(json!({"name": "door"})))
            .await;
        assert_eq!(status, 201, "{body}");
        body["token"].as_str().unwrap().to_string()
    }

    async fn access_list(&self, device: &str) -> Value {
        reqwest::Client::new()
            .get(self.app.url("/api/v1/orgs/space/access-list"))
            .bearer_auth(device)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn text(&self, path: &str) -> String {
        let r = reqwest::Client::new().get(self.app.url(path)).bearer_auth(&self.token).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.text().await.unwrap()
    }
}

/// Every text value of every row of every table that mentions `needle` (any case), as
/// `table: value`.
async fn rows_mentioning(app: &TestApp, needle: &str) -> Vec<String> {
    let pool = app.store.pool();
    let tables: Vec<String> = match common::backend() {
        Backend::Sqlite => {
            sqlx::query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
                .fetch_all(pool)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect()
        }
        Backend::Postgres => sqlx::query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()",
        )
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect(),
    };
    assert!(tables.len() > 30, "{tables:?}");
    let needle = needle.to_lowercase();
    let mut found = Vec::new();
    for table in tables {
        let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}")))
            .fetch_all(pool)
            .await
            .unwrap();
        for row in &rows {
            for i in 0..row.len() {
                if let Ok(Some(text)) = row.try_get::<Option<String>, _>(i)
                    && text.to_lowercase().contains(&needle)
                {
                    found.push(format!("{table}: {text}"));
                }
            }
        }
    }
    found
}

async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < Duration::from_secs(15), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn staff_erasure_leaves_no_trace_of_the_address_and_keeps_counts_and_history() {
    let s = space().await;
    let device = s.device().await;
    let (ada_browser, ada) = s.member(ADA, "0001112223", ("Ada", "Lovelace")).await;
    let (_, bob) = s.member("bob@example.org", "0004445556", ("Grace", "Hopper")).await;
    let list = s.access_list(&device).await.to_string();
    assert!(list.contains("0001112223") && list.contains("Ada Lovelace"), "{list}");
    // An email waiting for Ada (an hour from now), and a sent one.
    let mut tx = s.app.store.begin().await.unwrap();
    let spec = flows::mail::AccountLinkSpec {
        purpose: portico::store::tokens::Purpose::PasswordReset,
        subject: ("user", 0),
        to: &portico::domain::Email::parse(ADA).unwrap(),
        path: "password/reset/",
        hours: 1,
        kind: portico::mail::templates::AccountMail::ClaimAccount,
        address: None,
    };
    let later = portico::store::now_ms() + 3_600_000;
    flows::mail::queue_account_link_at(&mut tx, &s.app.config, spec, portico::i18n::Locale::En, None, later)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let sub: String = sqlx::query_scalar("SELECT stripe_subscription FROM memberships WHERE id = $1")
        .bind(ada)
        .fetch_one(s.app.store.pool())
        .await
        .unwrap();
    let audit_before = s.app.count("SELECT COUNT(*) FROM audit_events").await;
    let actions_before: Vec<(String, i64)> =
        sqlx::query_as("SELECT action, at FROM audit_events WHERE lower(target) = $1 ORDER BY id")
            .bind(ADA)
            .fetch_all(s.app.store.pool())
            .await
            .unwrap();
    assert!(actions_before.len() >= 5, "{actions_before:?}");
    assert!(!rows_mentioning(&s.app, ADA).await.is_empty());

    let (status, body) = s.erase(ada, json!({"reason": "asked by letter", "stripe": "cancel_now"})).await;
    assert_eq!(status, 200, "{body}");
    let erased = body["email"].as_str().unwrap().to_string();
    assert!(erased.starts_with("erased-") && erased.ends_with("@invalid"), "{erased}");
    assert_eq!(body["subscriptions"][0]["outcome"], "cancelled_now");
    assert_eq!(body["removed"]["keys"], 1);
    assert_eq!(s.fake.subscription(&sub).unwrap()["status"], "canceled", "cancelled at Stripe");

    // The address is in no row of any table, once Stripe's cancellation event has come back.
    wait_until("the cancellation event", async || {
        s.app.count("SELECT COUNT(*) FROM stripe_events WHERE type = 'customer.subscription.deleted'").await
            == 1
    })
    .await;
    let left = rows_mentioning(&s.app, ADA).await;
    assert!(left.is_empty(), "the address is still in: {left:#?}");
    // Nor are her name, or anything of her record (Bob shares only the phone, birthday and locker).
    for word in ["Lovelace", "Prefers ada"] {
        let left = rows_mentioning(&s.app, word).await;
        assert!(left.is_empty(), "{word} is still in: {left:#?}");
    }
    // Bob's record is untouched.
    let bob_record =
        s.app.api(&s.token, Method::GET, &format!("/api/v1/orgs/space/members/{bob}"), None).await.1;
    assert_eq!(bob_record["email"], "bob@example.org");
    assert!(bob_record.to_string().contains("Hopper"), "{bob_record}");

    // What people and tools read.
    let api = s.app.api(&s.token, Method::GET, &format!("/api/v1/orgs/space/members/{ada}"), None).await.1;
    assert_eq!(api["email"], erased.as_str());
    assert_eq!(api["status"], "suspended");
    for path in [
        "/api/v1/orgs/space/members".to_string(),
        "/api/v1/audit?limit=200".to_string(),
        format!("/api/v1/orgs/space/members/{ada}/export"),
        "/api/v1/stripe/events".to_string(),
    ] {
        let text = s.text(&path).await;
        assert!(!text.to_lowercase().contains(ADA), "{path}: {text}");
    }
    // The console's pages and downloads.
    let staff = client();
    let password = s.app.create_staff("viewer@portico.test", portico::domain::StaffRole::Admin).await;
    assert_eq!(s.app.login(&staff, "viewer@portico.test", &password).await.status(), 303);
    for path in [
        format!("/staff/orgs/space/members/{ada}"),
        "/staff/orgs/space".to_string(),
        "/staff/audit".to_string(),
        "/staff/audit.csv".to_string(),
        "/staff/orgs/space/members.csv".to_string(),
        "/staff/orgs/space/export.jsonl".to_string(),
        "/staff/outbox".to_string(),
        "/staff/stripe/events".to_string(),
    ] {
        let (status, text) = s.app.get_page(&staff, &path).await;
        assert_eq!(status, 200, "{path}");
        assert!(!text.to_lowercase().contains(ADA), "{path}: {text}");
    }
    let (_, page) = s.app.get_page(&staff, &format!("/staff/orgs/space/members/{ada}")).await;
    assert!(page.contains("This person was erased.") && page.contains(&erased));
    let list = s.access_list(&device).await.to_string();
    assert!(!list.contains("0001112223") && !list.contains("Lovelace"), "{list}");
    assert!(list.contains("0004445556"), "Bob keeps his key");
    let revoked: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM access_changes WHERE membership_id = $1 AND removes = 1 AND cause = 'erasure'",
    )
    .bind(ada)
    .fetch_one(s.app.store.pool())
    .await
    .unwrap();
    assert_eq!(revoked, 1, "a revocation record");

    // Counts and history remain: every event about her is there, at its time, plus the erasure.
    assert!(s.app.count("SELECT COUNT(*) FROM audit_events").await > audit_before);
    let actions_after: Vec<(String, i64)> =
        sqlx::query_as("SELECT action, at FROM audit_events WHERE target = $1 ORDER BY id")
            .bind(&erased)
            .fetch_all(s.app.store.pool())
            .await
            .unwrap();
    assert_eq!(actions_after[..actions_before.len()], actions_before[..]);
    assert!(actions_after.iter().any(|(a, _)| a == "member.erased"));
    assert_eq!(s.app.count("SELECT COUNT(*) FROM memberships").await, 2);
    let erasure = &s.app.audit("member.erased").await[0];
    assert_eq!(erasure.details["reason"], "asked by letter");
    assert!(erasure.details["audit_events_anonymised"].as_i64().unwrap() >= 5);

    // She is signed out everywhere and cannot sign in.
    let (status, _) = s.app.get_page(&ada_browser, "/dashboard").await;
    assert_ne!(status, 200);
    assert_ne!(
        s.app.login(&client(), ADA, PASSWORD).await.headers().get("location").map(|l| l.to_str().unwrap()),
        Some("/dashboard")
    );

    // Downstream systems hear of it, and what they get after it names no one.
    wait_until("member.erased at the receiver", async || {
        s.receiver.received().iter().any(|r| r.json()["type"] == "member.erased")
    })
    .await;
    let event =
        s.receiver.received().into_iter().find(|r| r.json()["type"] == "member.erased").unwrap().json();
    assert_eq!(event["data"]["membership"]["id"], ada);
    assert_eq!(event["data"]["membership"]["email"], erased.as_str());
    assert!(!event.to_string().to_lowercase().contains(ADA));

    // Again: already erased.
    let (status, body) = s.erase(ada, json!({"reason": "again"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("already_erased")));
}

#[tokio::test]
async fn bad_requests_change_nothing() {
    let s = space().await;
    let (_, ada) = s.member(ADA, "0001112223", ("Ada", "Lovelace")).await;
    for (body, status, code) in [
        (json!({}), 400, None),
        (json!({"reason": ""}), 400, Some("required")),
        (json!({"reason": "x", "stripe": "keep"}), 400, Some("invalid_stripe_choice")),
        (json!({"reason": "x\u{0}"}), 400, None),
        (json!({"reason": "x", "extra": 1}), 400, None),
    ] {
        let (got, answer) = s.erase(ada, body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
        if let Some(code) = code {
            assert_eq!(answer["error"]["code"], code, "{body}: {answer}");
        }
    }
    let (status, _) = s.erase(999_999, json!({"reason": "x"})).await;
    assert_eq!(status, 404);
    // A support (not admin) token may not erase.
    s.app.create_staff("help@portico.test", portico::domain::StaffRole::Support).await;
    let support = s.app.api_token("help@portico.test").await;
    let path = format!("/api/v1/orgs/space/members/{ada}/erase");
    let (status, _) = s.app.api(&support, Method::POST, &path, Some(json!({"reason": "x"}))).await;
    assert_eq!(status, 403);
    assert_eq!(s.app.count("SELECT COUNT(*) FROM users WHERE erased_at IS NOT NULL").await, 0);
    assert!(!rows_mentioning(&s.app, "Lovelace").await.is_empty());
}

#[tokio::test]
async fn a_members_request_waits_out_the_cooling_off_period_and_may_be_cancelled() {
    let s = space().await;
    let (c, ada) = s.member(ADA, "0001112223", ("Ada", "Lovelace")).await;
    let snapshot = || async {
        let api =
            s.app.api(&s.token, Method::GET, &format!("/api/v1/orgs/space/members/{ada}"), None).await.1;
        (api, s.app.count("SELECT COUNT(*) FROM member_credentials WHERE removed_at IS NULL").await)
    };
    let before = snapshot().await;
    let r = s.app.post_form(&c, "/account", "/account/erasure", &[("confirm", "no")]).await;
    assert_eq!(r.status(), 400, "the confirmation word is required");
    let r = s.app.post_form(&c, "/account", "/account/erasure", &[("confirm", "erase")]).await;
    assert_eq!(r.status(), 303);
    let (_, page) = s.app.get_page(&c, "/account").await;
    assert!(page.contains("Your account will be erased on"), "{page}");
    assert!(page.contains("Cancel the erasure"));
    // Seven days by default: the scheduler (every second here) leaves it alone.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(snapshot().await, before);
    let r = s.app.post_form(&c, "/account", "/account/erasure/cancel", &[]).await;
    assert_eq!(r.status(), 303);
    let (_, page) = s.app.get_page(&c, "/account").await;
    assert!(page.contains("Erase my account") && !page.contains("Cancel the erasure"));
    assert_eq!(snapshot().await, before, "cancelling left everything as it was");
    assert_eq!(s.app.audit("account.erasure_cancelled").await.len(), 1);

    // With no cooling-off, the next scheduled run carries it out.
    let (status, body) = s
        .app
        .api(&s.token, Method::PUT, "/api/v1/settings/erasure.cooling_off_days", Some(json!({"value": 0})))
        .await;
    assert_eq!(status, 200, "{body}");
    let r = s.app.post_form(&c, "/account", "/account/erasure", &[("confirm", "erase")]).await;
    assert_eq!(r.status(), 303);
    wait_until("the scheduled erasure", async || {
        s.app.count("SELECT COUNT(*) FROM users WHERE erased_at IS NOT NULL").await == 1
    })
    .await;
    let erasure = &s.app.audit("member.erased").await[0];
    assert_eq!(erasure.details["by"], "member");
    assert_eq!(erasure.actor, "erasure");
    wait_until("the cancellation event", async || {
        s.app.count("SELECT COUNT(*) FROM stripe_events WHERE type = 'customer.subscription.deleted'").await
            == 1
    })
    .await;
    assert!(rows_mentioning(&s.app, ADA).await.is_empty());
}

#[tokio::test]
async fn a_banned_members_tombstone_stops_a_rejoin_and_staff_see_why() {
    let s = space().await;
    let (_, ada) = s.member(ADA, "0001112223", ("Ada", "Lovelace")).await;
    let path = format!("/api/v1/orgs/space/members/{ada}");
    let (status, body) =
        s.app.api(&s.token, Method::PATCH, &path, Some(json!({"status": "banned", "reason": "harm"}))).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = s.erase(ada, json!({"reason": "asked", "stripe": "cancel_at_period_end"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["subscriptions"][0]["outcome"], "cancels_at_period_end");
    let sub = body["subscriptions"][0]["subscription"].as_str().unwrap().to_string();
    assert_eq!(s.fake.subscription(&sub).unwrap()["cancel_at_period_end"], true);
    assert!(rows_mentioning(&s.app, ADA).await.is_empty(), "the tombstone is a hash");

    // A signup for the address is answered as any is, and creates nothing.
    let c = client();
    let r = s.app.post_form(&c, "/o/space/join", "/o/space/join", &[("email", "Ada@Example.org")]).await;
    let other =
        s.app.post_form(&client(), "/o/space/join", "/o/space/join", &[("email", "new@example.org")]).await;
    assert_eq!(r.status(), other.status());
    wait_until("the new person's email", async || {
        s.app.count("SELECT COUNT(*) FROM outbox WHERE recipient = 'new@example.org'").await == 1
    })
    .await;
    assert_eq!(s.app.count("SELECT COUNT(*) FROM outbox WHERE recipient = 'ada@example.org'").await, 0);
    let blocked = s.app.audit("signup.blocked").await;
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0].details["reason"], "erased_banned_member");
    // Staff inviting it are told why; an import refuses the row.
    let (status, body) = s
        .app
        .api(&s.token, Method::POST, "/api/v1/orgs/space/invitations", Some(json!({"email": ADA})))
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("address_erased_banned")), "{body}");
    let today = time::OffsetDateTime::now_utc().date();
    let report = flows::import::check(
        &s.app.store,
        None,
        &Ctx::cli(),
        "space",
        format!("email\n{ADA}\n").as_bytes(),
        1 << 20,
        today,
        &flows::import::Options::default(),
    )
    .await
    .unwrap();
    assert_eq!(report.refusals[0].reason, "erased_banned");
}

#[tokio::test]
async fn the_last_admin_is_not_erased_and_nothing_changes() {
    let s = space().await;
    let email = portico::domain::Email::parse("admin@portico.test").unwrap();
    let user = portico::store::users::find_by_email(s.app.store.pool(), &email).await.unwrap().unwrap();
    let origin = portico::store::audit::Origin::default();
    let admin = flows::signup::join_with_account(&s.app.store, &origin, "space", user.id, email.as_str())
        .await
        .unwrap();
    let (status, body) = s.erase(admin, json!({"reason": "leaving"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("last_admin")), "{body}");
    assert_eq!(s.app.count("SELECT COUNT(*) FROM users WHERE erased_at IS NOT NULL").await, 0);
    // With a second admin it goes, and the token of the erased one stops working.
    s.app.create_staff("second@portico.test", portico::domain::StaffRole::Admin).await;
    let second = s.app.api_token("second@portico.test").await;
    let path = format!("/api/v1/orgs/space/members/{admin}/erase");
    let (status, body) = s.app.api(&second, Method::POST, &path, Some(json!({"reason": "leaving"}))).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = s.app.api(&s.token, Method::GET, "/api/v1/orgs/space/members", None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn ten_erasures_of_one_person_at_once_erase_once() {
    let s = space().await;
    let (_, ada) = s.member(ADA, "0001112223", ("Ada", "Lovelace")).await;
    let answers =
        futures_util::future::join_all((0..10).map(|_| s.erase(ada, json!({"reason": "asked"})))).await;
    let ok = answers.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(ok, 1, "{answers:?}");
    assert!(answers.iter().all(|(status, body)| *status == 200 || body["error"]["code"] == "already_erased"));
    assert_eq!(s.app.audit("member.erased").await.len(), 1);
    assert_eq!(s.app.count("SELECT COUNT(*) FROM webhook_events WHERE type = 'member.erased'").await, 1);
}
