//! Copies of a SQLite database taken while servers write to it, and the checks a copy must pass
//! before anyone relies on it. (PostgreSQL is backed up with its own tools.)

use std::path::{Path, PathBuf};

use sqlx::{Connection, Row};

use super::{Backend, Result, Store, StoreError};

/// The file a `sqlite:` URL names (`sqlite://portico.db`, `sqlite:///var/lib/x.db`,
/// `sqlite:x.db?mode=rwc`); `None` for PostgreSQL and in-memory databases.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or("");
    if path.is_empty() || path.starts_with(":memory:") {
        return None;
    }
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8().ok()?;
    Some(PathBuf::from(decoded.as_ref()))
}

/// Writes a consistent copy of the database to `dest` (which must not exist) with
/// `VACUUM INTO`: a read transaction, so writers carry on meanwhile (WAL), and the copy is one
/// instant of the database, compacted.
pub async fn vacuum_into(store: &Store, dest: &Path) -> Result<()> {
    if store.backend() != Backend::Sqlite {
        return Err(StoreError::BadUrl("backups through Portico are for SQLite databases".into()));
    }
    let dest = dest.to_str().ok_or_else(|| StoreError::BadUrl(format!("{dest:?} is not UTF-8")))?;
    let mut conn = store.pool().acquire().await?;
    sqlx::query("VACUUM INTO $1").bind(dest).execute(&mut *conn).await?;
    Ok(())
}

/// What a database file holds, once it passed SQLite's `integrity_check`.
#[derive(Debug, Clone, Copy)]
pub struct FileCheck {
    pub schema_version: i64,
}

/// Opens `path` read-only (and as immutable: nothing else may write it meanwhile), runs
/// `PRAGMA integrity_check` and reads its schema version. A file that is not a Portico database,
/// or not a database at all, is `Corrupt`.
pub async fn check_file(path: &Path) -> Result<FileCheck> {
    let shown = path.display().to_string();
    if !path.is_file() {
        return Err(StoreError::Corrupt(format!("{shown} is not a file")));
    }
    let url = format!(
        "sqlite://{}?mode=ro&immutable=true",
        percent_encoding::utf8_percent_encode(&shown, PATH_UNSAFE)
    );
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&url)
        .await
        .map_err(|e| StoreError::Corrupt(format!("{shown} cannot be opened as a SQLite database: {e}")))?;
    let outcome = async {
        let rows = sqlx::query("PRAGMA integrity_check")
            .fetch_all(&mut conn)
            .await
            .map_err(|e| StoreError::Corrupt(format!("{shown} is not a readable SQLite database: {e}")))?;
        let findings: Vec<String> = rows.iter().filter_map(|r| r.try_get::<String, _>(0).ok()).collect();
        if findings != ["ok"] {
            let shown_findings = findings.iter().take(5).cloned().collect::<Vec<_>>().join("; ");
            return Err(StoreError::Corrupt(format!("{shown} failed its integrity check: {shown_findings}")));
        }
        let version = sqlx::query("SELECT MAX(version) FROM schema_migrations")
            .fetch_one(&mut conn)
            .await
            .map_err(|_| {
                StoreError::Corrupt(format!("{shown} is not a Portico database (no schema_migrations)"))
            })?
            .try_get::<Option<i64>, _>(0)
            .map_err(|e| StoreError::Corrupt(format!("{shown}: schema version: {e}")))?;
        Ok(FileCheck { schema_version: version.unwrap_or(0) })
    }
    .await;
    let _ = conn.close().await;
    outcome
}

/// Characters a path may not carry unescaped inside a URL.
const PATH_UNSAFE: &percent_encoding::AsciiSet =
    &percent_encoding::CONTROLS.add(b'?').add(b'#').add(b'%').add(b' ');

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_of_sqlite_urls() {
        assert_eq!(sqlite_path("sqlite://portico.db"), Some(PathBuf::from("portico.db")));
        assert_eq!(
            sqlite_path("sqlite:///var/lib/portico/p.db?mode=rwc"),
            Some("/var/lib/portico/p.db".into())
        );
        assert_eq!(sqlite_path("sqlite:data/p.db"), Some(PathBuf::from("data/p.db")));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://localhost/db"), None);
    }
}
