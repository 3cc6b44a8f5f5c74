//! The `portico` binary: admin commands and configuration errors, run as a user would.

use crate::common::{self, stderr, stdout};

use std::process::{Command, Output};

use portico::store::Store;

fn portico(database_url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    common::portico(database_url, args, &[], stdin)
}

#[tokio::test]
async fn admin_commands_work_and_are_audited() {
    let (url, _dir) = common::fresh_database().await;
    let out = portico(&url, &["migrate"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    // Every migration the binary knows, on a fresh database (a number that grows with the
    // schema); none the second time.
    let applied: u32 = stdout(&out)
        .strip_prefix("applied ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(applied >= 18, "{}", stdout(&out));
    let again = portico(&url, &["migrate"], None);
    assert!(stdout(&again).contains("applied 0 migration"), "migrations are idempotent");

    let out = portico(&url, &["staff", "create", "--email", "Ops@Example.org"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("created staff admin: ops@example.org"), "{text}");
    let password =
        text.lines().find_map(|l| l.strip_prefix("password: ")).expect("printed password").to_string();
    assert_eq!(password.len(), 20);

    let out = portico(
        &url,
        &["staff", "create", "--email", "help@example.org", "--role", "support", "--password-stdin"],
        Some("a long enough passphrase\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains("password:"), "a password from stdin is not echoed");
    let weak = portico(
        &url,
        &["staff", "create", "--email", "weak@example.org", "--password-stdin"],
        Some("short\n"),
    );
    assert!(!weak.status.success());
    assert!(stderr(&weak).contains("at least 12 characters"), "{}", stderr(&weak));

    let out = portico(&url, &["token", "create", "--staff", "ops@example.org", "--name", "ci"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let token = stdout(&out).trim().to_string();
    assert!(token.starts_with("pt_") && token.len() > 40, "{token}");
    let missing = portico(&url, &["token", "create", "--staff", "nobody@example.org"], None);
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("no staff member"));

    let out = portico(
        &url,
        &[
            "org",
            "create",
            "--slug",
            "acme",
            "--name",
            "acme",
            "--kind",
            "company",
            "--company-name",
            "Acme Ltd",
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("created organisation acme (Acme Ltd)"));
    let dup = portico(&url, &["org", "create", "--slug", "ACME", "--name", "Again"], None);
    assert!(!dup.status.success());
    assert!(stderr(&dup).contains("already exists"), "{}", stderr(&dup));

    let out = portico(&url, &["device", "create", "--org", "acme", "--name", "Front door"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let device_token =
        stdout(&out).lines().find_map(|l| l.strip_prefix("token: ")).expect("printed token").to_string();
    assert!(device_token.starts_with("pdv_") && device_token.len() > 40, "{device_token}");
    let unknown = portico(
        &url,
        &["device", "create", "--org", "acme", "--name", "Saw", "--requires", "woodshop"],
        None,
    );
    assert!(!unknown.status.success(), "a requirement outside the catalogue is refused");

    let out = portico(&url, &["settings", "set", "security.login_attempts_per_ip_per_15min", "25"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let bad = portico(&url, &["settings", "set", "security.login_attempts_per_ip_per_15min", "zero"], None);
    assert!(!bad.status.success());
    // The error names the setting and its range.
    assert!(
        stderr(&bad).contains(
            "not valid for security.login_attempts_per_ip_per_15min: a whole number from 1 to 10000"
        ),
        "{}",
        stderr(&bad)
    );
    let unknown = portico(&url, &["settings", "set", "no.such", "1"], None);
    assert!(stderr(&unknown).contains("unknown setting"));

    let out = portico(&url, &["mail", "test", "--to", "Ops@Example.org", "--locale", "ro"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("queued test email"), "{}", stdout(&out));
    let bad = portico(&url, &["mail", "test", "--to", "not an address"], None);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("to: Enter a valid email address."), "{}", stderr(&bad));

    // The stored token works against a server on the same database, and was stored hashed.
    let store = Store::connect(&url).await.unwrap();
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT token_hash FROM api_tokens").fetch_all(store.pool()).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], token);
    let events = portico::store::audit::list(store.pool(), None, None, 100).await.unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    let queued: Vec<(String, String, String)> =
        sqlx::query_as("SELECT recipient, locale, state FROM outbox").fetch_all(store.pool()).await.unwrap();
    assert_eq!(queued, vec![("ops@example.org".into(), "ro".into(), "queued".into())]);
    for expected in
        ["staff.created", "api_token.created", "org.created", "setting.changed", "mail.test_queued"]
    {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    assert!(events.iter().all(|e| e.actor == "cli"));
    assert_eq!(actions.iter().filter(|a| **a == "org.created").count(), 1);
    let limit = portico::flows::settings::get(&store, &portico::domain::LOGIN_ATTEMPTS_PER_IP).await.unwrap();
    assert_eq!(limit, 25);
}

#[tokio::test]
async fn bad_configuration_is_reported_clearly() {
    let out = Command::new(env!("CARGO_BIN_EXE_portico"))
        .arg("serve")
        .env_clear()
        .env("PORTICO_DATABASE_URL", "mysql://nope")
        .env("PORTICO_BASE_URL", "not a url")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("PORTICO_DATABASE_URL"), "{err}");
    assert!(err.contains("PORTICO_BASE_URL"), "{err}");
    assert!(err.contains("PORTICO_SECRET_KEY: required"), "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(["--config", "/nonexistent/portico.toml", "migrate"])
        .env_clear()
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot read it"), "{}", stderr(&out));
}
