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
use crate::state::{AppState, RequestOrigin};
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
    /// The cookie of a sign-in waiting for its second step (not a session).
    pub pending_sign_in: Option<String>,
    /// The person must add a second factor before anything else: pages offer nothing else.
    pub must_enrol: bool,
    pub flash: Option<Flash>,
    pub origin: Origin,
    pub secure_cookies: bool,
}

impl WebCtx {
    /// The context of a page answered before the usual middleware ran (a malformed request
    /// refused up front): anonymous, in the language the browser asks for, with no form token.
    pub fn anonymous(state: &AppState, headers: &axum::http::HeaderMap) -> WebCtx {
        let locale = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(Locale::negotiate)
            .unwrap_or(state.config.default_locale);
        WebCtx {
            t: locale.tr(),
            brand: state.config.brand.clone(),
            csrf_token: String::new(),
            user: None,
            session_token: None,
            pending_sign_in: None,
            must_enrol: false,
            flash: None,
            origin: Origin::default(),
            secure_cookies: state.config.https(),
        }
    }

    /// The context of a refusal made before the usual middleware ran: as [`WebCtx::anonymous`],
    /// but in the language of the signed-in person when the session cookie names one (looked up
    /// within a second; without an answer, the browser's language).
    pub async fn for_refusal(state: &AppState, headers: &axum::http::HeaderMap) -> WebCtx {
        let mut ctx = WebCtx::anonymous(state, headers);
        let Some(token) = cookies::get(headers, cookies::SESSION, ctx.secure_cookies) else { return ctx };
        let lookup = crate::flows::auth::session_user(&state.store, token);
        if let Ok(Ok(Some(user))) = tokio::time::timeout(std::time::Duration::from_secs(1), lookup).await
            && let Some(locale) = user.locale.as_deref().and_then(Locale::parse)
        {
            ctx.t = locale.tr();
        }
        ctx
    }

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
        cookies::get(headers, cookies::CSRF, secure).filter(|v| cookies::plausible(v)).map(String::from);
    let csrf_cookie = existing_csrf.clone().unwrap_or_else(|| SecretToken::generate("").expose().to_string());
    let session_token =
        cookies::get(headers, cookies::SESSION, secure).filter(|v| cookies::plausible(v)).map(String::from);
    let flash_cookie = cookies::get(headers, cookies::FLASH, secure).and_then(Flash::from_cookie);
    let pending_sign_in =
        cookies::get(headers, cookies::PENDING, secure).filter(|v| cookies::plausible(v)).map(String::from);

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

    let session_token = session_token.filter(|_| user.is_some());
    // Forms of a signed-in visitor are bound to the session, anonymous ones to the pre-session
    // cookie (see `csrf`).
    let binding = match &session_token {
        Some(token) => csrf::Binding::Session(token),
        None => csrf::Binding::PreSession(&csrf_cookie),
    };
    let ctx = WebCtx {
        t: locale.tr(),
        brand: state.config.brand.clone(),
        csrf_token: csrf::token_for(&state.config.secret_key.0, binding),
        session_token: session_token.clone(),
        pending_sign_in,
        must_enrol: false,
        user,
        flash: flash_cookie.clone(),
        origin,
        secure_cookies: secure,
    };

    if let Some(info) = lookup_failed {
        return super::error_page(&ctx, info);
    }

    // Someone who must have a second factor and has none reaches nothing but adding one.
    let mut ctx = ctx;
    if let Some(user) = &ctx.user
        && !user.has_factor
    {
        match crate::flows::second_factor::enrolment_required(&state.store, user).await {
            Ok(true) if !enrolment_allows(parts.uri.path()) => {
                return super::flash_redirect(
                    &ctx,
                    super::FlashKind::Info,
                    "flash-enrol-first",
                    "/account/security",
                );
            }
            Ok(required) => ctx.must_enrol = required,
            Err(e) => return super::error_page(&ctx, crate::http_error::classify(&e)),
        }
    }

    let body = match parts.method {
        Method::GET | Method::HEAD => body,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE => {
            // A form token is only worth checking against what it could be bound to: the
            // session, or a pre-session cookie the browser sent back.
            let expected = match (&session_token, &existing_csrf) {
                (Some(token), _) => Some(csrf::Binding::Session(token)),
                (None, Some(cookie)) => Some(csrf::Binding::PreSession(cookie)),
                (None, None) => None,
            };
            match check_form(&state, &parts, body, expected).await {
                Ok(bytes) => Body::from(bytes),
                Err(info) => return super::error_page(&ctx, info),
            }
        }
        // No page takes any other method (`FOO /login`, `TRACE /`).
        _ => return super::method_not_allowed_page(&ctx),
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

/// What a person who must add a second factor first may still reach: adding it, signing out,
/// and the stylesheet.
fn enrolment_allows(path: &str) -> bool {
    path == "/account/security"
        || path.starts_with("/account/security/")
        || path == "/logout"
        || path.starts_with("/static/")
}

/// True when a state-changing request comes from another site: its `Origin` is not the base
/// URL's origin, or, without an `Origin`, the browser says `Sec-Fetch-Site: cross-site`.
pub fn cross_site(headers: &axum::http::HeaderMap, base_url: &url::Url) -> bool {
    let ours = base_url.origin().ascii_serialization();
    match headers.get(header::ORIGIN) {
        Some(origin) => origin.to_str().map(|o| o.trim_end_matches('/') != ours).unwrap_or(true),
        None => {
            headers.get("sec-fetch-site").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
        }
    }
}

/// Checks a state-changing form: from this site, a urlencoded body (bounded, valid UTF-8),
/// and a `csrf_token` made for `expected`.
async fn check_form(
    state: &AppState,
    parts: &Parts,
    body: Body,
    expected: Option<csrf::Binding<'_>>,
) -> Result<axum::body::Bytes, ErrorInfo> {
    if cross_site(&parts.headers, &state.config.base_url) {
        return Err(ErrorInfo::new(StatusCode::FORBIDDEN, "cross_site", "error-cross-site"));
    }
    let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let import_limit = super::staff_import::body_limit(&state.config, parts.uri.path());
    if let Some(limit) = import_limit
        && content_type.starts_with("multipart/form-data")
    {
        // The import's upload: its handler checks the form token inside the multipart body.
        return to_bytes(body, limit).await.map_err(|_| {
            ErrorInfo::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "error-too-large")
        });
    }
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Err(ErrorInfo::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "error-not-a-form",
        ));
    }
    let bytes = to_bytes(body, import_limit.unwrap_or(state.config.max_body_bytes))
        .await
        .map_err(|_| ErrorInfo::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "error-too-large"))?;
    if !form_is_utf8(&bytes) {
        return Err(ErrorInfo::new(StatusCode::BAD_REQUEST, "invalid_request", "error-invalid-input"));
    }
    let presented =
        url::form_urlencoded::parse(&bytes).find(|(k, _)| k == "csrf_token").map(|(_, v)| v.into_owned());
    match (expected, presented) {
        (Some(binding), Some(token)) if csrf::verify(&state.config.secret_key.0, binding, &token) => {
            Ok(bytes)
        }
        _ => Err(ErrorInfo::new(StatusCode::FORBIDDEN, "csrf_failed", "error-csrf")),
    }
}

/// True when every name and value of a urlencoded body decodes to valid UTF-8. Form parsers
/// replace bad bytes silently; we refuse them instead of storing replacement characters.
fn form_is_utf8(body: &[u8]) -> bool {
    body.split(|b| *b == b'&').all(|pair| percent_encoding::percent_decode(pair).decode_utf8().is_ok())
}
