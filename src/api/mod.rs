//! The JSON API under `/api/v1`, bearer-token authenticated, described by the OpenAPI document
//! at `/api/openapi.json` (generated from these handlers).

pub mod auth;
pub mod error;
pub mod invitations;
pub mod members;
pub mod orgs;
pub mod settings;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::server::AppState;
use error::ApiError;

#[derive(OpenApi)]
#[openapi(
    info(title = "Portico API", description = "Membership and onboarding server. Errors are `{\"error\":{\"code\",\"message\"}}`."),
    paths(
        orgs::create_org,
        orgs::get_org,
        members::list_members,
        members::get_member,
        members::patch_member,
        members::add_note,
        members::add_credential,
        members::remove_credential,
        members::grant,
        members::revoke,
        members::add_to_catalogue,
        invitations::create,
        invitations::list,
        invitations::resend,
        invitations::revoke,
        settings::put,
    ),
    components(schemas(orgs::OrgJson, crate::flows::orgs::OrgInput, members::MemberJson,
        members::RecordJson,
        members::ProfileJson,
        members::MemberChange,
        members::NoteInput,
        members::CredentialInput,
        members::Catalogue,
        crate::store::records::Agreement,
        crate::store::records::Note,
        crate::store::records::Credential,
        crate::store::records::Authorisation,
        invitations::InvitationJson,
        invitations::InvitationList,
        crate::flows::invitations::InviteInput,
        settings::SettingInput,
        settings::SettingJson, members::MemberList, crate::store::outbox::Delivery, error::ErrorBody, error::ErrorDetail)),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub fn router(state: AppState) -> Router<AppState> {
    let v1 = Router::new()
        .route("/orgs", post(orgs::create_org))
        .route("/orgs/{slug}", get(orgs::get_org))
        .route("/orgs/{slug}/members", get(members::list_members))
        .route("/orgs/{slug}/members/{id}", get(members::get_member).patch(members::patch_member))
        .route("/orgs/{slug}/members/{id}/notes", post(members::add_note))
        .route("/orgs/{slug}/members/{id}/credentials", post(members::add_credential))
        .route("/orgs/{slug}/members/{id}/credentials/{credential_id}", delete(members::remove_credential))
        .route("/orgs/{slug}/members/{id}/authorisations/{name}", put(members::grant).delete(members::revoke))
        .route("/orgs/{slug}/authorisations/{name}", put(members::add_to_catalogue))
        .route("/orgs/{slug}/invitations", post(invitations::create).get(invitations::list))
        .route("/orgs/{slug}/invitations/{id}/resend", post(invitations::resend))
        .route("/orgs/{slug}/invitations/{id}/revoke", post(invitations::revoke))
        .route("/settings/{key}", put(settings::put))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes));
    Router::new().route("/api/openapi.json", get(openapi_json)).nest("/api/v1", v1)
}

async fn openapi_json() -> impl IntoResponse {
    match ApiDoc::openapi().to_json() {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", e.to_string()).into_response()
        }
    }
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such API endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}
