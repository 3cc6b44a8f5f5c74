//! The member dashboard (SPEC §3.3) and staff member management (SPEC §3.4), on both backends.

use crate::common;

use common::{TestApp, client, spawn};
use portico::domain::StaffRole;
use portico::flows::{self, Ctx};
use portico::store::tokens::{self, Purpose};
use serde_json::{Value, json};

const XSS: &str = "<img src=x onerror=alert(1)>";
const DASHBOARD: [&str; 6] = [
    "/dashboard",
    "/dashboard/profile",
    "/dashboard/keys",
    "/dashboard/authorizations",
    "/dashboard/storage",
    "/dashboard/locked",
];

struct Setup {
    app: TestApp,
    token: String,
}

async fn setup() -> Setup {
    let app = spawn().await;
    let token = app.admin_token().await;
    let input = flows::orgs::OrgInput {
        slug: "club".into(),
        name: "Club".into(),
        kind: "nonprofit".into(),
        company_name: None,
        signup: Some("open".into()),
    };
    flows::orgs::create(&app.store, &Ctx::cli(), &input).await.unwrap();
    Setup { app, token }
}

fn api() -> reqwest::Client {
    reqwest::Client::new()
}

impl Setup {
    /// Signs someone up through the real signup form; returns their signed-in browser and
    /// membership id.
    async fn member(&self, email: &str, username: &str, preferred: &str) -> (reqwest::Client, i64) {
        let now = portico::store::now();
        let mut tx = self.app.store.begin().await.unwrap();
        let token = tokens::issue(
            tx.conn(),
            Purpose::EmailVerification,
            ("signup_request", now),
            email,
            now + 3600,
            now,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let link = format!("/o/club/join/verify/{}", token.expose());
        let c = client();
        let form = [
            ("step", "details"),
            ("first_name", "Grace"),
            ("last_name", "Hopper"),
            ("preferred_name", preferred),
            ("username", username),
            ("password", "a long enough password"),
            ("password_confirm", "a long enough password"),
            ("accept_terms", "on"),
            ("accept_waiver", "on"),
        ];
        let r = self.app.post_form(&c, &link, &link, &form).await;
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        let id: i64 = sqlx::query_scalar(
            "SELECT m.id FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.email = $1",
        )
        .bind(email)
        .fetch_one(self.app.store.pool())
        .await
        .unwrap();
        (c, id)
    }

    async fn patch(&self, id: i64, body: Value) -> (u16, Value) {
        let r = api()
            .patch(self.app.url(&format!("/api/v1/orgs/club/members/{id}")))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = api().request(method, self.app.url(path)).bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn the_dashboard_shows_each_membership_with_its_own_organisation_status_and_name() {
    let s = setup().await;
    let (c, club_id) = s.member("two@example.org", "twoorgs", "").await;
    let guild = flows::orgs::OrgInput {
        slug: "guild".into(),
        name: "Guild".into(),
        kind: "nonprofit".into(),
        company_name: None,
        signup: Some("open".into()),
    };
    flows::orgs::create(&s.app.store, &Ctx::cli(), &guild).await.unwrap();
    let user_id: i64 = sqlx::query_scalar("SELECT user_id FROM memberships WHERE id = $1")
        .bind(club_id)
        .fetch_one(s.app.store.pool())
        .await
        .unwrap();
    let origin = portico::store::audit::Origin::default();
    flows::signup::join_with_account(&s.app.store, &origin, "guild", user_id, "two@example.org")
        .await
        .unwrap();
    assert_eq!(s.patch(club_id, json!({"status": "active", "reason": "paid"})).await.0, 200);

    // One membership per page, its name from its own record; the other has none yet.
    let facts = |page: &str| {
        page.split("<dl class=\"facts\">").nth(1).unwrap().split("</dl>").next().unwrap().to_string()
    };
    let (status, club) = s.app.get_page(&c, "/dashboard?org=club").await;
    assert_eq!(status, 200);
    let club = facts(&club);
    assert!(club.contains("status-active") && club.contains("Grace Hopper"), "{club}");
    let (_, guild_page) = s.app.get_page(&c, "/dashboard?org=guild").await;
    assert!(guild_page.contains("<h2>Guild</h2>"), "{guild_page}");
    let guild = facts(&guild_page);
    assert!(guild.contains("status-pending") && !guild.contains("Grace Hopper"), "{guild}");
    // Without `org`: the first by name; both are listed with their own status.
    let (_, first) = s.app.get_page(&c, "/dashboard").await;
    assert!(first.contains("<h2>Club</h2>") && facts(&first).contains("Grace Hopper"));
    let table = first.split("<tbody>").nth(1).unwrap();
    let (club_row, guild_row) = table.split_once("</tr>").unwrap();
    assert!(club_row.contains("/dashboard?org=club") && club_row.contains("<td>Active</td>"), "{club_row}");
    assert!(
        guild_row.contains("/dashboard?org=guild") && guild_row.contains("<td>Pending</td>"),
        "{guild_row}"
    );
}

#[tokio::test]
async fn every_dashboard_page_renders_for_every_status_and_for_an_empty_record() {
    let s = setup().await;
    let (c, id) = s.member("grace@example.org", "grace", "").await;
    // Someone with an empty record: joined with an existing account.
    let password = s.app.create_staff("empty@example.org", StaffRole::Support).await;
    let empty = client();
    s.app.login(&empty, "empty@example.org", &password).await;
    assert_eq!(s.app.post_form(&empty, "/o/club/join", "/o/club/join/account", &[]).await.status(), 303);

    for (status, reason) in
        [("pending", None), ("active", Some("paid")), ("suspended", Some("late")), ("banned", Some("rules"))]
    {
        if let Some(reason) = reason {
            let (code, body) = s.patch(id, json!({"status": status, "reason": reason})).await;
            assert_eq!(code, 200, "{body}");
        }
        for path in DASHBOARD {
            let r = c.get(s.app.url(path)).send().await.unwrap();
            let code = r.status().as_u16();
            let location = r.headers().get("location").map(|v| v.to_str().unwrap().to_string());
            match (status, path) {
                ("banned", "/dashboard/locked") => {
                    assert_eq!(code, 403);
                    assert!(r.text().await.unwrap().contains("Your membership is locked"));
                }
                ("banned", _) => {
                    assert_eq!(
                        (code, location.as_deref()),
                        (303, Some("/dashboard/locked?org=club")),
                        "{path}"
                    );
                }
                (_, "/dashboard/locked") => assert_eq!(code, 303, "not locked"),
                _ => {
                    assert_eq!(code, 200, "{status} {path}");
                    let body = r.text().await.unwrap();
                    assert!(body.contains("Grace") || path != "/dashboard", "{body}");
                }
            }
        }
    }
    for path in &DASHBOARD[..5] {
        let (code, _) = s.app.get_page(&empty, path).await;
        assert_eq!(code, 200, "empty record: {path}");
    }
    // A signed-in person with no membership at all.
    let password = s.app.create_staff("nobody@example.org", StaffRole::Support).await;
    let nobody = client();
    s.app.login(&nobody, "nobody@example.org", &password).await;
    for path in &DASHBOARD[..5] {
        let (code, body) = s.app.get_page(&nobody, path).await;
        assert_eq!(code, 200, "{path}");
        assert!(body.contains("You are not a member of any organisation yet."));
    }
    assert_eq!(
        client().get(s.app.url("/dashboard/keys")).send().await.unwrap().status(),
        303,
        "signed out → login"
    );
}

#[tokio::test]
async fn keys_change_only_while_active_and_are_unique_among_live_keys() {
    let s = setup().await;
    let (grace, grace_id) = s.member("grace@example.org", "grace", "").await;
    let (alan, alan_id) = s.member("alan@example.org", "alan", "").await;
    let add = |c: &reqwest::Client, tag: &'static str| {
        let app = &s.app;
        let c = c.clone();
        async move {
            app.post_form(&c, "/dashboard/keys", "/dashboard/keys", &[("tag", tag)]).await.status().as_u16()
        }
    };
    assert_eq!(add(&grace, "0123456789").await, 403, "pending members cannot add keys");
    for id in [grace_id, alan_id] {
        assert_eq!(s.patch(id, json!({"status": "active", "reason": "paid"})).await.0, 200);
    }
    assert_eq!(add(&grace, "123").await, 400);
    assert_eq!(add(&grace, "0123456789").await, 303);
    assert_eq!(add(&alan, "0123456789").await, 409, "live for another member of the organisation");
    let (_, page) = s.app.get_page(&alan, "/dashboard/keys").await;
    assert!(!page.contains("0123456789"), "alan does not see grace's key");
    let (_, page) = s.app.get_page(&grace, "/dashboard/keys").await;
    assert!(page.contains("<code>0123456789</code>"));

    let key_id: i64 =
        sqlx::query_scalar("SELECT id FROM member_credentials").fetch_one(s.app.store.pool()).await.unwrap();
    assert_eq!(s.patch(grace_id, json!({"status": "suspended", "reason": "late"})).await.0, 200);
    let r =
        s.app.post_form(&grace, "/dashboard/keys", &format!("/dashboard/keys/{key_id}/remove"), &[]).await;
    assert_eq!(r.status(), 403, "suspended members cannot change keys");
    assert_eq!(s.patch(grace_id, json!({"status": "active", "reason": "paid again"})).await.0, 200);
    let r =
        s.app.post_form(&grace, "/dashboard/keys", &format!("/dashboard/keys/{key_id}/remove"), &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(add(&alan, "0123456789").await, 303, "a removed key may be used again");
    assert_eq!(s.app.audit("member.credential_added").await.len(), 2);
}

#[tokio::test]
async fn profile_fields_with_markup_render_as_text_on_every_page() {
    let s = setup().await;
    let (c, id) = s.member("x@example.org", "xss", XSS).await;
    assert_eq!(s.patch(id, json!({"status": "active", "reason": "ok"})).await.0, 200);
    let r = s
        .app
        .post_form(
            &c,
            "/dashboard/profile",
            "/dashboard/profile",
            &[
                ("first_name", XSS),
                ("last_name", XSS),
                ("preferred_name", XSS),
                ("pronouns", "x/y"),
                ("emergency_contact", XSS),
                ("chat_handle", XSS),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let bad = s
        .app
        .post_form(
            &c,
            "/dashboard/profile",
            "/dashboard/profile",
            &[("first_name", "A"), ("last_name", "B"), ("phone", "nope")],
        )
        .await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("Enter a phone number"));
    for path in &DASHBOARD[..5] {
        let (code, body) = s.app.get_page(&c, path).await;
        assert_eq!(code, 200);
        assert!(!body.contains(XSS), "{path} renders markup");
    }
    let (_, profile) = s.app.get_page(&c, "/dashboard/profile").await;
    assert!(profile.contains("&#60;img src=x onerror=alert(1)&#62;"), "shown as text");
    let password = s.app.create_staff("staff@example.org", StaffRole::Admin).await;
    let staff = client();
    s.app.login(&staff, "staff@example.org", &password).await;
    for path in ["/staff/orgs/club".to_string(), format!("/staff/orgs/club/members/{id}")] {
        let (code, body) = s.app.get_page(&staff, &path).await;
        assert_eq!(code, 200);
        assert!(!body.contains(XSS), "{path} renders markup");
    }
    let (_, member) = s.app.get_page(&staff, &format!("/staff/orgs/club/members/{id}")).await;
    assert!(member.contains("&#60;img src=x onerror=alert(1)&#62;"));
}

#[tokio::test]
async fn status_changes_follow_the_transition_table_with_a_reason() {
    let s = setup().await;
    let (_, id) = s.member("t@example.org", "t", "").await;
    let (code, err) = s.patch(id, json!({"status": "active"})).await;
    assert_eq!((code, err["error"]["code"].as_str().unwrap()), (400, "required"), "a reason is needed");
    let (code, body) = s.patch(id, json!({"status": "active", "reason": "paid in cash"})).await;
    assert_eq!(code, 200);
    assert_eq!(body["status"], "active");
    assert!(body["member_since"].is_string());
    let events = s.app.audit("member.status_changed").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].details["reason"], "paid in cash");
    assert_eq!(events[0].details["from"], "pending");
    for (status, expected) in [
        ("pending", 422),
        ("active", 422),
        ("banned", 200),
        ("active", 422),
        ("pending", 422),
        ("suspended", 200),
    ] {
        let (code, body) = s.patch(id, json!({"status": status, "reason": "test"})).await;
        assert_eq!(code, expected, "to {status}: {body}");
        if code == 422 {
            assert_eq!(body["error"]["code"], "transition_not_allowed");
        }
    }
    let (code, body) = s.patch(id, json!({"role": "admin"})).await;
    assert_eq!((code, body["role"].as_str().unwrap()), (200, "admin"));
    assert_eq!(s.patch(id, json!({"status": "zombie", "reason": "x"})).await.0, 400);
    assert_eq!(s.patch(id, json!({"status": "active", "reason": "x", "extra": 1})).await.0, 400);
    assert_eq!(s.patch(9999, json!({"status": "active", "reason": "x"})).await.0, 404);
    assert_eq!(s.app.audit("member.status_changed").await.len(), 3);
}

#[tokio::test]
async fn notes_credentials_and_authorisations_through_the_api() {
    let s = setup().await;
    let (member, id) = s.member("n@example.org", "n", "").await;
    let (_, other) = s.member("o@example.org", "o", "").await;
    let base = format!("/api/v1/orgs/club/members/{id}");
    let (code, body) = s
        .call(
            reqwest::Method::POST,
            &format!("{base}/notes"),
            Some(json!({"text": "Brought a laser cutter"})),
        )
        .await;
    assert_eq!(code, 201);
    assert_eq!(body["notes"][0]["author"], "admin@portico.test");
    assert_eq!(
        s.call(reqwest::Method::POST, &format!("{base}/notes"), Some(json!({"text": "  "}))).await.0,
        400
    );
    s.call(reqwest::Method::POST, &format!("{base}/notes"), Some(json!({"text": "Second"}))).await;
    let (_, record) = s.call(reqwest::Method::GET, &base, None).await;
    assert_eq!(record["notes"].as_array().unwrap().len(), 2, "notes accumulate");
    assert_eq!(record["agreements"].as_array().unwrap().len(), 2);
    assert_eq!(record["profile"]["first_name"], "Grace");

    let (code, body) = s
        .call(reqwest::Method::POST, &format!("{base}/credentials"), Some(json!({"tag": "9876543210"})))
        .await;
    assert_eq!(code, 201);
    let credential = body["credentials"][0]["id"].as_i64().unwrap();
    let (code, err) = s
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/orgs/club/members/{other}/credentials"),
            Some(json!({"tag": "9876543210"})),
        )
        .await;
    assert_eq!((code, err["error"]["code"].as_str().unwrap()), (409, "credential_taken"));
    assert_eq!(
        s.call(reqwest::Method::POST, &format!("{base}/credentials"), Some(json!({"tag": "98765x3210"})))
            .await
            .0,
        400
    );
    assert_eq!(
        s.call(reqwest::Method::DELETE, &format!("{base}/credentials/{credential}"), None).await.0,
        200
    );
    assert_eq!(
        s.call(reqwest::Method::DELETE, &format!("{base}/credentials/{credential}"), None).await.0,
        404
    );

    let (code, err) = s.call(reqwest::Method::PUT, &format!("{base}/authorisations/Laser"), None).await;
    assert_eq!((code, err["error"]["code"].as_str().unwrap()), (404, "not_in_catalogue"));
    let (code, catalogue) =
        s.call(reqwest::Method::PUT, "/api/v1/orgs/club/authorisations/Laser", None).await;
    assert_eq!((code, catalogue["items"][0].as_str().unwrap()), (200, "Laser"));
    let (code, body) = s.call(reqwest::Method::PUT, &format!("{base}/authorisations/Laser"), None).await;
    assert_eq!((code, body["authorisations"][0]["name"].as_str().unwrap()), (200, "Laser"));
    let (_, page) = s.app.get_page(&member, "/dashboard/authorizations").await;
    assert!(page.contains("<td>Laser</td>"), "the member sees it");
    let (code, body) = s.call(reqwest::Method::DELETE, &format!("{base}/authorisations/Laser"), None).await;
    assert_eq!((code, body["authorisations"].as_array().unwrap().len()), (200, 0));
    assert_eq!(s.app.audit("member.authorisation_granted").await.len(), 1);
    assert_eq!(s.app.audit("member.note_added").await.len(), 2);
}

#[tokio::test]
async fn staff_manage_members_in_the_console_and_export_csv() {
    let s = setup().await;
    let (_, id) = s.member("ada@example.org", "ada", "").await;
    s.member("=cmd@example.org", "cmd", "").await;
    let password = s.app.create_staff("staff@example.org", StaffRole::Support).await;
    let c = client();
    s.app.login(&c, "staff@example.org", &password).await;
    let (_, page) = s.app.get_page(&c, "/staff/orgs/club?status=pending&q=ADA").await;
    assert!(page.contains("ada@example.org") && !page.contains("cmd@example.org"), "filtered and searched");
    let (_, page) = s.app.get_page(&c, "/staff/orgs/club?status=active").await;
    assert!(!page.contains("ada@example.org"));

    let member_page = format!("/staff/orgs/club/members/{id}");
    let (code, page) = s.app.get_page(&c, &member_page).await;
    assert_eq!(code, 200);
    assert!(page.contains("Grace Hopper") && page.contains("terms v1"));
    // Without CSRF nothing changes.
    let r = c
        .post(s.app.url(&format!("{member_page}/status")))
        .form(&[("status", "active"), ("reason", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = s
        .app
        .post_form(
            &c,
            &member_page,
            &format!("{member_page}/status"),
            &[("status", "active"), ("reason", "paid")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let r = s
        .app
        .post_form(
            &c,
            &member_page,
            &format!("{member_page}/status"),
            &[("status", "pending"), ("reason", "oops")],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("This status change is not allowed."));
    let r = s
        .app
        .post_form(&c, &member_page, &format!("{member_page}/note"), &[("text", "Met at the open evening")])
        .await;
    assert_eq!(r.status(), 303);
    let (_, page) = s.app.get_page(&c, &member_page).await;
    assert!(page.contains("Met at the open evening") && page.contains("The member was updated."));

    let r = c.get(s.app.url("/staff/orgs/club/members.csv")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = r.text().await.unwrap();
    assert!(csv.starts_with("membership_id,email,username,role,status,member_since\r\n"));
    assert!(csv.contains(",ada@example.org,ada,member,active,"));
    assert!(csv.contains(",'=cmd@example.org,cmd,"), "formula defused: {csv}");
}

#[tokio::test]
async fn staff_set_storage_and_custom_fields_which_are_validated() {
    let s = setup().await;
    let (member, id) = s.member("st@example.org", "st", "").await;
    let (code, body) =
        s.patch(id, json!({"storage": "Shelf <B3>", "custom_fields": {"tshirt": "M", "locker": 12}})).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["profile"]["storage"], "Shelf <B3>");
    assert_eq!(body["profile"]["custom_fields"]["locker"], 12);
    let (_, page) = s.app.get_page(&member, "/dashboard/storage").await;
    assert!(page.contains("<strong>Shelf &#60;B3&#62;</strong>"), "{page}");
    let big = "x".repeat(5000);
    for bad in [
        json!({"custom_fields": {"nested": {"a": 1}}}),
        json!({"custom_fields": [1, 2]}),
        json!({"custom_fields": {"k": big}}),
    ] {
        let (code, err) = s.patch(id, bad).await;
        assert_eq!((code, err["error"]["code"].as_str().unwrap()), (400, "invalid_custom_fields"));
    }
    let (_, record) = s.call(reqwest::Method::GET, &format!("/api/v1/orgs/club/members/{id}"), None).await;
    assert_eq!(
        record["profile"]["custom_fields"],
        json!({"tshirt": "M", "locker": 12}),
        "unchanged by bad input"
    );
    let (code, body) = s.patch(id, json!({"storage": ""})).await;
    assert_eq!((code, body["profile"]["storage"].is_null()), (200, true), "an empty storage clears it");
}

/// Sends a raw JSON text (serde_json would merge duplicate keys before they are sent).
async fn patch_raw(s: &Setup, id: i64, body: &str) -> (u16, Value) {
    let r = api()
        .patch(s.app.url(&format!("/api/v1/orgs/club/members/{id}")))
        .bearer_auth(&s.token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn one_text_rule_for_every_stored_free_text_field() {
    let s = setup().await;
    let (_, id) = s.member("text@example.org", "text", "").await;

    // The status-change reason: no control or invisible characters, each named as such.
    let (code, body) = s.patch(id, json!({"status": "active", "reason": "ok\u{0}then"})).await;
    assert_eq!((code, body["error"]["code"].as_str()), (400, Some("control_character")), "{body}");
    let (code, body) = s.patch(id, json!({"status": "active", "reason": "paid\u{202E}diap"})).await;
    assert_eq!((code, body["error"]["code"].as_str()), (400, Some("invisible_character")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("invisible character"), "{body}");

    // Custom fields: duplicate keys are refused, not silently merged; keys and values follow the rule.
    let (code, body) = patch_raw(&s, id, r#"{"custom_fields": {"size": "M", "size": "XL"}}"#).await;
    assert_eq!(code, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("duplicate key \"size\""), "{body}");
    for bad in [json!({"custom_fields": {"bad\u{1}key": 1}}), json!({"custom_fields": {"k": "v\u{200B}"}})] {
        let (code, body) = s.patch(id, bad).await;
        assert_eq!((code, body["error"]["code"].as_str()), (400, Some("invalid_custom_fields")), "{body}");
    }
    let (_, record) = s.call(reqwest::Method::GET, &format!("/api/v1/orgs/club/members/{id}"), None).await;
    assert_eq!(record["profile"]["custom_fields"], json!({}), "nothing stored");

    // Notes are multi-line: a line break is kept, a NUL is not.
    let notes = format!("/api/v1/orgs/club/members/{id}/notes");
    let (code, _) = s.call(reqwest::Method::POST, &notes, Some(json!({"text": "line one\nline two"}))).await;
    assert_eq!(code, 201);
    let (code, body) = s.call(reqwest::Method::POST, &notes, Some(json!({"text": "nul\u{0}"}))).await;
    assert_eq!((code, body["error"]["code"].as_str()), (400, Some("control_character")), "{body}");

    // Organisation names: the real reason, not "at most 200 characters".
    let create = |name: &str| {
        api()
            .post(s.app.url("/api/v1/orgs"))
            .bearer_auth(&s.token)
            .json(&json!({"slug": "named", "name": name, "kind": "nonprofit"}))
            .send()
    };
    let r: Value = create("Evil\u{202E}gro").await.unwrap().json().await.unwrap();
    assert_eq!(r["error"]["code"], "invisible_character", "{r}");
    let r: Value = create("Tab\tname").await.unwrap().json().await.unwrap();
    assert_eq!(r["error"]["code"], "control_character", "{r}");
    assert!(!r["error"]["message"].as_str().unwrap().contains("200"), "{r}");
    let r: Value = create("Zero\u{200B}width").await.unwrap().json().await.unwrap();
    assert_eq!(r["error"]["code"], "invisible_character", "{r}");
    assert_eq!(s.app.count("SELECT COUNT(*) FROM organisations WHERE slug = 'named'").await, 0);

    // The catalogue's limit is its own (60), and a control character says so.
    let (code, body) = s
        .call(reqwest::Method::PUT, &format!("/api/v1/orgs/club/authorisations/{}", "x".repeat(61)), None)
        .await;
    assert_eq!((code, body["error"]["code"].as_str()), (400, Some("too_long")), "{body}");
}

#[tokio::test]
async fn a_duplicate_field_in_a_console_action_is_a_bad_request() {
    let s = setup().await;
    let (_, id) = s.member("dup@example.org", "dup", "").await;
    let password = s.app.create_staff("desk@example.org", StaffRole::Admin).await;
    let c = client();
    s.app.login(&c, "desk@example.org", &password).await;
    let page_path = format!("/staff/orgs/club/members/{id}");
    let r = s
        .app
        .post_form(&c, &page_path, &format!("{page_path}/note"), &[("text", "one"), ("text", "two")])
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(s.app.count("SELECT COUNT(*) FROM member_notes").await, 0);
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let s = setup().await;
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let r = api()
            .get(s.app.url("/api/v1/orgs/club"))
            .header("authorization", format!("{scheme} {}", s.token))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{scheme}");
    }
    let basic =
        api().get(s.app.url("/api/v1/orgs/club")).header("authorization", "Basic abc").send().await.unwrap();
    assert_eq!(basic.status(), 401);
}

#[tokio::test]
async fn a_member_change_is_checked_whole_before_anything_is_written() {
    let s = setup().await;
    let (_, id) = s.member("whole@example.org", "whole", "").await;
    // A status change the table refuses (pending cannot be suspended) with a storage change:
    // neither happens.
    let (code, body) =
        s.patch(id, json!({"status": "suspended", "reason": "test", "storage": "Shelf 9"})).await;
    assert_eq!(code, 422, "{body}");
    // Bad custom fields with a valid status change: neither happens.
    let (code, _) = s.patch(id, json!({"status": "active", "reason": "paid", "custom_fields": [1]})).await;
    assert_eq!(code, 400);
    let (_, record) = s.call(reqwest::Method::GET, &format!("/api/v1/orgs/club/members/{id}"), None).await;
    assert!(record["profile"]["storage"].is_null(), "{record}");
    assert_eq!(record["status"], "pending", "{record}");
    // `null` is not a way to leave a field out.
    let (code, body) = s.patch(id, json!({"status": null, "storage": "Shelf 1"})).await;
    assert_eq!(code, 400, "{body}");
    let (code, _) = s.patch(id, json!({"status": "active", "reason": "paid", "storage": "Shelf 1"})).await;
    assert_eq!(code, 200);
    let (_, record) = s.call(reqwest::Method::GET, &format!("/api/v1/orgs/club/members/{id}"), None).await;
    assert_eq!(
        (record["status"].as_str(), record["profile"]["storage"].as_str()),
        (Some("active"), Some("Shelf 1"))
    );
}

#[tokio::test]
async fn the_member_page_shows_the_whole_history_newest_first() {
    let s = setup().await;
    let (_, id) = s.member("life@example.org", "life", "").await;
    let (_, other) = s.member("other@example.org", "other", "").await;
    let base = format!("/api/v1/orgs/club/members/{id}");
    assert_eq!(s.patch(id, json!({"status": "active", "reason": "paid"})).await.0, 200);
    let key = s
        .call(reqwest::Method::POST, &format!("{base}/credentials"), Some(json!({"tag": "5555555555"})))
        .await;
    assert_eq!(key.0, 201);
    assert_eq!(s.call(reqwest::Method::PUT, "/api/v1/orgs/club/authorisations/Lathe", None).await.0, 200);
    assert_eq!(s.call(reqwest::Method::PUT, &format!("{base}/authorisations/Lathe"), None).await.0, 200);
    assert_eq!(s.patch(id, json!({"status": "suspended", "reason": "late fees"})).await.0, 200);
    let note =
        s.call(reqwest::Method::POST, &format!("{base}/notes"), Some(json!({"text": "Called them"}))).await;
    assert_eq!(note.0, 201);
    assert_eq!(s.patch(other, json!({"status": "active", "reason": "someone else"})).await.0, 200);

    let password = s.app.create_staff("history@portico.test", StaffRole::Support).await;
    let c = client();
    assert_eq!(s.app.login(&c, "history@portico.test", &password).await.status(), 303);
    let (status, page) = s.app.get_page(&c, &format!("/staff/orgs/club/members/{id}")).await;
    assert_eq!(status, 200);
    let history = page.split("id=\"history\"").nth(1).unwrap();
    let order: Vec<usize> = [
        "member.note_added",
        "late fees",
        "member.authorisation_granted",
        "member.credential_added",
        "<dd>paid</dd>",
        "member.signed_up",
    ]
    .iter()
    .map(|needle| history.find(needle).unwrap_or_else(|| panic!("{needle} in {history}")))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "newest first: {order:?}");
    assert!(history.contains("admin@portico.test"), "who did it");
    assert!(!history.contains("someone else"), "another member's events are not shown");

    // The member changes their address (as `/account` does it: the link's confirmation writes
    // the change and an `account.email_changed` naming the old address): the history keeps
    // the events written under the old one.
    let user_id: i64 = sqlx::query_scalar("SELECT user_id FROM memberships WHERE id = $1")
        .bind(id)
        .fetch_one(s.app.store.pool())
        .await
        .unwrap();
    let old: String = sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(s.app.store.pool())
        .await
        .unwrap();
    let mut tx = s.app.store.begin().await.unwrap();
    let renamed = portico::domain::Email::parse("renamed@example.org").unwrap();
    portico::store::users::set_email(tx.conn(), user_id, &renamed).await.unwrap();
    portico::store::audit::record(
        tx.conn(),
        portico::store::audit::NewEvent {
            actor: &portico::store::audit::Actor::user(user_id, "renamed@example.org"),
            origin: &Default::default(),
            action: "account.email_changed",
            target: Some("renamed@example.org"),
            org_id: None,
            details: json!({"from": old, "to": "renamed@example.org"}),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let (_, page) = s.app.get_page(&c, &format!("/staff/orgs/club/members/{id}")).await;
    let history = page.split("id=\"history\"").nth(1).unwrap();
    for needle in ["account.email_changed", "late fees", "member.signed_up"] {
        assert!(history.contains(needle), "{needle} after the address change");
    }
}

#[tokio::test]
async fn an_invited_members_history_holds_their_whole_life() {
    let s = setup().await;
    let (code, invitation) = s
        .call(
            reqwest::Method::POST,
            "/api/v1/orgs/club/invitations",
            Some(json!({"email": "invited@example.org"})),
        )
        .await;
    assert_eq!(code, 201, "{invitation}");
    // A fresh link for the invitation, as a resend makes one (the emailed one is not readable
    // here: no SMTP server, and the outbox drops a body once it is sent).
    let invitation_id = invitation["id"].as_i64().unwrap();
    let now = portico::store::now();
    let mut tx = s.app.store.begin().await.unwrap();
    let token = tokens::issue(
        tx.conn(),
        Purpose::Invitation,
        ("invitation", invitation_id),
        "invited@example.org",
        now + 3600,
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let link = format!("/invite/{}", token.expose());
    let link = link.as_str();
    let invitee = client();
    let fields = [
        ("mode", "new"),
        ("password", "an invited passphrase"),
        ("password_confirm", "an invited passphrase"),
    ];
    assert_eq!(s.app.post_form(&invitee, link, link, &fields).await.status(), 303);
    let (_, members) = s.call(reqwest::Method::GET, "/api/v1/orgs/club/members?q=invited", None).await;
    let id = members["items"][0]["id"].as_i64().unwrap();
    let base = format!("/api/v1/orgs/club/members/{id}");
    // (an accepted invitation is an active membership)
    let key = s
        .call(reqwest::Method::POST, &format!("{base}/credentials"), Some(json!({"tag": "7777777777"})))
        .await;
    assert_eq!(key.0, 201);
    assert_eq!(s.call(reqwest::Method::PUT, "/api/v1/orgs/club/authorisations/Laser", None).await.0, 200);
    assert_eq!(s.call(reqwest::Method::PUT, &format!("{base}/authorisations/Laser"), None).await.0, 200);
    assert_eq!(s.patch(id, json!({"status": "suspended", "reason": "unpaid storage"})).await.0, 200);
    let note = s
        .call(reqwest::Method::POST, &format!("{base}/notes"), Some(json!({"text": "Spoke at the door"})))
        .await;
    assert_eq!(note.0, 201);

    let password = s.app.create_staff("reader@portico.test", StaffRole::Support).await;
    let c = client();
    s.app.login(&c, "reader@portico.test", &password).await;
    let (status, page) = s.app.get_page(&c, &format!("/staff/orgs/club/members/{id}")).await;
    assert_eq!(status, 200);
    let history = page.split("id=\"history\"").nth(1).unwrap();
    // Newest first: the note, the suspension with its reason, the authorisation, the key, the
    // acceptance, the invitation.
    let order: Vec<usize> = [
        "member.note_added",
        "unpaid storage",
        "member.authorisation_granted",
        "member.credential_added",
        "invitation.accepted",
        "invitation.created",
    ]
    .iter()
    .map(|needle| history.find(needle).unwrap_or_else(|| panic!("{needle} in {history}")))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "newest first: {order:?}");
    assert!(history.contains("<dt>reason</dt><dd>unpaid storage</dd>"), "the reason reads as text");
}

/// Authorisation names have a grammar (what a door or a tool is called), the same over the API,
/// the console and the OpenAPI document: nothing that could not be addressed as one path segment
/// gets into the catalogue, and every name that does can be granted and revoked by its path.
#[tokio::test]
async fn authorisation_names_that_cannot_be_addressed_are_refused_everywhere() {
    let s = setup().await;
    for bad in ["..%2F..%2Fx", "a%2Fb", ".hidden", "-dash", "a%5Cb", "x%3Fy"] {
        let (code, body) =
            s.call(reqwest::Method::PUT, &format!("/api/v1/orgs/club/authorisations/{bad}"), None).await;
        assert_eq!(
            (code, body["error"]["code"].as_str()),
            (400, Some("invalid_authorisation_name")),
            "{bad}"
        );
        assert!(body["error"]["message"].as_str().unwrap().contains("no slashes"), "{body}");
    }
    let (code, body) = s
        .call(
            reqwest::Method::PUT,
            "/api/v1/orgs/club/authorisations/Lathe",
            Some(json!({"requires": ["../x"]})),
        )
        .await;
    assert_eq!((code, body["error"]["code"].as_str()), (400, Some("invalid_prerequisites")), "{body}");
    // The console's catalogue form takes the same rule.
    let password = s.app.create_staff("desk@example.org", StaffRole::Admin).await;
    let c = client();
    s.app.login(&c, "desk@example.org", &password).await;
    let r =
        s.app.post_form(&c, "/staff/orgs/club", "/staff/orgs/club/catalogue", &[("name", "tools/saw")]).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("no slashes"));
    assert_eq!(s.app.count("SELECT COUNT(*) FROM org_authorisations").await, 0);

    // A name with spaces and accents is addressed by its path, percent-encoded.
    let (code, _) =
        s.call(reqwest::Method::PUT, "/api/v1/orgs/club/authorisations/Sudur%C4%83%202", None).await;
    assert_eq!(code, 200);
    let (_, id) = s.member("weld@example.org", "weld", "").await;
    let path = format!("/api/v1/orgs/club/members/{id}/authorisations/Sudur%C4%83%202");
    let (code, body) = s.call(reqwest::Method::PUT, &path, None).await;
    assert_eq!((code, body["authorisations"][0]["name"].as_str()), (200, Some("Sudură 2")), "{body}");
    let (code, body) = s.call(reqwest::Method::DELETE, &path, None).await;
    assert_eq!((code, body["authorisations"].as_array().map(Vec::len)), (200, Some(0)), "{body}");
}
