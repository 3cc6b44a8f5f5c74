//! The middleware in front of every HTML route: it reads the cookies once, finds the signed-in
//! user, picks the locale, checks the CSRF token of every POST before any handler runs, and
//! hands handlers a [`WebCtx`].

use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::{cookies, csrf};
use crate::domain::SecretToken;
use crate::flows::Ctx;
use crate::http_error::ErrorInfo;
use crate::i18n::{Locale, Tr};
use crate::server::{AppState, RequestOrigin};
use crate::store::audit::{Actor, Origin};
use crate::store::sessions::SessionUser;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlashKind {
    Success,
    Error,
    Info,
}

impl FlashKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FlashKind::Success => "success",
            FlashKind::Error => "error",
            FlashKind::Info => "info",
        }
    }
}

/// A message for the next page, carried in a cookie as `kind.fluent-key`. Only keys that exist
/// in the locale files render, so a forged cookie can show nothing but our own messages.
#[derive(Clone, Debug)]
pub struct Flash {
    pub kind: FlashKind,
    pub key: String,
}

impl Flash {
    fn from_cookie(value: &str) -> Option<Flash> {
        let (kind, key) = value.split_once('.')?;
        let kind = match kind {
            "success" => FlashKind::Success,
            "error" => FlashKind::Error,
            "info" => FlashKind::Info,
            _ => return None,
        };
        Some(Flash { kind, key: key.to_string() })
    }
}

#[derive(Clone)]
pub struct WebCtx {
    pub t: Tr,
    pub brand: String,
    pub csrf_token: String,
    pub user: Option<SessionUser>,
    pub session_token: Option<String>,
    pub flash: Option<Flash>,
    pub origin: Origin,
    pub secure_cookies: bool,
}

impl WebCtx {
    /// The flash message to show, as (kind, text).
    pub fn flash_view(&self) -> Option<(&'static str, String)> {
        let flash = self.flash.as_ref()?;
        self.t.has(&flash.key).then(|| (flash.kind.as_str(), self.t.t(&flash.key)))
    }

    pub fn is_staff(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.staff_role.is_some())
    }

    pub fn is_admin(&self) -> bool {
        self.user.as_ref().and_then(|u| u.staff_role).is_some_and(|r| r.can_administer())
    }

    /// The flow context of the signed-in user (anonymous when nobody is signed in).
    pub fn flow_ctx(&self) -> Ctx {
        match &self.user {
            Some(u) => Ctx {
                actor: Actor::user(u.user_id, &u.email),
                staff_role: u.staff_role,
                origin: self.origin.clone(),
                api_token_id: None,
            },
            None => Ctx {
                actor: Actor::system("anonymous"),
                staff_role: None,
                origin: self.origin.clone(),
                api_token_id: None,
            },
        }
    }

    pub fn set_flash(&self, kind: FlashKind, key: &str) -> (header::HeaderName, axum::http::HeaderValue) {
        (
            header::SET_COOKIE,
            cookies::set(cookies::FLASH, &format!("{}.{key}", kind.as_str()), Some(60), self.secure_cookies),
        )
    }
}

impl FromRequestParts<AppState> for WebCtx {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<WebCtx>().cloned().ok_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

pub async fn web_context(
    State(state): State<AppState>,
    RequestOrigin(origin): RequestOrigin,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let headers = &parts.headers;
    let secure = state.config.https();

    let existing_csrf =
        cookies::get(headers, cookies::CSRF).filter(|v| cookies::plausible(v)).map(String::from);
    let csrf_cookie = existing_csrf.clone().unwrap_or_else(|| SecretToken::generate("").expose().to_string());
    let session_token =
        cookies::get(headers, cookies::SESSION).filter(|v| cookies::plausible(v)).map(String::from);
    let flash_cookie = cookies::get(headers, cookies::FLASH).and_then(Flash::from_cookie);

    // When the session cannot be looked up (the database is down), the page says so in the
    // visitor's language, with the usual layout, instead of pretending nobody is signed in.
    let (user, lookup_failed) = match &session_token {
        Some(token) => match crate::flows::auth::session_user(&state.store, token).await {
            Ok(user) => (user, None),
            Err(e) => (None, Some(crate::http_error::classify(&e))),
        },
        None => (None, None),
    };
    let locale = user
        .as_ref()
        .and_then(|u| u.locale.as_deref())
        .and_then(Locale::parse)
        .or_else(|| {
            headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).and_then(Locale::negotiate)
        })
        .unwrap_or(state.config.default_locale);

    let ctx = WebCtx {
        t: locale.tr(),
        brand: state.config.brand.clone(),
        csrf_token: csrf::token_for(&state.config.secret_key.0, &csrf_cookie),
        session_token: session_token.filter(|_| user.is_some()),
        user,
        flash: flash_cookie.clone(),
        origin,
        secure_cookies: secure,
    };

    if let Some(info) = lookup_failed {
        return super::error_page(&ctx, info);
    }

    let body = if parts.method == Method::GET || parts.method == Method::HEAD {
        body
    } else {
        match check_form_csrf(&state, &parts, body, existing_csrf.as_deref()).await {
            Ok(bytes) => Body::from(bytes),
            Err(info) => return super::error_page(&ctx, info),
        }
    };

    parts.extensions.insert(ctx);
    let mut response = next.run(Request::from_parts(parts, body)).await;

    let response_headers = response.headers_mut();
    if existing_csrf.is_none() {
        response_headers.append(header::SET_COOKIE, cookies::set(cookies::CSRF, &csrf_cookie, None, secure));
    }
    if flash_cookie.is_some() && !response.status().is_redirection() {
        response.headers_mut().append(header::SET_COOKIE, cookies::set(cookies::FLASH, "", Some(0), secure));
    }
    response
}

/// Reads a form body (bounded) and checks its `csrf_token` against the CSRF cookie.
async fn check_form_csrf(
    state: &AppState,
    parts: &Parts,
    body: Body,
    csrf_cookie: Option<&str>,
) -> Result<axum::body::Bytes, ErrorInfo> {
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(ErrorInfo::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "error-not-a-form",
        ));
    }
    let bytes = to_bytes(body, state.config.max_body_bytes)
        .await
        .map_err(|_| ErrorInfo::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "error-too-large"))?;
    if !form_is_utf8(&bytes) {
        return Err(ErrorInfo::new(StatusCode::BAD_REQUEST, "invalid_request", "error-invalid-input"));
    }
    let presented =
        url::form_urlencoded::parse(&bytes).find(|(k, _)| k == "csrf_token").map(|(_, v)| v.into_owned());
    match (csrf_cookie, presented) {
        (Some(cookie), Some(token)) if csrf::verify(&state.config.secret_key.0, cookie, &token) => Ok(bytes),
        _ => Err(ErrorInfo::new(StatusCode::FORBIDDEN, "csrf_failed", "error-csrf")),
    }
}

/// True when every name and value of a urlencoded body decodes to valid UTF-8. Form parsers
/// replace bad bytes silently; we refuse them instead of storing replacement characters.
fn form_is_utf8(body: &[u8]) -> bool {
    body.split(|b| *b == b'&').all(|pair| percent_encoding::percent_decode(pair).decode_utf8().is_ok())
}
