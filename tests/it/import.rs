//! Member import, the check (SPEC §3.11): the whole file is read by the forms' rules and the
//! organisation's data before anything is written; every refused row is named with its line,
//! column and reason; nothing is written. Run as `portico import members --dry-run`, as an
//! operator would, on both backends.

use portico::flows::{self, Ctx};
use portico::store::Store;
use portico::stripe::fake::FakeStripe;

use crate::common::{self, portico};

async fn club(url: &str) -> Store {
    let store = Store::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    club_on(&store).await;
    store
}

/// The organisation `club` with a catalogue entry `woodshop` and a plan `Standard`.
async fn club_on(store: &Store) {
    let ctx = Ctx::cli();
    let org = flows::orgs::OrgInput {
        slug: "club".into(),
        name: "Club".into(),
        kind: "nonprofit".into(),
        company_name: None,
        signup: Some("open".into()),
    };
    flows::orgs::create(store, &ctx, &org).await.unwrap();
    flows::members::add_to_catalogue(store, &ctx, "club", "woodshop", None).await.unwrap();
    let plan = flows::plans::PlanInput {
        name: "Standard".into(),
        price_id: "price_std".into(),
        display_price: "€20".into(),
        interval: "month".into(),
    };
    flows::plans::create(store, &ctx, "club", &plan).await.unwrap();
}

/// An existing member: `taken` as username, key 0004711999, woodshop, active.
async fn existing(store: &Store) -> i64 {
    let email = portico::domain::Email::parse("old@example.org").unwrap();
    let mut tx = store.begin().await.unwrap();
    let user = portico::store::users::insert_with_username(
        tx.conn(),
        &email,
        "taken",
        "x",
        "en",
        portico::store::now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let origin = portico::store::audit::Origin::default();
    let id = flows::signup::join_with_account(store, &origin, "club", user, email.as_str()).await.unwrap();
    let ctx = Ctx::cli();
    let active =
        flows::members::Change { status: Some("active"), role: None, reason: Some("x"), until: None };
    flows::members::change(store, &ctx, "club", id, &active).await.unwrap();
    flows::members::add_credential(store, &ctx, "club", id, "0004711999").await.unwrap();
    flows::members::set_authorisation(store, &ctx, "club", id, "woodshop", true).await.unwrap();
    id
}

fn write(dir: &std::path::Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_string_lossy().to_string()
}

async fn rows(store: &Store) -> (i64, i64) {
    use sqlx::Row;
    let n = |sql: &'static str| async move {
        sqlx::query(sql).fetch_one(store.pool()).await.unwrap().get::<i64, _>(0)
    };
    (n("SELECT COUNT(*) FROM users").await, n("SELECT COUNT(*) FROM memberships").await)
}

#[tokio::test]
async fn every_kind_of_bad_row_is_named_and_nothing_is_written() {
    let (url, dir) = common::fresh_database().await;
    let store = club(&url).await;
    existing(&store).await;
    let files = crate::operating::temp_dir("import");
    let before = rows(&store).await;

    // A byte-order mark, CRLF line ends, a quoted line break, and every kind of bad row.
    let mut csv = b"\xef\xbb\xbfemail,first_name,username,tags,authorisations,status,plan,birthday,member_since,note,custom.locker\r\n".to_vec();
    csv.extend_from_slice(b"ada@example.org,Ada,ada,0004711001,woodshop@2024-01-05,active,Standard,1990-01-01,2024-01-01,\"first line\r\nsecond line\",A1\r\n"); // 2: good
    csv.extend_from_slice(b"not-an-email,Bob,,,,,,,,,\r\n"); // 3
    csv.extend_from_slice(b"ADA@example.org,Ada again,,,,,,,,,\r\n"); // 4: the same address
    csv.extend_from_slice(b"cy@example.org,Cy,taken,,,,,,,,\r\n"); // 5: username of another
    csv.extend_from_slice(b"dee@example.org,Dee,,0004711999,,,,,,,\r\n"); // 6: another's key
    csv.extend_from_slice(b"eve@example.org,Eve,,,,,Gold,,,,\r\n"); // 7: no such plan
    csv.extend_from_slice(b"fay@example.org,Fay,,,laser cutter,,,,,,\r\n"); // 8: not in the catalogue
    csv.extend_from_slice(b"gus@example.org,Gus,,,,,,31/12/1990,2999-01-01,,\r\n"); // 9: bad dates
    csv.extend_from_slice(b"hal@example.org,=HYPERLINK(\"http://evil\"),,,,,,,,,\r\n"); // 10: a formula
    csv.extend_from_slice(b"ivy@example.org,\xff\xfeIvy,,,,,,,,,\r\n"); // 11: not UTF-8
    csv.extend_from_slice(b"jo@example.org,Jo,,0004711002,,,price_std,,,,\r\n"); // 12: good (plan by price id)
    let file = write(&files, "members.csv", &csv);
    let out = portico(&url, &["import", "members", "--org", "club", &file, "--dry-run"], &[], None);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{text}");
    for expected in [
        "line 3, column email: not an email address (invalid_email)",
        "line 4, column email: appears on an earlier line of the file (duplicate_in_file)",
        "line 5, column username: this username belongs to someone else (username_taken)",
        "line 6, column tags: this key is another member's (tag_taken)",
        "line 7, column plan: no plan of this organisation has this name or price id (unknown_plan)",
        "line 8, column authorisations: not in the organisation's catalogue (unknown_authorisation)",
        "line 9, column birthday: not a date (YYYY-MM-DD) (invalid_date)",
        "line 9, column member_since: a date in the future (date_in_future)",
        "line 10, column first_name: looks like a spreadsheet formula (formula)",
        "line 11: not UTF-8 text (invalid_utf8)",
        "created 2, updated 0, unchanged 0, refused 9",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(String::from_utf8_lossy(&out.stderr).contains("9 row(s) refused; nothing was written"));
    assert_eq!(rows(&store).await, before, "a check writes nothing");

    // The file itself: empty, a header alone, a header without email, a 10 MB line.
    for (name, bytes, expected) in [
        ("empty.csv", b"".to_vec(), "line 1: the file is empty (empty_file)"),
        (
            "header.csv",
            b"email,first_name\r\n".to_vec(),
            "line 2: the file has a header and no rows (no_rows)",
        ),
        (
            "noemail.csv",
            b"first_name,nickname\n".to_vec(),
            "line 1, column nickname: not a column an import takes (unknown_column)",
        ),
    ] {
        let out = portico(
            &url,
            &["import", "members", "--org", "club", &write(&files, name, &bytes), "--dry-run"],
            &[],
            None,
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert_eq!(out.status.code(), Some(1), "{name}: {text}");
        assert!(text.contains(expected), "{name}: {text}");
    }
    let mut long = b"email,note\nlong@example.org,".to_vec();
    long.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
    long.extend_from_slice(b"\nfine@example.org,short\n");
    let out = portico(
        &url,
        &["import", "members", "--org", "club", &write(&files, "long.csv", &long), "--dry-run"],
        &[],
        None,
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("line 2: the row is longer than 64 KiB (row_too_long)"), "{text}");
    assert!(text.contains("created 1, updated 0, unchanged 0, refused 1"), "{text}");
    // Over the configured size, the file is refused as a whole.
    let out = portico(
        &url,
        &["import", "members", "--org", "club", &write(&files, "long2.csv", &long), "--dry-run"],
        &[("PORTICO_IMPORT_MAX_BYTES", "1048576")],
        None,
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("the file is larger than import_max_bytes"));

    // A clean file: each row's verdict; the existing member as she is, then changed.
    let clean = write(
        &files,
        "clean.csv",
        b"email,username,tags,authorisations,status\nold@example.org,taken,0004711999,woodshop,active\nnew@example.org,newbie,,,\n",
    );
    let out = portico(&url, &["import", "members", "--org", "club", &clean, "--dry-run"], &[], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("created 1, updated 0, unchanged 1, refused 0"));
    let changed = write(&files, "changed.csv", b"email,status\nold@example.org,suspended\n");
    let out = portico(&url, &["import", "members", "--org", "club", &changed, "--dry-run"], &[], None);
    assert!(String::from_utf8_lossy(&out.stdout).contains("created 0, updated 1, unchanged 0, refused 0"));
    assert_eq!(rows(&store).await, before, "a dry run writes nothing");
    // Written: the new member created, the existing one as she was; a second run changes nothing.
    let out = portico(&url, &["import", "members", "--org", "club", &clean], &[], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("created 1, updated 0, unchanged 1, refused 0"));
    let out = portico(&url, &["import", "members", "--org", "club", &clean], &[], None);
    assert!(String::from_utf8_lossy(&out.stdout).contains("created 0, updated 0, unchanged 2, refused 0"));
    assert_eq!(rows(&store).await, (before.0 + 1, before.1 + 1));
    // With --skip-invalid the good rows of a file with bad ones are written, and it says which
    // were not.
    let out = portico(&url, &["import", "members", "--org", "club", &file, "--skip-invalid"], &[], None);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("line 3, column email: not an email address (invalid_email)"), "{text}");
    assert!(text.contains("created 2, updated 0, unchanged 0, refused 9"), "{text}");
    assert_eq!(rows(&store).await, (before.0 + 3, before.1 + 3));
    store.close().await;
    std::fs::remove_dir_all(files).ok();
    if let Some(dir) = dir {
        std::fs::remove_dir_all(dir).ok();
    }
}

#[tokio::test]
async fn the_example_file_of_the_guide_passes_the_check() {
    let (url, dir) = common::fresh_database().await;
    let store = club(&url).await;
    let ctx = Ctx::cli();
    for name in ["induction", "laser-cutter"] {
        flows::members::add_to_catalogue(&store, &ctx, "club", name, None).await.unwrap();
    }
    let plan = flows::plans::PlanInput {
        name: "Founders".into(),
        price_id: "price_standard".into(),
        display_price: "€30".into(),
        interval: "month".into(),
    };
    flows::plans::create(&store, &ctx, "club", &plan).await.unwrap();
    store.close().await;
    // Grace's subscription, as the space's Stripe account has it.
    let fake =
        FakeStripe::start("127.0.0.1".parse().unwrap(), "sk_test_example", "whsec_x", None).await.unwrap();
    fake.insert_existing_subscription("cus_P1x2y3", "sub_Q4r5s6", "grace@example.org", "price_standard");
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/examples/members.csv");
    let api = fake.url().to_string();
    let env = [("PORTICO_STRIPE_SECRET_KEY", "sk_test_example"), ("PORTICO_STRIPE_API_BASE", api.as_str())];
    let args = ["import", "members", "--org", "club", example, "--dry-run"];
    // Off the runtime's thread: the fake answering the command runs on it.
    let run = {
        let url = url.clone();
        let env = env.map(|(k, v)| (k, v.to_string()));
        move || portico(&url, &args, &env.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>(), None)
    };
    let out = tokio::task::spawn_blocking(run).await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("created 3, updated 0, unchanged 0, refused 0"), "{text}");
    if let Some(dir) = dir {
        std::fs::remove_dir_all(dir).ok();
    }
}

async fn count(store: &Store, sql: &'static str) -> i64 {
    use sqlx::Row;
    sqlx::query(sql).fetch_one(store.pool()).await.unwrap().get::<i64, _>(0)
}

/// Every column written as the forms would write it; the door list, the audit trail and the
/// events see the import; a second run changes nothing; a changed file updates what changed.
#[tokio::test]
async fn a_full_file_is_written_once_and_a_changed_file_updates_what_changed() {
    let (url, dir) = common::fresh_database().await;
    let store = club(&url).await;
    let ctx = Ctx::cli();
    let rules = flows::members::CatalogueRules { valid_days: Some(365), requires: vec![] };
    flows::members::add_to_catalogue(&store, &ctx, "club", "laser", Some(&rules)).await.unwrap();
    let hook = flows::webhooks::EndpointInput {
        url: "https://hooks.example.org/in".into(),
        events: None,
        enabled: None,
    };
    let webhooks = portico::config::WebhookConfig {
        allow_http: false,
        allow_private: false,
        timeout_secs: 5,
        poll_ms: 1000,
        retry_schedule_ms: vec![1000],
    };
    flows::webhooks::create(&store, &webhooks, &ctx, "club", &hook).await.unwrap();
    let files = crate::operating::temp_dir("import-write");
    let csv = "email,first_name,last_name,preferred_name,username,phone,birthday,status,role,plan,member_since,paid_through,tags,authorisations,note,stripe_customer,custom.locker\n\
        ada@example.org,Ada,Lovelace,Countess,ada,+44 20 7946 0000,1990-12-10,active,member,Standard,2021-03-01,2027-01-31,0004711234;0004711235,woodshop@2021-03-02;laser@2026-06-01,\"Founding member.\nPrefers email.\",cus_A1,A12\n\
        Bob@Example.org,Bob,,,,,,pending,,,,,0004711300,,,,\n";
    let file = write(&files, "members.csv", csv.as_bytes());
    let import = |file: &str| portico(&url, &["import", "members", "--org", "club", file], &[], None);
    let out = import(&file);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("created 2, updated 0, unchanged 0, refused 0"));

    let org = portico::store::orgs::find_by_slug(store.pool(), "club").await.unwrap().unwrap();
    let now = portico::store::now();
    let door: Vec<(String, String)> = portico::store::access::entries(store.pool(), org.id, None, now)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.tag, e.name))
        .collect();
    assert_eq!(door, [("0004711234".into(), "Countess".into()), ("0004711235".into(), "Countess".into())]);
    let laser: Vec<String> = portico::store::access::entries(store.pool(), org.id, Some("laser"), now)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.tag)
        .collect();
    assert_eq!(laser.len(), 2, "the laser grant of 2026-06-01 lasts a year");

    let members = flows::members::list(&store, &ctx, "club", None, None).await.unwrap();
    let ada = members.iter().find(|m| m.email == "ada@example.org").expect("ada imported").membership_id;
    let record = flows::members::get(&store, &ctx, "club", ada).await.unwrap();
    let m = &record.membership;
    assert_eq!(
        (m.status.as_str(), m.role.as_str(), m.plan.as_deref()),
        ("active", "member", Some("Standard"))
    );
    assert_eq!(m.username.as_deref(), Some("ada"));
    assert_eq!(m.member_since, Some(1_614_556_800), "2021-03-01");
    assert_eq!(m.renews_at, Some(1_801_353_600), "2027-01-31");
    assert_eq!(m.payment.customer.as_deref(), Some("cus_A1"));
    let p = &record.profile;
    assert_eq!((p.first_name.as_str(), p.last_name.as_str()), ("Ada", "Lovelace"));
    assert_eq!((p.phone.as_deref(), p.birthday.as_deref()), (Some("+44 20 7946 0000"), Some("1990-12-10")));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&p.custom_fields).unwrap(),
        serde_json::json!({"locker": "A12"})
    );
    let woodshop = record.authorisations.iter().find(|a| a.name == "woodshop").unwrap();
    assert_eq!((woodshop.granted_at, woodshop.expires_at), (1_614_643_200, None), "granted 2021-03-02");
    let laser = record.authorisations.iter().find(|a| a.name == "laser").unwrap();
    assert_eq!(laser.expires_at, Some(laser.granted_at + 365 * 86_400));
    assert_eq!(
        record.notes.iter().map(|n| n.text.as_str()).collect::<Vec<_>>(),
        ["Founding member.\nPrefers email."]
    );

    let audited = "SELECT COUNT(*) FROM audit_events WHERE details LIKE '%\"cause\":\"import\"%'";
    let events = "SELECT COUNT(*) FROM webhook_events";
    let lists = "SELECT COUNT(*) FROM access_changes";
    let (a1, e1, l1) =
        (count(&store, audited).await, count(&store, events).await, count(&store, lists).await);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM audit_events WHERE action = 'member.imported'").await, 2);
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM webhook_events WHERE type = 'membership.created'").await,
        2,
        "each created membership is sent out"
    );
    assert!(
        count(&store, "SELECT COUNT(*) FROM webhook_events WHERE type = 'credentials.changed'").await >= 3
    );

    // The same file again: nothing written, nothing audited, nothing sent.
    let out = import(&file);
    assert!(String::from_utf8_lossy(&out.stdout).contains("created 0, updated 0, unchanged 2, refused 0"));
    assert_eq!(
        (count(&store, audited).await, count(&store, events).await, count(&store, lists).await),
        (a1, e1, l1)
    );

    // Bob becomes active (and his key opens the door), Ada's locker moves.
    let changed = write(
        &files,
        "changed.csv",
        b"email,status,custom.locker\nbob@example.org,active,\nada@example.org,,B7\n",
    );
    let out = import(&changed);
    assert!(String::from_utf8_lossy(&out.stdout).contains("created 0, updated 2, unchanged 0, refused 0"));
    let door = portico::store::access::entries(store.pool(), org.id, None, now).await.unwrap();
    assert!(door.iter().any(|e| e.tag == "0004711300"), "bob's key is on the door list");
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM audit_events WHERE action = 'member.status_changed' AND details LIKE '%\"cause\":\"import\"%'").await,
        1
    );
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM webhook_events WHERE type = 'membership.activated'").await,
        1
    );
    assert!(count(&store, lists).await > l1);
    let record = flows::members::get(&store, &ctx, "club", ada).await.unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&record.profile.custom_fields).unwrap(),
        serde_json::json!({"locker": "B7"})
    );
    assert_eq!(record.profile.first_name, "Ada", "what the file does not give stays");
    store.close().await;
    std::fs::remove_dir_all(files).ok();
    if let Some(dir) = dir {
        std::fs::remove_dir_all(dir).ok();
    }
}

/// An import killed mid-way (SIGKILL: no clean-up of any kind) and run again ends with exactly
/// one membership, one account and one creation audited per address.
#[tokio::test]
async fn a_killed_import_finishes_on_a_rerun_without_duplicates() {
    let (url, dir) = common::fresh_database().await;
    let store = club(&url).await;
    let files = crate::operating::temp_dir("import-kill");
    const N: i64 = 2000;
    let mut csv = String::from("email,first_name,status,tags\n");
    for i in 0..N {
        csv.push_str(&format!("p{i}@example.org,Person {i},active,{:010}\n", 4_000_000_000 + i));
    }
    let file = write(&files, "many.csv", csv.as_bytes());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(["import", "members", "--org", "club", &file])
        .env_clear()
        .env("PORTICO_DATABASE_URL", &url)
        .env("PORTICO_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let memberships = "SELECT COUNT(*) FROM memberships";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while count(&store, memberships).await < 2 * flows::import::BATCH_ROWS as i64
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let at_kill = count(&store, memberships).await;
    assert!(at_kill > 0 && at_kill < N, "killed after {at_kill} of {N} rows");
    assert_eq!(at_kill % flows::import::BATCH_ROWS as i64, 0, "whole batches or nothing");

    let out = portico(&url, &["import", "members", "--org", "club", &file], &[], None);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains(&format!("created {}, updated 0, unchanged {at_kill}, refused 0", N - at_kill)),
        "{text}"
    );
    assert_eq!(count(&store, memberships).await, N);
    assert_eq!(count(&store, "SELECT COUNT(DISTINCT user_id) FROM memberships").await, N);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM users").await, N);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM audit_events WHERE action = 'member.imported'").await, N);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM member_credentials").await, N);
    store.close().await;
    std::fs::remove_dir_all(files).ok();
    if let Some(dir) = dir {
        std::fs::remove_dir_all(dir).ok();
    }
}

/// `--invite`: a "claim your account" email for each imported person without a password, in
/// their locale, through the outbox and a real SMTP server at the configured rate, within the
/// recipient's hourly allowance; its link sets a password; a second run sends none again.
#[tokio::test]
async fn claim_emails_arrive_at_the_configured_rate() {
    use common::smtp_sink::SmtpSink;
    use mail_parser::MessageParser;
    use std::time::{Duration, Instant};
    let sink = SmtpSink::start().await;
    let app = common::spawn_with(|c| {
        c.smtp_url = Some(sink.url().parse().unwrap());
        c.outbox.poll_ms = 100;
    })
    .await;
    let store = club(&app.database_url).await;
    existing(&store).await; // old@example.org has a password: no claim email
    let ctx = Ctx::cli();
    flows::settings::set(&store, &ctx, "import.claim_emails_per_minute", "60").await.unwrap();
    flows::settings::set(&store, &ctx, "security.invite_limit_per_recipient_per_hour", "1").await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let ana = portico::domain::Email::parse("ana@example.org").unwrap();
    let id = portico::store::users::insert(tx.conn(), &ana, None, None, portico::store::now()).await.unwrap();
    portico::store::users::set_locale(tx.conn(), id, "ro").await.unwrap();
    // dan was sent an invitation this hour: his allowance is used up.
    portico::store::rate_limits::hit(
        tx.conn(),
        "invite:recipient:dan@example.org",
        3600,
        portico::store::now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let files = crate::operating::temp_dir("import-claim");
    let file = write(
        &files,
        "claim.csv",
        b"email,first_name\nana@example.org,Ana\nben@example.org,Ben\ncat@example.org,Cat\nold@example.org,\ndan@example.org,Dan\n",
    );
    let started = Instant::now();
    let args = ["import", "members", "--org", "club", &file, "--invite"];
    let out = portico(&app.database_url, &args, &[("PORTICO_BASE_URL", &app.base)], None);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("created 4, updated 0, unchanged 1, refused 0"), "{text}");
    assert!(text.contains("claim emails queued: 3"), "{text}");
    assert!(text.contains("hourly allowance is used up): 1"), "{text}");

    // Paced one a second (the worker looks every 100 ms).
    let mut arrivals = Vec::new();
    for n in 1..=3 {
        sink.wait_for(n, Duration::from_secs(20)).await;
        arrivals.push(Instant::now());
    }
    let gaps: Vec<Duration> = arrivals.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|g| *g >= Duration::from_millis(700)), "{gaps:?}");
    assert!(started.elapsed() >= Duration::from_secs(2), "three emails at 60 a minute take two seconds");
    let got = sink.received();
    assert_eq!(got.len(), 3);
    let mut subjects = std::collections::BTreeMap::new();
    for m in &got {
        let parsed = MessageParser::default().parse(&m.data).unwrap();
        subjects.insert(
            m.rcpt_to[0].trim_matches(['<', '>']).to_string(),
            (parsed.subject().unwrap().to_string(), parsed.body_text(0).unwrap().to_string()),
        );
    }
    assert_eq!(
        subjects.keys().collect::<Vec<_>>(),
        ["ana@example.org", "ben@example.org", "cat@example.org"]
    );
    assert!(subjects["ana@example.org"].0.starts_with("Calitatea dumneavoastră de membru"), "{subjects:?}");
    assert_eq!(subjects["ben@example.org"].0, "Your membership is now on Portico");

    // Ben claims his account with the link.
    let link = portico::mail::links(&subjects["ben@example.org"].1)
        .into_iter()
        .find(|l| l.contains("/password/reset/"))
        .unwrap();
    let link = &link[app.base.len()..];
    let c = common::client();
    assert_eq!(app.get_page(&c, link).await.0, 200);
    let password = [("password", "ben's own passphrase"), ("password_confirm", "ben's own passphrase")];
    assert_eq!(app.post_form(&c, link, link, &password).await.status(), 303);
    assert_eq!(app.login(&common::client(), "ben@example.org", "ben's own passphrase").await.status(), 303);

    // Once is enough.
    let out = portico(&app.database_url, &args, &[("PORTICO_BASE_URL", &app.base)], None);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("unchanged 5") && text.contains("claim emails queued: 0"), "{text}");
    store.close().await;
    std::fs::remove_dir_all(files).ok();
}

/// The console's import: upload, a preview with a verdict per row and every refusal, then
/// commit; the upload's form token is checked like every form's.
#[tokio::test]
async fn the_console_previews_a_file_row_by_row_and_commits_it() {
    let app = common::spawn_with(|c| c.import_max_bytes = 4096).await;
    club_on(&app.store).await;
    let browser = common::client();
    let password = app.create_staff("admin@portico.test", portico::domain::StaffRole::Admin).await;
    assert_eq!(app.login(&browser, "admin@portico.test", &password).await.status(), 303);
    let (status, page) = app.get_page(&browser, "/staff/orgs/club").await;
    assert_eq!(status, 200);
    assert!(page.contains("href=\"/staff/orgs/club/import\""), "the organisation page links to it");
    let (status, page) = app.get_page(&browser, "/staff/orgs/club/import").await;
    assert_eq!(status, 200);
    let token = common::csrf_token(&page);
    let csv = "email,first_name,plan\nnew@example.org,Nell,Standard\nbad@,Bad,Standard\nother@example.org,Otto,Gold\n";
    let upload = |token: &str, skip: bool, file: &[u8]| {
        let mut form = reqwest::multipart::Form::new()
            .text("csrf_token", token.to_string())
            .part("file", reqwest::multipart::Part::bytes(file.to_vec()).file_name("members.csv"));
        if skip {
            form = form.text("skip_invalid", "1");
        }
        browser.post(app.url("/staff/orgs/club/import")).multipart(form).send()
    };

    // Refused rows: the preview names them and offers no commit.
    let r = upload(&token, false, csv.as_bytes()).await.unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("created 1, updated 0, unchanged 0, refused 2"), "{page}");
    assert!(page.contains("not an email address") && page.contains("invalid_email"), "{page}");
    assert!(page.contains("unknown_plan"));
    assert!(page.contains("new@example.org") && page.contains("creates a membership"));
    assert!(!page.contains("/import/commit"), "nothing to commit");

    // A forged upload (no form token) is refused; so is one from support staff.
    let r = upload("forged", true, csv.as_bytes()).await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(count(&app.store, "SELECT COUNT(*) FROM memberships").await, 0);

    // With "write the good rows": commit writes the one good row.
    let page = upload(&token, true, csv.as_bytes()).await.unwrap().text().await.unwrap();
    assert!(page.contains("/import/commit"), "{page}");
    let marker = "name=\"file\" value=\"";
    let start = page.find(marker).unwrap() + marker.len();
    let file = &page[start..start + page[start..].find('"').unwrap()];
    let r = browser
        .post(app.url("/staff/orgs/club/import/commit"))
        .form(&[("csrf_token", token.as_str()), ("file", file), ("skip_invalid", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("created 1, updated 0, unchanged 0, refused 2"), "{page}");
    assert_eq!(count(&app.store, "SELECT COUNT(*) FROM memberships").await, 1);
    let run = app.audit("org.imported").await;
    assert_eq!(run.len(), 1);
    assert_eq!(run[0].details["created"], 1);
    // The same commit without skipping: the file is checked again and nothing is written.
    let r = browser
        .post(app.url("/staff/orgs/club/import/commit"))
        .form(&[("csrf_token", token.as_str()), ("file", file)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);

    // A file over import_max_bytes is refused as a file.
    let big = format!("email\n{}", "x@example.org\n".repeat(400));
    let page = upload(&token, true, big.as_bytes()).await.unwrap().text().await.unwrap();
    assert!(page.contains("file_too_large") && !page.contains("/import/commit"), "{page}");
    // A body far beyond it is not read.
    let r = upload(&token, true, &vec![b'a'; 200 * 1024]).await.unwrap();
    assert_eq!(r.status(), 413);

    let support = common::client();
    let password = app.create_staff("help@portico.test", portico::domain::StaffRole::Support).await;
    assert_eq!(app.login(&support, "help@portico.test", &password).await.status(), 303);
    let (status, _) = app.get_page(&support, "/staff/orgs/club/import").await;
    assert_eq!(status, 403);
}

/// An organisation export (JSON Lines) read back by the import: its member lines become the
/// same memberships in another organisation, by the same rules; a second run changes nothing.
#[tokio::test]
async fn an_organisation_export_imports_back_member_for_member() {
    let app = common::spawn().await;
    club_on(&app.store).await;
    let ctx = Ctx::cli();
    flows::members::add_to_catalogue(&app.store, &ctx, "club", "induction", None).await.unwrap();
    let csv = "email,first_name,last_name,preferred_name,username,phone,birthday,status,role,plan,member_since,paid_through,tags,authorisations,custom.locker\n\
               ada@example.org,Ada,Lovelace,Countess,ada,+44 20 7946 0000,1990-12-10,active,member,Standard,2021-03-01,2027-01-31,0004711234;0004711235,induction@2021-03-02;woodshop,A12\n\
               kate@example.org,Katherine,Johnson,,,,,pending,admin,,,,,,\n";
    let today = time::OffsetDateTime::now_utc().date();
    let written = flows::import::write(
        &app.store,
        &app.config,
        None,
        &ctx,
        "club",
        csv.as_bytes(),
        today,
        &flows::import::Options::default(),
    )
    .await
    .unwrap();
    assert_eq!(written.report.created, 2, "{:?}", written.report.refusals);
    let token = app.admin_token().await;
    let export = reqwest::Client::new()
        .get(app.url("/api/v1/orgs/club/export"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(export.lines().count() > 3, "{export}");

    // Another organisation with the same catalogue and plan.
    let copy = flows::orgs::OrgInput {
        slug: "copy".into(),
        name: "Copy".into(),
        kind: "nonprofit".into(),
        company_name: None,
        signup: Some("open".into()),
    };
    flows::orgs::create(&app.store, &ctx, &copy).await.unwrap();
    for name in ["woodshop", "induction"] {
        flows::members::add_to_catalogue(&app.store, &ctx, "copy", name, None).await.unwrap();
    }
    let plan = flows::plans::PlanInput {
        name: "Standard".into(),
        price_id: "price_copy".into(),
        display_price: "€20".into(),
        interval: "month".into(),
    };
    flows::plans::create(&app.store, &ctx, "copy", &plan).await.unwrap();
    let files = crate::operating::temp_dir("import-jsonl");
    let file = write(&files, "club.jsonl", export.as_bytes());
    let run = |args: &[&str]| {
        let mut all = vec!["import", "members", "--org", "copy", file.as_str()];
        all.extend_from_slice(args);
        portico(&app.database_url, &all, &[], None)
    };
    let out = run(&["--dry-run"]);
    assert!(
        common::stdout(&out).contains("created 2, updated 0, unchanged 0, refused 0"),
        "{}{}",
        common::stdout(&out),
        common::stderr(&out)
    );
    let out = run(&[]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let out = run(&[]);
    assert!(
        common::stdout(&out).contains("created 0, updated 0, unchanged 2, refused 0"),
        "{}",
        common::stdout(&out)
    );

    // Member for member: the record, keys and authorisations (with their dates) are the same.
    let record = |slug: &'static str| {
        let token = token.clone();
        let url = app.url(&format!("/api/v1/orgs/{slug}/members?limit=10"));
        async move {
            let list: serde_json::Value = reqwest::Client::new()
                .get(url)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            list
        }
    };
    let (club_list, copy_list) = (record("club").await, record("copy").await);
    let ids = |list: &serde_json::Value| -> Vec<i64> {
        list["items"]
            .as_array()
            .or(list.as_array())
            .unwrap()
            .iter()
            .map(|m| m["id"].as_i64().unwrap())
            .collect()
    };
    for (a, b) in ids(&club_list).into_iter().zip(ids(&copy_list)) {
        let get = |slug: &str, id: i64| {
            reqwest::Client::new()
                .get(app.url(&format!("/api/v1/orgs/{slug}/members/{id}")))
                .bearer_auth(&token)
                .send()
        };
        let one: serde_json::Value = get("club", a).await.unwrap().json().await.unwrap();
        let two: serde_json::Value = get("copy", b).await.unwrap().json().await.unwrap();
        for field in ["email", "status", "role", "plan", "member_since", "renews_at", "profile"] {
            assert_eq!(one[field], two[field], "{field}: {one} / {two}");
        }
        let keys = |r: &serde_json::Value| -> Vec<String> {
            r["credentials"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["tag"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(keys(&one), keys(&two));
        let held = |r: &serde_json::Value| -> Vec<(String, i64)> {
            r["authorisations"]
                .as_array()
                .unwrap()
                .iter()
                // The import takes grant dates to the day, as its column writes them.
                .map(|a| {
                    (a["name"].as_str().unwrap().to_string(), a["granted_at"].as_i64().unwrap() / 86_400)
                })
                .collect()
        };
        assert_eq!(held(&one), held(&two));
    }

    // A bad member line is named by its line; a line that is not JSON too.
    let bad = "{\"type\":\"organisation\",\"slug\":\"x\"}\n{\"type\":\"member\",\"email\":\"not-an-email\"}\nnot json\n";
    let file = write(&files, "bad.jsonl", bad.as_bytes());
    let out =
        portico(&app.database_url, &["import", "members", "--org", "copy", &file, "--dry-run"], &[], None);
    let text = common::stdout(&out);
    assert!(!out.status.success());
    assert!(text.contains("line 2, column email: not an email address"), "{text}");
    assert!(text.contains("line 3: not a JSON object"), "{text}");
}
