//! Server-rendered HTML pages. Handlers are thin over `flows`; all output goes through askama
//! templates, which escape every value.

mod account;
mod account_security;
pub mod context;
pub mod cookies;
pub mod csrf;
mod dashboard;
mod dev_mail;
pub mod dev_webhooks;
mod invite;
mod login;
pub mod oidc;
mod pages;
mod passkeys;
mod password;
pub mod payment;
mod reauth;
mod signup;
mod staff;
mod staff_audit;
pub mod staff_devices;
pub mod staff_import;
mod staff_members;
mod staff_oidc;
pub mod staff_payments;
mod staff_people;
pub mod staff_settings;
pub mod staff_webhooks;

use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::http_error::{ErrorInfo, describe};
use crate::state::AppState;
pub use context::{FlashKind, WebCtx};

pub fn router(state: AppState) -> Router<AppState> {
    // Sensitive actions want a recent sign-in or check of a factor (`reauth`).
    let sensitive = || axum::middleware::from_fn(reauth::require_recent);
    let mut pages = Router::new();
    // The dev mail viewer exists only while mail goes to the dev mailbox.
    if state.config.smtp_url.is_none() {
        pages = pages
            .route("/dev/mail", get(dev_mail::list))
            .route("/dev/mail/{id}", get(dev_mail::show))
            .route("/dev/webhooks", get(dev_webhooks::list));
    }
    pages
        .route("/", get(home))
        .route("/login", get(login::form).post(login::submit))
        .route("/login/second-factor", get(login::second_factor_form).post(login::second_factor_submit))
        .route("/login/second-factor/passkey/start", post(passkeys::second_step_start))
        .route("/login/second-factor/passkey/finish", post(passkeys::second_step_finish))
        .route("/login/passkey/start", post(passkeys::sign_in_start))
        .route("/login/passkey/finish", post(passkeys::sign_in_finish))
        .route("/account/security/passkeys/start", post(passkeys::register_start))
        .route("/account/security/passkeys/finish", post(passkeys::register_finish))
        .route("/logout", post(login::logout))
        .route("/account", get(account::show))
        .route("/account/export", get(account::export))
        .route("/account/erasure", post(account::request_erasure).route_layer(sensitive()))
        .route("/account/erasure/cancel", post(account::cancel_erasure))
        .route("/account/password", post(account::change_password))
        .route("/account/security", get(account_security::show))
        .route("/account/security/totp", post(account_security::start_totp))
        .route("/account/security/totp/confirm", post(account_security::confirm_totp))
        .route("/account/security/recovery-codes", post(account_security::recovery_codes))
        .route("/account/security/remove", post(account_security::remove))
        .route("/account/email", post(account::change_email))
        .route("/account/email/{token}", get(account::show_email_link).post(account::confirm_email))
        .route("/account/sessions/end", post(account::end_session))
        .route("/account/sessions/end-all", post(account::end_all_sessions))
        .route("/account/locale", post(account::set_locale))
        .route("/account/applications/withdraw", post(account::withdraw_application))
        .route("/password/forgot", get(password::forgot).post(password::request))
        .route("/password/reset/{token}", get(password::show).post(password::reset))
        .route("/staff", get(|| async { Redirect::to("/staff/orgs") }))
        .route("/staff/orgs", get(staff::orgs).post(staff::create_org))
        .route("/staff/orgs/{slug}", get(staff::org))
        .route("/staff/orgs/{slug}/second-factor", post(staff::set_second_factor))
        .route("/staff/outbox", get(staff::outbox))
        .route("/staff/orgs/{slug}/payments", get(staff_payments::show))
        .route("/staff/orgs/{slug}/payments/policy", post(staff_payments::save_policy))
        .route("/staff/orgs/{slug}/plans", post(staff_payments::create_plan))
        .route("/staff/orgs/{slug}/plans/{id}/deactivate", post(staff_payments::deactivate_plan))
        .route("/staff/stripe/events", get(staff_payments::ledger))
        .route("/staff/orgs/{slug}/devices", get(staff_devices::show).post(staff_devices::create))
        .route("/staff/orgs/{slug}/devices/{id}/revoke", post(staff_devices::revoke))
        .route("/staff/orgs/{slug}/devices/{id}/requires", post(staff_devices::set_requirement))
        .route("/staff/settings", get(staff_settings::show))
        .route("/staff/audit", get(staff_audit::show))
        .route("/staff/people", post(staff_people::create).route_layer(sensitive()).get(staff_people::show))
        .route("/staff/people/{id}/{action}", post(staff_people::act))
        .route("/staff/tokens/{id}/revoke", post(staff_people::revoke_token))
        .route("/staff/audit.csv", get(staff_audit::csv).route_layer(sensitive()))
        .route("/staff/settings/{key}", post(staff_settings::save).route_layer(sensitive()))
        .route("/reauth", post(reauth::confirm))
        .route("/staff/orgs/{slug}/oidc", get(staff_oidc::show).post(staff_oidc::create))
        .route("/staff/orgs/{slug}/oidc/{client_id}", get(staff_oidc::client))
        .route("/staff/orgs/{slug}/oidc/{client_id}/{action}", post(staff_oidc::act))
        .route("/staff/orgs/{slug}/webhooks", get(staff_webhooks::show).post(staff_webhooks::create))
        .route("/staff/orgs/{slug}/webhooks/{id}", get(staff_webhooks::deliveries))
        .route("/staff/orgs/{slug}/webhooks/{id}/{action}", post(staff_webhooks::act))
        .route(
            "/staff/orgs/{slug}/webhooks/{id}/deliveries/{delivery_id}/replay",
            post(staff_webhooks::replay),
        )
        .route("/staff/stripe/events/{id}/reprocess", post(staff_payments::reprocess))
        .route("/staff/orgs/{slug}/members.csv", get(staff_members::csv).route_layer(sensitive()))
        .route("/staff/orgs/{slug}/export.jsonl", get(staff_members::export_org).route_layer(sensitive()))
        .route("/staff/orgs/{slug}/catalogue", post(staff_members::add_to_catalogue))
        .route("/staff/orgs/{slug}/import", get(staff_import::show).post(staff_import::preview))
        .route("/staff/orgs/{slug}/import/commit", post(staff_import::commit).route_layer(sensitive()))
        .route("/staff/orgs/{slug}/members/{id}", get(staff_members::show))
        .route("/staff/orgs/{slug}/members/{id}/export", get(staff_members::export).route_layer(sensitive()))
        .route("/staff/orgs/{slug}/members/{id}/erase", post(staff_members::erase).route_layer(sensitive()))
        .route("/staff/orgs/{slug}/members/{id}/{action}", post(staff_members::act))
        .route("/staff/orgs/{slug}/invitations", post(staff::invite))
        .route("/staff/orgs/{slug}/invitations/{id}/{action}", post(staff::invitation_action))
        .route("/invite/{token}", get(invite::show).post(invite::accept))
        .route("/dashboard", get(dashboard::show))
        .route("/dashboard/profile", get(dashboard::profile).post(dashboard::save_profile))
        .route("/dashboard/keys", get(dashboard::keys).post(dashboard::add_key))
        .route("/dashboard/keys/{id}/remove", post(dashboard::remove_key))
        .route("/dashboard/authorizations", get(dashboard::authorisations))
        .route("/dashboard/storage", get(dashboard::storage))
        .route("/dashboard/locked", get(dashboard::locked))
        .route("/o/{slug}/join", get(signup::show).post(signup::request))
        .route("/o/{slug}/join/account", post(signup::join_with_account))
        .route("/o/{slug}/join/payment", get(payment::show).post(payment::start))
        .route("/o/{slug}/join/payment/done", get(payment::done))
        .route("/o/{slug}/join/payment/cancelled", get(payment::cancelled))
        .route("/dashboard/billing", post(payment::portal))
        .route("/o/{slug}/join/verify/{token}", get(signup::verify).post(signup::details))
        .route("/o/{slug}/oidc/authorize", get(oidc::authorize).post(oidc::consent))
        .route("/o/{slug}/oidc/logout", get(oidc::logout_page).post(oidc::logout))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(refusals_as_pages))
        .layer(from_fn_with_state(state, context::web_context))
        .route("/static/portico.css", get(stylesheet))
        .route("/static/passkeys.js", get(passkeys::script))
}

/// Renders a template, or a plain 500 if rendering fails (a bug, logged).
pub fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

pub fn error_page(ctx: &WebCtx, info: ErrorInfo) -> Response {
    let page =
        pages::ErrorPage { p: ctx, title: ctx.t.t(title_key(info.status)), message: describe(&info, &ctx.t) };
    let mut response = render(info.status, &page);
    if let Some(secs) = info.retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

fn title_key(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 413 | 415 => "title-bad-request",
        403 => "title-forbidden",
        405 => "title-bad-request",
        404 => "title-not-found",
        409 => "title-conflict",
        429 => "title-rate-limited",
        503 => "title-unavailable",
        _ => "title-error",
    }
}

/// Hands the browser a new session: the session cookie, and a fresh CSRF cookie so no form
/// token from before stays valid. Used by every way of signing in.
pub fn start_session(
    mut response: Response,
    ctx: &WebCtx,
    session: &crate::domain::SecretToken,
    hours: i64,
) -> Response {
    let secure = ctx.secure_cookies;
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        cookies::set(cookies::SESSION, session.expose(), Some(hours * 3600), secure),
    );
    let csrf = crate::domain::SecretToken::generate("");
    headers.append(header::SET_COOKIE, cookies::set(cookies::CSRF, csrf.expose(), None, secure));
    response
}

/// After a correct password: the session starts with `response`, or, for an account with a
/// second factor, the browser goes to the second step holding only the pending sign-in.
pub fn password_opened(
    response: Response,
    ctx: &WebCtx,
    opened: &crate::flows::auth::Opened,
    hours: i64,
) -> Response {
    use crate::flows::auth::{Opened, PENDING_SIGN_IN_SECS};
    match opened {
        Opened::Session(token) => start_session(response, ctx, token, hours),
        Opened::SecondStep(pending) => {
            let secure = ctx.secure_cookies;
            let mut response = see_other("/login/second-factor");
            let headers = response.headers_mut();
            headers.append(
                header::SET_COOKIE,
                cookies::set(cookies::PENDING, pending.expose(), Some(PENDING_SIGN_IN_SECS), secure),
            );
            // The session the browser had was ended with the password.
            headers.append(header::SET_COOKIE, cookies::set(cookies::SESSION, "", Some(0), secure));
            response
        }
    }
}

/// A response that ends the browser's session: the session cookie cleared, a fresh form-token
/// cookie, and the "signed out" flash.
pub fn signed_out(mut response: Response, ctx: &WebCtx) -> Response {
    let secure = ctx.secure_cookies;
    let new_csrf = crate::domain::SecretToken::generate("");
    // Appended one by one: a header array would keep only the last `Set-Cookie`.
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, cookies::set(cookies::SESSION, "", Some(0), secure));
    headers.append(header::SET_COOKIE, cookies::set(cookies::CSRF, new_csrf.expose(), None, secure));
    let (name, flash) = ctx.set_flash(FlashKind::Info, "flash-signed-out");
    headers.append(name, flash);
    response
}

pub fn not_found_page(ctx: &WebCtx) -> Response {
    error_page(ctx, ErrorInfo::new(StatusCode::NOT_FOUND, "not_found", "error-not-found"))
}

pub fn method_not_allowed_page(ctx: &WebCtx) -> Response {
    error_page(
        ctx,
        ErrorInfo::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "error-method-not-allowed"),
    )
}

pub fn bad_request_page(ctx: &WebCtx) -> Response {
    error_page(ctx, ErrorInfo::new(StatusCode::BAD_REQUEST, "invalid_request", "error-bad-request"))
}

/// The page for a refusal the server makes before any handler (an oversized, unfinished or
/// unreadable body), in the visitor's language: their account's when a session cookie names
/// one (looked up within a second), else the browser's.
pub async fn refusal_page(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    status: StatusCode,
    code: &'static str,
) -> Response {
    let ctx = WebCtx::for_refusal(state, headers).await;
    refused_page(&ctx, status, code)
}

fn refused_page(ctx: &WebCtx, status: StatusCode, code: &'static str) -> Response {
    // A page speaks of the browser's request, not of the API document.
    let key = match code {
        "invalid_request" => "error-bad-request",
        code => crate::http_error::code_key(code).unwrap_or("error-bad-request"),
    };
    error_page(ctx, ErrorInfo::new(status, code, key))
}

/// A refusal that reached a page without one (an extractor's rejection — a malformed query,
/// form or path — which axum answers in plain text) becomes the error page of its status.
async fn refusals_as_pages(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let ctx = request.extensions().get::<WebCtx>().cloned();
    let response = next.run(request).await;
    let status = response.status();
    // Pages, and the JSON the passkey script asks for, are answers already.
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html") || v.starts_with("application/json"));
    match ctx {
        Some(ctx) if (status.is_client_error() || status.is_server_error()) && !is_page => {
            let code = match status {
                StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
                StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
                StatusCode::REQUEST_TIMEOUT => "request_timeout",
                StatusCode::NOT_FOUND => "not_found",
                s if s.is_server_error() => "internal_error",
                _ => "invalid_request",
            };
            tracing::debug!(%status, "a plain refusal answered as a page");
            let status = if status.is_server_error() { StatusCode::INTERNAL_SERVER_ERROR } else { status };
            refused_page(&ctx, status, code)
        }
        _ => response,
    }
}

/// Which kind of emailed link could not be used.
pub enum Link<'a> {
    Invitation,
    /// A signup verification link of this organisation.
    Verification(&'a str),
    PasswordReset,
    EmailChange,
}

/// The page for an emailed link that cannot be used (410): worded for its kind of link, never
/// saying whether it was used, withdrawn or expired.
pub fn link_gone_page(ctx: &WebCtx, link: Link<'_>) -> Response {
    let (title_key, body_key, action) = match link {
        Link::Invitation => ("invite-invalid-title", "invite-invalid-body", None),
        Link::Verification(slug) => (
            "verify-invalid-title",
            "verify-invalid-body",
            crate::domain::Slug::parse(slug)
                .ok()
                .map(|slug| (format!("/o/{}/join", slug.as_str()), "verify-invalid-action")),
        ),
        Link::PasswordReset => (
            "reset-invalid-title",
            "reset-invalid-body",
            Some(("/password/forgot".to_string(), "reset-invalid-action")),
        ),
        Link::EmailChange => (
            "email-change-invalid-title",
            "email-change-invalid-body",
            Some(("/account".to_string(), "email-change-invalid-action")),
        ),
    };
    render(StatusCode::GONE, &pages::LinkInvalid { p: ctx, title_key, body_key, action })
}

/// Staff pages need a signed-in staff member: anonymous visitors are sent to the sign-in page,
/// other users get 403. Returns the response to send instead of the page, if any.
pub fn deny_unless_staff(ctx: &WebCtx) -> Option<Response> {
    match &ctx.user {
        None => Some(see_other("/login")),
        Some(u) if u.staff_role.is_none() => {
            Some(error_page(ctx, ErrorInfo::new(StatusCode::FORBIDDEN, "forbidden", "error-forbidden")))
        }
        Some(_) => None,
    }
}

/// Staff pages only admins see (settings, staff accounts): others get 403.
pub fn deny_unless_admin(ctx: &WebCtx) -> Option<Response> {
    deny_unless_staff(ctx).or_else(|| {
        (!ctx.is_admin())
            .then(|| error_page(ctx, ErrorInfo::new(StatusCode::FORBIDDEN, "forbidden", "error-forbidden")))
    })
}

/// 303 See Other: the answer to a successful form POST.
pub fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

/// A correctable error (see [`FlowError::is_correctable`]) as the message its page shows, and
/// the status to show it with.
pub fn explain(ctx: &WebCtx, e: &crate::flows::FlowError) -> (String, StatusCode) {
    let info = crate::http_error::classify(e);
    (crate::http_error::describe(&info, &ctx.t), info.status)
}

/// The sentence a person reads for a correctable refusal: each field's own message, or the
/// conflict's; `None` for any other error.
pub fn correction(ctx: &WebCtx, e: &crate::flows::FlowError) -> Option<String> {
    use crate::http_error::code_message;
    match e {
        crate::flows::FlowError::Invalid(fields) => {
            Some(fields.iter().filter_map(|f| code_message(f.code, &ctx.t)).collect::<Vec<_>>().join(" "))
        }
        crate::flows::FlowError::Conflict { code } => code_message(code, &ctx.t),
        _ => None,
    }
}

/// What a form that worked answers: a message for the next page and a redirect to it.
pub fn flash_redirect(ctx: &WebCtx, kind: FlashKind, key: &str, location: &str) -> Response {
    ([ctx.set_flash(kind, key)], see_other(location)).into_response()
}

async fn home(ctx: WebCtx) -> Response {
    if ctx.is_staff() {
        return see_other("/staff/orgs");
    }
    render(StatusCode::OK, &pages::Home { p: &ctx })
}

async fn not_found(ctx: WebCtx) -> Response {
    not_found_page(&ctx)
}

async fn method_not_allowed(ctx: WebCtx) -> Response {
    method_not_allowed_page(&ctx)
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../../templates/portico.css"),
    )
}
