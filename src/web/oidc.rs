//! The OpenID Connect provider's pages (SPEC §3.9): the authorization endpoint (with the sign-in
//! it may need and the consent page), and RP-initiated logout. Thin over `flows::oidc`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawForm, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::pages::{OidcConsent, OidcLogout};
use super::{WebCtx, error_page, not_found_page, render, see_other};
use crate::flows::oidc::authorize::{self, Consent, Outcome, Params, Signed};
use crate::flows::oidc::provider::{self, Provider};
use crate::http_error::{ErrorInfo, classify};
use crate::state::AppState;
use crate::store::orgs::Org;

fn pairs(raw: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw).into_owned().collect()
}

fn params_of(pairs: &[(String, String)]) -> Params {
    Params::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

async fn org_of(state: &AppState, slug: Result<Path<String>, PathRejection>) -> Option<Org> {
    let Ok(Path(slug)) = slug else { return None };
    let slug = crate::domain::Slug::parse(&slug).ok()?;
    crate::store::orgs::find_by_slug(state.store.pool(), slug.as_str()).await.ok().flatten()
}

/// A page whose form answer redirects to `target` (the application): its policy lets the form
/// lead there (browsers hold the redirect after a form post to `form-action`).
pub fn form_leads_to(mut response: Response, target: &str) -> Response {
    let Ok(url) = url::Url::parse(target) else { return response };
    let policy = crate::state::CSP
        .replace("form-action 'self'", &format!("form-action 'self' {}", url.origin().ascii_serialization()));
    if let Ok(value) = axum::http::HeaderValue::from_str(&policy) {
        response.headers_mut().insert(axum::http::header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

fn encoded(pairs: &[(&str, String)]) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    out.finish()
}

/// `GET /o/{slug}/oidc/authorize`: the authorization request.
pub async fn authorize(
    State(state): State<AppState>,
    ctx: WebCtx,
    slug: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(org) = org_of(&state, slug).await else { return not_found_page(&ctx) };
    let params = params_of(&pairs(query.unwrap_or_default().as_bytes()));
    answer(&state, &ctx, &org, &params, None).await
}

/// `POST /o/{slug}/oidc/authorize`: the consent page's answer (the request travels in hidden
/// fields; the form token is checked before this runs).
pub async fn consent(
    State(state): State<AppState>,
    ctx: WebCtx,
    slug: Result<Path<String>, PathRejection>,
    RawForm(form): RawForm,
) -> Response {
    let Some(org) = org_of(&state, slug).await else { return not_found_page(&ctx) };
    let fields = pairs(&form);
    let decision = match fields.iter().find(|(k, _)| k == "decision").map(|(_, v)| v.as_str()) {
        Some("allow") => Consent::Allow,
        Some("deny") => Consent::Deny,
        _ => return super::bad_request_page(&ctx),
    };
    let params = params_of(&fields);
    answer(&state, &ctx, &org, &params, Some(decision)).await
}

async fn answer(
    state: &AppState,
    ctx: &WebCtx,
    org: &Org,
    params: &Params,
    consent: Option<Consent>,
) -> Response {
    let p = Provider {
        store: &state.store,
        keys: &state.oidc_keys,
        encryption: &state.oidc_encryption,
        issuer: provider::issuer(&state.config.base_url, &org.slug),
    };
    let signed = match (&ctx.user, &ctx.session_token) {
        (Some(user), Some(token)) => Some(Signed {
            user_id: user.user_id,
            session_token: token.as_str(),
            auth_time: user.signed_in_at,
            amr: user.amr.as_str(),
        }),
        _ => None,
    };
    let here = format!("/o/{}/oidc/authorize", org.slug);
    match authorize::decide(&p, org, params, signed.as_ref(), consent).await {
        Ok(Outcome::ErrorPage(key)) => {
            error_page(ctx, ErrorInfo::new(StatusCode::BAD_REQUEST, "invalid_request", key))
        }
        Ok(Outcome::Redirect(to)) => see_other(&to),
        Ok(Outcome::SignIn) => {
            let back = format!("{here}?{}", encoded(&params.pairs_after("login")));
            see_other(&format!("/login?{}", encoded(&[("next", back)])))
        }
        Ok(Outcome::Consent { client, scopes }) => {
            let page = OidcConsent {
                p: ctx,
                action: here,
                intro: ctx.t.t2(
                    "oidc-consent-intro",
                    ("client", client.name.as_str()),
                    (
                        "org",
                        crate::domain::display_name(
                            org.kind,
                            &org.name,
                            org.company_name.as_deref(),
                            &org.slug,
                        ),
                    ),
                ),
                scopes: scopes
                    .iter()
                    .filter(|s| **s != "openid")
                    .map(|s| format!("oidc-scope-{}", s.replace('_', "-")))
                    .collect(),
                fields: params.pairs_after("consent").into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            };
            // The client's redirect URI was checked against its registration by `decide`.
            form_leads_to(render(StatusCode::OK, &page), params.redirect_uri.as_deref().unwrap_or(""))
        }
        Ok(Outcome::Refused(refusal)) => {
            let detail = match &refusal {
                crate::flows::oidc::rule::Refusal::Authorisation(name) => Some(name.clone()),
                crate::flows::oidc::rule::Refusal::Role(role) => Some(role.as_str().to_string()),
                _ => None,
            };
            let info = ErrorInfo {
                detail,
                ..ErrorInfo::new(StatusCode::FORBIDDEN, "access_denied", refusal.message_key())
            };
            error_page(ctx, info)
        }
        Err(e) => error_page(ctx, classify(&e)),
    }
}

/// RP-initiated logout: the parameters a relying party sends.
struct LogoutParams {
    client_id: Option<String>,
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

fn logout_params(pairs: &[(String, String)]) -> LogoutParams {
    let get = |name: &str| {
        pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.chars().take(4000).collect::<String>())
    };
    LogoutParams {
        client_id: get("client_id"),
        id_token_hint: get("id_token_hint"),
        post_logout_redirect_uri: get("post_logout_redirect_uri"),
        state: get("state"),
    }
}

/// Where to send the person after signing out: the client's registered post-logout URI (named
/// by `client_id`, or the audience of `id_token_hint`), with `state`; else nowhere.
async fn after_logout(state: &AppState, org: &Org, params: &LogoutParams) -> Option<String> {
    let wanted = params.post_logout_redirect_uri.as_deref()?;
    let client_id = params.client_id.clone().or_else(|| {
        // Only the audience is read, to find the client; the target must be registered anyway.
        let hint = params.id_token_hint.as_deref()?;
        let payload = hint.split('.').nth(1)?;
        let bytes =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).ok()?;
        let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        match &claims["aud"] {
            serde_json::Value::String(aud) => Some(aud.clone()),
            serde_json::Value::Array(list) => list.first().and_then(|a| a.as_str()).map(String::from),
            _ => None,
        }
    })?;
    let client = provider::client_of(&state.store, org, &client_id).await.ok().flatten()?;
    if !client.post_logout_redirect_uris.iter().any(|u| u == wanted) {
        return None;
    }
    let mut url = url::Url::parse(wanted).ok()?;
    if let Some(s) = &params.state {
        url.query_pairs_mut().append_pair("state", s);
    }
    Some(url.to_string())
}

/// `GET /o/{slug}/oidc/logout`: asks the signed-in person to confirm (a link alone must not sign
/// anyone out); someone not signed in goes straight on.
pub async fn logout_page(
    State(state): State<AppState>,
    ctx: WebCtx,
    slug: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(org) = org_of(&state, slug).await else { return not_found_page(&ctx) };
    let fields = pairs(query.unwrap_or_default().as_bytes());
    let params = logout_params(&fields);
    if ctx.user.is_none() {
        return match after_logout(&state, &org, &params).await {
            Some(to) => see_other(&to),
            None => see_other("/login"),
        };
    }
    let keep = ["client_id", "id_token_hint", "post_logout_redirect_uri", "state"];
    let target = after_logout(&state, &org, &params).await;
    let page = OidcLogout {
        p: &ctx,
        action: format!("/o/{}/oidc/logout", org.slug),
        fields: fields.into_iter().filter(|(k, _)| keep.contains(&k.as_str())).collect(),
    };
    match target {
        Some(target) => form_leads_to(render(StatusCode::OK, &page), &target),
        None => render(StatusCode::OK, &page),
    }
}

/// `POST /o/{slug}/oidc/logout`: signs out of Portico, then back to the application.
pub async fn logout(
    State(state): State<AppState>,
    ctx: WebCtx,
    slug: Result<Path<String>, PathRejection>,
    RawForm(form): RawForm,
) -> Response {
    let Some(org) = org_of(&state, slug).await else { return not_found_page(&ctx) };
    let params = logout_params(&pairs(&form));
    if let Some(token) = &ctx.session_token
        && let Err(e) = crate::flows::auth::sign_out(&state.store, &ctx.flow_ctx(), token).await
    {
        return error_page(&ctx, classify(&e));
    }
    let target = after_logout(&state, &org, &params).await.unwrap_or_else(|| "/login".to_string());
    super::signed_out(see_other(&target), &ctx)
}

/// Where an OpenID Connect authorization request in `next` (the sign-in page's continuation)
/// will send the browser in the end: its redirect URI, if the client registered it. The
/// sign-in page lets its form lead there, since the sign-in's redirects end at the application.
pub async fn redirect_after_sign_in(state: &AppState, next: &str) -> Option<String> {
    let (path, query) = next.split_once('?')?;
    let slug = path.strip_prefix("/o/")?.strip_suffix("/oidc/authorize")?;
    let slug = crate::domain::Slug::parse(slug).ok()?;
    let org = crate::store::orgs::find_by_slug(state.store.pool(), slug.as_str()).await.ok()??;
    let fields = pairs(query.as_bytes());
    let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let client = provider::client_of(&state.store, &org, &get("client_id")?).await.ok()??;
    let redirect_uri = get("redirect_uri")?;
    client.redirect_uris.contains(&redirect_uri).then_some(redirect_uri)
}
