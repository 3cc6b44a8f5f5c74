//! SQLite connections that met a storage fault are retired, not reused.
//!
//! A connection that found its `-wal` (or the database file) unwritable opens it read-only and
//! stays read-only for as long as it lives: every later write on it answers SQLITE_READONLY,
//! even once the file is writable again. The same holds, in other ways, after CANTOPEN and the
//! IOERR family. The error reaches us as a value, without the connection it came from, so every
//! such error marks the moment it was seen; the pool then closes, on release and before
//! handing one out, every connection opened before that moment. A new connection opens the files
//! afresh: writes recover as soon as the files are writable, without a restart.
//!
//! The mark is process-wide (errors are converted where no store is at hand); a second store in
//! the same process (tests) at worst reopens its connections once.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Microseconds after [`epoch`] at which the last fault was seen (0: never).
static LAST_FAULT_US: AtomicU64 = AtomicU64::new(0);
/// When the first write succeeded after the last fault. A connection opened while the fault
/// lasted may have opened the log read-only without having failed yet: connections opened
/// before this moment are retired too.
static HEALED_US: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn micros_since_epoch(at: Instant) -> u64 {
    at.saturating_duration_since(epoch()).as_micros() as u64 + 1
}

/// SQLite result codes after which a connection must not serve again: READONLY 8, IOERR 10,
/// FULL 13, CANTOPEN 14 (primary codes; extended codes carry them in their low byte).
pub fn is_connection_fault(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some()
                && d.code()
                    .and_then(|code| code.parse::<i64>().ok())
                    .is_some_and(|code| matches!(code & 0xff, 8 | 10 | 13 | 14))
        }
        _ => false,
    }
}

/// Remembers `e` if it is a connection fault.
pub fn note(e: &sqlx::Error) {
    if is_connection_fault(e) {
        // Make sure the epoch predates every connection that could have seen the fault.
        epoch();
        LAST_FAULT_US.fetch_max(micros_since_epoch(Instant::now()), Ordering::SeqCst);
    }
}

/// A write committed: the first one after a fault marks the healing.
pub fn note_success() {
    let fault = LAST_FAULT_US.load(Ordering::Relaxed);
    if fault > HEALED_US.load(Ordering::Relaxed) {
        HEALED_US.fetch_max(micros_since_epoch(Instant::now()), Ordering::SeqCst);
    }
}

/// Whether a connection of this age was opened before the last fault or while it lasted (and
/// must be closed).
pub fn opened_before_last_fault(age: Duration) -> bool {
    let fault = LAST_FAULT_US.load(Ordering::SeqCst).max(HEALED_US.load(Ordering::SeqCst));
    if fault == 0 {
        return false;
    }
    let opened = Instant::now().checked_sub(age).unwrap_or_else(epoch);
    micros_since_epoch(opened) <= fault
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_connections_older_than_the_fault_are_retired() {
        epoch();
        std::thread::sleep(Duration::from_millis(5));
        let before = Instant::now();
        std::thread::sleep(Duration::from_millis(5));
        LAST_FAULT_US.fetch_max(micros_since_epoch(Instant::now()), Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(5));
        assert!(opened_before_last_fault(before.elapsed()), "opened before the fault");
        assert!(!opened_before_last_fault(Duration::ZERO), "opened after it");
    }
}
