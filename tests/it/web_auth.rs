//! Staff sign-in on the web: sessions, CSRF, throttling, and what the audit trail records.

use crate::common;

use common::{client, csrf_token, set_cookie, spawn, spawn_with};
use portico::domain::StaffRole;
use portico::flows::{self, Ctx};

#[tokio::test]
async fn staff_signs_in_and_reaches_the_console() {
    let app = spawn().await;
    let password = app.create_staff("ada@portico.test", StaffRole::Admin).await;
    let c = client();
    let r = app.login(&c, "  Ada@Portico.TEST ", &password).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/staff/orgs");
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("portico_session="))
        .unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http base URL must not set Secure: {cookie}");

    let (status, page) = app.get_page(&c, "/staff/orgs").await;
    assert_eq!(status, 200);
    assert!(page.contains("ada@portico.test"));

    let events = app.audit("staff.signed_in").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].target.as_deref(), Some("ada@portico.test"));
    assert_eq!(events[0].client_ip.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn under_https_cookies_are_secure_and_host_prefixed() {
    let app = spawn_with(|c| c.base_url = "https://members.example.org/".parse().unwrap()).await;
    let password = app.create_staff("ada@portico.test", StaffRole::Admin).await;
    // A browser would only send these cookies back over https; the test carries them by hand.
    let plain = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = plain.get(app.url("/login")).send().await.unwrap();
    let set: Vec<String> =
        page.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
    let csrf_cookie = set.iter().find(|v| v.starts_with("__Host-portico_csrf=")).expect("prefixed").clone();
    assert!(csrf_cookie.contains("; Secure") && csrf_cookie.contains("Path=/"), "{csrf_cookie}");
    assert!(!csrf_cookie.to_lowercase().contains("domain="), "__Host- cookies have no Domain");
    let pre_session = csrf_cookie.split(';').next().unwrap().to_string();
    let token = csrf_token(&page.text().await.unwrap());
    let r = plain
        .post(app.url("/login"))
        .header("cookie", &pre_session)
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", "ada@portico.test"),
            ("password", password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let cookies: Vec<String> =
        r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
    let session = cookies.iter().find(|v| v.starts_with("__Host-portico_session=")).expect("session");
    assert!(session.contains("; Secure") && session.contains("HttpOnly"), "{session}");
    assert!(cookies.iter().all(|c| !c.starts_with("portico_")), "no unprefixed cookie: {cookies:?}");
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_answer() {
    let app = spawn().await;
    app.create_staff("ada@portico.test", StaffRole::Admin).await;
    let c = client();
    let wrong = app.login(&c, "ada@portico.test", "not-the-password").await;
    let wrong_status = wrong.status();
    let wrong_body = wrong.text().await.unwrap();
    let unknown = app.login(&c, "nobody@portico.test", "not-the-password").await;
    let unknown_status = unknown.status();
    let unknown_body = unknown.text().await.unwrap();
    assert_eq!(wrong_status, 401);
    assert_eq!(wrong_status, unknown_status);
    // Identical apart from the echoed email and the CSRF token.
    let normalise =
        |body: &str, email: &str| body.replace(email, "EMAIL").replace(&csrf_token(body), "TOKEN");
    assert_eq!(normalise(&wrong_body, "ada@portico.test"), normalise(&unknown_body, "nobody@portico.test"));
    assert!(wrong_body.contains("Wrong email or password."));

    let failures = app.audit("sign_in.failed").await;
    assert_eq!(failures.len(), 2);
    assert!(app.audit("staff.signed_in").await.is_empty());
}

#[tokio::test]
async fn login_post_without_or_with_a_wrong_csrf_token_is_refused() {
    let app = spawn().await;
    let password = app.create_staff("ada@portico.test", StaffRole::Admin).await;
    let c = client();
    let _ = app.get_page(&c, "/login").await; // gets the CSRF cookie
    let missing = c
        .post(app.url("/login"))
        .form(&[("email", "ada@portico.test"), ("password", password.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 403);
    let wrong = c
        .post(app.url("/login"))
        .form(&[("csrf_token", "AAAA"), ("email", "ada@portico.test"), ("password", password.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    assert!(set_cookie(&wrong, "portico_session").is_none());
    // A token from another browser (another CSRF cookie) does not work either.
    let other = client();
    let (_, other_page) = app.get_page(&other, "/login").await;
    let stolen = c
        .post(app.url("/login"))
        .form(&[
            ("csrf_token", csrf_token(&other_page).as_str()),
            ("email", "ada@portico.test"),
            ("password", password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(stolen.status(), 403);
    assert!(app.audit("staff.signed_in").await.is_empty(), "no sign-in happened");
    assert!(app.audit("sign_in.failed").await.is_empty(), "refused before the handler ran");
}

#[tokio::test]
async fn staff_form_post_without_csrf_changes_nothing() {
    let app = spawn().await;
    let password = app.create_staff("ada@portico.test", StaffRole::Admin).await;
    let c = client();
    assert_eq!(app.login(&c, "ada@portico.test", &password).await.status(), 303);
    for token in [None, Some("forged-token")] {
        let mut form = vec![("slug", "evil"), ("name", "Evil"), ("kind", "individual")];
        if let Some(t) = token {
            form.push(("csrf_token", t));
        }
        let r = c.post(app.url("/staff/orgs")).form(&form).send().await.unwrap();
        assert_eq!(r.status(), 403);
        assert!(r.text().await.unwrap().contains("This form has expired"));
    }
    // A non-form body is refused the same way.
    let r = c.post(app.url("/staff/orgs")).json(&serde_json::json!({"slug": "evil"})).send().await.unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(app.count("SELECT COUNT(*) FROM organisations").await, 0);
    assert!(app.audit("org.created").await.is_empty());
}

#[tokio::test]
async fn session_id_is_rotated_at_sign_in() {
    let app = spawn().await;
    let password = app.create_staff("ada@portico.test", StaffRole::Admin).await;
    let c = client();
    let first = app.login(&c, "ada@portico.test", &password).await;
    let first_session = set_cookie(&first, "portico_session").expect("session cookie");
    let first_csrf = set_cookie(&first, "portico_csrf").expect("csrf rotated");

    // Signing in again while carrying the first session replaces it.
    let second = app
        .post_form(&c, "/staff/orgs", "/login", &[("email", "ada@portico.test"), ("password", &password)])
        .await;
    let second_session = set_cookie(&second, "portico_session").expect("session cookie");
    assert_ne!(first_session, second_session);
    assert_ne!(first_csrf, set_cookie(&second, "portico_csrf").unwrap());

    // The first session id no longer authenticates anyone.
    let replay = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = replay
        .get(app.url("/staff/orgs"))
        .header("cookie", format!("portico_session={first_session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "old session must be dead");
    assert_eq!(r.headers()["location"], "/login");
    let r = replay
        .get(app.url("/staff/orgs"))
        .header("cookie", format!("portico_session={second_session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 1);
}

#[tokio::test]
async fn a_session_id_chosen_by_an_attacker_is_never_adopted() {
    let app = spawn().await;
    let password = app.create_staff("ada@portico.test", StaffRole::Admin).await;
    // A client without a cookie jar, so the test controls exactly which cookies are sent.
    let c = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = c.get(app.url("/login")).send().await.unwrap();
    let csrf_cookie = set_cookie(&page, "portico_csrf").expect("csrf cookie");
    let token = csrf_token(&page.text().await.unwrap());
    let fixed = "attacker-chosen-session-id";
    let r = c
        .post(app.url("/login"))
        .header("cookie", format!("portico_csrf={csrf_cookie}; portico_session={fixed}"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", "ada@portico.test"),
            ("password", password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_ne!(set_cookie(&r, "portico_session").unwrap(), fixed);
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = spawn().await;
    let password = app.create_staff("ada@portico.test", StaffRole::Admin).await;
    let c = client();
    let r = app.login(&c, "ada@portico.test", &password).await;
    let session = set_cookie(&r, "portico_session").unwrap();
    // GET /logout is not a thing: signing out changes state, so it is a POST with CSRF.
    assert_eq!(c.get(app.url("/logout")).send().await.unwrap().status(), 405);
    let r = app.post_form(&c, "/staff/orgs", "/logout", &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login");
    let (status, page) = app.get_page(&c, "/login").await;
    assert_eq!(status, 200);
    assert!(page.contains("You have been signed out."), "flash renders on the next page");
    let (_, page) = app.get_page(&c, "/login").await;
    assert!(!page.contains("You have been signed out."), "flash shows once");
    let replay = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = replay
        .get(app.url("/staff/orgs"))
        .header("cookie", format!("portico_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 0);
    assert_eq!(app.audit("signed_out").await.len(), 1);
}

#[tokio::test]
async fn login_is_throttled_per_client_ip_the_same_way_for_every_account() {
    let app = spawn().await;
    flows::settings::set(&app.store, &Ctx::cli(), "security.login_attempts_per_ip_per_15min", "3")
        .await
        .unwrap();
    let password = app.create_staff("ada@portico.test", StaffRole::Admin).await;
    let c = client();
    common::clear_of_window_edge(15 * 60, 20).await;
    for _ in 0..3 {
        assert_eq!(app.login(&c, "ada@portico.test", "wrong-password").await.status(), 401);
    }
    // Over the limit even the right password is refused, and an unknown email the same way.
    let blocked = app.login(&c, "ada@portico.test", &password).await;
    assert_eq!(blocked.status(), 429);
    let retry: i64 = blocked.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    assert!(set_cookie(&blocked, "portico_session").is_none());
    let unknown = app.login(&c, "nobody@portico.test", "whatever").await;
    assert_eq!(unknown.status(), 429);
    assert!(app.audit("staff.signed_in").await.is_empty());
    assert_eq!(app.audit("sign_in.failed").await.len(), 3, "throttled attempts do no work");
}

#[tokio::test]
async fn client_ip_comes_from_x_forwarded_for_only_behind_a_trusted_proxy() {
    for (trusted, expected) in [(true, "203.0.113.7"), (false, "127.0.0.1")] {
        let app = spawn_with(|c| {
            if trusted {
                c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
            }
        })
        .await;
        let c = client();
        let (_, page) = app.get_page(&c, "/login").await;
        let token = csrf_token(&page);
        c.post(app.url("/login"))
            .header("x-forwarded-for", "198.51.100.1, 203.0.113.7")
            .form(&[
                ("csrf_token", token.as_str()),
                ("email", "x@portico.test"),
                ("password", "nope-nope-nope"),
            ])
            .send()
            .await
            .unwrap();
        let events = app.audit("sign_in.failed").await;
        assert_eq!(events[0].client_ip.as_deref(), Some(expected), "trusted={trusted}");
    }
}

#[tokio::test]
async fn pages_follow_the_users_language() {
    let app = spawn().await;
    let c = client();
    let ro =
        c.get(app.url("/login")).header("accept-language", "ro-RO,ro;q=0.9,en;q=0.5").send().await.unwrap();
    let body = ro.text().await.unwrap();
    assert!(body.contains("<html lang=\"ro\">"));
    assert!(body.contains("Autentificare"));
    let en = c
        .get(app.url("/login"))
        .header("accept-language", "de-DE")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(en.contains("<html lang=\"en\">"));
    assert!(en.contains("Sign in"));
}

#[tokio::test]
async fn anonymous_and_non_staff_users_cannot_use_the_console() {
    let app = spawn().await;
    let c = client();
    let r = c.get(app.url("/staff/orgs")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login");
    let r = app
        .post_form(&c, "/login", "/staff/orgs", &[("slug", "x1"), ("name", "X"), ("kind", "individual")])
        .await;
    assert_eq!(r.status(), 303, "anonymous POST is sent to sign in");
    assert_eq!(app.count("SELECT COUNT(*) FROM organisations").await, 0);
    let (status, _) = app.get_page(&c, "/no/such/page").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn oversized_or_malformed_forms_get_a_4xx_and_change_nothing() {
    let app = spawn().await;
    let password = app.create_staff("ada@portico.test", StaffRole::Admin).await;
    let c = client();
    app.login(&c, "ada@portico.test", &password).await;
    let (_, page) = app.get_page(&c, "/staff/orgs").await;
    let token = csrf_token(&page);
    let huge = "x".repeat(200_000);
    let r = c
        .post(app.url("/staff/orgs"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("slug", "big"),
            ("name", huge.as_str()),
            ("kind", "individual"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // Invalid UTF-8 in a form value.
    let mut body = format!("csrf_token={token}&slug=ok-slug&kind=individual&name=").into_bytes();
    body.extend_from_slice(&[0xff, 0xfe]);
    let r = c
        .post(app.url("/staff/orgs"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    assert_eq!(app.count("SELECT COUNT(*) FROM organisations").await, 0);
}
