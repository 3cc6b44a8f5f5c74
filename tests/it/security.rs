//! The outside review's findings, each as a test that fails without its fix: CSRF bound to the
//! session, origin checks, cookies at sign-out, security headers, malformed URLs, Unicode
//! folding of identifiers.

use crate::common;

use common::{TestApp, client, csrf_token, spawn};
use portico::domain::StaffRole;
use reqwest::header::HeaderMap;

async fn signed_in_admin(app: &TestApp) -> reqwest::Client {
    let password = app.create_staff("ada@portico.test", StaffRole::Admin).await;
    let c = client();
    assert_eq!(app.login(&c, "ada@portico.test", &password).await.status(), 303);
    c
}

fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect()
}

/// The `name=value` of a cookie set in a response.
fn cookie_pair(headers: &HeaderMap, name: &str) -> Option<String> {
    set_cookies(headers)
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap_or("").to_string())
}

/// A console form (create an organisation) posted by hand with the given cookies and token.
async fn create_org_form(app: &TestApp, cookie: &str, token: &str, extra: &[(&str, &str)]) -> u16 {
    let mut request = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url("/staff/orgs"))
        .header("cookie", cookie)
        .form(&[("csrf_token", token), ("slug", "planted"), ("name", "Planted"), ("kind", "nonprofit")]);
    for (k, v) in extra {
        request = request.header(*k, *v);
    }
    request.send().await.unwrap().status().as_u16()
}

/// Signs in without a cookie store, so the test sees the cookies: returns the `Cookie` header
/// value of the signed-in browser and a form token from a console page.
async fn sign_in_by_hand(app: &TestApp, email: &str, password: &str) -> (String, String) {
    let plain = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = plain.get(app.url("/login")).send().await.unwrap();
    let pre_session = cookie_pair(page.headers(), "portico_csrf").unwrap();
    let token = csrf_token(&page.text().await.unwrap());
    let r = plain
        .post(app.url("/login"))
        .header("cookie", &pre_session)
        .form(&[("csrf_token", token.as_str()), ("email", email), ("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let cookie = format!(
        "{}; {}",
        cookie_pair(r.headers(), "portico_session").unwrap(),
        cookie_pair(r.headers(), "portico_csrf").unwrap()
    );
    let page = plain.get(app.url("/staff/orgs")).header("cookie", &cookie).send().await.unwrap();
    (cookie, csrf_token(&page.text().await.unwrap()))
}

#[tokio::test]
async fn a_planted_pre_session_cookie_and_its_token_do_not_work_with_a_victims_session() {
    let app = spawn().await;
    // The attacker's own anonymous visit: a pre-session cookie and the form token made for it.
    let attacker = reqwest::Client::new();
    let page = attacker.get(app.url("/login")).send().await.unwrap();
    let planted = cookie_pair(page.headers(), "portico_csrf").expect("pre-session cookie");
    let planted_token = csrf_token(&page.text().await.unwrap());

    // The victim, signed in; the attacker managed to plant the cookie in the victim's browser.
    let password = app.create_staff("ada@portico.test", StaffRole::Admin).await;
    let (victim_cookie, victim_token) = sign_in_by_hand(&app, "ada@portico.test", &password).await;
    let session = victim_cookie.split("; ").next().unwrap();
    let cookie = format!("{session}; {planted}");
    assert_eq!(create_org_form(&app, &cookie, &planted_token, &[]).await, 403, "the planted pair is refused");
    assert_eq!(app.count("SELECT COUNT(*) FROM organisations").await, 0);
    // The victim's own token works with the session, whatever pre-session cookie is around.
    assert_eq!(create_org_form(&app, &cookie, &victim_token, &[]).await, 303);
    assert_eq!(app.count("SELECT COUNT(*) FROM organisations").await, 1);
}

#[tokio::test]
async fn a_token_from_before_sign_in_stops_working_after_it() {
    let app = spawn().await;
    let password = app.create_staff("ada@portico.test", StaffRole::Admin).await;
    let c = client();
    let (_, page) = app.get_page(&c, "/login").await;
    let anonymous_token = csrf_token(&page);
    assert_eq!(app.login(&c, "ada@portico.test", &password).await.status(), 303);
    let r = c
        .post(app.url("/staff/orgs"))
        .form(&[
            ("csrf_token", anonymous_token.as_str()),
            ("slug", "late"),
            ("name", "Late"),
            ("kind", "nonprofit"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(app.count("SELECT COUNT(*) FROM organisations").await, 0);
}

#[tokio::test]
async fn cross_site_submissions_are_refused_even_with_a_valid_token() {
    let app = spawn().await;
    let c = signed_in_admin(&app).await;
    let (_, page) = app.get_page(&c, "/staff/orgs").await;
    let token = csrf_token(&page);
    let post = |headers: Vec<(&'static str, String)>, slug: &'static str| {
        let mut request = c.post(app.url("/staff/orgs")).form(&[
            ("csrf_token", token.as_str()),
            ("slug", slug),
            ("name", "X"),
            ("kind", "nonprofit"),
        ]);
        for (k, v) in headers {
            request = request.header(k, v);
        }
        async move { request.send().await.unwrap() }
    };
    let evil = post(
        vec![("origin", "https://evil.example".into()), ("sec-fetch-site", "cross-site".into())],
        "evil1",
    )
    .await;
    assert_eq!(evil.status(), 403);
    assert!(evil.text().await.unwrap().contains("sent from another site"));
    assert_eq!(post(vec![("sec-fetch-site", "cross-site".into())], "evil2").await.status(), 403, "no Origin");
    assert_eq!(post(vec![("origin", "null".into())], "evil3").await.status(), 403, "an opaque origin");
    assert_eq!(app.count("SELECT COUNT(*) FROM organisations").await, 0);

    let ours = app.base.clone();
    let same = post(vec![("origin", ours), ("sec-fetch-site", "same-origin".into())], "fine").await;
    assert_eq!(same.status(), 303, "the base URL's own origin");
    assert_eq!(post(vec![], "fine2").await.status(), 303, "clients that send neither header");
    assert_eq!(app.count("SELECT COUNT(*) FROM organisations").await, 2);
}

#[tokio::test]
async fn sign_out_clears_the_session_replaces_the_pre_session_cookie_and_sets_the_flash() {
    let app = spawn().await;
    let c = signed_in_admin(&app).await;
    let (_, page) = app.get_page(&c, "/staff/orgs").await;
    let r = c.post(app.url("/logout")).form(&[("csrf_token", csrf_token(&page))]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let cookies = set_cookies(r.headers());
    assert!(
        cookies.iter().any(|c| c.starts_with("portico_session=;") && c.contains("Max-Age=0")),
        "{cookies:?}"
    );
    assert!(
        cookies.iter().any(|c| c.starts_with("portico_csrf=") && !c.starts_with("portico_csrf=;")),
        "{cookies:?}"
    );
    assert!(cookies.iter().any(|c| c.starts_with("portico_flash=")), "{cookies:?}");
    assert_eq!(app.get_page(&c, "/staff/orgs").await.0, 303, "signed out");
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn().await;
    let c = signed_in_admin(&app).await;
    let token = app.api_token("ada@portico.test").await;
    let login = reqwest::get(app.url("/login")).await.unwrap();
    let csp = login.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(login.headers()["x-content-type-options"], "nosniff");
    assert_eq!(login.headers()["x-frame-options"], "DENY");
    assert_eq!(login.headers()["referrer-policy"], "same-origin");
    assert!(login.headers().contains_key("permissions-policy"));
    assert_eq!(login.headers()["cache-control"], "no-store");
    assert!(!login.headers().contains_key("strict-transport-security"), "plain http base URL");

    let console = c.get(app.url("/staff/orgs")).send().await.unwrap();
    assert_eq!(console.headers()["cache-control"], "no-store");
    let api =
        reqwest::Client::new().get(app.url("/api/v1/orgs/none")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(api.headers()["cache-control"], "no-store");
    assert!(api.headers().contains_key("content-security-policy"));
    let css = reqwest::get(app.url("/static/portico.css")).await.unwrap();
    assert!(
        css.headers()["cache-control"].to_str().unwrap().contains("max-age"),
        "the stylesheet may be cached"
    );
}

#[tokio::test]
async fn control_characters_and_invalid_utf8_in_urls_are_refused_everywhere() {
    let app = spawn().await;
    let token = app.admin_token().await;
    let api = reqwest::Client::new();
    for path in [
        "/api/v1/orgs/de%00mo",
        "/api/v1/orgs/demo/members?q=%00",
        "/api/v1/orgs/demo/members?q=%FF",
        "/api/v1/orgs/demo/members?status=%0Aactive",
        "/api/v1/orgs/%C0%AF",
    ] {
        let r = api.get(app.url(path)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 400, "{path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_request", "{path}: {body}");
    }
    let c = client();
    for path in ["/o/de%00mo/join", "/dashboard?org=%FF", "/login?next=%1B", "/invite/%00abc"] {
        let r = c.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 400, "{path}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        assert!(r.text().await.unwrap().contains("<html"), "{path}: an HTML page");
    }
    // Percent-encoded text that is valid stays fine.
    let ok =
        api.get(app.url("/api/v1/orgs/demo/members?q=%C8%99tefan")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(ok.status(), 404, "valid UTF-8 reaches the route (no such organisation)");
}

#[tokio::test]
async fn identifiers_fold_ascii_only_so_look_alikes_never_match() {
    let app = spawn().await;
    let token = app.admin_token().await;
    let api = reqwest::Client::new();
    let create = |slug: &str| {
        api.post(app.url("/api/v1/orgs"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"slug": slug, "name": "Keep", "kind": "nonprofit"}))
            .send()
    };
    let kelvin = create("\u{212a}eep").await.unwrap();
    assert_eq!(kelvin.status(), 400, "the Kelvin sign is not a K");
    assert_eq!(create("keep").await.unwrap().status(), 201);
    let lookalike = api.get(app.url("/api/v1/orgs/%E2%84%AAeep")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(lookalike.status(), 404, "on both backends alike");
    let upper = api.get(app.url("/api/v1/orgs/KEEP")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(upper.status(), 200, "ASCII still folds");

    let invite = api
        .post(app.url("/api/v1/orgs/keep/invitations"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"email": "\u{212a}ate@example.org", "role": "member"}))
        .send()
        .await
        .unwrap();
    assert_eq!(invite.status(), 400, "no look-alike email addresses either");
}

#[tokio::test]
async fn other_methods_get_a_405_page_not_an_empty_answer() {
    let app = spawn().await;
    let c = signed_in_admin(&app).await;
    let (_, page) = app.get_page(&c, "/staff/orgs").await;
    let token = csrf_token(&page);
    let r =
        c.post(app.url("/dashboard/storage")).form(&[("csrf_token", token.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert!(r.text().await.unwrap().contains("does not accept that kind of request"));
    let foo =
        c.request(reqwest::Method::from_bytes(b"FOO").unwrap(), app.url("/login")).send().await.unwrap();
    assert_eq!(foo.status(), 405);
    assert!(foo.text().await.unwrap().contains("<html"));
}

/// Refusals the server makes itself (before or instead of a handler) answer a page in the
/// visitor's language, not plain text; the API keeps its JSON error body.
#[tokio::test]
async fn refusals_the_server_makes_itself_are_pages_in_the_visitors_language() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = common::spawn_with(|c| c.http.body_timeout_secs = 1).await;
    let c = signed_in_admin(&app).await;
    sqlx::query("UPDATE users SET locale = 'ro' WHERE email = 'ada@portico.test'")
        .execute(app.store.pool())
        .await
        .unwrap();
    let is_page = |r: &reqwest::Response| {
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"))
    };
    // Over the body limit: the signed-in person's language (Romanian), whatever the browser says.
    let (_, page) = app.get_page(&c, "/staff/orgs").await;
    let token = csrf_token(&page);
    let huge = "x".repeat(200_000);
    let r = c
        .post(app.url("/staff/orgs"))
        .header("accept-language", "en")
        .form(&[("csrf_token", token.as_str()), ("slug", "big"), ("name", huge.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert!(is_page(&r));
    assert!(r.text().await.unwrap().contains("Datele trimise sunt prea mari"));
    // A malformed query on a page: the error page, in the account's language.
    let r = c.get(app.url("/dashboard?org=a&org=b")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(is_page(&r));
    assert!(r.text().await.unwrap().contains("Browserul a trimis o cerere"));
    // A body that never finishes: 408, as a page in the browser's language.
    let mut stream = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://")).await.unwrap();
    stream
        .write_all(b"POST /login HTTP/1.1\r\nHost: x\r\nAccept-Language: ro\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nemail=")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("text/html") && answer.contains("Cererea a sosit prea încet"), "{answer}");
    // The API answers the same refusals with its error body.
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/orgs"))
        .header("content-type", "application/json")
        .body(vec![b' '; 200_000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");
}
