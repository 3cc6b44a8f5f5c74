//! Operating Portico (SPEC §3.12): backups taken while the server writes, restores, the
//! migration check and the refusal of a newer schema, the health check, and secrets read from
//! files. The commands run as the `portico` binary, the way an operator runs them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use portico::flows::{self, Ctx};
use portico::store::{Backend, Store};
use sqlx::{Connection, Row};

use crate::common::{self, ServeProcess, portico, spawn_on, spawn_with, stderr, stdout};

fn sqlite_only(test: &str) -> bool {
    if common::backend() == Backend::Sqlite {
        return true;
    }
    eprintln!("{test}: SQLite backups only; PostgreSQL is covered by the pg_dump test");
    false
}

pub(crate) fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("portico-{tag}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

async fn open(path: &Path) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(&format!("sqlite://{}?mode=ro", path.display())).await.expect("open copy")
}

/// Every table of a SQLite database with its row count, each read whole.
async fn tables(conn: &mut sqlx::AnyConnection) -> Vec<(String, i64)> {
    let names: Vec<String> = sqlx::query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("tables")
    .iter()
    .map(|r| r.get(0))
    .collect();
    let mut counted = Vec::new();
    for name in names {
        // Every row read back, every column decoded as text or number.
        let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SELECT * FROM {name}")))
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("read {name}: {e}"));
        counted.push((name, rows.len() as i64));
    }
    counted
}

/// The organisations the writer made, and their `org.created` audit events: one transaction
/// writes both, so a consistent copy has as many of one as of the other.
async fn load_counts(conn: &mut sqlx::AnyConnection) -> (i64, i64) {
    let orgs: i64 = sqlx::query("SELECT COUNT(*) FROM organisations WHERE slug LIKE 'load-%'")
        .fetch_one(&mut *conn)
        .await
        .expect("orgs")
        .get(0);
    let events: i64 = sqlx::query(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'org.created' AND target LIKE 'load-%'",
    )
    .fetch_one(&mut *conn)
    .await
    .expect("events")
    .get(0);
    (orgs, events)
}

/// Creates organisations one after another until stopped; counts those committed.
fn write_load(store: Store, stop: Arc<AtomicBool>, committed: Arc<AtomicU64>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let ctx = Ctx::cli();
        let mut n = 0u64;
        while !stop.load(Ordering::SeqCst) {
            let input = flows::orgs::OrgInput {
                slug: format!("load-{n}"),
                name: format!("Load {n}"),
                kind: "company".into(),
                company_name: Some("Load Ltd".into()),
                signup: None,
            };
            flows::orgs::create(&store, &ctx, &input).await.expect("create under load");
            committed.fetch_add(1, Ordering::SeqCst);
            n += 1;
        }
    })
}

#[tokio::test]
async fn a_backup_taken_under_write_load_is_consistent_and_restores_into_a_fresh_path() {
    if !sqlite_only("backup under load") {
        return;
    }
    let app = spawn_with(|_| {}).await;
    let token = app.admin_token().await;
    // Some of everything the API makes, besides the load.
    let created = common::client()
        .post(app.url("/api/v1/orgs"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"slug": "club", "name": "Club", "kind": "nonprofit"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let stop = Arc::new(AtomicBool::new(false));
    let committed = Arc::new(AtomicU64::new(0));
    let writer = write_load(app.store.clone(), stop.clone(), committed.clone());
    while committed.load(Ordering::SeqCst) < 20 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let backups = temp_dir("backups");
    let before = committed.load(Ordering::SeqCst);
    // Blocking on the child would stop this test's runtime, and with it the writer.
    let (url, to) = (app.database_url.clone(), backups.to_str().unwrap().to_string());
    let out = tokio::task::spawn_blocking(move || portico(&url, &["backup", "--to", &to], &[], None))
        .await
        .unwrap();
    let after = committed.load(Ordering::SeqCst);
    assert!(out.status.success(), "{}", stderr(&out));
    let path = PathBuf::from(stdout(&out).trim());
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let version = portico::store::migrations::SCHEMA_VERSION;
    assert!(
        name.starts_with("portico-")
            && name.ends_with(&format!("Z-v{version}.db"))
            && name.len() == "portico-20261202T154100Z-v.db".len() + version.to_string().len(),
        "{name}"
    );
    assert!(after > before, "the server kept writing while the backup was taken ({before} → {after})");
    let mut copy = open(&path).await;
    let (orgs, events) = load_counts(&mut copy).await;
    assert_eq!(orgs, events, "one instant of the database: every organisation with its audit event");
    assert!(orgs as u64 >= before && orgs as u64 <= after, "{before} ≤ {orgs} ≤ {after}");
    let copied = tables(&mut copy).await;
    copy.close().await.unwrap();
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();

    // Restored into a fresh path, every table reads back as it was copied.
    let fresh = temp_dir("restored");
    let fresh_url = format!("sqlite://{}", fresh.join("portico.db").display());
    let out = portico(&fresh_url, &["restore", path.to_str().unwrap()], &[], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("there was no database to replace"), "{}", stdout(&out));
    let mut restored = open(&fresh.join("portico.db")).await;
    assert_eq!(tables(&mut restored).await, copied);
    assert!(copied.iter().any(|(t, n)| t == "organisations" && *n == orgs + 1));
    restored.close().await.unwrap();
    // ... and a server starts on it, with the data there.
    let check = portico(&fresh_url, &["migrate", "--check"], &[], None);
    assert!(check.status.success(), "{}{}", stdout(&check), stderr(&check));
    let restored_app = spawn_on(fresh_url, Some(fresh), |_| {}).await;
    let token = restored_app.admin_token().await;
    let club =
        common::client().get(restored_app.url("/api/v1/orgs/club")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(club.status(), 200);
    std::fs::remove_dir_all(backups).ok();
}

#[tokio::test]
async fn restore_refuses_while_a_server_runs_and_keeps_the_database_it_replaces() {
    if !sqlite_only("restore") {
        return;
    }
    let dir = temp_dir("restore");
    let url = format!("sqlite://{}", dir.join("portico.db").display());
    assert!(
        portico(&url, &["org", "create", "--slug", "before", "--name", "Before"], &[], None).status.success()
    );
    let backup = portico(&url, &["backup"], &[], None);
    assert!(backup.status.success(), "{}", stderr(&backup));
    let backup = PathBuf::from(stdout(&backup).trim());
    assert_eq!(
        backup.parent(),
        Some(dir.join("backups").as_path()),
        "backup_dir defaults to backups/ beside the database"
    );
    assert!(
        portico(&url, &["org", "create", "--slug", "after", "--name", "After"], &[], None).status.success()
    );

    let (mut server, _base) = ServeProcess::start_listening(&url, "", &[]).await;
    let refused = portico(&url, &["restore", backup.to_str().unwrap()], &[], None);
    assert!(!refused.status.success());
    let message = stderr(&refused);
    assert!(
        message.contains("a Portico server is using") && message.contains("portico.db.lock"),
        "{message}"
    );
    server.kill_9();

    // Not a database, and not a Portico database: refused, nothing moved.
    let junk = dir.join("junk.db");
    std::fs::write(&junk, "not a database at all").unwrap();
    let out = portico(&url, &["restore", junk.to_str().unwrap()], &[], None);
    assert!(
        !out.status.success() && stderr(&out).contains("is not a readable SQLite database"),
        "{}",
        stderr(&out)
    );
    let out = portico(&url, &["restore", "/nonexistent/backup.db"], &[], None);
    assert!(!out.status.success() && stderr(&out).contains("is not a file"), "{}", stderr(&out));

    // A killed server's lock is gone with it: the restore goes ahead.
    let out = portico(&url, &["restore", backup.to_str().unwrap()], &[], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let aside = stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix("the database it replaced is kept at "))
        .map(PathBuf::from)
        .expect("replaced path");
    let mut restored = open(&dir.join("portico.db")).await;
    let slugs: Vec<String> = sqlx::query("SELECT slug FROM organisations ORDER BY slug")
        .fetch_all(&mut restored)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(slugs, ["before"]);
    let mut replaced = open(&aside).await;
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM organisations WHERE slug = 'after'")
        .fetch_one(&mut replaced)
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1, "the replaced database keeps what was written after the backup");
    std::fs::remove_dir_all(dir).ok();
}

/// A database at schema version `version` - 1 with one organisation in it, made by applying the
/// migration files of this repository one by one.
pub(crate) async fn database_before_latest(dir: &Path) -> String {
    database_at(dir, portico::store::migrations::SCHEMA_VERSION - 1).await
}

/// A SQLite database with the first `version` migrations applied, and an organisation `old`.
pub(crate) async fn database_at(dir: &Path, version: i64) -> String {
    let path = dir.join("portico.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
    files.sort();
    files.truncate(version as usize);
    for (i, file) in files.iter().enumerate() {
        let sql = std::fs::read_to_string(file).unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
        sqlx::query("INSERT INTO schema_migrations VALUES ($1, 'm', 0)")
            .bind(i as i64 + 1)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    sqlx::query(
        "INSERT INTO organisations (slug, name, kind, created_at) VALUES ('old', 'Old', 'company', 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    format!("sqlite://{}", path.display())
}

#[tokio::test]
async fn migrate_check_lists_what_is_pending_and_a_migration_backs_up_first() {
    if !sqlite_only("pre-migration backup") {
        return;
    }
    let dir = temp_dir("upgrade");
    let url = database_before_latest(&dir).await;
    let latest = portico::store::migrations::SCHEMA_VERSION;
    let check = portico(&url, &["migrate", "--check"], &[], None);
    assert_eq!(check.status.code(), Some(1), "pending migrations exit 1");
    let listed = stdout(&check);
    assert!(listed.contains(&format!("schema version {}", latest - 1)), "{listed}");
    assert!(listed.contains(&format!("pending: {latest:04} ")), "{listed}");
    assert_eq!(listed.matches("pending: ").count(), 1, "{listed}");
    assert!(stderr(&check).contains("1 migration(s) pending"), "{}", stderr(&check));

    // An upgrade: the data is copied before the schema changes, and the copy has the old version.
    let out = portico(&url, &["migrate"], &[], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let line = stderr(&out);
    let backup = line
        .lines()
        .find_map(|l| l.strip_prefix("backed up the database before migrating: "))
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no backup announced: {line}"));
    assert!(backup.to_string_lossy().ends_with(&format!("-v{}.db", latest - 1)), "{}", backup.display());
    let check = portico::store::backup::check_file(&backup).await.unwrap();
    assert_eq!(check.schema_version, latest - 1);
    let again = portico(&url, &["migrate", "--check"], &[], None);
    assert!(again.status.success() && stdout(&again).contains("up to date"), "{}", stdout(&again));

    // The way back is the backup: restored, it is the old schema with its data.
    let out = portico(&url, &["restore", backup.to_str().unwrap()], &[], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let check = portico(&url, &["migrate", "--check"], &[], None);
    assert_eq!(check.status.code(), Some(1));

    // Turned off, no backup is taken.
    let before = std::fs::read_dir(dir.join("backups")).unwrap().count();
    let out = portico(&url, &["migrate"], &[("PORTICO_BACKUP_BEFORE_MIGRATE", "false")], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("backed up"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(dir.join("backups")).unwrap().count(), before);

    // A new database holds no data: nothing to back up.
    let fresh = temp_dir("fresh");
    let fresh_url = format!("sqlite://{}", fresh.join("portico.db").display());
    let check = portico(&fresh_url, &["migrate", "--check"], &[], None);
    assert_eq!(check.status.code(), Some(1));
    assert!(!fresh.join("portico.db").exists(), "--check creates no database");
    let out = portico(&fresh_url, &["migrate"], &[], None);
    assert!(out.status.success() && !stderr(&out).contains("backed up"), "{}", stderr(&out));
    assert!(!fresh.join("backups").exists());
    std::fs::remove_dir_all(dir).ok();
    std::fs::remove_dir_all(fresh).ok();
}

#[tokio::test]
async fn every_command_refuses_a_database_newer_than_the_binary() {
    let (url, dir) = common::fresh_database().await;
    assert!(portico(&url, &["migrate"], &[], None).status.success());
    let store = Store::connect(&url).await.unwrap();
    let mut tx = store.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'from the future', 0)",
    )
    .execute(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();
    store.close().await;
    let known = portico::store::migrations::SCHEMA_VERSION;
    let expected = format!(
        "the database has schema version 999, but this binary (portico {}) knows versions up to {known}",
        env!("CARGO_PKG_VERSION")
    );
    for args in [
        &["serve"][..],
        &["migrate"],
        &["migrate", "--check"],
        &["org", "create", "--slug", "x1", "--name", "X"],
    ] {
        let out = portico(&url, args, &[("PORTICO_SECRET_KEY", common::SECRET)], None);
        assert!(!out.status.success(), "{args:?} started");
        assert!(stderr(&out).contains(&expected), "{args:?}: {}", stderr(&out));
    }
    if let Some(dir) = dir {
        std::fs::remove_dir_all(dir).ok();
    }
}

#[tokio::test]
async fn scheduled_backups_are_taken_in_turn_by_several_servers_kept_to_the_limit_and_reported() {
    if !sqlite_only("scheduled backups") {
        return;
    }
    let (url, dir) = common::fresh_database().await;
    let backups = temp_dir("scheduled");
    let set = |c: &mut portico::config::Config| {
        c.backup.dir = Some(backups.clone());
        c.backup.interval_secs = 1;
        c.backup.keep = 2;
    };
    let first = spawn_on(url.clone(), dir, set).await;
    let second = spawn_on(url, None, set).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let found = flows::backup::list(&backups).unwrap();
        if found.len() == 2 && found[0].taken_at > found[1].taken_at {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no two backups in 20 s: {found:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let a few more rounds pass, then stop both: the oldest were deleted, only `keep` stay,
    // each a good copy (checked once nobody prunes any more).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // No kept-alive connection: nothing holds the servers' shutdown up.
    let once = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    for app in [&first, &second] {
        let metrics = once.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        let at: i64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix("portico_backup_last_success_timestamp_seconds "))
            .and_then(|v| v.parse().ok())
            .expect("gauge");
        assert!(portico::store::now() - at < 10, "{at}");
    }
    drop(second);
    drop(first);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let found = flows::backup::list(&backups).unwrap();
    assert!(
        found.len() <= 2 + 1,
        "kept to the limit (one may have been taken after the last pruning): {found:?}"
    );
    for backup in &found {
        // (One a server was still pruning may be gone; any that is there is whole.)
        if let Err(e) = portico::store::backup::check_file(&backup.path).await {
            assert!(!backup.path.exists(), "{}: {e}", backup.path.display());
        }
    }
    assert!(!found.is_empty());
    std::fs::remove_dir_all(backups).ok();
}

#[tokio::test]
async fn a_failing_backup_is_counted_in_the_metrics_and_heals_once_the_directory_is_writable() {
    if !sqlite_only("failing backups") {
        return;
    }
    let parent = temp_dir("failing");
    // A file where the directory should be: every backup fails until it is moved away.
    let backups = parent.join("backups");
    std::fs::write(&backups, "in the way").unwrap();
    let target = backups.clone();
    let app = spawn_with(move |c| {
        c.backup.dir = Some(target);
        c.backup.interval_secs = 1;
    })
    .await;
    let failures = |text: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix("portico_backup_failures_total "))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
        if failures(&metrics) > 0 {
            assert!(metrics.contains("portico_backup_last_success_timestamp_seconds 0"), "{metrics}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no failure counted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    std::fs::remove_file(&backups).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while flows::backup::list(&backups).unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no backup after the fault was fixed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(app);
    std::fs::remove_dir_all(parent).ok();
}

#[tokio::test]
async fn backup_on_postgres_points_to_the_recipe() {
    if common::backend() != Backend::Postgres {
        eprintln!("backup on PostgreSQL: runs with PORTICO_TEST_BACKEND=postgres");
        return;
    }
    let (url, _) = common::fresh_database().await;
    assert!(portico(&url, &["migrate"], &[], None).status.success());
    let out = portico(&url, &["backup"], &[], None);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("pg_dump") && stderr(&out).contains("docs/operating.md"),
        "{}",
        stderr(&out)
    );
    let out = portico(&url, &["restore", "/tmp/x.db"], &[], None);
    assert!(!out.status.success() && stderr(&out).contains("pg_dump"), "{}", stderr(&out));
}

#[tokio::test]
async fn healthcheck_exits_0_only_when_the_server_is_ready_in_time() {
    let (url, _dir) = common::fresh_database().await;
    let (_server, base) = ServeProcess::start_listening(&url, "", &[]).await;
    let bind = base.trim_start_matches("http://").to_string();
    // From the configuration (as a container's HEALTHCHECK runs it: the same environment).
    let out = portico(&url, &["healthcheck"], &[("PORTICO_BIND", &bind)], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = portico(&url, &["healthcheck", "--url", &format!("{base}/readyz")], &[], None);
    assert!(out.status.success(), "{}", stderr(&out));
    // Nobody listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let out = portico(
        &url,
        &["healthcheck", "--url", &format!("http://{closed}/readyz"), "--timeout", "1"],
        &[],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not ready") && stderr(&out).contains("within 1 s"), "{}", stderr(&out));
    // A server that is still starting: asked again until it answers.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let bind = format!("127.0.0.1:{port}");
    let waiting = {
        let (url, bind) = (url.clone(), bind.clone());
        std::thread::spawn(move || {
            portico(&url, &["healthcheck", "--timeout", "20"], &[("PORTICO_BIND", &bind)], None)
        })
    };
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (second_url, _second_dir) = common::fresh_database().await;
    let _late = ServeProcess::start(&second_url, "", &[("PORTICO_BIND", &bind)]);
    let out = waiting.join().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // A server that accepts and never answers: the deadline decides.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let started = std::time::Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        portico(
            "",
            &["healthcheck", "--url", &format!("http://{silent_addr}/readyz"), "--timeout", "1"],
            &[],
            None,
        )
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("did not answer within 1 s"), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(10));
    hold.abort();
}

#[tokio::test]
async fn secrets_are_read_from_files_and_both_forms_at_once_are_refused() {
    let (url, _dir) = common::fresh_database().await;
    let secrets = temp_dir("secrets");
    let key_file = secrets.join("secret_key");
    std::fs::write(&key_file, format!("{}\n", common::SECRET)).unwrap();
    let url_file = secrets.join("database_url");
    std::fs::write(&url_file, &url).unwrap();
    let key_path = key_file.to_str().unwrap();
    let (_server, base) = ServeProcess::start_listening(
        "",
        "",
        &[("PORTICO_SECRET_KEY_FILE", key_path), ("PORTICO_DATABASE_URL_FILE", url_file.to_str().unwrap())],
    )
    .await;
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);

    let both = portico(
        &url,
        &["serve"],
        &[("PORTICO_SECRET_KEY", common::SECRET), ("PORTICO_SECRET_KEY_FILE", key_path)],
        None,
    );
    assert!(!both.status.success());
    assert!(
        stderr(&both).contains("PORTICO_SECRET_KEY and PORTICO_SECRET_KEY_FILE are both set"),
        "{}",
        stderr(&both)
    );
    let missing =
        portico(&url, &["serve"], &[("PORTICO_STRIPE_SECRET_KEY_FILE", "/nonexistent/stripe")], None);
    assert!(
        stderr(&missing).contains("PORTICO_STRIPE_SECRET_KEY_FILE: cannot read \"/nonexistent/stripe\""),
        "{}",
        stderr(&missing)
    );
    std::fs::remove_dir_all(secrets).ok();
}

/// The PostgreSQL recipe of docs/operating.md, run once: `pg_dump --format=custom`, a new
/// database, `pg_restore --no-owner`, and Portico serves the restored data.
#[tokio::test]
async fn a_pg_dump_restores_into_a_new_database_that_portico_serves() {
    if common::backend() != Backend::Postgres {
        eprintln!("pg_dump recipe: runs with PORTICO_TEST_BACKEND=postgres");
        return;
    }
    let have = |tool: &str| {
        std::process::Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success())
    };
    assert!(
        have("pg_dump") && have("pg_restore"),
        "pg_dump and pg_restore are needed (Debian's postgresql-client)"
    );
    let app = spawn_with(|_| {}).await;
    let token = app.admin_token().await;
    let created = common::client()
        .post(app.url("/api/v1/orgs"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"slug": "dumped", "name": "Dumped", "kind": "company", "company_name": "D Ltd"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let schema = app.database_url.rsplit("search_path%3D").next().unwrap().to_string();
    let admin = common::postgres_admin_url();
    let dir = temp_dir("pgdump");
    let dump = dir.join("portico.dump");
    let out = std::process::Command::new("pg_dump")
        .args(["--format=custom", "--schema", &schema, "--file", dump.to_str().unwrap(), &admin])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    let database = format!("restore_{}", uuid::Uuid::new_v4().simple());
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&admin).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let (base, query) = admin.split_once('?').map_or((admin.as_str(), None), |(b, q)| (b, Some(q)));
    let restored_admin = format!(
        "{}/{database}{}",
        base.rsplit_once('/').unwrap().0,
        query.map(|q| format!("?{q}")).unwrap_or_default()
    );
    let out = std::process::Command::new("pg_restore")
        .args(["--no-owner", "--dbname", &restored_admin, dump.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let sep = if restored_admin.contains('?') { '&' } else { '?' };
    let restored_url = format!("{restored_admin}{sep}options=-c%20search_path%3D{schema}");
    let check = portico(&restored_url, &["migrate", "--check"], &[], None);
    assert!(
        check.status.success() && stdout(&check).contains("up to date"),
        "{}{}",
        stdout(&check),
        stderr(&check)
    );
    {
        let restored = spawn_on(restored_url, None, |_| {}).await;
        let got = common::client()
            .get(restored.url("/api/v1/orgs/dumped"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), 200, "the API token and the organisation came back");
        restored.store.close().await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")))
        .execute(&mut conn)
        .await
        .ok();
    std::fs::remove_dir_all(dir).ok();
}

/// The fenced blocks of a Markdown text: (info string, body).
fn fenced_blocks(markdown: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in markdown.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => open = Some((info.trim().to_string(), String::new())),
            (Some(_), Some(_)) => blocks.extend(open.take()),
            (Some((_, body)), None) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    blocks
}

/// Every `sh` block of docs/operating.md runs as it stands (on PostgreSQL, every `sh postgres`
/// block), all in order as one script in a scratch directory, with the `portico` binary on the
/// PATH and nothing set but the port (moved off 8080, so that nothing else on the machine
/// matters). A block that fails fails the test.
#[tokio::test]
async fn every_command_of_the_operating_guide_runs() {
    let guide = include_str!("../../docs/operating.md");
    let blocks = fenced_blocks(guide);
    for (info, _) in &blocks {
        assert!(
            ["sh", "sh postgres", "console", "text", "toml", "json", "nginx"].contains(&info.as_str()),
            "a ```{info} block in docs/operating.md: use sh (run by this test), sh postgres or console"
        );
    }
    // The console blocks run deploy/ scripts, which deploy/check.sh runs (a stage of the suite).
    let check = include_str!("../../deploy/check.sh");
    for (_, body) in blocks.iter().filter(|(info, _)| info == "console") {
        for line in body.lines().filter(|l| !l.trim().is_empty()) {
            let script = line.split_whitespace().next().unwrap_or("");
            let name = script
                .strip_prefix("deploy/")
                .unwrap_or_else(|| panic!("a console line that is no deploy/ script: {line}"));
            assert!(check.contains(&format!("$here/{name}")), "deploy/check.sh does not run {script}");
        }
    }
    let postgres = common::backend() == Backend::Postgres;
    let wanted = if postgres { "sh postgres" } else { "sh" };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let bind = format!("127.0.0.1:{port}");
    let script: String = blocks
        .iter()
        .filter(|(info, _)| info == wanted)
        .map(|(_, body)| body.replace("127.0.0.1:8080", &bind))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(script.lines().count() > 10, "{script}");
    let dir = temp_dir("guide");
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_portico"));
    let path =
        format!("{}:{}", binary.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let mut command = std::process::Command::new("sh");
    command
        .args(["-ec", &script])
        .current_dir(&dir)
        .env_clear()
        .env("PATH", path)
        .env("HOME", &dir)
        .env("PORTICO_LOG", "warn")
        .env("PORTICO_BIND", &bind)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    // On PostgreSQL: a database of its own, migrated (the blocks dump and restore it), and the
    // libpq variables the PostgreSQL tools read.
    let mut cleanup = Vec::new();
    if postgres {
        let admin = url::Url::parse(&common::postgres_admin_url()).unwrap();
        let database = format!("guide_{}", uuid::Uuid::new_v4().simple());
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(admin.as_str()).await.unwrap();
        for name in [database.as_str(), "portico_restored"] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let mut url = admin.clone();
        url.set_path(&format!("/{database}"));
        url.set_query(None);
        assert!(portico(url.as_str(), &["migrate"], &[], None).status.success());
        command
            .env("PORTICO_DATABASE_URL", url.as_str())
            .env("PGHOST", admin.host_str().unwrap_or("127.0.0.1"))
            .env("PGPORT", admin.port().unwrap_or(5432).to_string())
            .env("PGUSER", admin.username())
            .env("PGPASSWORD", admin.password().unwrap_or(""));
        cleanup = vec![database, "portico_restored".to_string()];
        conn.close().await.unwrap();
    }
    let child = command.spawn().expect("sh");
    let group = child.id();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    // Whatever the script left running in the background ends with it.
    let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{group}")]).status();
    assert!(
        out.status.success(),
        "the guide's commands failed:\n--- script\n{script}\n--- stdout\n{}\n--- stderr\n{}",
        stdout(&out),
        stderr(&out)
    );
    if !postgres {
        assert!(stdout(&out).contains("refused: the server is running"), "{}", stdout(&out));
        let backups = flows::backup::list(&dir.join("data/backups")).unwrap();
        assert!(!backups.is_empty());
        assert!(
            std::fs::read_dir(dir.join("data"))
                .unwrap()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("portico.db.replaced-"))
        );
    }
    if !cleanup.is_empty() {
        let mut conn = sqlx::AnyConnection::connect(&common::postgres_admin_url()).await.unwrap();
        for name in cleanup {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                .execute(&mut conn)
                .await
                .ok();
        }
    }
    std::fs::remove_dir_all(dir).ok();
}
