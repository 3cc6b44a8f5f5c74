//! Backups and restores of a SQLite database (SPEC §3.12), for the operator: `portico backup`,
//! the schedule in `serve`, the backup before a migration, and `portico restore`.
//!
//! A backup is only ever given its final name, `portico-YYYYMMDDTHHMMSSZ-v{schema}.db`, once
//! it passed `integrity_check`, so every file of that name in the backup directory is a good
//! one and the newest name is the last good backup.
//!
//! Servers and restores agree through a lock file beside the database (`{database}.lock`):
//! every `serve` holds a shared lock on it for its whole life (the kernel drops it when the
//! process ends, however it ends); `restore` needs it exclusively.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::store::backup::{self as copies, FileCheck};
use crate::store::migrations::SCHEMA_VERSION;
use crate::store::{Backend, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "Portico backs up SQLite databases only; back up PostgreSQL with pg_dump or point-in-time recovery (docs/operating.md, \"Backups on PostgreSQL\")"
    )]
    Postgres,
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "{file} has schema version {found}; this binary (portico {version}) knows versions up to {SCHEMA_VERSION}: restore it with that newer Portico",
        version = env!("CARGO_PKG_VERSION")
    )]
    NewerSchema { file: String, found: i64 },
    #[error(
        "a Portico server is using {database} (it holds the lock {lock}): stop every `portico serve` on this database, then restore"
    )]
    InUse { database: String, lock: String },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BackupError {
    let path = path.to_path_buf();
    move |source| BackupError::Io { what, path, source }
}

/// A backup that passed its check.
#[derive(Debug, Clone)]
pub struct Backup {
    pub path: PathBuf,
    pub schema_version: i64,
    /// Unix seconds, from its name.
    pub taken_at: i64,
}

/// The SQLite file the configuration names; `Postgres` otherwise.
pub fn database_path(config: &Config) -> Result<PathBuf, BackupError> {
    copies::sqlite_path(&config.database_url).ok_or(BackupError::Postgres)
}

/// `backup_dir`, else a `backups` directory beside the database file.
pub fn backup_dir(config: &Config) -> Result<PathBuf, BackupError> {
    if let Some(dir) = &config.backup.dir {
        return Ok(dir.clone());
    }
    let database = database_path(config)?;
    let parent = database.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Ok(parent.join("backups"))
}

const STAMP: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");

/// `portico-20261202T154100Z-v19.db` → (taken at, schema version).
fn parse_name(name: &str) -> Option<(i64, i64)> {
    let rest = name.strip_prefix("portico-")?.strip_suffix(".db")?;
    let (stamp, version) = rest.split_once("-v")?;
    let taken = time::PrimitiveDateTime::parse(stamp, STAMP).ok()?.assume_utc().unix_timestamp();
    Some((taken, version.parse().ok()?))
}

/// The good backups in `dir`, newest first (an absent directory has none).
pub fn list(dir: &Path) -> Result<Vec<Backup>, BackupError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io("cannot read the backup directory", dir)(e)),
    };
    let mut found: Vec<Backup> = entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let name = entry.file_name().into_string().ok()?;
            let (taken_at, schema_version) = parse_name(&name)?;
            Some(Backup { path: entry.path(), schema_version, taken_at })
        })
        .collect();
    found.sort_by(|a, b| b.taken_at.cmp(&a.taken_at).then_with(|| b.path.cmp(&a.path)));
    Ok(found)
}

/// Takes a backup of `store` into `dir` (created if need be) and checks it.
pub async fn take(store: &Store, dir: &Path) -> Result<Backup, BackupError> {
    if store.backend() != Backend::Sqlite {
        return Err(BackupError::Postgres);
    }
    std::fs::create_dir_all(dir).map_err(io("cannot create the backup directory", dir))?;
    let schema_version = store.schema_status().await?.current;
    let now =
        time::OffsetDateTime::now_utc().replace_nanosecond(0).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let stamp = now.format(STAMP).unwrap_or_default();
    let path = dir.join(format!("portico-{stamp}-v{schema_version}.db"));
    // Partial copies carry another name (and this process's id), so no reader takes one for a
    // backup and two processes never write the same file.
    let partial = dir.join(format!(".portico-{stamp}-v{schema_version}.{}.partial", std::process::id()));
    let _ = std::fs::remove_file(&partial);
    let outcome = async {
        copies::vacuum_into(store, &partial).await?;
        // VACUUM INTO leaves syncing the copy to the operating system.
        File::open(&partial).and_then(|f| f.sync_all()).map_err(io("cannot sync the backup", &partial))?;
        let FileCheck { schema_version } = copies::check_file(&partial).await?;
        std::fs::rename(&partial, &path).map_err(io("cannot name the backup", &path))?;
        sync_dir(dir);
        Ok(Backup { path: path.clone(), schema_version, taken_at: now.unix_timestamp() })
    }
    .await;
    if outcome.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    outcome
}

/// Deletes all but the `keep` newest backups in `dir`, and partial copies an hour old (left by
/// a process that died while copying); returns what it deleted.
pub fn prune(dir: &Path, keep: usize) -> Result<Vec<PathBuf>, BackupError> {
    let mut removed = Vec::new();
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3_600);
    for entry in std::fs::read_dir(dir).map_err(io("cannot read the backup directory", dir))?.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let stale = entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < hour_ago);
        if name.starts_with(".portico-") && name.ends_with(".partial") && stale {
            let _ = std::fs::remove_file(entry.path());
            removed.push(entry.path());
        }
    }
    for old in list(dir)?.into_iter().skip(keep) {
        std::fs::remove_file(&old.path).map_err(io("cannot delete the old backup", &old.path))?;
        removed.push(old.path);
    }
    Ok(removed)
}

/// What one round of the schedule did.
#[derive(Debug)]
pub enum Scheduled {
    /// The newest backup is younger than the interval (taken by this or another process).
    NotDue,
    /// Another process is taking one right now.
    Busy,
    Taken {
        backup: Backup,
        pruned: usize,
    },
}

/// The schedule's round: a backup when the newest is `interval_secs` old, then the oldest
/// beyond `keep` deleted. Several servers on one database take turns through a lock file in
/// the backup directory, and look at the newest backup again once they hold it.
pub async fn scheduled(store: &Store, config: &Config) -> Result<Scheduled, BackupError> {
    let dir = backup_dir(config)?;
    let due = |dir: &Path| -> Result<bool, BackupError> {
        let newest = list(dir)?.first().map(|b| b.taken_at);
        Ok(newest.is_none_or(|t| crate::store::now() - t >= config.backup.interval_secs as i64))
    };
    if !due(&dir)? {
        return Ok(Scheduled::NotDue);
    }
    std::fs::create_dir_all(&dir).map_err(io("cannot create the backup directory", &dir))?;
    let Some(lock) = lock_exclusively(&dir.join(".portico-backup.lock"))? else { return Ok(Scheduled::Busy) };
    if !due(&dir)? {
        return Ok(Scheduled::NotDue);
    }
    let backup = take(store, &dir).await?;
    let pruned = prune(&dir, config.backup.keep)?.len();
    drop(lock);
    Ok(Scheduled::Taken { backup, pruned })
}

/// The lock file at `path`, held exclusively; `None` while someone else holds it.
fn lock_exclusively(path: &Path) -> Result<Option<File>, BackupError> {
    let file = open_lock(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(io("cannot lock", path)(e)),
    }
}

fn open_lock(path: &Path) -> Result<File, BackupError> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(io("cannot open the lock file", path))
}

/// Best effort: a rename is durable once its directory is synced.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// `path` with `suffix` added to its file name (`portico.db` → `portico.db.lock`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn lock_path(database: &Path) -> PathBuf {
    with_suffix(database, ".lock")
}

/// Held by a running server: while any is held, `restore` refuses.
pub struct ServerLock {
    _file: File,
}

/// Takes the shared lock a running server holds on its SQLite database (none on PostgreSQL).
pub fn hold_server_lock(config: &Config) -> Result<Option<ServerLock>, BackupError> {
    let Some(database) = copies::sqlite_path(&config.database_url) else { return Ok(None) };
    let path = lock_path(&database);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io("cannot create the database directory", parent))?;
    }
    let file = open_lock(&path)?;
    file.lock_shared().map_err(io("cannot lock", &path))?;
    Ok(Some(ServerLock { _file: file }))
}

/// What `restore` did.
#[derive(Debug)]
pub struct Restored {
    pub database: PathBuf,
    pub schema_version: i64,
    /// Where the database it replaced now is (`None`: there was none).
    pub replaced: Option<PathBuf>,
}

/// Puts the backup `file` in place of the configured SQLite database: checks the file, refuses
/// while a server holds the database, and moves the current database (with its WAL) aside as
/// `{database}.replaced-{time}` rather than deleting it.
pub async fn restore(config: &Config, file: &Path) -> Result<Restored, BackupError> {
    let database = database_path(config)?;
    let lock_path = lock_path(&database);
    if let Some(parent) = database.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io("cannot create the database directory", parent))?;
    }
    let Some(lock) = lock_exclusively(&lock_path)? else {
        return Err(BackupError::InUse {
            database: database.display().to_string(),
            lock: lock_path.display().to_string(),
        });
    };
    let FileCheck { schema_version } = copies::check_file(file).await?;
    if schema_version > SCHEMA_VERSION {
        return Err(BackupError::NewerSchema { file: file.display().to_string(), found: schema_version });
    }
    // The copy is made beside the database first, so the swap is one rename on one filesystem.
    let incoming = with_suffix(&database, ".restoring");
    std::fs::copy(file, &incoming).map_err(io("cannot copy the backup to", &incoming))?;
    File::open(&incoming).and_then(|f| f.sync_all()).map_err(io("cannot sync", &incoming))?;
    let stamp = time::OffsetDateTime::now_utc().format(STAMP).unwrap_or_default();
    let aside = with_suffix(&database, &format!(".replaced-{stamp}"));
    let replaced = if database.exists() {
        std::fs::rename(&database, &aside)
            .map_err(io("cannot move the current database aside to", &aside))?;
        // Its write-ahead log belongs to it: it moves along, under the matching name.
        for suffix in ["-wal", "-shm"] {
            let from = with_suffix(&database, suffix);
            if from.exists() {
                let to = with_suffix(&aside, suffix);
                std::fs::rename(&from, &to).map_err(io("cannot move aside", &from))?;
            }
        }
        Some(aside)
    } else {
        None
    };
    std::fs::rename(&incoming, &database).map_err(io("cannot put the backup in place at", &database))?;
    if let Some(parent) = database.parent() {
        sync_dir(if parent.as_os_str().is_empty() { Path::new(".") } else { parent });
    }
    drop(lock);
    Ok(Restored { database, schema_version, replaced })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_time_and_schema_version() {
        assert_eq!(parse_name("portico-20261202T154100Z-v19.db"), Some((1_796_226_060, 19)));
        assert_eq!(parse_name(".portico-20261202T154100Z-v19.123.partial"), None);
        assert_eq!(parse_name("portico-2026-12-02-v19.db"), None);
        assert_eq!(parse_name("portico.db"), None);
    }
}
