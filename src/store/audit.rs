use sqlx::{AnyConnection, Executor, Row};

use super::Result;

/// Who did something: a user, or a named system actor (`cli`, `anonymous`, `system`).
#[derive(Clone, Debug)]
pub struct Actor {
    pub user_id: Option<i64>,
    pub label: String,
}

impl Actor {
    pub fn user(user_id: i64, email: &str) -> Actor {
        Actor { user_id: Some(user_id), label: email.to_string() }
    }
    pub fn system(label: &str) -> Actor {
        Actor { user_id: None, label: label.to_string() }
    }
}

/// Where a request came from, for the audit trail.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
}

pub struct NewEvent<'a> {
    pub actor: &'a Actor,
    pub origin: &'a Origin,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub org_id: Option<i64>,
    pub details: serde_json::Value,
}

#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Event {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub actor_user_id: Option<i64>,
    pub action: String,
    pub target: Option<String>,
    pub org_id: Option<i64>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// Written inside the transaction of the change it records, so both happen or neither.
pub async fn record(conn: &mut AnyConnection, event: NewEvent<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_events (at, actor_user_id, actor, action, target, org_id, client_ip, user_agent, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(super::now())
    .bind(event.actor.user_id)
    .bind(&event.actor.label)
    .bind(event.action)
    .bind(event.target)
    .bind(event.org_id)
    .bind(event.origin.client_ip.as_deref())
    .bind(event.origin.user_agent.as_deref().map(|ua| ua.chars().take(300).collect::<String>()))
    .bind(event.details.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// Every event about one of `targets` (a person's addresses) in organisation `org_id`, and
/// their own events outside any organisation (sign-ins), newest first.
pub async fn about(pool: &sqlx::AnyPool, org_id: i64, targets: &[String], limit: i64) -> Result<Vec<Event>> {
    let placeholders: Vec<String> = (0..targets.len()).map(|i| format!("${}", i + 3)).collect();
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_events e
         WHERE e.target IN ({}) AND (e.org_id = $1 OR e.org_id IS NULL)
         ORDER BY e.at DESC, e.id DESC LIMIT $2",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org_id).bind(limit);
    for target in targets {
        query = query.bind(target);
    }
    let rows = query.fetch_all(pool).await?;
    rows.iter().map(event).collect()
}

/// The addresses a user had before their address changes (from `account.email_changed`).
pub async fn previous_addresses(pool: &sqlx::AnyPool, user_id: i64) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT details FROM audit_events WHERE actor_user_id = $1 AND action = 'account.email_changed'",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .filter_map(|r| r.try_get::<String, _>(0).ok())
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(&d).ok())
        .filter_map(|d| d["from"].as_str().map(str::to_string))
        .collect())
}

/// Which events a page of the audit log holds. Empty lists and `None` filter nothing.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub org_id: Option<i64>,
    /// Actors: users by id, and anyone else by the label the event was written with.
    pub actor_user_ids: Vec<i64>,
    pub actor_labels: Vec<String>,
    /// Actions starting with this (ASCII letters, digits, `.` and `_` only: see [`prefix_end`]).
    pub action_prefix: Option<String>,
    pub target: Option<String>,
    /// `at >= from` and `at < to`, Unix seconds.
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// A position in the log: the (time, id) of the last event seen. Events are ordered by
/// (`at`, `id`) descending; new events sort before any cursor, so paging on is stable while
/// events are being written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub at: i64,
    pub id: i64,
}

/// An event as the log shows it: with the actor's current address and the organisation's slug.
#[derive(Clone, Debug)]
pub struct LogEntry {
    pub event: Event,
    pub actor_email: Option<String>,
    pub org_slug: Option<String>,
}

/// The first string after every string that starts with `prefix`, in byte order; `None` when
/// the prefix is empty. Only for ASCII prefixes whose last byte is not 0x7f.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut bytes = prefix.as_bytes().to_vec();
    let last = bytes.pop()?;
    bytes.push(last + 1);
    String::from_utf8(bytes).ok()
}

enum Bind {
    Int(i64),
    Text(String),
}

/// The distinct actions in `[prefix, end)`, at most `max + 1` of them: a loose index scan (one
/// index seek per action found), however many events each action has.
async fn actions_between(pool: &sqlx::AnyPool, prefix: &str, end: &str, max: i64) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "WITH RECURSIVE found(action, n) AS (
             SELECT (SELECT min(action) FROM audit_events WHERE action >= $1 AND action < $2), 1
             UNION ALL
             SELECT (SELECT min(action) FROM audit_events WHERE action > found.action AND action < $2), n + 1
             FROM found WHERE found.action IS NOT NULL AND n <= $3)
         SELECT action FROM found WHERE action IS NOT NULL",
    )
    .bind(prefix)
    .bind(end)
    .bind(max)
    .fetch_all(pool)
    .await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

/// More actions under one prefix than this and the page reads them as one range instead of one
/// index range per action.
const MAX_ACTION_ARMS: i64 = 40;

/// One page of the log under `filter`, newest first, after `cursor`.
///
/// Each filter has an index ending in (at, id), so a page is an ordered index range that stops
/// after `limit` rows. An action prefix covers several actions, and a range over several
/// actions is not in time order: the page reads each action's own ordered range (the actions
/// found by a loose index scan) and merges them, so a common prefix does not sort half the log.
pub async fn page(
    pool: &sqlx::AnyPool,
    filter: &Filter,
    cursor: Option<Cursor>,
    limit: i64,
) -> Result<Vec<LogEntry>> {
    let mut clauses: Vec<String> = Vec::new();
    let mut binds: Vec<Bind> = Vec::new();
    let placeholder = |binds: &mut Vec<Bind>, value: Bind| {
        binds.push(value);
        format!("${}", binds.len())
    };
    if let Some(org_id) = filter.org_id {
        clauses.push(format!("e.org_id = {}", placeholder(&mut binds, Bind::Int(org_id))));
    }
    let mut actors = Vec::new();
    if !filter.actor_user_ids.is_empty() {
        let ids: Vec<String> =
            filter.actor_user_ids.iter().map(|id| placeholder(&mut binds, Bind::Int(*id))).collect();
        actors.push(format!("e.actor_user_id IN ({})", ids.join(", ")));
    }
    if !filter.actor_labels.is_empty() {
        let labels: Vec<String> =
            filter.actor_labels.iter().map(|l| placeholder(&mut binds, Bind::Text(l.clone()))).collect();
        actors.push(format!("e.actor IN ({})", labels.join(", ")));
    }
    if !actors.is_empty() {
        clauses.push(format!("({})", actors.join(" OR ")));
    }
    // Each action of the prefix, or (too many of them) the whole range at once.
    let mut arms: Vec<String> = Vec::new();
    if let Some(prefix) = filter.action_prefix.as_deref()
        && let Some(end) = prefix_end(prefix)
    {
        let actions = actions_between(pool, prefix, &end, MAX_ACTION_ARMS).await?;
        if actions.is_empty() {
            return Ok(Vec::new());
        }
        if actions.len() as i64 > MAX_ACTION_ARMS {
            let lo = placeholder(&mut binds, Bind::Text(prefix.to_string()));
            let hi = placeholder(&mut binds, Bind::Text(end));
            clauses.push(format!("e.action >= {lo} AND e.action < {hi}"));
        } else {
            for action in actions {
                arms.push(format!("e.action = {}", placeholder(&mut binds, Bind::Text(action))));
            }
        }
    }
    if let Some(target) = &filter.target {
        clauses.push(format!("e.target = {}", placeholder(&mut binds, Bind::Text(target.clone()))));
    }
    if let Some(from) = filter.from {
        clauses.push(format!("e.at >= {}", placeholder(&mut binds, Bind::Int(from))));
    }
    if let Some(to) = filter.to {
        clauses.push(format!("e.at < {}", placeholder(&mut binds, Bind::Int(to))));
    }
    if let Some(c) = cursor {
        let at = placeholder(&mut binds, Bind::Int(c.at));
        let id = placeholder(&mut binds, Bind::Int(c.id));
        clauses.push(format!("(e.at, e.id) < ({at}, {id})"));
    }
    let limit = placeholder(&mut binds, Bind::Int(limit));
    let select = |extra: Option<&String>| {
        let all: Vec<&String> = extra.into_iter().chain(clauses.iter()).collect();
        let filter_sql = if all.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", all.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(" AND "))
        };
        format!(
            "SELECT {COLUMNS} FROM audit_events e {filter_sql} ORDER BY e.at DESC, e.id DESC LIMIT {limit}"
        )
    };
    let source = if arms.is_empty() {
        format!("({})", select(None))
    } else {
        let parts: Vec<String> = arms
            .iter()
            .enumerate()
            .map(|(i, arm)| format!("SELECT * FROM ({}) arm{i}", select(Some(arm))))
            .collect();
        format!("({})", parts.join(" UNION ALL "))
    };
    let sql = format!(
        "SELECT {COLUMNS}, u.email, o.slug FROM {source} e
         LEFT JOIN users u ON u.id = e.actor_user_id
         LEFT JOIN organisations o ON o.id = e.org_id
         ORDER BY e.at DESC, e.id DESC LIMIT {limit}"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for bind in binds {
        query = match bind {
            Bind::Int(v) => query.bind(v),
            Bind::Text(v) => query.bind(v),
        };
    }
    let rows = query.fetch_all(pool).await?;
    rows.iter()
        .map(|r| Ok(LogEntry { event: event(r)?, actor_email: r.try_get(10)?, org_slug: r.try_get(11)? }))
        .collect()
}

/// Deletes up to `batch` events older than `before` (Unix seconds), oldest first; how many went.
/// Small batches keep each statement short next to the writers.
pub async fn prune<'c, E: Executor<'c, Database = sqlx::Any>>(e: E, before: i64, batch: i64) -> Result<u64> {
    let done = sqlx::query(
        "DELETE FROM audit_events WHERE id IN (
             SELECT id FROM audit_events WHERE at < $1 ORDER BY at, id LIMIT $2)",
    )
    .bind(before)
    .bind(batch)
    .execute(e)
    .await?;
    Ok(done.rows_affected())
}

/// Newest first. `action` filters exactly; `org_id` to one organisation.
pub async fn list<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    org_id: Option<i64>,
    action: Option<&str>,
    limit: i64,
) -> Result<Vec<Event>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM audit_events e
         WHERE ($1 IS NULL OR e.org_id = $1) AND ($2 IS NULL OR e.action = $2)
         ORDER BY e.at DESC, e.id DESC LIMIT $3"
    )))
    .bind(org_id)
    .bind(action)
    .bind(limit)
    .fetch_all(e)
    .await?;
    rows.iter().map(event).collect()
}

const COLUMNS: &str = "e.id, e.at, e.actor, e.actor_user_id, e.action, e.target, e.org_id, e.client_ip, e.user_agent, e.details";

fn event(r: &sqlx::any::AnyRow) -> Result<Event> {
    Ok(Event {
        id: r.try_get(0)?,
        at: r.try_get(1)?,
        actor: r.try_get(2)?,
        actor_user_id: r.try_get(3)?,
        action: r.try_get(4)?,
        target: r.try_get(5)?,
        org_id: r.try_get(6)?,
        client_ip: r.try_get(7)?,
        user_agent: r.try_get(8)?,
        details: serde_json::from_str(&r.try_get::<String, _>(9)?).unwrap_or(serde_json::Value::Null),
    })
}
