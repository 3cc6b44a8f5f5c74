//! The audit log as staff read it (SPEC §3.4): filtered pages with a stable cursor, the CSV
//! export of a filter (itself audited), and the retention prune.

use futures_util::Stream;
use serde_json::json;

use super::{Ctx, FlowError, FlowResult, invalid};
use crate::domain::{AUDIT_RETENTION_DAYS, Email, csv, rfc3339};
use crate::store::audit::{self, Cursor, Filter, LogEntry};
use crate::store::{self, Store, now};

/// The filters as they arrive from a form or a query string; blank means "not given".
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct LogQuery {
    /// An organisation's slug.
    #[serde(default)]
    pub org: Option<String>,
    /// Actors, comma-separated: email addresses, user ids, or system actors (`cli`, `stripe`, …).
    #[serde(default)]
    pub actor: Option<String>,
    /// Actions starting with this (`member.` for every change to a member).
    #[serde(default)]
    pub action: Option<String>,
    /// What an event is about: an address, a setting, a device id, …
    #[serde(default)]
    pub target: Option<String>,
    /// From this time on (RFC 3339 or `YYYY-MM-DD`).
    #[serde(default)]
    pub from: Option<String>,
    /// Before this time; a bare date includes that whole day.
    #[serde(default)]
    pub to: Option<String>,
    /// Where the previous page ended (its `next_cursor`).
    #[serde(default)]
    pub cursor: Option<String>,
}

pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 200;
/// Longest actor list, action prefix and target taken (characters).
pub const MAX_ACTORS_LEN: usize = 2000;
pub const MAX_ACTION_LEN: usize = 100;
pub const MAX_TARGET_LEN: usize = 254;

/// A page of the log and where the next one starts (`None`: this was the last).
pub struct Page {
    pub entries: Vec<LogEntry>,
    pub next: Option<Cursor>,
}

pub fn cursor_text(c: Cursor) -> String {
    format!("{}-{}", c.at, c.id)
}

fn parse_cursor(raw: &str) -> Option<Cursor> {
    let (at, id) = raw.split_once('-')?;
    let digits = |s: &str| (1..=18).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(at) || !digits(id) {
        return None;
    }
    Some(Cursor { at: at.parse().ok()?, id: id.parse().ok()? })
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn has_control(value: &str) -> bool {
    value.chars().any(char::is_control)
}

/// Turns what was asked into a store filter: the organisation by slug, actors' addresses into
/// their user ids (so an actor's events are found across an address change).
pub async fn filter(store: &Store, query: &LogQuery) -> FlowResult<(Filter, Option<Cursor>)> {
    let mut filter = Filter::default();
    let mut problems = Vec::new();

    let actors = given(&query.actor).unwrap_or_default();
    if actors.chars().count() > MAX_ACTORS_LEN || has_control(actors) {
        problems.push(("actor", "invalid_actor"));
    }
    let action = given(&query.action);
    if let Some(action) = action {
        let ok = action.len() <= MAX_ACTION_LEN
            && action.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_');
        if ok {
            filter.action_prefix = Some(action.to_ascii_lowercase());
        } else {
            problems.push(("action", "invalid_action"));
        }
    }
    if let Some(target) = given(&query.target) {
        if target.chars().count() > MAX_TARGET_LEN || has_control(target) {
            problems.push(("target", "invalid_target"));
        } else {
            // Addresses are stored folded; other targets as written.
            filter.target =
                Some(Email::parse(target).map(|e| e.as_str().to_string()).unwrap_or(target.into()));
        }
    }
    if let Some(from) = given(&query.from) {
        match time_filter(from) {
            Some(t) => filter.from = Some(t),
            None => problems.push(("from", "invalid_time")),
        }
    }
    if let Some(to) = given(&query.to) {
        match time_filter(to) {
            // A bare date means up to the end of that day.
            Some(t) if is_bare_date(to) => filter.to = Some(t + 86_400),
            Some(t) => filter.to = Some(t),
            None => problems.push(("to", "invalid_time")),
        }
    }
    let cursor = match given(&query.cursor) {
        Some(raw) => match parse_cursor(raw) {
            Some(c) => Some(c),
            None => {
                problems.push(("cursor", "invalid_cursor"));
                None
            }
        },
        None => None,
    };
    if !problems.is_empty() {
        return Err(FlowError::Invalid(
            problems.into_iter().map(|(field, code)| super::FieldError { field, code }).collect(),
        ));
    }

    if let Some(slug) = given(&query.org) {
        let slug = slug.to_ascii_lowercase();
        let org = store::orgs::find_by_slug(store.pool(), &slug).await?;
        filter.org_id = Some(org.ok_or(FlowError::Unknown { field: "org", code: "unknown_org" })?.id);
    }
    let mut addresses = Vec::new();
    for actor in actors.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        match (actor.parse::<i64>(), Email::parse(actor)) {
            (Ok(id), _) => filter.actor_user_ids.push(id),
            (_, Ok(email)) => addresses.push(email),
            _ => filter.actor_labels.push(actor.to_string()),
        }
    }
    let known = store::users::ids_by_email(store.pool(), &addresses).await?;
    for email in addresses {
        match known.iter().find(|(e, _)| e == email.as_str()) {
            Some((_, id)) => filter.actor_user_ids.push(*id),
            // Someone who is not (or no longer) a user: by the label events were written with.
            None => filter.actor_labels.push(email.as_str().to_string()),
        }
    }
    filter.actor_user_ids.sort_unstable();
    filter.actor_user_ids.dedup();
    filter.actor_labels.sort();
    filter.actor_labels.dedup();
    Ok((filter, cursor))
}

/// A time as the filters take it: RFC 3339, or a date (`YYYY-MM-DD`, as a date field sends
/// it) — not bare Unix seconds, which the API document does not offer.
fn time_filter(value: &str) -> Option<i64> {
    if value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    crate::domain::parse_instant(value)
}

fn is_bare_date(value: &str) -> bool {
    value.len() == 10 && value.as_bytes().get(4) == Some(&b'-')
}

/// One page of the log (staff), newest first.
pub async fn page(store: &Store, ctx: &Ctx, query: &LogQuery, limit: Option<i64>) -> FlowResult<Page> {
    ctx.require_staff()?;
    let limit = match limit {
        None => DEFAULT_PAGE,
        Some(n) if (1..=MAX_PAGE).contains(&n) => n,
        Some(_) => return Err(invalid("limit", "invalid_limit")),
    };
    let (filter, cursor) = filter(store, query).await?;
    let mut entries = audit::page(store.pool(), &filter, cursor, limit + 1).await?;
    let next = if entries.len() as i64 > limit {
        entries.truncate(limit as usize);
        entries.last().map(|e| Cursor { at: e.event.at, id: e.event.id })
    } else {
        None
    };
    Ok(Page { entries, next })
}

/// Events read per query while exporting.
const EXPORT_BATCH: i64 = 1000;

pub const CSV_HEADER: [&str; 10] = [
    "time",
    "actor",
    "actor_email_now",
    "action",
    "organisation",
    "target",
    "details",
    "client_ip",
    "user_agent",
    "id",
];

/// The CSV export of a filter (staff): the export itself is audited first, with the filter,
/// then the rows follow as a stream read a batch at a time (the whole log never sits in
/// memory).
pub async fn export_csv(
    store: &Store,
    ctx: &Ctx,
    query: &LogQuery,
) -> FlowResult<impl Stream<Item = FlowResult<String>> + use<>> {
    ctx.require_staff()?;
    let (filter, _) = filter(store, query).await?;
    let mut tx = store.begin().await?;
    audit::record(
        tx.conn(),
        audit::NewEvent {
            actor: &ctx.actor,
            origin: &ctx.origin,
            action: "audit.exported",
            target: None,
            org_id: filter.org_id,
            details: json!({
                "org": given(&query.org), "actor": given(&query.actor), "action": given(&query.action),
                "target": given(&query.target), "from": given(&query.from), "to": given(&query.to),
            }),
        },
    )
    .await?;
    tx.commit().await?;

    let store = store.clone();
    let state = (Some(csv::row(&CSV_HEADER)), None::<Cursor>, false);
    Ok(futures_util::stream::unfold(state, move |(header, cursor, done)| {
        let store = store.clone();
        let filter = filter.clone();
        async move {
            if let Some(header) = header {
                return Some((Ok(header), (None, cursor, done)));
            }
            if done {
                return None;
            }
            match audit::page(store.pool(), &filter, cursor, EXPORT_BATCH).await {
                Err(e) => Some((Err(e.into()), (None, cursor, true))),
                Ok(entries) if entries.is_empty() => None,
                Ok(entries) => {
                    let last = entries.len() < EXPORT_BATCH as usize;
                    let next = entries.last().map(|e| Cursor { at: e.event.at, id: e.event.id });
                    let chunk: String = entries.iter().map(csv_line).collect();
                    Some((Ok(chunk), (None, next, last)))
                }
            }
        }
    }))
}

fn csv_line(entry: &LogEntry) -> String {
    let e = &entry.event;
    csv::row(&[
        rfc3339(e.at),
        e.actor.clone(),
        entry.actor_email.clone().unwrap_or_default(),
        e.action.clone(),
        entry.org_slug.clone().unwrap_or_default(),
        e.target.clone().unwrap_or_default(),
        e.details.to_string(),
        e.client_ip.clone().unwrap_or_default(),
        e.user_agent.clone().unwrap_or_default(),
        e.id.to_string(),
    ])
}

/// Events deleted per statement while pruning.
const PRUNE_BATCH: i64 = 5000;

/// Deletes audit events older than the retention setting (nothing when it is 0, "keep
/// forever"); the prune is itself audited when it deleted anything. Returns how many went.
pub async fn prune(store: &Store) -> FlowResult<u64> {
    let days = super::settings::get(store, &AUDIT_RETENTION_DAYS).await?;
    if days == 0 {
        return Ok(0);
    }
    let before = now() - days * 86_400;
    let mut deleted = 0;
    loop {
        // The last batch commits with the record of the prune, so whoever sees the old events
        // gone sees the record too.
        let mut tx = store.begin().await?;
        let n = audit::prune(tx.conn(), before, PRUNE_BATCH).await?;
        deleted += n;
        let last = n < PRUNE_BATCH as u64;
        if last && deleted > 0 {
            audit::record(
                tx.conn(),
                audit::NewEvent {
                    actor: &audit::Actor::system("retention"),
                    origin: &audit::Origin::default(),
                    action: "audit.pruned",
                    target: None,
                    org_id: None,
                    details: json!({ "deleted": deleted, "before": rfc3339(before), "retention_days": days }),
                },
            )
            .await?;
        }
        tx.commit().await?;
        if last {
            break;
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let c = Cursor { at: 1_732_400_000, id: 42 };
        assert_eq!(parse_cursor(&cursor_text(c)), Some(c));
        for bad in ["", "1", "1-", "-1", "a-1", "1-1-1", "1234567890123456789-1", "1.5-2"] {
            assert_eq!(parse_cursor(bad), None, "{bad:?}");
        }
    }
}
