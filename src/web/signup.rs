//! `/o/{slug}/join`: the public signup of an organisation with open signup (SPEC §3.2).
//! A signed-in person is never logged out here and never creates a second account: they are
//! offered to join with the account they have.

use axum::Form;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::pages::{Field, JoinAccount, JoinCheckEmail, JoinDetails, JoinEmail, JoinVerify};
use super::{
    FlashKind, Link, WebCtx, bad_request_page, error_page, flash_redirect, link_gone_page, not_found_page,
    render, see_other, start_session,
};
use crate::domain::member::DetailsInput;
use crate::flows::{FlowError, signup};
use crate::http_error::{classify, field_key};
use crate::state::AppState;
use crate::store::orgs::Org;

fn account_offer(ctx: &WebCtx, org: &Org, status: StatusCode) -> Response {
    render(status, &JoinAccount { p: ctx, org_name: org.display_name().to_string(), slug: org.slug.clone() })
}

pub async fn show(
    State(state): State<AppState>,
    ctx: WebCtx,
    slug: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(slug)) = slug else { return not_found_page(&ctx) };
    let org = match signup::open_org(&state.store, &slug).await {
        Ok(org) => org,
        Err(FlowError::NotFound) => return not_found_page(&ctx),
        Err(e) => return error_page(&ctx, classify(&e)),
    };
    if ctx.user.is_some() {
        return account_offer(&ctx, &org, StatusCode::OK);
    }
    render(
        StatusCode::OK,
        &JoinEmail { p: &ctx, org_name: org.display_name().to_string(), slug, email: Field::default() },
    )
}

#[derive(Deserialize, Default)]
pub struct EmailForm {
    #[serde(default)]
    email: String,
}

pub async fn request(
    State(state): State<AppState>,
    ctx: WebCtx,
    slug: Result<Path<String>, PathRejection>,
    form: Result<Form<EmailForm>, FormRejection>,
) -> Response {
    let Ok(Path(slug)) = slug else { return not_found_page(&ctx) };
    let Ok(Form(form)) = form else { return bad_request_page(&ctx) };
    let org = match signup::open_org(&state.store, &slug).await {
        Ok(org) => org,
        Err(FlowError::NotFound) => return not_found_page(&ctx),
        Err(e) => return error_page(&ctx, classify(&e)),
    };
    if ctx.user.is_some() {
        return account_offer(&ctx, &org, StatusCode::OK);
    }
    match signup::request(&state.store, &ctx.origin, &slug, &form.email, ctx.t.locale).await {
        // The same page whether or not the address has an account.
        Ok(()) => {
            render(StatusCode::OK, &JoinCheckEmail { p: &ctx, org_name: org.display_name().to_string() })
        }
        Err(FlowError::Invalid(_)) => render(
            StatusCode::BAD_REQUEST,
            &JoinEmail {
                p: &ctx,
                org_name: org.display_name().to_string(),
                slug,
                email: Field { value: form.email, error: Some(ctx.t.t("field-invalid-email")) },
            },
        ),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

pub async fn join_with_account(
    State(state): State<AppState>,
    ctx: WebCtx,
    slug: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(slug)) = slug else { return not_found_page(&ctx) };
    let Some(user) = &ctx.user else { return see_other("/login") };
    match signup::join_with_account(&state.store, &ctx.origin, &slug, user.user_id, &user.email).await {
        Ok(membership_id) => {
            let next = super::payment::after_joining(&state, membership_id, &slug).await;
            flash_redirect(&ctx, FlashKind::Success, "flash-joined", &next)
        }
        Err(FlowError::Conflict { .. }) => {
            flash_redirect(&ctx, FlashKind::Info, "flash-already-member", "/dashboard")
        }
        Err(FlowError::NotFound) => not_found_page(&ctx),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

pub async fn verify(
    State(state): State<AppState>,
    ctx: WebCtx,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let Ok(Path((slug, token))) = path else { return not_found_page(&ctx) };
    match signup::verified_email(&state.store, &slug, &token).await {
        Ok((org, _)) if ctx.user.is_some() => account_offer(&ctx, &org, StatusCode::OK),
        Ok((org, email)) => render(
            StatusCode::OK,
            &JoinVerify {
                p: &ctx,
                org_name: org.display_name().to_string(),
                email: email.to_string(),
                action: action(&slug, &token),
            },
        ),
        Err(FlowError::NotFound) => link_gone_page(&ctx, Link::Verification(&slug)),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

fn action(slug: &str, token: &str) -> String {
    format!("/o/{slug}/join/verify/{token}")
}

#[derive(Deserialize, Default)]
pub struct DetailsForm {
    #[serde(default)]
    step: String,
    #[serde(flatten)]
    details: DetailsInput,
}

pub async fn details(
    State(state): State<AppState>,
    ctx: WebCtx,
    path: Result<Path<(String, String)>, PathRejection>,
    form: Result<Form<DetailsForm>, FormRejection>,
) -> Response {
    let Ok(Path((slug, token))) = path else { return not_found_page(&ctx) };
    let Ok(Form(form)) = form else { return bad_request_page(&ctx) };
    let (org, email) = match signup::verified_email(&state.store, &slug, &token).await {
        Ok(found) => found,
        Err(FlowError::NotFound) => return link_gone_page(&ctx, Link::Verification(&slug)),
        Err(e) => return error_page(&ctx, classify(&e)),
    };
    if ctx.user.is_some() {
        return account_offer(&ctx, &org, StatusCode::OK);
    }
    let page = |input: DetailsInput, errors: Vec<(&'static str, String)>, status| {
        render(
            status,
            &JoinDetails {
                p: &ctx,
                org_name: org.display_name().to_string(),
                email: email.to_string(),
                action: action(&slug, &token),
                min_age: org.min_age,
                input,
                errors,
            },
        )
    };
    // "Continue" from the link page opens the form; only a details submission writes anything.
    if form.step != "details" {
        return page(DetailsInput::default(), vec![], StatusCode::OK);
    }
    let visitor =
        signup::Visitor { origin: &ctx.origin, locale: ctx.t.locale, session: ctx.session_token.as_deref() };
    let outcome =
        signup::complete(&state.store, &state.config, &state.hasher, &visitor, &slug, &token, &form.details)
            .await;
    let mut input = form.details;
    // Passwords are never sent back to the browser.
    input.password.clear();
    input.password_confirm.clear();
    match outcome {
        Ok(joined) => {
            let next = super::payment::after_joining(&state, joined.membership_id, &org.slug).await;
            let response = flash_redirect(&ctx, FlashKind::Success, "flash-signed-up", &next);
            start_session(response, &ctx, &joined.session, state.config.session_hours)
        }
        Err(FlowError::Invalid(fields)) => {
            let status = if fields.iter().any(|f| f.code == "username_taken") {
                StatusCode::CONFLICT
            } else {
                StatusCode::BAD_REQUEST
            };
            let errors = fields.iter().map(|f| (f.field, ctx.t.t(&field_key(f.code)))).collect();
            page(input, errors, status)
        }
        Err(FlowError::Conflict { .. }) => {
            render(StatusCode::CONFLICT, &super::pages::JoinExists { p: &ctx })
        }
        Err(FlowError::NotFound) => link_gone_page(&ctx, Link::Verification(&slug)),
        Err(e) => error_page(&ctx, classify(&e)),
    }
}
