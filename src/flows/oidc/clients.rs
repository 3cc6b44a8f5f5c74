//! Relying parties (SPEC §3.9): registered per organisation by staff (console, API, CLI),
//! audited. A confidential client's secret is shown once and stored hashed; a public client has
//! none and must use PKCE.

use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::config::WebhookConfig;
use crate::domain::destination::{self, DestinationError};
use crate::domain::member::text;
use crate::domain::oidc::{self, IdTokenAlg, RedirectUriError};
use crate::domain::{AuthorisationName, MembershipRole, SecretToken};
use crate::flows::{Ctx, FlowError, FlowResult, invalid};
use crate::store::audit;
use crate::store::oidc::{self as oidc_store, Client, ClientFields};
use crate::store::{Store, Tx, now, records};

/// Most redirect URIs (and post-logout redirect URIs) one client may register.
pub const MAX_URIS: usize = 20;

/// What staff give for a new client (SPEC §6).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientInput {
    /// Shown on the consent page and in "connected applications".
    pub name: String,
    /// Exact redirect URIs: `https://…` (or `http://` to a loopback host); no wildcards.
    pub redirect_uris: Vec<String>,
    #[serde(default, deserialize_with = "crate::flows::present")]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// Where logout tokens are POSTed (OIDC Back-Channel Logout 1.0).
    #[serde(default, deserialize_with = "crate::flows::present")]
    pub backchannel_logout_uri: Option<String>,
    /// A public client (a single-page or native application): no secret, PKCE required.
    #[serde(default, deserialize_with = "crate::flows::present")]
    pub public: Option<bool>,
    /// No consent page (an application of the organisation's own).
    #[serde(default, deserialize_with = "crate::flows::present")]
    pub first_party: Option<bool>,
    /// An authorisation of the catalogue members need (unexpired) to sign in.
    #[serde(default, deserialize_with = "crate::flows::present")]
    pub requires: Option<String>,
    /// The least membership role that may sign in: `member` (default), `admin` or `owner`.
    #[serde(default, deserialize_with = "crate::flows::present")]
    pub role: Option<String>,
    /// `RS256` (default), `ES256` or `EdDSA`.
    #[serde(default, deserialize_with = "crate::flows::present")]
    pub id_token_alg: Option<String>,
    /// Default true; a confidential client may turn it off (some applications send no PKCE).
    #[serde(default, deserialize_with = "crate::flows::present")]
    pub pkce_required: Option<bool>,
}

/// A change of a client: what is given is replaced.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientUpdate {
    #[serde(default, deserialize_with = "crate::flows::present")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::flows::present")]
    pub redirect_uris: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::flows::present")]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// An empty string removes it.
    #[serde(default, deserialize_with = "crate::flows::present")]
    pub backchannel_logout_uri: Option<String>,
    #[serde(default, deserialize_with = "crate::flows::present")]
    pub first_party: Option<bool>,
    /// An empty string removes the requirement.
    #[serde(default, deserialize_with = "crate::flows::present")]
    pub requires: Option<String>,
    /// An empty string: every role.
    #[serde(default, deserialize_with = "crate::flows::present")]
    pub role: Option<String>,
    #[serde(default, deserialize_with = "crate::flows::present")]
    pub id_token_alg: Option<String>,
    #[serde(default, deserialize_with = "crate::flows::present")]
    pub pkce_required: Option<bool>,
    #[serde(default, deserialize_with = "crate::flows::present")]
    pub enabled: Option<bool>,
}

/// A client's fields once checked.
struct Checked {
    name: String,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    backchannel_logout_uri: Option<String>,
    pkce_required: bool,
    first_party: bool,
    requires: Option<String>,
    role: Option<String>,
    alg: IdTokenAlg,
    enabled: bool,
}

impl Checked {
    fn fields(&self) -> ClientFields<'_> {
        ClientFields {
            name: &self.name,
            redirect_uris: &self.redirect_uris,
            post_logout_redirect_uris: &self.post_logout_redirect_uris,
            backchannel_logout_uri: self.backchannel_logout_uri.as_deref(),
            pkce_required: self.pkce_required,
            first_party: self.first_party,
            requires_authorisation: self.requires.as_deref(),
            requires_role: self.role.as_deref(),
            id_token_alg: self.alg.as_str(),
            enabled: self.enabled,
        }
    }

    fn from_client(c: &Client) -> Checked {
        Checked {
            name: c.name.clone(),
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            backchannel_logout_uri: c.backchannel_logout_uri.clone(),
            pkce_required: c.pkce_required,
            first_party: c.first_party,
            requires: c.requires_authorisation.clone(),
            role: c.requires_role.clone(),
            alg: IdTokenAlg::parse(&c.id_token_alg).unwrap_or(IdTokenAlg::Rs256),
            enabled: c.enabled,
        }
    }
}

fn checked_name(name: &str) -> FlowResult<String> {
    let mut problems = Vec::new();
    text(name, "name", 100, true, &mut problems).ok_or_else(|| crate::flows::invalid_fields(problems))
}

fn checked_uris(field: &'static str, uris: &[String], at_least_one: bool) -> FlowResult<Vec<String>> {
    if uris.len() > MAX_URIS || (at_least_one && uris.is_empty()) {
        return Err(invalid(field, "invalid_redirect_uris"));
    }
    let mut out = Vec::with_capacity(uris.len());
    for uri in uris {
        match oidc::parse_redirect_uri(uri) {
            Ok(uri) if !out.contains(&uri) => out.push(uri),
            Ok(_) => {}
            Err(RedirectUriError::Insecure) => return Err(invalid(field, "insecure_redirect_uri")),
            Err(RedirectUriError::Malformed) => return Err(invalid(field, "invalid_redirect_uris")),
        }
    }
    Ok(out)
}

fn checked_logout_uri(config: &WebhookConfig, uri: &str) -> FlowResult<Option<String>> {
    if uri.trim().is_empty() {
        return Ok(None);
    }
    match destination::parse_url(uri, config.allow_http, config.allow_private) {
        Ok(url) => Ok(Some(url.to_string())),
        Err(DestinationError::Malformed) => Err(invalid("backchannel_logout_uri", "invalid_url")),
        Err(DestinationError::Insecure) => Err(FlowError::Conflict { code: "insecure_destination" }),
        Err(DestinationError::Internal) => Err(FlowError::Conflict { code: "private_destination" }),
    }
}

async fn checked_requirement(store: &Store, org_id: i64, requires: &str) -> FlowResult<Option<String>> {
    if requires.trim().is_empty() {
        return Ok(None);
    }
    let name =
        AuthorisationName::parse(requires).map_err(|_| invalid("requires", "invalid_authorisation_name"))?;
    if !records::catalogue(store.pool(), org_id).await?.iter().any(|c| c == name.as_str()) {
        // Well-formed, but the catalogue lacks it (as for a device's requirement).
        return Err(FlowError::Conflict { code: "not_in_catalogue" });
    }
    Ok(Some(name.as_str().to_string()))
}

fn checked_role(role: &str) -> FlowResult<Option<String>> {
    match role.trim() {
        "" => Ok(None),
        role => MembershipRole::parse(role)
            .map(|r| Some(r.as_str().to_string()))
            .map_err(|_| invalid("role", "invalid_role")),
    }
}

fn checked_alg(alg: &str) -> FlowResult<IdTokenAlg> {
    IdTokenAlg::parse(alg).ok_or_else(|| invalid("id_token_alg", "invalid_id_token_alg"))
}

async fn audit_client(tx: &mut Tx, ctx: &Ctx, action: &str, c: &Client) -> FlowResult<()> {
    audit::record(
        tx.conn(),
        audit::NewEvent {
            actor: &ctx.actor,
            origin: &ctx.origin,
            action,
            target: Some(&c.client_id),
            org_id: Some(c.org_id),
            details: json!({
                "name": c.name, "redirect_uris": c.redirect_uris, "public": c.is_public(),
                "first_party": c.first_party, "requires": c.requires_authorisation, "role": c.requires_role,
                "id_token_alg": c.id_token_alg, "pkce_required": c.pkce_required, "enabled": c.enabled,
                "backchannel_logout_uri": c.backchannel_logout_uri,
            }),
        },
    )
    .await?;
    Ok(())
}

/// A new client secret: shown once, stored as its SHA-256 (it is 256 random bits, so a fast
/// hash is enough).
fn new_secret() -> SecretToken {
    SecretToken::generate("pcs_")
}

/// Registers a client (admin). The secret (confidential clients) is in the answer, once.
pub async fn create(
    store: &Store,
    webhooks: &WebhookConfig,
    ctx: &Ctx,
    slug: &str,
    input: &ClientInput,
) -> FlowResult<(Client, Option<SecretToken>)> {
    ctx.require_admin()?;
    let org = crate::flows::orgs::get(store, ctx, slug).await?;
    let public = input.public.unwrap_or(false);
    let pkce_required = input.pkce_required.unwrap_or(true);
    if public && !pkce_required {
        return Err(invalid("pkce_required", "pkce_required_for_public"));
    }
    let checked = Checked {
        name: checked_name(&input.name)?,
        redirect_uris: checked_uris("redirect_uris", &input.redirect_uris, true)?,
        post_logout_redirect_uris: checked_uris(
            "post_logout_redirect_uris",
            input.post_logout_redirect_uris.as_deref().unwrap_or_default(),
            false,
        )?,
        backchannel_logout_uri: checked_logout_uri(
            webhooks,
            input.backchannel_logout_uri.as_deref().unwrap_or(""),
        )?,
        pkce_required,
        first_party: input.first_party.unwrap_or(false),
        requires: checked_requirement(store, org.id, input.requires.as_deref().unwrap_or("")).await?,
        role: checked_role(input.role.as_deref().unwrap_or(""))?,
        alg: checked_alg(input.id_token_alg.as_deref().unwrap_or("RS256"))?,
        enabled: true,
    };
    let secret = (!public).then(new_secret);
    let mut tx = store.begin().await?;
    let client = oidc_store::insert_client(
        tx.conn(),
        org.id,
        &oidc::new_client_id(),
        secret.as_ref().map(SecretToken::hash).as_deref(),
        &checked.fields(),
        &ctx.actor.label,
        now(),
    )
    .await?;
    audit_client(&mut tx, ctx, "oidc.client_created", &client).await?;
    tx.commit().await?;
    Ok((client, secret))
}

/// An organisation's clients (staff).
pub async fn list(store: &Store, ctx: &Ctx, slug: &str) -> FlowResult<Vec<Client>> {
    ctx.require_staff()?;
    let org = crate::flows::orgs::get(store, ctx, slug).await?;
    Ok(oidc_store::clients_of(store.pool(), org.id).await?)
}

/// One client of an organisation (staff).
pub async fn get(store: &Store, ctx: &Ctx, slug: &str, client_id: &str) -> FlowResult<Client> {
    ctx.require_staff()?;
    let org = crate::flows::orgs::get(store, ctx, slug).await?;
    if !oidc::plausible_client_id(client_id) {
        return Err(FlowError::NotFound);
    }
    oidc_store::client_by_client_id(store.pool(), client_id)
        .await?
        .filter(|c| c.org_id == org.id)
        .ok_or(FlowError::NotFound)
}

/// A client and its newest back-channel logout deliveries (staff), newest first.
pub async fn logouts(
    store: &Store,
    ctx: &Ctx,
    slug: &str,
    client_id: &str,
    limit: i64,
) -> FlowResult<(Client, Vec<oidc_store::LogoutRow>)> {
    let client = get(store, ctx, slug, client_id).await?;
    let items = oidc_store::logouts_of(store.pool(), client.id, limit).await?;
    Ok((client, items))
}

/// Changes a client (admin). Disabling it, or narrowing who may sign in, takes effect at the
/// next authorization, refresh, userinfo or introspection (the rule is checked every time).
pub async fn update(
    store: &Store,
    webhooks: &WebhookConfig,
    ctx: &Ctx,
    slug: &str,
    client_id: &str,
    change: &ClientUpdate,
) -> FlowResult<Client> {
    ctx.require_admin()?;
    let current = get(store, ctx, slug, client_id).await?;
    let mut c = Checked::from_client(&current);
    if let Some(name) = &change.name {
        c.name = checked_name(name)?;
    }
    if let Some(uris) = &change.redirect_uris {
        c.redirect_uris = checked_uris("redirect_uris", uris, true)?;
    }
    if let Some(uris) = &change.post_logout_redirect_uris {
        c.post_logout_redirect_uris = checked_uris("post_logout_redirect_uris", uris, false)?;
    }
    if let Some(uri) = &change.backchannel_logout_uri {
        c.backchannel_logout_uri = checked_logout_uri(webhooks, uri)?;
    }
    if let Some(first_party) = change.first_party {
        c.first_party = first_party;
    }
    if let Some(requires) = &change.requires {
        c.requires = checked_requirement(store, current.org_id, requires).await?;
    }
    if let Some(role) = &change.role {
        c.role = checked_role(role)?;
    }
    if let Some(alg) = &change.id_token_alg {
        c.alg = checked_alg(alg)?;
    }
    if let Some(pkce) = change.pkce_required {
        if current.is_public() && !pkce {
            // The body is well-formed; it is this client's being public that refuses it.
            return Err(FlowError::Conflict { code: "public_client" });
        }
        c.pkce_required = pkce;
    }
    if let Some(enabled) = change.enabled {
        c.enabled = enabled;
    }
    let mut tx = store.begin().await?;
    oidc_store::update_client(tx.conn(), current.id, &c.fields(), now()).await?;
    let updated = oidc_store::client_by_id(tx.conn(), current.id).await?.ok_or(FlowError::NotFound)?;
    audit_client(&mut tx, ctx, "oidc.client_updated", &updated).await?;
    tx.commit().await?;
    Ok(updated)
}

/// A new secret for a confidential client (admin), shown once; the old one stops working at
/// once.
pub async fn rotate_secret(
    store: &Store,
    ctx: &Ctx,
    slug: &str,
    client_id: &str,
) -> FlowResult<(Client, SecretToken)> {
    ctx.require_admin()?;
    let current = get(store, ctx, slug, client_id).await?;
    if current.is_public() {
        return Err(FlowError::Conflict { code: "public_client" });
    }
    let secret = new_secret();
    let mut tx = store.begin().await?;
    oidc_store::set_secret(tx.conn(), current.id, &secret.hash(), now()).await?;
    audit_client(&mut tx, ctx, "oidc.client_secret_rotated", &current).await?;
    tx.commit().await?;
    Ok((current, secret))
}

/// Deletes a client (admin): its codes and tokens stop working at once.
pub async fn delete(store: &Store, ctx: &Ctx, slug: &str, client_id: &str) -> FlowResult<()> {
    ctx.require_admin()?;
    let current = get(store, ctx, slug, client_id).await?;
    let mut tx = store.begin().await?;
    if oidc_store::delete_client(tx.conn(), current.id, now()).await? {
        audit_client(&mut tx, ctx, "oidc.client_deleted", &current).await?;
    }
    tx.commit().await?;
    Ok(())
}
