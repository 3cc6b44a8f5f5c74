//! Door access (SPEC §3.6) and the authorisation and timed-suspension parts of §3.8, over HTTP
//! on both backends: list contents, ETag/304, device tokens, long polls woken by a change in
//! any process, proof of revocation, prerequisites, expiry, timed suspension.

use crate::common;

use std::time::{Duration, Instant};

use common::{TestApp, spawn_on, spawn_with};
use portico::config::Config;
use portico::flows::{self, Ctx};
use portico::store::now;
use serde_json::{Value, json};

struct Space {
    app: TestApp,
    token: String,
}

async fn org(app: &TestApp, slug: &str) {
    let input = flows::orgs::OrgInput {
        slug: slug.into(),
        name: format!("The {slug}"),
        kind: "nonprofit".into(),
        company_name: None,
        signup: Some("open".into()),
    };
    flows::orgs::create(&app.store, &Ctx::cli(), &input).await.unwrap();
}

async fn space_with(adjust: impl FnOnce(&mut Config)) -> Space {
    let app = spawn_with(adjust).await;
    org(&app, "space").await;
    let token = app.admin_token().await;
    Space { app, token }
}

async fn space() -> Space {
    space_with(|_| {}).await
}

impl Space {
    fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new().request(method, self.app.url(path)).bearer_auth(&self.token)
    }

    async fn put_catalogue(&self, name: &str, rules: Value) -> (u16, Value) {
        let r = self
            .api(reqwest::Method::PUT, &format!("/api/v1/orgs/space/authorisations/{name}"))
            .json(&rules)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// A member of `space` with status `status` and an RFID key `tag`; returns the membership id.
    async fn member(&self, email: &str, status: &str, tag: &str) -> i64 {
        let id = self.app.join("space", email, None).await;
        let r = self
            .api(reqwest::Method::POST, &format!("/api/v1/orgs/space/members/{id}/credentials"))
            .json(&json!({ "tag": tag }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let path = ["active", "suspended", "banned"];
        let steps: &[&str] = match status {
            "pending" => &[],
            "active" => &path[..1],
            "suspended" => &path[..2],
            _ => &["banned"],
        };
        for step in steps {
            self.set_status(id, json!({ "status": step, "reason": "test" })).await;
        }
        id
    }

    async fn set_status(&self, id: i64, change: Value) -> u16 {
        let r = self
            .api(reqwest::Method::PATCH, &format!("/api/v1/orgs/space/members/{id}"))
            .json(&change)
            .send()
            .await
            .unwrap();
        r.status().as_u16()
    }

    async fn grant(&self, id: i64, name: &str) -> (u16, Value) {
        let r = self
            .api(reqwest::Method::PUT, &format!("/api/v1/orgs/space/members/{id}/authorisations/{name}"))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn device(&self, name: &str, requires: Option<&str>) -> String {
        let mut body = json!({ "name": name });
        if let Some(r) = requires {
            body["requires"] = r.into();
        }
        let r =
            self.api(reqwest::Method::POST, "/api/v1/orgs/space/devices").json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201);
        let created: Value = r.json().await.unwrap();
        created["token"].as_str().unwrap().to_string()
    }
}

/// Polls the access list as a device: (status, ETag, body).
async fn poll(app: &TestApp, slug: &str, token: &str, held: Option<&str>, wait: u64) -> (u16, String, Value) {
    let mut request = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/orgs/{slug}/access-list?wait={wait}")))
        .bearer_auth(token);
    if let Some(v) = held {
        request = request.header("if-none-match", format!("\"{v}\""));
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let etag = r
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().trim_matches('"').to_string())
        .unwrap_or_default();
    (status, etag, r.json().await.unwrap_or(Value::Null))
}

fn tags(list: &Value) -> Vec<String> {
    list["credentials"].as_array().unwrap().iter().map(|c| c["tag"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn the_list_holds_active_members_with_the_required_authorisation() {
    let s = space().await;
    assert_eq!(s.put_catalogue("woodshop", json!({})).await.0, 200);
    let active = s.member("active@example.org", "active", "0000000001").await;
    s.member("pending@example.org", "pending", "0000000002").await;
    s.member("suspended@example.org", "suspended", "0000000003").await;
    s.member("banned@example.org", "banned", "0000000004").await;
    let woodworker = s.member("wood@example.org", "active", "0000000005").await;
    let lapsed = s.member("lapsed@example.org", "active", "0000000006").await;
    assert_eq!(s.grant(woodworker, "woodshop").await.0, 200);
    assert_eq!(s.grant(lapsed, "woodshop").await.0, 200);
    sqlx::query("UPDATE member_authorisations SET expires_at = $1 WHERE membership_id = $2")
        .bind(now() - 1)
        .bind(lapsed)
        .execute(s.app.store.pool())
        .await
        .unwrap();
    let door = s.device("Front door", None).await;
    let saw = s.device("Table saw", Some("woodshop")).await;

    let (status, etag, list) = poll(&s.app, "space", &door, None, 0).await;
    assert_eq!(status, 200);
    assert_eq!(tags(&list), ["0000000001", "0000000005", "0000000006"]);
    assert_eq!(list["version"].as_str(), Some(etag.as_str()), "the ETag is the version");
    assert_eq!(list["credentials"][0]["member"], active);
    assert!(list["generated_at"].as_str().unwrap().ends_with('Z'));
    let (_, _, list) = poll(&s.app, "space", &saw, None, 0).await;
    assert_eq!(tags(&list), ["0000000005"], "only an unexpired woodshop authorisation counts");

    // The version held is current: 304, and the same version from a second read.
    let (status, again, _) = poll(&s.app, "space", &door, Some(&etag), 0).await;
    assert_eq!((status, again.as_str()), (304, etag.as_str()));
    // A change makes a new version.
    s.set_status(active, json!({ "status": "suspended", "reason": "test" })).await;
    let (status, newer, list) = poll(&s.app, "space", &door, Some(&etag), 0).await;
    assert_eq!(status, 200);
    assert_ne!(newer, etag);
    assert_eq!(tags(&list), ["0000000005", "0000000006"]);
}

#[tokio::test]
async fn tokens_are_checked_and_bound_to_their_organisation() {
    let s = space().await;
    org(&s.app, "other").await;
    let door = s.device("Front door", None).await;
    let (status, _, body) = poll(&s.app, "space", "pdv_not_a_token", None, 0).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")));
    let (status, _, _) = poll(&s.app, "space", &s.token, None, 0).await;
    assert_eq!(status, 401, "a staff API token is not a device token");
    let (status, _, _) = poll(&s.app, "other", &door, None, 0).await;
    assert_eq!(status, 403, "a device of another organisation");
    let r = reqwest::Client::new()
        .get(s.app.url("/api/v1/orgs/space/access-list?wait=61"))
        .bearer_auth(&door)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Revoked: refused at once.
    let devices: Value =
        s.api(reqwest::Method::GET, "/api/v1/orgs/space/devices").send().await.unwrap().json().await.unwrap();
    let id = devices["items"][0]["id"].as_i64().unwrap();
    let r = s
        .api(reqwest::Method::POST, &format!("/api/v1/orgs/space/devices/{id}/revoke"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(poll(&s.app, "space", &door, None, 0).await.0, 401);
    // Only the hash of a token is stored.
    let stored: String =
        sqlx::query_scalar("SELECT token_hash FROM devices").fetch_one(s.app.store.pool()).await.unwrap();
    assert!(!stored.contains(&door[4..]));
    assert_eq!(s.app.audit("device.revoked").await.len(), 1);
}

#[tokio::test]
async fn a_ban_reaches_a_long_polling_door_within_a_second_and_the_console_proves_it() {
    let s = space().await;
    let member = s.member("ban@example.org", "active", "0000000007").await;
    let door = s.device("Front door", None).await;
    let (_, version, _) = poll(&s.app, "space", &door, None, 0).await;

    let app = &s.app;
    let waiting = poll(app, "space", &door, Some(&version), 30);
    let ban = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let banned_at = Instant::now();
        assert_eq!(s.set_status(member, json!({ "status": "banned", "reason": "theft" })).await, 200);
        banned_at
    };
    let ((status, newer, list), banned_at) = tokio::join!(waiting, ban);
    let lag = banned_at.elapsed();
    assert_eq!(status, 200);
    assert_ne!(newer, version);
    assert!(tags(&list).is_empty());
    assert!(lag < Duration::from_millis(1500), "the waiting door got the new list after {lag:?}");

    // The console: the revocation, with the door having picked it up.
    let staff = common::client();
    let password = s.app.create_staff("support@example.org", portico::domain::StaffRole::Support).await;
    s.app.login(&staff, "support@example.org", &password).await;
    let (status, page) = s.app.get_page(&staff, "/staff/orgs/space/devices").await;
    assert_eq!(status, 200);
    assert!(page.contains("status active → banned"), "{page}");
    assert!(page.contains("Front door: picked up after"), "{page}");
    assert!(page.contains("Current"), "{page}");
    let pickups = s.app.count("SELECT COUNT(*) FROM access_pickups").await;
    assert_eq!(pickups, 1);
}

#[tokio::test]
async fn a_change_through_one_process_wakes_a_door_waiting_on_another() {
    let s = space().await;
    let member = s.member("two@example.org", "active", "0000000008").await;
    let door = s.device("Back door", None).await;
    // A second server on the same database.
    let second = spawn_on(s.app.database_url.clone(), None, |_| {}).await;
    let (_, version, _) = poll(&second, "space", &door, None, 0).await;
    let waiting = poll(&second, "space", &door, Some(&version), 30);
    let change = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let at = Instant::now();
        assert_eq!(s.set_status(member, json!({ "status": "suspended", "reason": "dues" })).await, 200);
        at
    };
    let ((status, _, list), changed_at) = tokio::join!(waiting, change);
    assert_eq!(status, 200);
    assert!(tags(&list).is_empty());
    assert!(changed_at.elapsed() < Duration::from_millis(1500), "woken after {:?}", changed_at.elapsed());
}

#[tokio::test]
async fn prerequisites_are_enforced_and_expired_authorisations_leave_the_list() {
    let s = space_with(|c| c.scheduler_secs = 1).await;
    assert_eq!(s.put_catalogue("woodshop", json!({ "valid_days": 365 })).await.0, 200);
    let (status, catalogue) = s.put_catalogue("lathe", json!({ "requires": ["woodshop"] })).await;
    assert_eq!(status, 200);
    assert!(
        catalogue["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "lathe" && e["requires"] == json!(["woodshop"]))
    );
    assert_eq!(s.put_catalogue("bad", json!({ "requires": ["nothing"] })).await.0, 404);
    assert_eq!(s.put_catalogue("bad", json!({ "valid_days": 0 })).await.0, 400);
    assert_eq!(s.put_catalogue("bad", json!([])).await.0, 400, "an array is not a body of rules");
    let r = s
        .api(reqwest::Method::POST, "/api/v1/orgs/space/devices")
        .json(&json!(["Door"]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "serde would read a struct from an array; the API does not");
    let (status, body) = s.put_catalogue("loop", json!({ "requires": ["loop"] })).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("self_prerequisite")));

    let member = s.member("turner@example.org", "active", "0000000009").await;
    let (status, body) = s.grant(member, "lathe").await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("missing_prerequisites")));
    assert!(body["error"]["message"].as_str().unwrap().contains("woodshop"), "{body}");
    assert_eq!(s.grant(member, "woodshop").await.0, 200);
    let (status, record) = s.grant(member, "lathe").await;
    assert_eq!(status, 200);
    let woodshop =
        record["authorisations"].as_array().unwrap().iter().find(|a| a["name"] == "woodshop").unwrap();
    let expires = woodshop["expires_at"].as_i64().unwrap();
    assert!((expires - (now() + 365 * 86_400)).abs() < 60, "a year from the grant");
    assert_eq!(record["authorisations"][0]["granted_by"], "admin@portico.test");

    let saw = s.device("Saw", Some("woodshop")).await;
    let (_, version, list) = poll(&s.app, "space", &saw, None, 0).await;
    assert_eq!(tags(&list), ["0000000009"]);
    // The year passes.
    sqlx::query("UPDATE member_authorisations SET expires_at = $1 WHERE name = 'woodshop'")
        .bind(now() - 1)
        .execute(s.app.store.pool())
        .await
        .unwrap();
    let (status, _, list) = poll(&s.app, "space", &saw, Some(&version), 10).await;
    assert_eq!(status, 200);
    assert!(tags(&list).is_empty());
    // The scheduler records the expiry as a revocation, audited.
    let started = Instant::now();
    while s.app.audit("member.authorisation_expired").await.is_empty() {
        assert!(started.elapsed() < Duration::from_secs(10), "the expiry was not recorded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let cause: String =
        sqlx::query_scalar("SELECT cause FROM access_changes WHERE removes = 1 ORDER BY id DESC")
            .fetch_one(s.app.store.pool())
            .await
            .unwrap();
    assert_eq!(cause, "schedule");
    // An expired prerequisite no longer counts.
    assert_eq!(s.grant(member, "lathe").await.0, 409);
}

#[tokio::test]
async fn a_timed_suspension_ends_by_itself_unless_the_member_was_banned_meanwhile() {
    let s = space_with(|c| c.scheduler_secs = 1).await;
    let first = s.member("first@example.org", "active", "0000000010").await;
    let second = s.member("second@example.org", "active", "0000000011").await;
    let until = portico::domain::rfc3339(now() + 2);
    for id in [first, second] {
        let change = json!({ "status": "suspended", "reason": "cooling off", "until": until });
        assert_eq!(s.set_status(id, change).await, 200);
    }
    assert_eq!(s.set_status(second, json!({ "status": "banned", "reason": "worse" })).await, 200);
    assert_eq!(
        s.set_status(first, json!({ "status": "active", "reason": "x", "until": until })).await,
        400,
        "until is for suspensions"
    );
    let status = |id: i64| {
        let pool = s.app.store.pool().clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT status FROM memberships WHERE id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let started = Instant::now();
    while status(first).await != "active" {
        assert!(started.elapsed() < Duration::from_secs(10), "the suspension did not end");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status(second).await, "banned");
    let scheduled: Vec<_> = s
        .app
        .audit("member.status_changed")
        .await
        .into_iter()
        .filter(|e| e.details["cause"] == "schedule")
        .collect();
    assert_eq!(scheduled.len(), 1);
    assert_eq!(scheduled[0].target.as_deref(), Some("first@example.org"));
}

#[tokio::test]
async fn the_reference_client_keeps_the_list_in_a_file() {
    if std::process::Command::new("python3").arg("--version").output().is_err() {
        eprintln!("python3 not found: SKIPPING the reference client test");
        return;
    }
    let s = space().await;
    s.member("client@example.org", "active", "0000000012").await;
    let door = s.device("Side door", None).await;
    let dir = std::env::temp_dir().join(format!("portico-door-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("access-list.json");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/door_poll.py");
    let run = |wait: &str| {
        let mut command = std::process::Command::new("python3");
        command
            .args([
                script,
                "--base",
                &s.app.base,
                "--org",
                "space",
                "--out",
                out.to_str().unwrap(),
                "--once",
                "--wait",
                wait,
            ])
            .env("PORTICO_DEVICE_TOKEN", &door);
        async move {
            let output = tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap();
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        }
    };
    run("0").await;
    let list: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(tags(&list), ["0000000012"]);
    // The second run sends the version it holds: a 304, the file unchanged, and the device
    // shows as current in the console.
    run("0").await;
    let devices: Value =
        s.api(reqwest::Method::GET, "/api/v1/orgs/space/devices").send().await.unwrap().json().await.unwrap();
    assert_eq!(devices["items"][0]["current"], true, "{devices}");
    assert_eq!(devices["items"][0]["held_version"], list["version"]);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn staff_manage_devices_and_see_authorisation_expiry_in_the_console() {
    let s = space().await;
    assert_eq!(s.put_catalogue("laser", json!({ "valid_days": 30 })).await.0, 200);
    let member = s.member("cutter@example.org", "active", "0000000013").await;
    assert_eq!(s.grant(member, "laser").await.0, 200);
    let staff = common::client();
    let password = s.app.create_staff("admin2@portico.test", portico::domain::StaffRole::Admin).await;
    s.app.login(&staff, "admin2@portico.test", &password).await;
    let page = "/staff/orgs/space/devices";
    let r = s.app.post_form(&staff, page, page, &[("name", "Laser cutter"), ("requires", "laser")]).await;
    assert_eq!(r.status(), 201);
    let html = r.text().await.unwrap();
    let token =
        html.split("<code class=\"token\">").nth(1).and_then(|t| t.split('<').next()).unwrap().to_string();
    assert!(token.starts_with("pdv_"), "the token is shown once: {token}");
    let (_, again) = s.app.get_page(&staff, page).await;
    assert!(!again.contains(&token), "and never again");
    let (status, _, list) = poll(&s.app, "space", &token, None, 0).await;
    assert_eq!((status, tags(&list)), (200, vec!["0000000013".to_string()]));

    // A requirement the member lacks: a revocation with its cause, and the device is stale
    // until it polls.
    assert_eq!(s.put_catalogue("laser-advanced", json!({})).await.0, 200);
    let id: i64 = sqlx::query_scalar("SELECT id FROM devices").fetch_one(s.app.store.pool()).await.unwrap();
    let r = s
        .app
        .post_form(
            &staff,
            page,
            &format!("/staff/orgs/space/devices/{id}/requires"),
            &[("requires", "laser-advanced")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, html) = s.app.get_page(&staff, page).await;
    assert!(html.contains("Laser cutter now requires laser-advanced"), "{html}");
    assert!(html.contains("not yet") && html.contains("Stale for"), "{html}");
    let metrics = reqwest::get(s.app.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(&format!(
            "portico_device_stale{{org=\"space\",device=\"Laser cutter\",id=\"{id}\"}} 1"
        )),
        "{metrics}"
    );
    let (_, _, list) = poll(&s.app, "space", &token, None, 0).await;
    assert!(tags(&list).is_empty());
    let (_, html) = s.app.get_page(&staff, page).await;
    assert!(html.contains("Laser cutter: picked up after"), "{html}");
    let metrics = reqwest::get(s.app.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(&format!(
            "portico_device_stale{{org=\"space\",device=\"Laser cutter\",id=\"{id}\"}} 0"
        ))
    );

    // The member page shows the grant with its expiry; so does the member's dashboard.
    let (_, html) = s.app.get_page(&staff, &format!("/staff/orgs/space/members/{member}")).await;
    assert!(html.contains("laser") && html.contains("Expires on"), "{html}");
    sqlx::query("UPDATE member_authorisations SET expires_at = $1")
        .bind(now() - 10)
        .execute(s.app.store.pool())
        .await
        .unwrap();
    let (_, html) = s.app.get_page(&staff, &format!("/staff/orgs/space/members/{member}")).await;
    assert!(html.contains("Expired on"), "{html}");
    // The member sees it on their dashboard too.
    let hash = s
        .app
        .hasher
        .hash(&portico::domain::NewPassword::parse("laser cutting rules", &[]).unwrap())
        .await
        .unwrap();
    sqlx::query("UPDATE users SET password_hash = $1 WHERE email = 'cutter@example.org'")
        .bind(hash)
        .execute(s.app.store.pool())
        .await
        .unwrap();
    let me = common::client();
    assert_eq!(s.app.login(&me, "cutter@example.org", "laser cutting rules").await.status(), 303);
    let (status, html) = s.app.get_page(&me, "/dashboard/authorizations?org=space").await;
    assert_eq!(status, 200);
    assert!(html.contains("laser") && html.contains("Expired on"), "{html}");
}
