//! `/invite/{token}`: GET only shows the invitation (link scanners must not use it up); POST
//! accepts it. Every link that cannot be used gets the same page, whatever the reason.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::pages::InviteAccept;
use super::{FlashKind, Link, WebCtx, error_page, flash_redirect, link_gone_page, password_opened, render};
use crate::flows::invitations::{self, Acceptance, Offer};
use crate::flows::{FlowError, FlowResult};
use crate::http_error::{ErrorInfo, classify, field_key};
use crate::state::AppState;

/// Tokens are 43 base64url characters; anything else is not worth a database query.
fn plausible(token: &str) -> bool {
    token.len() <= 100 && token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

async fn offer(state: &AppState, token: &str) -> FlowResult<Offer> {
    if !plausible(token) {
        return Err(FlowError::NotFound);
    }
    invitations::inspect(&state.store, token).await
}

fn page(ctx: &WebCtx, token: &str, offer: &Offer, error: Option<String>, status: StatusCode) -> Response {
    let signed_in_as_invitee =
        offer.existing_user.is_some() && ctx.user.as_ref().map(|u| u.user_id) == offer.existing_user;
    let signed_in_as_other = ctx.user.is_some() && !signed_in_as_invitee;
    render(
        status,
        &InviteAccept {
            p: ctx,
            token: token.to_string(),
            org_name: offer.org_name.clone(),
            email: offer.invitation.email.clone(),
            intro: ctx.t.t2(
                "invite-intro",
                ("email", offer.invitation.email.as_str()),
                ("role", ctx.t.t(offer.invitation.role.as_str())),
            ),
            existing_user: offer.existing_user.is_some(),
            signed_in_as_invitee,
            signed_in_as_other,
            error,
        },
    )
}

pub async fn show(
    State(state): State<AppState>,
    ctx: WebCtx,
    token: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    let Ok(Path(token)) = token else { return link_gone_page(&ctx, Link::Invitation) };
    match offer(&state, &token).await {
        Ok(offer) => page(&ctx, &token, &offer, None, StatusCode::OK),
        Err(FlowError::NotFound) => link_gone_page(&ctx, Link::Invitation),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

#[derive(Deserialize, Default)]
pub struct AcceptForm {
    #[serde(default)]
    mode: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

pub async fn accept(
    State(state): State<AppState>,
    ctx: WebCtx,
    token: Result<Path<String>, axum::extract::rejection::PathRejection>,
    form: Result<Form<AcceptForm>, FormRejection>,
) -> Response {
    let Ok(Path(token)) = token else { return link_gone_page(&ctx, Link::Invitation) };
    let Ok(Form(form)) = form else {
        return error_page(
            &ctx,
            ErrorInfo::new(StatusCode::BAD_REQUEST, "invalid_request", "error-invalid-input"),
        );
    };
    let offered = match offer(&state, &token).await {
        Ok(offer) => offer,
        Err(FlowError::NotFound) => return link_gone_page(&ctx, Link::Invitation),
        Err(e) => return error_page(&ctx, classify(&e)),
    };
    let how = match (form.mode.as_str(), &ctx.user) {
        ("join", Some(user)) => Acceptance::SignedIn { user_id: user.user_id },
        ("existing", _) => Acceptance::ExistingPassword(&form.password),
        _ => Acceptance::NewPassword { password: &form.password, confirm: &form.password_confirm },
    };
    let outcome = invitations::accept(
        &state.store,
        &state.config,
        &state.hasher,
        &ctx.origin,
        &token,
        how,
        ctx.session_token.as_deref(),
    )
    .await;
    match outcome {
        Ok(accepted) => {
            let mut response =
                flash_redirect(&ctx, FlashKind::Success, "flash-invitation-accepted", "/dashboard");
            if let Some(opened) = &accepted.session {
                response = password_opened(response, &ctx, opened, state.config.session_hours);
            }
            response
        }
        Err(FlowError::NotFound) => link_gone_page(&ctx, Link::Invitation),
        Err(FlowError::Invalid(fields)) => {
            let message = fields.iter().map(|f| ctx.t.t(&field_key(f.code))).collect::<Vec<_>>().join(" ");
            page(&ctx, &token, &offered, Some(message), StatusCode::BAD_REQUEST)
        }
        Err(FlowError::InvalidCredentials) => {
            page(&ctx, &token, &offered, Some(ctx.t.t("login-failed")), StatusCode::UNAUTHORIZED)
        }
        Err(FlowError::Conflict { .. }) => match offer(&state, &token).await {
            Ok(fresh) => page(&ctx, &token, &fresh, None, StatusCode::CONFLICT),
            Err(_) => link_gone_page(&ctx, Link::Invitation),
        },
        Err(e) => error_page(&ctx, classify(&e)),
    }
}
