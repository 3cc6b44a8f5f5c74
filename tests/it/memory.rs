//! Memory stays bounded under a flood of password checks. The server measured is a `portico
//! serve` process of its own (`/proc/PID/status`), so the load and the other tests running in
//! this binary are not counted (SPEC §7: one `portico serve` stays under 100 MiB).
//!
//! Before the fixed hashing pool, 32 concurrent sign-ins for 10 s took the process to 5.6 GiB:
//! each argon2 hash (19 MiB) ran on its own blocking thread and the allocator kept the memory.

use crate::common;
use std::time::{Duration, Instant};

use portico::domain::StaffRole;
use portico::flows::{self, Ctx};

/// A field of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field).and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_sign_ins_stay_under_100_mib() {
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("SKIPPED: no /proc/self/status on this system");
        return;
    }
    let (database_url, _dir) = common::fresh_database().await;
    let store = portico::store::Store::connect(&database_url).await.unwrap();
    store.migrate().await.unwrap();
    let setup = common::TestApp::detached(store, common::test_config(&database_url));
    let password = setup.create_staff("load@portico.test", StaffRole::Support).await;
    flows::settings::set(&setup.store, &Ctx::cli(), "security.login_attempts_per_ip_per_15min", "10000")
        .await
        .unwrap();
    let sink = common::smtp_sink::SmtpSink::start().await;
    let (server, base) = common::ServeProcess::start_listening(&database_url, &sink.url(), &[]).await;
    let pid = server.pid();
    let baseline = status_kib(pid, "VmRSS");

    let stop = Instant::now() + Duration::from_secs(10);
    let clients = (0..64).map(|i| {
        let app_url = format!("{base}/login");
        let page_url = format!("{base}/login");
        let password = password.clone();
        tokio::spawn(async move {
            let (mut ok, mut busy, mut other) = (0u32, 0u32, 0u32);
            while Instant::now() < stop {
                // A fresh visitor each time: a signed-in one would be sent away from /login.
                let c = common::client();
                let page = c.get(&page_url).send().await.unwrap().text().await.unwrap();
                let token = common::csrf_token(&page);
                // Half right, half wrong: a wrong password costs the same hash.
                let pw = if i % 2 == 0 { password.as_str() } else { "certainly not the password" };
                let form = [("csrf_token", token.as_str()), ("email", "load@portico.test"), ("password", pw)];
                match c.post(&app_url).form(&form).send().await.unwrap().status().as_u16() {
                    303 | 401 | 200 => ok += 1,
                    503 => busy += 1,
                    _ => other += 1,
                }
            }
            (ok, busy, other)
        })
    });
    let sampler = tokio::spawn(async move {
        let mut peak = 0;
        while Instant::now() < stop {
            peak = peak.max(status_kib(pid, "VmRSS"));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        peak
    });
    let mut totals = (0, 0, 0);
    for c in futures_util::future::join_all(clients).await {
        let (ok, busy, other) = c.unwrap();
        totals = (totals.0 + ok, totals.1 + busy, totals.2 + other);
    }
    let peak_rss = sampler.await.unwrap();
    let high_water = status_kib(pid, "VmHWM");
    eprintln!(
        "server: baseline {baseline} KiB, peak RSS {peak_rss} KiB, high-water {high_water} KiB; \
         answered {} (503: {}, other: {})",
        totals.0, totals.1, totals.2,
    );
    assert_eq!(totals.2, 0, "only sign-in answers (or 503 when the queue is full)");
    assert!(totals.0 > 64, "the pool kept working: {totals:?}");
    assert!(high_water < 100 * 1024, "resident memory peaked at {} MiB", high_water / 1024);
}
