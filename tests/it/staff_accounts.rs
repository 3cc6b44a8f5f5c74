//! Staff accounts in the console (`/staff/people`, admins): creation with a password shown once
//! or an emailed set-password link, roles, disabling (sessions and API tokens end at once), API
//! tokens with their last use, revocable; on both backends.

use crate::common;

use std::time::Duration;

use common::smtp_sink::SmtpSink;
use common::{TestApp, client, spawn_with};
use mail_parser::MessageParser;
use portico::domain::StaffRole;

async fn setup() -> (TestApp, SmtpSink, reqwest::Client) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_with(|c| {
        c.smtp_url = Some(url.parse().unwrap());
        c.outbox.poll_ms = 50;
    })
    .await;
    let password = app.create_staff("root@portico.test", StaffRole::Admin).await;
    let admin = client();
    assert_eq!(app.login(&admin, "root@portico.test", &password).await.status(), 303);
    (app, sink, admin)
}

async fn user_id(app: &TestApp, email: &str) -> i64 {
    portico::store::users::find_by_email(app.store.pool(), &portico::domain::Email::parse(email).unwrap())
        .await
        .unwrap()
        .unwrap()
        .id
}

async fn api_status(app: &TestApp, token: &str) -> u16 {
    client().get(app.url("/api/v1/audit?limit=1")).bearer_auth(token).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn an_admin_creates_staff_with_a_password_shown_once_or_an_emailed_link() {
    let (app, sink, admin) = setup().await;
    // Shown once: on the answer to the form, which the new person can sign in with.
    let r = app
        .post_form(
            &admin,
            "/staff/people",
            "/staff/people",
            &[("email", " Shown@Portico.test "), ("role", "support"), ("first_password", "shown")],
        )
        .await;
    assert_eq!(r.status(), 201);
    let page = r.text().await.unwrap();
    let password = page.split("<code class=\"secret\">").nth(1).unwrap().split("</code>").next().unwrap();
    assert_eq!(password.len(), 20, "{page}");
    assert_eq!(app.login(&client(), "shown@portico.test", password).await.status(), 303);
    let (_, again) = app.get_page(&admin, "/staff/people").await;
    assert!(!again.contains(password), "the password is shown once");

    // By link: the email arrives, the link sets the password, the person is signed in.
    let r = app
        .post_form(
            &admin,
            "/staff/people",
            "/staff/people",
            &[("email", "linked@portico.test"), ("role", "admin"), ("first_password", "link")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let got = sink.wait_for(1, Duration::from_secs(10)).await;
    let parsed = MessageParser::default().parse(&got[0].data).unwrap();
    assert_eq!(parsed.subject(), Some("Your staff account on Portico"));
    let text = parsed.body_text(0).unwrap().to_string();
    assert!(text.contains("This link expires in 72 hours."), "{text}");
    let link = portico::mail::links(&text).into_iter().find(|l| l.contains("/password/reset/")).unwrap();
    let link = &link[app.base.len()..];
    let c = client();
    let r = app
        .post_form(
            &c,
            link,
            link,
            &[("password", "my own staff passphrase"), ("password_confirm", "my own staff passphrase")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(app.get_page(&c, "/staff/people").await.0, 200, "an admin now");

    // An address that has an account already, a bad address, a bad role: refused, nothing made.
    for (email, role, message) in [
        ("linked@portico.test", "support", "This address already has an account."),
        ("not an address", "support", "Enter a valid email address."),
        ("new@portico.test", "root", "Choose admin or support."),
    ] {
        let fields = [("email", email), ("role", role), ("first_password", "link")];
        let r = app.post_form(&admin, "/staff/people", "/staff/people", &fields).await;
        assert!(r.status().is_client_error(), "{email}");
        assert!(r.text().await.unwrap().contains(message), "{email}");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM users WHERE staff_role IS NOT NULL").await, 3);
    let created = app.audit("staff.created").await;
    let by_console: Vec<_> = created.iter().filter(|e| e.actor == "root@portico.test").collect();
    assert_eq!(by_console.len(), 2);

    // Support staff cannot see the page or use it.
    let support = client();
    assert_eq!(app.login(&support, "shown@portico.test", password).await.status(), 303);
    assert_eq!(app.get_page(&support, "/staff/people").await.0, 403);
}

#[tokio::test]
async fn disabling_a_staff_member_ends_their_sessions_and_api_tokens_at_once() {
    let (app, _sink, admin) = setup().await;
    let password = app.create_staff("leaver@portico.test", StaffRole::Admin).await;
    let token = app.api_token("leaver@portico.test").await;
    let leaver = client();
    assert_eq!(app.login(&leaver, "leaver@portico.test", &password).await.status(), 303);
    assert_eq!(app.get_page(&leaver, "/staff/orgs").await.0, 200);
    assert_eq!(api_status(&app, &token).await, 200);
    let id = user_id(&app, "leaver@portico.test").await;

    let r = app.post_form(&admin, "/staff/people", &format!("/staff/people/{id}/disable"), &[]).await;
    assert_eq!(r.status(), 303);
    // At once: the open session is gone, the token refused, the password no longer signs in
    // (answered as a wrong password is), and a reset link is not sent or honoured.
    let r = leaver.get(app.url("/staff/orgs")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().unwrap()), (303, "/login"));
    assert_eq!(api_status(&app, &token).await, 401);
    let refused = app.login(&client(), "leaver@portico.test", &password).await;
    assert_eq!(refused.status(), 401);
    let wrong = app.login(&client(), "leaver@portico.test", "not the password at all").await;
    let without_csrf = |page: String| page.replace(&common::csrf_token(&page), "");
    assert_eq!(without_csrf(refused.text().await.unwrap()), without_csrf(wrong.text().await.unwrap()));
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = 'leaver@portico.test'").await, 0);
    let disabled = app.audit("staff.disabled").await;
    assert_eq!(disabled.len(), 1);
    assert_eq!(
        (disabled[0].details["sessions_ended"].as_i64(), disabled[0].details["tokens_revoked"].as_i64()),
        (Some(1), Some(1))
    );
    let (_, page) = app.get_page(&admin, "/staff/people").await;
    let row = page.split(&format!("id=\"staff-{id}\"")).nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(row.contains("Disabled") && row.contains("revoked"), "{row}");

    // Enabled again: the password works; the old token stays revoked.
    let r = app.post_form(&admin, "/staff/people", &format!("/staff/people/{id}/enable"), &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(app.login(&client(), "leaver@portico.test", &password).await.status(), 303);
    assert_eq!(api_status(&app, &token).await, 401);
    assert_eq!(app.audit("staff.enabled").await.len(), 1);
}

#[tokio::test]
async fn the_last_admin_stays_and_nobody_disables_themselves() {
    let (app, _sink, admin) = setup().await;
    let root = user_id(&app, "root@portico.test").await;
    let r = app.post_form(&admin, "/staff/people", &format!("/staff/people/{root}/disable"), &[]).await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("You cannot disable your own account."));
    let r = app
        .post_form(&admin, "/staff/people", &format!("/staff/people/{root}/role"), &[("role", "support")])
        .await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("This is the last enabled admin"));

    // With a second admin, the first may step down; the second is then the last.
    app.create_staff("second@portico.test", StaffRole::Admin).await;
    let second = user_id(&app, "second@portico.test").await;
    let r = app
        .post_form(&admin, "/staff/people", &format!("/staff/people/{root}/role"), &[("role", "support")])
        .await;
    assert_eq!(r.status(), 303);
    let changed = app.audit("staff.role_changed").await;
    assert_eq!(
        (changed[0].details["from"].as_str(), changed[0].details["to"].as_str()),
        (Some("admin"), Some("support"))
    );
    // The page is an admin's: root, support staff now, is turned away.
    assert_eq!(app.get_page(&admin, "/staff/people").await.0, 403);
    let ctx = portico::flows::Ctx::cli();
    let last = portico::flows::staff::disable(&app.store, &ctx, second).await;
    assert!(matches!(last, Err(portico::flows::FlowError::Conflict { code: "last_admin" })));
    // Unknown accounts and actions are not found.
    let other = client();
    let password = app.create_staff("third@portico.test", StaffRole::Admin).await;
    app.login(&other, "third@portico.test", &password).await;
    assert_eq!(
        app.post_form(&other, "/staff/people", "/staff/people/999999/disable", &[]).await.status(),
        404
    );
    assert_eq!(
        app.post_form(&other, "/staff/people", &format!("/staff/people/{second}/explode"), &[])
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn api_tokens_show_their_last_use_and_are_revoked_from_the_console() {
    let (app, _sink, admin) = setup().await;
    app.create_staff("bot@portico.test", StaffRole::Support).await;
    let token = app.api_token("bot@portico.test").await;
    let (_, page) = app.get_page(&admin, "/staff/people").await;
    assert!(page.contains("never used"), "{page}");
    assert_eq!(api_status(&app, &token).await, 200);
    let used = app.count("SELECT COUNT(*) FROM api_tokens WHERE last_used_at IS NOT NULL").await;
    assert_eq!(used, 1);
    let (_, page) = app.get_page(&admin, "/staff/people").await;
    assert!(page.contains("last used"), "{page}");

    let token_id = app.count("SELECT MAX(id) FROM api_tokens").await;
    let r = app.post_form(&admin, "/staff/people", &format!("/staff/tokens/{token_id}/revoke"), &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(api_status(&app, &token).await, 401, "revoked at once");
    let revoked = app.audit("api_token.revoked").await;
    assert_eq!(
        (revoked[0].target.as_deref(), revoked[0].actor.as_str()),
        (Some("bot@portico.test"), "root@portico.test")
    );
    // Twice: there is no live token of that id any more.
    let r = app.post_form(&admin, "/staff/people", &format!("/staff/tokens/{token_id}/revoke"), &[]).await;
    assert_eq!(r.status(), 404);
}
