//! Account self-service (`/account`) for every signed-in user: password, address, sessions,
//! language; on both backends, with real email to a local sink.

use crate::common;

use std::time::Duration;

use common::smtp_sink::SmtpSink;
use common::{TestApp, client, set_cookie, spawn_with};
use mail_parser::MessageParser;
use portico::domain::StaffRole;

const PASSWORD: &str = "the first passphrase";

async fn setup() -> (TestApp, SmtpSink, reqwest::Client) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_with(|c| {
        c.smtp_url = Some(url.parse().unwrap());
        c.outbox.poll_ms = 50;
    })
    .await;
    let hasher = portico::flows::password::Hasher::new(1, 1);
    portico::flows::staff::create_staff(
        &app.store,
        &hasher,
        &portico::flows::Ctx::cli(),
        "me@portico.test",
        StaffRole::Support,
        PASSWORD,
    )
    .await
    .unwrap();
    let me = client();
    assert_eq!(app.login(&me, "me@portico.test", PASSWORD).await.status(), 303);
    (app, sink, me)
}

async fn post(
    app: &TestApp,
    c: &reqwest::Client,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    app.post_form(c, "/account", action, fields).await
}

fn message(data: &[u8]) -> (String, String) {
    let parsed = MessageParser::default().parse(data).unwrap();
    (parsed.subject().unwrap_or_default().to_string(), parsed.body_text(0).unwrap().to_string())
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_ends_every_other_session() {
    let (app, _sink, me) = setup().await;
    let elsewhere = client();
    assert_eq!(app.login(&elsewhere, "me@portico.test", PASSWORD).await.status(), 303);
    let (status, page) = app.get_page(&me, "/account").await;
    assert_eq!(status, 200);
    assert_eq!(page.matches("name=\"session\"").count(), 2, "both sessions are listed");

    for (current, new, confirm, message) in [
        (
            "wrong passphrase here",
            "a second passphrase",
            "a second passphrase",
            "The current password is not right.",
        ),
        (PASSWORD, "short", "short", "at least 12"),
        (PASSWORD, "a second passphrase", "a different passphrase", ""),
    ] {
        let r = post(
            &app,
            &me,
            "/account/password",
            &[("current_password", current), ("password", new), ("password_confirm", confirm)],
        )
        .await;
        assert_eq!(r.status(), 400, "{new}");
        let body = r.text().await.unwrap();
        assert!(body.contains("id=\"password-error\"") && body.contains(message), "{body}");
    }
    assert_eq!(app.audit("account.password_changed").await.len(), 0);

    let old_cookie = app.count("SELECT COUNT(*) FROM sessions").await;
    assert_eq!(old_cookie, 2);
    let r = post(
        &app,
        &me,
        "/account/password",
        &[
            ("current_password", PASSWORD),
            ("password", "a second passphrase"),
            ("password_confirm", "a second passphrase"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert!(set_cookie(&r, "portico_session").is_some(), "this session continues under a new id");
    assert_eq!(app.get_page(&me, "/account").await.0, 200);
    let r = elsewhere.get(app.url("/account")).send().await.unwrap();
    assert_eq!(r.status(), 303, "the other session ended");
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 1);
    assert_eq!(app.login(&client(), "me@portico.test", PASSWORD).await.status(), 401);
    assert_eq!(app.login(&client(), "me@portico.test", "a second passphrase").await.status(), 303);
    let changed = app.audit("account.password_changed").await;
    assert_eq!(changed[0].details["other_sessions_ended"], 1);
}

#[tokio::test]
async fn wrong_current_passwords_are_throttled_per_client() {
    let (app, _sink, me) = setup().await;
    portico::flows::settings::set(
        &app.store,
        &portico::flows::Ctx::cli(),
        "security.login_attempts_per_ip_per_15min",
        "3",
    )
    .await
    .unwrap();
    common::clear_of_window_edge(15 * 60, 20).await;
    // The sign-in already used one attempt of this client's allowance (unless a window began
    // since, which the checks below allow for).
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = post(
            &app,
            &me,
            "/account/password",
            &[
                ("current_password", "guess guess guess"),
                ("password", "a second passphrase"),
                ("password_confirm", "a second passphrase"),
            ],
        )
        .await;
        statuses.push(r.status().as_u16());
    }
    let allowed = statuses.iter().take_while(|s| **s == 400).count();
    assert!((2..=3).contains(&allowed) && statuses[allowed..].iter().all(|s| *s == 429), "{statuses:?}");
}

#[tokio::test]
async fn an_address_change_needs_the_link_sent_to_the_new_address_and_the_old_one_is_told() {
    let (app, sink, me) = setup().await;
    let r = post(
        &app,
        &me,
        "/account/email",
        &[("email", "New@Portico.test"), ("current_password", "not it at all")],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("The current password is not right."));
    let r =
        post(&app, &me, "/account/email", &[("email", "New@Portico.test"), ("current_password", PASSWORD)])
            .await;
    assert_eq!(r.status(), 303);
    let got = sink.wait_for(2, Duration::from_secs(10)).await;
    let to_new = got.iter().find(|m| m.rcpt_to.iter().any(|r| r.contains("new@portico.test"))).unwrap();
    let to_old = got.iter().find(|m| m.rcpt_to.iter().any(|r| r.contains("me@portico.test"))).unwrap();
    let (subject, text) = message(&to_new.data);
    assert_eq!(subject, "Confirm your new email address on Portico");
    let (old_subject, old_text) = message(&to_old.data);
    assert_eq!(old_subject, "Your email address on Portico is being changed");
    assert!(old_text.contains("new@portico.test") && !old_text.contains("/account/email/"), "{old_text}");

    // Nothing changes before the link is used; a GET only shows what it confirms.
    assert_eq!(app.login(&client(), "me@portico.test", PASSWORD).await.status(), 303);
    let link = portico::mail::links(&text).into_iter().find(|l| l.contains("/account/email/")).unwrap();
    let link = &link[app.base.len()..];
    let other_browser = client();
    let (status, page) = app.get_page(&other_browser, link).await;
    assert_eq!(status, 200);
    assert!(page.contains("Use new@portico.test to sign in from now on?"), "{page}");
    assert_eq!(app.login(&client(), "me@portico.test", PASSWORD).await.status(), 303);
    let r = app.post_form(&other_browser, link, link, &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(app.login(&client(), "new@portico.test", PASSWORD).await.status(), 303);
    assert_eq!(app.login(&client(), "me@portico.test", PASSWORD).await.status(), 401);
    let (status, _) = app.get_page(&client(), link).await;
    assert_eq!(status, 410, "used up");
    let changed = app.audit("account.email_changed").await;
    assert_eq!(
        (changed[0].details["from"].as_str(), changed[0].details["to"].as_str()),
        (Some("me@portico.test"), Some("new@portico.test"))
    );
    // The audit log finds the person's earlier events by their new address.
    let token = app.admin_token().await;
    let found: serde_json::Value = client()
        .get(app.url("/api/v1/audit?actor=new@portico.test&action=account.email_change_requested"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"][0]["actor"], "me@portico.test");
}

#[tokio::test]
async fn a_taken_address_gets_the_same_answer_and_cannot_be_confirmed() {
    let (app, sink, me) = setup().await;
    app.create_staff("taken@portico.test", StaffRole::Support).await;
    let free =
        post(&app, &me, "/account/email", &[("email", "free@portico.test"), ("current_password", PASSWORD)])
            .await;
    let taken =
        post(&app, &me, "/account/email", &[("email", "taken@portico.test"), ("current_password", PASSWORD)])
            .await;
    assert_eq!((free.status().as_u16(), taken.status().as_u16()), (303, 303));
    assert_eq!(free.headers()["location"], taken.headers()["location"]);
    let flash = |r: &reqwest::Response| set_cookie(r, "portico_flash");
    assert_eq!(flash(&free), flash(&taken), "the same message for both");
    // (the second request replaced the first link)
    let got = sink.wait_for(4, Duration::from_secs(10)).await;
    let to_taken = got.iter().find(|m| m.rcpt_to.iter().any(|r| r.contains("taken@portico.test"))).unwrap();
    let (_, text) = message(&to_taken.data);
    let link = portico::mail::links(&text).into_iter().find(|l| l.contains("/account/email/")).unwrap();
    let link = &link[app.base.len()..];
    let c = client();
    let r = app.post_form(&c, link, link, &[]).await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("This address already has an account"));
    assert_eq!(app.login(&client(), "me@portico.test", PASSWORD).await.status(), 303, "nothing changed");
    assert_eq!(app.audit("account.email_changed").await.len(), 0);
    // The first link was replaced by the second request.
    let to_free = got.iter().find(|m| m.rcpt_to.iter().any(|r| r.contains("free@portico.test"))).unwrap();
    let (_, text) = message(&to_free.data);
    let link = portico::mail::links(&text).into_iter().find(|l| l.contains("/account/email/")).unwrap();
    assert_eq!(app.get_page(&client(), &link[app.base.len()..]).await.0, 410);
    // A signup link is no address-change link, and the other way round.
    assert_eq!(app.get_page(&client(), "/account/email/not-a-token").await.0, 410);
}

#[tokio::test]
async fn people_see_and_end_their_own_sessions_and_sign_out_everywhere() {
    let (app, _sink, me) = setup().await;
    let phone = client();
    assert_eq!(app.login(&phone, "me@portico.test", PASSWORD).await.status(), 303);
    let stranger = client();
    let other = app.create_staff("other@portico.test", StaffRole::Support).await;
    app.login(&stranger, "other@portico.test", &other).await;

    let (_, page) = app.get_page(&me, "/account").await;
    assert_eq!(page.matches("(this browser)").count(), 1);
    let hashes: Vec<String> = page
        .match_indices("name=\"session\" value=\"")
        .map(|(i, m)| page[i + m.len()..].split('"').next().unwrap().to_string())
        .collect();
    assert_eq!(hashes.len(), 2, "only my own sessions");
    // End the phone's session (the one not marked as this browser).
    let this_row = page.split("(this browser)").nth(1).unwrap();
    let mine = this_row.split("name=\"session\" value=\"").nth(1).unwrap().split('"').next().unwrap();
    let phone_hash = hashes.iter().find(|h| *h != mine).unwrap();
    let r = post(&app, &me, "/account/sessions/end", &[("session", phone_hash)]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(phone.get(app.url("/account")).send().await.unwrap().status(), 303);
    assert_eq!(app.get_page(&me, "/account").await.0, 200);
    // Someone else's session cannot be ended from here.
    let theirs: String = sqlx::query_scalar(
        "SELECT s.id_hash FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = 'other@portico.test'",
    )
    .fetch_one(app.store.pool())
    .await
    .unwrap();
    assert_eq!(post(&app, &me, "/account/sessions/end", &[("session", &theirs)]).await.status(), 404);
    assert_eq!(app.get_page(&stranger, "/staff/orgs").await.0, 200);

    let r = post(&app, &me, "/account/sessions/end-all", &[]).await;
    assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().unwrap()), (303, "/login"));
    assert_eq!(me.get(app.url("/account")).send().await.unwrap().status(), 303);
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = 'me@portico.test'").await, 0);
    assert_eq!(app.audit("account.session_ended").await.len(), 1);
    assert_eq!(app.audit("account.signed_out_everywhere").await.len(), 1);
    // Signed out, the page sends people to sign in.
    let r = client().get(app.url("/account")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().unwrap()), (303, "/login"));
}

#[tokio::test]
async fn the_chosen_language_applies_to_every_page() {
    let (app, _sink, me) = setup().await;
    assert_eq!(post(&app, &me, "/account/locale", &[("locale", "klingon")]).await.status(), 400);
    let r = post(&app, &me, "/account/locale", &[("locale", "ro")]).await;
    assert_eq!(r.status(), 303);
    let (_, page) = app.get_page(&me, "/account").await;
    assert!(page.contains("<html lang=\"ro\">") && page.contains("Contul dumneavoastră"), "{page}");
    let changed = app.audit("account.locale_changed").await;
    assert_eq!(changed[0].details["to"], "ro");
}

#[tokio::test]
async fn a_signup_verification_link_is_no_address_change_link() {
    let (app, _sink, _me) = setup().await;
    let me: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = 'me@portico.test'")
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    // A signup link for someone's address whose signup request has the same id as my account:
    // taken as an address-change link, it would move my account to that address.
    let now = portico::store::now();
    let mut tx = app.store.begin().await.unwrap();
    let token = portico::store::tokens::issue(
        tx.conn(),
        portico::store::tokens::Purpose::EmailVerification,
        ("signup_request", me),
        "someone@portico.test",
        now + 3600,
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let link = format!("/account/email/{}", token.expose());
    let c = client();
    assert_eq!(app.get_page(&c, &link).await.0, 410);
    let (_, page) = app.get_page(&c, "/login").await;
    let r = c
        .post(app.url(&link))
        .form(&[("csrf_token", common::csrf_token(&page).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
    assert_eq!(
        app.login(&client(), "me@portico.test", PASSWORD).await.status(),
        303,
        "my address is unchanged"
    );
    assert_eq!(app.audit("account.email_changed").await.len(), 0);
}
