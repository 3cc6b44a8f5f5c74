use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::ApiCaller;
use super::error::{ApiError, ApiJson, ApiPath, ErrorBody};
use crate::flows;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingInput {
    /// A whole number within the setting's range (a JSON number; `12.0` is 12).
    #[schema(value_type = Object)]
    pub value: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct SettingJson {
    pub key: String,
    pub value: i64,
}

/// Change a runtime setting (admin staff). It takes effect at once in every server process.
#[utoipa::path(
    put, path = "/api/v1/settings/{key}", tag = "settings",
    params(("key" = String, Path, description = "e.g. `security.invite_limit_per_recipient_per_hour`")),
    request_body = SettingInput,
    responses(
        (status = 200, description = "Stored", body = SettingJson),
        (status = 400, description = "`invalid_setting_value`", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "Unknown setting", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn put(
    State(state): State<AppState>,
    ApiCaller(ctx): ApiCaller,
    ApiPath(key): ApiPath<String>,
    ApiJson(input): ApiJson<SettingInput>,
) -> Result<Json<SettingJson>, ApiError> {
    let raw = match &input.value {
        // JSON has one number type: `846.0` is the whole number 846.
        serde_json::Value::Number(n) => {
            flows::whole_number(n).map_or_else(|| n.to_string(), |i| i.to_string())
        }
        _ => {
            return Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "invalid_setting_value",
                "the value is a whole number (a JSON number, not a string)",
            ));
        }
    };
    let value = flows::settings::set(&state.store, &ctx, &key, &raw).await?;
    Ok(Json(SettingJson { key, value }))
}
