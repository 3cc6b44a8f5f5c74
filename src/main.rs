//! The `portico` command line. Every subcommand reads the same configuration as `serve`.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use portico::config::{Config, Purpose};
use portico::domain::StaffRole;
use portico::flows::password::Hasher;
use portico::flows::{self, Ctx, FlowError};
use portico::server::{self, AppState};
use portico::store::Store;

#[derive(Parser)]
#[command(name = "portico", version, about = "Self-hosted membership and onboarding server")]
struct Cli {
    /// TOML configuration file (also PORTICO_CONFIG); PORTICO_* environment variables win.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (migrates the database first).
    Serve,
    /// Apply pending database migrations and exit (a SQLite database that holds data is backed
    /// up first, unless `backup_before_migrate = false`).
    Migrate {
        /// List the pending migrations without applying them; exit 1 if there are any.
        #[arg(long)]
        check: bool,
    },
    /// Take a consistent copy of the SQLite database, even while servers write to it; checks
    /// it and prints its path (`portico-YYYYMMDDTHHMMSSZ-v{schema}.db`).
    Backup {
        /// The directory to write it to (default: `backup_dir`, else `backups` beside the
        /// database).
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
    },
    /// Put a backup in place of the SQLite database: checks it, refuses while a server uses the
    /// database, and keeps the replaced database beside it as `….replaced-{time}`.
    Restore {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Exit 0 when the server's `/readyz` answers 200 within the deadline, asking again while
    /// it starts (for container health checks and scripts; no curl needed).
    Healthcheck {
        /// The URL to ask (default: `/readyz` at the configured bind address).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// Seconds to wait for a 200.
        #[arg(long, default_value_t = 5)]
        timeout: u64,
    },
    /// Run a demo server on SQLite with a demo organisation and a printed staff login.
    Demo,
    /// Staff accounts.
    Staff {
        #[command(subcommand)]
        action: StaffAction,
    },
    /// API tokens.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Organisations.
    Org {
        #[command(subcommand)]
        action: OrgAction,
    },
    /// Email.
    Mail {
        #[command(subcommand)]
        action: MailAction,
    },
    /// Runtime settings.
    Settings {
        #[command(subcommand)]
        action: SettingsAction,
    },
    /// Door and tool controllers.
    Device {
        #[command(subcommand)]
        action: DeviceAction,
    },
    /// Payments.
    Stripe {
        #[command(subcommand)]
        action: StripeAction,
    },
    /// Bring data in.
    Import {
        #[command(subcommand)]
        action: ImportAction,
    },
    /// Sign in elsewhere with Portico (OpenID Connect).
    Oidc {
        #[command(subcommand)]
        action: OidcAction,
    },
}

#[derive(Subcommand)]
enum ImportAction {
    /// Members of an organisation from a CSV file (columns: docs/staff.md). The whole file is
    /// checked first; each refused row is listed with its line, column and reason, then
    /// `created N, updated N, unchanged N, refused N`.
    Members {
        #[arg(long)]
        org: String,
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Check only; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Send each imported person without a password a "claim your account" email.
        #[arg(long)]
        invite: bool,
        /// Import the good rows even when some are refused.
        #[arg(long)]
        skip_invalid: bool,
        /// Add authorisations the organisation's catalogue lacks instead of refusing their rows.
        #[arg(long)]
        create_authorisations: bool,
    },
}

#[derive(Subcommand)]
enum OidcAction {
    /// Relying parties.
    Client {
        #[command(subcommand)]
        action: OidcClientAction,
    },
    /// Publish a next signing key for every algorithm; it signs once it has been published for
    /// `oidc_key_publish_secs`, and the retired key stays published until its tokens expire.
    RotateKeys,
}

#[derive(Subcommand)]
enum OidcClientAction {
    /// Register a client; prints `client_id: …` and `client_secret: …` (the secret once).
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
        /// An exact redirect URI (repeat for several).
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// A public client: no secret, PKCE required.
        #[arg(long)]
        public: bool,
        /// No consent page.
        #[arg(long)]
        first_party: bool,
        /// An authorisation of the catalogue members need to sign in.
        #[arg(long)]
        requires: Option<String>,
        /// The least role that may sign in: `admin` (owners too) or `owner`.
        #[arg(long)]
        role: Option<String>,
        /// Let this confidential client sign in without PKCE (for applications that cannot
        /// send it, such as Gitea).
        #[arg(long)]
        without_pkce: bool,
        /// Where to POST logout tokens when a sign-in ends (OpenID Connect Back-Channel Logout).
        #[arg(long)]
        backchannel_logout_uri: Option<String>,
        /// An exact post-logout redirect URI (repeat for several).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// `RS256` (default), `ES256` or `EdDSA`.
        #[arg(long)]
        id_token_alg: Option<String>,
    },
}

#[derive(Subcommand)]
enum DeviceAction {
    /// Register a device and print its token once (only its hash is stored).
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
        /// An authorisation of the organisation's catalogue a member needs on this device.
        #[arg(long)]
        requires: Option<String>,
    },
}

#[derive(Subcommand)]
enum StripeAction {
    /// Process every Stripe event of the last 30 days (or since T) that the ledger lacks.
    Reconcile {
        /// RFC 3339 time, `YYYY-MM-DD` or Unix seconds (default: 30 days ago).
        #[arg(long)]
        since: Option<String>,
    },
}

#[derive(Subcommand)]
enum StaffAction {
    /// Create a staff user (or make an existing user staff) and print its password.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "admin", value_parser = ["admin", "support"])]
        role: String,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove every second factor of an account (the locked-out last admin); audited, and the
    /// person is emailed. They then sign in with their password and add a factor again.
    ResetFactors {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "reset from the command line")]
        reason: String,
    },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Create an API token for a staff member; it is printed once and stored hashed.
    Create {
        #[arg(long, value_name = "EMAIL")]
        staff: String,
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

#[derive(Subcommand)]
enum OrgAction {
    /// Create an organisation.
    Create {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "individual", value_parser = ["individual", "company", "nonprofit"])]
        kind: String,
        #[arg(long)]
        company_name: Option<String>,
        #[arg(long, default_value = "closed", value_parser = ["closed", "open"])]
        signup: String,
    },
}

#[derive(Subcommand)]
enum MailAction {
    /// Queue a test email; a running `portico serve` delivers it.
    Test {
        #[arg(long)]
        to: String,
        #[arg(long, default_value = "en", value_parser = ["en", "ro"])]
        locale: String,
    },
}

#[derive(Subcommand)]
enum SettingsAction {
    /// Set a runtime setting; running servers use it from their next request.
    Set { key: String, value: String },
    /// List the settings with their current values.
    List,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PORTICO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if std::env::var("PORTICO_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn open_store(config: &Config) -> Result<Store, String> {
    let store = Store::connect_with(&config.database_url, config.pool_limits())
        .await
        .map_err(|e| format!("cannot open the database {}: {e}", config.database_url))?;
    backup_before_migrating(&store, config).await?;
    store.migrate().await.map_err(|e| {
        if e.is_unavailable() {
            format!("{}: {e}", not_writable(config))
        } else {
            format!("migration failed: {e}")
        }
    })?;
    Ok(store)
}

/// A SQLite database that holds data is copied before migrations change it, so that an upgrade
/// that goes wrong can be undone with `portico restore`. A failed backup stops the migration.
async fn backup_before_migrating(store: &Store, config: &Config) -> Result<(), String> {
    if store.backend() != portico::store::Backend::Sqlite || !config.backup.before_migrate {
        return Ok(());
    }
    let status = store.schema_status().await.map_err(|e| e.to_string())?;
    if status.current == 0 || status.pending.is_empty() {
        return Ok(());
    }
    let dir = flows::backup::backup_dir(config).map_err(|e| e.to_string())?;
    let backup = flows::backup::take(store, &dir).await.map_err(|e| {
        format!("cannot back up the database before migrating it ({e}); free space or fix the backup directory, or set PORTICO_BACKUP_BEFORE_MIGRATE=false to migrate without a backup")
    })?;
    tracing::info!(path = %backup.path.display(), from = status.current, "backed up the database before migrating");
    eprintln!("backed up the database before migrating: {}", backup.path.display());
    Ok(())
}

/// `serve` and `demo` only start on a database they can write: a read-only file (or
/// `?mode=ro`, or a PostgreSQL standby) would otherwise fail every change at runtime.
async fn require_writable(store: &Store, config: &Config) -> Result<(), String> {
    store.check_writable().await.map_err(|e| format!("{}: {e}", not_writable(config)))
}

fn not_writable(config: &Config) -> String {
    format!(
        "the database {} does not accept writes or cannot be reached; check the file's permissions, the URL's mode, or that PostgreSQL is up and a primary",
        config.database_url.split('?').next().unwrap_or("")
    )
}

fn describe(e: FlowError) -> String {
    match e {
        FlowError::Invalid(fields) => fields
            .iter()
            .map(|f| {
                format!(
                    "{}: {}",
                    f.field,
                    portico::i18n::Locale::En.tr().t(&portico::http_error::field_key(f.code))
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        FlowError::Conflict { code } => format!("conflict: {code}"),
        FlowError::NotFound => "not found".to_string(),
        other => other.to_string(),
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    // A health check with its URL needs no configuration (a container's may lack some).
    if let Command::Healthcheck { url: Some(url), timeout } = &cli.command {
        return healthcheck(url, *timeout).await;
    }
    let purpose = match cli.command {
        // Signing keys are encrypted with the secret key: rotating them needs it.
        Command::Serve | Command::Oidc { action: OidcAction::RotateKeys } => Purpose::Serve,
        Command::Demo => Purpose::Demo,
        _ => Purpose::Admin,
    };
    let mut config = Config::load(purpose, cli.config.as_deref()).map_err(|e| e.to_string())?;
    let ctx = Ctx::cli();
    match cli.command {
        Command::Serve => {
            let _lock = flows::backup::hold_server_lock(&config).map_err(|e| e.to_string())?;
            let store = open_store(&config).await?;
            require_writable(&store, &config).await?;
            serve(config, store, None).await
        }
        Command::Demo => {
            // The demo keeps its data apart from a real instance unless told otherwise.
            if std::env::var_os("PORTICO_DATABASE_URL").is_none()
                && cli.config.is_none()
                && std::env::var_os("PORTICO_CONFIG").is_none()
            {
                config.database_url = "sqlite://portico-demo.db".to_string();
            }
            let _lock = flows::backup::hold_server_lock(&config).map_err(|e| e.to_string())?;
            let store = open_store(&config).await?;
            require_writable(&store, &config).await?;
            let login = demo_setup(&store).await.map_err(describe)?;
            let fake = demo_stripe(&mut config).await?;
            // A demo sends its webhooks to receivers on this machine (plain http included).
            config.webhooks.allow_private = true;
            let seeded = flows::demo::seed(&store, &config).await.map_err(describe)?;
            match &seeded {
                Some(s) => {
                    println!(
                        "demo: sample members, keys, authorisations, a door device, a webhook endpoint and an OpenID Connect client added to the demo organisation (people at demo.example)"
                    );
                    println!(
                        "demo: door device token {} (GET /api/v1/orgs/demo/access-list)",
                        s.device_token
                    );
                    println!("demo: OpenID Connect client_id {}", s.oidc_client_id);
                    if let Some(secret) = &s.oidc_client_secret {
                        println!("demo: OpenID Connect client_secret {secret}");
                    }
                }
                None => println!("demo: the sample data of an earlier start is kept"),
            }
            println!("demo: webhook deliveries arrive at /dev/webhooks, email at /dev/mail");
            // The payments and the device's first poll need the server: once it answers.
            if let (Some(fake), Some(stripe)) = (fake, portico::stripe::Client::new(&config.stripe)) {
                let (store, config) = (store.clone(), config.clone());
                let token = seeded.map(|s| s.device_token);
                tokio::spawn(async move {
                    let ready = config.base_url.join("healthz").map(|u| u.to_string()).unwrap_or_default();
                    let http = reqwest::Client::builder()
                        .timeout(std::time::Duration::from_secs(2))
                        .build()
                        .unwrap_or_default();
                    for _ in 0..100 {
                        if http.get(&ready).send().await.is_ok_and(|r| r.status().is_success()) {
                            break;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                    if let Err(e) =
                        flows::demo::after_start(&store, &config, &stripe, &fake, token.as_deref()).await
                    {
                        tracing::warn!(error = %e, "demo: the sample payments did not go through");
                    }
                });
            }
            // Its secret key is new on every start: signing keys of an earlier start are replaced.
            let encryption = flows::oidc::keys::KeyEncryption::derive(&config.secret_key.0);
            if flows::oidc::keys::reset_if_undecryptable(&store, &encryption).await.map_err(describe)? {
                println!("demo: new OpenID Connect signing keys (the secret key is new on every start)");
            }
            serve(config, store, Some(login)).await
        }
        Command::Migrate { check: true } => migrate_check(&config).await,
        Command::Migrate { check: false } => {
            let store = Store::connect_with(&config.database_url, config.pool_limits())
                .await
                .map_err(|e| e.to_string())?;
            backup_before_migrating(&store, &config).await?;
            let applied = store.migrate().await.map_err(|e| format!("migration failed: {e}"))?;
            println!("applied {applied} migration(s)");
            Ok(())
        }
        Command::Backup { to } => {
            let dir = match to {
                Some(dir) => dir,
                None => flows::backup::backup_dir(&config).map_err(|e| e.to_string())?,
            };
            let database = flows::backup::database_path(&config).map_err(|e| e.to_string())?;
            if !database.is_file() {
                return Err(format!("there is no database at {}", database.display()));
            }
            // A copy of the database as it is: no migration first.
            let store = Store::connect_with(&config.database_url, config.pool_limits())
                .await
                .map_err(|e| format!("cannot open the database: {e}"))?;
            let backup = flows::backup::take(&store, &dir).await.map_err(|e| e.to_string())?;
            store.close().await;
            println!("{}", backup.path.display());
            Ok(())
        }
        Command::Restore { file } => {
            let restored = flows::backup::restore(&config, &file).await.map_err(|e| e.to_string())?;
            println!(
                "restored {} (schema version {}) to {}",
                file.display(),
                restored.schema_version,
                restored.database.display()
            );
            match restored.replaced {
                Some(aside) => println!("the database it replaced is kept at {}", aside.display()),
                None => println!("there was no database to replace"),
            }
            Ok(())
        }
        Command::Healthcheck { url, timeout } => {
            let url = url.unwrap_or_else(|| {
                let mut address = config.bind;
                if address.ip().is_unspecified() {
                    address.set_ip(if address.is_ipv4() {
                        std::net::Ipv4Addr::LOCALHOST.into()
                    } else {
                        std::net::Ipv6Addr::LOCALHOST.into()
                    });
                }
                format!("http://{address}/readyz")
            });
            healthcheck(&url, timeout).await
        }
        Command::Staff { action: StaffAction::Create { email, role, password_stdin } } => {
            let store = open_store(&config).await?;
            let role = StaffRole::parse(&role).map_err(|e| e.to_string())?;
            let password = if password_stdin {
                let mut input = String::new();
                std::io::stdin().read_to_string(&mut input).map_err(|e| format!("reading stdin: {e}"))?;
                input.trim_end_matches(['\r', '\n']).to_string()
            } else {
                flows::password::generate()
            };
            let created =
                flows::staff::create_staff(&store, &Hasher::new(1, 1), &ctx, &email, role, &password)
                    .await
                    .map_err(describe)?;
            let verb = if created.created { "created" } else { "updated existing user as" };
            println!("{verb} staff {role}: {}", email.trim().to_lowercase());
            if !password_stdin {
                println!("password: {password}");
            }
            Ok(())
        }
        Command::Staff { action: StaffAction::ResetFactors { email, reason } } => {
            let store = open_store(&config).await?;
            let address = portico::domain::Email::parse(&email).map_err(|e| e.to_string())?;
            let user = portico::store::users::find_by_email(store.pool(), &address)
                .await
                .map_err(|e| describe(e.into()))?
                .ok_or_else(|| format!("no account with email {email:?}"))?;
            flows::second_factor::reset(&store, &config, &ctx, user.id, &reason).await.map_err(describe)?;
            println!("second factors removed: {}", user.email);
            Ok(())
        }
        Command::Token { action: TokenAction::Create { staff, name } } => {
            let store = open_store(&config).await?;
            let token =
                flows::staff::create_api_token(&store, &ctx, &staff, &name).await.map_err(|e| match e {
                    FlowError::NotFound => format!("no staff member with email {staff:?}"),
                    other => describe(other),
                })?;
            println!("{}", token.expose());
            Ok(())
        }
        Command::Org { action: OrgAction::Create { slug, name, kind, company_name, signup } } => {
            let store = open_store(&config).await?;
            let input = flows::orgs::OrgInput { slug, name, kind, company_name, signup: Some(signup) };
            let org = flows::orgs::create(&store, &ctx, &input).await.map_err(|e| match e {
                FlowError::Conflict { .. } => {
                    format!("an organisation with slug {:?} already exists", input.slug)
                }
                other => describe(other),
            })?;
            println!("created organisation {} ({})", org.slug, org.display_name());
            Ok(())
        }
        Command::Settings { action: SettingsAction::Set { key, value } } => {
            let store = open_store(&config).await?;
            let value = flows::settings::set(&store, &ctx, &key, &value).await.map_err(|e| match e {
                FlowError::NotFound => {
                    format!("unknown setting {key:?}; see `portico settings list`")
                }
                // Say which setting and what it takes.
                FlowError::Invalid(_) => match portico::domain::SettingDef::find(&key) {
                    Ok(def) => format!(
                        "{value:?} is not valid for {}: a whole number from {} to {} ({})",
                        def.key, def.min, def.max, def.help
                    ),
                    Err(e) => e.to_string(),
                },
                other => describe(other),
            })?;
            println!("{key} = {value}");
            Ok(())
        }
        Command::Mail { action: MailAction::Test { to, locale } } => {
            let store = open_store(&config).await?;
            let locale = portico::i18n::Locale::parse(&locale).unwrap_or(config.default_locale);
            let id = flows::mail::queue_test_message(&store, &config, &ctx, &to, locale)
                .await
                .map_err(describe)?;
            println!("queued test email {id} to {}; a running `portico serve` delivers it", to.trim());
            Ok(())
        }
        Command::Device { action: DeviceAction::Create { org, name, requires } } => {
            let store = open_store(&config).await?;
            let created = flows::access::create_device(&store, &ctx, &org, &name, requires.as_deref())
                .await
                .map_err(describe)?;
            println!("created device {} ({}) in {org}", created.device.id, created.device.name);
            println!("token: {}", created.token);
            Ok(())
        }
        Command::Oidc {
            action:
                OidcAction::Client {
                    action:
                        OidcClientAction::Create {
                            org,
                            name,
                            redirect_uris,
                            public,
                            first_party,
                            requires,
                            role,
                            without_pkce,
                            backchannel_logout_uri,
                            post_logout_redirect_uris,
                            id_token_alg,
                        },
                },
        } => {
            let store = open_store(&config).await?;
            let input = flows::oidc::clients::ClientInput {
                name,
                redirect_uris,
                post_logout_redirect_uris: Some(post_logout_redirect_uris),
                backchannel_logout_uri,
                public: Some(public),
                first_party: Some(first_party),
                requires,
                role,
                id_token_alg,
                pkce_required: Some(!without_pkce),
            };
            let (client, secret) = flows::oidc::clients::create(&store, &config.webhooks, &ctx, &org, &input)
                .await
                .map_err(describe)?;
            println!("client_id: {}", client.client_id);
            if let Some(secret) = secret {
                println!("client_secret: {}", secret.expose());
            }
            Ok(())
        }
        Command::Import {
            action: ImportAction::Members { org, file, dry_run, invite, skip_invalid, create_authorisations },
        } => {
            let store = open_store(&config).await?;
            let open = || {
                std::fs::File::open(&file)
                    .map(std::io::BufReader::new)
                    .map_err(|e| format!("cannot read {}: {e}", file.display()))
            };
            let today = time::OffsetDateTime::now_utc().date();
            let options = flows::import::Options { skip_invalid, invite, create_authorisations };
            let stripe = portico::stripe::Client::new(&config.stripe);
            let max = config.import_max_bytes;
            let report =
                flows::import::check(&store, stripe.as_ref(), &ctx, &org, open()?, max, today, &options)
                    .await
                    .map_err(describe)?;
            for r in &report.refusals {
                let column =
                    if r.column.is_empty() { String::new() } else { format!(", column {}", r.column) };
                println!("line {}{column}: {} ({})", r.line, flows::import::reason_text(r.reason), r.reason);
            }
            if dry_run || report.file_refused || (!report.refusals.is_empty() && !skip_invalid) {
                println!("{}", report.summary());
                if report.refusals.is_empty() {
                    return Ok(());
                }
                return Err(match report.refused {
                    0 => "the file was refused; nothing was written".to_string(),
                    n => format!("{n} row(s) refused; nothing was written"),
                });
            }
            let written =
                flows::import::write(&store, &config, stripe.as_ref(), &ctx, &org, open()?, today, &options)
                    .await
                    .map_err(describe)?;
            println!("{}", written.report.summary());
            if written.subscriptions_bound > 0 {
                println!("Stripe subscriptions bound: {}", written.subscriptions_bound);
            }
            if invite {
                println!("claim emails queued: {}", written.invited);
                if written.invite_limited > 0 {
                    println!(
                        "claim emails not sent (the address's hourly allowance is used up): {}",
                        written.invite_limited
                    );
                }
            }
            Ok(())
        }
        Command::Oidc { action: OidcAction::RotateKeys } => {
            let store = open_store(&config).await?;
            let encryption = flows::oidc::keys::KeyEncryption::derive(&config.secret_key.0);
            let kids = flows::oidc::keys::rotate(&store, &encryption).await.map_err(describe)?;
            for kid in kids {
                println!("published next key {kid}; it signs after {} s", config.oidc_key_publish_secs);
            }
            Ok(())
        }
        Command::Stripe { action: StripeAction::Reconcile { since } } => {
            let store = open_store(&config).await?;
            let stripe = portico::stripe::Client::new(&config.stripe)
                .ok_or("no Stripe secret key is configured (PORTICO_STRIPE_SECRET_KEY)")?;
            let since = match since {
                Some(t) => portico::domain::parse_instant(&t)
                    .ok_or(format!("--since {t:?}: expected RFC 3339, YYYY-MM-DD or Unix seconds"))?,
                None => portico::store::now() - flows::payments::RECONCILE_WINDOW_SECS,
            };
            let report = flows::payments::reconcile(&store, &stripe, since).await.map_err(describe)?;
            println!(
                "listed {} event(s); {} were missing and have been processed",
                report.listed, report.added
            );
            Ok(())
        }
        Command::Settings { action: SettingsAction::List } => {
            let store = open_store(&config).await?;
            for def in portico::domain::ALL_SETTINGS {
                let value = flows::settings::get(&store, def).await.map_err(describe)?;
                println!(
                    "{} = {value}  ({}; default {}, {}..={})",
                    def.key, def.help, def.default, def.min, def.max
                );
            }
            Ok(())
        }
    }
}

/// `migrate --check`: what a `migrate` would do, changing nothing (not even creating a
/// database that does not exist yet).
async fn migrate_check(config: &Config) -> Result<(), String> {
    use portico::store::migrations::SCHEMA_VERSION;
    let absent = portico::store::backup::sqlite_path(&config.database_url).is_some_and(|path| !path.exists());
    let pending = if absent {
        println!("no database yet: every migration is pending");
        portico::store::migrations::all()
    } else {
        let store = Store::connect_with(&config.database_url, config.pool_limits())
            .await
            .map_err(|e| format!("cannot open the database: {e}"))?;
        let status = store.schema_status().await.map_err(|e| e.to_string())?;
        store.close().await;
        println!("schema version {}; this binary knows versions up to {SCHEMA_VERSION}", status.current);
        status.pending
    };
    for (version, name) in &pending {
        println!("pending: {version:04} {name}");
    }
    if pending.is_empty() {
        println!("up to date");
        Ok(())
    } else {
        Err(format!("{} migration(s) pending; `portico migrate` applies them", pending.len()))
    }
}

/// Asks `url` until it answers 200 or `timeout_secs` have passed: a server that is still
/// starting (connection refused) or not ready yet (503) is asked again every 200 ms.
async fn healthcheck(url: &str, timeout_secs: u64) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(timeout_secs.max(1));
    let client = reqwest::Client::builder().build().map_err(|e| e.to_string())?;
    let mut last = String::from("no answer");
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, client.get(url).send()).await {
            Ok(Ok(response)) if response.status() == reqwest::StatusCode::OK => {
                println!("ready: {url}");
                return Ok(());
            }
            Ok(Ok(response)) => last = format!("answered {}", response.status()),
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => {
                return Err(format!("not ready: {url} did not answer within {timeout_secs} s ({last})"));
            }
        }
        if tokio::time::Instant::now() + std::time::Duration::from_millis(200) >= deadline {
            return Err(format!("not ready: {url} within {timeout_secs} s: {last}"));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

const DEMO_STAFF: &str = "admin@portico.example";

/// Without Stripe keys the demo takes payments through the built-in fake (TEST MODE), so the
/// whole signup → payment → active path works on a fresh machine.
async fn demo_stripe(config: &mut Config) -> Result<Option<portico::stripe::fake::FakeStripe>, String> {
    if config.stripe.secret_key.is_some() {
        return Ok(None);
    }
    let secret = format!(
        "whsec_demo_{}",
        flows::password::generate().replace(|c: char| !c.is_ascii_alphanumeric(), "")
    );
    let webhook = config.base_url.join("webhooks/stripe").map_err(|e| e.to_string())?;
    let fake = portico::stripe::fake::FakeStripe::start(
        config.bind.ip(),
        "sk_test_portico_demo",
        &secret,
        Some(webhook),
    )
    .await
    .map_err(|e| format!("cannot start the fake Stripe: {e}"))?;
    println!("Payments: built-in fake Stripe (TEST MODE) at {}", fake.url());
    config.stripe.secret_key = Some(portico::config::Redacted("sk_test_portico_demo".into()));
    config.stripe.webhook_secret = Some(portico::config::Redacted(secret));
    config.stripe.api_base = fake.url().clone();
    Ok(Some(fake))
}

/// Makes sure the demo organisation exists and gives the demo admin a fresh password.
async fn demo_setup(store: &Store) -> Result<(String, String), FlowError> {
    let ctx = Ctx::cli();
    let input = flows::orgs::OrgInput {
        slug: "demo".into(),
        name: "Demo Makerspace".into(),
        kind: "nonprofit".into(),
        company_name: None,
        signup: Some("open".into()),
    };
    match flows::orgs::create(store, &ctx, &input).await {
        Ok(_) | Err(FlowError::Conflict { .. }) => {}
        Err(e) => return Err(e),
    }
    // A demo database from before payments existed gets its plan too.
    if flows::plans::list(store, &ctx, "demo").await?.is_empty() {
        let automatic = flows::orgs::OrgPatch { activation: Some("automatic".into()), ..Default::default() };
        flows::orgs::update(store, &ctx, "demo", &automatic).await?;
        let plan = flows::plans::PlanInput {
            name: "Standard membership".into(),
            price_id: "price_demostandard".into(),
            display_price: "€25 / month".into(),
            interval: "month".into(),
        };
        flows::plans::create(store, &ctx, "demo", &plan).await?;
    }
    // The demo's secret key is new on every start, so a TOTP added in one run could not be read
    // in the next: its staff sign in with a password alone (the printed one).
    let required = portico::domain::settings::STAFF_SECOND_FACTOR_REQUIRED;
    if flows::settings::get(store, &required).await? != 0 {
        flows::settings::set(store, &ctx, required.key, "0").await?;
    }
    let password = flows::password::generate();
    flows::staff::create_staff(store, &Hasher::new(1, 1), &ctx, DEMO_STAFF, StaffRole::Admin, &password)
        .await?;
    Ok((DEMO_STAFF.to_string(), password))
}

async fn serve(config: Config, store: Store, demo_login: Option<(String, String)>) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
    let base = config.base_url.clone();
    tracing::info!(address = %config.bind, base_url = %base, database = config.database_url.split('?').next().unwrap_or(""), "portico listening");
    if let Some((email, password)) = demo_login {
        println!("\nPortico demo is running at {base}");
        println!("Staff login: {email}  password: {password}");
        println!(
            "Second factors for staff are not required in the demo (security.staff_second_factor_required = 0).\n"
        );
    }
    let state = AppState::new(config, store.clone());
    server::serve(state, listener, shutdown_signal()).await.map_err(|e| format!("server error: {e}"))?;
    store.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down");
}
