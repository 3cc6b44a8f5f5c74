//! An organisation at a glance (SPEC §3.12): the figures its console page opens with and
//! `GET /api/v1/orgs/{slug}/stats`, on both backends.

use std::time::Duration;

use portico::flows::{self, Ctx};
use portico::store::Backend;
use serde_json::json;

use crate::common::{self, client, spawn_with, webhook_receiver};

#[tokio::test]
async fn the_organisation_page_opens_with_its_figures_and_the_api_gives_the_same() {
    let app = spawn_with(|c| c.webhooks.allow_private = true).await;
    let token = app.admin_token().await;
    let input = flows::orgs::OrgInput {
        slug: "club".into(),
        name: "Club".into(),
        kind: "nonprofit".into(),
        company_name: None,
        signup: Some("open".into()),
    };
    flows::orgs::create(&app.store, &Ctx::cli(), &input).await.unwrap();
    let patch = json!({"activation": "manual", "requires_waiver": true});
    assert_eq!(app.api(&token, reqwest::Method::PATCH, "/api/v1/orgs/club", Some(patch)).await.0, 200);
    let plan =
        json!({"name": "Standard", "price_id": "price_std", "display_price": "€20", "interval": "month"});
    assert_eq!(app.api(&token, reqwest::Method::POST, "/api/v1/orgs/club/plans", Some(plan)).await.0, 201);
    let receiver = webhook_receiver::Receiver::start().await;
    receiver.answer(webhook_receiver::Answer::Status(500));
    let endpoint = json!({"url": receiver.url});
    assert_eq!(
        app.api(&token, reqwest::Method::POST, "/api/v1/orgs/club/webhooks", Some(endpoint)).await.0,
        201
    );
    let device = json!({"name": "Front door"});
    assert_eq!(
        app.api(&token, reqwest::Method::POST, "/api/v1/orgs/club/devices", Some(device)).await.0,
        201
    );

    let mut ids = Vec::new();
    for n in 1..=6 {
        ids.push(app.join("club", &format!("m{n}@example.org"), None).await);
    }
    let status = |id: i64, to: &str| {
        let (app, token) = (&app, &token);
        let body = json!({"status": to, "reason": "test"});
        async move {
            let (code, body) = app
                .api(token, reqwest::Method::PATCH, &format!("/api/v1/orgs/club/members/{id}"), Some(body))
                .await;
            assert_eq!(code, 200, "{body}");
        }
    };
    // Three join (first activation); two of them leave (suspended, banned).
    for id in &ids[0..3] {
        status(*id, "active").await;
    }
    status(ids[1], "suspended").await;
    status(ids[2], "banned").await;
    // The first pays through Stripe; the fifth and sixth have paid, the sixth signed its waiver.
    sqlx::query("UPDATE memberships SET subscription_status = 'active' WHERE id = $1")
        .bind(ids[0])
        .execute(app.store.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE memberships SET paid_at = $2 WHERE id IN ($1, $3)")
        .bind(ids[4])
        .bind(portico::store::now())
        .bind(ids[5])
        .execute(app.store.pool())
        .await
        .unwrap();
    flows::members::record_gate(&app.store, &Ctx::cli(), "club", ids[5], "waiver").await.unwrap();
    // The receiver refuses every event: deliveries are failing.
    receiver.wait_for(1, Duration::from_secs(20)).await;

    let (code, stats) = app.api(&token, reqwest::Method::GET, "/api/v1/orgs/club/stats", None).await;
    assert_eq!(code, 200, "{stats}");
    assert_eq!(stats["members"], json!({"total": 6, "pending": 3, "active": 1, "suspended": 1, "banned": 1}));
    assert_eq!(
        stats["pending_activation"],
        json!({"total": 3, "payment": 1, "waiver": 1, "id_check": 0, "staff": 2}),
        "m4 waits for payment; m5 for its waiver and staff; m6 for staff"
    );
    assert_eq!(stats["paying_members"], 1);
    assert_eq!(stats["devices"], json!({"total": 1, "silent": 1}), "a device that never polled is silent");
    assert!(stats["failed_deliveries"]["failing"].as_i64().unwrap() >= 1, "{stats}");
    let months = stats["months"].as_array().unwrap();
    assert_eq!(months.len(), 12);
    let this_month = time::OffsetDateTime::now_utc();
    let label = format!("{:04}-{:02}", this_month.year(), u8::from(this_month.month()));
    assert_eq!(months[11], json!({"month": label, "joins": 3, "leaves": 2}));
    assert!(months[..11].iter().all(|m| m["joins"] == 0 && m["leaves"] == 0), "{months:?}");

    // Support staff read the figures too; an unknown organisation is 404.
    app.create_staff("help@example.org", portico::domain::StaffRole::Support).await;
    let support = app.api_token("help@example.org").await;
    assert_eq!(app.api(&support, reqwest::Method::GET, "/api/v1/orgs/club/stats", None).await.0, 200);
    assert_eq!(app.api(&token, reqwest::Method::GET, "/api/v1/orgs/nope/stats", None).await.0, 404);

    // The page: the same figures, the chart drawn by the server, and its table.
    let browser = client();
    let password = app.create_staff("ops@example.org", portico::domain::StaffRole::Admin).await;
    app.login(&browser, "ops@example.org", &password).await;
    let (code, page) = app.get_page(&browser, "/staff/orgs/club").await;
    assert_eq!(code, 200);
    let glance = &page[page.find("At a glance").expect("the overview")..page.find("</section>").unwrap()];
    for needle in [
        "<dd>6</dd>",
        "<dd>1</dd>",
        "3 memberships wait for activation",
        "1 for payment",
        "1 for a signed waiver",
        "2 for staff to activate them",
        "<svg",
        "<rect class=\"joins\"",
    ] {
        assert!(glance.contains(needle), "{needle} missing in {glance}");
    }
    assert_eq!(glance.matches("<tr><th scope=\"row\">").count(), 12, "one table row per month");
    assert!(
        glance.contains(&format!("<tr><th scope=\"row\">{label}</th><td>3</td><td>2</td></tr>")),
        "{glance}"
    );
    assert!(page.find("At a glance") < page.find("id=\"filter-status\""), "the page opens with the figures");
}

#[tokio::test]
async fn status_changes_before_the_upgrade_are_counted_from_the_audit_trail() {
    if common::backend() != Backend::Sqlite {
        eprintln!(
            "backfill: the upgrade is exercised on SQLite (the same statement runs on PostgreSQL in every migration)"
        );
        return;
    }
    let dir = crate::operating::temp_dir("backfill");
    // The backfill is in migration 20.
    let url = crate::operating::database_at(&dir, 19).await;
    // What the previous version wrote: a member suspended, as the audit trail tells it.
    let store = portico::store::Store::connect(&url).await.unwrap();
    for sql in [
        "INSERT INTO users (id, email, created_at) VALUES (7, 'left@example.org', 0)",
        "INSERT INTO memberships (id, org_id, user_id, role, status, created_at) SELECT 9, id, 7, 'member', 'suspended', 0 FROM organisations WHERE slug = 'old'",
        "INSERT INTO audit_events (at, actor, action, target, org_id, details) SELECT 1000, 'staff', 'member.status_changed', 'left@example.org', id, '{\"from\":\"active\",\"to\":\"suspended\",\"reason\":\"x\"}' FROM organisations WHERE slug = 'old'",
        "INSERT INTO audit_events (at, actor, action, target, org_id, details) SELECT 1001, 'staff', 'member.note_added', 'left@example.org', id, '{}' FROM organisations WHERE slug = 'old'",
    ] {
        sqlx::raw_sql(sql).execute(store.pool()).await.unwrap();
    }
    store.close().await;
    let out = common::portico(&url, &["migrate"], &[], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let store = portico::store::Store::connect(&url).await.unwrap();
    let rows: Vec<(i64, String, String, i64)> =
        sqlx::query_as("SELECT membership_id, from_status, to_status, at FROM status_changes")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(rows, [(9, "active".to_string(), "suspended".to_string(), 1000)]);
    store.close().await;
    std::fs::remove_dir_all(dir).ok();
}
