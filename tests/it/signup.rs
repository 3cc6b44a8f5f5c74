//! Self-service signup (SPEC §3.2) over HTTP with the real SMTP sink, on both backends.

use crate::common;

use std::time::{Duration, Instant};

use common::smtp_sink::SmtpSink;
use common::{TestApp, client, csrf_token, set_cookie, spawn_with};
use mail_parser::MessageParser;
use portico::domain::{Email, StaffRole};
use portico::flows::{self, Ctx};
use portico::store::tokens::{self, Purpose};
use serde_json::json;

struct Setup {
    app: TestApp,
    sink: SmtpSink,
}

async fn setup_with(adjust: impl FnOnce(&mut portico::config::Config)) -> Setup {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_with(|c| {
        c.smtp_url = Some(url.parse().unwrap());
        c.outbox.poll_ms = 50;
        adjust(c);
    })
    .await;
    for (slug, signup) in [("club", "open"), ("private", "closed")] {
        let input = flows::orgs::OrgInput {
            slug: slug.into(),
            name: format!("The {slug}"),
            kind: "nonprofit".into(),
            company_name: None,
            signup: Some(signup.into()),
        };
        flows::orgs::create(&app.store, &Ctx::cli(), &input).await.unwrap();
    }
    Setup { app, sink }
}

async fn setup() -> Setup {
    setup_with(|_| {}).await
}

fn details<'a>(username: &'a str, password: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("step", "details"),
        ("first_name", "Ada"),
        ("last_name", "Lovelace"),
        ("preferred_name", "Ada"),
        ("pronouns", "she/her"),
        ("birthday", "1990-12-10"),
        ("username", username),
        ("phone", "+40 721 000 000"),
        ("password", password),
        ("password_confirm", password),
        ("accept_terms", "on"),
        ("accept_waiver", "on"),
    ]
}

impl Setup {
    /// Submits the email step in a fresh browser and returns (status, body).
    async fn ask(&self, email: &str) -> (u16, String) {
        let c = client();
        let r = self.app.post_form(&c, "/o/club/join", "/o/club/join", &[("email", email)]).await;
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// The `n`-th email: (subject, text).
    async fn email(&self, n: usize) -> (String, String) {
        let got = self.sink.wait_for(n, Duration::from_secs(10)).await;
        assert!(got.len() >= n, "expected {n} emails, got {}", got.len());
        let parsed = MessageParser::default().parse(&got[n - 1].data).unwrap();
        (parsed.subject().unwrap_or_default().to_string(), parsed.body_text(0).unwrap().to_string())
    }

    async fn verify_link(&self, n: usize) -> String {
        let (_, text) = self.email(n).await;
        let link = portico::mail::links(&text)
            .into_iter()
            .find(|l| l.contains("/join/verify/"))
            .expect("verify link");
        link[self.app.base.len()..].to_string()
    }

    /// A verification link for `email` made directly, as the worker would.
    async fn issue_link(&self, email: &str, subject_id: i64) -> String {
        let mut tx = self.app.store.begin().await.unwrap();
        let now = portico::store::now();
        let token = tokens::issue(
            tx.conn(),
            Purpose::EmailVerification,
            ("signup_request", subject_id),
            email,
            now + 3600,
            now,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        format!("/o/club/join/verify/{}", token.expose())
    }

    async fn create_user(&self, email: &str, username: Option<&str>) {
        let mut tx = self.app.store.begin().await.unwrap();
        let id = portico::store::users::insert(tx.conn(), &Email::parse(email).unwrap(), None, None, 0)
            .await
            .unwrap();
        if let Some(u) = username {
            sqlx::query("UPDATE users SET username = $1 WHERE id = $2")
                .bind(u)
                .bind(id)
                .execute(tx.conn())
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }

    async fn raise_limits(&self) {
        for key in ["security.signup_requests_per_ip_per_15min", "security.login_attempts_per_ip_per_15min"] {
            flows::settings::set(&self.app.store, &Ctx::cli(), key, "10000").await.unwrap();
        }
    }
}

#[tokio::test]
async fn a_person_signs_up_from_the_email_step_to_the_dashboard() {
    let s = setup().await;
    let c = client();
    let (status, page) = s.app.get_page(&c, "/o/club/join").await;
    assert_eq!(status, 200);
    assert!(page.contains("Join The club"));
    let r = s.app.post_form(&c, "/o/club/join", "/o/club/join", &[("email", " Ada@Example.org ")]).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Check your email"));
    let (subject, text) = s.email(1).await;
    assert_eq!(subject, "Confirm your email to join The club on Portico");
    assert!(text.contains("This link expires in 24 hours."));
    let link = s.verify_link(1).await;

    // GET shows; POST continues to the form.
    let (status, page) = s.app.get_page(&c, &link).await;
    assert_eq!(status, 200);
    assert!(page.contains("ada@example.org"));
    let r = s.app.post_form(&c, &link, &link, &[("step", "continue")]).await;
    assert_eq!(r.status(), 200);
    let form = r.text().await.unwrap();
    assert!(form.contains("name=\"first_name\""));
    assert!(!form.contains("name=\"email\""), "the email comes from the link, not the form");

    // Every bad field comes back with a message and the input kept (passwords excepted).
    let bad = vec![
        ("step", "details"),
        ("first_name", ""),
        ("last_name", "Lovelace"),
        ("birthday", "1990-02-31"),
        ("username", "no spaces"),
        ("phone", "call me"),
        ("password", "short"),
        ("password_confirm", "short"),
    ];
    let r = s.app.post_form(&c, &link, &link, &bad).await;
    assert_eq!(r.status(), 400);
    let page = r.text().await.unwrap();
    for message in [
        "This field is required.",
        "Enter a real date in the past",
        "Use 1 to 16 lower-case letters",
        "Enter a phone number",
        "Use at least 12 characters",
        "You need to accept this to join.",
    ] {
        assert!(page.contains(message), "{message}");
    }
    assert!(page.contains("value=\"Lovelace\"") && page.contains("value=\"no spaces\""), "input kept");
    assert!(!page.contains("value=\"short\""), "passwords are not echoed");
    assert_eq!(s.app.count("SELECT COUNT(*) FROM users").await, 0);

    let r = s.app.post_form(&c, &link, &link, &details("Ada_L", "analytical engine")).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/dashboard");
    assert!(set_cookie(&r, "portico_session").is_some());
    let (status, dashboard) = s.app.get_page(&c, "/dashboard").await;
    assert_eq!(status, 200);
    assert!(dashboard.contains("The club") && dashboard.contains("Pending"));

    let row: (String, Option<String>, String, String) = sqlx::query_as(
        "SELECT u.email, u.username, m.status, r.first_name FROM users u
         JOIN memberships m ON m.user_id = u.id JOIN member_records r ON r.membership_id = m.id",
    )
    .fetch_one(s.app.store.pool())
    .await
    .unwrap();
    assert_eq!(row, ("ada@example.org".into(), Some("ada_l".into()), "pending".into(), "Ada".into()));
    assert_eq!(s.app.count("SELECT COUNT(*) FROM member_agreements").await, 2);
    assert_eq!(s.app.audit("member.signed_up").await.len(), 1);
    let (status, gone) = s.app.get_page(&client(), &link).await;
    assert_eq!(status, 410, "the link is used up");
    assert!(gone.contains("This verification link cannot be used"), "its own wording: {gone}");
    assert!(!gone.contains("invited you"), "not the invitation page");
    assert!(gone.contains("href=\"/o/"), "offers to start again");
    assert_eq!(s.app.login(&client(), "ada@example.org", "analytical engine").await.status(), 303);
}

#[tokio::test]
async fn organisations_without_open_signup_answer_404() {
    let s = setup().await;
    let c = client();
    assert_eq!(s.app.get_page(&c, "/o/private/join").await.0, 404);
    assert_eq!(s.app.get_page(&c, "/o/nowhere/join").await.0, 404);
    let r = s.app.post_form(&c, "/o/club/join", "/o/private/join", &[("email", "x@example.org")]).await;
    assert_eq!(r.status(), 404);
    assert_eq!(s.app.count("SELECT COUNT(*) FROM signup_requests").await, 0);
}

#[tokio::test]
async fn known_and_unknown_addresses_get_identical_answers_in_equal_time() {
    let s = setup().await;
    s.raise_limits().await;
    for i in 0..50 {
        s.create_user(&format!("known{i}@example.org"), None).await;
    }
    let (known_status, known) = s.ask("known0@example.org").await;
    let (unknown_status, unknown) = s.ask("unknown0@example.org").await;
    assert_eq!((known_status, unknown_status), (200, 200));
    // The answer page has no form, so there is not even a CSRF token to differ.
    assert_eq!(known, unknown, "byte-identical");
    assert!(known.contains("Check your email"));

    // The worker decides the email: "you have an account" for one, a link for the other.
    let got = s.sink.wait_for(2, Duration::from_secs(10)).await;
    let subjects: Vec<String> = got
        .iter()
        .map(|m| MessageParser::default().parse(&m.data).unwrap().subject().unwrap().to_string())
        .collect();
    assert!(subjects.contains(&"You already have an account on Portico".to_string()), "{subjects:?}");
    assert!(subjects.contains(&"Confirm your email to join The club on Portico".to_string()), "{subjects:?}");

    // Response times: medians of 49 more of each, interleaved.
    let mut known_ms = Vec::new();
    let mut unknown_ms = Vec::new();
    for i in 1..50 {
        for (email, times) in [
            (format!("known{i}@example.org"), &mut known_ms),
            (format!("unknown{i}@example.org"), &mut unknown_ms),
        ] {
            let c = client();
            let (_, page) = s.app.get_page(&c, "/o/club/join").await;
            let token = csrf_token(&page);
            let start = Instant::now();
            let r = c
                .post(s.app.url("/o/club/join"))
                .form(&[("csrf_token", token.as_str()), ("email", email.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            times.push(start.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let (k, u) = (median(&mut known_ms), median(&mut unknown_ms));
    assert!((k - u).abs() < 25.0 + 0.5 * k.max(u), "median known {k:.2} ms vs unknown {u:.2} ms");
}

#[tokio::test]
async fn a_signed_in_person_is_not_logged_out_and_joins_with_their_account() {
    let s = setup().await;
    let password = s.app.create_staff("member@example.org", StaffRole::Support).await;
    let c = client();
    s.app.login(&c, "member@example.org", &password).await;
    let (status, page) = s.app.get_page(&c, "/o/club/join").await;
    assert_eq!(status, 200);
    assert!(page.contains("Join with this account"));
    assert_eq!(s.app.get_page(&c, "/staff/orgs").await.0, 200, "still signed in");
    // Posting an email while signed in creates nothing.
    let r = s.app.post_form(&c, "/o/club/join", "/o/club/join", &[("email", "second@example.org")]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(s.app.count("SELECT COUNT(*) FROM signup_requests").await, 0);
    let r = s.app.post_form(&c, "/o/club/join", "/o/club/join/account", &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(s.app.count("SELECT COUNT(*) FROM users").await, 1, "no second account");
    assert_eq!(s.app.count("SELECT COUNT(*) FROM memberships WHERE status = 'pending'").await, 1);
    assert_eq!(s.app.count("SELECT COUNT(*) FROM member_records").await, 1);
    let r = s.app.post_form(&c, "/o/club/join", "/o/club/join/account", &[]).await;
    assert_eq!(r.status(), 303, "joining twice is harmless");
    assert_eq!(s.app.count("SELECT COUNT(*) FROM memberships").await, 1);
}

#[tokio::test]
async fn a_taken_username_re_renders_the_form_and_keeps_the_link() {
    let s = setup().await;
    s.create_user("first@example.org", Some("taken")).await;
    let link = s.issue_link("second@example.org", 1).await;
    let c = client();
    let r = s.app.post_form(&c, &link, &link, &details("TAKEN", "a long enough password")).await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("This username is taken."));
    let r = s.app.post_form(&c, &link, &link, &details("free", "a long enough password")).await;
    assert_eq!(r.status(), 303);
}

#[tokio::test]
async fn the_minimum_age_is_checked_on_the_server() {
    let s = setup().await;
    sqlx::query("UPDATE organisations SET min_age = 18").execute(s.app.store.pool()).await.unwrap();
    let link = s.issue_link("young@example.org", 1).await;
    let c = client();
    let mut form = details("young", "a long enough password");
    let this_year = time::OffsetDateTime::now_utc().year();
    let birthday = format!("{}-01-01", this_year - 10);
    form.retain(|(k, _)| *k != "birthday");
    form.push(("birthday", &birthday));
    let r = s.app.post_form(&c, &link, &link, &form).await;
    assert_eq!(r.status(), 400);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("You are younger than this organisation") && page.contains("minimum age."),
        "{page}"
    );
    assert_eq!(s.app.count("SELECT COUNT(*) FROM users").await, 0);
}

#[tokio::test]
async fn two_hundred_concurrent_completions_for_one_email_make_one_account() {
    let s = setup().await;
    let link = s.issue_link("race@example.org", 1).await;
    let c = client();
    let (_, page) = s.app.get_page(&c, &link).await;
    let token = csrf_token(&page);
    let mut form = details("racer", "a long enough password");
    form.push(("csrf_token", &token));
    let posts = (0..200).map(|_| c.post(s.app.url(&link)).form(&form).send());
    let statuses: Vec<u16> = futures_util::future::join_all(posts)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 303).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| matches!(s, 303 | 409 | 410)), "no 5xx: {statuses:?}");
    assert_eq!(s.app.count("SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(s.app.count("SELECT COUNT(*) FROM memberships").await, 1);
    assert_eq!(s.app.count("SELECT COUNT(*) FROM member_records").await, 1);
    assert_eq!(s.app.count("SELECT COUNT(*) FROM member_agreements").await, 2);
}

#[tokio::test]
async fn two_hundred_concurrent_signups_with_one_username_in_any_case_give_it_to_one() {
    let s = setup().await;
    let mut links = Vec::new();
    for i in 0..200 {
        links.push(s.issue_link(&format!("person{i}@example.org"), i + 1).await);
    }
    let cases = ["Racer", "racer", "RACER", "rAcEr"];
    let c = client();
    let (_, page) = s.app.get_page(&c, &links[0]).await;
    let token = csrf_token(&page);
    let posts = links.iter().enumerate().map(|(i, link)| {
        let mut form = details(cases[i % cases.len()], "a long enough password");
        form.push(("csrf_token", &token));
        let request = c.post(s.app.url(link)).form(&form);
        async move { request.send().await.unwrap().status().as_u16() }
    });
    let statuses: Vec<u16> = futures_util::future::join_all(posts).await;
    assert_eq!(statuses.iter().filter(|s| **s == 303).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| matches!(s, 303 | 409)), "no 5xx: {statuses:?}");
    assert_eq!(s.app.count("SELECT COUNT(*) FROM users WHERE lower(username) = 'racer'").await, 1);
    assert_eq!(s.app.count("SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(s.app.count("SELECT COUNT(*) FROM memberships").await, 1);
}

#[tokio::test]
async fn a_failure_at_the_last_write_leaves_nothing_behind() {
    let s = setup_with(|c| {
        c.test_hooks.fail_signup_before_commit = true;
        c.webhooks.allow_http = true;
        c.webhooks.allow_private = true;
    })
    .await;
    // An endpoint that takes the event the signup emits before its failure.
    let admin = s.app.admin_token().await;
    let endpoint = json!({"url": "http://127.0.0.1:9/hook", "events": ["membership.created"]});
    let r = reqwest::Client::new()
        .post(s.app.url("/api/v1/orgs/club/webhooks"))
        .bearer_auth(admin)
        .json(&endpoint)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let link = s.issue_link("fault@example.org", 1).await;
    let c = client();
    let r = s.app.post_form(&c, &link, &link, &details("fault", "a long enough password")).await;
    assert_eq!(r.status(), 500, "the injected failure");
    // (the staff account that made the endpoint is the only user)
    for table in [
        "users WHERE staff_role IS NULL",
        "memberships",
        "member_records",
        "member_agreements",
        "sessions",
        "webhook_events",
        "webhook_deliveries",
    ] {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(s.app.store.pool())
            .await
            .unwrap();
        assert_eq!(n, 0, "{table}");
    }
    assert!(s.app.audit("member.signed_up").await.is_empty());
    assert_eq!(s.app.get_page(&client(), &link).await.0, 200, "the link was not used up");
}

#[tokio::test]
async fn the_email_step_is_limited_per_recipient_and_per_ip() {
    let s = setup().await;
    for _ in 0..3 {
        assert_eq!(s.ask("limit@example.org").await.0, 200);
    }
    assert_eq!(s.ask("limit@example.org").await.0, 429);
    flows::settings::set(&s.app.store, &Ctx::cli(), "security.signup_requests_per_ip_per_15min", "5")
        .await
        .unwrap();
    assert_eq!(s.ask("other1@example.org").await.0, 200);
    assert_eq!(s.ask("other2@example.org").await.0, 429, "5 per IP, 4 used before");
    assert_eq!(s.app.count("SELECT COUNT(*) FROM signup_requests").await, 4);
}

#[tokio::test]
async fn completions_of_a_used_link_never_reach_the_hashing_queue() {
    let s = setup().await;
    let link = s.issue_link("once@example.org", 1).await;
    let c = client();
    let (_, page) = s.app.get_page(&c, &link).await;
    let token = csrf_token(&page);
    let mut form = details("once", "a long enough password");
    form.push(("csrf_token", &token));
    assert_eq!(c.post(s.app.url(&link)).form(&form).send().await.unwrap().status(), 303);
    let before = s.app.hasher.accepted();
    // The same link, over and over (a replay flood): refused before any password is hashed.
    let late = client();
    let (_, login) = s.app.get_page(&late, "/login").await;
    let late_token = csrf_token(&login);
    let mut replay = details("other", "a long enough password");
    replay.push(("csrf_token", &late_token));
    let posts = (0..20).map(|_| late.post(s.app.url(&link)).form(&replay).send());
    for r in futures_util::future::join_all(posts).await {
        assert_eq!(r.unwrap().status(), 410, "the link is gone");
    }
    assert_eq!(s.app.hasher.accepted(), before, "no hash for a used link");
}

#[tokio::test]
async fn a_thousand_completions_of_one_link_hash_once_and_get_no_5xx() {
    // A hashing queue of 2: without the claim on the link, most of these would be refused 503.
    let s = setup_with(|c| {
        c.hash_workers = 1;
        c.hash_queue = 2;
    })
    .await;
    let link = s.issue_link("crowd@example.org", 1).await;
    let c = client();
    let (_, page) = s.app.get_page(&c, &link).await;
    let token = csrf_token(&page);
    let mut form = details("crowd", "a long enough password");
    form.push(("csrf_token", &token));
    let started = Instant::now();
    let posts = (0..1000).map(|_| c.post(s.app.url(&link)).form(&form).send());
    let statuses: Vec<u16> = futures_util::future::join_all(posts)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    let settled = started.elapsed();
    assert_eq!(statuses.iter().filter(|s| **s == 303).count(), 1);
    let others: std::collections::BTreeSet<u16> = statuses.iter().copied().filter(|s| *s != 303).collect();
    assert!(others.iter().all(|s| matches!(s, 409 | 410)), "no 5xx, no 503: {others:?}");
    assert_eq!(s.app.count("SELECT COUNT(*) FROM users").await, 1);
    assert!(s.app.hasher.accepted() <= 2, "hashed {} times", s.app.hasher.accepted());
    eprintln!("1 000 completions of one link settled in {settled:?}");
}
