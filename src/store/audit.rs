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

/// Every event about `target` (an address) in organisation `org_id`, and its own events outside
/// any organisation (sign-ins), newest first.
pub async fn about<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    org_id: i64,
    target: &str,
    limit: i64,
) -> Result<Vec<Event>> {
    let rows = sqlx::query(
        "SELECT id, at, actor, actor_user_id, action, target, org_id, client_ip, user_agent, details
         FROM audit_events
         WHERE target = $1 AND (org_id = $2 OR org_id IS NULL)
         ORDER BY id DESC LIMIT $3",
    )
    .bind(target)
    .bind(org_id)
    .bind(limit)
    .fetch_all(e)
    .await?;
    rows.iter().map(event).collect()
}

/// Newest first. `action` filters exactly; `org_id` to one organisation.
pub async fn list<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    org_id: Option<i64>,
    action: Option<&str>,
    limit: i64,
) -> Result<Vec<Event>> {
    let rows = sqlx::query(
        "SELECT id, at, actor, actor_user_id, action, target, org_id, client_ip, user_agent, details
         FROM audit_events
         WHERE ($1 IS NULL OR org_id = $1) AND ($2 IS NULL OR action = $2)
         ORDER BY id DESC LIMIT $3",
    )
    .bind(org_id)
    .bind(action)
    .bind(limit)
    .fetch_all(e)
    .await?;
    rows.iter().map(event).collect()
}

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
