//! Recent authentication for sensitive actions (SPEC §3.10): creating staff accounts, changing
//! settings, exporting members or the audit log. A session that last proved who it is more than
//! ten minutes ago gets a page asking for a code of its second factor (or, without one, the
//! password) instead; the form it was sending is carried through that page, and once confirmed
//! a "continue" page sends it on (or, for a download, the browser goes back to it).

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::account::me;
use super::login::local_path;
use super::pages::{Reauth, ReauthContinue};
use super::{WebCtx, bad_request_page, error_page, render, see_other};
use crate::flows::FlowError;
use crate::flows::second_factor;
use crate::http_error::classify;
use crate::state::AppState;

/// A form's fields, as the page carries them (the form token is the page's own).
fn carried(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().filter(|(k, _)| k != "csrf_token").collect()
}

/// The route layer of a sensitive action.
pub async fn require_recent(request: Request, next: Next) -> Response {
    let Some(ctx) = request.extensions().get::<WebCtx>().cloned() else { return next.run(request).await };
    // Someone signed out is the handler's to send away; a recent session goes on.
    let Some(user) = &ctx.user else { return next.run(request).await };
    if second_factor::recent(user.verified_at) {
        return next.run(request).await;
    }
    let method = request.method().clone();
    let action = request.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
    let fields = if method == Method::POST {
        // The body was read and bounded by the page middleware already.
        match to_bytes(request.into_body(), usize::MAX).await {
            Ok(bytes) => carried(&bytes),
            Err(_) => return bad_request_page(&ctx),
        }
    } else {
        Vec::new()
    };
    page(&ctx, &method, &action, fields, None, StatusCode::FORBIDDEN)
}

fn page(
    ctx: &WebCtx,
    method: &Method,
    action: &str,
    fields: Vec<(String, String)>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let with_factor = match &ctx.user {
        Some(u) => u.has_factor,
        None => return see_other("/login"),
    };
    let page = Reauth {
        p: ctx,
        method: if *method == Method::POST { "post" } else { "get" },
        action: action.to_string(),
        fields,
        with_factor,
        error,
    };
    render(status, &page)
}

/// `POST /reauth`: the proof, and what to go back to.
pub async fn confirm(State(state): State<AppState>, ctx: WebCtx, body: Body) -> Response {
    let Some(me) = me(&ctx) else { return see_other("/login") };
    let Ok(bytes) = to_bytes(body, usize::MAX).await else { return bad_request_page(&ctx) };
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&bytes).into_owned().collect();
    let one = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let (proof, action, method) = (one("proof"), one("reauth_action"), one("reauth_method"));
    let Some(action) = local_path(&action).map(String::from) else { return bad_request_page(&ctx) };
    let method = if method == "post" { Method::POST } else { Method::GET };
    // The carried form: `field_name` and `field_value`, pair by pair.
    let names = pairs.iter().filter(|(k, _)| k == "field_name").map(|(_, v)| v.clone());
    let values = pairs.iter().filter(|(k, _)| k == "field_value").map(|(_, v)| v.clone());
    let fields: Vec<(String, String)> = names.zip(values).collect();
    match second_factor::confirm_identity(&state.store, &state.hasher, &state.config, &me, &proof).await {
        Ok(()) if method == Method::GET => see_other(&action),
        Ok(()) => render(StatusCode::OK, &ReauthContinue { p: &ctx, action, fields }),
        Err(e @ FlowError::Invalid(_)) => {
            let message = super::correction(&ctx, &e);
            page(&ctx, &method, &action, fields, message, StatusCode::UNAUTHORIZED)
        }
        Err(e) => error_page(&ctx, classify(&e)),
    }
}
