//! `/staff/audit` (staff): the audit log with filters, a stable "older" link, and the CSV export
//! of the current filter. Thin over `flows::audit`.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use super::pages::{AuditRow, StaffAudit};
use super::{WebCtx, bad_request_page, deny_unless_staff, error_page, render};
use crate::flows::FlowError;
use crate::flows::audit::{self, LogQuery};
use crate::http_error::{classify, field_key};
use crate::state::AppState;

/// The query string of `query`, blanks left out, with `cursor` when given.
fn query_string(query: &LogQuery, cursor: Option<&str>) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    let fields = [
        ("org", &query.org),
        ("actor", &query.actor),
        ("action", &query.action),
        ("target", &query.target),
        ("from", &query.from),
        ("to", &query.to),
    ];
    for (name, value) in fields {
        if let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            out.append_pair(name, v);
        }
    }
    if let Some(c) = cursor {
        out.append_pair("cursor", c);
    }
    out.finish()
}

pub async fn show(
    State(state): State<AppState>,
    ctx: WebCtx,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let Ok(Query(query)) = query else { return bad_request_page(&ctx) };
    let orgs = match crate::store::orgs::slugs(state.store.pool()).await {
        Ok(slugs) => slugs,
        Err(e) => return error_page(&ctx, classify(&e.into())),
    };
    let csv_url = format!("/staff/audit.csv?{}", query_string(&query, None));
    let (status, rows, next_url, errors) =
        match audit::page(&state.store, &ctx.flow_ctx(), &query, None).await {
            Ok(page) => {
                let next_url = page
                    .next
                    .map(|c| format!("/staff/audit?{}", query_string(&query, Some(&audit::cursor_text(c)))));
                (
                    StatusCode::OK,
                    page.entries.into_iter().map(AuditRow::from_entry).collect(),
                    next_url,
                    Vec::new(),
                )
            }
            Err(FlowError::Invalid(fields)) => {
                let errors = fields.iter().map(|f| (f.field, ctx.t.t(&field_key(f.code)))).collect();
                (StatusCode::BAD_REQUEST, Vec::new(), None, errors)
            }
            Err(FlowError::Unknown { field, code }) => {
                (StatusCode::NOT_FOUND, Vec::new(), None, vec![(field, ctx.t.t(&field_key(code)))])
            }
            Err(e) => return error_page(&ctx, classify(&e)),
        };
    let page = StaffAudit {
        p: &ctx,
        query,
        orgs,
        audit_rows: rows,
        audit_show_org: true,
        next_url,
        csv_url,
        errors,
    };
    render(status, &page)
}

/// The whole filtered log as CSV, streamed; the export is audited before the first row.
pub async fn csv(
    State(state): State<AppState>,
    ctx: WebCtx,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let Ok(Query(query)) = query else { return bad_request_page(&ctx) };
    match audit::export_csv(&state.store, &ctx.flow_ctx(), &query).await {
        Ok(rows) => {
            let body = Body::from_stream(rows.map(|chunk| chunk.map_err(std::io::Error::other)));
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (header::CONTENT_DISPOSITION, "attachment; filename=\"portico-audit.csv\""),
                ],
                body,
            )
                .into_response()
        }
        Err(e) => error_page(&ctx, classify(&e)),
    }
}
