//! Soak: the real `portico serve` (release build) under a mixed load for a fixed time, with a
//! real SMTP sink. Reports per workload the count, throughput, p50/p99 latency and answers by
//! status, and the server's peak resident memory (sampled from /proc every 100 ms). Exits with
//! an error when memory passed 100 MiB or any answer was a 5xx other than 503.
//!
//!     cargo bench --bench soak                                   # SQLite, 64 clients, 60 s
//!     BENCH_DATABASE=postgres cargo bench --bench soak
//!     BENCH_CLIENTS=16 BENCH_SECONDS=20 cargo bench --bench soak
//!     BENCH_ONLY=sign-in cargo bench --bench soak                 # one workload alone
//!
//! The mix, per request: 20 % sign-in (half with a wrong password), 30 % member dashboard
//! read, 15 % invitation create over the API, 15 % signup email step, 20 % API member list.

#[path = "../tests/it/common/mod.rs"]
mod common;
#[path = "support.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::smtp_sink::SmtpSink;
use portico::domain::StaffRole;
use portico::flows::password::Hasher;
use portico::flows::{self, Ctx};
use portico::store::Store;
use rand::Rng;
use support::{Server, argon2_limit, env_or, quantile, rss_kib};

const PASSWORD: &str = "soak test password 2026";
const OPS: [&str; 5] = ["sign-in", "dashboard", "invite", "signup step", "api read"];

#[derive(Default)]
struct Tally {
    latencies_ms: Vec<f64>,
    statuses: BTreeMap<u16, u64>,
}

/// Sets up the database before the server starts: an open organisation, a staff member with an
/// API token, one active member per client, and throttles raised for one client IP.
async fn prepare(url: &str, clients: usize) -> String {
    let store = Store::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let ctx = Ctx::cli();
    let org = flows::orgs::create(
        &store,
        &ctx,
        &flows::orgs::OrgInput {
            slug: "soak".into(),
            name: "Soak Space".into(),
            kind: "nonprofit".into(),
            company_name: None,
            signup: Some("open".into()),
        },
    )
    .await
    .expect("org");
    let hasher = Hasher::new(1, 1);
    flows::staff::create_staff(&store, &hasher, &ctx, "staff@soak.test", StaffRole::Admin, PASSWORD)
        .await
        .expect("staff");
    let token = flows::staff::create_api_token(&store, &ctx, "staff@soak.test", "soak").await.expect("token");
    for (key, value) in [
        ("security.login_attempts_per_ip_per_15min", "10000"),
        ("security.invite_creates_per_client_per_minute", "10000"),
        ("security.signup_requests_per_ip_per_15min", "10000"),
    ] {
        flows::settings::set(&store, &ctx, key, value).await.expect("setting");
    }
    let hash = hasher
        .hash(&portico::domain::NewPassword::parse(PASSWORD, &[]).expect("password"))
        .await
        .expect("hash");
    support::active_members(&store, org.id, |i| format!("member{i}@soak.test"), clients, Some(&hash), None)
        .await;
    store.close().await;
    token.expose().to_string()
}

fn csrf(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker)? + marker.len();
    Some(html[start..start + html[start..].find('"')?].to_string())
}

async fn sign_in(base: &str, email: &str, password: &str) -> Result<(reqwest::Client, u16), reqwest::Error> {
    let c =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build()?;
    let page = c.get(format!("{base}/login")).send().await?.text().await?;
    let token = csrf(&page).unwrap_or_default();
    let status = c
        .post(format!("{base}/login"))
        .form(&[("csrf_token", token.as_str()), ("email", email), ("password", password)])
        .send()
        .await?
        .status()
        .as_u16();
    Ok((c, status))
}

#[tokio::main]
async fn main() {
    let clients = env_or("BENCH_CLIENTS", 64) as usize;
    let seconds = env_or("BENCH_SECONDS", 60);
    let backend = support::choose_backend();
    let only = std::env::var("BENCH_ONLY").ok().map(|name| {
        OPS.iter().position(|op| *op == name).unwrap_or_else(|| panic!("BENCH_ONLY must be one of {OPS:?}"))
    });
    let limit = argon2_limit();
    let (url, _dir) = common::fresh_database().await;
    let token = prepare(&url, clients).await;
    let sink = SmtpSink::start().await;
    let server = Server::start(&url, &[("PORTICO_SMTP_URL", &sink.url())]).await;
    let (base, pid) = (server.base.clone(), server.pid());
    let idle_rss = rss_kib(pid);

    let tallies: Arc<Vec<Mutex<Tally>>> =
        Arc::new(OPS.iter().map(|_| Mutex::new(Tally::default())).collect());
    let stop = Instant::now() + Duration::from_secs(seconds);
    let sampler = tokio::spawn(async move {
        let mut peak = 0;
        while Instant::now() < stop + Duration::from_secs(1) {
            peak = peak.max(rss_kib(pid));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        peak
    });
    let started = Instant::now();
    let workers = (0..clients).map(|i| {
        let (base, token, tallies) = (base.clone(), token.clone(), tallies.clone());
        tokio::spawn(async move {
            let member = format!("member{i}@soak.test");
            let mut session = loop {
                match sign_in(&base, &member, PASSWORD).await {
                    Ok((c, 303)) => break c,
                    _ => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            };
            let api = reqwest::Client::new();
            let mut n = 0u64;
            while Instant::now() < stop {
                n += 1;
                let pick: u32 = rand::rng().random_range(0..100);
                let op = only.unwrap_or(match pick {
                    0..20 => 0,
                    20..50 => 1,
                    50..65 => 2,
                    65..80 => 3,
                    _ => 4,
                });
                let t = Instant::now();
                let status = match op {
                    0 => {
                        let pw = if n.is_multiple_of(2) { PASSWORD } else { "not the password at all" };
                        sign_in(&base, &member, pw).await.map(|(c, s)| {
                            if s == 303 {
                                session = c;
                            }
                            s
                        })
                    }
                    1 => session.get(format!("{base}/dashboard")).send().await.map(|r| r.status().as_u16()),
                    2 => api
                        .post(format!("{base}/api/v1/orgs/soak/invitations"))
                        .bearer_auth(&token)
                        .json(&serde_json::json!({"email": format!("invitee-{i}-{n}@soak.test"), "role": "member"}))
                        .send()
                        .await
                        .map(|r| r.status().as_u16()),
                    3 => {
                        let visitor = reqwest::Client::builder().cookie_store(true).build().expect("client");
                        match visitor.get(format!("{base}/o/soak/join")).send().await {
                            Ok(page) => {
                                let csrf_token = csrf(&page.text().await.unwrap_or_default()).unwrap_or_default();
                                let email = format!("joiner-{i}-{n}@soak.test");
                                visitor
                                    .post(format!("{base}/o/soak/join"))
                                    .form(&[("csrf_token", csrf_token.as_str()), ("email", email.as_str())])
                                    .send()
                                    .await
                                    .map(|r| r.status().as_u16())
                            }
                            Err(e) => Err(e),
                        }
                    }
                    _ => api
                        .get(format!("{base}/api/v1/orgs/soak/members"))
                        .bearer_auth(&token)
                        .send()
                        .await
                        .map(|r| r.status().as_u16()),
                };
                let mut tally = tallies[op].lock().unwrap();
                tally.latencies_ms.push(t.elapsed().as_secs_f64() * 1000.0);
                *tally.statuses.entry(status.unwrap_or(0)).or_insert(0) += 1;
            }
        })
    });
    futures_util::future::join_all(workers).await;
    let elapsed = started.elapsed().as_secs_f64();
    let peak = sampler.await.unwrap_or(0);
    let mails = sink.received().len();

    println!("soak: backend={backend} clients={clients} seconds={seconds}");
    println!("{:<12} {:>8} {:>9} {:>9} {:>9}  statuses", "workload", "count", "per s", "p50 ms", "p99 ms");
    let mut bad = 0;
    for (op, tally) in OPS.iter().zip(tallies.iter()) {
        let mut tally = tally.lock().unwrap();
        tally.latencies_ms.sort_by(f64::total_cmp);
        let at = |q: f64| quantile(&tally.latencies_ms, q);
        let statuses: Vec<String> = tally.statuses.iter().map(|(s, n)| format!("{s}:{n}")).collect();
        bad += tally
            .statuses
            .iter()
            .filter(|(s, _)| **s == 0 || (**s >= 500 && **s != 503))
            .map(|(_, n)| n)
            .sum::<u64>();
        println!(
            "{:<12} {:>8} {:>9.1} {:>9.1} {:>9.1}  {}",
            op,
            tally.latencies_ms.len(),
            tally.latencies_ms.len() as f64 / elapsed,
            at(0.5),
            at(0.99),
            statuses.join(" ")
        );
    }
    let sign_ins = tallies[0].lock().unwrap().latencies_ms.len() as f64 / elapsed;
    println!(
        "argon2 limit of this machine: {limit:.1} hashes/s on all cores; sign-in ran at {:.0} % of it \
         (the other workloads share the same cores)",
        100.0 * sign_ins / limit
    );
    println!("emails received by the sink: {mails}");
    println!(
        "server resident memory: idle {:.1} MiB, peak {:.1} MiB",
        idle_rss as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    let alive = reqwest::get(format!("{base}/readyz")).await.map(|r| r.status().as_u16()).unwrap_or(0);
    println!("/readyz after the soak: {alive}");
    drop(server);
    if peak > 100 * 1024 || bad > 0 || alive != 200 {
        eprintln!("soak FAILED: peak {} KiB, {bad} failed or 5xx answers, readyz {alive}", peak);
        std::process::exit(1);
    }
}
