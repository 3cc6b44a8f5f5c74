//! Access-list polls against the real `portico serve` (release build): how many polls per
//! second on the 304 path and for the full list of 1 000 members, and how long a revocation
//! takes to reach 50 doors that long-poll (`?wait=30`).
//!
//!     cargo bench --bench access_list                          # SQLite, 32 clients, 10 s per phase
//!     BENCH_DATABASE=postgres cargo bench --bench access_list
//!     BENCH_CLIENTS=64 BENCH_SECONDS=20 BENCH_MEMBERS=1000 BENCH_DEVICES=50 cargo bench --bench access_list

#[path = "../tests/it/common/mod.rs"]
mod common;
#[path = "support.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use portico::flows::{self, Ctx};
use portico::store::Store;
use support::{Server, env_or, quantile, rss_kib};

/// An organisation with `members` active members, each with a key; `devices` device tokens and
/// an admin API token.
async fn prepare(url: &str, members: usize, devices: usize) -> (Vec<String>, String) {
    let store = Store::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let (org, api) = support::org_with_admin(&store, "bench", "closed").await;
    let ctx = Ctx::cli();
    support::active_members(
        &store,
        org.id,
        |i| format!("member{i}@bench.test"),
        members,
        None,
        Some(1_000_000),
    )
    .await;
    let mut tokens = Vec::new();
    for d in 0..devices {
        let created = flows::access::create_device(&store, &ctx, "bench", &format!("Door {d}"), None)
            .await
            .expect("device");
        tokens.push(created.token);
    }
    store.close().await;
    (tokens, api)
}

struct Phase {
    count: usize,
    per_second: f64,
    p50: f64,
    p99: f64,
    statuses: BTreeMap<u16, u64>,
}

/// `clients` loops polling for `seconds`, each with `held` as `If-None-Match` (or none).
async fn phase(base: &str, tokens: &[String], held: Option<String>, clients: usize, seconds: u64) -> Phase {
    let stop = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks = (0..clients).map(|i| {
        let (url, token, held) =
            (format!("{base}/api/v1/orgs/bench/access-list"), tokens[i % tokens.len()].clone(), held.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut latencies = Vec::new();
            let mut statuses = BTreeMap::new();
            while Instant::now() < stop {
                let mut request = client.get(&url).bearer_auth(&token);
                if let Some(v) = &held {
                    request = request.header("if-none-match", format!("\"{v}\""));
                }
                let t = Instant::now();
                let status = match request.send().await {
                    Ok(r) => {
                        let s = r.status().as_u16();
                        let _ = r.bytes().await;
                        s
                    }
                    Err(_) => 0,
                };
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                *statuses.entry(status).or_insert(0u64) += 1;
            }
            (latencies, statuses)
        })
    });
    let mut latencies = Vec::new();
    let mut statuses = BTreeMap::new();
    for (l, s) in futures_util::future::join_all(tasks).await.into_iter().flatten() {
        latencies.extend(l);
        for (k, v) in s {
            *statuses.entry(k).or_insert(0) += v;
        }
    }
    latencies.sort_by(f64::total_cmp);
    Phase {
        count: latencies.len(),
        per_second: latencies.len() as f64 / started.elapsed().as_secs_f64(),
        p50: quantile(&latencies, 0.5),
        p99: quantile(&latencies, 0.99),
        statuses,
    }
}

#[tokio::main]
async fn main() {
    let backend = support::choose_backend();
    let clients = env_or("BENCH_CLIENTS", 32) as usize;
    let seconds = env_or("BENCH_SECONDS", 10);
    let members = env_or("BENCH_MEMBERS", 1000) as usize;
    let doors = env_or("BENCH_DEVICES", 50) as usize;
    let rounds = env_or("BENCH_REVOCATIONS", 10) as usize;
    let (url, _dir) = common::fresh_database().await;
    let (tokens, api) = prepare(&url, members, doors).await;
    let server = Server::start(&url, &[]).await;
    let base = server.base.clone();
    let first: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}/api/v1/orgs/bench/access-list"))
        .bearer_auth(&tokens[0])
        .send()
        .await
        .expect("first poll")
        .json()
        .await
        .expect("list");
    let version = first["version"].as_str().expect("version").to_string();
    let entries = first["credentials"].as_array().map_or(0, Vec::len);

    println!(
        "access_list: backend={backend} clients={clients} seconds={seconds} members={members} ({entries} on the list)"
    );
    println!("{:<22} {:>8} {:>9} {:>9} {:>9}  statuses", "phase", "count", "per s", "p50 ms", "p99 ms");
    let mut peak = rss_kib(server.pid());
    for (name, held) in [("304 (version current)", Some(version.clone())), ("full list", None)] {
        let p = phase(&base, &tokens, held, clients, seconds).await;
        peak = peak.max(rss_kib(server.pid()));
        let statuses: Vec<String> = p.statuses.iter().map(|(s, n)| format!("{s}:{n}")).collect();
        println!(
            "{name:<22} {:>8} {:>9.1} {:>9.1} {:>9.1}  {}",
            p.count,
            p.per_second,
            p.p50,
            p.p99,
            statuses.join(" ")
        );
    }

    // Revocation lag: every door long-polls with the current version; a member is suspended
    // through the API; the time until each door's poll returns the new list is its lag.
    let api_client = reqwest::Client::new();
    let mut lags = Vec::new();
    for round in 0..rounds {
        let current: serde_json::Value = api_client
            .get(format!("{base}/api/v1/orgs/bench/access-list"))
            .bearer_auth(&tokens[0])
            .send()
            .await
            .expect("poll")
            .json()
            .await
            .expect("list");
        let held = current["version"].as_str().expect("version").to_string();
        let revoked_at = Arc::new(tokio::sync::OnceCell::new());
        let waiting: Vec<_> = tokens
            .iter()
            .map(|token| {
                let (url, token, held, revoked_at) = (
                    format!("{base}/api/v1/orgs/bench/access-list?wait=30"),
                    token.clone(),
                    held.clone(),
                    revoked_at.clone(),
                );
                tokio::spawn(async move {
                    let r = reqwest::Client::new()
                        .get(url)
                        .bearer_auth(token)
                        .header("if-none-match", format!("\"{held}\""))
                        .send()
                        .await;
                    let arrived = Instant::now();
                    let status = r.map(|r| r.status().as_u16()).unwrap_or(0);
                    let at: Option<&Instant> = revoked_at.get();
                    (status, at.map(|t| arrived.saturating_duration_since(*t)))
                })
            })
            .collect();
        // Let every door's request arrive and start waiting.
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let membership = round as i64 + 1;
        let _ = revoked_at.set(Instant::now());
        let r = api_client
            .patch(format!("{base}/api/v1/orgs/bench/members/{membership}"))
            .bearer_auth(&api)
            .json(&serde_json::json!({"status": "suspended", "reason": "benchmark"}))
            .send()
            .await
            .expect("suspend");
        assert_eq!(r.status(), 200, "suspend member {membership}");
        for result in futures_util::future::join_all(waiting).await.into_iter().flatten() {
            if let (200, Some(lag)) = result {
                lags.push(lag.as_secs_f64() * 1000.0);
            }
        }
    }
    lags.sort_by(f64::total_cmp);
    println!(
        "revocation lag, {doors} long-polling doors x {rounds} revocations ({} arrivals): p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        lags.len(),
        quantile(&lags, 0.5),
        quantile(&lags, 0.9),
        quantile(&lags, 0.99),
        lags.last().copied().unwrap_or(0.0)
    );
    println!("server resident memory: peak {:.1} MiB", peak as f64 / 1024.0);
    if lags.len() < doors * rounds {
        eprintln!("access_list FAILED: {} of {} doors got the revocation", lags.len(), doors * rounds);
        std::process::exit(1);
    }
}
