//! The member's dashboard: for now, the organisations they belong to.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::pages::Dashboard;
use super::{WebCtx, error_page, render, see_other};
use crate::http_error::classify;
use crate::server::AppState;
use crate::store::memberships;

pub async fn show(State(state): State<AppState>, ctx: WebCtx) -> Response {
    let Some(user) = &ctx.user else { return see_other("/login") };
    match memberships::of_user(state.store.pool(), user.user_id).await {
        Ok(memberships) => render(StatusCode::OK, &Dashboard { p: &ctx, memberships }),
        Err(e) => error_page(&ctx, classify(&e.into())),
    }
}
