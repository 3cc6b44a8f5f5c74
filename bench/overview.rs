//! An organisation at a glance with 100 000 members, against the real `portico serve` (release
//! build): how long `GET /api/v1/orgs/{slug}/stats` and the organisation's console page (which
//! opens with the same figures and lists the first 200 members) take, p50/p99.
//!
//!     cargo bench --bench overview                          # SQLite, 100 000 members, 200 requests each
//!     BENCH_DATABASE=postgres cargo bench --bench overview
//!     BENCH_MEMBERS=20000 BENCH_REQUESTS=50 cargo bench --bench overview

#[path = "../tests/it/common/mod.rs"]
mod common;
#[path = "support.rs"]
mod support;

use std::time::Instant;

use portico::flows::{self, Ctx};
use portico::store::{Backend, Store, now};
use support::{Server, env_or, quantile, rss_kib};

const STAFF_PASSWORD: &str = "bench password 2026";

/// `members` members of `org_id` in a few statements (a recursive series works on both
/// backends): one in 20 pending (a third of them paid), one in 10 suspended and one in 50
/// banned (each with the status change that took it out of `active`, over the last year), the
/// rest active; member since a day of the last year; a third of the active ones paying.
async fn seed(store: &Store, org_id: i64, members: usize) -> f64 {
    let started = Instant::now();
    let at = now();
    let statements = [
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {members})
             INSERT INTO users (email, created_at) SELECT 'member' || i || '@bench.test', {at} FROM n"
        ),
        format!(
            "INSERT INTO memberships (org_id, user_id, role, status, member_since, paid_at, subscription_status, created_at)
             SELECT {org_id}, u.id, 'member', s.status,
                    CASE WHEN s.status = 'pending' THEN NULL ELSE {at} - (u.id % 365) * 86400 END,
                    CASE WHEN s.status = 'pending' AND u.id % 3 = 0 THEN {at} ELSE NULL END,
                    CASE WHEN s.status = 'active' AND u.id % 3 = 0 THEN 'active' ELSE NULL END,
                    {at}
             FROM users u
             JOIN (SELECT id, CASE WHEN id % 20 = 0 THEN 'pending' WHEN id % 10 = 1 THEN 'suspended'
                                   WHEN id % 50 = 2 THEN 'banned' ELSE 'active' END AS status FROM users) s ON s.id = u.id
             WHERE u.email LIKE 'member%@bench.test'"
        ),
        format!(
            "INSERT INTO status_changes (org_id, membership_id, from_status, to_status, at)
             SELECT org_id, id, 'active', status, {at} - (id % 360) * 86400 FROM memberships
             WHERE org_id = {org_id} AND status IN ('suspended', 'banned')"
        ),
    ];
    let mut tx = store.begin().await.expect("begin");
    if store.backend() == Backend::Postgres {
        sqlx::query("SET LOCAL statement_timeout = 0").execute(tx.conn()).await.expect("no limit");
    }
    for sql in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(tx.conn()).await.expect("seed");
    }
    tx.commit().await.expect("commit");
    // What autovacuum does soon after such a load on PostgreSQL (statistics, and the visibility
    // map that lets counts read the index alone); nothing does it on SQLite (`BENCH_ANALYZE=1`).
    if store.backend() == Backend::Postgres {
        sqlx::raw_sql("VACUUM ANALYZE").execute(store.pool()).await.expect("vacuum");
    } else if std::env::var("BENCH_ANALYZE").is_ok() {
        sqlx::raw_sql("ANALYZE").execute(store.pool()).await.expect("analyze");
    }
    started.elapsed().as_secs_f64()
}

fn csrf(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    html.find(marker)
        .map(|i| i + marker.len())
        .and_then(|start| html[start..].find('"').map(|end| html[start..start + end].to_string()))
        .unwrap_or_default()
}

#[tokio::main]
async fn main() {
    let backend = support::choose_backend();
    let members = env_or("BENCH_MEMBERS", 100_000) as usize;
    let requests = env_or("BENCH_REQUESTS", 200) as usize;
    let (url, _dir) = common::fresh_database().await;
    let store = Store::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let (org, token) = support::org_with_admin(&store, "big", "open").await;
    flows::settings::set(&store, &Ctx::cli(), "security.staff_second_factor_required", "0")
        .await
        .expect("setting");
    let seeded = seed(&store, org.id, members).await;
    store.close().await;
    println!("overview: backend={backend} members={members} requests={requests} (seeded in {seeded:.1} s)");

    let server = Server::start(&url, &[]).await;
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let page = browser
        .get(format!("{}/login", server.base))
        .send()
        .await
        .expect("login")
        .text()
        .await
        .expect("page");
    let signed_in = browser
        .post(format!("{}/login", server.base))
        .form(&[
            ("csrf_token", csrf(&page).as_str()),
            ("email", "staff@bench.test"),
            ("password", STAFF_PASSWORD),
        ])
        .send()
        .await
        .expect("sign in");
    assert_eq!(signed_in.status(), 303, "staff sign-in");
    let api = reqwest::Client::new();

    println!("{:<44} {:>9} {:>9} {:>10}", "request", "p50 ms", "p99 ms", "bytes");
    let mut stats = serde_json::Value::Null;
    for (name, path, staff_page) in [
        ("GET /api/v1/orgs/big/stats", "/api/v1/orgs/big/stats", false),
        ("GET /staff/orgs/big (figures + 200 members)", "/staff/orgs/big", true),
    ] {
        let mut times = Vec::with_capacity(requests);
        let mut bytes = 0;
        for i in 0..=requests {
            let started = Instant::now();
            let r = if staff_page {
                browser.get(format!("{}{path}", server.base)).send().await
            } else {
                api.get(format!("{}{path}", server.base)).bearer_auth(&token).send().await
            }
            .expect("get");
            assert_eq!(r.status(), 200, "{path}");
            let body = r.text().await.expect("body");
            // The first is a warm-up.
            if i > 0 {
                times.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            bytes = body.len();
            if !staff_page {
                stats = serde_json::from_str(&body).expect("json");
            }
        }
        times.sort_by(f64::total_cmp);
        println!("{name:<44} {:>9.1} {:>9.1} {bytes:>10}", quantile(&times, 0.5), quantile(&times, 0.99));
    }
    println!(
        "figures: {} members ({} active, {} pending), {} paying, joins this month {}, leaves this month {}; server peak {} MiB",
        stats["members"]["total"],
        stats["members"]["active"],
        stats["members"]["pending"],
        stats["paying_members"],
        stats["months"][11]["joins"],
        stats["months"][11]["leaves"],
        rss_kib(server.pid()) / 1024
    );
    assert_eq!(stats["members"]["total"], members as i64, "every seeded member is counted");
}
