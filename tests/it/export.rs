//! Handing over everything about a person (SPEC §3.11): the member's own download, and staff's
//! (API and console, audited). It holds every kind of data about them and nothing about anyone
//! else, even a member of the same organisation with notes, keys and history of their own.

use portico::domain::{NewPassword, StaffRole};
use portico::flows::{self, Ctx};
use serde_json::{Value, json};

use crate::common::{TestApp, client, spawn};

const PASSWORD: &str = "a long enough export password";

async fn member(app: &TestApp, email: &str, first: &str, tag: &str, note: &str) -> i64 {
    let hash = app.hasher.hash(&NewPassword::parse(PASSWORD, &[]).unwrap()).await.unwrap();
    let id = app.join("club", email, Some(&hash)).await;
    let ctx = Ctx::cli();
    let activate =
        flows::members::Change { status: Some("active"), role: None, reason: Some("joined"), until: None };
    flows::members::change(&app.store, &ctx, "club", id, &activate).await.unwrap();
    let mut tx = app.store.begin().await.unwrap();
    let profile = portico::store::records::Profile {
        first_name: first.into(),
        last_name: "Example".into(),
        phone: Some("+40 721 000 000".into()),
        custom_fields: json!({"locker": format!("{first}-locker")}).to_string(),
        ..Default::default()
    };
    portico::store::records::update_profile(tx.conn(), id, &profile, portico::store::now()).await.unwrap();
    sqlx::query("UPDATE member_records SET custom_fields = $2 WHERE membership_id = $1")
        .bind(id)
        .bind(&profile.custom_fields)
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    flows::members::add_note(&app.store, &ctx, "club", id, note).await.unwrap();
    flows::members::add_credential(&app.store, &ctx, "club", id, tag).await.unwrap();
    flows::members::set_authorisation(&app.store, &ctx, "club", id, "woodshop", true).await.unwrap();
    id
}

/// The open organisation `club` with `woodshop` in its catalogue.
async fn club(app: &TestApp) {
    let ctx = Ctx::cli();
    let org = flows::orgs::OrgInput {
        slug: "club".into(),
        name: "Club".into(),
        kind: "nonprofit".into(),
        company_name: None,
        signup: Some("open".into()),
    };
    flows::orgs::create(&app.store, &ctx, &org).await.unwrap();
    flows::members::add_to_catalogue(&app.store, &ctx, "club", "woodshop", None).await.unwrap();
}

#[tokio::test]
async fn a_person_gets_everything_about_them_and_nothing_about_anyone_else() {
    let app = spawn().await;
    club(&app).await;
    let ada = member(&app, "ada@example.org", "Adaline", "0004711001", "Brought cake for everyone").await;
    let _bob =
        member(&app, "bob@example.org", "Bobbington", "0004711002", "Left the laser on overnight").await;

    // Ada's own download, signed in.
    let browser = client();
    assert_eq!(app.login(&browser, "ada@example.org", PASSWORD).await.status(), 303);
    let r = browser.get(app.url("/account/export")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let text = r.text().await.unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["format"], "portico-person-export-1");
    assert_eq!(doc["account"]["email"], "ada@example.org");
    assert_eq!(doc["memberships"][0]["organisation"], "club");
    assert_eq!(doc["memberships"][0]["status"], "active");
    assert_eq!(doc["member_records"][0]["first_name"], "Adaline");
    assert_eq!(doc["member_records"][0]["custom_fields"]["locker"], "Adaline-locker");
    assert_eq!(doc["keys"][0]["tag"], "0004711001");
    assert_eq!(doc["authorisations"][0]["name"], "woodshop");
    assert_eq!(doc["notes"][0]["text"], "Brought cake for everyone");
    assert!(!doc["sessions"].as_array().unwrap().is_empty(), "the session she is in");
    let actions: Vec<&str> =
        doc["audit_events"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    for action in ["member.note_added", "member.status_changed", "account.exported"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    for section in ["agreements", "passkeys", "connected_applications", "emails", "payments"] {
        assert!(doc[section].is_array(), "{section}");
    }
    assert!(doc.get("authenticator_app").is_some() && doc.get("recovery_codes").is_some());
    // Nothing about Bob, and no secrets.
    for foreign in ["bob@example.org", "Bobbington", "0004711002", "Left the laser", "$argon2"] {
        assert!(!text.contains(foreign), "{foreign} is in Ada's export");
    }

    // Staff: the same document over the API, recorded with who asked.
    let token = app.admin_token().await;
    let r = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/orgs/club/members/{ada}/export")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let staff_doc: Value = r.json().await.unwrap();
    assert_eq!(staff_doc["member_records"], doc["member_records"]);
    let exported = app.audit("member.exported").await;
    assert_eq!(exported.len(), 1);
    assert_eq!(exported[0].target.as_deref(), Some("ada@example.org"));
    let missing = reqwest::Client::new()
        .get(app.url("/api/v1/orgs/club/members/999999/export"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // And from the member's page in the console, right after signing in.
    let password = app.create_staff("ops@example.org", StaffRole::Admin).await;
    let staff = client();
    app.login(&staff, "ops@example.org", &password).await;
    let (_, page) = app.get_page(&staff, &format!("/staff/orgs/club/members/{ada}")).await;
    assert!(page.contains(&format!("/staff/orgs/club/members/{ada}/export")));
    let r = staff.get(app.url(&format!("/staff/orgs/club/members/{ada}/export"))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Adaline"));
    assert_eq!(app.audit("member.exported").await.len(), 2);
}

#[tokio::test]
async fn admins_export_the_whole_organisation_as_json_lines_page_by_page() {
    let app = spawn().await;
    let ctx = Ctx::cli();
    club(&app).await;
    flows::access::create_device(&app.store, &ctx, "club", "Front door", None).await.unwrap();
    member(&app, "ada@example.org", "Adaline", "0004711001", "n").await;
    // More members than one page holds.
    let extra = flows::export::MEMBERS_PER_PAGE as usize + 20;
    for i in 0..extra {
        app.join("club", &format!("m{i}@example.org"), None).await;
    }
    let token = app.admin_token().await;
    let r = reqwest::Client::new()
        .get(app.url("/api/v1/orgs/club/export"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let text = r.text().await.unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["type"], "organisation");
    assert_eq!(lines[0]["slug"], "club");
    let of = |kind: &str| lines.iter().filter(|l| l["type"] == kind).count();
    assert_eq!((of("authorisation"), of("device"), of("member")), (1, 1, extra + 1));
    let ada = lines.iter().find(|l| l["email"] == "ada@example.org").unwrap();
    assert_eq!(ada["first_name"], "Adaline");
    assert_eq!(ada["tags"], json!(["0004711001"]));
    assert_eq!(ada["authorisations"][0]["name"], "woodshop");
    assert!(!text.contains("pdv_") && !text.contains("token"), "no device token");
    assert_eq!(app.audit("org.exported").await.len(), 1);

    // Support staff may not; the console link is for admins.
    app.create_staff("help@example.org", StaffRole::Support).await;
    let support = app.api_token("help@example.org").await;
    let r = reqwest::Client::new()
        .get(app.url("/api/v1/orgs/club/export"))
        .bearer_auth(&support)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let password = app.create_staff("ops@example.org", StaffRole::Admin).await;
    let staff = client();
    app.login(&staff, "ops@example.org", &password).await;
    let r = staff.get(app.url("/staff/orgs/club/export.jsonl")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap().lines().count(), lines.len());
}
