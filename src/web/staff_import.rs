//! `/staff/orgs/{slug}/import` (admins): the console's member import (SPEC §3.11) — upload a
//! CSV file with the options of the command, see a preview with a verdict per row and every
//! refusal, then commit. The upload is the one multipart form of the site: its form token is
//! checked here (the context checks urlencoded forms). The preview carries the file to the
//! commit form as base64 in a hidden field, so nothing is stored between the two steps and
//! the commit checks the file again as it writes. Thin over `flows::import`.

use axum::Form;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::pages::{ImportStep, StaffImport};
use super::{WebCtx, bad_request_page, deny_unless_admin, error_page, not_found_page, render};
use crate::config::Config;
use crate::flows::import::{self, Options};
use crate::http_error::{ErrorInfo, classify};
use crate::state::AppState;

/// The body a POST to `path` may have, when it is one of the import's (a file up to
/// `import_max_bytes`, base64 in a form on the commit); `None` for every other request.
pub fn body_limit(config: &Config, path: &str) -> Option<usize> {
    let rest = path.strip_prefix("/staff/orgs/")?;
    let (_, tail) = rest.split_once('/')?;
    matches!(tail, "import" | "import/commit").then(|| {
        let file = usize::try_from(config.import_max_bytes).unwrap_or(usize::MAX);
        file.saturating_mul(3) / 2 + config.max_body_bytes
    })
}

/// Equality that takes as long whatever the first difference (a form token is a secret).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

pub async fn show(
    State(_state): State<AppState>,
    ctx: WebCtx,
    slug: Result<Path<String>, PathRejection>,
) -> Response {
    if let Some(denied) = deny_unless_admin(&ctx) {
        return denied;
    }
    let Ok(Path(slug)) = slug else { return not_found_page(&ctx) };
    render(StatusCode::OK, &StaffImport { p: &ctx, slug, step: ImportStep::Upload, error: None })
}

/// The options as the forms carry them (checkboxes: present means on).
#[derive(Deserialize, Default)]
pub struct CommitForm {
    #[serde(default)]
    file: String,
    #[serde(default)]
    skip_invalid: Option<String>,
    #[serde(default)]
    invite: Option<String>,
    #[serde(default)]
    create_authorisations: Option<String>,
}

fn options(skip_invalid: bool, invite: bool, create_authorisations: bool) -> Options {
    Options { skip_invalid, invite, create_authorisations }
}

/// `POST /staff/orgs/{slug}/import` (multipart: `csrf_token`, `file`, the options): the preview.
pub async fn preview(
    State(state): State<AppState>,
    ctx: WebCtx,
    slug: Result<Path<String>, PathRejection>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    if let Some(denied) = deny_unless_admin(&ctx) {
        return denied;
    }
    let Ok(Path(slug)) = slug else { return not_found_page(&ctx) };
    let Ok(mut multipart) = multipart else { return bad_request_page(&ctx) };
    let (mut token, mut file, mut flags) = (None, None, [false; 3]);
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_string();
                let Ok(bytes) = field.bytes().await else { return bad_request_page(&ctx) };
                match name.as_str() {
                    "csrf_token" => token = Some(String::from_utf8_lossy(&bytes).into_owned()),
                    "file" => file = Some(bytes),
                    "skip_invalid" => flags[0] = true,
                    "invite" => flags[1] = true,
                    "create_authorisations" => flags[2] = true,
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(_) => return bad_request_page(&ctx),
        }
    }
    // The form token, as the context checks it for every other form.
    if ctx.csrf_token.is_empty() || !same(token.as_deref().unwrap_or_default().trim(), &ctx.csrf_token) {
        return error_page(&ctx, ErrorInfo::new(StatusCode::FORBIDDEN, "csrf_failed", "error-csrf"));
    }
    let Some(file) = file.filter(|f| !f.is_empty()) else {
        let error = Some(ctx.t.t("import-choose-file"));
        return render(
            StatusCode::BAD_REQUEST,
            &StaffImport { p: &ctx, slug, step: ImportStep::Upload, error },
        );
    };
    let options = options(flags[0], flags[1], flags[2]);
    let max = state.config.import_max_bytes;
    let checked = import::check(
        &state.store,
        state.stripe.as_ref(),
        &ctx.flow_ctx(),
        &slug,
        &file[..],
        max,
        today(),
        &options,
    )
    .await;
    match checked {
        Ok(report) => {
            let committable = !report.file_refused && (report.refusals.is_empty() || options.skip_invalid);
            let step = ImportStep::Preview {
                file: STANDARD.encode(&file),
                committable,
                report: Box::new(report),
                options,
            };
            render(StatusCode::OK, &StaffImport { p: &ctx, slug, step, error: None })
        }
        Err(e) => error_page(&ctx, classify(&e)),
    }
}

/// `POST /staff/orgs/{slug}/import/commit`: writes what the preview showed (checked again).
pub async fn commit(
    State(state): State<AppState>,
    ctx: WebCtx,
    slug: Result<Path<String>, PathRejection>,
    form: Result<Form<CommitForm>, FormRejection>,
) -> Response {
    if let Some(denied) = deny_unless_admin(&ctx) {
        return denied;
    }
    let Ok(Path(slug)) = slug else { return not_found_page(&ctx) };
    let Ok(Form(f)) = form else { return bad_request_page(&ctx) };
    let Ok(file) = STANDARD.decode(f.file.trim()) else { return bad_request_page(&ctx) };
    let options = options(f.skip_invalid.is_some(), f.invite.is_some(), f.create_authorisations.is_some());
    let (store, stripe, fctx) = (&state.store, state.stripe.as_ref(), ctx.flow_ctx());
    let max = state.config.import_max_bytes;
    // The file is checked whole again: nothing is written while a row is refused (unless the
    // options say to skip them), as with the command.
    let report = match import::check(store, stripe, &fctx, &slug, &file[..], max, today(), &options).await {
        Ok(report) => report,
        Err(e) => return error_page(&ctx, classify(&e)),
    };
    if report.file_refused || (!report.refusals.is_empty() && !options.skip_invalid) {
        let step =
            ImportStep::Preview { file: f.file, committable: false, report: Box::new(report), options };
        return render(StatusCode::CONFLICT, &StaffImport { p: &ctx, slug, step, error: None });
    }
    match import::write(store, &state.config, stripe, &fctx, &slug, &file[..], today(), &options).await {
        Ok(written) => {
            let step = ImportStep::Written(Box::new(written));
            render(StatusCode::OK, &StaffImport { p: &ctx, slug, step, error: None })
        }
        Err(e) => error_page(&ctx, classify(&e)),
    }
}
