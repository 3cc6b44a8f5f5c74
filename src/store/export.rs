//! Everything Portico holds about one person (SPEC §3.11), section by section, as JSON: each
//! section one statement naming its columns, so secrets (password and token hashes, sealed TOTP
//! keys, passkey credentials, session ids) are never among them, and so are other people: a
//! note's author, and the actor and client address of an event someone else caused, are left
//! out.

use serde_json::{Map, Value};
use sqlx::{Column, Executor, Row};

use super::Result;

/// Columns holding JSON text, exported as JSON.
const JSON_COLUMNS: [&str; 2] = ["custom_fields", "details"];

/// A section: its name and its statement (`$1` the user's id, `$2` their address).
const SECTIONS: [(&str, &str); 14] = [
    (
        "account",
        "SELECT id, email, username, locale, staff_role, created_at, disabled_at FROM users WHERE id = $1",
    ),
    (
        "memberships",
        "SELECT m.id, o.slug AS organisation, o.name AS organisation_name, m.role, m.status, m.member_since,
                m.plan, m.renews_at, m.paid_at, m.suspended_until, m.created_at
         FROM memberships m JOIN organisations o ON o.id = m.org_id WHERE m.user_id = $1 ORDER BY m.id",
    ),
    (
        "member_records",
        "SELECT r.membership_id, r.first_name, r.last_name, r.preferred_name, r.pronouns, r.birthday, r.phone,
                r.emergency_contact, r.chat_handle, r.storage, r.custom_fields, r.updated_at
         FROM member_records r JOIN memberships m ON m.id = r.membership_id WHERE m.user_id = $1 ORDER BY r.membership_id",
    ),
    (
        "agreements",
        "SELECT a.membership_id, a.kind, a.version, a.recorded_at
         FROM member_agreements a JOIN memberships m ON m.id = a.membership_id WHERE m.user_id = $1 ORDER BY a.id",
    ),
    (
        "keys",
        "SELECT c.membership_id, c.tag, c.created_at, c.removed_at
         FROM member_credentials c JOIN memberships m ON m.id = c.membership_id WHERE m.user_id = $1 ORDER BY c.id",
    ),
    (
        "authorisations",
        "SELECT a.membership_id, a.name, a.granted_at, a.expires_at
         FROM member_authorisations a JOIN memberships m ON m.id = a.membership_id WHERE m.user_id = $1
         ORDER BY a.membership_id, a.name",
    ),
    (
        "notes",
        "SELECT n.membership_id, n.text, n.created_at
         FROM member_notes n JOIN memberships m ON m.id = n.membership_id WHERE m.user_id = $1 ORDER BY n.id",
    ),
    (
        "authenticator_app",
        "SELECT created_at, confirmed_at FROM totp_factors WHERE user_id = $1",
    ),
    (
        "passkeys",
        "SELECT name, created_at, last_used_at FROM passkeys WHERE user_id = $1 ORDER BY id",
    ),
    (
        "recovery_codes",
        "SELECT COUNT(*) AS total, SUM(CASE WHEN used_at IS NULL THEN 1 ELSE 0 END) AS unused
         FROM recovery_codes WHERE user_id = $1",
    ),
    (
        "connected_applications",
        "SELECT c.name AS application, o.slug AS organisation, k.scope, k.granted_at
         FROM oidc_consents k JOIN oidc_clients c ON c.id = k.client_pk JOIN organisations o ON o.id = c.org_id
         WHERE k.user_id = $1 ORDER BY k.granted_at",
    ),
    (
        "sessions",
        "SELECT created_at, expires_at, last_seen_at, client_ip, user_agent, amr FROM sessions
         WHERE user_id = $1 ORDER BY created_at",
    ),
    (
        "emails",
        "SELECT subject, template, state, created_at, sent_at FROM outbox WHERE recipient = $2 ORDER BY id",
    ),
    (
        "payments",
        "SELECT e.id, e.type, e.created, e.outcome
         FROM stripe_events e JOIN memberships m ON m.id = e.membership_id WHERE m.user_id = $1 ORDER BY e.created",
    ),
];

/// The audit events about the person (their address as target) or by them; the actor and the
/// client address only where they acted themselves.
const AUDIT: &str = "SELECT a.at, a.action, o.slug AS organisation,
        CASE WHEN a.actor_user_id = $1 THEN 'you' WHEN a.actor_user_id IS NULL THEN a.actor ELSE 'staff' END AS actor,
        CASE WHEN a.actor_user_id = $1 THEN a.client_ip END AS client_ip,
        a.details
     FROM audit_events a LEFT JOIN organisations o ON o.id = a.org_id
     WHERE a.target = $2 OR a.actor_user_id = $1 ORDER BY a.id";

/// A row as a JSON object: each column a number, text or null (JSON text columns as JSON).
fn object(row: &sqlx::any::AnyRow) -> Value {
    let mut out = Map::new();
    for (i, column) in row.columns().iter().enumerate() {
        let name = column.name();
        let value = if let Ok(n) = row.try_get::<Option<i64>, _>(i) {
            n.map_or(Value::Null, Value::from)
        } else if let Ok(t) = row.try_get::<Option<String>, _>(i) {
            match t {
                Some(t) if JSON_COLUMNS.contains(&name) => {
                    serde_json::from_str(&t).unwrap_or(Value::String(t))
                }
                Some(t) => Value::String(t),
                None => Value::Null,
            }
        } else if let Ok(f) = row.try_get::<Option<f64>, _>(i) {
            f.map_or(Value::Null, Value::from)
        } else {
            Value::Null
        };
        out.insert(name.to_string(), value);
    }
    Value::Object(out)
}

/// Every section about the user `user_id` (whose address is `email`).
pub async fn person<'c, E>(e: E, user_id: i64, email: &str) -> Result<Map<String, Value>>
where
    E: Executor<'c, Database = sqlx::Any> + Copy,
{
    let mut out = Map::new();
    for (name, sql) in SECTIONS.iter().copied().chain([("audit_events", AUDIT)]) {
        let mut query = sqlx::query(sql).bind(user_id);
        if sql.contains("$2") {
            query = query.bind(email);
        }
        let rows = query.fetch_all(e).await?;
        let mut items: Vec<Value> = rows.iter().map(object).collect();
        let value = match name {
            // One person, one row.
            "account" | "authenticator_app" | "recovery_codes" => items.pop().unwrap_or(Value::Null),
            _ => Value::Array(items),
        };
        out.insert(name.to_string(), value);
    }
    Ok(out)
}

/// One page of an organisation's members for its export, after membership id `after`, in id
/// order: each a JSON object with the import's column names (so the import can read it back),
/// its keys and authorisations gathered with two statements for the whole page.
pub async fn members_page<'c, E>(e: E, org_id: i64, after: i64, limit: i64) -> Result<Vec<(i64, Value)>>
where
    E: Executor<'c, Database = sqlx::Any> + Copy,
{
    let rows = sqlx::query(
        "SELECT m.id, u.email, u.username, m.status, m.role, m.plan, m.member_since, m.renews_at,
                m.stripe_customer, m.stripe_subscription, m.created_at,
                r.first_name, r.last_name, r.preferred_name, r.pronouns, r.birthday, r.phone,
                r.emergency_contact, r.chat_handle, r.storage, r.custom_fields
         FROM memberships m JOIN users u ON u.id = m.user_id
         LEFT JOIN member_records r ON r.membership_id = m.id
         WHERE m.org_id = $1 AND m.id > $2 ORDER BY m.id LIMIT $3",
    )
    .bind(org_id)
    .bind(after)
    .bind(limit)
    .fetch_all(e)
    .await?;
    let mut members: Vec<(i64, Value)> =
        rows.iter().map(|r| Ok((r.try_get::<i64, _>(0)?, object(r)))).collect::<Result<_>>()?;
    let (Some(first), Some(last)) = (members.first().map(|m| m.0), members.last().map(|m| m.0)) else {
        return Ok(members);
    };
    let tags = sqlx::query(
        "SELECT membership_id, tag FROM member_credentials
         WHERE org_id = $1 AND membership_id >= $2 AND membership_id <= $3 AND removed_at IS NULL ORDER BY id",
    )
    .bind(org_id)
    .bind(first)
    .bind(last)
    .fetch_all(e)
    .await?;
    let held = sqlx::query(
        "SELECT a.membership_id, a.name, a.granted_at, a.expires_at FROM member_authorisations a
         JOIN memberships m ON m.id = a.membership_id
         WHERE m.org_id = $1 AND a.membership_id >= $2 AND a.membership_id <= $3 ORDER BY a.name",
    )
    .bind(org_id)
    .bind(first)
    .bind(last)
    .fetch_all(e)
    .await?;
    for (id, member) in members.iter_mut() {
        let Some(obj) = member.as_object_mut() else { continue };
        obj.remove("id");
        obj.insert("type".into(), "member".into());
        let mine = |membership: i64| membership == *id;
        let keys: Vec<Value> = tags
            .iter()
            .filter(|r| r.try_get::<i64, _>(0).is_ok_and(mine))
            .filter_map(|r| r.try_get::<String, _>(1).ok().map(Value::from))
            .collect();
        let auths: Vec<Value> = held
            .iter()
            .filter(|r| r.try_get::<i64, _>(0).is_ok_and(mine))
            .map(|r| {
                let mut a = object(r);
                if let Some(o) = a.as_object_mut() {
                    o.remove("membership_id");
                }
                a
            })
            .collect();
        obj.insert("tags".into(), Value::Array(keys));
        obj.insert("authorisations".into(), Value::Array(auths));
    }
    Ok(members)
}
