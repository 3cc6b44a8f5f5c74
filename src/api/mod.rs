//! The JSON API under `/api/v1`, bearer-token authenticated, described by the OpenAPI document
//! at `/api/openapi.json` (generated from these handlers).

pub mod access;
pub mod audit;
pub mod auth;
pub mod contract;
pub mod error;
pub mod invitations;
pub mod members;
pub mod oidc;
pub mod orgs;
pub mod payments;
pub mod plans;
pub mod settings;
pub mod webhooks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{delete, get, patch, post, put};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::state::AppState;
use error::ApiError;

#[derive(OpenApi)]
#[openapi(
    info(title = "Portico API", description = "Membership and onboarding server. Errors are `{\"error\":{\"code\",\"message\"}}`."),
    paths(
        orgs::create_org,
        orgs::get_org,
        orgs::patch_org,
        orgs::org_stats,
        orgs::export_org,
        members::list_members,
        members::get_member,
        members::export_member,
        members::erase_member,
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
        payments::stripe_webhook,
        access::access_list,
        access::list_devices,
        access::create_device,
        access::revoke_device,
        access::update_device,
        payments::ledger,
        payments::reprocess,
        plans::list,
        plans::create,
        plans::deactivate,
        webhooks::list,
        webhooks::create,
        webhooks::get,
        webhooks::update,
        webhooks::rotate,
        webhooks::delete,
        webhooks::deliveries,
        webhooks::replay,
        webhooks::replay_dead,
        webhooks::send_test,
        audit::list,
        oidc::list_clients,
        oidc::create_client,
        oidc::get_client,
        oidc::update_client,
        oidc::rotate_secret,
        oidc::delete_client,
        oidc::logouts,
    ),
    components(schemas(orgs::OrgJson, crate::flows::overview::Overview, crate::flows::overview::MembersByStatus,
        crate::flows::overview::PendingActivation, crate::flows::overview::MonthFigures,
        crate::flows::overview::DeviceFigures, crate::flows::overview::DeliveryFigures, crate::flows::orgs::OrgInput, crate::flows::orgs::OrgPatch, members::MemberJson,
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
        settings::SettingJson, payments::WebhookAnswer, crate::flows::members::CatalogueRules, crate::store::records::CatalogueEntry, access::AccessListJson, access::CredentialJson, access::DeviceJson, access::DeviceList, access::DeviceInput, access::CreatedDeviceJson, access::DeviceUpdate, payments::LedgerEventJson, payments::LedgerList, plans::PlanJson, plans::PlanList, crate::flows::plans::PlanInput, members::MemberList, crate::store::outbox::Delivery, webhooks::EndpointJson, webhooks::EndpointList, webhooks::EndpointWithSecret, webhooks::DeliveryJson, webhooks::DeliveryList, webhooks::ReplayInput, webhooks::Replayed, crate::flows::webhooks::EndpointInput, crate::flows::webhooks::EndpointUpdate, audit::AuditPage, audit::AuditEventJson, oidc::ClientJson, oidc::ClientList, oidc::ClientWithSecret, oidc::LogoutList, crate::store::oidc::LogoutRow, crate::flows::oidc::clients::ClientInput, crate::flows::oidc::clients::ClientUpdate, error::ErrorBody, error::ErrorDetail)),
    modifiers(&BearerAuth, &CommonResponses),
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
        // A door controller's token (`portico device create`), for the access list only.
        components.add_security_scheme(
            "device",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The refusals any operation can answer, added to every operation that does not describe them
/// itself: a malformed URL, parameter or body (400), a missing or wrong token (401), a caller
/// without the role (403), an unknown resource (404), an oversized or non-JSON body (413, 415),
/// and the database being unreachable (503, with `Retry-After`).
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let operations =
                [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
            for operation in operations.into_iter().flatten() {
                let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
                let has_body = operation.request_body.is_some();
                let has_path_params = operation
                    .parameters
                    .as_ref()
                    .is_some_and(|ps| ps.iter().any(|p| p.parameter_in == ParameterIn::Path));
                let mut common = vec![(
                    "400",
                    "`invalid_request`: a malformed URL (control characters, invalid UTF-8), parameter or body; or a field code",
                )];
                if secured {
                    common.push(("401", "`unauthorized`: a missing or invalid API token"));
                    common.push(("403", "`forbidden`: the token's staff member may not do this"));
                }
                if has_path_params {
                    common.push(("404", "`not_found`: no such organisation, member or other resource"));
                }
                if has_body {
                    common.push((
                        "413",
                        "`payload_too_large`: the body is larger than the max_body_bytes setting",
                    ));
                    common.push(("415", "`unsupported_media_type`: the body is not `application/json`"));
                }
                common.push(("503", "`database_unavailable` (with `Retry-After`) or `busy`"));
                for (status, description) in common {
                    operation
                        .responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| error(description).into());
                }
            }
        }
    }
}

pub fn router(state: AppState) -> Router<AppState> {
    let v1 = Router::new()
        .route("/orgs", post(orgs::create_org))
        .route("/orgs/{slug}", get(orgs::get_org).patch(orgs::patch_org))
        .route("/orgs/{slug}/stats", get(orgs::org_stats))
        .route("/orgs/{slug}/export", get(orgs::export_org))
        .route("/orgs/{slug}/members", get(members::list_members))
        .route("/orgs/{slug}/members/{id}", get(members::get_member).patch(members::patch_member))
        .route("/orgs/{slug}/members/{id}/export", get(members::export_member))
        .route("/orgs/{slug}/members/{id}/erase", post(members::erase_member))
        .route("/orgs/{slug}/members/{id}/notes", post(members::add_note))
        .route("/orgs/{slug}/members/{id}/credentials", post(members::add_credential))
        .route("/orgs/{slug}/members/{id}/credentials/{credential_id}", delete(members::remove_credential))
        .route("/orgs/{slug}/members/{id}/authorisations/{name}", put(members::grant).delete(members::revoke))
        .route("/orgs/{slug}/authorisations/{name}", put(members::add_to_catalogue))
        .route("/orgs/{slug}/invitations", post(invitations::create).get(invitations::list))
        .route("/orgs/{slug}/plans", get(plans::list).post(plans::create))
        .route("/orgs/{slug}/plans/{id}/deactivate", post(plans::deactivate))
        .route("/orgs/{slug}/invitations/{id}/resend", post(invitations::resend))
        .route("/orgs/{slug}/invitations/{id}/revoke", post(invitations::revoke))
        .route("/settings/{key}", put(settings::put))
        .route("/audit", get(audit::list))
        .route("/stripe/events", get(payments::ledger))
        .route("/orgs/{slug}/access-list", get(access::access_list))
        .route("/orgs/{slug}/devices", get(access::list_devices).post(access::create_device))
        .route("/orgs/{slug}/devices/{id}", patch(access::update_device))
        .route("/orgs/{slug}/devices/{id}/revoke", post(access::revoke_device))
        .route("/stripe/events/{id}/reprocess", post(payments::reprocess))
        .route("/orgs/{slug}/webhooks", get(webhooks::list).post(webhooks::create))
        .route(
            "/orgs/{slug}/webhooks/{id}",
            get(webhooks::get).patch(webhooks::update).delete(webhooks::delete),
        )
        .route("/orgs/{slug}/webhooks/{id}/rotate", post(webhooks::rotate))
        .route("/orgs/{slug}/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route("/orgs/{slug}/webhooks/{id}/deliveries/{delivery_id}/replay", post(webhooks::replay))
        .route("/orgs/{slug}/webhooks/{id}/replay", post(webhooks::replay_dead))
        .route("/orgs/{slug}/webhooks/{id}/test", post(webhooks::send_test))
        .route("/orgs/{slug}/oidc/clients", get(oidc::list_clients).post(oidc::create_client))
        .route(
            "/orgs/{slug}/oidc/clients/{client_id}",
            get(oidc::get_client).patch(oidc::update_client).delete(oidc::delete_client),
        )
        .route("/orgs/{slug}/oidc/clients/{client_id}/rotate-secret", post(oidc::rotate_secret))
        .route("/orgs/{slug}/oidc/clients/{client_id}/logouts", get(oidc::logouts))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes));
    // The OpenID Connect provider's machine endpoints, under each organisation's issuer.
    let oidc = Router::new()
        .route("/o/{slug}/.well-known/openid-configuration", get(oidc::discovery))
        .route("/o/{slug}/oidc/jwks", get(oidc::jwks))
        .route("/o/{slug}/oidc/token", post(oidc::token))
        .route("/o/{slug}/oidc/userinfo", get(oidc::userinfo).post(oidc::userinfo))
        .route("/o/{slug}/oidc/introspect", post(oidc::introspect))
        .route("/o/{slug}/oidc/revoke", post(oidc::revoke))
        .method_not_allowed_fallback(oidc::method_not_allowed);
    Router::new()
        .route("/api/openapi.json", get(openapi_json))
        .route("/webhooks/stripe", post(payments::stripe_webhook))
        .nest("/api/v1", v1)
        .merge(oidc)
}

/// The OpenAPI document: generated from the handlers, then given the input rules.
pub fn document() -> Result<serde_json::Value, serde_json::Error> {
    let mut doc = serde_json::to_value(ApiDoc::openapi())?;
    contract::apply(&mut doc);
    Ok(doc)
}

async fn openapi_json() -> impl IntoResponse {
    // The document never changes while the process runs: build it once.
    static DOCUMENT: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    match DOCUMENT.get_or_init(|| document().map(|d| d.to_string()).map_err(|e| e.to_string())) {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json.clone()).into_response(),
        Err(e) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", e.clone()).into_response()
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
