//! The transactional logic of each user-facing flow, independent of HTTP. Web and API
//! handlers are thin over these functions and map [`FlowError`] to responses in one place
//! (`crate::http_error`).

pub mod access;
pub mod account;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod demo;
pub mod erasure;
pub mod export;
pub mod import;
pub mod invitations;
pub mod lifecycle;
pub mod mail;
pub mod members;
pub mod oidc;
pub mod orgs;
pub mod overview;
pub mod passkeys;
pub mod password;
pub mod password_reset;
pub mod payments;
pub mod plans;
pub mod retention;
pub mod sealing;
pub mod second_factor;
pub mod settings;
pub mod signup;
pub mod staff;
pub mod throttle;
pub mod webhooks;

use serde::Deserialize as _;

use crate::domain::StaffRole;
use crate::store::StoreError;
use crate::store::audit::{Actor, Origin};

/// A field that failed validation, with a machine code (`invalid_slug`). The text shown to
/// people comes from the Fluent key `field-<code with dashes>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub code: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("invalid input: {0:?}")]
    Invalid(Vec<FieldError>),
    #[error("conflict: {code}")]
    Conflict { code: &'static str },
    #[error("not found")]
    NotFound,
    /// A thing a field names that does not exist, with a code saying which (404).
    #[error("unknown {field}: {code}")]
    Unknown { field: &'static str, code: &'static str },
    #[error("not allowed")]
    Forbidden,
    #[error("too many requests; retry after {retry_after}s")]
    RateLimited { retry_after: i64 },
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("status {from} cannot become {to}")]
    TransitionNotAllowed { from: &'static str, to: &'static str },
    #[error("a pending invitation exists: {invitation_id}")]
    InvitationPending { invitation_id: i64 },
    /// A bounded resource (the password hashing queue) is full: try again shortly.
    #[error("busy; retry after {retry_after}s")]
    Busy { retry_after: i64 },
    /// Granting an authorisation needs others the member does not hold (named).
    #[error("missing prerequisites: {}", .0.join(", "))]
    MissingPrerequisites(Vec<String>),
    /// Stripe failed, timed out or could not be reached (502; the action may be retried).
    #[error("payment provider: {0}")]
    Upstream(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl FlowError {
    /// A mistake in what was asked (a bad value, a conflict, an unknown name, a transition or a
    /// grant not allowed yet) that the page it came from can explain, as opposed to a failure.
    pub fn is_correctable(&self) -> bool {
        matches!(
            self,
            FlowError::Invalid(_)
                | FlowError::Conflict { .. }
                | FlowError::Unknown { .. }
                | FlowError::TransitionNotAllowed { .. }
                | FlowError::MissingPrerequisites(_)
        )
    }
}

pub type FlowResult<T> = Result<T, FlowError>;

/// Serde glue for inputs: a field that may be left out but, when given, is not `null` (so
/// "absent" has one spelling). Use with `#[serde(default, deserialize_with = "present")]`.
pub fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// As [`present`], for a whole number: JSON has one number type, so `53.0` is 53 (as JSON
/// Schema's `integer` says); `53.5` is refused.
pub fn present_whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let number = serde_json::Number::deserialize(d)?;
    whole_number(&number)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("{number} is not a whole number")))
}

/// A JSON number that is a whole number (`53` or `53.0`), as an `i64`.
pub fn whole_number(number: &serde_json::Number) -> Option<i64> {
    match (number.as_i64(), number.as_f64()) {
        (Some(n), _) => Some(n),
        (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9e15 => Some(f as i64),
        _ => None,
    }
}

/// One field that failed validation.
pub fn invalid(field: &'static str, code: &'static str) -> FlowError {
    FlowError::Invalid(vec![FieldError { field, code }])
}

/// Every field that failed validation, as the domain's validators report them.
pub fn invalid_fields(problems: Vec<crate::domain::member::Problem>) -> FlowError {
    FlowError::Invalid(problems.into_iter().map(|(field, code)| FieldError { field, code }).collect())
}

/// Who is acting, with what authority, from where.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub actor: Actor,
    pub staff_role: Option<StaffRole>,
    pub origin: Origin,
    /// The API token the request came with, for per-token throttles.
    pub api_token_id: Option<i64>,
}

impl Ctx {
    /// The command line acts with full authority; it is run by whoever operates the instance.
    pub fn cli() -> Ctx {
        Ctx {
            actor: Actor::system("cli"),
            staff_role: Some(StaffRole::Admin),
            origin: Origin::default(),
            api_token_id: None,
        }
    }

    pub fn require_admin(&self) -> FlowResult<()> {
        match self.staff_role {
            Some(role) if role.can_administer() => Ok(()),
            _ => Err(FlowError::Forbidden),
        }
    }

    pub fn require_staff(&self) -> FlowResult<()> {
        self.staff_role.map(|_| ()).ok_or(FlowError::Forbidden)
    }
}
