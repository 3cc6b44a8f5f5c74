//! The JSON API for organisations: auth, validation, conflicts, concurrency, bad bodies, OpenAPI.

use crate::common;

use common::spawn;
use portico::domain::StaffRole;
use serde_json::{Value, json};

fn api() -> reqwest::Client {
    reqwest::Client::new()
}

async fn error_of(r: reqwest::Response) -> (u16, String, Value) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.expect("error body is JSON");
    let code = body["error"]["code"].as_str().expect("error.code").to_string();
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "error.message in {body}");
    (status, code, body)
}

#[tokio::test]
async fn create_and_read_an_organisation() {
    let app = spawn().await;
    let token = app.admin_token().await;
    let r = api()
        .post(app.url("/api/v1/orgs"))
        .bearer_auth(&token)
        .json(&json!({"slug": "Hack-Space", "name": "Hackspace", "kind": "company", "company_name": "", "signup": "open"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let org: Value = r.json().await.unwrap();
    assert_eq!(org["slug"], "hack-space");
    assert_eq!(org["display_name"], "Hackspace", "empty company name falls back to the name");
    assert_eq!(org["signup"], "open");
    assert_eq!(org["kind"], "company");

    let r = api().get(app.url("/api/v1/orgs/HACK-SPACE")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let read: Value = r.json().await.unwrap();
    assert_eq!(read["id"], org["id"]);

    let (status, code, _) =
        error_of(api().get(app.url("/api/v1/orgs/nope")).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));

    let events = app.audit("org.created").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor, "admin@portico.test");
    assert_eq!(events[0].client_ip.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn the_api_needs_a_valid_staff_token() {
    let app = spawn().await;
    let token = app.admin_token().await;
    let body = json!({"slug": "acme", "name": "Acme", "kind": "individual"});
    for auth in [None, Some("Bearer pt_bogus"), Some("Basic abc"), Some(&*format!("Bearer {token}x"))] {
        let mut req = api().post(app.url("/api/v1/orgs")).json(&body);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.headers().get("www-authenticate").map(|v| v.to_str().unwrap()), Some("Bearer"));
        let (status, code, _) = error_of(r).await;
        assert_eq!((status, code.as_str()), (401, "unauthorized"), "{auth:?}");
    }
    // Support staff may read but not create organisations.
    app.create_staff("sam@portico.test", StaffRole::Support).await;
    let support = app.api_token("sam@portico.test").await;
    let (status, code, _) =
        error_of(api().post(app.url("/api/v1/orgs")).bearer_auth(&support).json(&body).send().await.unwrap())
            .await;
    assert_eq!((status, code.as_str()), (403, "forbidden"));
    assert_eq!(app.count("SELECT COUNT(*) FROM organisations").await, 0);
    assert!(app.audit("org.created").await.is_empty());
}

#[tokio::test]
async fn duplicate_slugs_are_409_even_when_they_differ_only_in_case() {
    let app = spawn().await;
    let token = app.admin_token().await;
    let post = |slug: &'static str| {
        api()
            .post(app.url("/api/v1/orgs"))
            .bearer_auth(&token)
            .json(&json!({"slug": slug, "name": "Acme", "kind": "individual"}))
            .send()
    };
    assert_eq!(post("acme").await.unwrap().status(), 201);
    for dup in ["acme", "ACME", " Acme "] {
        let (status, code, _) = error_of(post(dup).await.unwrap()).await;
        assert_eq!((status, code.as_str()), (409, "slug_taken"), "{dup}");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM organisations").await, 1);
    assert_eq!(app.audit("org.created").await.len(), 1, "no audit row for the failed attempts");
}

#[tokio::test]
async fn fifty_concurrent_identical_creates_make_exactly_one_organisation() {
    let app = spawn().await;
    let token = app.admin_token().await;
    let client = api();
    let requests = (0..50).map(|_| {
        client
            .post(app.url("/api/v1/orgs"))
            .bearer_auth(&token)
            .json(&json!({"slug": "race", "name": "Race", "kind": "individual"}))
            .send()
    });
    let responses = futures_util::future::join_all(requests).await;
    let mut created = 0;
    let mut conflicts = 0;
    for r in responses {
        match r.unwrap().status().as_u16() {
            201 => created += 1,
            409 => conflicts += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((created, conflicts), (1, 49));
    assert_eq!(app.count("SELECT COUNT(*) FROM organisations").await, 1);
    assert_eq!(app.audit("org.created").await.len(), 1);
}

#[tokio::test]
async fn bad_bodies_get_a_4xx_with_the_error_body_and_change_nothing() {
    let app = spawn().await;
    let token = app.admin_token().await;
    let url = app.url("/api/v1/orgs");
    let big = format!("{{\"slug\":\"big\",\"name\":\"{}\",\"kind\":\"individual\"}}", "x".repeat(200_000));
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            api()
                .post(&url)
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body("{\"slug\": "),
            400,
            "malformed_json",
        ),
        (
            api()
                .post(&url)
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body("{\"slug\": \"a\",,}"),
            400,
            "malformed_json",
        ),
        (
            api().post(&url).bearer_auth(&token).header("content-type", "application/json").body(big),
            413,
            "payload_too_large",
        ),
        (
            api()
                .post(&url)
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(vec![b'{', 0xff, 0xfe, b'}']),
            400,
            "malformed_json",
        ),
        (
            api().post(&url).bearer_auth(&token).header("content-type", "text/plain").body("{}"),
            415,
            "unsupported_media_type",
        ),
        (
            api()
                .post(&url)
                .bearer_auth(&token)
                .json(&json!({"slug": "a1", "name": "A", "kind": "individual", "admin": true})),
            400,
            "invalid_request",
        ),
        (
            api().post(&url).bearer_auth(&token).json(&json!({"slug": "a1", "name": "A"})),
            400,
            "invalid_request",
        ),
        (
            api().post(&url).bearer_auth(&token).json(&json!({"slug": 7, "name": "A", "kind": "individual"})),
            400,
            "invalid_request",
        ),
        (
            api()
                .post(&url)
                .bearer_auth(&token)
                .json(&json!({"slug": "a", "name": "A", "kind": "individual"})),
            400,
            "invalid_slug",
        ),
        (
            api()
                .post(&url)
                .bearer_auth(&token)
                .json(&json!({"slug": "ok-slug", "name": "A", "kind": "empire"})),
            400,
            "invalid_kind",
        ),
        (
            api().post(&url).bearer_auth(&token).json(&json!({"slug": "", "name": "", "kind": ""})),
            400,
            "invalid_request",
        ),
        (
            api()
                .post(&url)
                .bearer_auth(&token)
                .json(&json!({"slug": "ok-slug", "name": "A", "kind": "company", "signup": "maybe"})),
            400,
            "invalid_signup",
        ),
        (api().put(&url).bearer_auth(&token).json(&json!({})), 405, "method_not_allowed"),
        (api().get(app.url("/api/v1/nothing-here")).bearer_auth(&token), 404, "not_found"),
    ];
    for (i, (request, status, code)) in cases.into_iter().enumerate() {
        let (got_status, got_code, body) = error_of(request.send().await.unwrap()).await;
        assert_eq!((got_status, got_code.as_str()), (status, code), "case {i}: {body}");
    }
    // Several bad fields are each named.
    let r = api()
        .post(&url)
        .bearer_auth(&token)
        .json(&json!({"slug": "", "name": "", "kind": ""}))
        .send()
        .await
        .unwrap();
    let (_, _, body) = error_of(r).await;
    let fields = body["error"]["fields"].as_object().expect("fields");
    assert!(
        fields.contains_key("slug") && fields.contains_key("name") && fields.contains_key("kind"),
        "{body}"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM organisations").await, 0);
    assert!(app.audit("org.created").await.is_empty());
}

#[tokio::test]
async fn openapi_document_describes_the_api() {
    let app = spawn().await;
    let r = api().get(app.url("/api/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/api/v1/orgs"]["post"].is_object());
    assert!(doc["paths"]["/api/v1/orgs/{slug}"]["get"].is_object());
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    // Every operation documents the refusals any operation can give.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let secured = operation["security"].as_array().is_some_and(|s| !s.is_empty());
            let expected: &[&str] = if secured { &["400", "401", "503"] } else { &["400", "503"] };
            for status in expected {
                assert!(operation["responses"][*status].is_object(), "{method} {path} documents {status}");
            }
        }
    }
    // The input rules come from the domain: one settings path per key with its own range,
    // enums from the domain enums, patterns for slugs, tags and free text.
    for def in portico::domain::ALL_SETTINGS {
        let value = &doc["paths"][format!("/api/v1/settings/{}", def.key)]["put"]["requestBody"]["content"]["application/json"]
            ["schema"]["properties"]["value"];
        assert_eq!(
            (value["minimum"].as_i64(), value["maximum"].as_i64()),
            (Some(def.min), Some(def.max)),
            "{}",
            def.key
        );
    }
    assert!(doc["paths"]["/api/v1/settings/{key}"].is_null());
    let schemas = &doc["components"]["schemas"];
    let kind = schemas["OrgInput"]["properties"]["kind"]["pattern"].as_str().unwrap();
    assert!(kind.contains("(?:individual|company|nonprofit)"), "{kind}");
    let slug = schemas["OrgInput"]["properties"]["slug"]["pattern"].as_str().unwrap();
    assert!(slug.contains("[A-Za-z0-9][A-Za-z0-9-]{0,61}[A-Za-z0-9]"), "{slug}");
    assert!(
        schemas["CredentialInput"]["properties"]["tag"]["pattern"].as_str().unwrap().contains("[0-9]{10}")
    );
    assert_eq!(schemas["InviteInput"]["properties"]["email"]["allOf"].as_array().unwrap().len(), 5);
    let note = schemas["NoteInput"]["properties"]["text"]["pattern"].as_str().unwrap();
    assert!(note.contains("\\u202a-\\u202e") && note.contains("{0,3998}"), "{note}");
    assert!(schemas["MemberChange"]["anyOf"].is_array(), "a change names something to change");
}

#[tokio::test]
async fn health_readiness_and_request_ids() {
    let app = spawn().await;
    let r = api().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers().get("x-request-id").is_some_and(|v| v.len() >= 32),
        "every response has a request id"
    );
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ok");
    let r = api().get(app.url("/readyz")).header("x-request-id", "trace-me-123").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"], "trace-me-123", "an incoming request id is kept");
    // With the database gone the server is not ready.
    app.store.close().await;
    let r = api().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
}

#[tokio::test]
async fn admins_change_an_organisations_name_signup_activation_gates_and_grace() {
    let app = spawn().await;
    let token = app.admin_token().await;
    let r = api()
        .post(app.url("/api/v1/orgs"))
        .bearer_auth(&token)
        .json(&json!({"slug": "club", "name": "Club", "kind": "nonprofit"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(
        (
            created["activation"].as_str(),
            created["requires_waiver"].as_bool(),
            created["past_due_grace_days"].as_i64()
        ),
        (Some("manual"), Some(false), Some(7)),
        "defaults"
    );
    let patch = |body: Value, token: String| {
        let request = api().patch(app.url("/api/v1/orgs/club")).bearer_auth(token).json(&body);
        async move {
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, org) = patch(
        json!({"activation": "automatic", "requires_waiver": true, "requires_id_check": true, "past_due_grace_days": 14, "signup": "open"}),
        token.clone(),
    )
    .await;
    assert_eq!(status, 200, "{org}");
    assert_eq!(org["activation"], "automatic");
    assert_eq!(
        (org["requires_waiver"].as_bool(), org["requires_id_check"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!((org["past_due_grace_days"].as_i64(), org["signup"].as_str()), (Some(14), Some("open")));
    let (status, org) = patch(json!({"name": " Hack Club "}), token.clone()).await;
    assert_eq!(
        (status, org["name"].as_str(), org["activation"].as_str()),
        (200, Some("Hack Club"), Some("automatic")),
        "the rest stays"
    );

    for (bad, code) in [
        (json!({}), "empty_patch"),
        (json!({"activation": "sometimes"}), "invalid_activation"),
        (json!({"past_due_grace_days": 61}), "invalid_grace_days"),
        (json!({"signup": ""}), "invalid_signup"),
        (json!({"name": "Tab\there"}), "control_character"),
    ] {
        let (status, body) = patch(bad.clone(), token.clone()).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some(code)), "{bad}");
    }
    assert_eq!(
        patch(json!({"requires_waiver": null}), token.clone()).await.0,
        400,
        "null is not leaving it out"
    );
    assert_eq!(patch(json!({"slug": "other"}), token.clone()).await.0, 400, "the slug never changes");
    app.create_staff("desk@portico.test", StaffRole::Support).await;
    let support = app.api_token("desk@portico.test").await;
    assert_eq!(patch(json!({"requires_waiver": false}), support).await.0, 403);
    let events = app.audit("org.updated").await;
    assert_eq!(events.len(), 2, "one event per change");
    assert_eq!(patch(json!({"past_due_grace_days": 3.5}), token.clone()).await.0, 400, "a whole number");
    let (status, org) = patch(json!({"past_due_grace_days": 3.0}), token.clone()).await;
    assert_eq!((status, org["past_due_grace_days"].as_i64()), (200, Some(3)), "JSON's 3.0 is 3");
    let (_, org) = patch(json!({"past_due_grace_days": 0}), token).await;
    assert_eq!(org["requires_waiver"], true, "unchanged by refused attempts");
}

/// Every error code a client can meet has a message of its own, in every locale: the codes the
/// OpenAPI document lists (in backticks in its responses) and those the flows answer with (their
/// literals in the source).
#[tokio::test]
async fn every_error_code_has_a_message_that_says_what_went_wrong() {
    use portico::http_error::code_message;
    use portico::i18n::Locale;
    use std::collections::BTreeSet;
    let app = spawn().await;
    let doc: Value = reqwest::get(app.url("/api/openapi.json")).await.unwrap().json().await.unwrap();
    let mut codes = BTreeSet::new();
    let backticked = |text: &str, into: &mut BTreeSet<String>| {
        for (i, part) in text.split('`').enumerate() {
            if i % 2 == 1 && !part.is_empty() && part.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                into.insert(part.to_string());
            }
        }
    };
    for item in doc["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            for response in operation["responses"].as_object().into_iter().flat_map(|r| r.values()) {
                backticked(response["description"].as_str().unwrap_or(""), &mut codes);
            }
        }
    }
    assert!(codes.len() > 30, "the document lists its codes: {codes:?}");
    let documented = codes.len();
    // The flows' own codes: `invalid("field", "code")` and `Conflict { code: "…" }`.
    let mut sources = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
    while let Some(path) = sources.pop() {
        if path.is_dir() {
            sources.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (marker, skip) in [("invalid(\"", 1), ("Conflict { code: \"", 0)] {
            for rest in text.split(marker).skip(1) {
                // The code is the literal right after the field's (`invalid("f", e.code())`
                // names no literal code).
                let parts: Vec<&str> = rest.split('"').collect();
                let code = if skip == 0 { parts.first() } else { parts.get(2).filter(|_| parts[1] == ", ") };
                if let Some(code) = code
                    && !code.is_empty()
                    && code.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                {
                    codes.insert(code.to_string());
                }
            }
        }
    }
    assert!(codes.len() > documented, "the source's codes were read");
    for locale in [Locale::En, Locale::Ro] {
        let t = locale.tr();
        let generic = [t.t("error-conflict"), t.t("error-invalid-input"), t.t("error-internal")];
        for code in &codes {
            let message = code_message(code, &t).unwrap_or_else(|| panic!("{code} has no message"));
            assert!(!generic.contains(&message), "{code}: generic message {message:?} ({locale:?})");
            assert!(!message.starts_with("error-") && !message.starts_with("field-"), "{code}: {message}");
        }
    }
}
