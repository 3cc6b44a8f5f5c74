//! Sign in elsewhere with Portico (SPEC §3.9), on both backends: discovery and keys, the code
//! flow with PKCE, tokens and their rules, and membership deciding at every step. The relying
//! party here is written from the specifications (RFC 6749, 7636, OpenID Connect Core), and ID
//! tokens are verified against the published JWKS; independent libraries (openid-client,
//! Authlib) are the browser and interoperability tests' parties.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::{Jwk, JwkSet};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::{self, TestApp, client};
use portico::domain::NewPassword;

const REDIRECT: &str = "https://rp.example.org/callback";
const PASSWORD: &str = "a long enough password";

struct Setup {
    app: TestApp,
    token: String,
}

fn api() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn setup() -> Setup {
    setup_with(|_| {}).await
}

async fn setup_with(adjust: impl FnOnce(&mut portico::config::Config)) -> Setup {
    let app = common::spawn_with(adjust).await;
    let token = app.admin_token().await;
    let input = portico::flows::orgs::OrgInput {
        slug: "club".into(),
        name: "Club".into(),
        kind: "nonprofit".into(),
        company_name: None,
        signup: Some("open".into()),
    };
    portico::flows::orgs::create(&app.store, &portico::flows::Ctx::cli(), &input).await.unwrap();
    Setup { app, token }
}

/// PKCE from RFC 7636: a verifier and its S256 challenge.
fn pkce() -> (String, String) {
    let verifier = format!("v{}", uuid::Uuid::new_v4().simple()).repeat(2);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// The query of a redirect's `Location`.
fn location_query(r: &reqwest::Response) -> (String, HashMap<String, String>) {
    let location = r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let query =
        url::Url::parse(&location).map(|u| u.query_pairs().into_owned().collect()).unwrap_or_default();
    (location, query)
}

impl Setup {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = api().request(method, self.app.url(path)).bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// A client registered over the API with `extra` fields; its id and secret.
    async fn client(&self, extra: Value) -> (String, Option<String>) {
        let mut body = json!({"name": "Wiki", "redirect_uris": [REDIRECT], "first_party": true});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, created) =
            self.call(reqwest::Method::POST, "/api/v1/orgs/club/oidc/clients", Some(body)).await;
        assert_eq!(status, 201, "{created}");
        (
            created["client_id"].as_str().unwrap().to_string(),
            created["client_secret"].as_str().map(String::from),
        )
    }

    /// An active member with a password, signed in in a browser; (browser, membership id).
    async fn member(&self, email: &str) -> (reqwest::Client, i64) {
        let hash = self.app.hasher.hash(&NewPassword::parse(PASSWORD, &[]).unwrap()).await.unwrap();
        let id = self.app.join("club", email, Some(&hash)).await;
        sqlx::query("UPDATE users SET username = $2 WHERE email = $1")
            .bind(email)
            .bind(email.split('@').next().unwrap())
            .execute(self.app.store.pool())
            .await
            .unwrap();
        self.set_status(id, "active").await;
        let c = client();
        assert_eq!(self.app.login(&c, email, PASSWORD).await.status(), 303);
        (c, id)
    }

    async fn set_status(&self, id: i64, status: &str) {
        let (code, body) = self
            .call(
                reqwest::Method::PATCH,
                &format!("/api/v1/orgs/club/members/{id}"),
                Some(json!({"status": status, "reason": "test"})),
            )
            .await;
        assert_eq!(code, 200, "{body}");
    }

    fn authorize_url(&self, client_id: &str, challenge: &str, extra: &[(&str, &str)]) -> String {
        let mut url = url::Url::parse(&self.app.url("/o/club/oidc/authorize")).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("scope", "openid email profile groups membership")
            .append_pair("state", "st-123")
            .append_pair("nonce", "n-456")
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        for (k, v) in extra {
            url.query_pairs_mut().append_pair(k, v);
        }
        url.to_string()
    }

    /// Runs the authorization request in the browser; the code it redirected with.
    async fn code(&self, browser: &reqwest::Client, client_id: &str, challenge: &str) -> String {
        let r = browser.get(self.authorize_url(client_id, challenge, &[])).send().await.unwrap();
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        let (location, query) = location_query(&r);
        assert!(location.starts_with(REDIRECT), "{location}");
        assert_eq!(query.get("state").map(String::as_str), Some("st-123"));
        assert_eq!(query.get("iss"), Some(&self.app.url("/o/club")));
        query["code"].clone()
    }

    async fn token(&self, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> (u16, Value) {
        let mut req = api().post(self.app.url("/o/club/oidc/token")).form(form);
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        assert_eq!(r.headers().get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn exchange(&self, client_id: &str, secret: &str, code: &str, verifier: &str) -> (u16, Value) {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ];
        self.token(&form, Some((client_id, secret))).await
    }

    async fn userinfo(&self, access_token: &str) -> (u16, Value) {
        let r =
            api().get(self.app.url("/o/club/oidc/userinfo")).bearer_auth(access_token).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn jwks(&self) -> JwkSet {
        let text = reqwest::get(self.app.url("/o/club/oidc/jwks")).await.unwrap().text().await.unwrap();
        JwkSet::from_bytes(text.as_bytes()).unwrap()
    }

    /// Verifies an ID token's signature against the published JWKS (by its `kid`) and returns
    /// its claims and kid.
    async fn verify(&self, id_token: &str) -> (serde_json::Map<String, Value>, String) {
        let header = josekit::jwt::decode_header(id_token).unwrap();
        let kid = header.claim("kid").and_then(Value::as_str).unwrap().to_string();
        let alg = header.claim("alg").and_then(Value::as_str).unwrap().to_string();
        let jwks = self.jwks().await;
        let jwk: &Jwk = jwks.get(&kid).first().copied().expect("the kid is published");
        let verifier: Box<dyn josekit::jws::JwsVerifier> = match alg.as_str() {
            "RS256" => Box::new(josekit::jws::RS256.verifier_from_jwk(jwk).unwrap()),
            "ES256" => Box::new(josekit::jws::ES256.verifier_from_jwk(jwk).unwrap()),
            "EdDSA" => Box::new(josekit::jws::EdDSA.verifier_from_jwk(jwk).unwrap()),
            other => panic!("unexpected alg {other}"),
        };
        let (payload, _) =
            josekit::jwt::decode_with_verifier(id_token, &*verifier).expect("a valid signature");
        (payload.claims_set().clone(), kid)
    }
}

#[tokio::test]
async fn discovery_and_jwks_name_the_endpoints_and_publish_a_key_per_algorithm() {
    let s = setup().await;
    let r = reqwest::get(s.app.url("/o/club/.well-known/openid-configuration")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["cache-control"].to_str().unwrap().contains("max-age"));
    let doc: Value = r.json().await.unwrap();
    let issuer = s.app.url("/o/club");
    assert_eq!(doc["issuer"], issuer);
    for (key, path) in [
        ("authorization_endpoint", "/oidc/authorize"),
        ("token_endpoint", "/oidc/token"),
        ("userinfo_endpoint", "/oidc/userinfo"),
        ("jwks_uri", "/oidc/jwks"),
        ("revocation_endpoint", "/oidc/revoke"),
        ("introspection_endpoint", "/oidc/introspect"),
        ("end_session_endpoint", "/oidc/logout"),
    ] {
        assert_eq!(doc[key], format!("{issuer}{path}"), "{key}");
    }
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(doc["authorization_response_iss_parameter_supported"], json!(true));
    let jwks = s.jwks().await;
    let algs: Vec<&str> = jwks.keys().iter().filter_map(|k| k.algorithm()).collect();
    for alg in ["RS256", "ES256", "EdDSA"] {
        assert!(algs.contains(&alg), "{alg} in {algs:?}");
    }
    assert!(jwks.keys().iter().all(|k| k.parameter("d").is_none()), "no private parts");
    assert_eq!(
        reqwest::get(s.app.url("/o/nope/.well-known/openid-configuration")).await.unwrap().status(),
        400
    );
}

#[tokio::test]
async fn the_code_flow_with_pkce_gives_verified_tokens_userinfo_and_rotating_refresh_tokens() {
    let s = setup().await;
    let (client_id, secret) = s.client(json!({})).await;
    let secret = secret.expect("a confidential client has a secret");
    let (browser, _) = s.member("ada@example.org").await;
    let (verifier, challenge) = pkce();
    let code = s.code(&browser, &client_id, &challenge).await;
    let (status, tokens) = s.exchange(&client_id, &secret, &code, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    let (claims, _) = s.verify(tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["iss"], s.app.url("/o/club"));
    assert_eq!(claims["aud"], json!(client_id));
    assert_eq!(claims["nonce"], "n-456");
    assert_eq!(claims["email"], "ada@example.org");
    assert_eq!(claims["preferred_username"], "ada");
    assert_eq!(claims["groups"], json!(["member"]));
    assert_eq!(claims["membership"]["status"], "active");
    assert_eq!(claims["amr"], json!(["pwd"]));
    for claim in ["sub", "sid", "auth_time", "iat", "exp", "name"] {
        assert!(claims.contains_key(claim), "{claim}");
    }
    let sub = claims["sub"].as_str().unwrap().to_string();
    assert!(!sub.contains('@') && sub.parse::<i64>().is_err(), "sub is opaque: {sub}");

    let (status, info) = s.userinfo(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["sub"], sub);
    assert_eq!(info["email"], "ada@example.org");

    // Refresh rotates: the new refresh token works, the old one replayed revokes the family.
    let old = tokens["refresh_token"].as_str().unwrap();
    let (status, renewed) = s
        .token(&[("grant_type", "refresh_token"), ("refresh_token", old)], Some((&client_id, &secret)))
        .await;
    assert_eq!(status, 200, "{renewed}");
    assert_ne!(renewed["refresh_token"], tokens["refresh_token"]);
    let (renewed_claims, _) = s.verify(renewed["id_token"].as_str().unwrap()).await;
    assert_eq!(renewed_claims["sub"], sub);
    assert!(!renewed_claims.contains_key("nonce"), "a refreshed ID token carries no nonce");
    let (status, replay) = s
        .token(&[("grant_type", "refresh_token"), ("refresh_token", old)], Some((&client_id, &secret)))
        .await;
    assert_eq!((status, replay["error"].as_str()), (400, Some("invalid_grant")));
    let newest = renewed["refresh_token"].as_str().unwrap();
    let (status, after) = s
        .token(&[("grant_type", "refresh_token"), ("refresh_token", newest)], Some((&client_id, &secret)))
        .await;
    assert_eq!((status, after["error"].as_str()), (400, Some("invalid_grant")), "the family is revoked");
    assert_eq!(s.userinfo(renewed["access_token"].as_str().unwrap()).await.0, 401);

    // client_secret_post works as well as Basic.
    let (verifier, challenge) = pkce();
    let code = s.code(&browser, &client_id, &challenge).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
        ("client_id", client_id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    assert_eq!(s.token(&form, None).await.0, 200);
}

#[tokio::test]
async fn a_code_is_single_use_and_its_reuse_revokes_what_it_issued() {
    let s = setup().await;
    let (client_id, secret) = s.client(json!({})).await;
    let secret = secret.unwrap();
    let (browser, _) = s.member("ada@example.org").await;
    let (verifier, challenge) = pkce();
    let code = s.code(&browser, &client_id, &challenge).await;
    let (status, tokens) = s.exchange(&client_id, &secret, &code, &verifier).await;
    assert_eq!(status, 200);
    let (status, again) = s.exchange(&client_id, &secret, &code, &verifier).await;
    assert_eq!((status, again["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(s.userinfo(tokens["access_token"].as_str().unwrap()).await.0, 401, "revoked");
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, _) = s
        .token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)], Some((&client_id, &secret)))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn pkce_is_required_plain_is_refused_and_a_wrong_verifier_fails() {
    let s = setup().await;
    let (client_id, secret) = s.client(json!({})).await;
    let secret = secret.unwrap();
    let (browser, _) = s.member("ada@example.org").await;
    let mut url = url::Url::parse(&s.app.url("/o/club/oidc/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid")
        .append_pair("state", "s1");
    let r = browser.get(url.as_str()).send().await.unwrap();
    let (_, q) = location_query(&r);
    assert_eq!((r.status().as_u16(), q.get("error").map(String::as_str)), (303, Some("invalid_request")));
    assert_eq!(q.get("state").map(String::as_str), Some("s1"));
    assert_eq!(q.get("iss"), Some(&s.app.url("/o/club")));

    let (_, challenge) = pkce();
    let plain = s
        .authorize_url(&client_id, &challenge, &[])
        .replace("code_challenge_method=S256", "code_challenge_method=plain");
    let (_, q) = location_query(&browser.get(plain).send().await.unwrap());
    assert_eq!(q.get("error").map(String::as_str), Some("invalid_request"));
    assert!(q["error_description"].contains("plain"), "{q:?}");

    let (_, challenge) = pkce();
    let code = s.code(&browser, &client_id, &challenge).await;
    let (other_verifier, _) = pkce();
    let (status, body) = s.exchange(&client_id, &secret, &code, &other_verifier).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));

    // A confidential client may switch PKCE off (some applications do not send it).
    let (status, _) = s
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/orgs/club/oidc/clients/{client_id}"),
            Some(json!({"pkce_required": false})),
        )
        .await;
    assert_eq!(status, 200);
    let r = browser.get(url.as_str()).send().await.unwrap();
    let (location, q) = location_query(&r);
    assert!(q.contains_key("code"), "{location}");
    let form =
        [("grant_type", "authorization_code"), ("code", q["code"].as_str()), ("redirect_uri", REDIRECT)];
    assert_eq!(s.token(&form, Some((&client_id, &secret))).await.0, 200);
    // A public client cannot.
    let (status, body) = s
        .call(
            reqwest::Method::POST,
            "/api/v1/orgs/club/oidc/clients",
            Some(json!({"name": "SPA", "redirect_uris": [REDIRECT], "public": true, "pkce_required": false})),
        )
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("pkce_required_for_public")));
}

#[tokio::test]
async fn an_unknown_client_or_an_unregistered_redirect_uri_gets_a_page_and_no_redirect() {
    let s = setup().await;
    let (client_id, _) = s.client(json!({})).await;
    let (browser, _) = s.member("ada@example.org").await;
    let (_, challenge) = pkce();
    for url in [
        s.authorize_url(&client_id, &challenge, &[])
            .replace("rp.example.org%2Fcallback", "rp.example.org%2Fcallback%2F"),
        s.authorize_url(&client_id, &challenge, &[]).replace("rp.example.org", "evil.example.org"),
        s.authorize_url("pc_AAAAAAAAAAAAAAAAAAAAAA", &challenge, &[]),
        s.authorize_url("../../etc", &challenge, &[]),
    ] {
        let r = browser.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 400, "{url}");
        assert!(r.headers().get("location").is_none(), "no redirect for {url}");
        assert!(r.text().await.unwrap().contains("<html"));
    }
    // A parameter given twice is an error, sent back to the (trusted) redirect URI.
    let twice = format!("{}&scope=openid", s.authorize_url(&client_id, &challenge, &[]));
    let (_, q) = location_query(&browser.get(twice).send().await.unwrap());
    assert_eq!(q.get("error").map(String::as_str), Some("invalid_request"));
}

#[tokio::test]
async fn prompt_none_without_a_session_and_max_age_are_honoured() {
    let s = setup().await;
    let (client_id, _) = s.client(json!({})).await;
    let (_, challenge) = pkce();
    let anonymous = client();
    let r =
        anonymous.get(s.authorize_url(&client_id, &challenge, &[("prompt", "none")])).send().await.unwrap();
    let (location, q) = location_query(&r);
    assert!(location.starts_with(REDIRECT));
    assert_eq!(q.get("error").map(String::as_str), Some("login_required"));
    assert_eq!(q.get("state").map(String::as_str), Some("st-123"));

    // Without a session: the sign-in page, then back to the request.
    let r = anonymous.get(s.authorize_url(&client_id, &challenge, &[])).send().await.unwrap();
    let (location, _) = location_query(&r);
    assert!(r.status() == 303 && location.starts_with("/login?next="), "{location}");

    // A session older than max_age must sign in again; after it, the request goes through.
    let (browser, _) = s.member("ada@example.org").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = browser.get(s.authorize_url(&client_id, &challenge, &[("max_age", "0")])).send().await.unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("/login?next="), "{location}");
    let next = url::Url::parse(&format!("http://x{location}"))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "next")
        .unwrap()
        .1
        .to_string();
    let (_, page) = s.app.get_page(&browser, &location).await;
    let token = common::csrf_token(&page);
    let r = browser
        .post(s.app.url("/login"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", "ada@example.org"),
            ("password", PASSWORD),
            ("next", next.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let back = r.headers()["location"].to_str().unwrap().to_string();
    assert!(back.starts_with("/o/club/oidc/authorize?"), "{back}");
    let r = browser.get(s.app.url(&back)).send().await.unwrap();
    let (location, q) = location_query(&r);
    assert!(q.contains_key("code"), "{location}");
}

#[tokio::test]
async fn consent_is_asked_once_per_client_and_scopes_and_a_denial_goes_back_as_access_denied() {
    let s = setup().await;
    let (client_id, _) = s.client(json!({"first_party": false, "name": "Forum"})).await;
    let (browser, _) = s.member("ada@example.org").await;
    let (_, challenge) = pkce();
    let url = s.authorize_url(&client_id, &challenge, &[]);
    let (status, page) = s.app.get_page(&browser, &url.replace(&s.app.base, "")).await;
    assert_eq!(status, 200);
    assert!(page.contains("Forum") && page.contains("your email address"), "{page}");
    let path = url.replace(&s.app.base, "");
    let r = s.app.post_form(&browser, &path, "/o/club/oidc/authorize", &fields_of(&page, "deny")).await;
    let (_, q) = location_query(&r);
    assert_eq!(q.get("error").map(String::as_str), Some("access_denied"));
    let (_, page) = s.app.get_page(&browser, &path).await;
    let r = s.app.post_form(&browser, &path, "/o/club/oidc/authorize", &fields_of(&page, "allow")).await;
    let (_, q) = location_query(&r);
    assert!(q.contains_key("code"), "{q:?}");
    // Remembered: no page the next time.
    let r = browser.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 303);
    // prompt=consent asks again.
    let (status, _) = s.app.get_page(&browser, &format!("{path}&prompt=consent")).await;
    assert_eq!(status, 200);
    // Listed as a connected application, and withdrawable: then asked again, and prompt=none
    // answers consent_required.
    let (_, account) = s.app.get_page(&browser, "/account").await;
    assert!(account.contains("Forum"), "listed in /account");
    let r = s
        .app
        .post_form(
            &browser,
            "/account",
            "/account/applications/withdraw",
            &[("client_id", client_id.as_str())],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(s.app.audit("account.application_withdrawn").await.len(), 1);
    let (status, _) = s.app.get_page(&browser, &path).await;
    assert_eq!(status, 200, "asked again");
    let (_, q) = location_query(&browser.get(format!("{url}&prompt=none")).send().await.unwrap());
    assert_eq!(q.get("error").map(String::as_str), Some("consent_required"));
}

/// The hidden fields of the consent page, and the decision.
fn fields_of(page: &str, decision: &'static str) -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = Vec::new();
    for part in page.split("<input type=\"hidden\" name=\"").skip(1) {
        let (name, rest) = part.split_once('"').unwrap();
        if name == "csrf_token" {
            continue;
        }
        let value = rest.split_once("value=\"").unwrap().1.split_once('"').unwrap().0;
        let value =
            value.replace("&amp;", "&").replace("&#x2F;", "/").replace("&#39;", "'").replace("&quot;", "\"");
        out.push((Box::leak(name.to_string().into_boxed_str()), Box::leak(value.into_boxed_str())));
    }
    out.push(("decision", decision));
    out
}

#[tokio::test]
async fn membership_decides_at_authorization_refresh_and_userinfo_even_with_a_live_session() {
    let s = setup().await;
    let (client_id, secret) = s.client(json!({})).await;
    let secret = secret.unwrap();
    let (browser, id) = s.member("ada@example.org").await;
    let (verifier, challenge) = pkce();
    let code = s.code(&browser, &client_id, &challenge).await;
    let (_, tokens) = s.exchange(&client_id, &secret, &code, &verifier).await;
    s.set_status(id, "suspended").await;
    // The tokens were revoked with the suspension.
    assert_eq!(s.userinfo(tokens["access_token"].as_str().unwrap()).await.0, 401);
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, body) = s
        .token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)], Some((&client_id, &secret)))
        .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(
        sqlx::query_scalar::<_, String>("SELECT revoked_reason FROM oidc_grants")
            .fetch_one(s.app.store.pool())
            .await
            .unwrap(),
        "membership_suspended"
    );
    // The Portico session lives on, and the authorization says why to the person.
    let r = browser.get(s.authorize_url(&client_id, &challenge, &[])).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("your membership is suspended"));
}

#[tokio::test]
async fn a_client_that_requires_an_authorisation_admits_only_its_holders() {
    let s = setup().await;
    assert_eq!(s.call(reqwest::Method::PUT, "/api/v1/orgs/club/authorisations/Woodshop", None).await.0, 200);
    let (client_id, secret) = s.client(json!({"requires": "Woodshop"})).await;
    let secret = secret.unwrap();
    let (browser, id) = s.member("ada@example.org").await;
    let (verifier, challenge) = pkce();
    let r = browser.get(s.authorize_url(&client_id, &challenge, &[])).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("Woodshop"));
    let grant = format!("/api/v1/orgs/club/members/{id}/authorisations/Woodshop");
    assert_eq!(s.call(reqwest::Method::PUT, &grant, None).await.0, 200);
    let code = s.code(&browser, &client_id, &challenge).await;
    let (_, tokens) = s.exchange(&client_id, &secret, &code, &verifier).await;
    let (claims, _) = s.verify(tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["groups"], json!(["member", "Woodshop"]));
    // Revoking the authorisation ends the sign-in there.
    assert_eq!(s.call(reqwest::Method::DELETE, &grant, None).await.0, 200);
    assert_eq!(s.userinfo(tokens["access_token"].as_str().unwrap()).await.0, 401);
}

#[tokio::test]
async fn the_token_endpoint_answers_bad_input_with_the_rfc_errors_never_a_5xx() {
    let s = setup().await;
    let (client_id, secret) = s.client(json!({})).await;
    let secret = secret.unwrap();
    let url = s.app.url("/o/club/oidc/token");
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            api()
                .post(&url)
                .basic_auth(&client_id, Some(&secret))
                .json(&json!({"grant_type": "authorization_code"})),
            400,
            "invalid_request",
        ),
        (
            api().post(&url).basic_auth(&client_id, Some(&secret)).form(&[("grant_type", "password")]),
            400,
            "unsupported_grant_type",
        ),
        (
            api().post(&url).basic_auth(&client_id, Some(&secret)).form(&[("code", "x")]),
            400,
            "invalid_request",
        ),
        (
            api()
                .post(&url)
                .basic_auth(&client_id, Some("wrong"))
                .form(&[("grant_type", "authorization_code"), ("code", "x")]),
            401,
            "invalid_client",
        ),
        (
            api().post(&url).form(&[("grant_type", "authorization_code"), ("code", "x")]),
            401,
            "invalid_client",
        ),
        (
            api().post(&url).basic_auth(&client_id, Some(&secret)).form(&[
                ("grant_type", "authorization_code"),
                ("code", "nope"),
                ("redirect_uri", REDIRECT),
            ]),
            400,
            "invalid_grant",
        ),
        (
            api()
                .post(&url)
                .basic_auth(&client_id, Some(&secret))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("grant_type=refresh_token&grant_type=refresh_token"),
            400,
            "invalid_request",
        ),
        (
            api()
                .post(&url)
                .basic_auth(&client_id, Some(&secret))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", &"x".repeat(5000))]),
            400,
            "invalid_grant",
        ),
        (
            api().post(&url).header("authorization", "Basic !!!").form(&[("grant_type", "refresh_token")]),
            401,
            "invalid_client",
        ),
    ];
    for (i, (request, status, error)) in cases.into_iter().enumerate() {
        let r = request.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "case {i}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], error, "case {i}: {body}");
    }
    let r = api().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let r = api().get(s.app.url("/o/club/oidc/userinfo")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
}

#[tokio::test]
async fn introspection_and_revocation_follow_rfc_7662_and_7009() {
    let s = setup().await;
    let (client_id, secret) = s.client(json!({})).await;
    let secret = secret.unwrap();
    let (browser, _) = s.member("ada@example.org").await;
    let (verifier, challenge) = pkce();
    let code = s.code(&browser, &client_id, &challenge).await;
    let (_, tokens) = s.exchange(&client_id, &secret, &code, &verifier).await;
    let introspect = |token: String| {
        let (s, id, secret) = (&s, client_id.clone(), secret.clone());
        async move {
            let r = api()
                .post(s.app.url("/o/club/oidc/introspect"))
                .basic_auth(id, Some(secret))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()
        }
    };
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let answer = introspect(access.clone()).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["client_id"], json!(client_id));
    assert_eq!(introspect("nonsense".into()).await, json!({"active": false}));
    let r = api()
        .post(s.app.url("/o/club/oidc/revoke"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("token", tokens["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(introspect(access).await["active"], false, "revoking the refresh token revoked its grant");
}

#[tokio::test]
async fn rotated_keys_are_published_before_they_sign_and_retired_ones_still_verify() {
    let s = setup().await;
    let (client_id, secret) = s.client(json!({})).await;
    let secret = secret.unwrap();
    let (browser, _) = s.member("ada@example.org").await;
    let (verifier, challenge) = pkce();
    let code = s.code(&browser, &client_id, &challenge).await;
    let (_, before) = s.exchange(&client_id, &secret, &code, &verifier).await;
    let encryption = portico::flows::oidc::keys::KeyEncryption::derive(&s.app.config.secret_key.0);
    let next = portico::flows::oidc::keys::rotate(&s.app.store, &encryption).await.unwrap();
    assert_eq!(next.len(), 3);
    let published: Vec<String> =
        s.jwks().await.keys().iter().filter_map(|k| k.key_id().map(String::from)).collect();
    assert!(next.iter().all(|k| published.contains(k)), "published before signing");
    let (verifier, challenge) = pkce();
    let code = s.code(&browser, &client_id, &challenge).await;
    let (_, still_old) = s.exchange(&client_id, &secret, &code, &verifier).await;
    let (_, old_kid) = s.verify(still_old["id_token"].as_str().unwrap()).await;
    assert!(!next.contains(&old_kid), "a next key does not sign yet");
    let done = portico::flows::oidc::keys::upkeep(&s.app.store, 0).await.unwrap();
    assert_eq!(done.promoted, 3);
    let (verifier, challenge) = pkce();
    let code = s.code(&browser, &client_id, &challenge).await;
    let (_, after) = s.exchange(&client_id, &secret, &code, &verifier).await;
    let (_, new_kid) = s.verify(after["id_token"].as_str().unwrap()).await;
    assert!(next.contains(&new_kid), "the new key signs");
    let (claims, kid) = s.verify(before["id_token"].as_str().unwrap()).await;
    assert_eq!(kid, old_kid);
    assert_eq!(claims["aud"], json!(client_id), "a token of the retired key still verifies through the JWKS");
}

#[tokio::test]
async fn clients_are_managed_over_the_api_and_the_cli_with_the_secret_shown_once() {
    let s = setup().await;
    let (client_id, secret) = s.client(json!({})).await;
    assert!(secret.unwrap().starts_with("pcs_"));
    let (status, list) = s.call(reqwest::Method::GET, "/api/v1/orgs/club/oidc/clients", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["items"][0]["client_id"], json!(client_id));
    assert!(list["items"][0].get("client_secret").is_none());
    let (status, rotated) = s
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/orgs/club/oidc/clients/{client_id}/rotate-secret"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(rotated["client_secret"].as_str().unwrap().starts_with("pcs_"));
    for bad in [
        json!({"name": "x", "redirect_uris": []}),
        json!({"name": "x", "redirect_uris": ["http://wiki.example.org/cb"]}),
        json!({"name": "x", "redirect_uris": ["https://x.example/cb#frag"]}),
        json!({"name": "x", "redirect_uris": [REDIRECT], "id_token_alg": "HS256"}),
        json!({"name": "x", "redirect_uris": [REDIRECT], "role": "king"}),
        json!({"name": "", "redirect_uris": [REDIRECT]}),
    ] {
        let (status, body) =
            s.call(reqwest::Method::POST, "/api/v1/orgs/club/oidc/clients", Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, _) =
        s.call(reqwest::Method::DELETE, &format!("/api/v1/orgs/club/oidc/clients/{client_id}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(
        s.call(reqwest::Method::GET, &format!("/api/v1/orgs/club/oidc/clients/{client_id}"), None).await.0,
        404
    );
    for action in ["oidc.client_created", "oidc.client_secret_rotated", "oidc.client_deleted"] {
        assert_eq!(s.app.audit(action).await.len(), 1, "{action}");
    }

    // The command line prints the two lines SPEC §6 names.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(["oidc", "client", "create", "--org", "club", "--name", "Grafana"])
        .args(["--redirect-uri", "https://grafana.example.org/login/generic_oauth"])
        .env_clear()
        .env("PORTICO_DATABASE_URL", &s.app.database_url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("client_id: pc_") && lines[1].starts_with("client_secret: pcs_"),
        "{stdout}"
    );
    // Every choice of the guide's recipes can be made there too.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(["oidc", "client", "create", "--org", "club", "--name", "Gitea", "--without-pkce"])
        .args(["--redirect-uri", "https://git.example.org/user/oauth2/portico/callback"])
        .args(["--role", "admin", "--id-token-alg", "ES256"])
        .args(["--backchannel-logout-uri", "https://git.example.org/logout"])
        .args(["--post-logout-redirect-uri", "https://git.example.org/"])
        .env_clear()
        .env("PORTICO_DATABASE_URL", &s.app.database_url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let client_id = stdout.lines().next().unwrap().trim_start_matches("client_id: ");
    let (_, stored) =
        s.call(reqwest::Method::GET, &format!("/api/v1/orgs/club/oidc/clients/{client_id}"), None).await;
    assert_eq!(stored["pkce_required"], false, "{stored}");
    assert_eq!(stored["role"], "admin");
    assert_eq!(stored["id_token_alg"], "ES256");
    assert_eq!(stored["backchannel_logout_uri"], "https://git.example.org/logout");
    assert_eq!(stored["post_logout_redirect_uris"], json!(["https://git.example.org/"]));
}

#[tokio::test]
async fn staff_register_and_manage_clients_in_the_console() {
    let s = setup().await;
    let password = s.app.create_staff("desk@portico.test", portico::domain::StaffRole::Admin).await;
    let c = client();
    assert_eq!(s.app.login(&c, "desk@portico.test", &password).await.status(), 303);
    let form = [
        ("name", "Nextcloud"),
        ("redirect_uris", "https://cloud.example.org/apps/user_oidc/code\nhttps://cloud.example.org/other"),
        ("role", ""),
        ("id_token_alg", "RS256"),
    ];
    let r = s.app.post_form(&c, "/staff/orgs/club/oidc", "/staff/orgs/club/oidc", &form).await;
    assert_eq!(r.status(), 201);
    let page = r.text().await.unwrap();
    assert!(page.contains("pcs_"), "the secret is shown once");
    let (_, again) = s.app.get_page(&c, "/staff/orgs/club/oidc").await;
    assert!(again.contains("Nextcloud") && !again.contains("pcs_"), "and never again");
    let client_id = sqlx::query_scalar::<_, String>("SELECT client_id FROM oidc_clients")
        .fetch_one(s.app.store.pool())
        .await
        .unwrap();
    let (status, stored) =
        s.call(reqwest::Method::GET, &format!("/api/v1/orgs/club/oidc/clients/{client_id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(stored["redirect_uris"].as_array().unwrap().len(), 2);
    let action = format!("/staff/orgs/club/oidc/{client_id}/disable");
    assert_eq!(s.app.post_form(&c, "/staff/orgs/club/oidc", &action, &[]).await.status(), 303);
    let (_, stored) =
        s.call(reqwest::Method::GET, &format!("/api/v1/orgs/club/oidc/clients/{client_id}"), None).await;
    assert_eq!(stored["enabled"], false);
    // A refused form shows the page again with the reason.
    let bad = [("name", "Bad"), ("redirect_uris", "http://cloud.example.org/cb")];
    let r = s.app.post_form(&c, "/staff/orgs/club/oidc", "/staff/orgs/club/oidc", &bad).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("https://"));
}

#[tokio::test]
async fn a_suspension_sends_a_signed_back_channel_logout_token_to_the_client() {
    let s = setup_with(|c| {
        c.webhooks.allow_private = true;
        c.webhooks.poll_ms = 50;
        c.webhooks.retry_schedule_ms = vec![200, 200];
    })
    .await;
    let receiver = common::webhook_receiver::Receiver::start().await;
    // The first attempt fails: the logout is retried, not lost.
    receiver.script([common::webhook_receiver::Answer::Status(503)]);
    let (client_id, secret) = s.client(json!({"backchannel_logout_uri": receiver.url})).await;
    let secret = secret.unwrap();
    let (browser, id) = s.member("ada@example.org").await;
    let (verifier, challenge) = pkce();
    let code = s.code(&browser, &client_id, &challenge).await;
    let (_, tokens) = s.exchange(&client_id, &secret, &code, &verifier).await;
    let (id_claims, _) = s.verify(tokens["id_token"].as_str().unwrap()).await;
    s.set_status(id, "banned").await;
    let got = receiver.wait_for(2, std::time::Duration::from_secs(20)).await;
    let path = format!("/api/v1/orgs/club/oidc/clients/{client_id}/logouts");
    let queued = s.call(reqwest::Method::GET, &path, None).await.1;
    assert_eq!(got.len(), 2, "a failed attempt, then a delivered one; queued: {queued}");
    let form: HashMap<String, String> =
        url::form_urlencoded::parse(got[1].body.as_bytes()).into_owned().collect();
    let logout_token = &form["logout_token"];
    let header = josekit::jwt::decode_header(logout_token).unwrap();
    assert_eq!(header.claim("typ"), Some(&json!("logout+jwt")));
    let (claims, _) = s.verify(logout_token).await;
    assert_eq!(claims["iss"], s.app.url("/o/club"));
    assert_eq!(claims["aud"], json!(client_id));
    assert_eq!(claims["sub"], id_claims["sub"]);
    assert_eq!(claims["sid"], id_claims["sid"]);
    assert!(claims["events"].get("http://schemas.openid.net/event/backchannel-logout").is_some());
    assert!(!claims.contains_key("nonce"), "a logout token never carries a nonce");
    assert!(claims.contains_key("jti") && claims.contains_key("iat"));
    // Staff see the delivery, over the API (it is marked delivered once the answer is read)…
    let mut list = Value::Null;
    for _ in 0..100 {
        let (status, answer) = s.call(reqwest::Method::GET, &path, None).await;
        assert_eq!(status, 200);
        list = answer;
        if list["items"][0]["state"] == "delivered" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(list["items"][0]["state"], "delivered", "{list}");
    assert_eq!(list["items"][0]["attempts"], 2);
    assert_eq!(list["items"][0]["reason"], "membership_banned");
    assert_eq!(list["items"][0]["last_status"], 200);
    // …and in the console, on the client's page.
    let password = s.app.create_staff("desk@portico.test", portico::domain::StaffRole::Support).await;
    let c = client();
    assert_eq!(s.app.login(&c, "desk@portico.test", &password).await.status(), 303);
    let (status, page) = s.app.get_page(&c, &format!("/staff/orgs/club/oidc/{client_id}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("membership_banned") && page.contains("delivery-delivered"), "{page}");
    let (status, _) = s.app.get_page(&c, "/staff/orgs/club/oidc/pc_0000000000000000000000").await;
    assert_eq!(status, 404);
}

/// How an application of `docs/oidc.md` talks to the provider, as its documentation and source
/// say: the redirect URI it uses, how it authenticates at the token endpoint, whether it sends
/// PKCE, the scopes it asks for and the claims it reads (from the ID token, userinfo or both).
struct Recipe {
    app: &'static str,
    redirect_uri: &'static str,
    secret_in_body: bool,
    sends_pkce: bool,
    scope: &'static str,
    id_token_claims: &'static [&'static str],
    userinfo_claims: &'static [&'static str],
}

const RECIPES: [Recipe; 7] = [
    Recipe {
        app: "Nextcloud user_oidc",
        redirect_uri: "https://cloud.example.org/apps/user_oidc/code",
        secret_in_body: true,
        sends_pkce: true,
        scope: "openid email profile groups",
        id_token_claims: &["sub", "email", "name", "groups"],
        userinfo_claims: &["sub", "email", "name", "preferred_username", "groups"],
    },
    Recipe {
        app: "Grafana generic_oauth",
        redirect_uri: "https://grafana.example.org/login/generic_oauth",
        secret_in_body: false,
        sends_pkce: true,
        scope: "openid profile email groups offline_access",
        id_token_claims: &["email", "name", "preferred_username", "groups"],
        userinfo_claims: &["email", "name", "preferred_username", "groups"],
    },
    Recipe {
        app: "Gitea",
        redirect_uri: "https://git.example.org/user/oauth2/portico/callback",
        secret_in_body: false,
        sends_pkce: false,
        scope: "openid email profile groups",
        id_token_claims: &["sub"],
        userinfo_claims: &["sub", "email", "email_verified", "preferred_username", "name", "groups"],
    },
    Recipe {
        app: "Forgejo",
        redirect_uri: "https://forge.example.org/user/oauth2/portico/callback",
        secret_in_body: false,
        sends_pkce: true,
        scope: "openid email profile groups",
        id_token_claims: &["sub"],
        userinfo_claims: &["sub", "email", "email_verified", "preferred_username", "name", "groups"],
    },
    Recipe {
        app: "Discourse",
        redirect_uri: "https://forum.example.org/auth/oidc/callback",
        secret_in_body: false,
        sends_pkce: true,
        scope: "openid email profile",
        id_token_claims: &["sub"],
        userinfo_claims: &["sub", "email", "email_verified", "name", "preferred_username"],
    },
    Recipe {
        app: "MediaWiki OpenIDConnect",
        redirect_uri: "https://wiki.example.org/index.php/Special:PluggableAuthLogin",
        secret_in_body: false,
        sends_pkce: false,
        scope: "openid email profile",
        id_token_claims: &["sub"],
        userinfo_claims: &["sub", "email", "name", "preferred_username"],
    },
    Recipe {
        app: "Home Assistant hass-oidc-auth",
        redirect_uri: "https://home.example.org/auth/oidc/callback",
        secret_in_body: true,
        sends_pkce: true,
        scope: "openid profile groups",
        id_token_claims: &["sub", "name", "preferred_username", "groups"],
        userinfo_claims: &["sub"],
    },
];

#[tokio::test]
async fn each_recipe_of_the_guide_signs_in_the_way_its_application_calls() {
    let s = setup().await;
    let (browser, _) = s.member("ada@example.org").await;
    let mut subs = std::collections::HashSet::new();
    for recipe in &RECIPES {
        let registered = json!({
            "name": recipe.app,
            "redirect_uris": [recipe.redirect_uri],
            "pkce_required": recipe.sends_pkce,
        });
        let (client_id, secret) = s.client(registered).await;
        let secret = secret.unwrap();
        let (verifier, challenge) = pkce();
        let mut url = url::Url::parse(&s.app.url("/o/club/oidc/authorize")).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &client_id)
            .append_pair("redirect_uri", recipe.redirect_uri)
            .append_pair("scope", recipe.scope)
            .append_pair("state", "st")
            .append_pair("nonce", "nn");
        if recipe.sends_pkce {
            url.query_pairs_mut()
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256");
        }
        let r = browser.get(url.as_str()).send().await.unwrap();
        assert_eq!(r.status(), 303, "{}", recipe.app);
        let (location, query) = location_query(&r);
        assert!(location.starts_with(recipe.redirect_uri), "{}: {location}", recipe.app);
        let code = query["code"].clone();
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", recipe.redirect_uri),
        ];
        if recipe.sends_pkce {
            form.push(("code_verifier", verifier.as_str()));
        }
        let (status, tokens) = if recipe.secret_in_body {
            form.extend([("client_id", client_id.as_str()), ("client_secret", secret.as_str())]);
            s.token(&form, None).await
        } else {
            s.token(&form, Some((&client_id, &secret))).await
        };
        assert_eq!(status, 200, "{}: {tokens}", recipe.app);
        let (id_claims, _) = s.verify(tokens["id_token"].as_str().unwrap()).await;
        assert_eq!(id_claims["nonce"], "nn", "{}", recipe.app);
        for claim in recipe.id_token_claims {
            assert!(id_claims.contains_key(*claim), "{}: the ID token lacks {claim}", recipe.app);
        }
        let (status, info) = s.userinfo(tokens["access_token"].as_str().unwrap()).await;
        assert_eq!(status, 200, "{}", recipe.app);
        for claim in recipe.userinfo_claims {
            assert!(info.get(*claim).is_some(), "{}: userinfo lacks {claim}: {info}", recipe.app);
        }
        // Discourse refuses a sign-in whose userinfo `sub` differs from the ID token's.
        assert_eq!(info["sub"], id_claims["sub"], "{}", recipe.app);
        if recipe.scope.contains("groups") {
            // The role mappings of the guide test for the role's name among the groups.
            assert!(id_claims["groups"].as_array().unwrap().contains(&json!("member")), "{}", recipe.app);
        }
        subs.insert(id_claims["sub"].as_str().unwrap().to_string());
    }
    assert_eq!(subs.len(), 1, "one person has one `sub` whichever application asks");
}

#[tokio::test]
async fn an_erasure_revokes_the_persons_tokens() {
    let s = setup().await;
    let (client_id, secret) = s.client(json!({})).await;
    let secret = secret.unwrap();
    let (browser, id) = s.member("ada@example.org").await;
    let (verifier, challenge) = pkce();
    let code = s.code(&browser, &client_id, &challenge).await;
    let (_, tokens) = s.exchange(&client_id, &secret, &code, &verifier).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(s.userinfo(access).await.0, 200);
    let path = format!("/api/v1/orgs/club/members/{id}/erase");
    let (status, body) = s.call(reqwest::Method::POST, &path, Some(json!({"reason": "asked"}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.userinfo(access).await.0, 401);
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, body) = s
        .token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)], Some((&client_id, &secret)))
        .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    let reason: String = sqlx::query_scalar("SELECT revoked_reason FROM oidc_grants")
        .fetch_one(s.app.store.pool())
        .await
        .unwrap();
    assert_eq!(reason, "erased");
}
