//! The audit log with a million events against the real `portico serve` (release build): how
//! long a filtered page of `GET /api/v1/audit` takes, p50/p99, for each filter, combinations,
//! and paging deep with the cursor.
//!
//!     cargo bench --bench audit                          # SQLite, 1 000 000 events, 200 pages per query
//!     BENCH_DATABASE=postgres cargo bench --bench audit
//!     BENCH_EVENTS=200000 BENCH_PAGES=100 cargo bench --bench audit

#[path = "../tests/it/common/mod.rs"]
mod common;
#[path = "support.rs"]
mod support;

use std::time::Instant;

use portico::flows::{self, Ctx};
use portico::store::{Store, now};
use support::{Server, env_or, quantile, rss_kib};

const ORGS: usize = 20;
const USERS: usize = 50;
const MEMBERS: usize = 20_000;
/// Actions with their weight in the log: membership changes and sign-ins dominate, settings
/// and exports are rare.
const ACTIONS: [(&str, usize); 12] = [
    ("member.status_changed", 20),
    ("user.signed_in", 25),
    ("member.note_added", 10),
    ("member.credential_added", 8),
    ("member.authorisation_granted", 8),
    ("invitation.created", 10),
    ("invitation.resent", 4),
    ("invitation.accepted", 6),
    ("member.paid", 6),
    ("webhook.endpoint_created", 1),
    ("setting.changed", 1),
    ("audit.exported", 1),
];

/// A SQL `CASE` picking from `values` by `n` modulo the total weight.
fn weighted_case(n: &str, values: &[(&str, usize)]) -> String {
    let total: usize = values.iter().map(|(_, w)| w).sum();
    let mut sql = String::from("CASE");
    let mut upto = 0;
    for (value, weight) in values {
        upto += weight;
        sql.push_str(&format!(" WHEN ({n}) % {total} < {upto} THEN '{value}'"));
    }
    sql.push_str(" END");
    sql
}

/// `events` audit events over the last 60 days, in one statement (a recursive series works on
/// both backends): organisations, actors, actions and targets spread as a busy instance's are.
async fn seed(store: &Store, events: usize, first_user: i64, first_org: i64) -> f64 {
    let started = Instant::now();
    let span = 60 * 86_400;
    let base = now() - span;
    let step = (span as f64 / events as f64).max(0.001);
    let sql = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {events})
         INSERT INTO audit_events (at, actor_user_id, actor, action, target, org_id, client_ip, details)
         SELECT {base} + CAST(i * {step} AS BIGINT),
                CASE WHEN i % 5 = 0 THEN NULL ELSE {first_user} + (i * 7) % {USERS} END,
                CASE WHEN i % 5 = 0 THEN 'stripe' ELSE 'staff' || ((i * 7) % {USERS}) || '@bench.test' END,
                {action},
                'member' || ((i * 13) % {MEMBERS}) || '@bench.test',
                {first_org} + (i * 3) % {ORGS},
                '192.0.2.' || (i % 250),
                '{{\"reason\":\"bench\",\"n\":' || i || '}}'
         FROM n",
        action = weighted_case("i * 11", &ACTIONS),
    );
    let mut tx = store.begin().await.expect("begin");
    if store.backend() == portico::store::Backend::Postgres {
        // Seeding a million rows takes longer than the pool's statement limit.
        sqlx::query("SET LOCAL statement_timeout = 0").execute(tx.conn()).await.expect("no limit");
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(tx.conn()).await.expect("seed");
    tx.commit().await.expect("commit");
    // PostgreSQL's autovacuum analyses the table soon after such a load; nothing does on SQLite
    // (`BENCH_ANALYZE=1` does it there too).
    if store.backend() == portico::store::Backend::Postgres || std::env::var("BENCH_ANALYZE").is_ok() {
        sqlx::raw_sql("ANALYZE audit_events").execute(store.pool()).await.expect("analyze");
    }
    started.elapsed().as_secs_f64()
}

struct Query {
    name: &'static str,
    /// The query string of the i-th request.
    params: Box<dyn Fn(usize) -> Vec<(&'static str, String)>>,
}

fn day(days_ago: i64) -> String {
    portico::domain::rfc3339(now() - days_ago * 86_400)
}

fn queries() -> Vec<Query> {
    let org = |i: usize| format!("org{}", i % ORGS);
    let staff = |i: usize| format!("staff{}@bench.test", (i * 7) % USERS);
    vec![
        Query { name: "newest, no filter", params: Box::new(|_| vec![]) },
        Query { name: "organisation", params: Box::new(move |i| vec![("org", org(i))]) },
        Query { name: "actor (one address)", params: Box::new(move |i| vec![("actor", staff(i))]) },
        Query {
            name: "actors (two addresses + stripe)",
            params: Box::new(move |i| vec![("actor", format!("{},{},stripe", staff(i), staff(i + 1)))]),
        },
        Query {
            name: "action prefix, common (member.)",
            params: Box::new(|_| vec![("action", "member.".into())]),
        },
        Query {
            name: "action prefix, rare (setting.)",
            params: Box::new(|_| vec![("action", "setting.".into())]),
        },
        Query {
            name: "target (one member)",
            params: Box::new(|i| vec![("target", format!("member{}@bench.test", (i * 37) % MEMBERS))]),
        },
        Query {
            name: "time range (one day, 30 days ago)",
            params: Box::new(|_| vec![("since", day(31)), ("until", day(30))]),
        },
        Query {
            name: "org + action + time range",
            params: Box::new(move |i| {
                vec![
                    ("org", org(i)),
                    ("action", "member.status_changed".into()),
                    ("since", day(45)),
                    ("until", day(15)),
                ]
            }),
        },
        Query {
            name: "org + actor + rare action",
            params: Box::new(move |i| {
                vec![("org", org(i)), ("actor", staff(i)), ("action", "setting.".into())]
            }),
        },
        Query {
            name: "actor + time range, old (50–40 days ago)",
            params: Box::new(move |i| vec![("actor", staff(i)), ("since", day(50)), ("until", day(40))]),
        },
    ]
}

#[tokio::main]
async fn main() {
    let backend = support::choose_backend();
    let events = env_or("BENCH_EVENTS", 1_000_000) as usize;
    let pages = env_or("BENCH_PAGES", 200) as usize;
    let (url, _dir) = common::fresh_database().await;
    let store = Store::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let (first_org, token) = support::org_with_admin(&store, "org0", "closed").await;
    for o in 1..ORGS {
        let input = flows::orgs::OrgInput {
            slug: format!("org{o}"),
            name: format!("Org {o}"),
            kind: "company".into(),
            company_name: None,
            signup: Some("closed".into()),
        };
        flows::orgs::create(&store, &Ctx::cli(), &input).await.expect("org");
    }
    let mut first_user = 0;
    let mut tx = store.begin().await.expect("tx");
    for u in 0..USERS {
        let email = portico::domain::Email::parse(&format!("staff{u}@bench.test")).expect("email");
        let id = portico::store::users::insert(tx.conn(), &email, None, None, now()).await.expect("user");
        if u == 0 {
            first_user = id;
        }
    }
    tx.commit().await.expect("commit");
    let seeded = seed(&store, events, first_user, first_org.id).await;
    store.close().await;
    println!("audit: backend={backend} events={events} pages per query={pages} (seeded in {seeded:.1} s)");

    let server = Server::start(&url, &[]).await;
    let api = reqwest::Client::new();
    let get = |params: Vec<(&'static str, String)>| {
        let request = api.get(format!("{}/api/v1/audit", server.base)).bearer_auth(&token).query(&params);
        async move {
            let started = Instant::now();
            let r = request.send().await.expect("get");
            assert_eq!(r.status(), 200, "{params:?}");
            let body: serde_json::Value = r.json().await.expect("json");
            (started.elapsed().as_secs_f64() * 1000.0, body)
        }
    };
    println!("{:<42} {:>9} {:>9} {:>7}", "query (50 events a page)", "p50 ms", "p99 ms", "events");
    for query in queries() {
        // One warm-up, then `pages` requests with varying values.
        get((query.params)(pages)).await;
        let mut times = Vec::with_capacity(pages);
        let mut found = 0;
        for i in 0..pages {
            let (ms, body) = get((query.params)(i)).await;
            found += body["items"].as_array().map_or(0, Vec::len);
            times.push(ms);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{:<42} {:>9.2} {:>9.2} {:>7.1}",
            query.name,
            quantile(&times, 0.5),
            quantile(&times, 0.99),
            found as f64 / pages as f64
        );
    }
    // Deep paging: follow the cursor 100 pages into one organisation's log.
    let mut times = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut params = vec![("org", "org3".to_string())];
        if let Some(c) = &cursor {
            params.push(("cursor", c.clone()));
        }
        let (ms, body) = get(params).await;
        times.push(ms);
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{:<42} {:>9.2} {:>9.2}",
        "organisation, 100 pages deep by cursor",
        quantile(&times, 0.5),
        quantile(&times, 0.99)
    );
    println!("server memory at the end {:.1} MiB", rss_kib(server.pid()) as f64 / 1024.0);
}
