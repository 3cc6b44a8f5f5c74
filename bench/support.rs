// Each bench uses part of this module.
#![allow(dead_code)]

//! Shared by the benches: the real `portico serve` as a child process, its resident memory,
//! settings from the environment, percentiles.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `portico serve`, killed when dropped.
pub struct Server {
    child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `portico serve` on a free port of 127.0.0.1 with `database_url`, more `PORTICO_*`
    /// variables in `env`, and waits until it answers.
    pub async fn start(database_url: &str, env: &[(&str, &str)]) -> Server {
        let port = super::common::smtp_sink::unused_port().await;
        let base = format!("http://127.0.0.1:{port}");
        let mut command = Command::new(env!("CARGO_BIN_EXE_portico"));
        command
            .arg("serve")
            .env_clear()
            .env("PORTICO_DATABASE_URL", database_url)
            .env("PORTICO_SECRET_KEY", super::common::SECRET)
            .env("PORTICO_BIND", format!("127.0.0.1:{port}"))
            .env("PORTICO_LOG", "error")
            .stdout(Stdio::null())
            // Under load the server logs every 503 it answers by design; the benches count them.
            .stderr(Stdio::null());
        // To try a setting under load: `BENCH_SERVER_PORTICO_HTTP_MAX_CONNECTIONS=256` reaches
        // the server as `PORTICO_HTTP_MAX_CONNECTIONS=256` (likewise `BENCH_SERVER_MALLOC_…`).
        for (k, v) in std::env::vars() {
            if let Some(name) = k.strip_prefix("BENCH_SERVER_") {
                command.env(name, v);
            }
        }
        for (k, v) in env {
            command.env(k, v);
        }
        let server = Server { child: command.spawn().expect("start portico serve"), base };
        let ready = Instant::now() + Duration::from_secs(30);
        while reqwest::get(format!("{}/healthz", server.base)).await.is_err() {
            assert!(Instant::now() < ready, "the server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Resident memory of a process, KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmRSS:").and_then(|v| v.split_whitespace().next()).and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

pub fn env_or(key: &str, default: u64) -> u64 {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The `q` quantile of sorted values (0 when empty).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() { 0.0 } else { sorted[((sorted.len() - 1) as f64 * q).round() as usize] }
}

/// Selects PostgreSQL for `common::fresh_database` when `BENCH_DATABASE=postgres`.
pub fn choose_backend() -> String {
    let backend = std::env::var("BENCH_DATABASE").unwrap_or_else(|_| "sqlite".into());
    if backend == "postgres" {
        // SAFETY: called first thing in main, before any other thread reads the environment.
        unsafe { std::env::set_var("PORTICO_TEST_BACKEND", "postgres") };
    }
    backend
}

/// Hashes per second with the server's parameters on all cores of this machine: the ceiling for
/// sign-in throughput, measured here so the figures compare across machines.
pub fn argon2_limit() -> f64 {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let run_for = Duration::from_secs(3);
    let started = Instant::now();
    let threads: Vec<_> = (0..cores)
        .map(|_| {
            std::thread::spawn(move || {
                let mut n = 0u64;
                while started.elapsed() < run_for {
                    let salt = SaltString::generate(&mut OsRng);
                    let _ = argon2::Argon2::default().hash_password(b"benchmark password", &salt);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
    total as f64 / started.elapsed().as_secs_f64()
}

/// `n` active members `{prefix}{i}@{domain}` of organisation `org_id`, each with an empty
/// record, a password hash (or none) and, with `key_base`, an RFID key `key_base + i`.
pub async fn active_members(
    store: &portico::store::Store,
    org_id: i64,
    email: impl Fn(usize) -> String,
    n: usize,
    password_hash: Option<&str>,
    key_base: Option<usize>,
) {
    use portico::domain::{Email, MembershipRole, MembershipStatus};
    use portico::store::{now, records};
    let mut tx = store.begin().await.expect("tx");
    for i in 0..n {
        let email = Email::parse(&email(i)).expect("email");
        let user =
            portico::store::users::insert(tx.conn(), &email, None, password_hash, now()).await.expect("user");
        let membership = portico::store::memberships::insert(
            tx.conn(),
            org_id,
            user,
            MembershipRole::Member,
            MembershipStatus::Active,
            now(),
        )
        .await
        .expect("membership");
        let profile = records::Profile {
            first_name: format!("Member {i}"),
            custom_fields: "{}".into(),
            ..Default::default()
        };
        records::insert(tx.conn(), membership, &profile, now()).await.expect("record");
        if let Some(base) = key_base {
            records::add_credential(
                tx.conn(),
                membership,
                org_id,
                &format!("{:010}", base + i),
                "bench",
                now(),
            )
            .await
            .expect("key");
        }
    }
    tx.commit().await.expect("commit");
}

/// An organisation `slug` and an admin staff member `staff@bench.test` with an API token (its
/// secret returned).
pub async fn org_with_admin(
    store: &portico::store::Store,
    slug: &str,
    signup: &str,
) -> (portico::store::orgs::Org, String) {
    use portico::flows::{self, Ctx};
    let ctx = Ctx::cli();
    let input = flows::orgs::OrgInput {
        slug: slug.into(),
        name: "Bench Space".into(),
        kind: "nonprofit".into(),
        company_name: None,
        signup: Some(signup.into()),
    };
    let org = flows::orgs::create(store, &ctx, &input).await.expect("org");
    let hasher = flows::password::Hasher::new(1, 1);
    flows::staff::create_staff(
        store,
        &hasher,
        &ctx,
        "staff@bench.test",
        portico::domain::StaffRole::Admin,
        "bench password 2026",
    )
    .await
    .expect("staff");
    let token =
        flows::staff::create_api_token(store, &ctx, "staff@bench.test", "bench").await.expect("token");
    (org, token.expose().to_string())
}
