//! Persistence. One SQL text serves both backends wherever the dialects agree (through sqlx's
//! `Any` driver, with `$n` placeholders that SQLite understands too); code branches on
//! [`Backend`] only where they differ. Times are stored as Unix seconds (`BIGINT`).

pub mod access;
pub mod api_tokens;
pub mod audit;
pub mod backup;
pub mod erasure;
pub mod export;
pub mod factors;
pub mod invitations;
pub mod memberships;
pub mod migrations;
pub mod oidc;
pub mod orgs;
pub mod outbox;
pub mod overview;
pub mod plans;
pub mod rate_limits;
pub mod records;
pub mod retention;
pub mod sessions;
pub mod settings;
pub mod signups;
pub mod sqlite_faults;
pub mod stripe_events;
pub mod tokens;
pub mod users;
pub mod webhooks;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyConnection, AnyPool, Connection, Executor};
use tokio::sync::{Mutex, Notify, OwnedMutexGuard};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a record with this {0} already exists")]
    Conflict(&'static str),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("database URL: {0}")]
    BadUrl(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error(
        "the database has schema version {found}, but this binary (portico {version}) knows versions up to {known}: a newer Portico has upgraded it. Run that version or a newer one, or restore a backup taken before the upgrade (`portico restore FILE`)",
        version = env!("CARGO_PKG_VERSION")
    )]
    NewerSchema { found: i64, known: i64 },
}

impl From<sqlx::Error> for StoreError {
    /// Every database error passes here, so a storage fault is noticed wherever it happens.
    fn from(e: sqlx::Error) -> StoreError {
        sqlite_faults::note(&e);
        StoreError::Database(e)
    }
}

impl StoreError {
    /// The constraint (or, on SQLite, the message naming it) of a unique violation.
    pub fn unique_violation(e: &sqlx::Error) -> Option<String> {
        match e {
            sqlx::Error::Database(d) if d.kind() == sqlx::error::ErrorKind::UniqueViolation => {
                Some(d.constraint().map(String::from).unwrap_or_else(|| d.message().to_string()))
            }
            _ => None,
        }
    }

    /// True when the database could not be reached or cannot write right now (connection
    /// refused or lost, pool timed out, read-only or failing storage): a condition that heals
    /// by itself, answered 503 rather than 500.
    pub fn is_unavailable(&self) -> bool {
        let StoreError::Database(e) = self else { return false };
        match e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => true,
            sqlx::Error::Database(d) => {
                let code = d.code().unwrap_or_default();
                // SQLite (primary result codes, also as part of extended ones): BUSY 5,
                // LOCKED 6, READONLY 8, IOERR 10, FULL 13, CANTOPEN 14.
                let sqlite_code = code.parse::<i64>().ok().map(|c| c & 0xff);
                if matches!(sqlite_code, Some(5 | 6 | 8 | 10 | 13 | 14)) {
                    return true;
                }
                // PostgreSQL: connection exceptions (08…), shutting down or starting (57P01-03),
                // a statement over `statement_timeout` (57014) or a lock wait over
                // `lock_timeout` (55P03), read-only transaction (25006), out of disk or memory (53…).
                code.starts_with("08")
                    || code.starts_with("57P")
                    || code == "57014"
                    || code == "55P03"
                    || code == "25006"
                    || code.starts_with("53")
            }
            _ => false,
        }
    }

    /// Maps a unique-constraint violation to `Conflict(what)`, passing other errors through.
    pub fn conflict_as(e: sqlx::Error, what: &'static str) -> StoreError {
        match &e {
            sqlx::Error::Database(d) if d.kind() == sqlx::error::ErrorKind::UniqueViolation => {
                StoreError::Conflict(what)
            }
            _ => StoreError::from(e),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite has one writer at a time; queueing writers here instead of in SQLite's busy
    /// handler keeps concurrent requests fast and free of `SQLITE_BUSY`.
    sqlite_writer: Option<Arc<Mutex<()>>>,
    /// Woken when a transaction that enqueued email commits, so this process's outbox worker
    /// sends at once instead of at its next poll.
    outbox_wakeup: Arc<Notify>,
    /// The same for webhook deliveries and this process's webhook worker.
    webhook_wakeup: Arc<Notify>,
    /// Test hook: how many of the next commits fail (see [`Store::fail_next_commits`]).
    commit_faults: Arc<AtomicU32>,
    /// Runtime settings as this process last read them.
    settings: Arc<settings::SettingsCache>,
}

/// A write transaction. Dropping it without `commit` rolls everything back.
pub struct Tx {
    tx: sqlx::Transaction<'static, Any>,
    _writer: Option<OwnedMutexGuard<()>>,
    /// Messages this transaction put in the outbox.
    pub(crate) enqueued: u64,
    outbox_wakeup: Arc<Notify>,
    /// Webhook deliveries this transaction queued.
    pub(crate) webhooks_queued: u64,
    webhook_wakeup: Arc<Notify>,
    commit_faults: Arc<AtomicU32>,
}

impl Tx {
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    pub async fn commit(mut self) -> Result<()> {
        let injected =
            self.commit_faults.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if injected {
            // What a COMMIT that fails on a storage error leaves behind: SQLite has rolled the
            // transaction back by itself while the driver still counts it as open.
            sqlx::query("ROLLBACK").execute(&mut *self.tx).await?;
            return Err(StoreError::Database(sqlx::Error::Io(std::io::Error::other(
                "test hook: COMMIT failed (disk I/O error)",
            ))));
        }
        self.tx.commit().await?;
        sqlite_faults::note_success();
        if self.enqueued > 0 {
            crate::metrics::MAIL_QUEUED.add(self.enqueued);
            self.outbox_wakeup.notify_one();
        }
        if self.webhooks_queued > 0 {
            self.webhook_wakeup.notify_one();
        }
        Ok(())
    }
}

/// The waits a pool puts bounds on.
#[derive(Clone, Copy, Debug)]
pub struct PoolLimits {
    /// How long a request waits for a connection, so that during a database outage requests
    /// fail fast instead of piling up.
    pub acquire_timeout: Duration,
    /// PostgreSQL: the longest a statement may run (`statement_timeout`), so that no statement
    /// holds a connection forever (behind a lock, say). Migrations lift it for themselves.
    pub statement_timeout: Duration,
}

impl Default for PoolLimits {
    fn default() -> PoolLimits {
        PoolLimits { acquire_timeout: Duration::from_secs(3), statement_timeout: Duration::from_secs(30) }
    }
}

impl Store {
    pub async fn connect(url: &str) -> Result<Store> {
        Self::connect_with(url, PoolLimits::default()).await
    }

    /// Opens the pool with `limits`.
    pub async fn connect_with(url: &str, limits: PoolLimits) -> Result<Store> {
        let acquire_timeout = limits.acquire_timeout;
        let statement_timeout_ms = limits.statement_timeout.as_millis().max(1) as u64;
        sqlx::any::install_default_drivers();
        let (backend, url) = if let Some(rest) = url.strip_prefix("sqlite:") {
            // Create the file on first start unless the URL says otherwise.
            let sep = if rest.contains('?') { '&' } else { '?' };
            let url = if rest.contains("mode=") { url.to_string() } else { format!("{url}{sep}mode=rwc") };
            // ... and its directory (`sqlite:///var/lib/portico/portico.db` on a new machine).
            if url.contains("mode=rwc")
                && let Some(dir) = backup::sqlite_path(&url).as_deref().and_then(std::path::Path::parent)
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::BadUrl(format!("cannot create {}: {e}", dir.display())))?;
            }
            (Backend::Sqlite, url)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string())
        } else {
            return Err(StoreError::BadUrl(format!("unsupported database URL scheme in {url:?}")));
        };
        let options: AnyConnectOptions =
            url.parse().map_err(|e: sqlx::Error| StoreError::BadUrl(e.to_string()))?;
        // SQLite: one writer at a time anyway, and each connection is a thread with its own page
        // cache; 4 read as fast as 8 and kept a mixed load ~25 MiB smaller (bench/load.rs).
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 10 })
            .acquire_timeout(acquire_timeout)
            // A connection whose transaction did not end (its COMMIT or ROLLBACK failed) must
            // never serve another request: flush the pending rollback, and if the driver still
            // counts a transaction, close the connection instead of pooling it.
            .after_release(move |conn, meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite && sqlite_faults::opened_before_last_fault(meta.age) {
                        tracing::warn!("closing a database connection opened before a storage fault");
                        return Ok(false);
                    }
                    if conn.is_in_transaction() {
                        conn.ping().await?;
                    }
                    let clean = !conn.is_in_transaction();
                    if !clean {
                        tracing::warn!("closing a database connection left inside a failed transaction");
                    }
                    Ok(clean)
                })
            })
            // The error that marks a fault may be converted after its connection went back to
            // the pool: look again before handing one out (an atomic read, no I/O).
            .before_acquire(move |_conn, meta| {
                Box::pin(async move {
                    Ok(!(backend == Backend::Sqlite && sqlite_faults::opened_before_last_fault(meta.age)))
                })
            })
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    match backend {
                        Backend::Sqlite => {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                            )
                            .await?;
                        }
                        Backend::Postgres => {
                            let set = format!("SET statement_timeout = {statement_timeout_ms}");
                            conn.execute(sqlx::AssertSqlSafe(set)).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Store {
            pool,
            backend,
            sqlite_writer: (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(()))),
            outbox_wakeup: Arc::new(Notify::new()),
            webhook_wakeup: Arc::new(Notify::new()),
            commit_faults: Arc::new(AtomicU32::new(0)),
            settings: Arc::default(),
        })
    }

    /// Runtime settings as this process last read them (at most a second old).
    pub fn settings(&self) -> &settings::SettingsCache {
        &self.settings
    }

    pub fn outbox_wakeup(&self) -> Arc<Notify> {
        self.outbox_wakeup.clone()
    }

    /// Notified when a transaction of this process that queued webhook deliveries commits.
    pub fn webhook_wakeup(&self) -> Arc<Notify> {
        self.webhook_wakeup.clone()
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// For reads; writes go through [`Store::begin`].
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn begin(&self) -> Result<Tx> {
        let writer = match &self.sqlite_writer {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        };
        let tx = match self.backend {
            // IMMEDIATE takes the write lock up front, so a transaction that reads before it
            // writes cannot fail half-way against another process (a CLI command, say).
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(Tx {
            tx,
            _writer: writer,
            enqueued: 0,
            outbox_wakeup: self.outbox_wakeup.clone(),
            webhooks_queued: 0,
            webhook_wakeup: self.webhook_wakeup.clone(),
            commit_faults: self.commit_faults.clone(),
        })
    }

    pub async fn migrate(&self) -> Result<usize> {
        migrations::run(self).await
    }

    /// The applied schema version and the migrations still to apply; changes nothing.
    pub async fn schema_status(&self) -> Result<migrations::SchemaStatus> {
        migrations::status(self).await
    }

    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Proves the database takes writes: one committed update of a probe row. `serve` refuses
    /// to start when this fails, and `/readyz` runs it (under a deadline).
    pub async fn check_writable(&self) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE health_probe SET checked_at = $1 WHERE id = 1")
            .bind(now())
            .execute(tx.conn())
            .await?;
        tx.commit().await
    }

    /// Test hook: the next `n` commits fail the way a COMMIT fails on a storage error. Nothing
    /// outside the tests calls it.
    pub fn fail_next_commits(&self, n: u32) {
        self.commit_faults.store(n, Ordering::SeqCst);
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
