//! Webhook deliveries against the real `portico serve` (release build) and a local receiver:
//! how many deliveries per second one server sends from a backlog, and how long a change made
//! through the API takes to reach the receiver.
//!
//!     cargo bench --bench webhooks                          # SQLite, 2 000 queued, 200 changes
//!     BENCH_DATABASE=postgres cargo bench --bench webhooks
//!     BENCH_EVENTS=5000 BENCH_CHANGES=500 cargo bench --bench webhooks

#[path = "../tests/it/common/mod.rs"]
mod common;
#[path = "support.rs"]
mod support;

use std::time::{Duration, Instant};

use common::webhook_receiver::Receiver;
use portico::domain::{Email, MembershipRole, MembershipStatus};
use portico::flows;
use portico::store::{Store, memberships, now, users};
use serde_json::json;
use support::{Server, env_or, quantile, rss_kib};

/// `n` new pending memberships, each emitting `membership.created`, in one transaction; their ids.
async fn queue_events(store: &Store, org_id: i64, n: usize, prefix: &str) -> Vec<i64> {
    let mut tx = store.begin().await.expect("tx");
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let email = Email::parse(&format!("{prefix}{i}@bench.test")).expect("email");
        let user = users::insert(tx.conn(), &email, None, None, now()).await.expect("user");
        let id = memberships::insert(
            tx.conn(),
            org_id,
            user,
            MembershipRole::Member,
            MembershipStatus::Pending,
            now(),
        )
        .await
        .expect("membership");
        flows::lifecycle::emit(&mut tx, "membership.created", id, json!({"cause": "bench"}))
            .await
            .expect("emit");
        ids.push(id);
    }
    tx.commit().await.expect("commit");
    ids
}

#[tokio::main]
async fn main() {
    let backend = support::choose_backend();
    let events = env_or("BENCH_EVENTS", 2000) as usize;
    let changes = env_or("BENCH_CHANGES", 200) as usize;
    let (url, _dir) = common::fresh_database().await;
    let store = Store::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let (org, token) = support::org_with_admin(&store, "bench", "open").await;
    let receiver = Receiver::start().await;
    let server = Server::start(
        &url,
        &[("PORTICO_WEBHOOKS_ALLOW_PRIVATE", "true"), ("PORTICO_WEBHOOKS_POLL_MS", "50")],
    )
    .await;
    let api = reqwest::Client::new();
    let created = api
        .post(format!("{}/api/v1/orgs/bench/webhooks", server.base))
        .bearer_auth(&token)
        .json(&json!({"url": receiver.url, "events": flows::webhooks::EVENT_TYPES}))
        .send()
        .await
        .expect("endpoint");
    assert_eq!(created.status(), 201, "endpoint");
    println!("webhooks: backend={backend} events={events} changes={changes}");

    // Throughput: a backlog committed at once, drained by the server's worker.
    let started = Instant::now();
    queue_events(&store, org.id, events, "backlog").await;
    let got = receiver.wait_for(events, Duration::from_secs(600)).await.len();
    let drain = started.elapsed().as_secs_f64();
    assert_eq!(got, events, "every queued event delivered");
    println!(
        "backlog of {events}: delivered in {drain:.2} s = {:.0} deliveries/s (peak server memory {:.1} MiB)",
        events as f64 / drain,
        rss_kib(server.pid()) as f64 / 1024.0
    );

    // Latency: changes through the API, one at a time; request sent → delivery received (the
    // delivery can arrive before the API's answer: the worker is woken by the commit).
    let ids = queue_events(&store, org.id, changes, "latency").await;
    receiver.wait_for(events + changes, Duration::from_secs(600)).await;
    let mut latencies = Vec::with_capacity(changes);
    for (n, id) in ids.iter().enumerate() {
        let sent = Instant::now();
        let r = api
            .patch(format!("{}/api/v1/orgs/bench/members/{id}", server.base))
            .bearer_auth(&token)
            .json(&json!({"status": "active", "reason": "bench"}))
            .send()
            .await
            .expect("patch");
        assert_eq!(r.status(), 200);
        let got = receiver.wait_for(events + changes + n + 1, Duration::from_secs(60)).await;
        let last = got.last().expect("received");
        assert_eq!(last.json()["data"]["membership"]["id"], *id);
        latencies.push(last.at.saturating_duration_since(sent).as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "change (API request sent) → delivery received, {changes} changes: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        quantile(&latencies, 0.5),
        quantile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0.0)
    );
}
