//! Process-wide counters, exported in the Prometheus text format at `/metrics` together with
//! gauges read from the database (the outbox depth, which all processes share).

use std::sync::atomic::{AtomicU64, Ordering};

pub struct Counter {
    name: &'static str,
    help: &'static str,
    value: AtomicU64,
}

impl Counter {
    const fn new(name: &'static str, help: &'static str) -> Counter {
        Counter { name, help, value: AtomicU64::new(0) }
    }

    pub fn add(&self, n: u64) {
        self.value.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
}

pub static MAIL_QUEUED: Counter =
    Counter::new("portico_mail_queued_total", "Emails committed to the outbox by this process.");
pub static MAIL_SENT: Counter = Counter::new("portico_mail_sent_total", "Emails delivered by this process.");
pub static MAIL_FAILED: Counter = Counter::new(
    "portico_mail_failed_total",
    "Delivery attempts that failed transiently and will be retried.",
);
pub static MAIL_DEAD: Counter =
    Counter::new("portico_mail_dead_total", "Emails given up on (permanent failure or too many attempts).");

pub static MAIL_TIMED_OUT: Counter = Counter::new(
    "portico_mail_timed_out_total",
    "Delivery attempts cut off by their deadline (counted as transient failures too).",
);
pub static HASH_REFUSED: Counter = Counter::new(
    "portico_password_hash_refused_total",
    "Password checks refused with 503 because the hashing queue was full.",
);
pub static STORE_UNAVAILABLE: Counter = Counter::new(
    "portico_store_unavailable_total",
    "Requests answered 503 because the database could not be reached in time.",
);
pub static CONNECTIONS_REFUSED: Counter = Counter::new(
    "portico_connections_refused_total",
    "Connections closed at once because the connection cap was reached.",
);
pub static WRITES_TIMED_OUT: Counter = Counter::new(
    "portico_http_writes_timed_out_total",
    "Connections ended because the client took no more of a response for http_write_timeout_secs.",
);

pub static BACKUP_FAILED: Counter = Counter::new(
    "portico_backup_failures_total",
    "Scheduled backups by this process that failed (see the log).",
);

const COUNTERS: [&Counter; 10] = [
    &MAIL_QUEUED,
    &MAIL_SENT,
    &MAIL_FAILED,
    &MAIL_DEAD,
    &MAIL_TIMED_OUT,
    &HASH_REFUSED,
    &STORE_UNAVAILABLE,
    &CONNECTIONS_REFUSED,
    &WRITES_TIMED_OUT,
    &BACKUP_FAILED,
];

/// A label value with `\`, `"` and line breaks escaped as the text format requires.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// One device's health for `/metrics`.
#[derive(Debug, Clone)]
pub struct DeviceHealth {
    pub org: String,
    pub id: i64,
    pub name: String,
    /// Seconds since its last contact; `None`: never.
    pub silent_for: Option<i64>,
    /// The list it held at its last contact is not the current one.
    pub stale: bool,
}

/// What `/metrics` reads from the database (shared by all processes).
pub struct Gauges {
    pub outbox_depth: Vec<(String, i64)>,
    pub oldest_due_ms: i64,
    pub devices: Vec<DeviceHealth>,
    pub webhook_deliveries: Vec<(String, i64)>,
    pub webhook_oldest_due_ms: i64,
    /// SQLite: Unix time of the newest good backup (0: none); `None` on PostgreSQL.
    pub last_backup: Option<i64>,
}

/// Renders the counters, the outbox depth per state, each door device's staleness and the
/// webhook deliveries per state.
pub fn render(g: &Gauges) -> String {
    let (outbox_depth, oldest_due_ms, devices) = (&g.outbox_depth, g.oldest_due_ms, &g.devices);
    let mut out = String::new();
    for c in COUNTERS {
        out.push_str(&format!(
            "# HELP {} {}\n# TYPE {} counter\n{} {}\n",
            c.name,
            c.help,
            c.name,
            c.name,
            c.get()
        ));
    }
    out.push_str("# HELP portico_outbox_messages Messages in the outbox by state (all processes).\n");
    out.push_str("# TYPE portico_outbox_messages gauge\n");
    for state in ["queued", "sending", "sent", "failed", "dead"] {
        let n = outbox_depth.iter().find(|(s, _)| s == state).map_or(0, |(_, n)| *n);
        out.push_str(&format!("portico_outbox_messages{{state=\"{state}\"}} {n}\n"));
    }
    out.push_str(
        "# HELP portico_outbox_oldest_due_seconds How long the longest-waiting due message has waited for a worker (all processes).\n",
    );
    out.push_str("# TYPE portico_outbox_oldest_due_seconds gauge\n");
    out.push_str(&format!("portico_outbox_oldest_due_seconds {:.3}\n", oldest_due_ms as f64 / 1000.0));
    out.push_str("# HELP portico_device_seconds_since_contact Seconds since each door device last polled its access list (-1: never).\n");
    out.push_str("# TYPE portico_device_seconds_since_contact gauge\n");
    for d in devices {
        let labels = format!("org=\"{}\",device=\"{}\",id=\"{}\"", label(&d.org), label(&d.name), d.id);
        out.push_str(&format!(
            "portico_device_seconds_since_contact{{{labels}}} {}\n",
            d.silent_for.unwrap_or(-1)
        ));
    }
    out.push_str("# HELP portico_device_stale 1 when the list a door device held at its last contact is not the current one.\n");
    out.push_str("# TYPE portico_device_stale gauge\n");
    for d in devices {
        let labels = format!("org=\"{}\",device=\"{}\",id=\"{}\"", label(&d.org), label(&d.name), d.id);
        out.push_str(&format!("portico_device_stale{{{labels}}} {}\n", u8::from(d.stale)));
    }
    out.push_str("# HELP portico_webhook_deliveries Webhook deliveries by state (all processes).\n");
    out.push_str("# TYPE portico_webhook_deliveries gauge\n");
    for state in ["pending", "sending", "delivered", "failed", "dead"] {
        let n = g.webhook_deliveries.iter().find(|(s, _)| s == state).map_or(0, |(_, n)| *n);
        out.push_str(&format!("portico_webhook_deliveries{{state=\"{state}\"}} {n}\n"));
    }
    out.push_str(
        "# HELP portico_webhook_oldest_due_seconds How long the longest-waiting due webhook delivery has waited (all processes).\n",
    );
    out.push_str("# TYPE portico_webhook_oldest_due_seconds gauge\n");
    out.push_str(&format!(
        "portico_webhook_oldest_due_seconds {:.3}\n",
        g.webhook_oldest_due_ms as f64 / 1000.0
    ));
    if let Some(at) = g.last_backup {
        out.push_str("# HELP portico_backup_last_success_timestamp_seconds Unix time of the newest good backup in the backup directory (0: none).\n");
        out.push_str("# TYPE portico_backup_last_success_timestamp_seconds gauge\n");
        out.push_str(&format!("portico_backup_last_success_timestamp_seconds {at}\n"));
    }
    out
}
