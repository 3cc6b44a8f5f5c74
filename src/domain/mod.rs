//! Pure types with invariants. Each `parse` either returns a value that is valid by construction
//! or says why not; nothing here does I/O.

pub mod csv;
pub mod destination;
mod email;
pub mod erasure;
pub mod events;
pub mod import;
pub mod member;
mod names;
pub mod oidc;
mod org;
mod password;
mod roles;
pub mod second_factor;
mod secret_token;
pub mod settings;
pub mod stripe_signature;
pub mod text;
pub mod webhook_signature;

pub use email::{Email, EmailError};
pub use names::{AuthorisationName, NameError, Slug, Username};
pub use org::{OrgKind, SignupMode, display_name};
pub use password::{NewPassword, PasswordError};
pub use roles::{InvitationState, MembershipRole, MembershipStatus, StaffRole, UnknownValue};
pub use secret_token::SecretToken;
pub use settings::{
    ALL_SETTINGS, AUDIT_RETENTION_DAYS, INVITE_CREATES_PER_CLIENT, INVITE_LIMIT_PER_RECIPIENT,
    LOGIN_ATTEMPTS_PER_IP, SIGNUP_EMAILS_PER_RECIPIENT, SIGNUP_REQUESTS_PER_IP, SettingDef, SettingError,
};

/// A point in time as people and tools write it: RFC 3339, `YYYY-MM-DD` (midnight UTC) or
/// Unix seconds.
pub fn parse_instant(value: &str) -> Option<i64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<i64>() {
        return Some(seconds);
    }
    if let Ok(t) = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339) {
        return Some(t.unix_timestamp());
    }
    let date = time::Date::parse(value, time::macros::format_description!("[year]-[month]-[day]")).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp())
}

/// Unix seconds as an RFC 3339 UTC timestamp (`2026-11-22T23:30:00Z`).
pub fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}
