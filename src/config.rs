//! Configuration: a TOML file (`PORTICO_CONFIG` or `--config`) overlaid by `PORTICO_*`
//! environment variables (the environment wins). Every bad value is reported at once, each with
//! the setting it came from.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

use ipnet::IpNet;
use serde::Deserialize;
use url::Url;

use crate::i18n::Locale;

#[derive(Clone, Debug)]
pub struct Config {
    pub bind: SocketAddr,
    pub base_url: Url,
    pub database_url: String,
    /// `None` means the dev outbox: mail is kept for the `/dev/mail` viewer, never sent.
    pub smtp_url: Option<Url>,
    pub secret_key: SecretKey,
    pub brand: String,
    pub trusted_proxies: Vec<IpNet>,
    pub default_locale: Locale,
    pub session_hours: i64,
    /// How long an invitation link stays valid.
    pub invitation_hours: i64,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// The `From` of every email.
    pub mail_from: lettre::message::Mailbox,
    pub outbox: OutboxConfig,
    /// Password hashing threads (each holds 19 MiB for its whole life).
    pub hash_workers: usize,
    /// Password checks that may wait for a hashing thread; more are refused with 503.
    pub hash_queue: usize,
    pub http: HttpConfig,
    /// How long a request waits for a database connection before it is answered 503.
    pub db_acquire_timeout_ms: u64,
    /// PostgreSQL: the longest any statement may run.
    pub db_statement_timeout_secs: u64,
    pub stripe: StripeConfig,
    /// How often `serve` runs its scheduled work: ending past-due grace periods and timed
    /// suspensions, recording expired authorisations, resuming cut-off Stripe event processing.
    pub scheduler_secs: u64,
    /// How often `serve` removes what is past its retention settings (first run at start).
    pub audit_prune_interval_secs: u64,
    /// How long a new OpenID Connect signing key is published before it signs.
    pub oidc_key_publish_secs: i64,
    pub webhooks: WebhookConfig,
    pub backup: BackupConfig,
    /// The largest member import file accepted, in bytes.
    pub import_max_bytes: u64,
    /// Hooks that only tests set; never read from the environment or the file.
    pub test_hooks: TestHooks,
}

/// Outgoing webhooks (SPEC §3.7).
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// `http://` endpoint URLs are accepted (otherwise https only).
    pub allow_http: bool,
    /// Destinations on loopback, private, link-local or metadata addresses are allowed
    /// (otherwise refused when the URL is saved and again when its name resolves).
    pub allow_private: bool,
    /// A delivery succeeds with a 2xx within this time.
    pub timeout_secs: u64,
    /// How often an idle delivery worker looks for due deliveries.
    pub poll_ms: u64,
    /// Waits before each retry (jittered); after the last one a delivery is dead.
    pub retry_schedule_ms: Vec<u64>,
}

/// SPEC §3.7: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h — about three days in all.
pub const WEBHOOK_RETRY_SCHEDULE_SECS: [u64; 7] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];

/// Backups of a SQLite database (SPEC §3.12); PostgreSQL has its own tools.
#[derive(Clone, Debug)]
pub struct BackupConfig {
    /// Where backups are written; `None`: a `backups` directory beside the database file.
    pub dir: Option<std::path::PathBuf>,
    /// `serve` takes a backup when the newest one is this old; 0: no scheduled backups.
    pub interval_secs: u64,
    /// Scheduled backups keep this many newest backups and delete older ones.
    pub keep: usize,
    /// Take a backup before applying migrations to a database that holds data.
    pub before_migrate: bool,
}

/// Fault injection for tests.
#[derive(Clone, Debug, Default)]
pub struct TestHooks {
    /// Fail the signup transaction after its last write, before it commits.
    pub fail_signup_before_commit: bool,
}

/// How the email outbox worker claims and retries messages.
#[derive(Clone, Debug)]
pub struct OutboxConfig {
    /// How often an idle worker looks for due messages (it is also woken at once by commits in
    /// its own process).
    pub poll_ms: u64,
    /// How long a claimed message stays reserved; after that a crashed claimer's message is
    /// claimed again.
    pub lease_secs: i64,
    /// First retry delay; doubled per attempt (with jitter), capped at one hour.
    pub retry_base_secs: i64,
    /// Attempts before a message that keeps failing transiently is given up as `dead`.
    pub max_attempts: i64,
    /// Messages claimed per round, and sent concurrently.
    pub batch: i64,
    /// Deadline of one delivery attempt (connect, the whole SMTP conversation, QUIT). Always
    /// at least [`OUTBOX_LEASE_MARGIN_SECS`] shorter than the lease.
    pub send_timeout_secs: i64,
}

/// How much of a lease must remain for a worker to start (or finish recording) an attempt.
pub const OUTBOX_LEASE_MARGIN_SECS: i64 = 5;

/// Stripe: without a secret key there is no payment step; without a webhook secret
/// `/webhooks/stripe` does not exist.
#[derive(Clone, Debug)]
pub struct StripeConfig {
    pub secret_key: Option<Redacted>,
    /// The endpoint's signing secret, `whsec_…`, used as given.
    pub webhook_secret: Option<Redacted>,
    /// Stripe's API (tests and the demo point it at a local fake).
    pub api_base: Url,
    /// How often `serve` lists Stripe's recent events to pick up any the webhook missed.
    pub reconcile_interval_secs: u64,
}

/// A secret string whose `Debug` output never shows it.
#[derive(Clone)]
pub struct Redacted(pub String);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redacted(..)")
    }
}

pub const STRIPE_API_BASE: &str = "https://api.stripe.com/";

/// Limits that keep one client from exhausting the server.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Time a client has to send a request's headers; also how long an idle kept-alive
    /// connection waits for its next request.
    pub header_timeout_secs: u64,
    /// Time a client has to send a whole request body.
    pub body_timeout_secs: u64,
    /// Time a response may wait for the client to take more of it: a client that stops
    /// reading is cut off after this long without progress.
    pub write_timeout_secs: u64,
    /// Open connections at most; more are answered 503 and closed at once.
    pub max_connections: usize,
}

/// Key for signing CSRF tokens. Debug output never shows it.
#[derive(Clone)]
pub struct SecretKey(pub Vec<u8>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    pub fn random() -> SecretKey {
        use rand::RngCore;
        let mut key = vec![0u8; 32];
        rand::rng().fill_bytes(&mut key);
        SecretKey(key)
    }
}

/// What the configuration is loaded for; decides which settings are required.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// `serve`: a secret key is required.
    Serve,
    /// `demo`: a random secret key is generated when none is set.
    Demo,
    /// Admin commands (`migrate`, `org create`, ...): no secret needed.
    Admin,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    bind: Option<String>,
    base_url: Option<String>,
    database_url: Option<String>,
    smtp_url: Option<String>,
    secret_key: Option<String>,
    brand: Option<String>,
    trusted_proxies: Option<Vec<String>>,
    default_locale: Option<String>,
    session_hours: Option<i64>,
    invitation_hours: Option<i64>,
    max_body_bytes: Option<usize>,
    mail_from: Option<String>,
    outbox_poll_ms: Option<i64>,
    outbox_lease_secs: Option<i64>,
    outbox_retry_base_secs: Option<i64>,
    outbox_max_attempts: Option<i64>,
    outbox_batch: Option<i64>,
    outbox_send_timeout_secs: Option<i64>,
    hash_workers: Option<i64>,
    hash_queue: Option<i64>,
    http_header_timeout_secs: Option<i64>,
    http_body_timeout_secs: Option<i64>,
    http_write_timeout_secs: Option<i64>,
    http_max_connections: Option<i64>,
    db_acquire_timeout_ms: Option<i64>,
    db_statement_timeout_secs: Option<i64>,
    oidc_key_publish_secs: Option<i64>,
    stripe_secret_key: Option<String>,
    stripe_webhook_secret: Option<String>,
    stripe_api_base: Option<String>,
    stripe_reconcile_interval_secs: Option<i64>,
    scheduler_secs: Option<i64>,
    audit_prune_interval_secs: Option<i64>,
    webhooks_allow_http: Option<bool>,
    webhooks_allow_private: Option<bool>,
    webhooks_timeout_secs: Option<i64>,
    webhooks_poll_ms: Option<i64>,
    backup_dir: Option<String>,
    backup_interval: Option<NumberOrText>,
    backup_keep: Option<i64>,
    backup_before_migrate: Option<bool>,
    import_max_bytes: Option<i64>,
}

/// A TOML value given either as a number or as text (`backup_interval = 3600` or `"1h"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum NumberOrText {
    Number(i64),
    Text(String),
}

impl NumberOrText {
    fn into_text(self) -> String {
        match self {
            NumberOrText::Number(n) => n.to_string(),
            NumberOrText::Text(t) => t,
        }
    }
}

/// Seconds from `90`, `90s`, `30m`, `24h` or `7d`.
pub fn parse_duration_secs(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let n: u64 = digits.parse().ok()?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(scale)
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigError(pub Vec<String>);

pub const DEFAULT_DATABASE_URL: &str = "sqlite://portico.db";

/// The settings that may hold a secret (a key, or a URL with a password): each can instead be
/// read from the file `PORTICO_…_FILE` names, as container secrets are mounted.
pub const SECRET_SETTINGS: [&str; 5] = [
    "PORTICO_SECRET_KEY",
    "PORTICO_STRIPE_SECRET_KEY",
    "PORTICO_STRIPE_WEBHOOK_SECRET",
    "PORTICO_SMTP_URL",
    "PORTICO_DATABASE_URL",
];

/// `env` with each `PORTICO_…_FILE` of [`SECRET_SETTINGS`] replaced by the file's content
/// (without its final line break). Both forms at once is an error: which one wins would be a guess.
fn with_secret_files(env: &HashMap<String, String>, errors: &mut Vec<String>) -> HashMap<String, String> {
    let mut env = env.clone();
    for key in SECRET_SETTINGS {
        let file_key = format!("{key}_FILE");
        let Some(path) = env.remove(&file_key) else { continue };
        if env.contains_key(key) {
            errors.push(format!("{key} and {file_key} are both set; set only one"));
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                env.insert(key.to_string(), text.trim_end_matches(['\n', '\r']).to_string());
            }
            Err(e) => errors.push(format!("{file_key}: cannot read {path:?}: {e}")),
        }
    }
    env
}

impl Config {
    /// Loads from the process environment and the file it names (or `config_path`).
    pub fn load(purpose: Purpose, config_path: Option<&Path>) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> =
            std::env::vars().filter(|(k, _)| k.starts_with("PORTICO_")).collect();
        Self::from_sources(purpose, config_path, &env)
    }

    pub fn from_sources(
        purpose: Purpose,
        config_path: Option<&Path>,
        env: &HashMap<String, String>,
    ) -> Result<Config, ConfigError> {
        let mut errors = Vec::new();
        let env = &with_secret_files(env, &mut errors);
        let path = config_path.map(Path::to_path_buf).or_else(|| env.get("PORTICO_CONFIG").map(Into::into));
        let file = match &path {
            None => FileConfig::default(),
            Some(path) => match std::fs::read_to_string(path) {
                Err(e) => {
                    errors.push(format!("config file {}: cannot read it: {e}", path.display()));
                    FileConfig::default()
                }
                Ok(text) => toml::from_str(&text).unwrap_or_else(|e| {
                    errors.push(format!("config file {}: {}", path.display(), e.message()));
                    FileConfig::default()
                }),
            },
        };
        // The environment wins over the file; each value remembers where it came from.
        let pick = |env_key: &str, file_key: &str, file_value: Option<String>| {
            env.get(env_key)
                .map(|v| (v.clone(), env_key.to_string()))
                .or(file_value.map(|v| (v, format!("{file_key} in the config file"))))
        };

        let bind = match pick("PORTICO_BIND", "bind", file.bind) {
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
            Some((v, src)) => v.parse().unwrap_or_else(|_| {
                errors.push(format!("{src}: {v:?} is not an address like 127.0.0.1:8080"));
                SocketAddr::from(([127, 0, 0, 1], 8080))
            }),
        };

        let default_base = format!("http://{bind}/");
        let base_url = match pick("PORTICO_BASE_URL", "base_url", file.base_url) {
            None => Url::parse(&default_base).ok(),
            Some((v, src)) => match Url::parse(&v) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
                _ => {
                    errors.push(format!("{src}: {v:?} is not an http:// or https:// URL"));
                    None
                }
            },
        };

        let database_url = match pick("PORTICO_DATABASE_URL", "database_url", file.database_url) {
            None => DEFAULT_DATABASE_URL.to_string(),
            Some((v, src)) => {
                if !(v.starts_with("sqlite:")
                    || v.starts_with("postgres://")
                    || v.starts_with("postgresql://"))
                {
                    errors.push(format!(
                        "{src}: {v:?} is not a database URL (use sqlite://path or postgres://...)"
                    ));
                }
                v
            }
        };

        let smtp_url = match pick("PORTICO_SMTP_URL", "smtp_url", file.smtp_url) {
            None => None,
            Some((v, _)) if v.trim().is_empty() => None,
            Some((v, src)) => match Url::parse(&v) {
                Ok(u) if matches!(u.scheme(), "smtp" | "smtps") && u.host().is_some() => Some(u),
                _ => {
                    errors.push(format!("{src}: {v:?} is not an smtp:// or smtps:// URL"));
                    None
                }
            },
        };

        let secret_key = match pick("PORTICO_SECRET_KEY", "secret_key", file.secret_key) {
            Some((v, src)) if v.len() < 32 => {
                errors.push(format!("{src}: the secret key must be at least 32 characters"));
                None
            }
            Some((v, _)) => Some(SecretKey(v.into_bytes())),
            None if purpose == Purpose::Serve => {
                errors.push(
                    "PORTICO_SECRET_KEY: required for `portico serve` (at least 32 random characters)"
                        .to_string(),
                );
                None
            }
            None => Some(SecretKey::random()),
        };

        let brand = pick("PORTICO_BRAND", "brand", file.brand)
            .map(|(v, _)| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "Portico".to_string());

        let proxies: Option<(Vec<String>, String)> = match env.get("PORTICO_TRUSTED_PROXIES") {
            Some(v) => Some((
                v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect(),
                "PORTICO_TRUSTED_PROXIES".to_string(),
            )),
            None => file.trusted_proxies.map(|v| (v, "trusted_proxies in the config file".to_string())),
        };
        let mut trusted_proxies = Vec::new();
        if let Some((list, src)) = proxies {
            for item in list {
                match item.parse::<IpNet>().or_else(|_| item.parse::<std::net::IpAddr>().map(IpNet::from)) {
                    Ok(net) => trusted_proxies.push(net),
                    Err(_) => errors.push(format!("{src}: {item:?} is not an IP address or CIDR range")),
                }
            }
        }

        let default_locale = match pick("PORTICO_DEFAULT_LOCALE", "default_locale", file.default_locale) {
            None => Locale::En,
            Some((v, src)) => Locale::parse(&v).unwrap_or_else(|| {
                errors.push(format!("{src}: {v:?} is not a supported locale (en, ro)"));
                Locale::En
            }),
        };

        let session_hours = parse_number(
            &mut errors,
            pick("PORTICO_SESSION_HOURS", "session_hours", file.session_hours.map(|n| n.to_string())),
            12,
            1..=24 * 30,
        );
        let invitation_hours = parse_number(
            &mut errors,
            pick(
                "PORTICO_INVITATION_HOURS",
                "invitation_hours",
                file.invitation_hours.map(|n| n.to_string()),
            ),
            72,
            1..=24 * 30,
        );
        let max_body_bytes = parse_number(
            &mut errors,
            pick("PORTICO_MAX_BODY_BYTES", "max_body_bytes", file.max_body_bytes.map(|n| n.to_string())),
            64 * 1024,
            1024..=10 * 1024 * 1024,
        );

        let number =
            |errors: &mut Vec<String>, env_key: &str, file_key: &str, value: Option<i64>, default, range| {
                parse_number(errors, pick(env_key, file_key, value.map(|n| n.to_string())), default, range)
            };
        let outbox = OutboxConfig {
            poll_ms: number(
                &mut errors,
                "PORTICO_OUTBOX_POLL_MS",
                "outbox_poll_ms",
                file.outbox_poll_ms,
                1000,
                10..=60_000,
            ) as u64,
            lease_secs: number(
                &mut errors,
                "PORTICO_OUTBOX_LEASE_SECS",
                "outbox_lease_secs",
                file.outbox_lease_secs,
                120,
                10..=3600,
            ),
            retry_base_secs: number(
                &mut errors,
                "PORTICO_OUTBOX_RETRY_BASE_SECS",
                "outbox_retry_base_secs",
                file.outbox_retry_base_secs,
                30,
                1..=3600,
            ),
            max_attempts: number(
                &mut errors,
                "PORTICO_OUTBOX_MAX_ATTEMPTS",
                "outbox_max_attempts",
                file.outbox_max_attempts,
                10,
                1..=100,
            ),
            batch: number(
                &mut errors,
                "PORTICO_OUTBOX_BATCH",
                "outbox_batch",
                file.outbox_batch,
                32,
                1..=500,
            ),
            send_timeout_secs: number(
                &mut errors,
                "PORTICO_OUTBOX_SEND_TIMEOUT_SECS",
                "outbox_send_timeout_secs",
                file.outbox_send_timeout_secs,
                30,
                1..=600,
            ),
        };
        // A delivery attempt must end well before its lease does, or another process could
        // claim the message while it is still being sent and send it twice.
        if outbox.send_timeout_secs + OUTBOX_LEASE_MARGIN_SECS > outbox.lease_secs {
            errors.push(format!(
                "PORTICO_OUTBOX_SEND_TIMEOUT_SECS ({}) must be at least {OUTBOX_LEASE_MARGIN_SECS} s shorter than PORTICO_OUTBOX_LEASE_SECS ({})",
                outbox.send_timeout_secs, outbox.lease_secs
            ));
        }
        let cores = std::thread::available_parallelism().map(|n| n.get() as i64).unwrap_or(2);
        let hash_workers =
            number(&mut errors, "PORTICO_HASH_WORKERS", "hash_workers", file.hash_workers, cores, 1..=64);
        let hash_queue =
            number(&mut errors, "PORTICO_HASH_QUEUE", "hash_queue", file.hash_queue, 64, 0..=10_000);
        let http = HttpConfig {
            header_timeout_secs: number(
                &mut errors,
                "PORTICO_HTTP_HEADER_TIMEOUT_SECS",
                "http_header_timeout_secs",
                file.http_header_timeout_secs,
                10,
                1..=600,
            ) as u64,
            body_timeout_secs: number(
                &mut errors,
                "PORTICO_HTTP_BODY_TIMEOUT_SECS",
                "http_body_timeout_secs",
                file.http_body_timeout_secs,
                30,
                1..=600,
            ) as u64,
            write_timeout_secs: number(
                &mut errors,
                "PORTICO_HTTP_WRITE_TIMEOUT_SECS",
                "http_write_timeout_secs",
                file.http_write_timeout_secs,
                30,
                1..=3600,
            ) as u64,
            max_connections: number(
                &mut errors,
                "PORTICO_HTTP_MAX_CONNECTIONS",
                "http_max_connections",
                file.http_max_connections,
                1024,
                1..=100_000,
            ) as usize,
        };
        let db_acquire_timeout_ms = number(
            &mut errors,
            "PORTICO_DB_ACQUIRE_TIMEOUT_MS",
            "db_acquire_timeout_ms",
            file.db_acquire_timeout_ms,
            3000,
            100..=60_000,
        ) as u64;
        let oidc_key_publish_secs = number(
            &mut errors,
            "PORTICO_OIDC_KEY_PUBLISH_SECS",
            "oidc_key_publish_secs",
            file.oidc_key_publish_secs,
            600, // twice the JWKS cache lifetime (flows::oidc::keys::JWKS_MAX_AGE_SECS)
            0..=604_800,
        );
        let db_statement_timeout_secs = number(
            &mut errors,
            "PORTICO_DB_STATEMENT_TIMEOUT_SECS",
            "db_statement_timeout_secs",
            file.db_statement_timeout_secs,
            30,
            1..=3600,
        ) as u64;
        let stripe_secret = |env_key: &str,
                             file_key: &str,
                             value: Option<String>,
                             prefixes: &[&str],
                             errors: &mut Vec<String>| {
            match pick(env_key, file_key, value) {
                None => None,
                Some((v, _)) if v.trim().is_empty() => None,
                Some((v, _)) if prefixes.iter().any(|p| v.trim().starts_with(p)) => {
                    Some(Redacted(v.trim().to_string()))
                }
                Some((_, src)) => {
                    errors.push(format!("{src}: must start with {}", prefixes.join(" or ")));
                    None
                }
            }
        };
        let stripe = StripeConfig {
            secret_key: stripe_secret(
                "PORTICO_STRIPE_SECRET_KEY",
                "stripe_secret_key",
                file.stripe_secret_key,
                &["sk_", "rk_"],
                &mut errors,
            ),
            webhook_secret: stripe_secret(
                "PORTICO_STRIPE_WEBHOOK_SECRET",
                "stripe_webhook_secret",
                file.stripe_webhook_secret,
                &["whsec_"],
                &mut errors,
            ),
            api_base: match pick("PORTICO_STRIPE_API_BASE", "stripe_api_base", file.stripe_api_base) {
                None => Url::parse(STRIPE_API_BASE).unwrap_or_else(|_| unreachable!("a valid URL")),
                Some((v, src)) => match Url::parse(&v) {
                    Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
                    _ => {
                        errors.push(format!("{src}: {v:?} is not an http:// or https:// URL"));
                        Url::parse(STRIPE_API_BASE).unwrap_or_else(|_| unreachable!("a valid URL"))
                    }
                },
            },
            reconcile_interval_secs: number(
                &mut errors,
                "PORTICO_STRIPE_RECONCILE_INTERVAL_SECS",
                "stripe_reconcile_interval_secs",
                file.stripe_reconcile_interval_secs,
                86_400,
                1..=604_800,
            ) as u64,
        };
        let scheduler_secs = number(
            &mut errors,
            "PORTICO_SCHEDULER_SECS",
            "scheduler_secs",
            file.scheduler_secs,
            30,
            1..=3_600,
        ) as u64;
        let audit_prune_interval_secs = number(
            &mut errors,
            "PORTICO_AUDIT_PRUNE_INTERVAL_SECS",
            "audit_prune_interval_secs",
            file.audit_prune_interval_secs,
            86_400,
            1..=604_800,
        ) as u64;
        let flag_or =
            |errors: &mut Vec<String>, env_key: &str, file_key: &str, value: Option<bool>, default: bool| {
                match pick(env_key, file_key, value.map(|b| b.to_string())) {
                    None => default,
                    Some((v, src)) => match v.trim() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => {
                            errors.push(format!("{src}: {v:?} is not true or false"));
                            default
                        }
                    },
                }
            };
        let webhooks = WebhookConfig {
            allow_http: flag_or(
                &mut errors,
                "PORTICO_WEBHOOKS_ALLOW_HTTP",
                "webhooks_allow_http",
                file.webhooks_allow_http,
                false,
            ),
            allow_private: flag_or(
                &mut errors,
                "PORTICO_WEBHOOKS_ALLOW_PRIVATE",
                "webhooks_allow_private",
                file.webhooks_allow_private,
                false,
            ),
            timeout_secs: number(
                &mut errors,
                "PORTICO_WEBHOOKS_TIMEOUT_SECS",
                "webhooks_timeout_secs",
                file.webhooks_timeout_secs,
                15,
                1..=60,
            ) as u64,
            poll_ms: number(
                &mut errors,
                "PORTICO_WEBHOOKS_POLL_MS",
                "webhooks_poll_ms",
                file.webhooks_poll_ms,
                1000,
                10..=60_000,
            ) as u64,
            retry_schedule_ms: WEBHOOK_RETRY_SCHEDULE_SECS.iter().map(|s| s * 1000).collect(),
        };
        let backup = BackupConfig {
            dir: pick("PORTICO_BACKUP_DIR", "backup_dir", file.backup_dir)
                .map(|(v, _)| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .map(Into::into),
            interval_secs: match pick(
                "PORTICO_BACKUP_INTERVAL",
                "backup_interval",
                file.backup_interval.map(NumberOrText::into_text),
            ) {
                None => 0,
                Some((v, src)) => parse_duration_secs(&v).unwrap_or_else(|| {
                    errors.push(format!(
                        "{src}: {v:?} is not a duration like 3600, 30m, 24h or 7d (0: no scheduled backups)"
                    ));
                    0
                }),
            },
            keep: number(&mut errors, "PORTICO_BACKUP_KEEP", "backup_keep", file.backup_keep, 7, 1..=10_000)
                as usize,
            before_migrate: flag_or(
                &mut errors,
                "PORTICO_BACKUP_BEFORE_MIGRATE",
                "backup_before_migrate",
                file.backup_before_migrate,
                true,
            ),
        };
        let import_max_bytes = number(
            &mut errors,
            "PORTICO_IMPORT_MAX_BYTES",
            "import_max_bytes",
            file.import_max_bytes,
            20 * 1024 * 1024,
            1024..=1024 * 1024 * 1024,
        ) as u64;
        let host =
            base_url.as_ref().and_then(|u| u.domain()).filter(|d| d.contains('.')).unwrap_or("localhost");
        let default_from = || {
            let address = format!("noreply@{host}").parse().unwrap_or_else(|_| {
                lettre::Address::new("noreply", "localhost")
                    .unwrap_or_else(|_| unreachable!("static address"))
            });
            lettre::message::Mailbox::new(Some(brand.clone()), address)
        };
        let mail_from = match pick("PORTICO_MAIL_FROM", "mail_from", file.mail_from) {
            Some((v, src)) => v.parse::<lettre::message::Mailbox>().unwrap_or_else(|_| {
                errors.push(format!("{src}: {v:?} is not an address like \"Club <noreply@club.org>\""));
                default_from()
            }),
            None => default_from(),
        };

        match (base_url, secret_key) {
            (Some(base_url), Some(secret_key)) if errors.is_empty() => Ok(Config {
                bind,
                base_url,
                database_url,
                smtp_url,
                secret_key,
                brand,
                trusted_proxies,
                default_locale,
                session_hours,
                invitation_hours,
                max_body_bytes: max_body_bytes as usize,
                mail_from,
                outbox,
                hash_workers: hash_workers as usize,
                hash_queue: hash_queue as usize,
                http,
                db_acquire_timeout_ms,
                db_statement_timeout_secs,
                stripe,
                scheduler_secs,
                audit_prune_interval_secs,
                oidc_key_publish_secs,
                webhooks,
                backup,
                import_max_bytes,
                test_hooks: TestHooks::default(),
            }),
            _ => Err(ConfigError(errors)),
        }
    }

    /// True when cookies must carry `Secure`.
    pub fn https(&self) -> bool {
        self.base_url.scheme() == "https"
    }

    /// The bounds of the database pool's waits.
    pub fn pool_limits(&self) -> crate::store::PoolLimits {
        crate::store::PoolLimits {
            acquire_timeout: std::time::Duration::from_millis(self.db_acquire_timeout_ms),
            statement_timeout: std::time::Duration::from_secs(self.db_statement_timeout_secs),
        }
    }
}

fn parse_number(
    errors: &mut Vec<String>,
    value: Option<(String, String)>,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> i64 {
    match value {
        None => default,
        Some((v, src)) => match v.trim().parse::<i64>() {
            Ok(n) if range.contains(&n) => n,
            _ => {
                errors.push(format!(
                    "{src}: {v:?} is not a whole number from {} to {}",
                    range.start(),
                    range.end()
                ));
                default
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_for_demo() {
        let c = Config::from_sources(Purpose::Demo, None, &env(&[])).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.base_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert!(c.smtp_url.is_none());
        assert!(!c.https());
    }

    #[test]
    fn serve_requires_a_secret() {
        let err = Config::from_sources(Purpose::Serve, None, &env(&[])).unwrap_err();
        assert!(err.to_string().contains("PORTICO_SECRET_KEY: required"), "{err}");
    }

    #[test]
    fn every_bad_value_is_reported_with_its_source() {
        let err = Config::from_sources(
            Purpose::Serve,
            None,
            &env(&[
                ("PORTICO_BIND", "nope"),
                ("PORTICO_BASE_URL", "ftp://x"),
                ("PORTICO_DATABASE_URL", "mysql://x"),
                ("PORTICO_SMTP_URL", "http://mail"),
                ("PORTICO_SECRET_KEY", "short"),
                ("PORTICO_TRUSTED_PROXIES", "10.0.0.0/8, banana"),
                ("PORTICO_DEFAULT_LOCALE", "xx"),
            ]),
        )
        .unwrap_err();
        let text = err.to_string();
        for needle in [
            "PORTICO_BIND",
            "PORTICO_BASE_URL",
            "PORTICO_DATABASE_URL",
            "PORTICO_SMTP_URL",
            "PORTICO_SECRET_KEY",
            "\"banana\"",
            "PORTICO_DEFAULT_LOCALE",
        ] {
            assert!(text.contains(needle), "missing {needle} in {text}");
        }
        assert_eq!(err.0.len(), 7, "{text}");
    }

    #[test]
    fn an_attempt_deadline_must_end_well_inside_the_lease() {
        let err = Config::from_sources(
            Purpose::Demo,
            None,
            &env(&[("PORTICO_OUTBOX_LEASE_SECS", "30"), ("PORTICO_OUTBOX_SEND_TIMEOUT_SECS", "28")]),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("must be at least 5 s shorter than PORTICO_OUTBOX_LEASE_SECS"),
            "{err}"
        );
        let ok = Config::from_sources(
            Purpose::Demo,
            None,
            &env(&[
                ("PORTICO_OUTBOX_LEASE_SECS", "30"),
                ("PORTICO_OUTBOX_SEND_TIMEOUT_SECS", "25"),
                ("PORTICO_HASH_WORKERS", "3"),
                ("PORTICO_HASH_QUEUE", "0"),
                ("PORTICO_HTTP_MAX_CONNECTIONS", "10"),
            ]),
        )
        .unwrap();
        assert_eq!((ok.outbox.send_timeout_secs, ok.hash_workers, ok.hash_queue), (25, 3, 0));
        assert_eq!(ok.http.max_connections, 10);
        let defaults = Config::from_sources(Purpose::Demo, None, &env(&[])).unwrap();
        assert!(defaults.outbox.send_timeout_secs + OUTBOX_LEASE_MARGIN_SECS <= defaults.outbox.lease_secs);
        let err =
            Config::from_sources(Purpose::Demo, None, &env(&[("PORTICO_HASH_WORKERS", "0")])).unwrap_err();
        assert!(
            err.to_string().contains("PORTICO_HASH_WORKERS: \"0\" is not a whole number from 1 to 64"),
            "{err}"
        );
    }

    #[test]
    fn stripe_settings_are_checked_and_never_printed() {
        let c = Config::from_sources(Purpose::Demo, None, &env(&[])).unwrap();
        assert!(c.stripe.secret_key.is_none() && c.stripe.webhook_secret.is_none());
        assert_eq!(c.stripe.api_base.as_str(), STRIPE_API_BASE);
        let c = Config::from_sources(
            Purpose::Demo,
            None,
            &env(&[
                ("PORTICO_STRIPE_SECRET_KEY", "sk_test_abc"),
                ("PORTICO_STRIPE_WEBHOOK_SECRET", "whsec_xyz"),
                ("PORTICO_STRIPE_API_BASE", "http://127.0.0.1:12111/"),
            ]),
        )
        .unwrap();
        assert_eq!(c.stripe.webhook_secret.as_ref().map(|s| s.0.as_str()), Some("whsec_xyz"));
        assert_eq!(c.stripe.api_base.as_str(), "http://127.0.0.1:12111/");
        assert!(!format!("{c:?}").contains("sk_test_abc"), "secrets stay out of debug output");
        let err = Config::from_sources(
            Purpose::Demo,
            None,
            &env(&[
                ("PORTICO_STRIPE_SECRET_KEY", "pk_live_public"),
                ("PORTICO_STRIPE_WEBHOOK_SECRET", "secret"),
                ("PORTICO_STRIPE_API_BASE", "ftp://stripe"),
            ]),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("PORTICO_STRIPE_SECRET_KEY: must start with sk_ or rk_"), "{text}");
        assert!(text.contains("PORTICO_STRIPE_WEBHOOK_SECRET: must start with whsec_"), "{text}");
        assert!(text.contains("PORTICO_STRIPE_API_BASE"), "{text}");
    }

    #[test]
    fn file_then_env_override() {
        let dir = std::env::temp_dir().join(format!("portico-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("portico.toml");
        std::fs::write(
            &path,
            "bind = \"127.0.0.1:9000\"\nbrand = \"Hackspace\"\ntrusted_proxies = [\"10.0.0.0/8\"]\nsecret_key = \"0123456789abcdef0123456789abcdef\"\n",
        )
        .unwrap();
        let c =
            Config::from_sources(Purpose::Serve, Some(&path), &env(&[("PORTICO_BRAND", "Club")])).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:9000");
        assert_eq!(c.brand, "Club");
        assert_eq!(c.trusted_proxies.len(), 1);
        std::fs::write(&path, "bogus_key = 1\n").unwrap();
        let err = Config::from_sources(Purpose::Admin, Some(&path), &env(&[])).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let missing = dir.join("missing.toml");
        let err = Config::from_sources(Purpose::Admin, Some(&missing), &env(&[])).unwrap_err();
        assert!(err.to_string().contains("cannot read it"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn secrets_come_from_files_and_not_from_both() {
        let dir = std::env::temp_dir().join(format!("portico-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("key");
        std::fs::write(&key, "0123456789abcdef0123456789abcdef\n").unwrap();
        let stripe = dir.join("stripe");
        std::fs::write(&stripe, "sk_test_fromfile").unwrap();
        let hook = dir.join("hook");
        std::fs::write(&hook, "whsec_fromfile\r\n").unwrap();
        let smtp = dir.join("smtp");
        std::fs::write(&smtp, "smtps://user:pass@mail.example.org:465").unwrap();
        let key_path = key.to_str().unwrap();
        let c = Config::from_sources(
            Purpose::Serve,
            None,
            &env(&[
                ("PORTICO_SECRET_KEY_FILE", key_path),
                ("PORTICO_STRIPE_SECRET_KEY_FILE", stripe.to_str().unwrap()),
                ("PORTICO_STRIPE_WEBHOOK_SECRET_FILE", hook.to_str().unwrap()),
                ("PORTICO_SMTP_URL_FILE", smtp.to_str().unwrap()),
            ]),
        )
        .unwrap();
        assert_eq!(
            c.secret_key.0, b"0123456789abcdef0123456789abcdef",
            "the final line break is not part of it"
        );
        assert_eq!(c.stripe.secret_key.map(|s| s.0).as_deref(), Some("sk_test_fromfile"));
        assert_eq!(c.stripe.webhook_secret.map(|s| s.0).as_deref(), Some("whsec_fromfile"));
        assert_eq!(c.smtp_url.as_ref().and_then(|u| u.host_str()), Some("mail.example.org"));
        let err = Config::from_sources(
            Purpose::Serve,
            None,
            &env(&[
                ("PORTICO_SECRET_KEY_FILE", key_path),
                ("PORTICO_SECRET_KEY", "0123456789abcdef0123456789abcdef"),
            ]),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("PORTICO_SECRET_KEY and PORTICO_SECRET_KEY_FILE are both set"),
            "{err}"
        );
        let err =
            Config::from_sources(Purpose::Admin, None, &env(&[("PORTICO_SMTP_URL_FILE", "/nonexistent")]))
                .unwrap_err();
        assert!(err.to_string().contains("PORTICO_SMTP_URL_FILE: cannot read \"/nonexistent\""), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn backup_settings() {
        let c = Config::from_sources(Purpose::Demo, None, &env(&[])).unwrap();
        assert_eq!((c.backup.interval_secs, c.backup.keep, c.backup.before_migrate), (0, 7, true));
        let c = Config::from_sources(
            Purpose::Demo,
            None,
            &env(&[("PORTICO_BACKUP_INTERVAL", "6h"), ("PORTICO_BACKUP_BEFORE_MIGRATE", "false")]),
        )
        .unwrap();
        assert_eq!((c.backup.interval_secs, c.backup.before_migrate), (21_600, false));
        for (text, secs) in
            [("90", Some(90)), ("30m", Some(1_800)), ("7d", Some(604_800)), ("1w", None), ("h", None)]
        {
            assert_eq!(parse_duration_secs(text), secs, "{text}");
        }
        let err = Config::from_sources(Purpose::Demo, None, &env(&[("PORTICO_BACKUP_INTERVAL", "daily")]))
            .unwrap_err();
        assert!(err.to_string().contains("PORTICO_BACKUP_INTERVAL: \"daily\" is not a duration"), "{err}");
    }

    /// The keys `FileConfig` reads, as serde sees them: its derived `Deserialize` names its
    /// fields to the deserializer, which keeps them and stops.
    fn file_keys() -> &'static [&'static str] {
        struct Capture<'a>(&'a mut &'static [&'static str]);
        impl<'de> serde::Deserializer<'de> for Capture<'_> {
            type Error = serde::de::value::Error;
            fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
                Err(serde::de::Error::custom("a struct was expected"))
            }
            fn deserialize_struct<V: serde::de::Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Self::Error> {
                *self.0 = fields;
                Err(serde::de::Error::custom("captured"))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
                option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
                ignored_any
            }
        }
        let mut fields: &'static [&'static str] = &[];
        let _ = FileConfig::deserialize(Capture(&mut fields));
        fields
    }

    /// deploy/portico.toml lists exactly the keys the configuration reads, each once, with
    /// values of the right form; and where it shows a default, that is the default.
    #[test]
    fn the_example_configuration_lists_every_key_with_its_default() {
        let text = include_str!("../deploy/portico.toml");
        // "# key = value" or "key = value" at the start of a line.
        let entries: Vec<(&str, &str)> = text
            .lines()
            .filter_map(|line| {
                let line = line.strip_prefix("# ").unwrap_or(line);
                let (key, _) = line.split_once(" = ")?;
                key.chars().all(|c| c.is_ascii_lowercase() || c == '_').then_some((key, line))
            })
            .collect();
        let mut listed: Vec<&str> = entries.iter().map(|(k, _)| *k).collect();
        listed.sort_unstable();
        let mut read: Vec<&str> = file_keys().to_vec();
        read.sort_unstable();
        assert!(read.len() > 40, "{read:?}");
        assert_eq!(listed, read, "deploy/portico.toml against the keys Config reads");

        let dir = std::env::temp_dir().join(format!("portico-example-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Every line in force at once parses and passes every check.
        let all = dir.join("all.toml");
        std::fs::write(&all, entries.iter().map(|(_, l)| format!("{l}\n")).collect::<String>()).unwrap();
        let every = Config::from_sources(Purpose::Admin, Some(&all), &env(&[]));
        assert!(every.is_ok(), "{:?}", every.err());
        // The defaults shown are the defaults (examples are for keys whose default depends on
        // something else, or that have none).
        const EXAMPLES: [&str; 10] = [
            "base_url",
            "trusted_proxies",
            "backup_dir",
            "secret_key",
            "smtp_url",
            "mail_from",
            "hash_workers",
            "stripe_secret_key",
            "stripe_webhook_secret",
            "database_url",
        ];
        let defaults = dir.join("defaults.toml");
        let shown: String =
            entries.iter().filter(|(k, _)| !EXAMPLES.contains(k)).map(|(_, l)| format!("{l}\n")).collect();
        std::fs::write(&defaults, shown).unwrap();
        let from_file = Config::from_sources(Purpose::Admin, Some(&defaults), &env(&[])).unwrap();
        let built_in = Config::from_sources(Purpose::Admin, None, &env(&[])).unwrap();
        assert_eq!(format!("{from_file:?}"), format!("{built_in:?}"));
        let database = entries.iter().find(|(k, _)| *k == "database_url").unwrap().1;
        assert_eq!(database, format!("database_url = \"{DEFAULT_DATABASE_URL}\""));
        std::fs::remove_dir_all(dir).ok();
    }
}
