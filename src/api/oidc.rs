//! OpenID Connect (SPEC §3.9): the clients API under `/api/v1` (staff, bearer API tokens), and
//! the provider's machine endpoints under each organisation's issuer `/o/{slug}`: discovery,
//! JWKS, token, userinfo, introspection and revocation. The latter answer OAuth's error format
//! (`{"error", "error_description"}`, RFC 6749 §5.2), not the API's.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::auth::ApiCaller;
use super::error::{ApiError, ApiJson, ApiPath, ErrorBody};
use crate::domain::oidc::{IdTokenAlg, SCOPES};
use crate::domain::rfc3339;
use crate::flows::oidc::clients::{self, ClientInput, ClientUpdate};
use crate::flows::oidc::keys;
use crate::flows::oidc::provider::{self, ClientCredentials, OAuthError, Provider, refused};
use crate::state::AppState;
use crate::store::oidc::Client;

// ---- the clients API ----------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct ClientJson {
    pub client_id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub public: bool,
    pub first_party: bool,
    pub pkce_required: bool,
    /// The authorisation members need to sign in, if any.
    pub requires: Option<String>,
    /// The least membership role that may sign in, if any.
    pub role: Option<String>,
    pub id_token_alg: String,
    pub enabled: bool,
    /// The organisation's issuer (what the application is configured with).
    pub issuer: String,
    pub created_at: String,
    pub updated_at: String,
}

fn client_json(state: &AppState, slug: &str, c: Client) -> ClientJson {
    ClientJson {
        issuer: provider::issuer(&state.config.base_url, slug),
        public: c.is_public(),
        client_id: c.client_id,
        name: c.name,
        redirect_uris: c.redirect_uris,
        post_logout_redirect_uris: c.post_logout_redirect_uris,
        backchannel_logout_uri: c.backchannel_logout_uri,
        first_party: c.first_party,
        pkce_required: c.pkce_required,
        requires: c.requires_authorisation,
        role: c.requires_role,
        id_token_alg: c.id_token_alg,
        enabled: c.enabled,
        created_at: rfc3339(c.created_at),
        updated_at: rfc3339(c.updated_at),
    }
}

#[derive(Serialize, ToSchema)]
pub struct ClientList {
    pub items: Vec<ClientJson>,
}

#[derive(Serialize, ToSchema)]
pub struct ClientWithSecret {
    #[serde(flatten)]
    pub client: ClientJson,
    /// A confidential client's secret, shown this once; absent for a public client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// An organisation's OpenID Connect clients (staff).
#[utoipa::path(
    get, path = "/api/v1/orgs/{slug}/oidc/clients", tag = "oidc",
    params(("slug" = String, Path, description = "Organisation slug")),
    responses((status = 200, description = "The clients", body = ClientList)),
    security(("bearer" = []))
)]
pub async fn list_clients(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<ClientList>, ApiError> {
    let items = clients::list(&state.store, &ctx, &slug).await?;
    Ok(Json(ClientList { items: items.into_iter().map(|c| client_json(&state, &slug, c)).collect() }))
}

/// Registers a client (admin); a confidential client's secret is in the answer, once.
#[utoipa::path(
    post, path = "/api/v1/orgs/{slug}/oidc/clients", tag = "oidc",
    params(("slug" = String, Path, description = "Organisation slug")),
    request_body = ClientInput,
    responses(
        (status = 201, description = "Registered", body = ClientWithSecret),
        (status = 400, description = "`invalid_redirect_uris`, `insecure_redirect_uri`, `invalid_url`, `invalid_role`, `invalid_id_token_alg`, `pkce_required_for_public`, `invalid_authorisation_name`", body = ErrorBody),
        (status = 409, description = "`not_in_catalogue`: the required authorisation is not in the catalogue; `insecure_destination` or `private_destination` (the back-channel logout URI)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create_client(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath(slug): ApiPath<String>,
    ApiJson(input): ApiJson<ClientInput>,
) -> Result<(StatusCode, Json<ClientWithSecret>), ApiError> {
    let (client, secret) = clients::create(&state.store, &state.config.webhooks, &ctx, &slug, &input).await?;
    let body = ClientWithSecret {
        client: client_json(&state, &slug, client),
        client_secret: secret.map(|s| s.expose().to_string()),
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// One client (staff).
#[utoipa::path(
    get, path = "/api/v1/orgs/{slug}/oidc/clients/{client_id}", tag = "oidc",
    params(("slug" = String, Path, description = "Organisation slug"), ("client_id" = String, Path, description = "The client's id")),
    responses((status = 200, description = "The client", body = ClientJson)),
    security(("bearer" = []))
)]
pub async fn get_client(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath((slug, client_id)): ApiPath<(String, String)>,
) -> Result<Json<ClientJson>, ApiError> {
    let client = clients::get(&state.store, &ctx, &slug, &client_id).await?;
    Ok(Json(client_json(&state, &slug, client)))
}

/// Changes a client (admin): what is given is replaced.
#[utoipa::path(
    patch, path = "/api/v1/orgs/{slug}/oidc/clients/{client_id}", tag = "oidc",
    params(("slug" = String, Path, description = "Organisation slug"), ("client_id" = String, Path, description = "The client's id")),
    request_body = ClientUpdate,
    responses(
        (status = 200, description = "Changed", body = ClientJson),
        (status = 400, description = "`invalid_redirect_uris`, `insecure_redirect_uri`, `invalid_url`, `invalid_role`, `invalid_id_token_alg`, `invalid_authorisation_name`", body = ErrorBody),
        (status = 409, description = "`not_in_catalogue`: the required authorisation is not in the catalogue; `insecure_destination` or `private_destination` (the back-channel logout URI); `public_client`: a public client always uses PKCE", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn update_client(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath((slug, client_id)): ApiPath<(String, String)>,
    ApiJson(change): ApiJson<ClientUpdate>,
) -> Result<Json<ClientJson>, ApiError> {
    let client =
        clients::update(&state.store, &state.config.webhooks, &ctx, &slug, &client_id, &change).await?;
    Ok(Json(client_json(&state, &slug, client)))
}

/// A new secret for a confidential client (admin), shown once; the old one stops working.
#[utoipa::path(
    post, path = "/api/v1/orgs/{slug}/oidc/clients/{client_id}/rotate-secret", tag = "oidc",
    params(("slug" = String, Path, description = "Organisation slug"), ("client_id" = String, Path, description = "The client's id")),
    responses(
        (status = 200, description = "Rotated", body = ClientWithSecret),
        (status = 409, description = "`public_client`: a public client has no secret", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath((slug, client_id)): ApiPath<(String, String)>,
) -> Result<Json<ClientWithSecret>, ApiError> {
    let (client, secret) = clients::rotate_secret(&state.store, &ctx, &slug, &client_id).await?;
    Ok(Json(ClientWithSecret {
        client: client_json(&state, &slug, client),
        client_secret: Some(secret.expose().to_string()),
    }))
}

/// Deletes a client (admin): its codes and tokens stop working at once.
#[utoipa::path(
    delete, path = "/api/v1/orgs/{slug}/oidc/clients/{client_id}", tag = "oidc",
    params(("slug" = String, Path, description = "Organisation slug"), ("client_id" = String, Path, description = "The client's id")),
    responses((status = 204, description = "Deleted")),
    security(("bearer" = []))
)]
pub async fn delete_client(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath((slug, client_id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    clients::delete(&state.store, &ctx, &slug, &client_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct LogoutList {
    /// Newest first (the last 200).
    pub items: Vec<crate::store::oidc::LogoutRow>,
}

/// A client's back-channel logout deliveries (staff): state, attempts, last status and error.
#[utoipa::path(
    get, path = "/api/v1/orgs/{slug}/oidc/clients/{client_id}/logouts", tag = "oidc",
    params(("slug" = String, Path, description = "Organisation slug"), ("client_id" = String, Path, description = "The client's id")),
    responses((status = 200, description = "The deliveries", body = LogoutList)),
    security(("bearer" = []))
)]
pub async fn logouts(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath((slug, client_id)): ApiPath<(String, String)>,
) -> Result<Json<LogoutList>, ApiError> {
    let (_, items) = clients::logouts(&state.store, &ctx, &slug, &client_id, 200).await?;
    Ok(Json(LogoutList { items }))
}

// ---- the provider's machine endpoints -----------------------------------------------------

/// An OAuth error answer (RFC 6749 §5.2): 400, or 401 for `invalid_client` / `invalid_token`.
fn oauth_error(e: OAuthError, basic_used: bool) -> Response {
    let (error, description) = match e {
        OAuthError::Refused { error, description } => (error, description),
        OAuthError::Flow(flow) => {
            let info = crate::http_error::classify(&flow);
            if info.status == StatusCode::NOT_FOUND {
                ("invalid_request", "no such organisation".to_string())
            } else {
                let mut response =
                    (info.status, Json(json!({"error": "server_error", "error_description": info.code})))
                        .into_response();
                if let Some(secs) = info.retry_after
                    && let Ok(v) = HeaderValue::from_str(&secs.to_string())
                {
                    response.headers_mut().insert(header::RETRY_AFTER, v);
                }
                return no_store(response);
            }
        }
    };
    let status = match error {
        "invalid_client" | "invalid_token" => StatusCode::UNAUTHORIZED,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut response =
        (status, Json(json!({"error": error, "error_description": description}))).into_response();
    if error == "invalid_client" && basic_used {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"portico\""));
    }
    if error == "invalid_token" {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
    }
    no_store(response)
}

fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn cached(value: Value, max_age: i64) -> Response {
    let mut response = Json(value).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        response.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    response
}

async fn organisation(state: &AppState, slug: &str) -> Result<crate::store::orgs::Org, OAuthError> {
    let slug =
        crate::domain::Slug::parse(slug).map_err(|_| refused("invalid_request", "no such organisation"))?;
    crate::store::orgs::find_by_slug(state.store.pool(), slug.as_str())
        .await?
        .ok_or_else(|| refused("invalid_request", "no such organisation"))
}

fn provider_for<'a>(state: &'a AppState, slug: &str) -> Provider<'a> {
    Provider {
        store: &state.store,
        keys: &state.oidc_keys,
        encryption: &state.oidc_encryption,
        issuer: provider::issuer(&state.config.base_url, slug),
    }
}

/// OpenID Connect Discovery 1.0.
pub async fn discovery(State(state): State<AppState>, Path(slug): Path<String>) -> Response {
    let org = match organisation(&state, &slug).await {
        Ok(org) => org,
        Err(e) => return oauth_error(e, false),
    };
    let issuer = provider::issuer(&state.config.base_url, &org.slug);
    let document = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oidc/authorize"),
        "token_endpoint": format!("{issuer}/oidc/token"),
        "userinfo_endpoint": format!("{issuer}/oidc/userinfo"),
        "jwks_uri": format!("{issuer}/oidc/jwks"),
        "revocation_endpoint": format!("{issuer}/oidc/revoke"),
        "introspection_endpoint": format!("{issuer}/oidc/introspect"),
        "end_session_endpoint": format!("{issuer}/oidc/logout"),
        "scopes_supported": SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": IdTokenAlg::ALL.map(IdTokenAlg::as_str),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "sid", "amr", "azp",
            "email", "email_verified", "name", "given_name", "family_name", "preferred_username", "locale",
            "groups", "membership"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "authorization_response_iss_parameter_supported": true,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    });
    cached(document, 3600)
}

/// The signing keys (every published one).
pub async fn jwks(State(state): State<AppState>, Path(slug): Path<String>) -> Response {
    if let Err(e) = organisation(&state, &slug).await {
        return oauth_error(e, false);
    }
    match keys::jwks(&state.store).await {
        Ok(jwks) => cached(jwks, keys::JWKS_MAX_AGE_SECS),
        Err(e) => oauth_error(e.into(), false),
    }
}

/// A form body's fields; each at most once (RFC 6749 §3.2), and only as
/// `application/x-www-form-urlencoded`.
fn form_fields(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, OAuthError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(refused("invalid_request", "send the parameters as application/x-www-form-urlencoded"));
    }
    if std::str::from_utf8(body).is_err() {
        return Err(refused("invalid_request", "the body is not valid UTF-8"));
    }
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    for (i, (name, _)) in fields.iter().enumerate() {
        if fields[..i].iter().any(|(n, _)| n == name) {
            return Err(refused("invalid_request", format!("{name} is given more than once")));
        }
    }
    Ok(fields)
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// `client_secret_basic` (`Authorization: Basic`, both parts form-urlencoded, RFC 6749 §2.3.1)
/// or `client_secret_post` / a public client's `client_id` in the body; never both.
fn credentials(
    headers: &HeaderMap,
    fields: &[(String, String)],
) -> Result<(String, Option<String>, bool), OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, value)| value.trim().to_string());
    let body_id = field(fields, "client_id");
    let body_secret = field(fields, "client_secret");
    match basic {
        Some(value) => {
            if body_secret.is_some() {
                return Err(refused("invalid_request", "use one client authentication method"));
            }
            let bad = || refused("invalid_client", "malformed Basic credentials");
            let decoded = STANDARD.decode(value).map_err(|_| bad())?;
            let text = String::from_utf8(decoded).map_err(|_| bad())?;
            let (id, secret) = text.split_once(':').ok_or_else(bad)?;
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8()
                    .map(|c| c.into_owned())
            };
            let (id, secret) = (decode(id).map_err(|_| bad())?, decode(secret).map_err(|_| bad())?);
            if body_id.is_some_and(|b| b != id) {
                return Err(refused("invalid_request", "client_id differs from the Basic credentials"));
            }
            Ok((id, Some(secret), true))
        }
        None => {
            let id = body_id.ok_or_else(|| refused("invalid_client", "client authentication is required"))?;
            Ok((id.to_string(), body_secret.map(String::from), false))
        }
    }
}

/// The client a machine request authenticates as.
async fn authenticated(
    state: &AppState,
    slug: &str,
    headers: &HeaderMap,
    fields: &[(String, String)],
) -> Result<(Client, bool), (OAuthError, bool)> {
    let (id, secret, basic) = credentials(headers, fields).map_err(|e| (e, false))?;
    let org = organisation(state, slug).await.map_err(|e| (e, basic))?;
    let p = provider_for(state, &org.slug);
    let client =
        provider::authenticate(&p, &org, &ClientCredentials { client_id: &id, secret: secret.as_deref() })
            .await
            .map_err(|e| (e, basic))?;
    Ok((client, basic))
}

/// The token endpoint: `authorization_code` and `refresh_token`.
pub async fn token(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = match form_fields(&headers, &body) {
        Ok(f) => f,
        Err(e) => return oauth_error(e, false),
    };
    let (client, basic) = match authenticated(&state, &slug, &headers, &fields).await {
        Ok(c) => c,
        Err((e, basic)) => return oauth_error(e, basic),
    };
    let p = provider_for(&state, &slug);
    let outcome = match field(&fields, "grant_type") {
        Some("authorization_code") => match field(&fields, "code") {
            Some(code) => {
                provider::exchange_code(
                    &p,
                    &client,
                    code,
                    field(&fields, "redirect_uri"),
                    field(&fields, "code_verifier"),
                )
                .await
            }
            None => Err(refused("invalid_request", "code is required")),
        },
        Some("refresh_token") => match field(&fields, "refresh_token") {
            Some(token) => provider::refresh(&p, &client, token).await,
            None => Err(refused("invalid_request", "refresh_token is required")),
        },
        Some(_) => Err(refused("unsupported_grant_type", "authorization_code and refresh_token only")),
        None => Err(refused("invalid_request", "grant_type is required")),
    };
    match outcome {
        Ok(t) => no_store(
            Json(json!({
                "access_token": t.access_token,
                "token_type": "Bearer",
                "expires_in": t.expires_in,
                "refresh_token": t.refresh_token,
                "id_token": t.id_token,
                "scope": t.scope,
            }))
            .into_response(),
        ),
        Err(e) => oauth_error(e, basic),
    }
}

/// Userinfo: `Authorization: Bearer ACCESS_TOKEN` (GET or POST).
pub async fn userinfo(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = organisation(&state, &slug).await {
        return oauth_error(e, false);
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string());
    let Some(presented) = presented.filter(|t| !t.is_empty() && t.len() <= 200) else {
        return oauth_error(refused("invalid_token", "an access token is required"), false);
    };
    match provider::userinfo(&state.store, &presented).await {
        Ok(claims) => no_store(Json(claims).into_response()),
        Err(e) => oauth_error(e, false),
    }
}

/// The client and the `token` of an introspection or revocation request.
async fn token_request(
    state: &AppState,
    slug: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Client, bool, String), Response> {
    let fields = form_fields(headers, body).map_err(|e| oauth_error(e, false))?;
    let (client, basic) =
        authenticated(state, slug, headers, &fields).await.map_err(|(e, basic)| oauth_error(e, basic))?;
    let token = field(&fields, "token")
        .ok_or_else(|| oauth_error(refused("invalid_request", "token is required"), basic))?;
    Ok((client, basic, token.to_string()))
}

/// Token introspection (RFC 7662) by the client the token was issued to.
pub async fn introspect(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (client, basic, token) = match token_request(&state, &slug, &headers, &body).await {
        Ok(request) => request,
        Err(refusal) => return refusal,
    };
    match provider::introspect(&provider_for(&state, &slug), &client, &token).await {
        Ok(answer) => no_store(Json(answer).into_response()),
        Err(e) => oauth_error(e, basic),
    }
}

/// Token revocation (RFC 7009): 200 whether or not the token was known.
pub async fn revoke(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (client, basic, token) = match token_request(&state, &slug, &headers, &body).await {
        Ok(request) => request,
        Err(refusal) => return refusal,
    };
    match provider::revoke_token(&provider_for(&state, &slug), &client, &token).await {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(e) => oauth_error(e, basic),
    }
}

/// A wrong method on a machine endpoint: OAuth's error format.
pub async fn method_not_allowed() -> Response {
    let body = Json(
        json!({"error": "invalid_request", "error_description": "this endpoint does not take that method"}),
    );
    no_store((StatusCode::METHOD_NOT_ALLOWED, body).into_response())
}
