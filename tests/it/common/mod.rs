//! Test support: starts the real Portico server on an ephemeral port against a fresh database
//! (a SQLite file, or a fresh PostgreSQL schema when `PORTICO_TEST_BACKEND=postgres`) and
//! talks HTTP to it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

pub mod smtp_sink;
pub mod webhook_receiver;

use portico::config::{Config, Purpose};
use portico::domain::StaffRole;
use portico::flows::password::Hasher;
use portico::flows::{self, Ctx};
use portico::server::{self, AppState};
use portico::store::{Backend, Store, audit};
use sqlx::Executor;
use tokio::sync::oneshot;

pub const SECRET: &str = "test-secret-key-0123456789abcdef-0123456789";

pub struct TestApp {
    pub base: String,
    pub store: Store,
    /// The server's own hashing pool.
    pub hasher: Hasher,
    pub config: Config,
    pub database_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    sqlite_dir: Option<PathBuf>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(dir) = &self.sqlite_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

pub fn backend() -> Backend {
    match std::env::var("PORTICO_TEST_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    }
}

pub fn postgres_admin_url() -> String {
    std::env::var("PORTICO_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A database URL nobody else uses: a new SQLite file, or a new PostgreSQL schema.
pub async fn fresh_database() -> (String, Option<PathBuf>) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    match backend() {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join(format!("portico-test-{id}"));
            std::fs::create_dir_all(&dir).expect("temp dir");
            (format!("sqlite://{}", dir.join("portico.db").display()), Some(dir))
        }
        Backend::Postgres => {
            let admin = postgres_admin_url();
            sqlx::any::install_default_drivers();
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is not reachable: {e}"));
            let schema = format!("t_{id}");
            conn.execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .await
                .expect("create schema");
            let sep = if admin.contains('?') { '&' } else { '?' };
            (format!("{admin}{sep}options=-c%20search_path%3D{schema}"), None)
        }
    }
}

pub fn test_config(database_url: &str) -> Config {
    let env: HashMap<String, String> = [
        ("PORTICO_SECRET_KEY", SECRET),
        ("PORTICO_DATABASE_URL", database_url),
        ("PORTICO_BIND", "127.0.0.1:0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    Config::from_sources(Purpose::Serve, None, &env).expect("test config")
}

pub async fn spawn() -> TestApp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let (database_url, sqlite_dir) = fresh_database().await;
    spawn_on(database_url, sqlite_dir, adjust).await
}

/// A server on a given database: a second server on the same database behaves like a second
/// `portico serve` process (its own pool, worker and hashing threads). `sqlite_dir` is removed
/// when the returned app is dropped.
pub async fn spawn_on(
    database_url: String,
    sqlite_dir: Option<PathBuf>,
    adjust: impl FnOnce(&mut Config),
) -> TestApp {
    // PORTICO_TEST_LOG=debug shows the server's logs while debugging a test.
    if let Ok(filter) = std::env::var("PORTICO_TEST_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut config = test_config(&database_url);
    config.bind = addr;
    config.base_url = format!("http://{addr}/").parse().expect("url");
    // Race tests fire hundreds of password-setting requests at once; they test uniqueness, not
    // the hashing queue (whose own tests make it small).
    config.hash_queue = 1000;
    adjust(&mut config);
    let store = Store::connect_with(&config.database_url, config.pool_limits()).await.expect("connect");
    store.migrate().await.expect("migrate");
    // Most tests sign staff in with a password alone; the second-factor tests require a second
    // factor again (the default) where they test it.
    let mut tx = store.begin().await.expect("begin");
    portico::store::settings::set(tx.conn(), "security.staff_second_factor_required", "0", "tests")
        .await
        .expect("setting");
    tx.commit().await.expect("commit");
    // The signing keys `serve` makes on its first start, made before it starts (so that no test
    // meets their commits half-way).
    let encryption = portico::flows::oidc::keys::KeyEncryption::derive(&config.secret_key.0);
    portico::flows::oidc::keys::ensure_active(&store, &encryption).await.expect("signing keys");
    let (tx, rx) = oneshot::channel::<()>();
    let state = AppState::new(config.clone(), store.clone());
    let hasher = state.hasher.clone();
    tokio::spawn(async move {
        let _ = server::serve(state, listener, async {
            let _ = rx.await;
        })
        .await;
    });
    TestApp {
        base: format!("http://{addr}"),
        store,
        hasher,
        config,
        database_url,
        shutdown: Some(tx),
        sqlite_dir,
    }
}

/// A browser-like client: keeps cookies, does not follow redirects (tests look at them).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The value of the first hidden `csrf_token` field of a page.
pub fn csrf_token(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).map(|i| i + marker.len()).expect("page has a csrf_token field");
    let end = html[start..].find('"').expect("closing quote");
    html[start..start + end].to_string()
}

/// The value of a `Set-Cookie` cookie in a response, if set.
pub fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get_all(reqwest::header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(
        |v| v.strip_prefix(&format!("{name}=")).map(|rest| rest.split(';').next().unwrap_or("").to_string()),
    )
}

impl TestApp {
    /// A handle on a database without a server of its own (for tests that run `portico serve`
    /// as separate processes): its store and config serve the helpers; `url` is meaningless.
    pub fn detached(store: Store, config: Config) -> TestApp {
        let hasher = Hasher::new(1, 1);
        let database_url = config.database_url.clone();
        TestApp { base: String::new(), store, hasher, config, database_url, shutdown: None, sqlite_dir: None }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn create_staff(&self, email: &str, role: StaffRole) -> String {
        let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
        flows::staff::create_staff(&self.store, &self.hasher, &Ctx::cli(), email, role, &password)
            .await
            .expect("create staff");
        password
    }

    pub async fn api_token(&self, staff_email: &str) -> String {
        flows::staff::create_api_token(&self.store, &Ctx::cli(), staff_email, "test")
            .await
            .expect("token")
            .expose()
            .to_string()
    }

    /// An admin and an API token for it.
    pub async fn admin_token(&self) -> String {
        self.create_staff("admin@portico.test", StaffRole::Admin).await;
        self.api_token("admin@portico.test").await
    }

    /// GETs a page and returns (status, body).
    pub async fn get_page(&self, client: &reqwest::Client, path: &str) -> (u16, String) {
        let r = client.get(self.url(path)).send().await.expect("get");
        let status = r.status().as_u16();
        (status, r.text().await.expect("body"))
    }

    /// Signs in through the login form (fetching its CSRF token first).
    pub async fn login(&self, client: &reqwest::Client, email: &str, password: &str) -> reqwest::Response {
        let (_, page) = self.get_page(client, "/login").await;
        let token = csrf_token(&page);
        client
            .post(self.url("/login"))
            .form(&[("csrf_token", token.as_str()), ("email", email), ("password", password)])
            .send()
            .await
            .expect("post login")
    }

    /// Posts a form from `page_path`, with the CSRF token of that page.
    pub async fn post_form(
        &self,
        client: &reqwest::Client,
        page_path: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let (_, page) = self.get_page(client, page_path).await;
        let token = csrf_token(&page);
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", token.as_str())];
        form.extend_from_slice(fields);
        client.post(self.url(action)).form(&form).send().await.expect("post form")
    }

    /// A new user (with `password_hash`, if given) joined to the open organisation `slug` as
    /// a pending member; the membership id.
    pub async fn join(&self, slug: &str, email: &str, password_hash: Option<&str>) -> i64 {
        let email = portico::domain::Email::parse(email).expect("email");
        let mut tx = self.store.begin().await.expect("tx");
        let user =
            portico::store::users::insert(tx.conn(), &email, None, password_hash, portico::store::now())
                .await
                .expect("user");
        tx.commit().await.expect("commit");
        let origin = portico::store::audit::Origin::default();
        flows::signup::join_with_account(&self.store, &origin, slug, user, email.as_str())
            .await
            .expect("join")
    }

    pub async fn audit(&self, action: &str) -> Vec<audit::Event> {
        audit::list(self.store.pool(), None, Some(action), 1000).await.expect("audit")
    }

    /// One API call with `token`; the status and the JSON body (null when there is none).
    pub async fn api(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = reqwest::Client::new().request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let r = request.send().await.expect("api call");
        (r.status().as_u16(), r.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        use sqlx::Row;
        sqlx::query(sql).fetch_one(self.store.pool()).await.expect("count").get::<i64, _>(0)
    }
}

/// What a command printed on standard output.
pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// What a command printed on standard error.
pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Runs the `portico` binary as an operator would: on `database_url`, with only `PATH`, the
/// `env` given and quiet logs; `stdin` is written to its standard input.
pub fn portico(
    database_url: &str,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORTICO_DATABASE_URL", database_url)
        .env("PORTICO_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run portico");
    if let Some(input) = stdin {
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("wait")
}

/// `portico serve` as a child process on `database_url`, mail to `smtp_url`, with a few more
/// `PORTICO_*` variables; killed (SIGKILL) when dropped. A second one is a second server process.
pub struct ServeProcess(std::process::Child);

impl ServeProcess {
    pub fn start(database_url: &str, smtp_url: &str, env: &[(&str, &str)]) -> ServeProcess {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_portico"));
        command.arg("serve").env_clear();
        // An empty URL, or a secret key from a file, leaves these to `env`.
        if !database_url.is_empty() {
            command.env("PORTICO_DATABASE_URL", database_url);
        }
        if !env.iter().any(|(k, _)| k.starts_with("PORTICO_SECRET_KEY")) {
            command.env("PORTICO_SECRET_KEY", SECRET);
        }
        command
            .env("PORTICO_BIND", "127.0.0.1:0")
            .env("PORTICO_SMTP_URL", smtp_url)
            .env("PORTICO_LOG", "error")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        ServeProcess(command.spawn().expect("start portico serve"))
    }

    /// As [`ServeProcess::start`], on a free loopback port; the base URL once `/healthz` answers.
    pub async fn start_listening(
        database_url: &str,
        smtp_url: &str,
        env: &[(&str, &str)],
    ) -> (ServeProcess, String) {
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let bind = format!("127.0.0.1:{port}");
        let mut env = env.to_vec();
        env.push(("PORTICO_BIND", &bind));
        let process = ServeProcess::start(database_url, smtp_url, &env);
        let base = format!("http://{bind}");
        for _ in 0..100 {
            if reqwest::get(format!("{base}/healthz")).await.is_ok_and(|r| r.status() == 200) {
                return (process, base);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("portico serve did not answer on {bind}");
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill_9(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        self.kill_9();
    }
}

/// Waits, if need be, until at least `margin_secs` remain of the current fixed rate-limit window
/// of `window_secs` (windows are aligned to the clock), so a test that counts attempts does not
/// straddle a window's end and see its counter reset.
pub async fn clear_of_window_edge(window_secs: i64, margin_secs: i64) {
    let now = portico::store::now();
    let left = window_secs - now.rem_euclid(window_secs);
    if left < margin_secs {
        tokio::time::sleep(std::time::Duration::from_secs((left + 1) as u64)).await;
    }
}
