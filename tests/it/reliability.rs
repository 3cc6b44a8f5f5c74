//! Faults injected for real: an SMTP server that hangs, crawls or holds its answer, two server
//! processes on one database, commits that fail, a database that goes away, slow and greedy
//! HTTP clients, and a flood of password checks. Each test fails without the fix it guards.

use crate::common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::smtp_sink::{Mode, SmtpSink};
use common::{ServeProcess, TestApp, client, spawn_on, spawn_with};
use mail_parser::MessageParser;
use portico::config::Config;
use portico::domain::{Email, StaffRole};
use portico::i18n::Locale;
use portico::mail::{self, templates};
use portico::store::Backend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Fast polling and retries so faults and their healing fit in seconds.
fn quick_mail(c: &mut Config, smtp: &SmtpSink) {
    c.smtp_url = Some(smtp.url().parse().unwrap());
    c.outbox.poll_ms = 100;
    c.outbox.retry_base_secs = 1;
    c.outbox.max_attempts = 50;
    c.outbox.lease_secs = 8;
    c.outbox.send_timeout_secs = 2;
}

async fn enqueue_invitation(app: &TestApp, to: &str) -> i64 {
    let rendered = templates::Invitation {
        org_name: "Club".into(),
        link: "https://example.org/invite/x".into(),
        expires_in_hours: 24,
        existing_user: false,
    }
    .render(Locale::En, "Portico")
    .unwrap();
    enqueue(app, to, &rendered).await
}

async fn enqueue(app: &TestApp, to: &str, rendered: &mail::RenderedEmail) -> i64 {
    let mut tx = app.store.begin().await.unwrap();
    let id =
        mail::enqueue(&mut tx, &app.config, &Email::parse(to).unwrap(), rendered, None, None).await.unwrap();
    tx.commit().await.unwrap();
    id
}

async fn row(app: &TestApp, id: i64) -> (String, i64, Option<String>) {
    sqlx::query_as("SELECT state, attempts, last_error FROM outbox WHERE id = $1")
        .bind(id)
        .fetch_one(app.store.pool())
        .await
        .unwrap()
}

async fn wait_state(app: &TestApp, id: i64, state: &str, timeout: Duration) -> (String, i64, Option<String>) {
    let deadline = Instant::now() + timeout;
    loop {
        let r = row(app, id).await;
        if r.0 == state || Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Message-ID → copies received.
fn copies(sink: &SmtpSink) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for m in sink.received() {
        let id =
            MessageParser::default().parse(&m.data).and_then(|p| p.message_id().map(String::from)).unwrap();
        *seen.entry(id).or_insert(0) += 1;
    }
    seen
}

#[tokio::test]
async fn a_silent_smtp_server_times_out_as_a_visible_failure_and_mail_flows_again_after() {
    let sink = SmtpSink::start().await;
    sink.set_mode(Mode::Hang);
    let app = spawn_with(|c| quick_mail(c, &sink)).await;
    let id = enqueue_invitation(&app, "hang@example.org").await;
    let (state, _, error) = wait_state(&app, id, "failed", Duration::from_secs(10)).await;
    assert_eq!(state, "failed", "a hanging server is a transient failure, not a stuck `sending`");
    assert!(error.as_deref().is_some_and(|e| e.contains("timed out after 2 s")), "{error:?}");
    let metrics = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("portico_mail_timed_out_total"), "{metrics}");
    assert!(metrics.contains("portico_outbox_oldest_due_seconds"), "{metrics}");

    // A server that takes the whole message and then never confirms it: the same.
    sink.set_mode(Mode::HoldAfterData(Duration::from_secs(3600)));
    let held = enqueue_invitation(&app, "held@example.org").await;
    let (state, _, error) = wait_state(&app, held, "failed", Duration::from_secs(10)).await;
    assert_eq!(state, "failed");
    assert!(error.unwrap_or_default().contains("timed out"));

    // A server that hangs up on every connection: a transient failure too.
    sink.set_mode(Mode::Drop);
    let dropped = enqueue_invitation(&app, "dropped@example.org").await;
    let (state, _, error) = wait_state(&app, dropped, "failed", Duration::from_secs(10)).await;
    assert_eq!(state, "failed");
    assert!(error.is_some());

    // The worker is not stuck: once the server answers, everything goes out.
    sink.set_mode(Mode::Accept);
    let fresh = enqueue_invitation(&app, "fresh@example.org").await;
    for id in [id, held, dropped, fresh] {
        assert_eq!(wait_state(&app, id, "sent", Duration::from_secs(20)).await.0, "sent", "message {id}");
    }
}

#[tokio::test]
async fn attempts_slower_than_the_lease_never_deliver_twice_across_two_processes() {
    // Every reply takes 600 ms, so a whole conversation (about 4 s) outlasts the 3 s lease.
    let sink = SmtpSink::start().await;
    sink.set_mode(Mode::Tarpit(Duration::from_millis(600)));
    let adjust = |c: &mut Config| {
        quick_mail(c, &sink);
        c.outbox.lease_secs = 3;
        c.outbox.send_timeout_secs = 1;
    };
    let first = spawn_with(adjust).await;
    let second = spawn_on(first.database_url.clone(), None, adjust).await;
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(enqueue_invitation(&first, &format!("slow{i}@example.org")).await);
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    sink.set_mode(Mode::Accept);
    for id in &ids {
        assert_eq!(wait_state(&second, *id, "sent", Duration::from_secs(30)).await.0, "sent");
    }
    tokio::time::sleep(Duration::from_secs(4)).await; // past any lease still running
    let seen = copies(&sink);
    assert_eq!(seen.len(), 10, "{seen:?}");
    assert!(seen.values().all(|n| *n == 1), "a message arrived twice: {seen:?}");
}

#[tokio::test]
async fn each_outcome_is_recorded_when_its_send_returns_and_a_slow_recipient_blocks_nobody() {
    let sink = SmtpSink::start().await;
    sink.set_mode(Mode::SlowFor("slow@", Duration::from_secs(6)));
    let app = spawn_with(|c| {
        quick_mail(c, &sink);
        c.outbox.lease_secs = 20;
        c.outbox.send_timeout_secs = 10;
    })
    .await;
    let slow = enqueue_invitation(&app, "slow@example.org").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut fast = Vec::new();
    for i in 0..5 {
        fast.push(enqueue_invitation(&app, &format!("fast{i}@example.org")).await);
    }
    for id in &fast {
        assert_eq!(wait_state(&app, *id, "sent", Duration::from_secs(3)).await.0, "sent", "recorded at once");
    }
    assert_eq!(row(&app, slow).await.0, "sending", "the slow one is still on its way");
    assert_eq!(wait_state(&app, slow, "sent", Duration::from_secs(15)).await.0, "sent");
}

#[tokio::test]
async fn an_outcome_whose_write_fails_is_retried_not_dropped_so_nothing_is_sent_twice() {
    let sink = SmtpSink::start().await;
    sink.set_mode(Mode::HoldAfterData(Duration::from_millis(1500)));
    let app = spawn_with(|c| {
        quick_mail(c, &sink);
        c.outbox.lease_secs = 4;
        c.outbox.send_timeout_secs = 2;
    })
    .await;
    let id = enqueue_invitation(&app, "once@example.org").await;
    assert_eq!(sink.wait_for(1, Duration::from_secs(5)).await.len(), 1);
    // The message is in; while the server holds its answer, the database starts failing commits
    // (as during a restart): the outcome record fails three times before it gets through.
    app.store.fail_next_commits(3);
    assert_eq!(wait_state(&app, id, "sent", Duration::from_secs(10)).await, ("sent".into(), 1, None));
    tokio::time::sleep(Duration::from_secs(5)).await; // past the lease
    assert_eq!(sink.received().len(), 1, "not sent again after the lease");
}

#[tokio::test]
async fn interactive_mail_overtakes_a_backlog_of_invitations() {
    let sink = SmtpSink::start().await;
    // About 1.4 s per message; four at a time, one slot kept for interactive mail.
    sink.set_mode(Mode::Tarpit(Duration::from_millis(200)));
    let app = spawn_with(|c| {
        quick_mail(c, &sink);
        c.outbox.batch = 4;
    })
    .await;
    for i in 0..40 {
        enqueue_invitation(&app, &format!("bulk{i}@example.org")).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let reset = templates::AccountLink {
        kind: templates::AccountMail::PasswordReset,
        link: Some("https://example.org/password/reset/x".into()),
        expires_in_hours: 1,
        address: None,
    }
    .render(Locale::En, "Portico")
    .unwrap();
    let urgent = enqueue(&app, "waiting@example.org", &reset).await;
    let (state, _, _) = wait_state(&app, urgent, "sent", Duration::from_secs(6)).await;
    assert_eq!(state, "sent", "the password reset did not wait for the invitations");
    let bulk_sent =
        app.count("SELECT COUNT(*) FROM outbox WHERE template = 'invitation' AND state = 'sent'").await;
    assert!(bulk_sent < 20, "it overtook most of the backlog ({bulk_sent} invitations were sent before it)");
}

#[tokio::test]
async fn message_ids_name_the_base_urls_host() {
    let sink = SmtpSink::start().await;
    let app = spawn_with(|c| quick_mail(c, &sink)).await;
    enqueue_invitation(&app, "id@example.org").await;
    let got = sink.wait_for(1, Duration::from_secs(10)).await;
    let parsed = MessageParser::default().parse(&got[0].data).unwrap();
    let host = app.config.base_url.host_str().unwrap().to_string();
    assert!(parsed.message_id().unwrap().ends_with(&format!("@{host}")), "{:?}", parsed.message_id());
}

/// Creates an organisation through the API; returns the status.
async fn create_org(app: &TestApp, token: &str, slug: &str) -> (u16, Option<String>, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/orgs"))
        .bearer_auth(token)
        .json(&serde_json::json!({"slug": slug, "name": "Org", "kind": "nonprofit"}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(String::from);
    (status, retry, r.json().await.unwrap_or_default())
}

#[tokio::test]
async fn writes_recover_by_themselves_after_a_failed_commit() {
    let app = spawn_with(|_| {}).await;
    let token = app.admin_token().await;
    // The server's own loops (scheduler, housekeeping, retention) commit too, and one of them
    // may take the injected failure first; then the request succeeds and we inject again.
    let mut created_before = 0;
    let mut failed = None;
    for attempt in 0..10 {
        app.store.fail_next_commits(1);
        let (status, retry, body) = create_org(&app, &token, &format!("broken-{attempt}")).await;
        if status == 201 {
            created_before += 1;
            continue;
        }
        failed = Some((status, retry, body));
        break;
    }
    let (status, retry, body) = failed.expect("no request ever met the failed commit");
    assert_eq!(status, 503, "a storage failure is 'unavailable', not a 500: {body}");
    assert_eq!(retry.as_deref(), Some("5"));
    assert_eq!(body["error"]["code"], "database_unavailable");
    // Every pooled connection gets used; none may be left inside the failed transaction.
    for i in 0..30 {
        let (status, _, body) = create_org(&app, &token, &format!("org-{i}")).await;
        assert_eq!(status, 201, "write {i} after the failure: {body}");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM organisations").await, 30 + created_before);
    assert_eq!(reqwest::get(app.url("/readyz")).await.unwrap().status(), 200);
}

#[tokio::test]
async fn serve_refuses_a_database_it_cannot_write() {
    let (url, _dir) = common::fresh_database().await;
    let store = portico::store::Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    store.close().await;
    let read_only = match common::backend() {
        Backend::Sqlite => format!("{url}?mode=ro"),
        Backend::Postgres => format!("{url}%20-c%20default_transaction_read_only%3Don"),
    };
    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portico"))
        .arg("serve")
        .env_clear()
        .env("PORTICO_DATABASE_URL", &read_only)
        .env("PORTICO_SECRET_KEY", common::SECRET)
        .env("PORTICO_BIND", "127.0.0.1:0")
        .env("PORTICO_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not accept writes"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// A TCP proxy in front of PostgreSQL that the test can cut (closing every connection and
/// refusing new ones, as a stopped server does) and restore on the same port.
struct CuttableProxy {
    port: u16,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl CuttableProxy {
    async fn start(target: String) -> CuttableProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = CuttableProxy { port, task: std::sync::Mutex::new(None) };
        proxy.run(listener, target);
        proxy
    }

    fn run(&self, listener: tokio::net::TcpListener, target: String) {
        let task = tokio::spawn(async move {
            let mut pipes = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                pipes.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        *self.task.lock().unwrap() = Some(task);
    }

    /// Aborting the task drops the listener and every piped connection.
    fn cut(&self) {
        if let Some(task) = self.task.lock().unwrap().take() {
            task.abort();
        }
    }

    async fn restore(&self, target: String) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.run(listener, target);
    }
}

#[tokio::test]
async fn while_postgres_is_down_requests_fail_fast_with_503_and_recover_by_themselves() {
    if common::backend() != Backend::Postgres {
        eprintln!("SKIPPED on SQLite: this test stops a PostgreSQL server (through a proxy)");
        return;
    }
    let (url, _) = common::fresh_database().await;
    let mut parsed = url::Url::parse(&url).unwrap();
    let target = format!("{}:{}", parsed.host_str().unwrap(), parsed.port().unwrap_or(5432));
    let proxy = CuttableProxy::start(target.clone()).await;
    parsed.set_host(Some("127.0.0.1")).unwrap();
    parsed.set_port(Some(proxy.port)).unwrap();
    let app = spawn_on(parsed.to_string(), None, |c| c.db_acquire_timeout_ms = 1000).await;
    let token = app.admin_token().await;
    let password = app.create_staff("desk@portico.test", StaffRole::Support).await;
    let browser = client();
    app.login(&browser, "desk@portico.test", &password).await;
    assert_eq!(create_org(&app, &token, "before").await.0, 201);

    proxy.cut();
    let started = Instant::now();
    let (status, retry, body) = create_org(&app, &token, "during").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "database_unavailable");
    assert!(retry.is_some());
    let page = browser.get(app.url("/staff/orgs")).send().await.unwrap();
    assert_eq!(page.status(), 503);
    assert!(page.headers().contains_key("retry-after"));
    assert!(page.text().await.unwrap().contains("database cannot be reached"), "a page that says why");
    let ready = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(started.elapsed() < Duration::from_secs(8), "failed fast: {:?}", started.elapsed());

    proxy.restore(target).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _, _) = create_org(&app, &token, "after").await;
        if status == 201 {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {status}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(reqwest::get(app.url("/readyz")).await.unwrap().status(), 200);
    assert_eq!(browser.get(app.url("/staff/orgs")).send().await.unwrap().status(), 200);
}

/// Reads whatever the server sends until it closes the connection (or `limit` passes).
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&got).to_string()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

async fn slow_client_app() -> TestApp {
    spawn_with(|c| {
        c.http.header_timeout_secs = 1;
        c.http.body_timeout_secs = 1;
        c.http.max_connections = 6;
    })
    .await
}

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_string()
}

#[tokio::test]
async fn unfinished_headers_a_stalled_body_and_an_idle_connection_are_all_cut_off() {
    let app = slow_client_app().await;

    let mut headers = TcpStream::connect(addr(&app)).await.unwrap();
    headers.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    assert!(read_until_closed(&mut headers, Duration::from_secs(4)).await.is_some(), "header timeout");

    let mut body = TcpStream::connect(addr(&app)).await.unwrap();
    body.write_all(b"POST /api/v1/orgs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"slug\"")
        .await
        .unwrap();
    let answer = read_until_closed(&mut body, Duration::from_secs(4)).await.expect("body timeout");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");

    let mut idle = TcpStream::connect(addr(&app)).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let answer = read_until_closed(&mut idle, Duration::from_secs(4)).await.expect("idle timeout");
    assert!(answer.starts_with("HTTP/1.1 200"), "served, then closed when idle: {answer}");
}

#[tokio::test]
async fn a_declared_body_over_the_limit_is_refused_before_it_is_sent() {
    let app = slow_client_app().await;
    let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
    stream
        .write_all(b"POST /api/v1/orgs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000000\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let answer = read_until_closed(&mut stream, Duration::from_secs(3)).await.expect("answered and closed");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"));
    assert!(started.elapsed() < Duration::from_millis(900), "at once, not after a body timeout");

    let mut form = TcpStream::connect(addr(&app)).await.unwrap();
    form.write_all(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 99999999\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut form, Duration::from_secs(3)).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[tokio::test]
async fn connections_over_the_cap_are_refused_with_503_and_the_server_stays_reachable() {
    let app = spawn_with(|c| {
        c.http.header_timeout_secs = 30;
        c.http.max_connections = 6;
    })
    .await;
    let mut hogs = Vec::new();
    for _ in 0..6 {
        hogs.push(TcpStream::connect(addr(&app)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = TcpStream::connect(addr(&app)).await.unwrap();
    let _ = extra.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let answer = read_until_closed(&mut extra, Duration::from_secs(3)).await.expect("refused at once");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("Retry-After: 1"), "{answer}");

    drop(hogs);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(r.status(), 200, "slots come back when connections close");
}

#[tokio::test]
async fn a_full_hashing_queue_answers_503_with_retry_after_at_once() {
    let app = spawn_with(|c| {
        c.hash_workers = 1;
        c.hash_queue = 1;
    })
    .await;
    portico::flows::settings::set(
        &app.store,
        &portico::flows::Ctx::cli(),
        "security.login_attempts_per_ip_per_15min",
        "1000",
    )
    .await
    .unwrap();
    let c = client();
    let (_, page) = app.get_page(&c, "/login").await;
    let token = common::csrf_token(&page);
    let attempts = (0..16).map(|i| {
        let email = format!("nobody{i}@example.org");
        let form = [("csrf_token", token.clone()), ("email", email), ("password", "wrong password!".into())];
        let request = c.post(app.url("/login")).form(&form);
        async move {
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.headers().get("retry-after").is_some(), r.text().await.unwrap())
        }
    });
    let results = futures_util::future::join_all(attempts).await;
    let busy: Vec<_> = results.iter().filter(|(s, _, _)| *s == 503).collect();
    assert!(!busy.is_empty(), "{:?}", results.iter().map(|r| r.0).collect::<Vec<_>>());
    assert!(busy.iter().all(|(_, retry, page)| *retry && page.contains("The server is busy")));
    assert!(
        results.iter().all(|(s, _, _)| matches!(s, 503 | 401 | 200)),
        "{:?}",
        results.iter().map(|r| r.0).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn requests_refused_anyway_never_reach_the_hashing_queue() {
    let app = spawn_with(|_| {}).await;
    portico::flows::settings::set(
        &app.store,
        &portico::flows::Ctx::cli(),
        "security.login_attempts_per_ip_per_15min",
        "3",
    )
    .await
    .unwrap();
    let before = app.hasher.accepted();
    let c = client();
    for _ in 0..10 {
        app.login(&c, "someone@example.org", "not the password").await;
    }
    assert_eq!(app.hasher.accepted() - before, 3, "throttled sign-ins cost no hash");
}

#[tokio::test]
async fn kill_9_during_a_batch_resends_only_what_was_in_flight() {
    let sink = SmtpSink::start().await;
    // One recipient's server answers RCPT only after a minute; the others at once.
    sink.set_mode(Mode::SlowFor("slow@", Duration::from_secs(60)));
    let (url, _dir) = common::fresh_database().await;
    let store = portico::store::Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let app_config = common::test_config(&url);
    let queue = TestApp::detached(store.clone(), app_config);
    let mut ids = vec![enqueue_invitation(&queue, "slow@example.org").await];
    for i in 0..9 {
        ids.push(enqueue_invitation(&queue, &format!("fast{i}@example.org")).await);
    }
    let env = [
        ("PORTICO_OUTBOX_BATCH", "10"),
        ("PORTICO_OUTBOX_POLL_MS", "50"),
        ("PORTICO_OUTBOX_LEASE_SECS", "10"),
        ("PORTICO_OUTBOX_SEND_TIMEOUT_SECS", "5"),
        ("PORTICO_OUTBOX_RETRY_BASE_SECS", "1"),
    ];
    let mut first = ServeProcess::start(&url, &sink.url(), &env);
    assert_eq!(sink.wait_for(9, Duration::from_secs(20)).await.len(), 9, "the fast nine arrived");
    tokio::time::sleep(Duration::from_millis(500)).await;
    first.kill_9();
    sink.set_mode(Mode::Accept);

    let _second = ServeProcess::start(&url, &sink.url(), &env);
    let all_sent = async {
        loop {
            let sent = queue.count("SELECT COUNT(*) FROM outbox WHERE state = 'sent'").await;
            if sent == 10 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(90), all_sent).await.is_err() {
        let rows: Vec<(String, String, i64, Option<String>)> =
            sqlx::query_as("SELECT recipient, state, attempts, last_error FROM outbox ORDER BY id")
                .fetch_all(queue.store.pool())
                .await
                .unwrap();
        panic!("not all ten were sent: {rows:?}");
    }
    let seen = copies(&sink);
    assert_eq!(seen.len(), 10);
    assert!(seen.values().all(|n| *n == 1), "the nine confirmed before the kill were sent again: {seen:?}");
}

/// `chattr` on a path; false when this machine cannot (not root, no e2fsprogs, a filesystem
/// without attributes).
fn chattr(flag: &str, path: &std::path::Path) -> bool {
    std::process::Command::new("chattr").arg(flag).arg(path).status().is_ok_and(|s| s.success())
}

/// Makes a file immutable until dropped (also when the test fails half-way, so its directory
/// can be removed).
struct Immutable(std::path::PathBuf);

impl Immutable {
    fn set(path: std::path::PathBuf) -> Option<Immutable> {
        chattr("+i", &path).then_some(Immutable(path))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        chattr("-i", &self.0);
    }
}

/// A change through the API that writes: a new organisation per call.
async fn write_once(app: &TestApp, token: &str, n: usize) -> (u16, Option<String>, serde_json::Value) {
    create_org(app, token, &format!("w-{n}")).await
}

/// Calls `write_once` until it answers 201; how long that took.
async fn until_writes_work(app: &TestApp, token: &str, from: usize, limit: Duration) -> Duration {
    let started = Instant::now();
    for n in from.. {
        let (status, retry, body) = write_once(app, token, n).await;
        if status == 201 {
            return started.elapsed();
        }
        assert_eq!(status, 503, "while healing, a write answers 503: {body}");
        assert!(retry.is_some(), "503 carries Retry-After");
        assert!(started.elapsed() < limit, "writes did not recover within {limit:?}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    unreachable!()
}

/// Twenty writes in a row all succeed (every pooled connection is used), and `/readyz` says so.
async fn every_connection_writes(app: &TestApp, token: &str) {
    for n in 0..20 {
        let (status, _, body) = write_once(app, token, 2000 + n).await;
        assert_eq!(status, 201, "write {n} after healing: {body}");
        assert_eq!(reqwest::get(app.url("/readyz")).await.unwrap().status(), 200, "readyz {n}");
    }
}

/// An organisation "club" with one pending member, and a webhook endpoint for every event at
/// `receiver`; the membership id.
async fn club_with_endpoint(
    app: &TestApp,
    token: &str,
    receiver: &common::webhook_receiver::Receiver,
) -> i64 {
    let (status, _, body) = create_org(app, token, "club").await;
    assert_eq!(status, 201, "{body}");
    sqlx::query("UPDATE organisations SET signup = 'open' WHERE slug = 'club'")
        .execute(app.store.pool())
        .await
        .unwrap();
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/orgs/club/webhooks"))
        .bearer_auth(token)
        .json(&serde_json::json!({"url": receiver.url}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    app.join("club", "member@example.org", None).await
}

async fn activate(app: &TestApp, token: &str, membership: i64) -> u16 {
    reqwest::Client::new()
        .patch(app.url(&format!("/api/v1/orgs/club/members/{membership}")))
        .bearer_auth(token)
        .json(&serde_json::json!({"status": "active", "reason": "healed"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// SQLite only: the write-ahead log made immutable (`chattr +i`, as root) for three seconds.
/// Connections that met the fault opened the log read-only and stayed so; the pool must retire
/// them, so that writes, `/readyz`, the outbox and the webhook worker recover by themselves.
#[tokio::test]
async fn a_read_only_write_ahead_log_heals_by_itself_once_writable_again() {
    if common::backend() != Backend::Sqlite {
        eprintln!("SKIPPED: a SQLite file fault; this run is on PostgreSQL");
        return;
    }
    let sink = SmtpSink::start().await;
    let receiver = common::webhook_receiver::Receiver::start().await;
    let app = spawn_with(|c| {
        quick_mail(c, &sink);
        c.webhooks.allow_private = true;
        c.webhooks.poll_ms = 50;
    })
    .await;
    let token = app.admin_token().await;
    let membership = club_with_endpoint(&app, &token, &receiver).await;
    let path = app.database_url.strip_prefix("sqlite://").unwrap().to_string();
    let wal = std::path::PathBuf::from(format!("{path}-wal"));
    assert!(wal.exists(), "the database runs in WAL mode");

    // An email whose SMTP answer is held, so its outcome is recorded during the fault.
    sink.set_mode(Mode::HoldAfterData(Duration::from_millis(1000)));
    let held = enqueue_invitation(&app, "held@example.org").await;
    sink.wait_for(1, Duration::from_secs(5)).await;

    let Some(fault) = Immutable::set(wal.clone()) else {
        eprintln!("SKIPPED: chattr +i is not possible here (needs root and e2fsprogs)");
        return;
    };
    let mut refused = 0;
    for n in 0..10 {
        let (status, retry, body) = write_once(&app, &token, 1000 + n).await;
        assert_eq!(status, 503, "a write during the fault: {body}");
        assert_eq!(retry.as_deref(), Some("5"));
        refused += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(reqwest::get(app.url("/readyz")).await.unwrap().status(), 503);
    assert_eq!(refused, 10);
    drop(fault);

    let took = until_writes_work(&app, &token, 0, Duration::from_secs(10)).await;
    eprintln!("writes recovered {} ms after the log became writable", took.as_millis());
    every_connection_writes(&app, &token).await;
    sink.set_mode(Mode::Accept);
    // The outbox records the held message once (not sent again when its lease runs out) …
    assert_eq!(wait_state(&app, held, "sent", Duration::from_secs(10)).await.0, "sent");
    // … and sends new mail; the webhook worker claims and delivers again.
    enqueue_invitation(&app, "after@example.org").await;
    assert!(sink.take_for("after@example.org", Duration::from_secs(10)).await.is_some());
    assert_eq!(activate(&app, &token, membership).await, 200);
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert!(got.iter().any(|r| r.json()["type"] == "membership.activated"), "{got:?}");
    tokio::time::sleep(Duration::from_secs(11)).await; // past the lease of the held message
    assert!(copies(&sink).values().all(|n| *n == 1), "an email was sent twice: {:?}", copies(&sink));
}

/// A small tmpfs mounted for one test (as root), unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(megabytes: u32) -> Option<SmallDisk> {
        let dir = std::env::temp_dir().join(format!("portico-full-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).ok()?;
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            let _ = std::fs::remove_dir(&dir);
            return None;
        }
        Some(SmallDisk(dir))
    }

    /// Writes to a file until the disk is full (again); its path.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.0.join("filler");
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// SQLite only, as root: the database on a filesystem that fills up. During the fault every
/// request is answered (no dropped connection, no 500), writes with 503 and `Retry-After`; when
/// space returns everything heals by itself, and no email is lost or sent twice.
#[tokio::test]
async fn a_full_disk_answers_503_and_heals_without_losing_or_repeating_mail() {
    if common::backend() != Backend::Sqlite {
        eprintln!("SKIPPED: a SQLite file fault; this run is on PostgreSQL");
        return;
    }
    let Some(disk) = SmallDisk::mount(16) else {
        eprintln!("SKIPPED: mounting a tmpfs needs root; this test runs only where it can");
        return;
    };
    let sink = SmtpSink::start().await;
    let receiver = common::webhook_receiver::Receiver::start().await;
    let url = format!("sqlite://{}", disk.0.join("portico.db").display());
    let app = spawn_on(url, None, |c| {
        quick_mail(c, &sink);
        // The held message's attempt (a second's hold after DATA) must end inside its deadline
        // even on a loaded machine: a deadline that cuts it off may send it again (the
        // documented at-least-once window), which is not what this test is about.
        c.outbox.send_timeout_secs = 5;
        c.outbox.lease_secs = 10;
        c.webhooks.allow_private = true;
        c.webhooks.poll_ms = 50;
    })
    .await;
    let token = app.admin_token().await;
    let membership = club_with_endpoint(&app, &token, &receiver).await;
    // An empty log, so that the next write needs new space.
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(app.store.pool()).await.unwrap();
    sink.set_mode(Mode::HoldAfterData(Duration::from_millis(1000)));
    let held = enqueue_invitation(&app, "held@example.org").await;
    sink.wait_for(1, Duration::from_secs(5)).await;

    let filler = disk.fill();
    let client = client();
    let started = Instant::now();
    let (mut refused, mut n) = (0, 0);
    while started.elapsed() < Duration::from_secs(3) {
        // A write that fails leaves its log frames allocated, and SQLite writes the next
        // transaction over them: a small write may fit there, so not every write is refused.
        // What must hold: every answer comes, none is a 500, a refusal is 503 with Retry-After.
        disk.fill();
        let (status, retry, body) = write_once(&app, &token, n).await;
        n += 1;
        match status {
            201 => {}
            503 => {
                assert_eq!(retry.as_deref(), Some("5"), "{body}");
                refused += 1;
            }
            _ => panic!("a write on a full disk: {status} {body}"),
        }
        for path in ["/readyz", "/login", "/healthz", "/api/v1/orgs/club", "/api/v1/orgs/club/members"] {
            let r =
                client.get(app.url(path)).bearer_auth(&token).send().await.expect("answered, not dropped");
            let status = r.status().as_u16();
            assert!(status < 500 || status == 503, "{path}: {status}");
            if status == 503 {
                assert!(r.headers().contains_key("retry-after"), "{path}: 503 without Retry-After");
            }
        }
    }
    assert!(refused > 0, "the full disk refused writes ({n} tried)");
    eprintln!("{refused} of {n} writes refused with 503 while the disk was full");
    std::fs::remove_file(filler).unwrap();

    let took = until_writes_work(&app, &token, 100, Duration::from_secs(10)).await;
    eprintln!("writes recovered {} ms after space returned", took.as_millis());
    every_connection_writes(&app, &token).await;
    sink.set_mode(Mode::Accept);
    assert_eq!(wait_state(&app, held, "sent", Duration::from_secs(10)).await.0, "sent");
    enqueue_invitation(&app, "after@example.org").await;
    assert!(sink.take_for("after@example.org", Duration::from_secs(10)).await.is_some());
    assert_eq!(activate(&app, &token, membership).await, 200);
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert!(got.iter().any(|r| r.json()["type"] == "membership.activated"), "{got:?}");
    tokio::time::sleep(Duration::from_secs(9)).await; // past the lease of the held message
    assert!(copies(&sink).values().all(|n| *n == 1), "an email was sent twice: {:?}", copies(&sink));
    assert_eq!(copies(&sink).len(), 1, "the held email arrived (the later one was taken above)");
    drop(app);
}

/// PostgreSQL: a statement stuck behind a lock held elsewhere (a migration, an operator's
/// `psql` session) gives up at `statement_timeout` and the request answers 503 with
/// `Retry-After`, instead of holding its connection for as long as the lock lasts.
#[tokio::test]
async fn a_statement_stuck_behind_a_lock_gives_up_and_answers_503() {
    if common::backend() != Backend::Postgres {
        eprintln!("SKIPPED: statement_timeout is PostgreSQL's; this run is on SQLite");
        return;
    }
    let app = spawn_with(|c| c.db_statement_timeout_secs = 1).await;
    let token = app.admin_token().await;
    assert_eq!(create_org(&app, &token, "locked").await.0, 201);
    // Another session takes the table and sits on it.
    let mut holder = <sqlx::AnyConnection as sqlx::Connection>::connect(&app.database_url).await.unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE organisations IN ACCESS EXCLUSIVE MODE")
        .execute(&mut holder)
        .await
        .unwrap();
    let started = Instant::now();
    let r = reqwest::Client::new()
        .get(app.url("/api/v1/orgs/locked"))
        .bearer_auth(&token)
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("answered while the lock is held");
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert!(started.elapsed() < Duration::from_secs(5), "gave up at the limit: {:?}", started.elapsed());
    sqlx::raw_sql("ROLLBACK").execute(&mut holder).await.unwrap();
    let r =
        reqwest::Client::new().get(app.url("/api/v1/orgs/locked")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

/// A client that asks for a large answer (the audit log as CSV) and then never reads it is cut
/// off after the write timeout without progress, instead of holding its connection (and the
/// export's database reads) forever; a client that reads gets the whole answer.
#[tokio::test]
async fn a_client_that_stops_reading_a_large_answer_is_cut_off() {
    let app = spawn_with(|c| c.http.write_timeout_secs = 1).await;
    let password = app.create_staff("ada@portico.test", StaffRole::Admin).await;
    // About 12 MB of CSV: far more than the sockets' buffers hold.
    sqlx::raw_sql(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60000)
         INSERT INTO audit_events (at, actor, action, target, client_ip, details)
         SELECT 1700000000 + i, 'stripe', 'member.status_changed', 'member' || i || '@example.org',
                '192.0.2.1', '{\"reason\":\"a reason long enough to make each row of the export weigh more\"}'
         FROM n",
    )
    .execute(app.store.pool())
    .await
    .unwrap();
    // A signed-in browser's cookies, for raw connections.
    let cookie_header = {
        let r = app.login(&client(), "ada@portico.test", &password).await;
        r.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok()?.split(';').next().map(String::from))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let request = format!("GET /staff/audit.csv HTTP/1.1\r\nHost: x\r\nCookie: {cookie_header}\r\n\r\n");

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = socket.connect(addr(&app).parse().unwrap()).await.unwrap();
    stalled.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await; // reads nothing meanwhile
    let mut taken = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), stalled.read_to_end(&mut taken)).await;
    assert!(matches!(closed, Ok(Ok(_)) | Ok(Err(_))), "the server ended the connection");

    let mut reader = TcpStream::connect(addr(&app)).await.unwrap();
    reader.write_all(request.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut whole = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), reader.read_to_end(&mut whole)).await.unwrap().unwrap();
    assert!(
        whole.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&whole[..200.min(whole.len())])
    );
    assert!(whole.len() > 5_000_000, "the whole export: {} bytes", whole.len());
    assert!(
        taken.len() < whole.len() / 2,
        "the stalled client was cut off: it got {} of {} bytes",
        taken.len(),
        whole.len()
    );
}
