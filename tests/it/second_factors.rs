//! Second factors (SPEC §3.10), on both backends: adding a TOTP, the two-step sign-in, codes
//! used once, recovery codes, throttling, staff enrolment, removal and its notices. Codes are
//! made by Debian's `oathtool` (an independent RFC 6238 implementation), never by Portico's own
//! code; without it these tests say so and stop.

use std::process::Command;
use std::time::Duration;

use crate::common::smtp_sink::SmtpSink;
use crate::common::{self, TestApp, client, spawn_with};
use portico::domain::StaffRole;

const PASSWORD: &str = "a long enough password";

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

/// Whether `oathtool` is here; the tests skip loudly without it (CI installs it).
fn oathtool_present() -> bool {
    let here = Command::new("oathtool").arg("--version").output().is_ok_and(|o| o.status.success());
    if !here {
        eprintln!("SKIPPED: oathtool is not installed (Debian package `oathtool`)");
    }
    here
}

/// The code `oathtool` makes for `secret` (base32) at `unix` seconds.
fn oathtool(secret: &str, unix: i64) -> String {
    let out = Command::new("oathtool")
        .args(["--totp", "-b", secret, "--now", &format!("@{unix}")])
        .output()
        .expect("oathtool");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Now, at least 5 s away from the end of a 30-second step, so a code made now is still this
/// step's when the server checks it.
async fn steady_now() -> i64 {
    loop {
        let now = portico::store::now();
        if now % 30 < 25 {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn between<'a>(page: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = page.find(start)? + start.len();
    let to = page[from..].find(end)?;
    Some(&page[from..from + to])
}

/// A member with a password, signed in; their browser.
async fn member(app: &TestApp, email: &str) -> reqwest::Client {
    let hash = app.hasher.hash(&portico::domain::NewPassword::parse(PASSWORD, &[]).unwrap()).await.unwrap();
    let org = portico::flows::orgs::OrgInput {
        slug: "club".into(),
        name: "Club".into(),
        kind: "nonprofit".into(),
        company_name: None,
        signup: Some("open".into()),
    };
    let _ = portico::flows::orgs::create(&app.store, &portico::flows::Ctx::cli(), &org).await;
    app.join("club", email, Some(&hash)).await;
    let c = client();
    assert_eq!(app.login(&c, email, PASSWORD).await.status(), 303);
    c
}

/// Adds a TOTP on the security page, confirmed with oathtool's code of the step before now
/// (so that a sign-in can use now's); the secret and the recovery codes shown.
async fn enrol(app: &TestApp, c: &reqwest::Client) -> (String, Vec<String>) {
    let r = app.post_form(c, "/account/security", "/account/security/totp", &[]).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    let uri = between(&page, "id=\"otpauth-uri\">", "<").expect("the otpauth URI as text").to_string();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    let secret = between(&page, "id=\"totp-secret\">", "<").unwrap().to_string();
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(page.contains("<svg"), "the QR code is drawn on the page");
    let now = steady_now().await;
    let r = app
        .post_form(
            c,
            "/account/security",
            "/account/security/totp/confirm",
            &[("code", &oathtool(&secret, now - 30))],
        )
        .await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    let codes: Vec<String> = page
        .split("<li><code>")
        .skip(1)
        .filter_map(|s| s.split("</code>").next())
        .map(String::from)
        .collect();
    assert_eq!(codes.len(), 10, "ten recovery codes, shown once: {page}");
    (secret, codes)
}

/// The password step in a fresh browser: it must lead to the second step, not a session.
async fn first_step(app: &TestApp, email: &str, password: &str) -> reqwest::Client {
    let c = client();
    let r = app.login(&c, email, password).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login/second-factor");
    c
}

async fn second_step(app: &TestApp, c: &reqwest::Client, code: &str) -> reqwest::Response {
    app.post_form(c, "/login/second-factor", "/login/second-factor", &[("code", code)]).await
}

async fn signed_in(app: &TestApp, c: &reqwest::Client) -> bool {
    let r = c.get(app.url("/account")).send().await.unwrap();
    r.status() == 200
}

#[tokio::test]
async fn adding_a_totp_needs_a_valid_code_and_then_sign_in_takes_two_steps() {
    if !oathtool_present() {
        return;
    }
    let (app, _sink) = setup().await;
    let c = member(&app, "ada@example.org").await;
    let r = app.post_form(&c, "/account/security", "/account/security/totp", &[]).await;
    let page = r.text().await.unwrap();
    let secret = between(&page, "id=\"totp-secret\">", "<").unwrap().to_string();
    // A wrong code does not confirm it: signing in still takes the password alone.
    let r =
        app.post_form(&c, "/account/security", "/account/security/totp/confirm", &[("code", "000000")]).await;
    assert_eq!(r.status(), 400);
    let again = client();
    assert_eq!(app.login(&again, "ada@example.org", PASSWORD).await.headers()["location"], "/");
    // The right one does.
    let now = steady_now().await;
    let r = app
        .post_form(
            &c,
            "/account/security",
            "/account/security/totp/confirm",
            &[("code", &oathtool(&secret, now))],
        )
        .await;
    assert_eq!(r.status(), 200);

    // The password alone is not a session: no signed-in page, no API by cookie.
    let pending = first_step(&app, "ada@example.org", PASSWORD).await;
    for path in ["/account", "/dashboard", "/account/security", "/staff/orgs"] {
        let r = pending.get(app.url(path)).send().await.unwrap();
        assert!(r.status() == 303 || r.status() == 403 || r.status() == 401, "{path}: {}", r.status());
        if r.status() == 303 {
            assert!(r.headers()["location"].to_str().unwrap().starts_with("/login"), "{path}");
        }
    }
    assert_eq!(pending.get(app.url("/api/v1/audit")).send().await.unwrap().status(), 401);
    // A wrong code, then the next step's code from oathtool (the current one confirmed it).
    let r = second_step(&app, &pending, "123456").await;
    assert_eq!(r.status(), 401);
    let wrong_page = r.text().await.unwrap();
    let r = second_step(&app, &pending, "not a code at all").await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.text().await.unwrap(), wrong_page, "the same answer for every wrong input");
    let r = second_step(&app, &pending, &oathtool(&secret, now + 30)).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    assert!(signed_in(&app, &pending).await);

    // The same code again, in another sign-in, within its window: refused.
    let other = first_step(&app, "ada@example.org", PASSWORD).await;
    assert_eq!(second_step(&app, &other, &oathtool(&secret, now + 30)).await.status(), 401);
    assert!(!signed_in(&app, &other).await);

    let failures: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'sign_in.second_factor_failed'")
            .fetch_one(app.store.pool())
            .await
            .unwrap();
    assert_eq!(failures, 3, "each wrong second step is audited");
}

#[tokio::test]
async fn one_step_of_drift_is_accepted_and_two_are_not() {
    if !oathtool_present() {
        return;
    }
    let (app, _sink) = setup().await;
    let c = member(&app, "bea@example.org").await;
    let (secret, _) = enrol(&app, &c).await;
    // Forget which step was used last, so that earlier steps are judged by drift alone.
    sqlx::query("UPDATE totp_factors SET last_step = 0").execute(app.store.pool()).await.unwrap();
    let now = steady_now().await;
    let b = first_step(&app, "bea@example.org", PASSWORD).await;
    assert_eq!(second_step(&app, &b, &oathtool(&secret, now - 60)).await.status(), 401, "two steps early");
    assert_eq!(second_step(&app, &b, &oathtool(&secret, now + 60)).await.status(), 401, "two steps late");
    assert_eq!(second_step(&app, &b, &oathtool(&secret, now - 30)).await.status(), 303, "one step early");
    let b = first_step(&app, "bea@example.org", PASSWORD).await;
    assert_eq!(second_step(&app, &b, &oathtool(&secret, now - 30)).await.status(), 401, "used already");
    assert_eq!(second_step(&app, &b, &oathtool(&secret, now + 30)).await.status(), 303, "one step late");
}

#[tokio::test]
async fn recovery_codes_work_once_email_a_notice_and_die_when_renewed() {
    if !oathtool_present() {
        return;
    }
    let (app, sink) = setup().await;
    let c = member(&app, "cy@example.org").await;
    let (_, codes) = enrol(&app, &c).await;
    let b = first_step(&app, "cy@example.org", PASSWORD).await;
    // Typed loosely: upper case, no dash.
    let typed = codes[0].to_uppercase().replace('-', " ");
    assert_eq!(second_step(&app, &b, &typed).await.status(), 303);
    assert!(signed_in(&app, &b).await);
    let notice = sink.take_for("cy@example.org", Duration::from_secs(10)).await.expect("a notice");
    assert!(String::from_utf8_lossy(&notice.data).contains("recovery code"), "the notice says what happened");
    let b = first_step(&app, "cy@example.org", PASSWORD).await;
    assert_eq!(second_step(&app, &b, &codes[0]).await.status(), 401, "once only");
    // New codes: the old ones stop working.
    let r = app.post_form(&c, "/account/security", "/account/security/recovery-codes", &[]).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert_eq!(page.matches("<li><code>").count(), 10);
    assert_eq!(second_step(&app, &b, &codes[1]).await.status(), 401, "voided by the new set");
    let new_code = between(&page, "<li><code>", "</code>").unwrap();
    assert_eq!(second_step(&app, &b, new_code).await.status(), 303);
}

#[tokio::test]
async fn the_second_step_is_throttled_per_account() {
    if !oathtool_present() {
        return;
    }
    let (app, _sink) = setup().await;
    let c = member(&app, "dee@example.org").await;
    let (secret, _) = enrol(&app, &c).await;
    let token = app.admin_token().await;
    let r = reqwest::Client::new()
        .put(app.url("/api/v1/settings/security.second_factor_attempts_per_account_per_15min"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"value": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let b = first_step(&app, "dee@example.org", PASSWORD).await;
    for _ in 0..3 {
        assert_eq!(second_step(&app, &b, "111111").await.status(), 401);
    }
    let r = second_step(&app, &b, "111111").await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    // Even the right code waits: guessing cannot go on from another browser either.
    let now = steady_now().await;
    let other = first_step(&app, "dee@example.org", PASSWORD).await;
    assert_eq!(second_step(&app, &other, &oathtool(&secret, now + 30)).await.status(), 429);
}

#[tokio::test]
async fn twenty_concurrent_second_steps_with_one_code_open_one_session() {
    if !oathtool_present() {
        return;
    }
    let (app, _sink) = setup().await;
    let c = member(&app, "eve@example.org").await;
    let (secret, _) = enrol(&app, &c).await;
    // Twenty sign-ins from one address, twenty tries at one account: allowed here.
    for (key, value) in [
        ("security.login_attempts_per_ip_per_15min", "1000"),
        ("security.second_factor_attempts_per_account_per_15min", "1000"),
    ] {
        portico::flows::settings::set(&app.store, &portico::flows::Ctx::cli(), key, value).await.unwrap();
    }
    let mut browsers = Vec::new();
    for _ in 0..20 {
        browsers.push(first_step(&app, "eve@example.org", PASSWORD).await);
    }
    let before: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sessions").fetch_one(app.store.pool()).await.unwrap();
    let now = steady_now().await;
    let code = oathtool(&secret, now + 30);
    // Each browser's form token first, then every submission at once.
    let mut forms = Vec::new();
    for b in &browsers {
        let (_, page) = app.get_page(b, "/login/second-factor").await;
        forms.push(common::csrf_token(&page));
    }
    let tasks = browsers.iter().zip(&forms).map(|(b, token)| {
        let form = [("csrf_token", token.as_str()), ("code", code.as_str())];
        let request = b.post(app.url("/login/second-factor")).form(&form);
        async move { request.send().await.unwrap().status().as_u16() }
    });
    let statuses = futures_util::future::join_all(tasks).await;
    assert_eq!(statuses.iter().filter(|s| **s == 303).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 303 || *s == 401), "{statuses:?}");
    let after: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sessions").fetch_one(app.store.pool()).await.unwrap();
    assert_eq!(after - before, 1, "one code, one session");
}

#[tokio::test]
async fn staff_without_a_factor_reach_nothing_but_enrolment_while_it_is_required() {
    if !oathtool_present() {
        return;
    }
    let (app, _sink) = setup().await;
    portico::flows::settings::set(
        &app.store,
        &portico::flows::Ctx::cli(),
        "security.staff_second_factor_required",
        "1",
    )
    .await
    .unwrap();
    let password = app.create_staff("ops@example.org", StaffRole::Admin).await;
    let c = client();
    assert_eq!(app.login(&c, "ops@example.org", &password).await.status(), 303);
    for path in ["/staff/orgs", "/account", "/dashboard", "/staff/settings"] {
        let r = c.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 303, "{path}");
        assert_eq!(r.headers()["location"], "/account/security", "{path}");
    }
    // A form elsewhere is not carried out either.
    let (_, page) = app.get_page(&c, "/account/security").await;
    let token = common::csrf_token(&page);
    let r = c
        .post(app.url("/account/locale"))
        .form(&[("csrf_token", token.as_str()), ("locale", "ro")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/account/security");
    let locale: Option<String> =
        sqlx::query_scalar("SELECT locale FROM users WHERE email = 'ops@example.org'")
            .fetch_one(app.store.pool())
            .await
            .unwrap();
    assert_eq!(locale, None);
    assert!(page.contains("Your account needs a second factor"));
    assert!(!page.contains("href=\"/staff/orgs\""), "the staff links wait until a factor is added");
    // Once added, everything opens; the next sign-in asks for it.
    let (secret, _) = enrol(&app, &c).await;
    assert_eq!(c.get(app.url("/staff/orgs")).send().await.unwrap().status(), 200);
    let b = first_step(&app, "ops@example.org", &password).await;
    let now = steady_now().await;
    let r = second_step(&app, &b, &oathtool(&secret, now + 30)).await;
    assert_eq!(r.headers()["location"], "/staff/orgs");
    // API tokens are not affected (bearer).
    let token = app.api_token("ops@example.org").await;
    let r = reqwest::Client::new().get(app.url("/api/v1/audit")).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn removing_a_factor_needs_the_password_or_a_code_and_emails_the_person() {
    if !oathtool_present() {
        return;
    }
    let (app, sink) = setup().await;
    let c = member(&app, "fay@example.org").await;
    let (_, codes) = enrol(&app, &c).await;
    let remove = |proof: String| {
        let (app, c) = (&app, &c);
        async move {
            app.post_form(
                c,
                "/account/security",
                "/account/security/remove",
                &[("factor", "totp"), ("proof", &proof)],
            )
            .await
        }
    };
    assert_eq!(remove("not my password".into()).await.status(), 400);
    let still: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM totp_factors").fetch_one(app.store.pool()).await.unwrap();
    assert_eq!(still, 1, "a wrong proof removes nothing");
    assert_eq!(remove(codes[3].clone()).await.status(), 303, "a recovery code proves it");
    let notice = sink.take_for("fay@example.org", Duration::from_secs(10)).await.expect("a notice");
    let text = String::from_utf8_lossy(&notice.data).to_string();
    assert!(text.contains("authenticator app"), "it names the factor");
    // Without a factor, the password alone signs in again; audit rows for each change.
    let again = client();
    assert_eq!(app.login(&again, "fay@example.org", PASSWORD).await.headers()["location"], "/");
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_events WHERE action LIKE 'second_factor.%' ORDER BY id")
            .fetch_all(app.store.pool())
            .await
            .unwrap();
    assert_eq!(actions, ["second_factor.totp_added", "second_factor.removed"]);
}

#[tokio::test]
async fn an_admin_resets_someones_factors_with_a_reason_and_the_cli_resets_the_last_admins() {
    if !oathtool_present() {
        return;
    }
    let (app, sink) = setup().await;
    let c = member(&app, "gus@example.org").await;
    enrol(&app, &c).await;
    let id: i64 = sqlx::query_scalar(
        "SELECT m.id FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.email = 'gus@example.org'",
    )
    .fetch_one(app.store.pool())
    .await
    .unwrap();
    let page = format!("/staff/orgs/club/members/{id}");
    let action = format!("{page}/reset-factors");
    // Support staff may not; an admin must give a reason.
    let support = app.create_staff("desk@example.org", StaffRole::Support).await;
    let s = client();
    app.login(&s, "desk@example.org", &support).await;
    assert_eq!(app.post_form(&s, &page, &action, &[("reason", "lost phone")]).await.status(), 403);
    let admin = app.create_staff("admin@example.org", StaffRole::Admin).await;
    let a = client();
    app.login(&a, "admin@example.org", &admin).await;
    assert_eq!(app.post_form(&a, &page, &action, &[("reason", " ")]).await.status(), 400);
    let left: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM totp_factors").fetch_one(app.store.pool()).await.unwrap();
    assert_eq!(left, 1, "refused, nothing removed");
    assert_eq!(app.post_form(&a, &page, &action, &[("reason", "lost phone")]).await.status(), 303);
    let left: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM totp_factors").fetch_one(app.store.pool()).await.unwrap();
    let codes: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM recovery_codes").fetch_one(app.store.pool()).await.unwrap();
    assert_eq!((left, codes), (0, 0));
    let notice = sink.take_for("gus@example.org", Duration::from_secs(10)).await.expect("a notice");
    assert!(String::from_utf8_lossy(&notice.data).contains("by an administrator"));
    let details: String =
        sqlx::query_scalar("SELECT details FROM audit_events WHERE action = 'second_factor.reset'")
            .fetch_one(app.store.pool())
            .await
            .unwrap();
    assert!(details.contains("lost phone"), "{details}");
    assert_eq!(app.login(&client(), "gus@example.org", PASSWORD).await.headers()["location"], "/");

    // The last admin, locked out: the command line removes their factors.
    enrol(&app, &a).await;
    first_step(&app, "admin@example.org", &admin).await;
    let out = Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(["staff", "reset-factors", "--email", "admin@example.org"])
        .env_clear()
        .env("PORTICO_DATABASE_URL", &app.database_url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("admin@example.org"));
    assert_eq!(app.login(&client(), "admin@example.org", &admin).await.headers()["location"], "/staff/orgs");
    let out = Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(["staff", "reset-factors", "--email", "nobody@example.org"])
        .env_clear()
        .env("PORTICO_DATABASE_URL", &app.database_url)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// Makes every session look signed in `secs` ago (what ten minutes of waiting would do).
async fn age_sessions(app: &TestApp, secs: i64) {
    sqlx::query("UPDATE sessions SET verified_at = created_at - $1")
        .bind(secs)
        .execute(app.store.pool())
        .await
        .unwrap();
}

/// The hidden fields of the form that posts to `action` on a page.
fn hidden_fields(page: &str, action: &str) -> Vec<(String, String)> {
    let form = page.split(&format!("action=\"{action}\"")).nth(1).unwrap().split("</form>").next().unwrap();
    form.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|s| {
            let name = s.split('"').next().unwrap().to_string();
            let value = s.split("value=\"").nth(1).unwrap().split('"').next().unwrap().replace("&#x2F;", "/");
            (name, value)
        })
        .collect()
}

#[tokio::test]
async fn sensitive_actions_want_a_recent_sign_in_and_keep_their_input_through_the_check() {
    if !oathtool_present() {
        return;
    }
    let (app, _sink) = setup().await;
    let password = app.create_staff("ops@example.org", StaffRole::Admin).await;
    let c = client();
    app.login(&c, "ops@example.org", &password).await;
    age_sessions(&app, 3600).await;
    let setting = "security.invite_limit_per_recipient_per_hour";
    let value = || async {
        let v: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(setting)
            .fetch_optional(app.store.pool())
            .await
            .unwrap();
        v
    };

    // A setting: the check page instead, nothing changed, the value carried.
    let action = format!("/staff/settings/{setting}");
    let r = app.post_form(&c, "/staff/settings", &action, &[("value", "7")]).await;
    assert_eq!(r.status(), 403);
    let page = r.text().await.unwrap();
    assert!(page.contains("Confirm it is you"));
    assert_eq!(value().await, None);
    let mut fields = hidden_fields(&page, "/reauth");
    assert!(fields.contains(&("field_value".into(), "7".into())), "{fields:?}");
    // A wrong password: the page again.
    let with = |proof: &str, fields: &Vec<(String, String)>| {
        let mut f = fields.clone();
        f.push(("proof".into(), proof.into()));
        f
    };
    let r = c.post(app.url("/reauth")).form(&with("wrong password", &fields)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // The right one: a page that sends the kept form on.
    fields = hidden_fields(&r.text().await.unwrap(), "/reauth");
    let r = c.post(app.url("/reauth")).form(&with(&password, &fields)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    let resend = hidden_fields(&page, &action);
    assert!(resend.contains(&("value".into(), "7".into())), "{resend:?}");
    let r = c.post(app.url(&action)).form(&resend).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(value().await.as_deref(), Some("7"));

    // With a second factor, a code is asked for, and the password is not enough.
    let (secret, _) = enrol(&app, &c).await;
    age_sessions(&app, 3600).await;
    let r = c.get(app.url("/staff/audit.csv?action=staff.signed_in")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let fields = hidden_fields(&r.text().await.unwrap(), "/reauth");
    assert!(
        fields.contains(&("reauth_action".into(), "/staff/audit.csv?action=staff.signed_in".into())),
        "{fields:?}"
    );
    let r = c.post(app.url("/reauth")).form(&with(&password, &fields)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let now = steady_now().await;
    let r =
        c.post(app.url("/reauth")).form(&with(&oathtool(&secret, now + 30), &fields)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/staff/audit.csv?action=staff.signed_in");
    assert_eq!(c.get(app.url("/staff/audit.csv")).send().await.unwrap().status(), 200, "recent now");

    // Creating a staff account and exporting members are checked the same way.
    age_sessions(&app, 3600).await;
    let r = app
        .post_form(&c, "/staff/people", "/staff/people", &[("email", "new@example.org"), ("role", "support")])
        .await;
    assert_eq!(r.status(), 403);
    let made: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE email = 'new@example.org'")
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert_eq!(made, 0);
    portico::flows::orgs::create(
        &app.store,
        &portico::flows::Ctx::cli(),
        &portico::flows::orgs::OrgInput {
            slug: "club".into(),
            name: "Club".into(),
            kind: "nonprofit".into(),
            company_name: None,
            signup: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(c.get(app.url("/staff/orgs/club/members.csv")).send().await.unwrap().status(), 403);
    // Reading is not sensitive.
    assert_eq!(c.get(app.url("/staff/settings")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn an_organisation_requires_a_factor_of_its_admins_or_of_everyone() {
    if !oathtool_present() {
        return;
    }
    let (app, _sink) = setup().await;
    let member_browser = member(&app, "hal@example.org").await;
    let admin_browser = member(&app, "ida@example.org").await;
    sqlx::query(
        "UPDATE memberships SET role = 'admin' WHERE user_id = (SELECT id FROM users WHERE email = 'ida@example.org')",
    )
    .execute(app.store.pool())
    .await
    .unwrap();
    let token = app.admin_token().await;
    let patch = |rule: &'static str| {
        let (app, token) = (&app, &token);
        async move {
            let r = reqwest::Client::new()
                .patch(app.url("/api/v1/orgs/club"))
                .bearer_auth(token)
                .json(&serde_json::json!({ "second_factor": rule }))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap())
        }
    };
    assert_eq!(patch("sometimes").await.0, 400);
    let (status, org) = patch("admins").await;
    assert_eq!((status, org["second_factor"].as_str()), (200, Some("admins")));
    let goes_to = |c: &reqwest::Client| {
        let request = c.get(app.url("/dashboard"));
        async move {
            let r = request.send().await.unwrap();
            r.headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_string())
                .unwrap_or(r.status().to_string())
        }
    };
    assert_eq!(goes_to(&admin_browser).await, "/account/security", "an admin without a factor");
    assert_eq!(goes_to(&member_browser).await, "200 OK", "a member is free");
    patch("everyone").await;
    assert_eq!(goes_to(&member_browser).await, "/account/security");
    // Adding one opens everything again.
    enrol(&app, &member_browser).await;
    assert_eq!(goes_to(&member_browser).await, "200 OK");
    patch("none").await;
    assert_eq!(goes_to(&admin_browser).await, "200 OK");
}

#[tokio::test]
async fn an_openid_connect_sign_in_says_a_second_factor_was_used() {
    use base64::Engine as _;
    use sha2::Digest as _;
    if !oathtool_present() {
        return;
    }
    let (app, _sink) = setup().await;
    let c = member(&app, "jo@example.org").await;
    let (secret, _) = enrol(&app, &c).await;
    sqlx::query("UPDATE memberships SET status = 'active'").execute(app.store.pool()).await.unwrap();
    let token = app.admin_token().await;
    let redirect = "https://wiki.example.org/cb";
    let created: serde_json::Value = reqwest::Client::new()
        .post(app.url("/api/v1/orgs/club/oidc/clients"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Wiki", "redirect_uris": [redirect], "first_party": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (id, client_secret) =
        (created["client_id"].as_str().unwrap(), created["client_secret"].as_str().unwrap());
    let app = &app;
    let amr_after = |browser: reqwest::Client| async move {
        let verifier = "a-verifier-of-enough-length-0123456789-abcdefghij";
        let challenge =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier));
        let mut url = url::Url::parse(&app.url("/o/club/oidc/authorize")).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", id)
            .append_pair("redirect_uri", redirect)
            .append_pair("scope", "openid")
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        let r = browser.get(url.as_str()).send().await.unwrap();
        let location = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
        let code = location.query_pairs().find(|(k, _)| k == "code").unwrap().1.to_string();
        let tokens: serde_json::Value = reqwest::Client::new()
            .post(app.url("/o/club/oidc/token"))
            .basic_auth(id, Some(client_secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let payload = tokens["id_token"].as_str().unwrap().split('.').nth(1).unwrap().to_string();
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap(),
        )
        .unwrap();
        claims["amr"].clone()
    };
    // The session of the enrolment was signed in with the password alone.
    assert_eq!(amr_after(c).await, serde_json::json!(["pwd"]));
    let b = first_step(app, "jo@example.org", PASSWORD).await;
    let now = steady_now().await;
    assert_eq!(second_step(app, &b, &oathtool(&secret, now + 30)).await.status(), 303);
    assert_eq!(amr_after(b).await, serde_json::json!(["pwd", "otp", "mfa"]));
}

/// The passkey ceremonies run in Chromium (`e2e/passkeys.test.mjs`); here, that a stored passkey
/// counts as a second factor wherever one is asked about.
#[tokio::test]
async fn a_passkey_is_a_second_factor() {
    let (app, _sink) = setup().await;
    let _c = member(&app, "zz@example.org").await;
    sqlx::query(
        "INSERT INTO passkeys (user_id, cred_id, name, credential, created_at)
         SELECT id, 'cred', 'laptop', '{}', 1 FROM users WHERE email = 'zz@example.org'",
    )
    .execute(app.store.pool())
    .await
    .unwrap();
    let c = client();
    let r = app.login(&c, "zz@example.org", PASSWORD).await;
    assert_eq!(r.headers()["location"], "/login/second-factor");
    let (_, page) = app.get_page(&c, "/login/second-factor").await;
    assert!(page.contains("data-passkey=\"second-step\""), "the second step offers the passkey");
}

#[tokio::test]
async fn the_passkey_requests_answer_bad_input_with_a_4xx_and_use_a_ceremony_once() {
    // Passkeys want a domain name; on an IP address they are refused with a reason.
    let (by_ip, _sink) = setup().await;
    let c = member(&by_ip, "lou@example.org").await;
    let (_, page) = by_ip.get_page(&c, "/account").await;
    let form = [("csrf_token", common::csrf_token(&page))];
    let r = c.post(by_ip.url("/account/security/passkeys/start")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 409);
    let text = r.text().await.unwrap();
    assert!(text.contains("domain name"), "{text}");
    let app =
        spawn_with(|c| c.base_url = format!("http://localhost:{}/", c.bind.port()).parse().unwrap()).await;
    let c = member(&app, "kim@example.org").await;
    let post = |c: &reqwest::Client, path: &'static str, fields: Vec<(&'static str, String)>| {
        let (app, c) = (&app, c.clone());
        async move {
            let (_, page) = app.get_page(&c, "/login").await;
            let page = if page.contains("csrf_token") { page } else { app.get_page(&c, "/account").await.1 };
            let mut form = vec![("csrf_token", common::csrf_token(&page))];
            form.extend(fields);
            let r = c.post(app.url(path)).form(&form).send().await.unwrap();
            (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap_or_default())
        }
    };
    // Adding one: a ceremony is stored; a garbage answer is refused and uses it up.
    let (status, started) = post(&c, "/account/security/passkeys/start", vec![]).await;
    assert_eq!(status, 200);
    assert!(started["options"]["publicKey"]["challenge"].is_string(), "{started}");
    assert_eq!(started["options"]["publicKey"]["authenticatorSelection"]["residentKey"], "preferred");
    let ceremony = started["ceremony"].as_str().unwrap().to_string();
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM webauthn_challenges")
            .fetch_one(app.store.pool())
            .await
            .unwrap()
    };
    assert_eq!(count().await, 1);
    let garbage =
        vec![("ceremony", ceremony.clone()), ("name", "laptop".into()), ("credential", "{\"id\": 1}".into())];
    let (status, answer) = post(&c, "/account/security/passkeys/finish", garbage).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].is_string());
    assert_eq!(count().await, 0, "an answer, even garbage, uses the ceremony up");
    let unnamed = vec![("ceremony", ceremony.clone()), ("name", " ".into()), ("credential", "{}".into())];
    assert_eq!(post(&c, "/account/security/passkeys/finish", unnamed).await.0, 400);
    // Signing in with a passkey alone: an unknown or garbage answer opens nothing.
    let stranger = client();
    let (status, started) = post(&stranger, "/login/passkey/start", vec![]).await;
    assert_eq!(status, 200);
    assert!(
        started["options"]["publicKey"]
            .get("allowCredentials")
            .is_none_or(|a| a.as_array().unwrap().is_empty())
    );
    let ceremony = started["ceremony"].as_str().unwrap().to_string();
    for credential in
        ["", "null", "{\"id\":\"AAAA\",\"rawId\":\"AAAA\",\"type\":\"public-key\",\"response\":{}}"]
    {
        let (status, _) = post(
            &stranger,
            "/login/passkey/finish",
            vec![("ceremony", ceremony.clone()), ("credential", credential.into())],
        )
        .await;
        assert_eq!(status, 401, "{credential}");
    }
    assert!(!signed_in(&app, &stranger).await);
    assert_eq!(count().await, 0);
    // The second step with a passkey needs a pending sign-in.
    assert_eq!(post(&stranger, "/login/second-factor/passkey/start", vec![]).await.0, 404);
    // Signed out, adding one is refused.
    assert_eq!(post(&stranger, "/account/security/passkeys/start", vec![]).await.0, 403);
}
