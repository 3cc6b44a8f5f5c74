//! Outbox drain benchmark: queues N messages, then lets one outbox worker deliver them over
//! SMTP to a sink on loopback, and reports messages per second.
//!
//!     cargo bench --bench outbox_drain                      # SQLite, 2000 messages
//!     BENCH_MESSAGES=5000 cargo bench --bench outbox_drain
//!     BENCH_DATABASE=postgres cargo bench --bench outbox_drain   # PostgreSQL (PORTICO_TEST_POSTGRES_URL)

#[path = "../tests/it/common/smtp_sink.rs"]
mod smtp_sink;

use std::time::{Duration, Instant};

use portico::config::{Config, Purpose};
use portico::delivery::email::Worker;
use portico::domain::Email;
use portico::i18n::Locale;
use portico::mail::{self, templates::Invitation};
use portico::store::Store;
use sqlx::Executor;

#[tokio::main]
async fn main() {
    let messages: usize = std::env::var("BENCH_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let batch: i64 = std::env::var("BENCH_BATCH").ok().and_then(|v| v.parse().ok()).unwrap_or(32);
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (url, backend) = match std::env::var("BENCH_DATABASE").as_deref() {
        Ok("postgres") => {
            let admin = std::env::var("PORTICO_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
            sqlx::any::install_default_drivers();
            let mut conn =
                <sqlx::AnyConnection as sqlx::Connection>::connect(&admin).await.expect("postgres");
            conn.execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA bench_{id}"))).await.expect("schema");
            (format!("{admin}?options=-c%20search_path%3Dbench_{id}"), "postgres")
        }
        _ => {
            let dir = std::env::temp_dir().join(format!("portico-bench-{id}"));
            std::fs::create_dir_all(&dir).expect("dir");
            (format!("sqlite://{}", dir.join("bench.db").display()), "sqlite")
        }
    };
    let sink = smtp_sink::SmtpSink::start().await;
    let env = [
        ("PORTICO_DATABASE_URL", url.as_str()),
        ("PORTICO_SMTP_URL", &sink.url()),
        ("PORTICO_SECRET_KEY", "bench-secret-key-0123456789abcdef-01234"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut config = Config::from_sources(Purpose::Serve, None, &env).expect("config");
    config.outbox.batch = batch;
    let store = Store::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");

    let rendered = Invitation {
        org_name: "Bench Space".into(),
        link: "https://portico.example/invite/0123456789abcdef0123456789abcdef".into(),
        expires_in_hours: 48,
        existing_user: false,
    }
    .render(Locale::En, "Portico")
    .expect("render");
    let queue_start = Instant::now();
    let mut tx = store.begin().await.expect("tx");
    for i in 0..messages {
        let to = Email::parse(&format!("member{i}@example.org")).expect("email");
        mail::enqueue(&mut tx, &config, &to, &rendered, None, None).await.expect("enqueue");
    }
    tx.commit().await.expect("commit");
    let queued_in = queue_start.elapsed();

    let start = Instant::now();
    let worker =
        tokio::spawn(std::sync::Arc::new(Worker::new(store.clone(), &config).expect("worker")).run());
    let received = sink.wait_for(messages, Duration::from_secs(600)).await;
    let elapsed = start.elapsed();
    worker.abort();
    assert_eq!(received.len(), messages, "every message delivered");
    println!(
        "outbox_drain backend={backend} messages={messages} batch={batch}: queued in {:.2}s ({:.0} msg/s); drained in {:.2}s = {:.0} msg/s",
        queued_in.as_secs_f64(),
        messages as f64 / queued_in.as_secs_f64(),
        elapsed.as_secs_f64(),
        messages as f64 / elapsed.as_secs_f64()
    );
}
