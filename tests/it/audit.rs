//! The audit log (SPEC §3.4): every filter and their combinations, a cursor that stays stable
//! while events are written, the CSV export (defused, itself audited), retention; on both
//! backends.

use crate::common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{TestApp, client, spawn, spawn_with};
use portico::domain::StaffRole;
use portico::flows::{self, Ctx};
use portico::store::now;
use serde_json::Value;

/// One seeded event, as the test expects to find it.
#[derive(Clone, Debug)]
struct Seeded {
    at: i64,
    actor_user: Option<i64>,
    actor: String,
    action: &'static str,
    target: String,
    org: Option<&'static str>,
}

struct Log {
    app: TestApp,
    token: String,
    events: Vec<Seeded>,
    /// (email, user id) of the two acting users.
    users: Vec<(String, i64)>,
    base: i64,
}

async fn org(app: &TestApp, slug: &str) -> i64 {
    let input = flows::orgs::OrgInput {
        slug: slug.into(),
        name: slug.into(),
        kind: "nonprofit".into(),
        company_name: None,
        signup: Some("open".into()),
    };
    flows::orgs::create(&app.store, &Ctx::cli(), &input).await.unwrap().id
}

async fn insert(app: &TestApp, e: &Seeded, org_id: Option<i64>) {
    sqlx::query(
        "INSERT INTO audit_events (at, actor_user_id, actor, action, target, org_id, client_ip, details)
         VALUES ($1, $2, $3, $4, $5, $6, '192.0.2.7', '{\"reason\":\"seeded\"}')",
    )
    .bind(e.at)
    .bind(e.actor_user)
    .bind(&e.actor)
    .bind(e.action)
    .bind(&e.target)
    .bind(org_id)
    .execute(app.store.pool())
    .await
    .unwrap();
}

/// 240 events spread over two organisations, three actors, four actions, three targets and
/// twelve days; several share a second (the cursor must break ties by id).
async fn seeded_log() -> Log {
    let app = spawn().await;
    let token = app.admin_token().await;
    let (alpha, beta) = (org(&app, "alpha").await, org(&app, "beta").await);
    let mut users = Vec::new();
    for email in ["ana@portico.test", "bo@portico.test"] {
        app.create_staff(email, StaffRole::Support).await;
        let user = portico::store::users::find_by_email(
            app.store.pool(),
            &portico::domain::Email::parse(email).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
        users.push((email.to_string(), user.id));
    }
    let base = now() - 20 * 86_400;
    let actions =
        ["membership.status_changed", "membership.note_added", "invitation.created", "setting.changed"];
    let targets = ["m1@portico.test", "m2@portico.test", "=HYPERLINK(\"http://x\")"];
    let mut events = Vec::new();
    for i in 0..240i64 {
        let (actor_user, actor) = match i % 3 {
            0 => (Some(users[0].1), users[0].0.clone()),
            1 => (Some(users[1].1), users[1].0.clone()),
            _ => (None, "stripe".to_string()),
        };
        let org = match i % 5 {
            0 | 1 => Some("alpha"),
            2 | 3 => Some("beta"),
            _ => None,
        };
        let e = Seeded {
            // Twelve days, three events per second-slot now and then.
            at: base + (i / 3) * 4 * 3600 + (i % 2),
            actor_user,
            actor,
            action: actions[(i % 4) as usize],
            target: targets[(i % 7 % 3) as usize].to_string(),
            org,
        };
        let org_id = match org {
            Some("alpha") => Some(alpha),
            Some(_) => Some(beta),
            None => None,
        };
        insert(&app, &e, org_id).await;
        events.push(e);
    }
    Log { app, token, events, users, base }
}

#[derive(Clone, Default, Debug)]
struct Query {
    org: Option<&'static str>,
    actor: Option<String>,
    action: Option<&'static str>,
    target: Option<&'static str>,
    from: Option<i64>,
    to: Option<i64>,
}

impl Query {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        if let Some(v) = self.org {
            p.push(("org", v.to_string()));
        }
        if let Some(v) = &self.actor {
            p.push(("actor", v.clone()));
        }
        if let Some(v) = self.action {
            p.push(("action", v.to_string()));
        }
        if let Some(v) = self.target {
            p.push(("target", v.to_string()));
        }
        if let Some(v) = self.from {
            p.push(("since", portico::domain::rfc3339(v)));
        }
        if let Some(v) = self.to {
            p.push(("until", portico::domain::rfc3339(v)));
        }
        p
    }
}

impl Log {
    /// Every page of the API's answer to `q`, `limit` at a time: (at, action, target) in order.
    async fn read_all(&self, q: &Query, limit: usize) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut pairs = q.pairs();
            pairs.push(("limit", limit.to_string()));
            if let Some(c) = &cursor {
                pairs.push(("cursor", c.clone()));
            }
            let r = client()
                .get(self.app.url("/api/v1/audit"))
                .bearer_auth(&self.token)
                .query(&pairs)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{q:?}");
            let body: Value = r.json().await.unwrap();
            let events = body["items"].as_array().unwrap();
            assert!(events.len() <= limit);
            out.extend(events.iter().cloned());
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return out,
            }
        }
    }

    fn expected(&self, q: &Query, actor_ids: &[i64], actor_labels: &[&str]) -> Vec<Seeded> {
        let mut hits: Vec<Seeded> = self
            .events
            .iter()
            .filter(|e| q.org.is_none() || e.org == q.org)
            .filter(|e| {
                q.actor.is_none()
                    || e.actor_user.is_some_and(|id| actor_ids.contains(&id))
                    || actor_labels.contains(&e.actor.as_str())
            })
            .filter(|e| q.action.is_none_or(|a| e.action.starts_with(a)))
            .filter(|e| q.target.is_none_or(|t| e.target == t))
            .filter(|e| q.from.is_none_or(|f| e.at >= f))
            .filter(|e| q.to.is_none_or(|t| e.at < t))
            .cloned()
            .collect();
        // Newest first; equal times newest insert (highest id) first.
        hits.reverse();
        hits.sort_by_key(|e| std::cmp::Reverse(e.at));
        hits
    }
}

/// Today's date as the API writes it, `YYYY-MM-DD`.
fn today() -> String {
    portico::domain::rfc3339(now())[..10].to_string()
}

#[tokio::test]
async fn every_filter_and_every_combination_finds_exactly_the_matching_events_newest_first() {
    let log = seeded_log().await;
    let (ana, ana_id) = log.users[0].clone();
    let (_, bo_id) = log.users[1].clone();
    // Each filter with one value, and each combination of them (2^6 = 64 queries).
    let mut checked = 0;
    for mask in 0u32..64 {
        let on = |bit: u32| mask & (1 << bit) != 0;
        let q = Query {
            org: on(0).then_some("alpha"),
            // Several actors at once: one by address, one by id, and a system actor.
            actor: on(1).then(|| format!("{ana}, {bo_id},stripe")),
            action: on(2).then_some("membership."),
            target: on(3).then_some("m1@portico.test"),
            from: on(4).then_some(log.base + 3 * 86_400),
            to: on(5).then_some(log.base + 9 * 86_400),
        };
        let expected = log.expected(&q, &[ana_id, bo_id], &["stripe"]);
        let got = log.read_all(&q, 7).await;
        // Leave out the events of the setup itself (staff and organisations created now).
        let got: Vec<Value> =
            got.into_iter().filter(|e| !e["at"].as_str().unwrap().starts_with(&today())).collect();
        let got_keys: Vec<(i64, String, String)> = got
            .iter()
            .map(|e| {
                let at = time::OffsetDateTime::parse(
                    e["at"].as_str().unwrap(),
                    &time::format_description::well_known::Rfc3339,
                )
                .unwrap()
                .unix_timestamp();
                (at, e["action"].as_str().unwrap().into(), e["target"].as_str().unwrap().into())
            })
            .collect();
        let want: Vec<(i64, String, String)> =
            expected.iter().map(|e| (e.at, e.action.to_string(), e.target.clone())).collect();
        assert_eq!(got_keys.len(), want.len(), "filter {q:?}");
        if let Some(i) = (0..want.len()).find(|i| got_keys[*i] != want[*i]) {
            panic!("filter {q:?}: event {i} is {:?}, expected {:?}", got_keys[i], want[i]);
        }
        let ids: Vec<i64> = got.iter().map(|e| e["id"].as_i64().unwrap()).collect();
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len(), "no event twice: {q:?}");
        checked += want.len();
    }
    assert!(checked > 1000, "the combinations select events: {checked}");

    // Single actors and single actions narrow further; an exact action name is a prefix too.
    let q = Query {
        actor: Some(ana_id.to_string()),
        action: Some("membership.note_added"),
        ..Default::default()
    };
    let want = log.expected(&q, &[ana_id], &[]);
    assert!(!want.is_empty());
    let got = log.read_all(&q, 50).await;
    assert_eq!(got.iter().filter(|e| !e["at"].as_str().unwrap().starts_with(&today())).count(), want.len());

    // Rows show people: the actor's address and the organisation's slug, details, client IP.
    let page =
        log.read_all(&Query { org: Some("beta"), actor: Some(ana.clone()), ..Default::default() }, 200).await;
    let first = &page[0];
    assert_eq!(
        (first["actor"].as_str(), first["actor_email"].as_str()),
        (Some(ana.as_str()), Some(ana.as_str()))
    );
    assert_eq!(first["org"], "beta");
    assert_eq!(first["details"]["reason"], "seeded");
    assert_eq!(first["client_ip"], "192.0.2.7");
}

#[tokio::test]
async fn filtering_by_an_address_follows_the_user_across_an_address_change() {
    let log = seeded_log().await;
    let (old, id) = log.users[0].clone();
    sqlx::query("UPDATE users SET email = 'ana.new@portico.test' WHERE id = $1")
        .bind(id)
        .execute(log.app.store.pool())
        .await
        .unwrap();
    let by_new =
        log.read_all(&Query { actor: Some("ANA.new@portico.test".into()), ..Default::default() }, 200).await;
    assert_eq!(by_new.len(), log.events.iter().filter(|e| e.actor_user == Some(id)).count());
    assert!(by_new.iter().all(|e| e["actor"] == old.as_str() && e["actor_email"] == "ana.new@portico.test"));
}

#[tokio::test]
async fn bad_filters_are_refused_with_the_field_named_and_unknown_organisations_are_not_found() {
    let log = seeded_log().await;
    let get = |pairs: Vec<(&'static str, String)>| {
        let r = client().get(log.app.url("/api/v1/audit")).bearer_auth(&log.token).query(&pairs).send();
        async move {
            let r = r.await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    for (pairs, code) in [
        (vec![("cursor", "abc".to_string())], "invalid_cursor"),
        (vec![("cursor", "12-".to_string())], "invalid_cursor"),
        (vec![("action", "membership.*".to_string())], "invalid_action"),
        (vec![("since", "yesterday".to_string())], "invalid_time"),
        (vec![("until", "0".to_string())], "invalid_time"),
        (vec![("until", String::new())], "invalid_time"),
        (vec![("since", "2026-01-01".to_string())], "invalid_time"),
        (vec![("limit", "0".to_string())], "invalid_limit"),
        (vec![("limit", "201".to_string())], "invalid_limit"),
        (vec![("target", "x".repeat(255))], "invalid_target"),
    ] {
        let (status, body) = get(pairs.clone()).await;
        assert_eq!(status, 400, "{pairs:?}");
        assert_eq!(body["error"]["code"], code, "{pairs:?}");
    }
    let (status, body) = get(vec![("org", "nowhere".into())]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("unknown_org")));

    // Support staff read the log; a member's session does not.
    let password = log.app.create_staff("support@portico.test", StaffRole::Support).await;
    let c = client();
    log.app.login(&c, "support@portico.test", &password).await;
    let (status, page) = log.app.get_page(&c, "/staff/audit?org=alpha&action=membership.").await;
    assert_eq!(status, 200);
    assert!(page.contains("ana@portico.test") && page.contains("<dt>reason</dt><dd>seeded</dd>"), "{page}");
    // A bad filter re-renders the form with a message at the field, and keeps what was typed.
    let (status, page) = log.app.get_page(&c, "/staff/audit?action=bad%20action&org=alpha").await;
    assert_eq!(status, 400);
    assert!(page.contains("id=\"action-error\"") && page.contains("value=\"bad action\""), "{page}");
    let member = client();
    let (status, _) = log.app.get_page(&member, "/staff/audit").await;
    assert_ne!(status, 200);
}

#[tokio::test]
async fn the_console_pages_on_with_the_same_filters_and_an_older_link() {
    let log = seeded_log().await;
    let password = log.app.create_staff("pager@portico.test", StaffRole::Support).await;
    let c = client();
    log.app.login(&c, "pager@portico.test", &password).await;
    let mut path = "/staff/audit?org=beta&action=membership.".to_string();
    let mut seen = Vec::new();
    for _ in 0..10 {
        let (status, page) = log.app.get_page(&c, &path).await;
        assert_eq!(status, 200);
        seen.extend(page.match_indices("<tr id=\"event-").map(|(i, _)| page[i..i + 25].to_string()));
        let Some(end) = page.find("\" rel=\"next\"") else { break };
        let start = page[..end].rfind("href=\"").unwrap() + "href=\"".len();
        path = page[start..end].replace("&amp;", "&");
        assert!(path.contains("org=beta") && path.contains("action=membership."), "{path}");
    }
    let want = log.expected(
        &Query { org: Some("beta"), action: Some("membership."), ..Default::default() },
        &[],
        &[],
    );
    // (no setup event is a membership event)
    assert_eq!(seen.len(), want.len());
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());
}

#[tokio::test]
async fn a_cursor_stays_stable_while_events_are_being_written() {
    let log = seeded_log().await;
    let before: Vec<i64> =
        log.read_all(&Query::default(), 200).await.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    // Writers add events (through a real flow: settings changes) while a reader pages through.
    let store = log.app.store.clone();
    let writer = tokio::spawn(async move {
        for i in 0..60 {
            flows::settings::set(
                &store,
                &Ctx::cli(),
                "security.login_attempts_per_ip_per_15min",
                &(i + 5).to_string(),
            )
            .await
            .unwrap();
        }
    });
    let mut read = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut pairs = vec![("limit", "9".to_string())];
        if let Some(c) = &cursor {
            pairs.push(("cursor", c.clone()));
        }
        let body: Value = client()
            .get(log.app.url("/api/v1/audit"))
            .bearer_auth(&log.token)
            .query(&pairs)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ids = body["items"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap());
        read.extend(ids);
        tokio::task::yield_now().await;
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    writer.await.unwrap();
    // Nothing twice, nothing that existed before missed, and the order never goes back.
    assert_eq!(read.iter().collect::<HashSet<_>>().len(), read.len(), "an event came twice");
    let read_set: HashSet<i64> = read.iter().copied().collect();
    assert!(before.iter().all(|id| read_set.contains(id)), "an event that existed was skipped");
    let tail: Vec<i64> = read.iter().copied().filter(|id| before.contains(id)).collect();
    assert_eq!(tail, before, "the events that existed came in the same order");
    let written = log.app.audit("setting.changed").await;
    assert_eq!(written.iter().filter(|e| e.actor == "cli").count(), 60);
}

#[tokio::test]
async fn the_csv_export_holds_the_filtered_log_defused_and_is_itself_audited() {
    let log = seeded_log().await;
    let password = log.app.create_staff("exporter@portico.test", StaffRole::Support).await;
    let c = client();
    log.app.login(&c, "exporter@portico.test", &password).await;
    let r = c
        .get(log.app.url("/staff/audit.csv?org=alpha&target=%3DHYPERLINK(%22http://x%22)"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let body = r.text().await.unwrap();
    let lines: Vec<&str> = body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(lines[0].starts_with("time,actor,actor_email_now,action,organisation,target,details"));
    let want = log.expected(
        &Query { org: Some("alpha"), target: Some("=HYPERLINK(\"http://x\")"), ..Default::default() },
        &[],
        &[],
    );
    assert!(!want.is_empty());
    assert_eq!(lines.len() - 1, want.len());
    // The formula is a text cell: prefixed with ', quoted because of its quotes.
    assert!(lines[1..].iter().all(|l| l.contains(",\"'=HYPERLINK(\"\"http://x\"\")\",")), "{}", lines[1]);
    assert!(lines[1..].iter().all(|l| l.contains(",alpha,")));

    let exported = log.app.audit("audit.exported").await;
    assert_eq!(exported.len(), 1);
    assert_eq!(exported[0].actor, "exporter@portico.test");
    assert_eq!(exported[0].details["org"], "alpha");
    assert_eq!(exported[0].details["target"], "=HYPERLINK(\"http://x\")");

    // The whole log, larger than one read batch, streams out complete.
    for i in 0..1200 {
        let e = Seeded {
            at: now() - 5,
            actor_user: None,
            actor: "cli".into(),
            action: "setting.changed",
            target: format!("bulk-{i}"),
            org: None,
        };
        insert(&log.app, &e, None).await;
    }
    let body = c.get(log.app.url("/staff/audit.csv")).send().await.unwrap().text().await.unwrap();
    let rows = body.split("\r\n").filter(|l| !l.is_empty()).count() - 1;
    // The seeded events, the bulk ones, and the first export's own event (the second export's
    // event is written before its rows are read, so it is in them too).
    let total = log.app.count("SELECT COUNT(*) FROM audit_events").await as usize;
    assert_eq!(rows, total);
}

#[tokio::test]
async fn retention_deletes_events_older_than_the_setting_and_keeps_everything_by_default() {
    let app = spawn_with(|config| config.audit_prune_interval_secs = 1).await;
    let old = Seeded {
        at: now() - 10 * 86_400,
        actor_user: None,
        actor: "cli".into(),
        action: "setting.changed",
        target: "old".into(),
        org: None,
    };
    let recent = Seeded { at: now() - 3 * 86_400, target: "recent".into(), ..old.clone() };
    for _ in 0..3 {
        insert(&app, &old, None).await;
        insert(&app, &recent, None).await;
    }
    // Kept forever by default: several prune runs go by and nothing is deleted.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_events WHERE target = 'old'").await, 3);

    flows::settings::set(&app.store, &Ctx::cli(), "audit.retention_days", "7").await.unwrap();
    let started = Instant::now();
    while app.count("SELECT COUNT(*) FROM audit_events WHERE target = 'old'").await > 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "old events were not pruned");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_events WHERE target = 'recent'").await, 3);
    let pruned = app.audit("audit.pruned").await;
    assert_eq!(pruned.len(), 1, "one prune deleted something");
    assert_eq!(pruned[0].details["deleted"], 3);
    assert_eq!(pruned[0].details["retention_days"], 7);
    // Out of range is refused.
    assert!(flows::settings::set(&app.store, &Ctx::cli(), "audit.retention_days", "-1").await.is_err());
}

#[tokio::test]
async fn a_prefix_over_many_actions_reads_them_as_one_range_in_the_same_order() {
    let log = seeded_log().await;
    // More distinct actions under one prefix than the page merges one by one (40).
    let actions: Vec<&'static str> =
        (0..45).map(|i| &*Box::leak(format!("bulk.action_{i:02}").into_boxed_str())).collect();
    let mut seeded = Vec::new();
    for (i, action) in actions.iter().enumerate() {
        for k in 0..3 {
            let e = Seeded {
                at: log.base + (i as i64 * 7 + k * 11) % 50,
                actor_user: None,
                actor: "cli".into(),
                action,
                target: format!("t{i}-{k}"),
                org: None,
            };
            insert(&log.app, &e, None).await;
            seeded.push(e);
        }
    }
    let mut want = seeded.clone();
    want.reverse();
    want.sort_by_key(|e| std::cmp::Reverse(e.at));
    for prefix in ["bulk.", "bulk.action_1"] {
        let got = log.read_all(&Query { action: Some(prefix), ..Default::default() }, 8).await;
        let got: Vec<String> = got.iter().map(|e| e["target"].as_str().unwrap().to_string()).collect();
        let expected: Vec<String> =
            want.iter().filter(|e| e.action.starts_with(prefix)).map(|e| e.target.clone()).collect();
        assert_eq!(got, expected, "{prefix}");
    }
}
