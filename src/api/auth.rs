use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::domain::SecretToken;
use crate::flows::Ctx;
use crate::state::{AppState, RequestOrigin};
use crate::store::audit::Actor;
use crate::store::{StoreError, api_tokens};

/// The token of `Authorization: Bearer <token>`, if the header has one of a plausible length.
pub fn presented_bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // The scheme is case-insensitive (RFC 9110 §11.1): `bearer` and `BEARER` too.
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty() && t.len() <= 200)
}

/// A staff member authenticated by `Authorization: Bearer <token>`.
pub struct ApiCaller(pub Ctx);

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let unauthorized =
            || ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "a valid API token is required");
        let presented = presented_bearer(parts).ok_or_else(unauthorized)?;
        let owner = api_tokens::find_staff_owner(state.store.pool(), &SecretToken::hash_presented(presented))
            .await
            .map_err(|e: StoreError| ApiError::from(crate::flows::FlowError::from(e)))?
            .ok_or_else(unauthorized)?;
        // Last use, recorded at most once a minute per token.
        let now = crate::store::now();
        if owner.last_used_at.is_none_or(|at| now - at >= 60) {
            api_tokens::touch(state.store.pool(), owner.token_id, now)
                .await
                .map_err(|e: StoreError| ApiError::from(crate::flows::FlowError::from(e)))?;
        }
        let Ok(RequestOrigin(origin)) = RequestOrigin::from_request_parts(parts, state).await;
        Ok(ApiCaller(Ctx {
            actor: Actor::user(owner.user_id, &owner.email),
            staff_role: Some(owner.staff_role),
            origin,
            api_token_id: Some(owner.token_id),
        }))
    }
}
