//! A member import of 10 000 rows with every column, through the release binary as an operator
//! runs it: rows per second for the check alone (`--dry-run`), for the check and the writing,
//! and for a re-run that finds everything unchanged; the command's peak memory (VmHWM) each time.
//!
//!     cargo bench --bench import                          # SQLite, 10 000 rows
//!     BENCH_DATABASE=postgres cargo bench --bench import
//!     BENCH_ROWS=50000 cargo bench --bench import

#[path = "../tests/it/common/mod.rs"]
mod common;
#[path = "support.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use portico::flows::{self, Ctx};
use portico::store::Store;
use support::env_or;

/// The peak resident memory of a running process, KiB (0 once it is gone).
fn peak_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmHWM:").and_then(|v| v.split_whitespace().next()).and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Runs `portico import members` on `file`; the time it took, its peak memory, its summary line.
fn import(url: &str, file: &str, extra: &[&str]) -> (Duration, u64, String) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(["import", "members", "--org", "club", file])
        .args(extra)
        .env("PORTICO_DATABASE_URL", url)
        .env("PORTICO_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("run portico import");
    let pid = child.id();
    let mut peak = 0;
    while child.try_wait().expect("wait").is_none() {
        peak = peak.max(peak_kib(pid));
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().expect("output");
    let elapsed = started.elapsed();
    assert!(out.status.success(), "import failed: {}", String::from_utf8_lossy(&out.stdout));
    let summary = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_string();
    (elapsed, peak, summary)
}

#[tokio::main]
async fn main() {
    let backend = support::choose_backend();
    let rows = env_or("BENCH_ROWS", 10_000);
    let (url, dir) = common::fresh_database().await;
    let store = Store::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let ctx = Ctx::cli();
    let input = flows::orgs::OrgInput {
        slug: "club".into(),
        name: "Club".into(),
        kind: "nonprofit".into(),
        company_name: None,
        signup: Some("open".into()),
    };
    flows::orgs::create(&store, &ctx, &input).await.expect("org");
    for name in ["induction", "laser"] {
        flows::members::add_to_catalogue(&store, &ctx, "club", name, None).await.expect("catalogue");
    }
    let plan = flows::plans::PlanInput {
        name: "Standard".into(),
        price_id: "price_std".into(),
        display_price: "€20".into(),
        interval: "month".into(),
    };
    flows::plans::create(&store, &ctx, "club", &plan).await.expect("plan");
    store.close().await;

    let file = std::env::temp_dir().join(format!("portico-bench-import-{}.csv", std::process::id()));
    let mut csv = String::from(
        "email,first_name,last_name,preferred_name,username,phone,birthday,status,role,plan,member_since,paid_through,tags,authorisations,note,custom.locker\n",
    );
    for i in 0..rows {
        csv.push_str(&format!(
            "m{i}@bench.test,First{i},Last{i},,user{i},+40 721 {:06},1990-01-{:02},active,member,Standard,2021-03-01,2027-01-31,{:010},induction@2021-03-02;laser,\"Imported from the old system.\nRow {i}.\",L{i}\n",
            i % 1_000_000,
            1 + i % 28,
            4_000_000_000 + i,
        ));
    }
    std::fs::write(&file, &csv).expect("write the file");
    let file = file.to_string_lossy().to_string();
    println!("import: backend={backend} rows={rows} file={} KiB", csv.len() / 1024);
    println!("{:<34} {:>9} {:>10} {:>12}", "run", "seconds", "rows/s", "peak KiB");
    for (name, extra) in [
        ("check only (--dry-run)", &["--dry-run"][..]),
        ("check and write (all created)", &[][..]),
        ("re-run (all unchanged)", &[][..]),
    ] {
        let (elapsed, peak, summary) = import(&url, &file, extra);
        let secs = elapsed.as_secs_f64();
        println!("{name:<34} {secs:>9.1} {:>10.0} {peak:>12}   {summary}", rows as f64 / secs);
    }
    std::fs::remove_file(&file).ok();
    if let Some(dir) = dir {
        std::fs::remove_dir_all(dir).ok();
    }
}
