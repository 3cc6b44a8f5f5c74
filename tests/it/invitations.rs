//! Staff invitations (SPEC §3.1) over HTTP with the real SMTP sink, on both backends.

use crate::common;

use std::time::Duration;

use common::smtp_sink::{Mode, SmtpSink};
use common::{TestApp, client, csrf_token, set_cookie, spawn_with};
use mail_parser::MessageParser;
use portico::domain::StaffRole;
use serde_json::{Value, json};

struct Setup {
    app: TestApp,
    sink: SmtpSink,
    token: String,
}

async fn setup_with(hours: i64, adjust: impl FnOnce(&mut portico::config::Config)) -> Setup {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_with(|c| {
        c.smtp_url = Some(url.parse().unwrap());
        c.outbox.poll_ms = 50;
        c.outbox.retry_base_secs = 1;
        c.invitation_hours = hours;
        adjust(c);
    })
    .await;
    let token = app.admin_token().await;
    for (slug, name, kind, company) in
        [("club", "Club", "nonprofit", None), ("acme", "acme", "company", Some("Acme Hosting SRL"))]
    {
        let r = api()
            .post(app.url("/api/v1/orgs"))
            .bearer_auth(&token)
            .json(&json!({"slug": slug, "name": name, "kind": kind, "company_name": company}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    Setup { app, sink, token }
}

async fn setup() -> Setup {
    setup_with(72, |_| {}).await
}

fn api() -> reqwest::Client {
    reqwest::Client::new()
}

impl Setup {
    async fn invite(&self, slug: &str, body: Value) -> reqwest::Response {
        api()
            .post(self.app.url(&format!("/api/v1/orgs/{slug}/invitations")))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn action(&self, slug: &str, id: i64, action: &str) -> reqwest::Response {
        api()
            .post(self.app.url(&format!("/api/v1/orgs/{slug}/invitations/{id}/{action}")))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    /// Accepts an invitation link as a new person choosing `password`.
    async fn accept_new(&self, c: &reqwest::Client, link: &str, password: &str) -> reqwest::Response {
        self.app
            .post_form(
                c,
                link,
                link,
                &[("mode", "new"), ("password", password), ("password_confirm", password)],
            )
            .await
    }

    /// GETs an API path with the admin token and returns the JSON body.
    async fn get(&self, path: &str) -> Value {
        let r = api().get(self.app.url(path)).bearer_auth(&self.token).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap()
    }

    async fn set(&self, key: &str, value: i64) {
        let r = api()
            .put(self.app.url(&format!("/api/v1/settings/{key}")))
            .bearer_auth(&self.token)
            .json(&json!({ "value": value }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    /// The `n`-th email (from 1) that reached the sink, parsed: (subject, text, html).
    async fn email(&self, n: usize) -> (String, String, String) {
        let got = self.sink.wait_for(n, Duration::from_secs(10)).await;
        assert!(got.len() >= n, "expected {n} emails, got {}", got.len());
        // Messages are delivered concurrently, so they may arrive in any order: number them
        // in the order they were queued.
        let queued: Vec<String> = sqlx::query_scalar("SELECT message_id FROM outbox ORDER BY id")
            .fetch_all(self.app.store.pool())
            .await
            .unwrap();
        let mut parsed: Vec<_> =
            got.iter().map(|m| MessageParser::default().parse(&m.data).expect("MIME")).collect();
        parsed.sort_by_key(|p| {
            let id = format!("<{}>", p.message_id().unwrap_or_default());
            queued.iter().position(|q| *q == id).unwrap_or(usize::MAX)
        });
        let parsed = &parsed[n - 1];
        (
            parsed.subject().unwrap_or_default().to_string(),
            parsed.body_text(0).expect("text part").to_string(),
            parsed.body_html(0).expect("html part").to_string(),
        )
    }

    /// The acceptance link of the `n`-th email, as a path (`/invite/...`).
    async fn link(&self, n: usize) -> String {
        let (_, text, _) = self.email(n).await;
        let link =
            portico::mail::links(&text).into_iter().find(|l| l.contains("/invite/")).expect("invite link");
        assert!(link.starts_with(&self.app.base), "{link}");
        link[self.app.base.len()..].to_string()
    }
}

async fn json_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_new_user_accepts_by_setting_a_password_and_lands_on_the_dashboard() {
    let s = setup_with(48, |_| {}).await;
    let (status, body) =
        json_of(s.invite("acme", json!({"email": " New.Person@Example.org ", "role": "admin"})).await).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["email"], "new.person@example.org");
    assert_eq!(body["role"], "admin");
    assert_eq!(body["state"], "pending");
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));
    assert!(body.get("delivery").is_some());

    let (subject, text, html) = s.email(1).await;
    assert_eq!(subject, "You have been invited to Acme Hosting SRL on Portico", "company display name");
    assert!(text.contains("Set your password"), "{text}");
    assert!(text.contains("This link expires in 48 hours."), "{text}");
    assert!(html.contains("You have been invited to Acme Hosting SRL on Portico"));
    let link = s.link(1).await;

    // GET shows the page and uses nothing up, however often a scanner follows it.
    let c = client();
    for _ in 0..3 {
        let (status, page) = s.app.get_page(&c, &link).await;
        assert_eq!(status, 200);
        assert!(page.contains("Join Acme Hosting SRL"));
        assert!(page.contains("new.person@example.org"));
    }
    // A weak password is refused and the link still works.
    let r = s.accept_new(&c, &link, "short").await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("Use at least 12 characters"));
    let r = s
        .app
        .post_form(
            &c,
            &link,
            &link,
            &[
                ("mode", "new"),
                ("password", "a fine long passphrase"),
                ("password_confirm", "a different passphrase"),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    let r = s.accept_new(&c, &link, "a fine long passphrase").await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/dashboard");
    assert!(set_cookie(&r, "portico_session").is_some(), "signed in");
    let (status, dashboard) = s.app.get_page(&c, "/dashboard").await;
    assert_eq!(status, 200);
    assert!(dashboard.contains("Acme Hosting SRL"));
    assert!(dashboard.contains("Administrator") && dashboard.contains("Active"));
    assert!(dashboard.contains("Welcome! You have joined the organisation."));

    // The link is used up; the user can sign in with the new password.
    let (status, page) = s.app.get_page(&client(), &link).await;
    assert_eq!(status, 410);
    assert!(page.contains("This invitation link cannot be used"));
    assert_eq!(
        s.app.login(&client(), "new.person@example.org", "a fine long passphrase").await.status(),
        303
    );

    let list = s.get("/api/v1/orgs/acme/invitations").await;
    assert_eq!(list["items"][0]["state"], "accepted");
    assert_eq!(list["items"][0]["delivery"]["state"], "sent");
    let members = s.get("/api/v1/orgs/acme/members").await;
    assert_eq!(members["items"][0]["role"], "admin");
    assert_eq!(members["items"][0]["status"], "active");
    let created = s.app.audit("invitation.created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].client_ip.as_deref(), Some("127.0.0.1"), "the inviter's IP");
    assert_eq!(created[0].actor, "admin@portico.test");
    assert_eq!(s.app.audit("invitation.accepted").await.len(), 1);
}

#[tokio::test]
async fn an_address_with_an_account_elsewhere_gets_the_same_answer_and_a_sign_in_email() {
    let s = setup_with(1, |_| {}).await;
    let (_, first) = json_of(s.invite("club", json!({"email": "jo@example.org"})).await).await;
    let link = s.link(1).await;
    let c = client();
    let r = s.accept_new(&c, &link, "jo's long password").await;
    assert_eq!(r.status(), 303);

    // Jo now has an account (in club). Inviting Jo into acme answers exactly like a new address.
    let (status, second) = json_of(s.invite("acme", json!({"email": "jo@example.org"})).await).await;
    assert_eq!(status, 201);
    let (_, fresh) = json_of(s.invite("acme", json!({"email": "fresh@example.org"})).await).await;
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&second), keys(&first));
    assert_eq!(keys(&second), keys(&fresh));
    assert_eq!(second["state"], fresh["state"]);

    let (subject, text, _) = s.email(2).await;
    assert_eq!(subject, "You have been invited to Acme Hosting SRL on Portico");
    assert!(text.contains("Sign in to accept"), "{text}");
    assert!(text.contains("This link expires in 1 hour."), "{text}");
    let (_, fresh_text, _) = s.email(3).await;
    assert!(fresh_text.contains("Set your password"));

    // Accepting as an existing user means signing in with the existing password.
    let link = s.link(2).await;
    let other = client();
    let (_, page) = s.app.get_page(&other, &link).await;
    assert!(page.contains("You already have an account"));
    let r = s
        .app
        .post_form(&other, &link, &link, &[("mode", "existing"), ("password", "wrong password!!")])
        .await;
    assert_eq!(r.status(), 401);
    let r = s
        .app
        .post_form(&other, &link, &link, &[("mode", "existing"), ("password", "jo's long password")])
        .await;
    assert_eq!(r.status(), 303);
    let (_, dashboard) = s.app.get_page(&other, "/dashboard").await;
    assert!(dashboard.contains("Club") && dashboard.contains("Acme Hosting SRL"));
    assert_eq!(s.app.count("SELECT COUNT(*) FROM users WHERE email = 'jo@example.org'").await, 1);
}

#[tokio::test]
async fn a_signed_in_invitee_joins_with_one_click() {
    let s = setup().await;
    s.invite("club", json!({"email": "kim@example.org"})).await;
    let link = s.link(1).await;
    let c = client();
    s.accept_new(&c, &link, "kim's long password").await;
    s.invite("acme", json!({"email": "kim@example.org"})).await;
    let link = s.link(2).await;
    let (_, page) = s.app.get_page(&c, &link).await;
    assert!(page.contains("Join Acme Hosting SRL</button>"), "{page}");
    let r = s.app.post_form(&c, &link, &link, &[("mode", "join")]).await;
    assert_eq!(r.status(), 303);
    assert!(set_cookie(&r, "portico_session").is_none(), "keeps the current session");
    assert_eq!(s.app.count("SELECT COUNT(*) FROM memberships").await, 2);
}

#[tokio::test]
async fn invalid_input_is_a_400_before_anything_is_written() {
    let s = setup().await;
    for (body, code) in [
        (json!({"email": "not-an-address"}), "invalid_email"),
        (json!({"email": "a@b"}), "invalid_email"),
        (json!({"email": format!("{}@example.org", "x".repeat(250))}), "invalid_email"),
        (json!({"email": "ok@example.org", "role": "emperor"}), "invalid_role"),
        (json!({"email": "ok@example.org", "locale": "fr"}), "invalid_locale"),
    ] {
        let (status, err) = json_of(s.invite("club", body).await).await;
        assert_eq!((status, err["error"]["code"].as_str().unwrap()), (400, code), "{err}");
    }
    let (status, _) = json_of(s.invite("nope", json!({"email": "ok@example.org"})).await).await;
    assert_eq!(status, 404);
    assert_eq!(s.app.count("SELECT COUNT(*) FROM invitations").await, 0);
    assert_eq!(s.app.count("SELECT COUNT(*) FROM outbox").await, 0);
    assert_eq!(s.app.count("SELECT COUNT(*) FROM tokens").await, 0);
    assert!(s.app.audit("invitation.created").await.is_empty());
    assert_eq!(
        s.app.count("SELECT COUNT(*) FROM rate_limits WHERE bucket LIKE 'invite:%'").await,
        0,
        "no counter either"
    );
}

#[tokio::test]
async fn members_and_pending_invitations_are_409s_that_say_so() {
    let s = setup().await;
    let (_, created) = json_of(s.invite("club", json!({"email": "pat@example.org"})).await).await;
    let id = created["id"].as_i64().unwrap();
    let (status, err) = json_of(s.invite("club", json!({"email": "PAT@example.org"})).await).await;
    assert_eq!((status, err["error"]["code"].as_str().unwrap()), (409, "invitation_pending"));
    let message = err["error"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("/api/v1/orgs/club/invitations/{id}/resend")), "{message}");

    let link = s.link(1).await;
    s.app
        .post_form(
            &client(),
            &link,
            &link,
            &[
                ("mode", "new"),
                ("password", "pat's long password"),
                ("password_confirm", "pat's long password"),
            ],
        )
        .await;
    let (status, err) = json_of(s.invite("club", json!({"email": "pat@example.org"})).await).await;
    assert_eq!((status, err["error"]["code"].as_str().unwrap()), (409, "already_member"));
    assert!(err["error"]["message"].as_str().unwrap().contains("member of your organisation"));
    assert_eq!(s.app.count("SELECT COUNT(*) FROM invitations").await, 1);
}

#[tokio::test]
async fn a_new_invitation_replaces_one_whose_time_ran_out_and_answers_what_the_list_shows() {
    let s = setup().await;
    let (status, first) = json_of(s.invite("club", json!({"email": "late@example.org"})).await).await;
    assert_eq!(status, 201);
    sqlx::query("UPDATE invitations SET expires_at = 1 WHERE email = 'late@example.org'")
        .execute(s.app.store.pool())
        .await
        .unwrap();
    let (status, second) =
        json_of(s.invite("club", json!({"email": "late@example.org", "locale": "ro"})).await).await;
    assert_eq!(status, 201, "{second}");
    assert_ne!(second["id"], first["id"]);
    // The answer is built from what was written; the list reads it back.
    let list = s.get("/api/v1/orgs/club/invitations").await;
    let listed = list["items"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    let row = |id: &Value| listed.iter().find(|i| i["id"] == *id).unwrap().clone();
    // (its delivery moves on meanwhile: queued when answered)
    let (mut listed_second, mut answered) = (row(&second["id"]), second.clone());
    assert_eq!(answered["delivery"]["state"], "queued");
    listed_second.as_object_mut().unwrap().remove("delivery");
    answered.as_object_mut().unwrap().remove("delivery");
    assert_eq!(listed_second, answered);
    assert_eq!(row(&first["id"])["state"], "expired");
    assert_eq!(s.app.count("SELECT COUNT(*) FROM invitations WHERE state = 'pending'").await, 1);
    assert_eq!(s.sink.wait_for(2, Duration::from_secs(10)).await.len(), 2);
}

#[tokio::test]
async fn resend_rotates_the_link_and_revoke_kills_it() {
    let s = setup().await;
    let (_, created) = json_of(s.invite("club", json!({"email": "lee@example.org"})).await).await;
    let id = created["id"].as_i64().unwrap();
    let first = s.link(1).await;
    // Resend is an action, never a GET link.
    let get = api()
        .get(s.app.url(&format!("/api/v1/orgs/club/invitations/{id}/resend")))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
    let (status, resent) = json_of(s.action("club", id, "resend").await).await;
    assert_eq!(status, 202);
    assert_eq!(resent["send_count"], 2);
    let second = s.link(2).await;
    assert_ne!(first, second);
    let c = client();
    assert_eq!(s.app.get_page(&c, &first).await.0, 410, "the old link is dead at once");
    assert_eq!(s.app.get_page(&c, &second).await.0, 200);
    // Another organisation's id is not found.
    assert_eq!(s.action("acme", id, "resend").await.status(), 404);

    let (status, revoked) = json_of(s.action("club", id, "revoke").await).await;
    assert_eq!((status, revoked["state"].as_str().unwrap()), (200, "revoked"));
    assert_eq!(s.app.get_page(&c, &second).await.0, 410);
    let r = s
        .app
        .post_form(
            &c,
            "/login",
            &second,
            &[
                ("mode", "new"),
                ("password", "lee's long password"),
                ("password_confirm", "lee's long password"),
            ],
        )
        .await;
    assert_eq!(r.status(), 410);
    let (status, err) = json_of(s.action("club", id, "revoke").await).await;
    assert_eq!((status, err["error"]["code"].as_str().unwrap()), (409, "not_pending"));
    assert_eq!(s.action("club", id, "resend").await.status(), 409);
    let pending = s.get("/api/v1/orgs/club/invitations?state=pending").await;
    assert_eq!(pending["items"].as_array().unwrap().len(), 0);
    assert_eq!(s.app.audit("invitation.resent").await.len(), 1);
    assert_eq!(s.app.audit("invitation.revoked").await.len(), 1);
    assert_eq!(s.app.count("SELECT COUNT(*) FROM memberships").await, 0);
}

#[tokio::test]
async fn every_unusable_link_gets_the_same_neutral_page() {
    let s = setup().await;
    let mut links = Vec::new();
    for (i, email) in ["used@example.org", "revoked@example.org", "expired@example.org"].iter().enumerate() {
        s.invite("club", json!({"email": email})).await;
        links.push(s.link(i + 1).await);
    }
    let c = client();
    s.accept_new(&c, &links[0], "used's long password").await;
    let revoked_id: i64 =
        sqlx::query_scalar("SELECT id FROM invitations WHERE email = 'revoked@example.org'")
            .fetch_one(s.app.store.pool())
            .await
            .unwrap();
    s.action("club", revoked_id, "revoke").await;
    sqlx::query("UPDATE tokens SET expires_at = 1 WHERE email = 'expired@example.org'")
        .execute(s.app.store.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE invitations SET expires_at = 1 WHERE email = 'expired@example.org'")
        .execute(s.app.store.pool())
        .await
        .unwrap();
    links.push("/invite/never-issued-token-abcdefghijklmnopqrstuvwxyz0123".to_string());
    let anonymous = client();
    // Not a link Portico could have issued: a malformed URL, refused before any route.
    assert_eq!(s.app.get_page(&anonymous, "/invite/%FF%FE").await.0, 400);
    let mut bodies = Vec::new();
    for link in &links {
        let (status, body) = s.app.get_page(&anonymous, link).await;
        assert_eq!(status, 410, "{link}");
        bodies.push(body);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "one page whatever the reason");
    assert!(bodies[0].contains("Ask the organisation that invited you to send a new invitation."));
    // The expired one reads as expired to staff, and a resend mends it.
    let list = s.get("/api/v1/orgs/club/invitations?state=expired").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let id = list["items"][0]["id"].as_i64().unwrap();
    assert_eq!(s.action("club", id, "resend").await.status(), 202);
    let renewed = s.link(4).await;
    assert_eq!(s.app.get_page(&anonymous, &renewed).await.0, 200);
}

#[tokio::test]
async fn the_per_recipient_limit_is_a_runtime_setting_and_answers_429_with_retry_after() {
    let s = setup().await;
    s.set("security.invite_limit_per_recipient_per_hour", 2).await;
    let (_, created) = json_of(s.invite("club", json!({"email": "sam@example.org"})).await).await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(s.action("club", id, "resend").await.status(), 202);
    let limited = s.action("club", id, "resend").await;
    assert_eq!(limited.status(), 429);
    let retry: i64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry));
    let (_, err) = json_of(limited).await;
    assert_eq!(err["error"]["code"], "rate_limited");
    // The limit is per address, across organisations.
    assert_eq!(s.invite("acme", json!({"email": "sam@example.org"})).await.status(), 429);
    assert_eq!(
        s.app.count("SELECT COUNT(*) FROM invitations").await,
        1,
        "the refused invitation left nothing"
    );
    // Raising the setting takes effect without a restart.
    s.set("security.invite_limit_per_recipient_per_hour", 5).await;
    assert_eq!(s.action("club", id, "resend").await.status(), 202);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.sink.received().len(), 3, "no email for the refused attempts");
    // Bad values are refused.
    let r = api()
        .put(s.app.url("/api/v1/settings/security.invite_limit_per_recipient_per_hour"))
        .bearer_auth(&s.token)
        .json(&json!({"value": -1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    for (value, status) in [(json!("7"), 400), (json!(7.5), 400), (json!(7.0), 200)] {
        let r = api()
            .put(s.app.url("/api/v1/settings/security.invite_limit_per_recipient_per_hour"))
            .bearer_auth(&s.token)
            .json(&json!({ "value": value }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{value}: a whole JSON number, as the document says");
    }
    let r = api()
        .put(s.app.url("/api/v1/settings/no.such.key"))
        .bearer_auth(&s.token)
        .json(&json!({"value": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn a_send_that_fails_gives_its_allowance_back() {
    let s = setup().await;
    s.set("security.invite_limit_per_recipient_per_hour", 1).await;
    s.sink.set_mode(Mode::RejectPermanently);
    let (_, created) = json_of(s.invite("club", json!({"email": "bounce@example.org"})).await).await;
    let id = created["id"].as_i64().unwrap();
    // Wait for the delivery to fail for good.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let list = s.get("/api/v1/orgs/club/invitations").await;
        if list["items"][0]["delivery"]["state"] == "dead" {
            assert!(list["items"][0]["delivery"]["last_error"].as_str().unwrap().contains("550"));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{list}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.sink.set_mode(Mode::Accept);
    assert_eq!(s.action("club", id, "resend").await.status(), 202, "the failed send was not counted");
    assert_eq!(s.sink.wait_for(1, Duration::from_secs(10)).await.len(), 1);
    assert_eq!(s.action("club", id, "resend").await.status(), 429, "the delivered one was");
}

#[tokio::test]
async fn invitation_creation_is_throttled_per_token_and_per_ip() {
    let s = setup().await;
    s.set("security.invite_creates_per_client_per_minute", 2).await;
    assert_eq!(s.invite("club", json!({"email": "a1@example.org"})).await.status(), 201);
    assert_eq!(s.invite("club", json!({"email": "a2@example.org"})).await.status(), 201);
    let limited = s.invite("club", json!({"email": "a3@example.org"})).await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    // Another token from the same IP is throttled by the IP bucket.
    s.app.create_staff("other@portico.test", StaffRole::Support).await;
    let other = s.app.api_token("other@portico.test").await;
    let r = api()
        .post(s.app.url("/api/v1/orgs/club/invitations"))
        .bearer_auth(&other)
        .json(&json!({"email": "a4@example.org"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(s.app.count("SELECT COUNT(*) FROM invitations").await, 2);
}

#[tokio::test]
async fn a_hundred_concurrent_identical_invitations_make_exactly_one() {
    let s = setup().await;
    s.set("security.invite_creates_per_client_per_minute", 10_000).await;
    let requests = (0..100).map(|_| s.invite("club", json!({"email": "race@example.org", "role": "member"})));
    let statuses: Vec<u16> =
        futures_util::future::join_all(requests).await.into_iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 99, "{statuses:?}");
    assert_eq!(s.app.count("SELECT COUNT(*) FROM invitations").await, 1);
    assert_eq!(s.app.count("SELECT COUNT(*) FROM outbox").await, 1);
    assert_eq!(s.app.audit("invitation.created").await.len(), 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.sink.wait_for(1, Duration::from_secs(5)).await.len(), 1);
}

#[tokio::test]
async fn twenty_concurrent_resends_under_a_limit_of_three_send_exactly_three_emails() {
    let s = setup().await;
    let (_, created) = json_of(s.invite("club", json!({"email": "flood@example.org"})).await).await;
    let id = created["id"].as_i64().unwrap();
    let requests = (0..20).map(|_| s.action("club", id, "resend"));
    let statuses: Vec<u16> =
        futures_util::future::join_all(requests).await.into_iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 202).count(), 2, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 18, "{statuses:?}");
    let got = s.sink.wait_for(3, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(s.sink.received().len(), 3, "{} emails", got.len());
    // Only the newest link works.
    let c = client();
    assert_eq!(s.app.get_page(&c, &s.link(1).await).await.0, 410);
    let live: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM tokens WHERE used_at IS NULL AND revoked_at IS NULL")
            .fetch_one(s.app.store.pool())
            .await
            .unwrap();
    assert_eq!(live, 1);
}

#[tokio::test]
async fn concurrent_acceptances_of_one_link_join_once() {
    let s = setup().await;
    s.invite("club", json!({"email": "twice@example.org"})).await;
    let link = s.link(1).await;
    let c = client();
    let (_, page) = s.app.get_page(&c, &link).await;
    let token = csrf_token(&page);
    let posts = (0..10).map(|_| {
        c.post(s.app.url(&link))
            .form(&[
                ("csrf_token", token.as_str()),
                ("mode", "new"),
                ("password", "twice long password"),
                ("password_confirm", "twice long password"),
            ])
            .send()
    });
    let statuses: Vec<u16> = futures_util::future::join_all(posts)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 303).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 303 || *s == 410), "{statuses:?}");
    assert_eq!(s.app.count("SELECT COUNT(*) FROM users WHERE email = 'twice@example.org'").await, 1);
    assert_eq!(s.app.count("SELECT COUNT(*) FROM memberships").await, 1);
}

#[tokio::test]
async fn setting_a_password_invalidates_the_users_other_links() {
    let s = setup().await;
    s.invite("club", json!({"email": "multi@example.org"})).await;
    s.invite("acme", json!({"email": "multi@example.org"})).await;
    let club_link = s.link(1).await;
    let acme_link = s.link(2).await;
    let c = client();
    let r = s.accept_new(&c, &club_link, "multi long password").await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        s.app.get_page(&client(), &acme_link).await.0,
        410,
        "the other set-your-password link is dead"
    );
}

#[tokio::test]
async fn markup_in_names_renders_as_text_in_the_console_the_email_and_the_acceptance_page() {
    let s = setup().await;
    let evil = "<script>alert(1)</script> \"Quoted\"";
    let r = api()
        .post(s.app.url("/api/v1/orgs"))
        .bearer_auth(&s.token)
        .json(&json!({"slug": "xss", "name": evil, "kind": "individual"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    s.invite("xss", json!({"email": "victim@example.org"})).await;
    let (subject, _, html) = s.email(1).await;
    assert_eq!(subject, format!("You have been invited to {evil} on Portico"), "the subject is plain text");
    assert!(!html.contains("<script>alert(1)</script>"), "{html}");
    assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62; &#34;Quoted&#34;"), "{html}");
    let link = s.link(1).await;
    let (_, page) = s.app.get_page(&client(), &link).await;
    assert!(!page.contains("<script>alert(1)</script>"));
    assert!(page.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));

    let password = s.app.create_staff("web@portico.test", StaffRole::Admin).await;
    let c = client();
    s.app.login(&c, "web@portico.test", &password).await;
    let (_, console) = s.app.get_page(&c, "/staff/orgs/xss").await;
    assert!(!console.contains("<script>alert(1)</script>"));
    assert!(console.contains("&#60;script&#62;alert(1)&#60;/script&#62; &#34;Quoted&#34;"));
}

#[tokio::test]
async fn staff_invite_resend_and_revoke_from_the_console() {
    let s = setup().await;
    s.sink.set_mode(Mode::RejectPermanently);
    let password = s.app.create_staff("web@portico.test", StaffRole::Support).await;
    let c = client();
    s.app.login(&c, "web@portico.test", &password).await;
    // Without the CSRF token nothing happens.
    let r = c
        .post(s.app.url("/staff/orgs/club/invitations"))
        .form(&[("email", "web1@example.org")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(s.app.count("SELECT COUNT(*) FROM invitations").await, 0);

    let r = s
        .app
        .post_form(
            &c,
            "/staff/orgs/club",
            "/staff/orgs/club/invitations",
            &[("email", "web1@example.org"), ("role", "member"), ("locale", "ro")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, page) = s.app.get_page(&c, "/staff/orgs/club").await;
    assert!(page.contains("The invitation was sent."));
    assert!(page.contains("web1@example.org"));
    // Bad input re-renders with a message; a duplicate offers the resend action.
    let r = s
        .app
        .post_form(
            &c,
            "/staff/orgs/club",
            "/staff/orgs/club/invitations",
            &[("email", "nope"), ("role", "member")],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("Enter a valid email address."));
    let r = s
        .app
        .post_form(
            &c,
            "/staff/orgs/club",
            "/staff/orgs/club/invitations",
            &[("email", "web1@example.org"), ("role", "member")],
        )
        .await;
    assert_eq!(r.status(), 409);
    let body = r.text().await.unwrap();
    assert!(body.contains("A pending invitation already exists"));
    let id: i64 =
        sqlx::query_scalar("SELECT id FROM invitations").fetch_one(s.app.store.pool()).await.unwrap();
    assert!(body.contains(&format!("action=\"/staff/orgs/club/invitations/{id}/resend\"")));

    // The failed delivery is shown with a resend button right there.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let page = loop {
        let (_, page) = s.app.get_page(&c, "/staff/orgs/club").await;
        if page.contains("delivery-dead") || std::time::Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let cell_start = page.find("delivery delivery-dead").expect("dead delivery shown");
    let cell = &page[cell_start..cell_start + page[cell_start..].find("</td>").unwrap()];
    assert!(cell.contains("550"), "{cell}");
    assert!(
        cell.contains(&format!("/staff/orgs/club/invitations/{id}/resend")),
        "resend where the failure is: {cell}"
    );

    s.sink.set_mode(Mode::Accept);
    let r = s
        .app
        .post_form(&c, "/staff/orgs/club", &format!("/staff/orgs/club/invitations/{id}/resend"), &[])
        .await;
    assert_eq!(r.status(), 303);
    let (subject, _, _) = s.email(1).await;
    assert!(subject.starts_with("Ați fost invitat"), "the chosen locale: {subject}");
    let r = s
        .app
        .post_form(&c, "/staff/orgs/club", &format!("/staff/orgs/club/invitations/{id}/revoke"), &[])
        .await;
    assert_eq!(r.status(), 303);
    let (_, page) = s.app.get_page(&c, "/staff/orgs/club").await;
    assert!(page.contains("The invitation was revoked"));
    assert!(page.contains("Revoked"));
}
