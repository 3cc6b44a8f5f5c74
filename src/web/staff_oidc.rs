//! `/staff/orgs/{slug}/oidc`: an organisation's OpenID Connect clients (SPEC §3.9): register
//! one (its secret is shown once), change its redirect URIs and who may sign in, rotate its
//! secret, disable, enable or delete it. Thin over `flows::oidc::clients`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawForm, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::pages::{StaffOidc, StaffOidcClient};
use super::{
    FlashKind, WebCtx, deny_unless_staff, error_page, explain, flash_redirect, not_found_page, render,
};
use crate::flows::oidc::clients::{self, ClientInput, ClientUpdate};
use crate::flows::{self, FlowError};
use crate::http_error::classify;
use crate::state::AppState;

/// The clients page, with a secret just made (client id, secret) or what went wrong.
async fn page(
    state: &AppState,
    ctx: &WebCtx,
    slug: &str,
    new_secret: Option<(String, String)>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let fctx = ctx.flow_ctx();
    let loaded = async {
        let org = flows::orgs::get(&state.store, &fctx, slug).await?;
        let clients = clients::list(&state.store, &fctx, slug).await?;
        Ok::<_, FlowError>((org, clients))
    };
    match loaded.await {
        Ok((org, clients)) => {
            let issuer = flows::oidc::provider::issuer(&state.config.base_url, &org.slug);
            render(status, &StaffOidc { p: ctx, org, clients, issuer, new_secret, error })
        }
        Err(e) => error_page(ctx, classify(&e)),
    }
}

fn fields(form: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(form).into_owned().collect()
}

fn field(fields: &[(String, String)], name: &str) -> Option<String> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// One URI per line.
fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect()
}

pub async fn show(
    State(state): State<AppState>,
    ctx: WebCtx,
    slug: Result<Path<String>, PathRejection>,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let Ok(Path(slug)) = slug else { return not_found_page(&ctx) };
    page(&state, &ctx, &slug, None, None, StatusCode::OK).await
}

pub async fn create(
    State(state): State<AppState>,
    ctx: WebCtx,
    slug: Result<Path<String>, PathRejection>,
    RawForm(form): RawForm,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let Ok(Path(slug)) = slug else { return not_found_page(&ctx) };
    let f = fields(&form);
    let input = ClientInput {
        name: field(&f, "name").unwrap_or_default(),
        redirect_uris: lines(&field(&f, "redirect_uris").unwrap_or_default()),
        post_logout_redirect_uris: Some(lines(&field(&f, "post_logout_redirect_uris").unwrap_or_default())),
        backchannel_logout_uri: field(&f, "backchannel_logout_uri"),
        public: Some(field(&f, "public").is_some()),
        first_party: Some(field(&f, "first_party").is_some()),
        requires: field(&f, "requires"),
        role: field(&f, "role"),
        id_token_alg: field(&f, "id_token_alg"),
        pkce_required: Some(field(&f, "pkce_optional").is_none()),
    };
    match clients::create(&state.store, &state.config.webhooks, &ctx.flow_ctx(), &slug, &input).await {
        // The secret is shown on this answer only.
        Ok((client, secret)) => {
            let shown = secret.map(|s| (client.client_id.clone(), s.expose().to_string()));
            page(&state, &ctx, &slug, shown, None, StatusCode::CREATED).await
        }
        Err(e) if e.is_correctable() => {
            let (message, status) = explain(&ctx, &e);
            page(&state, &ctx, &slug, None, Some(message), status).await
        }
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

/// One client: its settings and its back-channel logout deliveries (state, attempts, last
/// status and error, next attempt), like an endpoint's webhook deliveries.
pub async fn client(
    State(state): State<AppState>,
    ctx: WebCtx,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let Ok(Path((slug, client_id))) = path else { return not_found_page(&ctx) };
    let fctx = ctx.flow_ctx();
    let loaded = async {
        let org = flows::orgs::get(&state.store, &fctx, &slug).await?;
        let (client, logouts) = clients::logouts(&state.store, &fctx, &slug, &client_id, 200).await?;
        Ok::<_, FlowError>((org, client, logouts))
    };
    match loaded.await {
        Ok((org, client, logouts)) => render(
            StatusCode::OK,
            &StaffOidcClient { p: &ctx, org, client, logouts, now_ms: crate::store::now_ms() },
        ),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

/// The actions on one client: `uris` (redirect URIs, one per line), `rotate`, `enable`,
/// `disable`, `delete`.
pub async fn act(
    State(state): State<AppState>,
    ctx: WebCtx,
    path: Result<Path<(String, String, String)>, PathRejection>,
    RawForm(form): RawForm,
) -> Response {
    if let Some(denied) = deny_unless_staff(&ctx) {
        return denied;
    }
    let Ok(Path((slug, client_id, action))) = path else { return not_found_page(&ctx) };
    let (store, fctx, config) = (&state.store, ctx.flow_ctx(), &state.config.webhooks);
    let list = format!("/staff/orgs/{slug}/oidc");
    let outcome = match action.as_str() {
        "rotate" => match clients::rotate_secret(store, &fctx, &slug, &client_id).await {
            Ok((client, secret)) => {
                let shown = Some((client.client_id, secret.expose().to_string()));
                return page(&state, &ctx, &slug, shown, None, StatusCode::OK).await;
            }
            Err(e) => Err(e),
        },
        "uris" => {
            let f = fields(&form);
            let change = ClientUpdate {
                redirect_uris: Some(lines(&field(&f, "redirect_uris").unwrap_or_default())),
                ..ClientUpdate::default()
            };
            clients::update(store, config, &fctx, &slug, &client_id, &change).await.map(|_| "flash-saved")
        }
        "enable" | "disable" => {
            let change = ClientUpdate { enabled: Some(action == "enable"), ..ClientUpdate::default() };
            clients::update(store, config, &fctx, &slug, &client_id, &change).await.map(|_| "flash-saved")
        }
        "delete" => {
            clients::delete(store, &fctx, &slug, &client_id).await.map(|()| "flash-oidc-client-deleted")
        }
        _ => return not_found_page(&ctx),
    };
    match outcome {
        Ok(flash) => flash_redirect(&ctx, FlashKind::Success, flash, &list),
        Err(e) if e.is_correctable() => {
            let (message, status) = explain(&ctx, &e);
            page(&state, &ctx, &slug, None, Some(message), status).await
        }
        Err(e) => error_page(&ctx, classify(&e)),
    }
}
