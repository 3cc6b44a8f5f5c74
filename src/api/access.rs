//! Door devices and the access list they poll (SPEC §3.6).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{ApiCaller, presented_bearer};
use super::error::{ApiError, ApiJson, ApiPath, ErrorBody};
use crate::domain::rfc3339;
use crate::flows::access::{self, DeviceRequest, DeviceStatus, MAX_WAIT_SECS, Poll};
use crate::flows::{self, FlowError};
use crate::state::{AppState, RequestOrigin};
use crate::store::access::Device;

/// A door or tool controller authenticated by its device token.
pub struct DeviceCaller {
    pub device: Device,
    pub address: String,
    pub agent: Option<String>,
}

impl FromRequestParts<AppState> for DeviceCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let unauthorized =
            || ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "a valid device token is required");
        let presented = presented_bearer(parts).ok_or_else(unauthorized)?;
        let device = access::device_for_token(&state.store, presented).await?.ok_or_else(unauthorized)?;
        let Ok(RequestOrigin(origin)) = RequestOrigin::from_request_parts(parts, state).await;
        Ok(DeviceCaller {
            device,
            address: origin.client_ip.unwrap_or_default(),
            agent: origin.user_agent.map(|a| a.chars().take(200).collect()),
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct CredentialJson {
    /// The RFID tag, 10 digits.
    pub tag: String,
    /// The membership id.
    pub member: i64,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct AccessListJson {
    /// The list version, also sent as the `ETag`.
    pub version: String,
    /// RFC 3339.
    pub generated_at: String,
    pub credentials: Vec<CredentialJson>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PollQuery {
    /// Seconds (0 to 60) to hold a request whose `If-None-Match` is current until the list changes.
    #[param(minimum = 0, maximum = 60)]
    pub wait: Option<u64>,
}

/// The version a device says it holds: the first entity tag of `If-None-Match`.
fn held_version(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::IF_NONE_MATCH)?.to_str().ok()?;
    let first = value.split(',').next()?.trim();
    Some(first.trim_start_matches("W/").trim_matches('"').to_string())
}

/// The access list of the calling device (device token). With `If-None-Match` set to the
/// current version the answer is 304, after waiting up to `wait` seconds for a change.
#[utoipa::path(
    get, path = "/api/v1/orgs/{slug}/access-list", tag = "access",
    params(("slug" = String, Path, description = "Organisation slug"), PollQuery,
           ("If-None-Match" = Option<String>, Header, description = "The version the device holds")),
    responses(
        (status = 200, description = "The list; `ETag` is its version", body = AccessListJson),
        (status = 304, description = "The version held is current"),
        (status = 401, description = "Missing, unknown or revoked device token", body = ErrorBody),
        (status = 403, description = "The device belongs to another organisation", body = ErrorBody),
    ),
    security(("device" = []))
)]
pub async fn access_list(
    State(state): State<AppState>,
    caller: DeviceCaller,
    ApiPath(slug): ApiPath<String>,
    headers: HeaderMap,
    query: Result<Query<PollQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", e.body_text()))?;
    let wait = query.wait.unwrap_or(0);
    if wait > MAX_WAIT_SECS {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_wait", "wait is at most 60 seconds"));
    }
    let org = crate::store::orgs::find_by_slug(state.store.pool(), &slug)
        .await
        .map_err(FlowError::from)?
        .ok_or(FlowError::Forbidden)?;
    let request =
        DeviceRequest { device: &caller.device, address: &caller.address, agent: caller.agent.as_deref() };
    let held = held_version(&headers);
    let answer =
        access::poll(&state.store, &state.access_watch, &request, &org, held.as_deref(), wait).await?;
    Ok(match answer {
        Poll::Current(version) => {
            (StatusCode::NOT_MODIFIED, [(header::ETAG, format!("\"{version}\""))]).into_response()
        }
        Poll::List(list) => {
            let etag = format!("\"{}\"", list.version);
            let body = AccessListJson {
                version: list.version,
                generated_at: rfc3339(list.generated_at),
                credentials: list
                    .entries
                    .into_iter()
                    .map(|e| CredentialJson { tag: e.tag, member: e.membership_id, name: e.name })
                    .collect(),
            };
            ([(header::ETAG, etag)], Json(body)).into_response()
        }
    })
}

#[derive(Serialize, ToSchema)]
pub struct DeviceJson {
    pub id: i64,
    pub name: String,
    /// The authorisation a member needs to be on this device's list.
    pub requires: Option<String>,
    pub revoked: bool,
    /// RFC 3339, or null before the first contact.
    pub last_seen_at: Option<String>,
    pub last_address: Option<String>,
    /// The list version the device held at its last contact.
    pub held_version: Option<String>,
    /// The version it should hold now.
    pub current_version: String,
    /// It held the current list at its last contact.
    pub current: bool,
}

impl From<DeviceStatus> for DeviceJson {
    fn from(s: DeviceStatus) -> DeviceJson {
        DeviceJson {
            id: s.device.id,
            name: s.device.name,
            requires: s.device.requires,
            revoked: s.device.revoked_at.is_some(),
            last_seen_at: s.device.last_seen_at.map(rfc3339),
            last_address: s.device.last_address,
            held_version: s.device.held_version,
            current_version: s.current_version,
            current: s.current,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DeviceList {
    pub items: Vec<DeviceJson>,
}

/// An organisation's devices with what each holds (staff).
#[utoipa::path(
    get, path = "/api/v1/orgs/{slug}/devices", tag = "access",
    params(("slug" = String, Path, description = "Organisation slug")),
    responses((status = 200, description = "The devices", body = DeviceList)),
    security(("bearer" = []))
)]
pub async fn list_devices(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<DeviceList>, ApiError> {
    let (devices, _) = access::overview(&state.store, &ctx, &slug).await?;
    Ok(Json(DeviceList { items: devices.into_iter().map(DeviceJson::from).collect() }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceInput {
    /// e.g. "Front door" (at most 100 characters).
    pub name: String,
    /// An authorisation of the organisation's catalogue a member needs on this device.
    #[serde(default, deserialize_with = "crate::flows::present")]
    pub requires: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedDeviceJson {
    pub id: i64,
    pub name: String,
    pub requires: Option<String>,
    /// The device token, shown this once (only its hash is stored).
    pub token: String,
}

/// Register a device (admin); its token is in the answer, once.
#[utoipa::path(
    post, path = "/api/v1/orgs/{slug}/devices", tag = "access",
    params(("slug" = String, Path, description = "Organisation slug")),
    request_body = DeviceInput,
    responses(
        (status = 201, description = "Created", body = CreatedDeviceJson),
        (status = 404, description = "`not_in_catalogue`", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create_device(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath(slug): ApiPath<String>,
    ApiJson(input): ApiJson<DeviceInput>,
) -> Result<(StatusCode, Json<CreatedDeviceJson>), ApiError> {
    let created =
        access::create_device(&state.store, &ctx, &slug, &input.name, input.requires.as_deref()).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedDeviceJson {
            id: created.device.id,
            name: created.device.name,
            requires: created.device.requires,
            token: created.token,
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceUpdate {
    /// The authorisation a member needs on this device; an empty string: none.
    pub requires: String,
}

/// Change the authorisation a device requires (admin); recorded as a list change.
#[utoipa::path(
    patch, path = "/api/v1/orgs/{slug}/devices/{id}", tag = "access",
    params(("slug" = String, Path, description = "Organisation slug"), ("id" = i64, Path, description = "Device id")),
    request_body = DeviceUpdate,
    responses(
        (status = 200, description = "Changed"),
        (status = 404, description = "No such device", body = ErrorBody),
        (status = 409, description = "`not_in_catalogue`: no such authorisation", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn update_device(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath((slug, id)): ApiPath<(String, i64)>,
    ApiJson(input): ApiJson<DeviceUpdate>,
) -> Result<Json<serde_json::Value>, ApiError> {
    flows::access::set_requirement(&state.store, &ctx, &slug, id, Some(&input.requires)).await?;
    Ok(Json(serde_json::json!({ "requires": Some(input.requires.trim()).filter(|r| !r.is_empty()) })))
}

/// Revoke a device's token (admin).
#[utoipa::path(
    post, path = "/api/v1/orgs/{slug}/devices/{id}/revoke", tag = "access",
    params(("slug" = String, Path, description = "Organisation slug"), ("id" = i64, Path, description = "Device id")),
    responses((status = 200, description = "Revoked"), (status = 404, description = "No such device", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn revoke_device(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath((slug, id)): ApiPath<(String, i64)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    flows::access::revoke_device(&state.store, &ctx, &slug, id).await?;
    Ok(Json(serde_json::json!({ "revoked": true })))
}
