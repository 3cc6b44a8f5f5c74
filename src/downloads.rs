//! Responses offered as files to save (exports): never cached.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// A JSON document offered as a file to save (`filename`), never cached.
pub fn json(document: &serde_json::Value, filename: &str) -> Response {
    let body = serde_json::to_string_pretty(document).unwrap_or_else(|_| "{}".into());
    (
        [
            (header::CONTENT_TYPE, "application/json; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}

/// A stream of JSON Lines offered as a file.
pub fn jsonl(
    lines: impl futures_util::Stream<Item = crate::flows::FlowResult<String>> + Send + 'static,
    filename: &str,
) -> Response {
    use futures_util::StreamExt;
    let body = axum::body::Body::from_stream(lines.map(|chunk| chunk.map_err(std::io::Error::other)));
    (
        [
            (header::CONTENT_TYPE, "application/x-ndjson".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}
