use axum::Json;
use axum::extract::{Query, RawQuery, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::ApiCaller;
use super::error::{ApiError, ErrorBody};
use crate::domain::rfc3339;
use crate::flows;
use crate::flows::audit::LogQuery;
use crate::state::AppState;
use crate::store::audit::LogEntry;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// An organisation's slug: its events only.
    pub org: Option<String>,
    /// Who acted, comma-separated: email addresses (matched by user, across address changes),
    /// user ids, or system actors (`cli`, `stripe`, `schedule`, `webhooks`, `retention`,
    /// `anonymous`).
    pub actor: Option<String>,
    /// Actions starting with this, e.g. `member.` or `member.status_changed`.
    pub action: Option<String>,
    /// What the event is about: an address, a setting key, an id.
    pub target: Option<String>,
    /// Events at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Events before this time (RFC 3339).
    pub until: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Events per page, 1–200 (default 50).
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEventJson {
    pub id: i64,
    /// RFC 3339.
    pub at: String,
    /// Who acted, as written then: an address, or a system actor.
    pub actor: String,
    pub actor_user_id: Option<i64>,
    /// The acting user's address now (differs from `actor` after an address change).
    pub actor_email: Option<String>,
    pub action: String,
    /// The organisation's slug.
    pub org: Option<String>,
    pub target: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<LogEntry> for AuditEventJson {
    fn from(entry: LogEntry) -> Self {
        let e = entry.event;
        AuditEventJson {
            id: e.id,
            at: rfc3339(e.at),
            actor: e.actor,
            actor_user_id: e.actor_user_id,
            actor_email: entry.actor_email,
            action: e.action,
            org: entry.org_slug,
            target: e.target,
            client_ip: e.client_ip,
            user_agent: e.user_agent,
            details: e.details,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEventJson>,
    /// Pass as `cursor` for the next (older) page; `null` on the last page. Stable while events
    /// are being written: new events never shift a page.
    pub next_cursor: Option<String>,
}

/// The audit log (staff), newest first, filtered; every filter combines with the others.
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of events", body = AuditPage),
        (status = 400, description = "`invalid_actor`, `invalid_action`, `invalid_target`, `invalid_time`, `invalid_cursor`, `invalid_limit`", body = ErrorBody),
        (status = 404, description = "`unknown_org`", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    RawQuery(raw): RawQuery,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    let Query(q) =
        query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", e.body_text()))?;
    // The API takes times exactly as RFC 3339 date-times (the console's date fields go through
    // the same filter with its own, looser rules: a bare date, blank for none). Read from the
    // raw query: `until=` deserialises as absent.
    let raw = raw.unwrap_or_default();
    for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        if (name == "since" || name == "until")
            && time::OffsetDateTime::parse(&value, &time::format_description::well_known::Rfc3339).is_err()
        {
            let message = format!("{name} is not an RFC 3339 date-time");
            return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_time", message));
        }
    }
    let log_query = LogQuery {
        org: q.org,
        actor: q.actor,
        action: q.action,
        target: q.target,
        from: q.since,
        to: q.until,
        cursor: q.cursor,
    };
    let page = flows::audit::page(&state.store, &ctx, &log_query, q.limit).await?;
    Ok(Json(AuditPage {
        items: page.entries.into_iter().map(AuditEventJson::from).collect(),
        next_cursor: page.next.map(flows::audit::cursor_text),
    }))
}
