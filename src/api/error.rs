use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::flows::FlowError;
use crate::http_error::{ErrorInfo, classify, describe, field_key};
use crate::i18n::Locale;

/// Every API error answers `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug)]
pub struct ApiError {
    pub info: ErrorInfo,
    /// Overrides the message of `info` (used for parser messages about malformed input).
    pub detail: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_email`, `slug_taken`, `rate_limited`.
    pub code: String,
    pub message: String,
    /// Per-field messages when the input was invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub fields: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { info: ErrorInfo::new(status, code, "error-invalid-input"), detail: Some(message.into()) }
    }
}

impl From<FlowError> for ApiError {
    fn from(e: FlowError) -> ApiError {
        ApiError { info: classify(&e), detail: None }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        let (status, code) = match &rejection {
            JsonRejection::MissingJsonContentType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            JsonRejection::JsonSyntaxError(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
            JsonRejection::JsonDataError(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            JsonRejection::BytesRejection(_) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            }
            _ => (StatusCode::BAD_REQUEST, "invalid_request"),
        };
        ApiError::new(status, code, rejection.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let t = Locale::En.tr();
        let fields = (!self.info.fields.is_empty()).then(|| {
            self.info
                .fields
                .iter()
                .map(|f| (f.field.to_string(), serde_json::Value::String(t.t(&field_key(f.code)))))
                .collect()
        });
        let message = self.detail.clone().unwrap_or_else(|| describe(&self.info, &t));
        let body = ErrorBody { error: ErrorDetail { code: self.info.code.to_string(), message, fields } };
        let mut response = (self.info.status, Json(body)).into_response();
        if let Some(secs) = self.info.retry_after
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        if self.info.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", rejection.body_text())
    }
}

/// Path parameters whose rejections (invalid UTF-8, wrong type) answer with the error body.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// A request's head and whole body. The body was already read within its size and time limits
/// (`server::limit_body`).
async fn read_body(
    request: axum::extract::Request,
) -> Result<(axum::http::request::Parts, axum::body::Bytes), ApiError> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", e.to_string()))?;
    Ok((parts, bytes))
}

/// A JSON body whose rejections (wrong content type, malformed, unknown fields, too large)
/// answer with the API error body. Every body of this API is an object: serde would also read a
/// struct from an array (`["Door"]`), so anything but an object is refused first.
pub struct ApiJson<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let (parts, bytes) = read_body(request).await?;
        let says_json = parts
            .headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("json"));
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if says_json && first.is_some_and(|b| *b != b'{') {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the body must be a JSON object",
            ));
        }
        let request = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
        let axum::Json(value) = axum::Json::<T>::from_request(request, state).await?;
        Ok(ApiJson(value))
    }
}

/// An optional body: none (or only whitespace) and `null` are `None`; anything else is read as
/// an [`ApiJson`].
pub struct OptionalApiJson<T>(pub Option<T>);

impl<T, S> axum::extract::FromRequest<S> for OptionalApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let (parts, bytes) = read_body(request).await?;
        if matches!(bytes.trim_ascii(), b"" | b"null") {
            return Ok(OptionalApiJson(None));
        }
        let request = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
        let ApiJson(value) = ApiJson::<T>::from_request(request, state).await?;
        Ok(OptionalApiJson(Some(value)))
    }
}
