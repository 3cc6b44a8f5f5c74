//! The staff console: organisations listed, created and shown.

use crate::common;

use common::{client, spawn};
use portico::domain::StaffRole;

async fn signed_in_admin(app: &common::TestApp) -> reqwest::Client {
    let password = app.create_staff("ada@portico.test", StaffRole::Admin).await;
    let c = client();
    assert_eq!(app.login(&c, "ada@portico.test", &password).await.status(), 303);
    c
}

#[tokio::test]
async fn admin_creates_an_organisation_from_the_console() {
    let app = spawn().await;
    let c = signed_in_admin(&app).await;
    let (_, page) = app.get_page(&c, "/staff/orgs").await;
    assert!(page.contains("There are no organisations yet."));
    let r = app
        .post_form(
            &c,
            "/staff/orgs",
            "/staff/orgs",
            &[
                ("slug", "Acme"),
                ("name", "acme"),
                ("kind", "company"),
                ("company_name", "Acme Ltd"),
                ("signup", "open"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/staff/orgs/acme");
    let (status, page) = app.get_page(&c, "/staff/orgs/acme").await;
    assert_eq!(status, 200);
    assert!(page.contains("<h1>Acme Ltd</h1>"), "display name is the company name");
    assert!(page.contains("The organisation was created."), "flash message");
    assert!(page.contains("This organisation has no members yet."));
    let (_, list) = app.get_page(&c, "/staff/orgs").await;
    assert!(list.contains("href=\"/staff/orgs/acme\""));
    assert_eq!(app.get_page(&c, "/staff/orgs/%FF%FE").await.0, 400, "a malformed URL");
    assert_eq!(app.get_page(&c, "/staff/orgs/missing").await.0, 404);

    let events = app.audit("org.created").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor, "ada@portico.test");
    assert_eq!(events[0].target.as_deref(), Some("acme"));
    assert_eq!(events[0].client_ip.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn invalid_input_re_renders_the_form_with_a_message_per_field() {
    let app = spawn().await;
    let c = signed_in_admin(&app).await;
    let r = app
        .post_form(
            &c,
            "/staff/orgs",
            "/staff/orgs",
            &[("slug", "-bad slug-"), ("name", "   "), ("kind", "government")],
        )
        .await;
    assert_eq!(r.status(), 400);
    let page = r.text().await.unwrap();
    assert!(page.contains("value=\"-bad slug-\""), "keeps the input");
    assert!(page.contains("Use 2 to 63 lower-case letters"));
    assert!(page.contains("Enter a name of at most 200 characters."));
    assert!(page.contains("Choose individual, company or non-profit."));
    assert!(page.contains("aria-invalid=\"true\""));
    assert_eq!(app.count("SELECT COUNT(*) FROM organisations").await, 0);
    assert!(app.audit("org.created").await.is_empty());
}

#[tokio::test]
async fn duplicate_slug_in_the_console_is_a_409_with_the_form() {
    let app = spawn().await;
    let c = signed_in_admin(&app).await;
    let form = [("slug", "club"), ("name", "Club"), ("kind", "nonprofit")];
    assert_eq!(app.post_form(&c, "/staff/orgs", "/staff/orgs", &form).await.status(), 303);
    let r = app
        .post_form(
            &c,
            "/staff/orgs",
            "/staff/orgs",
            &[("slug", "CLUB"), ("name", "Other"), ("kind", "nonprofit")],
        )
        .await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("This slug is already taken."));
    assert_eq!(app.count("SELECT COUNT(*) FROM organisations").await, 1);
    assert_eq!(app.audit("org.created").await.len(), 1);
}

#[tokio::test]
async fn support_staff_can_look_but_not_create() {
    let app = spawn().await;
    let password = app.create_staff("sam@portico.test", StaffRole::Support).await;
    let c = client();
    app.login(&c, "sam@portico.test", &password).await;
    let (status, page) = app.get_page(&c, "/staff/orgs").await;
    assert_eq!(status, 200);
    assert!(!page.contains("action=\"/staff/orgs\""), "no create form for support");
    let r = app
        .post_form(
            &c,
            "/staff/orgs",
            "/staff/orgs",
            &[("slug", "nope"), ("name", "Nope"), ("kind", "individual")],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(app.count("SELECT COUNT(*) FROM organisations").await, 0);
}

#[tokio::test]
async fn names_with_markup_render_as_text() {
    let app = spawn().await;
    let c = signed_in_admin(&app).await;
    let evil = "<script>alert(1)</script> \"Quoted\"";
    let r = app
        .post_form(
            &c,
            "/staff/orgs",
            "/staff/orgs",
            &[("slug", "xss"), ("name", evil), ("kind", "individual")],
        )
        .await;
    assert_eq!(r.status(), 303);
    for path in ["/staff/orgs", "/staff/orgs/xss"] {
        let (_, page) = app.get_page(&c, path).await;
        assert!(!page.contains("<script>alert(1)</script>"), "{path} must escape");
        assert!(page.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "{path} shows the text");
        assert!(
            page.contains("&#34;Quoted&#34;") || page.contains("&quot;Quoted&quot;"),
            "{path} escapes quotes"
        );
    }
}
