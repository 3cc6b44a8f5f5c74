//! Runtime settings are read through a per-process cache: a change made through one process
//! applies in every other within a second, and at once in its own.

use crate::common;

use std::time::{Duration, Instant};

use common::{spawn, spawn_on};
use portico::domain::LOGIN_ATTEMPTS_PER_IP;
use portico::flows::{self, Ctx};

#[tokio::test]
async fn a_setting_changed_through_one_process_applies_in_another_within_a_second() {
    let first = spawn().await;
    let second = spawn_on(first.database_url.clone(), None, |_| {}).await;
    let default = LOGIN_ATTEMPTS_PER_IP.default;
    assert_eq!(flows::settings::get(&second.store, &LOGIN_ATTEMPTS_PER_IP).await.unwrap(), default);

    flows::settings::set(&first.store, &Ctx::cli(), LOGIN_ATTEMPTS_PER_IP.key, "7").await.unwrap();
    assert_eq!(
        flows::settings::get(&first.store, &LOGIN_ATTEMPTS_PER_IP).await.unwrap(),
        7,
        "at once where it was changed"
    );
    let changed = Instant::now();
    while flows::settings::get(&second.store, &LOGIN_ATTEMPTS_PER_IP).await.unwrap() != 7 {
        assert!(changed.elapsed() < Duration::from_millis(1500), "the other process still has the old value");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn admins_read_and_change_every_setting_on_the_settings_page_with_its_range() {
    let app = spawn().await;
    let password = app.create_staff("settings@portico.test", portico::domain::StaffRole::Admin).await;
    let c = common::client();
    app.login(&c, "settings@portico.test", &password).await;
    let (status, page) = app.get_page(&c, "/staff/settings").await;
    assert_eq!(status, 200);
    for def in portico::domain::ALL_SETTINGS {
        assert!(page.contains(def.key) && page.contains(def.help), "{}", def.key);
        assert!(page.contains(&format!("<td>{} – {}</td>", def.min, def.max)), "{}", def.key);
    }
    let key = LOGIN_ATTEMPTS_PER_IP.key;
    let action = format!("/staff/settings/{key}");
    // Out of range, or not a number: the page again, saying the range; nothing stored.
    for bad in ["0", "10001", "ten"] {
        let r = app.post_form(&c, "/staff/settings", &action, &[("value", bad)]).await;
        assert_eq!(r.status(), 400, "{bad}");
        let body = r.text().await.unwrap();
        assert!(body.contains(&format!("{key}: a whole number in 1–10000 is allowed.")), "{body}");
    }
    assert_eq!(
        flows::settings::get(&app.store, &LOGIN_ATTEMPTS_PER_IP).await.unwrap(),
        LOGIN_ATTEMPTS_PER_IP.default
    );
    let r = app.post_form(&c, "/staff/settings", &action, &[("value", " 25 ")]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(flows::settings::get(&app.store, &LOGIN_ATTEMPTS_PER_IP).await.unwrap(), 25);
    let changed = app.audit("setting.changed").await;
    assert_eq!((changed.len(), changed[0].actor.as_str()), (1, "settings@portico.test"));
    let (_, page) = app.get_page(&c, "/staff/settings").await;
    assert!(page.contains("value=\"25\""));

    // Support staff may not.
    let support = app.create_staff("support@portico.test", portico::domain::StaffRole::Support).await;
    let s = common::client();
    app.login(&s, "support@portico.test", &support).await;
    assert_eq!(app.get_page(&s, "/staff/settings").await.0, 403);
    assert_eq!(app.post_form(&s, "/staff/orgs", &action, &[("value", "3")]).await.status(), 403);
    assert_eq!(flows::settings::get(&app.store, &LOGIN_ATTEMPTS_PER_IP).await.unwrap(), 25);
}
