//! Password reset (`/password/forgot`, `/password/reset/{token}`), on both backends.

use crate::common;

use std::time::Duration;

use common::smtp_sink::SmtpSink;
use common::{TestApp, client, set_cookie, spawn_with};
use mail_parser::MessageParser;
use portico::domain::StaffRole;

async fn setup() -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_with(|c| {
        c.smtp_url = Some(url.parse().unwrap());
        c.outbox.poll_ms = 50;
    })
    .await;
    (app, sink)
}

async fn ask(app: &TestApp, email: &str) -> (u16, String) {
    let r = app.post_form(&client(), "/password/forgot", "/password/forgot", &[("email", email)]).await;
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn a_known_address_gets_a_link_that_sets_a_new_password_once() {
    let (app, sink) = setup().await;
    let old = app.create_staff("ops@example.org", StaffRole::Admin).await;
    // A session elsewhere, which the reset must end.
    let elsewhere = client();
    assert_eq!(app.login(&elsewhere, "ops@example.org", &old).await.status(), 303);

    let (known_status, known) = ask(&app, "OPS@example.org").await;
    let (unknown_status, unknown) = ask(&app, "nobody@example.org").await;
    assert_eq!((known_status, unknown_status), (200, 200));
    assert_eq!(known, unknown, "the same answer for both");
    let got = sink.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.received().len(), 1, "nothing is sent to an unknown address");
    let parsed = MessageParser::default().parse(&got[0].data).unwrap();
    assert_eq!(parsed.subject(), Some("Reset your password on Portico"));
    let text = parsed.body_text(0).unwrap().to_string();
    assert!(text.contains("This link expires in 2 hours."), "{text}");
    let link = portico::mail::links(&text).into_iter().find(|l| l.contains("/password/reset/")).unwrap();
    let link = &link[app.base.len()..];

    let c = client();
    assert_eq!(app.get_page(&c, link).await.0, 200);
    assert_eq!(app.get_page(&c, link).await.0, 200, "GET does not use the link up");
    let r = app.post_form(&c, link, link, &[("password", "short"), ("password_confirm", "short")]).await;
    assert_eq!(r.status(), 400);
    let r = app
        .post_form(
            &c,
            link,
            link,
            &[("password", "a brand new passphrase"), ("password_confirm", "a brand new passphrase")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/staff/orgs");
    assert!(set_cookie(&r, "portico_session").is_some());
    assert_eq!(app.get_page(&c, "/staff/orgs").await.0, 200);

    let (status, gone) = app.get_page(&client(), link).await;
    assert_eq!(status, 410, "used up");
    assert!(gone.contains("This password reset link cannot be used"), "{gone}");
    assert!(gone.contains("href=\"/password/forgot\""), "offers a new link");
    let r = elsewhere.get(app.url("/staff/orgs")).send().await.unwrap();
    assert_eq!(r.status(), 303, "the other session was ended");
    assert_eq!(app.login(&client(), "ops@example.org", &old).await.status(), 401);
    assert_eq!(app.login(&client(), "ops@example.org", "a brand new passphrase").await.status(), 303);
    assert_eq!(app.audit("password.reset").await.len(), 1);
}

#[tokio::test]
async fn reset_requests_are_limited_and_bad_input_is_refused() {
    let (app, _sink) = setup().await;
    let (status, page) = ask(&app, "not an address").await;
    assert_eq!(status, 400);
    assert!(page.contains("Enter a valid email address."));
    app.create_staff("known@example.org", StaffRole::Support).await;
    // The limit behaves the same for an address with an account and one without.
    for address in ["known@example.org", "someone@example.org"] {
        for _ in 0..3 {
            assert_eq!(ask(&app, address).await.0, 200);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(ask(&app, address).await.0, 429, "{address}");
    }
    assert_eq!(app.get_page(&client(), "/password/reset/not-a-real-token").await.0, 410);
    let r = app
        .post_form(
            &client(),
            "/password/forgot",
            "/password/reset/not-a-real-token",
            &[("password", "x"), ("password_confirm", "x")],
        )
        .await;
    assert_eq!(r.status(), 410);
}
