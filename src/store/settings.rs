use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::{AnyConnection, Executor, Row};

use super::Result;

pub async fn set(conn: &mut AnyConnection, key: &str, value: &str, by: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO settings (key, value, updated_at, updated_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (key) DO UPDATE SET value = $2, updated_at = $3, updated_by = $4",
    )
    .bind(key)
    .bind(value)
    .bind(super::now())
    .bind(by)
    .execute(conn)
    .await?;
    Ok(())
}

/// How long a process trusts the settings it read: a change made through any process applies
/// everywhere within this time.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// Every stored setting, read at most once per [`FRESH_FOR`] per process (the table is a handful
/// of rows), so a request that checks a limit does not query for it.
#[derive(Default)]
pub struct SettingsCache {
    /// When the table was read, and what it held.
    read: Mutex<Option<(Instant, Values)>>,
    /// Bumped by every [`SettingsCache::forget`]: a read that began before a change in this
    /// process may finish after it, and must not put what it read back in the cache.
    generation: AtomicU64,
}

type Values = Arc<HashMap<String, String>>;

impl SettingsCache {
    fn fresh(&self) -> Option<Values> {
        let read = self.read.lock().unwrap_or_else(|p| p.into_inner());
        read.as_ref().filter(|(at, _)| at.elapsed() < FRESH_FOR).map(|(_, values)| values.clone())
    }

    /// The stored value of `key` (`None`: the default applies).
    pub async fn get<'c, E: Executor<'c, Database = sqlx::Any>>(
        &self,
        e: E,
        key: &str,
    ) -> Result<Option<String>> {
        let values = match self.fresh() {
            Some(values) => values,
            None => {
                let generation = self.generation.load(Ordering::Acquire);
                let rows = sqlx::query("SELECT key, value FROM settings").fetch_all(e).await?;
                let values: HashMap<String, String> =
                    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect::<Result<_>>()?;
                let values = Arc::new(values);
                let mut read = self.read.lock().unwrap_or_else(|p| p.into_inner());
                if self.generation.load(Ordering::Acquire) == generation {
                    *read = Some((Instant::now(), values.clone()));
                }
                values
            }
        };
        Ok(values.get(key).cloned())
    }

    /// After a change in this process: the next read goes to the database.
    pub fn forget(&self) {
        let mut read = self.read.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        *read = None;
    }
}
