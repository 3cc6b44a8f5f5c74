//! Email delivery through a real SMTP server on loopback: MIME parts, retries, permanent
//! failures, crash recovery, rollbacks, two processes sharing one outbox, the dev viewer.

use crate::common;

use std::time::Duration;

use common::smtp_sink::{Mode, SmtpSink, unused_port};
use common::{ServeProcess, TestApp, client, spawn_with};
use mail_parser::{MessageParser, MimeHeaders};
use portico::domain::{Email, StaffRole};
use portico::i18n::Locale;
use portico::mail::{self, templates::Invitation};
use sqlx::Row;

const LINK: &str = "https://members.example.org/invite/SECRET-TOKEN-123";

async fn mail_app(smtp_url: Option<String>) -> TestApp {
    spawn_with(|c| {
        c.smtp_url = smtp_url.map(|u| u.parse().unwrap());
        c.outbox.poll_ms = 100;
        c.outbox.retry_base_secs = 1;
        c.outbox.lease_secs = 8;
        c.outbox.send_timeout_secs = 2;
        c.outbox.max_attempts = 3;
    })
    .await
}

fn invitation(hours: i64) -> Invitation {
    Invitation {
        org_name: "Hackspace <Bucharest>".into(),
        link: LINK.into(),
        expires_in_hours: hours,
        existing_user: false,
    }
}

async fn enqueue(app: &TestApp, to: &str, locale: Locale) -> i64 {
    let rendered = invitation(48).render(locale, &app.config.brand).unwrap();
    let mut tx = app.store.begin().await.unwrap();
    let id = mail::enqueue(
        &mut tx,
        &app.config,
        &Email::parse(to).unwrap(),
        &rendered,
        Some(("invitation", 7)),
        None,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}

struct Row_ {
    state: String,
    attempts: i64,
    last_error: Option<String>,
    body_text: Option<String>,
    body_html: Option<String>,
    subject: String,
    message_id: String,
}

async fn outbox_row(app: &TestApp, id: i64) -> Row_ {
    let r = sqlx::query("SELECT state, attempts, last_error, body_text, body_html, subject, message_id FROM outbox WHERE id = $1")
        .bind(id)
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    Row_ {
        state: r.get(0),
        attempts: r.get(1),
        last_error: r.get(2),
        body_text: r.get(3),
        body_html: r.get(4),
        subject: r.get(5),
        message_id: r.get(6),
    }
}

async fn wait_for_state(app: &TestApp, id: i64, state: &str, timeout: Duration) -> Row_ {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let row = outbox_row(app, id).await;
        if row.state == state || std::time::Instant::now() > deadline {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_message_arrives_with_both_parts_headers_and_link_and_its_secret_is_scrubbed() {
    let sink = SmtpSink::start().await;
    let app = mail_app(Some(sink.url())).await;
    let id = enqueue(&app, "Ana@Example.ORG", Locale::Ro).await;
    let got = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpt_to, vec!["<ana@example.org>".to_string()]);

    let parsed = MessageParser::default().parse(&got[0].data).expect("valid MIME");
    assert_eq!(parsed.subject(), Some("Ați fost invitat în Hackspace <Bucharest> pe Portico"));
    assert_eq!(parsed.from().and_then(|a| a.first()).and_then(|a| a.address()), Some("noreply@localhost"));
    assert_eq!(parsed.to().and_then(|a| a.first()).and_then(|a| a.address()), Some("ana@example.org"));
    let text = parsed.body_text(0).expect("text part");
    let html = parsed.body_html(0).expect("html part");
    assert!(text.contains(LINK), "{text}");
    assert!(text.contains("Acest link expiră în 48 de ore."), "{text}");
    assert!(html.contains(&format!("href=\"{LINK}\"")), "{html}");
    assert!(html.contains("Hackspace &#60;Bucharest&#62;"), "escaped in HTML");
    assert!(parsed.date().is_some());
    let content_type = parsed.content_type().expect("content type");
    assert_eq!(content_type.ctype(), "multipart");
    assert_eq!(content_type.subtype(), Some("alternative"));

    let row = wait_for_state(&app, id, "sent", Duration::from_secs(5)).await;
    assert_eq!(row.state, "sent");
    assert_eq!(parsed.message_id(), Some(row.message_id.trim_matches(['<', '>'])), "stable Message-ID");
    assert_eq!((row.body_text, row.body_html), (None, None), "the link is not kept after sending");
    assert_eq!(row.subject, parsed.subject().unwrap(), "metadata is kept");
    assert_eq!(row.attempts, 1);
}

#[tokio::test]
async fn a_sink_that_refuses_connections_for_a_while_gets_the_message_exactly_once() {
    let port = unused_port().await;
    let app = mail_app(Some(format!("smtp://127.0.0.1:{port}"))).await;
    let id = enqueue(&app, "late@example.org", Locale::En).await;
    let row = wait_for_state(&app, id, "failed", Duration::from_secs(10)).await;
    assert_eq!(row.state, "failed", "a refused connection is a transient failure");
    assert!(row.last_error.is_some());
    assert!(row.body_text.is_some(), "kept for the retry");

    let sink = SmtpSink::start_on(port).await;
    let got = sink.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(got.len(), 1);
    let row = wait_for_state(&app, id, "sent", Duration::from_secs(5)).await;
    assert_eq!(row.state, "sent");
    assert!(row.attempts >= 2, "{}", row.attempts);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.received().len(), 1, "delivered exactly once");
}

#[tokio::test]
async fn a_permanent_failure_is_dead_at_once_and_never_retried() {
    let sink = SmtpSink::start().await;
    sink.set_mode(Mode::RejectPermanently);
    let app = mail_app(Some(sink.url())).await;
    let id = enqueue(&app, "nobody@example.org", Locale::En).await;
    let row = wait_for_state(&app, id, "dead", Duration::from_secs(10)).await;
    assert_eq!(row.state, "dead");
    assert_eq!(row.attempts, 1);
    assert!(row.last_error.as_deref().is_some_and(|e| e.contains("550")), "{:?}", row.last_error);
    assert_eq!((row.body_text, row.body_html), (None, None), "dead messages are scrubbed too");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(outbox_row(&app, id).await.attempts, 1, "no retry");

    let metrics = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("portico_outbox_messages{state=\"dead\"} 1"), "{metrics}");
    assert!(metrics.contains("# TYPE portico_mail_dead_total counter"));
}

#[tokio::test]
async fn transient_failures_retry_with_backoff_then_give_up() {
    let sink = SmtpSink::start().await;
    sink.set_mode(Mode::RejectTemporarily);
    let app = mail_app(Some(sink.url())).await;
    let id = enqueue(&app, "busy@example.org", Locale::En).await;
    let row = wait_for_state(&app, id, "dead", Duration::from_secs(20)).await;
    assert_eq!(row.state, "dead");
    assert_eq!(row.attempts, 3, "max_attempts");
    assert!(
        row.last_error.as_deref().is_some_and(|e| e.contains("gave up after 3 attempts")),
        "{:?}",
        row.last_error
    );
}

#[tokio::test]
async fn a_message_left_in_sending_by_a_crashed_process_is_redelivered_after_the_lease() {
    let sink = SmtpSink::start().await;
    let app = mail_app(Some(sink.url())).await;
    // A process claimed this message and died: it is `sending` with a lease two seconds out.
    let rendered = invitation(1).render(Locale::En, "Portico").unwrap();
    let mut tx = app.store.begin().await.unwrap();
    let id = mail::enqueue(
        &mut tx,
        &app.config,
        &Email::parse("crash@example.org").unwrap(),
        &rendered,
        None,
        None,
    )
    .await
    .unwrap();
    let lease_until = portico::store::now_ms() + 2000;
    sqlx::query("UPDATE outbox SET state = 'sending', attempts = 1, claim_token = 'crashed', lease_until_ms = $1 WHERE id = $2")
        .bind(lease_until)
        .bind(id)
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();

    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(sink.received().is_empty(), "not while the lease holds");
    let got = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    assert!(portico::store::now_ms() >= lease_until);
    let row = wait_for_state(&app, id, "sent", Duration::from_secs(5)).await;
    assert_eq!((row.state.as_str(), row.attempts), ("sent", 2));
}

#[tokio::test]
async fn a_rolled_back_transaction_enqueues_nothing() {
    let sink = SmtpSink::start().await;
    let app = mail_app(Some(sink.url())).await;
    let rendered = invitation(2).render(Locale::En, "Portico").unwrap();
    {
        let mut tx = app.store.begin().await.unwrap();
        mail::enqueue(
            &mut tx,
            &app.config,
            &Email::parse("ghost@example.org").unwrap(),
            &rendered,
            None,
            None,
        )
        .await
        .unwrap();
        // The change that caused the email fails afterwards: nothing may remain.
        let failed = sqlx::query(
            "INSERT INTO organisations (slug, name, kind, created_at) VALUES ('x', 'X', 'bogus', 0)",
        )
        .execute(tx.conn())
        .await;
        assert!(failed.is_err());
        // dropped without commit
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox").await, 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(sink.received().is_empty());
}

#[tokio::test]
async fn two_server_processes_on_one_database_deliver_500_messages_exactly_once() {
    let sink = SmtpSink::start().await;
    let (url, _dir) = common::fresh_database().await;
    let store = portico::store::Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let config = common::test_config(&url);
    let rendered = invitation(24).render(Locale::En, "Portico").unwrap();
    let mut tx = store.begin().await.unwrap();
    for i in 0..500 {
        let to = Email::parse(&format!("member{i}@example.org")).unwrap();
        mail::enqueue(&mut tx, &config, &to, &rendered, None, None).await.unwrap();
    }
    tx.commit().await.unwrap();

    let env = [("PORTICO_OUTBOX_BATCH", "10"), ("PORTICO_OUTBOX_POLL_MS", "50")];
    let _servers =
        [ServeProcess::start(&url, &sink.url(), &env), ServeProcess::start(&url, &sink.url(), &env)];

    let got = sink.wait_for(500, Duration::from_secs(90)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = if got.len() >= 500 { sink.received() } else { got };
    let mut ids: Vec<String> = got
        .iter()
        .map(|m| {
            MessageParser::default()
                .parse(&m.data)
                .and_then(|p| p.message_id().map(String::from))
                .expect("Message-ID")
        })
        .collect();
    assert_eq!(ids.len(), 500, "every message arrived, none twice");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 500, "500 distinct Message-IDs");
    let sent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE state = 'sent'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(sent, 500);
}

#[tokio::test]
async fn the_dev_outbox_delivers_to_the_viewer_which_exists_only_without_smtp() {
    let app = mail_app(None).await;
    let id = enqueue(&app, "dev@example.org", Locale::En).await;
    let row = wait_for_state(&app, id, "sent", Duration::from_secs(10)).await;
    assert_eq!(row.state, "sent");
    assert_eq!(row.body_text, None, "scrubbed from the outbox like any sent message");

    let c = client();
    let (status, list) = app.get_page(&c, "/dev/mail").await;
    assert_eq!(status, 200);
    assert!(list.contains("dev@example.org"));
    assert!(list.contains("You have been invited to Hackspace &#60;Bucharest&#62; on Portico"));
    let mail_id: i64 =
        sqlx::query_scalar("SELECT id FROM dev_mailbox").fetch_one(app.store.pool()).await.unwrap();
    let shown = c.get(app.url(&format!("/dev/mail/{mail_id}"))).send().await.unwrap();
    // The email's own inline styles render in its sandboxed frame; scripts stay off.
    let csp = shown.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("style-src 'self' 'unsafe-inline'") && csp.contains("script-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let (status, page) = (shown.status().as_u16(), shown.text().await.unwrap());
    assert_eq!(status, 200);
    assert!(page.contains(&format!("<a href=\"{LINK}\">")), "links are listed");
    assert!(page.contains("This link expires in 48 hours."), "text part");
    assert!(page.contains("srcdoc=\""), "HTML part in a sandboxed frame");
    assert!(page.contains("Message-ID: "), "headers");
    assert_eq!(app.get_page(&c, "/dev/mail/999999").await.0, 404);
    assert_eq!(app.get_page(&c, "/dev/mail/not-a-number").await.0, 404);

    let sink = SmtpSink::start().await;
    let with_smtp = mail_app(Some(sink.url())).await;
    assert_eq!(with_smtp.get_page(&c, "/dev/mail").await.0, 404, "not routed with SMTP configured");
}

#[tokio::test]
async fn staff_see_the_delivery_state_of_a_members_latest_email() {
    let sink = SmtpSink::start().await;
    sink.set_mode(Mode::RejectPermanently);
    let app = mail_app(Some(sink.url())).await;
    let token = app.admin_token().await;
    let client_api = reqwest::Client::new();
    let r = client_api
        .post(app.url("/api/v1/orgs"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"slug": "club", "name": "Club", "kind": "nonprofit"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // A member (memberships are created by later flows; here straight in the database).
    let now = portico::store::now();
    let mut tx = app.store.begin().await.unwrap();
    sqlx::query("INSERT INTO users (email, created_at) VALUES ('bounce@example.org', $1)")
        .bind(now)
        .execute(tx.conn())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO memberships (org_id, user_id, role, status, created_at)
         SELECT o.id, u.id, 'member', 'active', $1 FROM organisations o, users u WHERE o.slug = 'club' AND u.email = 'bounce@example.org'",
    )
    .bind(now)
    .execute(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let members: serde_json::Value = client_api
        .get(app.url("/api/v1/orgs/club/members"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(members["items"][0]["email"], "bounce@example.org");
    assert!(members["items"][0]["delivery"].is_null(), "no email yet");

    let id = enqueue(&app, "bounce@example.org", Locale::En).await;
    wait_for_state(&app, id, "dead", Duration::from_secs(10)).await;
    let members: serde_json::Value = client_api
        .get(app.url("/api/v1/orgs/club/members?status=active&q=BOUNCE"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let delivery = &members["items"][0]["delivery"];
    assert_eq!(delivery["state"], "dead", "{members}");
    assert!(delivery["last_error"].as_str().unwrap().contains("550"));
    let none: serde_json::Value = client_api
        .get(app.url("/api/v1/orgs/club/members?status=banned"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(none["items"].as_array().unwrap().len(), 0);
    let bad = client_api
        .get(app.url("/api/v1/orgs/club/members?status=zombie"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    let password = app.create_staff("sam@portico.test", StaffRole::Support).await;
    let c = client();
    app.login(&c, "sam@portico.test", &password).await;
    let (_, page) = app.get_page(&c, "/staff/orgs/club").await;
    assert!(page.contains("Failed (gave up)"), "{page}");
    assert!(page.contains("550"));
    let (_, outbox) = app.get_page(&c, "/staff/outbox").await;
    assert!(outbox.contains("bounce@example.org") && outbox.contains("Failed (gave up)"));
}
