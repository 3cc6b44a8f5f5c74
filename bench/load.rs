//! The load harness (SPEC §7): the real `portico serve` (release) on a fresh SQLite file or
//! PostgreSQL database with a real SMTP sink, driven per workload for a fixed time at fixed
//! concurrency. Prints one table — throughput, p50, p99, answers by status, the server's peak
//! resident memory — with sign-in and signup as a share of this machine's argon2 limit
//! (measured in the same run) and the load client's own CPU share, and writes the same as JSON.
//!
//!     cargo bench --bench load                                  # SQLite, 10 s per workload, 16 and 64 clients
//!     BENCH_DATABASE=postgres cargo bench --bench load
//!     BENCH_SHORT=1 cargo bench --bench load                    # CI: 2 s per workload, races at 100
//!     BENCH_SECONDS=20 BENCH_CONCURRENCY=32 BENCH_ONLY=sign-in cargo bench --bench load
//!     BENCH_JSON=out.json cargo bench --bench load              # default: target/bench-load-<backend>.json
//!
//! Workloads: `signup` (the email step, the emailed link from the sink, the details form:
//! one account each), `sign-in`, `invite` (API invitation create), `dashboard` (a signed-in
//! read), `race-email` (N completions of one verification link: exactly one account),
//! `oidc-code` (OpenID Connect: a signed-in member's authorization request, first-party so no
//! consent, then the code exchange at the token endpoint — both timed as one sign-in),
//! `oidc-refresh` (each client rotates its own refresh token), `oidc-userinfo` (an access token
//! at the userinfo endpoint; the membership rule is checked each time),
//! `race-username` (N completions of N links with one username: exactly one wins), `outbox`
//! (N queued emails until the sink has them all). It exits non-zero on an error only — a 5xx
//! other than 503, a lost email, a wrong race outcome — never on speed.

#[path = "../tests/it/common/mod.rs"]
mod common;
#[path = "support.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::smtp_sink::SmtpSink;
use portico::domain::{Email, StaffRole};
use portico::flows::password::Hasher;
use portico::flows::{self, Ctx};
use portico::store::tokens::{self, Purpose};
use portico::store::{Store, now};
use serde_json::{Value, json};
use support::{Server, argon2_limit, env_or, quantile, rss_kib};

const PASSWORD: &str = "load test password 2026";
const WORKLOADS: [&str; 10] = [
    "signup",
    "sign-in",
    "invite",
    "dashboard",
    "oidc-code",
    "oidc-refresh",
    "oidc-userinfo",
    "race-email",
    "race-username",
    "outbox",
];
/// Where the load client's authorization requests send the browser back (never followed).
const REDIRECT: &str = "http://localhost:9/cb";
/// One PKCE verifier for every authorization request (its S256 challenge: `challenge()`).
const VERIFIER: &str = "load-harness-pkce-verifier-0123456789abcdefghijkl";

fn challenge() -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(VERIFIER.as_bytes()))
}

/// One row of the table.
#[derive(Default)]
struct Row {
    workload: String,
    concurrency: usize,
    latencies_ms: Vec<f64>,
    statuses: BTreeMap<u16, u64>,
    seconds: f64,
    peak_kib: u64,
    note: String,
    failed: Option<String>,
}

impl Row {
    fn json(&self) -> Value {
        json!({
            "workload": self.workload, "concurrency": self.concurrency, "count": self.latencies_ms.len(),
            "per_second": self.per_second(), "p50_ms": quantile(&self.latencies_ms, 0.5),
            "p99_ms": quantile(&self.latencies_ms, 0.99),
            "statuses": self.statuses.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "peak_rss_mib": self.peak_kib as f64 / 1024.0, "note": self.note, "failed": self.failed,
        })
    }
    /// For workloads where every answer should be 200: says which were not (503 aside).
    fn only_ok(mut self) -> Self {
        let other: u64 = self.statuses.iter().filter(|(s, _)| **s != 200 && **s != 503).map(|(_, n)| n).sum();
        if other > 0 {
            self.failed = Some(format!("{other} answer(s) other than 200 or 503"));
        }
        self
    }
    fn per_second(&self) -> f64 {
        if self.seconds > 0.0 { self.latencies_ms.len() as f64 / self.seconds } else { 0.0 }
    }
    /// 5xx other than 503 (a refusal under load, by design), transport errors (0) and the
    /// harness's own failure codes (1 to 99: a step of a workload that did not happen).
    fn errors(&self) -> u64 {
        self.statuses.iter().filter(|(s, _)| **s < 100 || (**s >= 500 && **s != 503)).map(|(_, n)| n).sum()
    }
}

/// CPU seconds this process has used (user + system), from /proc.
fn own_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn csrf(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    html.find(marker)
        .map(|i| i + marker.len())
        .and_then(|start| html[start..].find('"').map(|end| html[start..start + end].to_string()))
        .unwrap_or_default()
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn sign_in(base: &str, email: &str) -> Result<(reqwest::Client, u16), reqwest::Error> {
    let c = browser();
    let page = c.get(format!("{base}/login")).send().await?.text().await?;
    let token = csrf(&page);
    let status = c
        .post(format!("{base}/login"))
        .form(&[("csrf_token", token.as_str()), ("email", email), ("password", PASSWORD)])
        .send()
        .await?
        .status()
        .as_u16();
    Ok((c, status))
}

/// The OIDC client the workloads sign in to: (client_id, client_secret).
async fn oidc_client(base: &str, api_token: &str) -> (String, String) {
    let created: Value = reqwest::Client::new()
        .post(format!("{base}/api/v1/orgs/load/oidc/clients"))
        .bearer_auth(api_token)
        .json(&json!({"name": "Load wiki", "redirect_uris": [REDIRECT], "first_party": true}))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("create the OIDC client")
        .json()
        .await
        .expect("client JSON");
    let field = |k: &str| created[k].as_str().map(String::from).expect("client_id and client_secret");
    (field("client_id"), field("client_secret"))
}

/// A signed-in browser's authorization request, then the code exchange: the token answer's
/// status and body. The harness's own codes: 4 (no redirect with a code), 0 (no answer).
async fn oidc_sign_in(base: &str, session: &reqwest::Client, client: &(String, String)) -> (u16, Value) {
    let mut url = url::Url::parse(&format!("{base}/o/load/oidc/authorize")).expect("url");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client.0)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid email profile groups")
        .append_pair("state", "load")
        .append_pair("nonce", "load")
        .append_pair("code_challenge", &challenge())
        .append_pair("code_challenge_method", "S256");
    let Ok(r) = session.get(url).send().await else { return (0, Value::Null) };
    let code = r
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .and_then(|l| url::Url::parse(l).ok())
        .and_then(|l| l.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()));
    let Some(code) = code else {
        return (if r.status() == 303 { 4 } else { r.status().as_u16() }, Value::Null);
    };
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    oidc_token(session, base, client, &form).await
}

async fn oidc_token(
    http: &reqwest::Client,
    base: &str,
    client: &(String, String),
    form: &[(&str, &str)],
) -> (u16, Value) {
    let sent = http
        .post(format!("{base}/o/load/oidc/token"))
        .basic_auth(&client.0, Some(&client.1))
        .form(form)
        .send()
        .await;
    let Ok(r) = sent else { return (0, Value::Null) };
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// `n` signed-in members' browsers (member i for client i).
async fn sessions(base: &str, n: usize, members: usize) -> Vec<reqwest::Client> {
    let mut sessions = Vec::new();
    for i in 0..n {
        match sign_in(base, &format!("member{}@load.test", i % members)).await {
            Ok((client, 303)) => sessions.push(client),
            other => panic!("a sign-in the workloads need failed: {:?}", other.map(|r| r.1)),
        }
    }
    sessions
}

fn details(username: &str) -> Vec<(&'static str, String)> {
    [
        ("step", "details"),
        ("first_name", "Load"),
        ("last_name", "Tester"),
        ("preferred_name", ""),
        ("pronouns", ""),
        ("phone", ""),
        ("birthday", "1990-01-01"),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
        ("accept_terms", "on"),
        ("accept_waiver", "on"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .chain([("username", username.to_string())])
    .collect()
}

/// Completes a signup from its verification link: (status of the details POST).
async fn complete(base: &str, link_path: &str, username: &str) -> Result<u16, reqwest::Error> {
    let c = browser();
    let page = c.get(format!("{base}{link_path}")).send().await?;
    // A link already used answers its page with 410 and no form: that is the racer's outcome.
    if page.status() != 200 {
        return Ok(page.status().as_u16());
    }
    let page = page.text().await?;
    let mut form = details(username);
    form.push(("csrf_token", csrf(&page)));
    Ok(c.post(format!("{base}{link_path}")).form(&form).send().await?.status().as_u16())
}

struct Setup {
    store: Store,
    api_token: String,
    members: usize,
}

/// The database before the server starts: an open organisation, a staff member with a token,
/// `members` active members with a password, and the throttles raised for one client IP.
async fn prepare(url: &str, members: usize) -> Setup {
    let store = Store::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let ctx = Ctx::cli();
    let input = flows::orgs::OrgInput {
        slug: "load".into(),
        name: "Load Space".into(),
        kind: "nonprofit".into(),
        company_name: None,
        signup: Some("open".into()),
    };
    let org = flows::orgs::create(&store, &ctx, &input).await.expect("org");
    let hasher = Hasher::new(1, 1);
    flows::staff::create_staff(&store, &hasher, &ctx, "staff@load.test", StaffRole::Admin, PASSWORD)
        .await
        .expect("staff");
    let api_token =
        flows::staff::create_api_token(&store, &ctx, "staff@load.test", "load").await.expect("token");
    for (key, value) in [
        ("security.login_attempts_per_ip_per_15min", "10000"),
        ("security.invite_creates_per_client_per_minute", "100000"),
        ("security.signup_requests_per_ip_per_15min", "100000"),
    ] {
        flows::settings::set(&store, &ctx, key, value).await.expect("setting");
    }
    let hash =
        hasher.hash(&portico::domain::NewPassword::parse(PASSWORD, &[]).expect("pw")).await.expect("hash");
    support::active_members(&store, org.id, |i| format!("member{i}@load.test"), members, Some(&hash), None)
        .await;
    Setup { store, api_token: api_token.expose().to_string(), members }
}

/// Runs `op(client index, iteration)` from `concurrency` tasks for `seconds`; samples the
/// server's memory meanwhile.
async fn timed<F, Fut>(name: &str, concurrency: usize, seconds: u64, pid: u32, op: F) -> Row
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = u16> + Send,
{
    let op = Arc::new(op);
    let stop = Instant::now() + Duration::from_secs(seconds);
    let results = Arc::new(Mutex::new((Vec::new(), BTreeMap::new())));
    let sampler = tokio::spawn(async move {
        let mut peak = 0;
        while Instant::now() < stop + Duration::from_millis(500) {
            peak = peak.max(rss_kib(pid));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        peak
    });
    let started = Instant::now();
    let tasks = (0..concurrency).map(|i| {
        let (op, results) = (op.clone(), results.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < stop {
                let t = Instant::now();
                let status = op(i, n).await;
                let mut r = results.lock().unwrap();
                r.0.push(t.elapsed().as_secs_f64() * 1000.0);
                *r.1.entry(status).or_insert(0) += 1;
                n += 1;
            }
        })
    });
    futures_util::future::join_all(tasks).await;
    let seconds = started.elapsed().as_secs_f64();
    let (mut latencies_ms, statuses) = std::mem::take(&mut *results.lock().unwrap());
    latencies_ms.sort_by(f64::total_cmp);
    Row {
        workload: name.into(),
        concurrency,
        latencies_ms,
        statuses,
        seconds,
        peak_kib: sampler.await.unwrap_or(0),
        ..Default::default()
    }
}

/// A verification link for `email`, issued in the database as the worker would.
async fn issue_link(store: &Store, email: &str, request_id: i64) -> String {
    let mut tx = store.begin().await.expect("tx");
    let token = tokens::issue(
        tx.conn(),
        Purpose::EmailVerification,
        ("signup_request", request_id),
        email,
        now() + 3600,
        now(),
    )
    .await
    .expect("token");
    tx.commit().await.expect("commit");
    format!("/o/load/join/verify/{}", token.expose())
}

/// `n` concurrent completions; `links[i]` with `usernames[i]`. Settle time, statuses.
async fn race(base: &str, links: Vec<String>, usernames: Vec<String>, pid: u32) -> Row {
    let started = Instant::now();
    let tasks = links.into_iter().zip(usernames).map(|(link, username)| {
        let base = base.to_string();
        tokio::spawn(async move {
            let t = Instant::now();
            let status = complete(&base, &link, &username).await.unwrap_or(0);
            (t.elapsed().as_secs_f64() * 1000.0, status)
        })
    });
    let mut row = Row::default();
    for (ms, status) in futures_util::future::join_all(tasks).await.into_iter().flatten() {
        row.latencies_ms.push(ms);
        *row.statuses.entry(status).or_insert(0) += 1;
    }
    row.seconds = started.elapsed().as_secs_f64();
    row.latencies_ms.sort_by(f64::total_cmp);
    row.peak_kib = rss_kib(pid);
    let busy = row.statuses.get(&503).copied().unwrap_or(0);
    row.note = format!("settled in {:.0} ms; {busy} answered 503 (hashing queue full)", row.seconds * 1000.0);
    row
}

/// Waits (at most ten minutes) until no email is queued or being sent.
async fn outbox_idle(store: &Store) {
    let idle_by = Instant::now() + Duration::from_secs(600);
    while count(store, "SELECT COUNT(*) FROM outbox WHERE state IN ('queued', 'sending')").await > 0
        && Instant::now() < idle_by
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn count(store: &Store, sql: &'static str) -> i64 {
    use sqlx::Row as _;
    sqlx::query(sql).fetch_one(store.pool()).await.map(|r| r.get::<i64, _>(0)).unwrap_or(-1)
}

#[tokio::main]
async fn main() {
    let backend = support::choose_backend();
    let short = std::env::var("BENCH_SHORT").is_ok_and(|v| v == "1");
    let seconds = env_or("BENCH_SECONDS", if short { 2 } else { 10 });
    let concurrencies: Vec<usize> = std::env::var("BENCH_CONCURRENCY")
        .unwrap_or_else(|_| if short { "16".into() } else { "16,64".into() })
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let race_sizes: Vec<usize> = if short { vec![100] } else { vec![100, 1000] };
    let only: Option<Vec<String>> =
        std::env::var("BENCH_ONLY").ok().map(|o| o.split(',').map(|w| w.trim().to_string()).collect());
    for w in only.iter().flatten() {
        assert!(WORKLOADS.contains(&w.as_str()), "BENCH_ONLY takes a comma-separated list of {WORKLOADS:?}");
    }
    let runs = |w: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == w));
    let max_c = concurrencies.iter().copied().max().unwrap_or(16);

    let limit = argon2_limit();
    let (url, _dir) = common::fresh_database().await;
    let setup = prepare(&url, max_c).await;
    let sink = Arc::new(SmtpSink::start().await);
    let server =
        Server::start(&url, &[("PORTICO_SMTP_URL", &sink.url()), ("PORTICO_OUTBOX_POLL_MS", "50")]).await;
    let (base, pid) = (server.base.clone(), server.pid());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_kib = rss_kib(pid);
    let oidc = Arc::new(oidc_client(&base, &setup.api_token).await);
    let cpu_start = own_cpu_seconds();
    let wall_start = Instant::now();
    let mut rows: Vec<Row> = Vec::new();

    for &c in &concurrencies {
        if runs("signup") {
            let (base, sink) = (base.clone(), sink.clone());
            let mut row = timed("signup", c, seconds, pid, move |i, n| {
                let (base, sink) = (base.clone(), sink.clone());
                async move {
                    let email = format!("joiner-{c}-{i}-{n}@load.test");
                    let visitor = browser();
                    let Ok(page) = visitor.get(format!("{base}/o/load/join")).send().await else { return 0 };
                    let token = csrf(&page.text().await.unwrap_or_default());
                    let asked = visitor
                        .post(format!("{base}/o/load/join"))
                        .form(&[("csrf_token", token.as_str()), ("email", email.as_str())])
                        .send()
                        .await;
                    if !asked.is_ok_and(|r| r.status() == 200) {
                        return 1;
                    }
                    let Some(mail) = sink.take_for(&email, Duration::from_secs(30)).await else { return 2 };
                    let text = mail_parser::MessageParser::default()
                        .parse(&mail.data)
                        .and_then(|m| m.body_text(0).map(|t| t.to_string()))
                        .unwrap_or_default();
                    let Some(link) =
                        portico::mail::links(&text).into_iter().find(|l| l.contains("/join/verify/"))
                    else {
                        return 3;
                    };
                    let path =
                        link.split_once("/o/").map(|(_, rest)| format!("/o/{rest}")).unwrap_or_default();
                    let username = format!("j{c}x{i}x{n}");
                    complete(&base, &path, &username).await.unwrap_or(0)
                }
            })
            .await;
            let lost = row.statuses.get(&2).copied().unwrap_or(0);
            if lost > 0 {
                row.failed = Some(format!("{lost} verification email(s) never arrived"));
            }
            row.note = format!("{:.0} % of the argon2 limit", 100.0 * row.per_second() / limit);
            rows.push(row);
        }
        if runs("sign-in") {
            let base = base.clone();
            let members = setup.members;
            let mut row = timed("sign-in", c, seconds, pid, move |i, _| {
                let base = base.clone();
                async move {
                    sign_in(&base, &format!("member{}@load.test", i % members))
                        .await
                        .map(|r| r.1)
                        .unwrap_or(0)
                }
            })
            .await;
            row.note = format!("{:.0} % of the argon2 limit", 100.0 * row.per_second() / limit);
            rows.push(row);
        }
        if runs("invite") {
            let (base, token) = (base.clone(), setup.api_token.clone());
            let api = reqwest::Client::new();
            rows.push(
                timed("invite", c, seconds, pid, move |i, n| {
                    let (base, token, api) = (base.clone(), token.clone(), api.clone());
                    async move {
                        api.post(format!("{base}/api/v1/orgs/load/invitations"))
                            .bearer_auth(&token)
                            .json(
                                &json!({"email": format!("invitee-{c}-{i}-{n}@load.test"), "role": "member"}),
                            )
                            .send()
                            .await
                            .map(|r| r.status().as_u16())
                            .unwrap_or(0)
                    }
                })
                .await,
            );
            // Its emails go out before the next workload starts, so each is measured alone.
            outbox_idle(&setup.store).await;
        }
        if runs("dashboard") {
            let sessions = sessions(&base, c, setup.members).await;
            let (base, sessions) = (base.clone(), Arc::new(sessions));
            rows.push(
                timed("dashboard", c, seconds, pid, move |i, _| {
                    let (base, sessions) = (base.clone(), sessions.clone());
                    async move {
                        sessions[i]
                            .get(format!("{base}/dashboard"))
                            .send()
                            .await
                            .map(|r| r.status().as_u16())
                            .unwrap_or(0)
                    }
                })
                .await,
            );
        }
        if runs("oidc-code") || runs("oidc-refresh") || runs("oidc-userinfo") {
            let sessions = Arc::new(sessions(&base, c, setup.members).await);
            if runs("oidc-code") {
                let (base, sessions, client) = (base.clone(), sessions.clone(), oidc.clone());
                rows.push(
                    timed("oidc-code", c, seconds, pid, move |i, _| {
                        let (base, sessions, client) = (base.clone(), sessions.clone(), client.clone());
                        async move { oidc_sign_in(&base, &sessions[i], &client).await.0 }
                    })
                    .await
                    .only_ok(),
                );
            }
            // Each client's own tokens, from one sign-in.
            let mut tokens = Vec::new();
            for session in sessions.iter() {
                let (status, answer) = oidc_sign_in(&base, session, &oidc).await;
                assert_eq!(status, 200, "the OIDC sign-in the workloads start from: {answer}");
                let field = |k: &str| answer[k].as_str().map(String::from).expect("tokens");
                tokens.push((field("access_token"), Mutex::new(field("refresh_token"))));
            }
            let tokens = Arc::new(tokens);
            if runs("oidc-refresh") {
                let (base, client, tokens) = (base.clone(), oidc.clone(), tokens.clone());
                let http = reqwest::Client::new();
                rows.push(
                    timed("oidc-refresh", c, seconds, pid, move |i, _| {
                        let (base, client, tokens, http) =
                            (base.clone(), client.clone(), tokens.clone(), http.clone());
                        async move {
                            // Each client refreshes in turn, so only a rotation it missed can fail.
                            let current = tokens[i].1.lock().unwrap().clone();
                            let form = [("grant_type", "refresh_token"), ("refresh_token", current.as_str())];
                            let (status, answer) = oidc_token(&http, &base, &client, &form).await;
                            if let Some(next) = answer["refresh_token"].as_str() {
                                *tokens[i].1.lock().unwrap() = next.to_string();
                            }
                            status
                        }
                    })
                    .await
                    .only_ok(),
                );
            }
            if runs("oidc-userinfo") {
                let (base, tokens) = (base.clone(), tokens.clone());
                let http = reqwest::Client::new();
                rows.push(
                    timed("oidc-userinfo", c, seconds, pid, move |i, _| {
                        let (base, tokens, http) = (base.clone(), tokens.clone(), http.clone());
                        async move {
                            http.get(format!("{base}/o/load/oidc/userinfo"))
                                .bearer_auth(&tokens[i].0)
                                .send()
                                .await
                                .map(|r| r.status().as_u16())
                                .unwrap_or(0)
                        }
                    })
                    .await
                    .only_ok(),
                );
            }
        }
    }

    for &n in &race_sizes {
        if runs("race-email") {
            let email = format!("racer-{n}@load.test");
            let link = issue_link(&setup.store, &email, 1_000_000 + n as i64).await;
            let before = count(&setup.store, "SELECT COUNT(*) FROM users").await;
            let usernames = (0..n).map(|i| format!("re{n}x{i}")).collect();
            let mut row = race(&base, vec![link; n], usernames, pid).await;
            row.workload = "race-email".into();
            row.concurrency = n;
            let made = count(&setup.store, "SELECT COUNT(*) FROM users").await - before;
            if made != 1 || row.errors() > 0 {
                row.failed = Some(format!("{made} account(s) made, {} error(s)", row.errors()));
            }
            row.note = format!("{}; {made} account", row.note);
            rows.push(row);
        }
        if runs("race-username") {
            let mut links = Vec::new();
            for i in 0..n {
                links.push(
                    issue_link(
                        &setup.store,
                        &format!("same-{n}-{i}@load.test"),
                        2_000_000 + (n * 10_000 + i) as i64,
                    )
                    .await,
                );
            }
            let username = format!("same{n}");
            let before = count(&setup.store, "SELECT COUNT(*) FROM users").await;
            let mut row = race(&base, links, vec![username.clone(); n], pid).await;
            row.workload = "race-username".into();
            row.concurrency = n;
            let made = count(&setup.store, "SELECT COUNT(*) FROM users").await - before;
            if made != 1 || row.errors() > 0 {
                row.failed = Some(format!("{made} account(s) made, {} error(s)", row.errors()));
            }
            row.note = format!("{}; {made} account", row.note);
            rows.push(row);
        }
    }

    if runs("outbox") {
        let n = if short { 200 } else { 2000 };
        let config = portico::config::Config::from_sources(
            portico::config::Purpose::Demo,
            None,
            &[("PORTICO_DATABASE_URL".to_string(), url.clone())].into_iter().collect(),
        )
        .expect("config");
        // The earlier workloads' emails go out first, then the sink is emptied, so the drain
        // measures only these messages.
        outbox_idle(&setup.store).await;
        sink.clear();
        let rendered = portico::mail::templates::Invitation {
            org_name: "Load Space".into(),
            link: "https://portico.example/invite/0123456789abcdef".into(),
            expires_in_hours: 48,
            existing_user: false,
        }
        .render(portico::i18n::Locale::En, "Portico")
        .expect("render");
        let mut tx = setup.store.begin().await.expect("tx");
        for i in 0..n {
            let to = Email::parse(&format!("drain{i}@load.test")).expect("email");
            portico::mail::enqueue(&mut tx, &config, &to, &rendered, None, None).await.expect("enqueue");
        }
        tx.commit().await.expect("commit");
        let started = Instant::now();
        let got = sink.wait_for(n, Duration::from_secs(600)).await.len();
        let mut row = Row {
            workload: "outbox".into(),
            concurrency: 1,
            seconds: started.elapsed().as_secs_f64(),
            peak_kib: rss_kib(pid),
            latencies_ms: vec![0.0; got],
            note: format!("{got} of {n} emails delivered to the sink"),
            ..Default::default()
        };
        if got < n {
            row.failed = Some(format!("{} email(s) lost", n - got));
        }
        rows.push(row);
    }

    let cpu = own_cpu_seconds() - cpu_start;
    let wall = wall_start.elapsed().as_secs_f64();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) as f64;
    let client_share = 100.0 * cpu / (wall * cores);
    let peak = rows.iter().map(|r| r.peak_kib).max().unwrap_or(0);

    println!("load: backend={backend} seconds={seconds} concurrency={concurrencies:?} races={race_sizes:?}");
    println!(
        "{:<14} {:>6} {:>8} {:>9} {:>9} {:>9} {:>8}  {:<28} note",
        "workload", "conc", "count", "per s", "p50 ms", "p99 ms", "RSS MiB", "statuses"
    );
    for r in &rows {
        let statuses: Vec<String> = r.statuses.iter().map(|(s, n)| format!("{s}:{n}")).collect();
        println!(
            "{:<14} {:>6} {:>8} {:>9.1} {:>9.1} {:>9.1} {:>8.1}  {:<28} {}{}",
            r.workload,
            r.concurrency,
            r.latencies_ms.len(),
            r.per_second(),
            quantile(&r.latencies_ms, 0.5),
            quantile(&r.latencies_ms, 0.99),
            r.peak_kib as f64 / 1024.0,
            statuses.join(" "),
            r.note,
            r.failed.as_ref().map(|f| format!("  FAILED: {f}")).unwrap_or_default()
        );
    }
    println!("argon2 limit of this machine: {limit:.1} hashes/s on all cores");
    println!("server memory: idle {:.1} MiB, peak {:.1} MiB", idle_kib as f64 / 1024.0, peak as f64 / 1024.0);
    println!("load client CPU: {client_share:.0} % of this machine's cores over the run");

    let report = json!({
        "backend": backend, "seconds": seconds, "argon2_limit_per_s": limit,
        "idle_rss_mib": idle_kib as f64 / 1024.0, "peak_rss_mib": peak as f64 / 1024.0,
        "client_cpu_percent": client_share, "rows": rows.iter().map(Row::json).collect::<Vec<_>>(),
    });
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let path = std::env::var("BENCH_JSON").unwrap_or_else(|_| format!("{target}/bench-load-{backend}.json"));
    if let Err(e) = std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap_or_default()) {
        eprintln!("cannot write {path}: {e}");
    } else {
        println!("JSON: {path}");
    }
    drop(server);
    let failures: Vec<String> = rows
        .iter()
        .filter(|r| r.failed.is_some() || r.errors() > 0)
        .map(|r| {
            format!(
                "{} @{}: {}",
                r.workload,
                r.concurrency,
                r.failed.clone().unwrap_or_else(|| format!("{} error(s)", r.errors()))
            )
        })
        .collect();
    if !failures.is_empty() {
        eprintln!("load FAILED: {}", failures.join("; "));
        std::process::exit(1);
    }
}
