//! The one place where flow errors become HTTP statuses and error codes. The JSON API and the
//! HTML pages both start from [`ErrorInfo`].

use axum::http::StatusCode;

use crate::flows::{FieldError, FlowError};
use crate::i18n::Tr;

#[derive(Debug, Clone)]
pub struct ErrorInfo {
    pub status: StatusCode,
    pub code: &'static str,
    /// Fluent key of the human message.
    pub message_key: &'static str,
    pub retry_after: Option<i64>,
    pub fields: Vec<FieldError>,
    /// Words the message names (missing prerequisites), appended to it.
    pub detail: Option<String>,
}

impl ErrorInfo {
    pub fn new(status: StatusCode, code: &'static str, message_key: &'static str) -> ErrorInfo {
        ErrorInfo { status, code, message_key, retry_after: None, fields: vec![], detail: None }
    }
}

/// Fluent key for a field error code: `invalid_slug` → `field-invalid-slug`.
pub fn field_key(code: &str) -> String {
    format!("field-{}", code.replace('_', "-"))
}

/// What a client is told to wait when the database cannot be reached.
pub const STORE_RETRY_AFTER_SECS: i64 = 5;

pub fn classify(error: &FlowError) -> ErrorInfo {
    match error {
        FlowError::Invalid(fields) => {
            // One bad field names itself in the code (`invalid_email`); several say so generally.
            let code = match fields.as_slice() {
                [single] => single.code,
                _ => "invalid_request",
            };
            ErrorInfo {
                fields: fields.clone(),
                ..ErrorInfo::new(StatusCode::BAD_REQUEST, code, "error-invalid-input")
            }
        }
        FlowError::Conflict { code } => ErrorInfo::new(StatusCode::CONFLICT, code, conflict_key(code)),
        FlowError::NotFound => ErrorInfo::new(StatusCode::NOT_FOUND, "not_found", "error-not-found"),
        FlowError::Unknown { field, code } => ErrorInfo {
            fields: vec![FieldError { field, code }],
            ..ErrorInfo::new(StatusCode::NOT_FOUND, code, "error-not-found")
        },
        FlowError::Forbidden => ErrorInfo::new(StatusCode::FORBIDDEN, "forbidden", "error-forbidden"),
        FlowError::RateLimited { retry_after } => ErrorInfo {
            retry_after: Some(*retry_after),
            ..ErrorInfo::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "error-rate-limited")
        },
        FlowError::TransitionNotAllowed { .. } => ErrorInfo::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "transition_not_allowed",
            "error-transition-not-allowed",
        ),
        FlowError::InvitationPending { .. } => {
            ErrorInfo::new(StatusCode::CONFLICT, "invitation_pending", "error-invitation-pending")
        }
        FlowError::InvalidCredentials => {
            ErrorInfo::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "login-failed")
        }
        FlowError::Busy { retry_after } => ErrorInfo {
            retry_after: Some(*retry_after),
            ..ErrorInfo::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "error-busy")
        },
        FlowError::MissingPrerequisites(names) => ErrorInfo {
            detail: Some(names.join(", ")),
            ..ErrorInfo::new(StatusCode::CONFLICT, "missing_prerequisites", "error-missing-prerequisites")
        },
        FlowError::Upstream(e) => {
            tracing::warn!(error = %e, "payment provider failed");
            ErrorInfo {
                retry_after: Some(STORE_RETRY_AFTER_SECS),
                ..ErrorInfo::new(
                    StatusCode::BAD_GATEWAY,
                    "payment_provider_unavailable",
                    "error-payment-provider",
                )
            }
        }
        FlowError::Store(e) if e.is_unavailable() => {
            crate::metrics::STORE_UNAVAILABLE.add(1);
            tracing::warn!(error = %e, "database unavailable");
            ErrorInfo {
                retry_after: Some(STORE_RETRY_AFTER_SECS),
                ..ErrorInfo::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "error-database-unavailable",
                )
            }
        }
        FlowError::Store(e) => {
            tracing::error!(error = %e, "storage error");
            ErrorInfo::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "error-internal")
        }
        FlowError::Internal(e) => {
            tracing::error!(error = %e, "internal error");
            ErrorInfo::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "error-internal")
        }
    }
}

/// The Fluent key of the message for an error code whose message is not a field's own
/// (`field-{code}`). Every code the server answers has one that says what went wrong and what
/// to do; `tests/error_messages` walks the codes of the OpenAPI document and of the flows.
pub fn code_key(code: &str) -> Option<&'static str> {
    Some(match code {
        // Conflicts.
        "slug_taken" => "field-slug-taken",
        "already_member" => "error-already-member",
        "not_pending" => "error-invitation-not-pending",
        "credential_taken" => "error-credential-taken",
        "not_in_catalogue" => "field-not-in-catalogue",
        "self_prerequisite" => "error-self-prerequisite",
        "last_admin" => "error-last-admin",
        "own_account" => "error-own-account",
        "email_taken" => "error-email-taken",
        "email_in_use" => "error-email-in-use",
        "insecure_destination" => "error-insecure-destination",
        "private_destination" => "error-private-destination",
        "not_finished" => "error-not-finished",
        "payload_pruned" => "error-payload-pruned",
        "status_changed" => "error-status-changed",
        "price_taken" => "error-price-taken",
        "account_exists" => "error-account-exists",
        "link_in_use" => "error-link-in-use",
        "account_changed" => "error-account-changed",
        "nothing_to_pay" => "error-nothing-to-pay",
        "no_customer" => "error-no-customer",
        "invitation_pending" => "error-invitation-pending",
        "public_client" => "error-public-client",
        "totp_exists" => "error-totp-exists",
        "passkeys_unavailable" => "error-passkeys-unavailable",
        "passkey_exists" => "error-passkey-exists",
        "missing_prerequisites" => "error-missing-prerequisites",
        "already_erased" => "error-already-erased",
        "erasure_pending" => "error-erasure-pending",
        "address_erased_banned" => "error-address-erased-banned",
        // Other refusals.
        "not_found" => "error-not-found",
        "forbidden" => "error-forbidden",
        "rate_limited" => "error-rate-limited",
        "transition_not_allowed" => "error-transition-not-allowed",
        "invalid_credentials" => "login-failed",
        "busy" => "error-busy",
        "payment_provider_unavailable" => "error-payment-provider",
        "database_unavailable" => "error-database-unavailable",
        "internal_error" => "error-internal",
        "unauthorized" => "error-unauthorized",
        "payload_too_large" => "error-too-large",
        "unsupported_media_type" => "error-unsupported-media-type",
        "malformed_json" => "error-malformed-json",
        "invalid_request" => "error-invalid-request",
        "method_not_allowed" => "error-method-not-allowed",
        "request_timeout" => "error-request-timeout",
        _ => return None,
    })
}

/// The message of a code in one locale: its own (see [`code_key`]) or its field's.
pub fn code_message(code: &str, t: &Tr) -> Option<String> {
    match code_key(code) {
        Some(key) => Some(t.t(key)),
        None => {
            let key = field_key(code);
            t.has(&key).then(|| t.t(&key))
        }
    }
}

fn conflict_key(code: &str) -> &'static str {
    code_key(code).unwrap_or("error-conflict")
}

/// The message of an error in one locale, with every field error spelled out.
pub fn describe(info: &ErrorInfo, t: &Tr) -> String {
    let mut message = t.t(info.message_key);
    if let Some(detail) = &info.detail {
        message.push_str(&format!(" {detail}."));
    }
    for f in &info.fields {
        message.push_str(&format!(" {}: {}", f.field, t.t(&field_key(f.code))));
    }
    message
}
