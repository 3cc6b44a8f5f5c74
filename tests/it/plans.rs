//! Membership plans over the API: create, list, deactivate; validation and permissions.

use crate::common;

use common::{TestApp, spawn};
use portico::domain::StaffRole;
use serde_json::{Value, json};

async fn call(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let r = request.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn setup() -> (TestApp, String) {
    let app = spawn().await;
    let token = app.admin_token().await;
    let (status, _) = call(
        &app,
        &token,
        reqwest::Method::POST,
        "/api/v1/orgs",
        Some(json!({"slug": "space", "name": "Space", "kind": "nonprofit", "signup": "open"})),
    )
    .await;
    assert_eq!(status, 201);
    (app, token)
}

#[tokio::test]
async fn admins_create_list_and_deactivate_plans() {
    let (app, token) = setup().await;
    let full = json!({"name": " Full membership ", "price_id": "price_1Full", "display_price": "€30 / month", "interval": "month"});
    let (status, plan) =
        call(&app, &token, reqwest::Method::POST, "/api/v1/orgs/space/plans", Some(full.clone())).await;
    assert_eq!(status, 201, "{plan}");
    assert_eq!(plan["name"], "Full membership", "trimmed");
    assert_eq!(
        (plan["price_id"].as_str(), plan["interval"].as_str(), plan["active"].as_bool()),
        (Some("price_1Full"), Some("month"), Some(true))
    );
    let (status, body) =
        call(&app, &token, reqwest::Method::POST, "/api/v1/orgs/space/plans", Some(full)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("price_taken")), "one plan per price");
    let student = json!({"name": "Student", "price_id": "price_2Student", "display_price": "€10 / month", "interval": "month"});
    assert_eq!(
        call(&app, &token, reqwest::Method::POST, "/api/v1/orgs/space/plans", Some(student)).await.0,
        201
    );

    let id = plan["id"].as_i64().unwrap();
    let (status, off) =
        call(&app, &token, reqwest::Method::POST, &format!("/api/v1/orgs/space/plans/{id}/deactivate"), None)
            .await;
    assert_eq!((status, off["active"].as_bool()), (200, Some(false)));
    let (_, list) = call(&app, &token, reqwest::Method::GET, "/api/v1/orgs/space/plans", None).await;
    let actives: Vec<bool> =
        list["items"].as_array().unwrap().iter().map(|p| p["active"].as_bool().unwrap()).collect();
    assert_eq!(actives, vec![false, true], "oldest first, the first deactivated");
    assert_eq!(
        call(&app, &token, reqwest::Method::POST, "/api/v1/orgs/space/plans/999/deactivate", None).await.0,
        404
    );
    assert_eq!(app.audit("plan.created").await.len(), 2);
    assert_eq!(app.audit("plan.deactivated").await.len(), 1);
}

#[tokio::test]
async fn every_bad_field_is_named_and_nothing_is_stored() {
    let (app, token) = setup().await;
    let (status, body) = call(
        &app,
        &token,
        reqwest::Method::POST,
        "/api/v1/orgs/space/plans",
        Some(json!({"name": "Evil\u{202E}", "price_id": "prod_123", "display_price": " ", "interval": "fortnight"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let fields = body["error"]["fields"].as_object().unwrap();
    for field in ["name", "price_id", "display_price", "interval"] {
        assert!(fields.contains_key(field), "{field} named: {body}");
    }
    let (status, _) = call(
        &app,
        &token,
        reqwest::Method::POST,
        "/api/v1/orgs/space/plans",
        Some(json!({"name": "X", "price_id": "price_1", "display_price": "1", "interval": "month", "extra": 1})),
    )
    .await;
    assert_eq!(status, 400, "unknown fields are refused");
    assert_eq!(app.count("SELECT COUNT(*) FROM plans").await, 0);
}

#[tokio::test]
async fn support_staff_may_read_plans_but_not_change_them() {
    let (app, admin) = setup().await;
    app.create_staff("desk@portico.test", StaffRole::Support).await;
    let support = app.api_token("desk@portico.test").await;
    let plan = json!({"name": "Full", "price_id": "price_1Full", "display_price": "€30", "interval": "year"});
    assert_eq!(
        call(&app, &support, reqwest::Method::POST, "/api/v1/orgs/space/plans", Some(plan.clone())).await.0,
        403
    );
    assert_eq!(
        call(&app, &admin, reqwest::Method::POST, "/api/v1/orgs/space/plans", Some(plan)).await.0,
        201
    );
    let (status, list) = call(&app, &support, reqwest::Method::GET, "/api/v1/orgs/space/plans", None).await;
    assert_eq!((status, list["items"].as_array().map(Vec::len)), (200, Some(1)));
    assert_eq!(
        call(&app, &support, reqwest::Method::POST, "/api/v1/orgs/space/plans/1/deactivate", None).await.0,
        403
    );
    assert_eq!(call(&app, &admin, reqwest::Method::GET, "/api/v1/orgs/nowhere/plans", None).await.0, 404);
}
