//! Member import, the check (SPEC §3.11): the whole file is read by the forms' rules and the
//! organisation's data before anything is written; every refused row is named with its line,
//! column and reason; nothing is written. Run as `portico import members --dry-run`, as an
//! operator would, on both backends.

use portico::flows::{self, Ctx};
use portico::store::Store;

use crate::common::{self, portico};

async fn club(url: &str) -> Store {
    let store = Store::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    let ctx = Ctx::cli();
    let org = flows::orgs::OrgInput {
        slug: "club".into(),
        name: "Club".into(),
        kind: "nonprofit".into(),
        company_name: None,
        signup: Some("open".into()),
    };
    flows::orgs::create(&store, &ctx, &org).await.unwrap();
    flows::members::add_to_catalogue(&store, &ctx, "club", "woodshop", None).await.unwrap();
    let plan = flows::plans::PlanInput {
        name: "Standard".into(),
        price_id: "price_std".into(),
        display_price: "€20".into(),
        interval: "month".into(),
    };
    flows::plans::create(&store, &ctx, "club", &plan).await.unwrap();
    store
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
    // Writing is not built yet, and says so rather than pretending.
    let out = portico(&url, &["import", "members", "--org", "club", &clean], &[], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("writing an import is not built yet"));
    assert_eq!(rows(&store).await, before);
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
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/examples/members.csv");
    let out = portico(&url, &["import", "members", "--org", "club", example, "--dry-run"], &[], None);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("created 3, updated 0, unchanged 0, refused 0"), "{text}");
    if let Some(dir) = dir {
        std::fs::remove_dir_all(dir).ok();
    }
}
