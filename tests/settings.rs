//! Runtime settings are read through a per-process cache: a change made through one process
//! applies in every other within a second, and at once in its own.

mod common;

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
