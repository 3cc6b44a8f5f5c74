//! `/account/security`, for every signed-in user: add an authenticator application (TOTP: a QR
//! code drawn here as SVG, and its `otpauth://` URI as text, confirmed with a code), make new
//! recovery codes (shown once), remove a factor (password or a code again; the person is
//! emailed). Thin over `flows::second_factor`.

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::account::me;
use super::pages::{SecurityPage, TotpShown};
use super::{FlashKind, WebCtx, error_page, flash_redirect, render, see_other};
use crate::flows::FlowError;
use crate::flows::second_factor::{self, Enrolment, Factor};
use crate::http_error::classify;
use crate::state::AppState;

const PAGE: &str = "/account/security";

/// The enrolment's QR code, as an SVG drawn from its URI.
fn qr_svg(uri: &str) -> String {
    match qrcode::QrCode::new(uri.as_bytes()) {
        Ok(code) => {
            code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(200, 200).quiet_zone(true).build()
        }
        // The URI is ours and short; a QR code always holds it. The text below still works.
        Err(_) => String::new(),
    }
}

fn shown(enrolment: Enrolment) -> TotpShown {
    TotpShown { svg: qr_svg(&enrolment.uri), uri: enrolment.uri, secret: enrolment.secret }
}

/// What the page shows besides the factors: a TOTP being added, recovery codes just made, a
/// message.
#[derive(Default)]
struct Extra {
    enrolling: Option<TotpShown>,
    codes: Option<Vec<String>>,
    error: Option<String>,
}

async fn page(state: &AppState, ctx: &WebCtx, extra: Extra, status: StatusCode) -> Response {
    let Some(me) = me(ctx) else { return see_other("/login") };
    let loaded = async {
        let status = second_factor::status(&state.store, me.user_id).await?;
        let enrolling = match extra.enrolling {
            Some(shown) => Some(shown),
            None => {
                second_factor::pending_enrolment(&state.store, &state.config, me.user_id).await?.map(shown)
            }
        };
        let required = match &ctx.user {
            Some(user) => {
                let without = crate::store::sessions::SessionUser { has_factor: false, ..user.clone() };
                second_factor::enrolment_required(&state.store, &without).await?
            }
            None => false,
        };
        Ok::<_, FlowError>((status, enrolling, required))
    };
    match loaded.await {
        Ok((factors, enrolling, required)) => render(
            status,
            &SecurityPage { p: ctx, factors, enrolling, codes: extra.codes, error: extra.error, required },
        ),
        Err(e) => error_page(ctx, classify(&e)),
    }
}

async fn refused(state: &AppState, ctx: &WebCtx, e: FlowError) -> Response {
    match super::correction(ctx, &e) {
        Some(error) => {
            let status = if matches!(e, FlowError::Conflict { .. }) {
                StatusCode::CONFLICT
            } else {
                StatusCode::BAD_REQUEST
            };
            page(state, ctx, Extra { error: Some(error), ..Extra::default() }, status).await
        }
        None => error_page(ctx, classify(&e)),
    }
}

pub async fn show(State(state): State<AppState>, ctx: WebCtx) -> Response {
    page(&state, &ctx, Extra::default(), StatusCode::OK).await
}

/// Starts adding an authenticator application.
pub async fn start_totp(State(state): State<AppState>, ctx: WebCtx) -> Response {
    let Some(me) = me(&ctx) else { return see_other("/login") };
    match second_factor::start_totp(&state.store, &state.config, &me).await {
        Ok(enrolment) => {
            page(
                &state,
                &ctx,
                Extra { enrolling: Some(shown(enrolment)), ..Extra::default() },
                StatusCode::OK,
            )
            .await
        }
        Err(e) => refused(&state, &ctx, e).await,
    }
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

/// Confirms it with a code; the first factor's recovery codes are shown once.
pub async fn confirm_totp(
    State(state): State<AppState>,
    ctx: WebCtx,
    form: Result<Form<CodeForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Some(me) = me(&ctx) else { return see_other("/login") };
    let code = form.map(|Form(f)| f.code).unwrap_or_default();
    match second_factor::confirm_totp(&state.store, &state.config, &me, &code).await {
        Ok(Some(codes)) => {
            let codes = Some(codes.iter().map(|c| c.display()).collect());
            page(&state, &ctx, Extra { codes, ..Extra::default() }, StatusCode::OK).await
        }
        Ok(None) => flash_redirect(&ctx, FlashKind::Success, "flash-totp-added", PAGE),
        Err(e) => refused(&state, &ctx, e).await,
    }
}

/// A new set of recovery codes, shown once.
pub async fn recovery_codes(State(state): State<AppState>, ctx: WebCtx) -> Response {
    let Some(me) = me(&ctx) else { return see_other("/login") };
    match second_factor::regenerate_recovery_codes(&state.store, &me).await {
        Ok(codes) => {
            let codes = Some(codes.iter().map(|c| c.display()).collect());
            page(&state, &ctx, Extra { codes, ..Extra::default() }, StatusCode::OK).await
        }
        Err(e) => refused(&state, &ctx, e).await,
    }
}

#[derive(Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    factor: String,
    #[serde(default)]
    proof: String,
}

/// Removes a factor, after the password or a code again.
pub async fn remove(
    State(state): State<AppState>,
    ctx: WebCtx,
    form: Result<Form<RemoveForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Some(me) = me(&ctx) else { return see_other("/login") };
    let Ok(Form(form)) = form else { return super::bad_request_page(&ctx) };
    let factor = match form.factor.as_str() {
        "totp" => Factor::Totp,
        "recovery_codes" => Factor::RecoveryCodes,
        other => match other.strip_prefix("passkey:").and_then(|id| id.parse().ok()) {
            Some(id) => Factor::Passkey(id),
            None => return super::bad_request_page(&ctx),
        },
    };
    match second_factor::remove(&state.store, &state.hasher, &state.config, &me, factor, &form.proof).await {
        Ok(()) => flash_redirect(&ctx, FlashKind::Success, "flash-factor-removed", PAGE),
        Err(e) => refused(&state, &ctx, e).await,
    }
}
