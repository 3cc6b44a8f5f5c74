//! The protocol (SPEC §3.9): the authorization request and its code, the token endpoint (code
//! exchange with PKCE, refresh token rotation), userinfo, introspection (RFC 7662) and
//! revocation (RFC 7009). Errors are OAuth's (`invalid_grant`, …), which the HTTP layer answers
//! as RFC 6749 says; the membership rule ([`super::rule`]) is checked at every step.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::keys::{KeyCache, KeyEncryption};
use super::rule::{self, Refusal};
use crate::domain::oidc::{self, IdTokenAlg};
use crate::domain::{SecretToken, settings as setting_defs};
use crate::flows::{FlowError, FlowResult, settings};
use crate::store::memberships::Membership;
use crate::store::oidc::{self as oidc_store, Authorization, Client, TokenRow};
use crate::store::orgs::Org;
use crate::store::{Store, Tx, now, records};

/// How long an authorization code can be exchanged.
pub const CODE_SECS: i64 = 60;

/// An OAuth error of the token, userinfo, introspection or revocation endpoint.
#[derive(Debug)]
pub enum OAuthError {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type`, `invalid_scope`, `invalid_token`.
    Refused {
        error: &'static str,
        description: String,
    },
    Flow(FlowError),
}

impl From<FlowError> for OAuthError {
    fn from(e: FlowError) -> OAuthError {
        OAuthError::Flow(e)
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> OAuthError {
        OAuthError::Flow(e.into())
    }
}

pub fn refused(error: &'static str, description: impl Into<String>) -> OAuthError {
    OAuthError::Refused { error, description: description.into() }
}

pub type OAuthResult<T> = Result<T, OAuthError>;

/// What the provider needs besides the store.
pub struct Provider<'a> {
    pub store: &'a Store,
    pub keys: &'a KeyCache,
    pub encryption: &'a KeyEncryption,
    /// `{base_url}/o/{slug}`.
    pub issuer: String,
}

/// The issuer of an organisation.
pub fn issuer(base_url: &url::Url, slug: &str) -> String {
    format!("{}/o/{slug}", base_url.as_str().trim_end_matches('/'))
}

/// The `sid` of a Portico session: derived from its stored hash, so it names the session to a
/// relying party without revealing anything that opens it.
pub fn session_id(session_token: &str) -> String {
    let id_hash = SecretToken::hash_presented(session_token);
    URL_SAFE_NO_PAD.encode(&Sha256::digest(format!("sid:{id_hash}").as_bytes())[..18])
}

/// The `sub` of a user (random, made once, the same for every client).
async fn subject(store: &Store, user_id: i64) -> FlowResult<String> {
    // Made once per user: every later token and userinfo call only reads it (no write
    // transaction, which on SQLite would queue behind every writer).
    if let Some(sub) = oidc_store::existing_subject(store.pool(), user_id).await? {
        return Ok(sub);
    }
    let mut tx = store.begin().await?;
    let sub = oidc_store::subject(tx.conn(), user_id, &SecretToken::generate("").expose()[..32]).await?;
    tx.commit().await?;
    Ok(sub)
}

/// A client by the `client_id` a request names, if it belongs to the organisation.
pub async fn client_of(store: &Store, org: &Org, client_id: &str) -> FlowResult<Option<Client>> {
    if !oidc::plausible_client_id(client_id) {
        return Ok(None);
    }
    Ok(oidc_store::client_by_client_id(store.pool(), client_id).await?.filter(|c| c.org_id == org.id))
}

/// Issues an authorization code for a signed-in person the rule lets in.
pub async fn issue_code(
    store: &Store,
    authorization: &Authorization,
    redirect_uri: &str,
    code_challenge: Option<&str>,
) -> FlowResult<String> {
    let code = SecretToken::generate("pac_");
    let at = now();
    let mut tx = store.begin().await?;
    oidc_store::insert_code(
        tx.conn(),
        &code.hash(),
        authorization,
        redirect_uri,
        code_challenge,
        at,
        at + CODE_SECS,
    )
    .await?;
    tx.commit().await?;
    Ok(code.expose().to_string())
}

/// A client authenticated at the token, introspection or revocation endpoint.
pub struct ClientCredentials<'a> {
    pub client_id: &'a str,
    /// `None`: none presented (a public client).
    pub secret: Option<&'a str>,
}

/// The client the credentials name, if they prove it: a confidential client's secret must match
/// (compared as SHA-256 digests); a public client presents none.
pub async fn authenticate(
    p: &Provider<'_>,
    org: &Org,
    credentials: &ClientCredentials<'_>,
) -> OAuthResult<Client> {
    let bad = || refused("invalid_client", "client authentication failed");
    let client = client_of(p.store, org, credentials.client_id).await?.ok_or_else(bad)?;
    match (&client.secret_hash, credentials.secret) {
        (Some(stored), Some(presented)) => {
            let presented = SecretToken::hash_presented(presented);
            let same = presented.len() == stored.len()
                && presented.bytes().zip(stored.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
            if !same {
                return Err(bad());
            }
        }
        (None, None) => {}
        _ => return Err(bad()),
    }
    if !client.enabled {
        return Err(refused("unauthorized_client", "this client is disabled"));
    }
    Ok(client)
}

/// The answer of the token endpoint.
pub struct Tokens {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub id_token: String,
    pub scope: String,
}

/// Lifetimes from the runtime settings.
async fn lifetimes(store: &Store) -> FlowResult<(i64, i64, i64)> {
    let access = settings::get(store, &setting_defs::OIDC_ACCESS_TOKEN_MINUTES).await? * 60;
    let id = settings::get(store, &setting_defs::OIDC_ID_TOKEN_MINUTES).await? * 60;
    let refresh = settings::get(store, &setting_defs::OIDC_REFRESH_TOKEN_DAYS).await? * 86_400;
    Ok((access, id, refresh))
}

/// `authorization_code`: exchanges a code. A code used a second time revokes what the first
/// exchange issued.
pub async fn exchange_code(
    p: &Provider<'_>,
    client: &Client,
    code: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
) -> OAuthResult<Tokens> {
    let grant_error = |why: &str| refused("invalid_grant", why.to_string());
    let code_hash = SecretToken::hash_presented(code);
    // Read before the transaction: it must not wait for a second connection of the pool.
    let lifetimes = lifetimes(p.store).await?;
    let at = now();
    let mut tx = p.store.begin().await?;
    let Some(stored) = oidc_store::code(tx.conn(), &code_hash).await? else {
        return Err(grant_error("unknown authorization code"));
    };
    if stored.authorization.client_pk != client.id {
        return Err(grant_error("the code was issued to another client"));
    }
    if stored.used_at.is_some() {
        if let Some(grant) = stored.grant_id {
            oidc_store::revoke_grant(tx.conn(), grant, "code_reused", at).await?;
        }
        tx.commit().await?;
        return Err(grant_error("the code was used already; what it issued is revoked"));
    }
    if stored.expires_at <= at {
        return Err(grant_error("the code has expired"));
    }
    if redirect_uri != Some(stored.redirect_uri.as_str()) {
        return Err(grant_error("redirect_uri does not match the authorization request"));
    }
    match (&stored.code_challenge, verifier) {
        (Some(challenge), Some(verifier)) if oidc::verifier_matches(verifier, challenge) => {}
        (Some(_), _) => return Err(grant_error("code_verifier does not match the code_challenge")),
        (None, Some(_)) => {
            return Err(grant_error("no code_challenge was sent with the authorization request"));
        }
        (None, None) => {}
    }
    let grant_id = oidc_store::insert_grant(tx.conn(), &stored.authorization, at).await?;
    if !oidc_store::use_code(tx.conn(), &code_hash, grant_id, at).await? {
        // Another exchange of the same code won the race: this is a replay.
        return Err(grant_error("the code was used already"));
    }
    issue_tokens(p, tx, lifetimes, client, grant_id, &stored.authorization, true).await
}

/// `refresh_token`: rotates. A refresh token presented a second time revokes its whole family.
pub async fn refresh(p: &Provider<'_>, client: &Client, refresh_token: &str) -> OAuthResult<Tokens> {
    let grant_error = |why: &str| refused("invalid_grant", why.to_string());
    let hash = SecretToken::hash_presented(refresh_token);
    let at = now();
    let Some(token) = oidc_store::token(p.store.pool(), &hash).await?.filter(|t| t.kind == "refresh") else {
        return Err(grant_error("unknown refresh token"));
    };
    if token.authorization.client_pk != client.id {
        return Err(grant_error("the refresh token was issued to another client"));
    }
    if token.grant_revoked {
        return Err(grant_error("the refresh token was revoked"));
    }
    if token.expires_at <= at {
        return Err(grant_error("the refresh token has expired"));
    }
    let lifetimes = lifetimes(p.store).await?;
    let mut tx = p.store.begin().await?;
    if !oidc_store::use_refresh_token(tx.conn(), &hash, at).await? {
        oidc_store::revoke_grant(tx.conn(), token.grant_id, "refresh_token_reused", at).await?;
        tx.commit().await?;
        return Err(grant_error("the refresh token was used already; its family is revoked"));
    }
    issue_tokens(p, tx, lifetimes, client, token.grant_id, &token.authorization, false).await
}

/// Why a token request was refused, for `error_description` (the client's, not the person's).
fn refusal_text(refusal: &Refusal) -> String {
    match refusal {
        Refusal::NotMember => "the user is not a member".into(),
        Refusal::Status(s) => format!("the membership is {}", s.as_str()),
        Refusal::Authorisation(name) => format!("the user does not hold the {name} authorisation"),
        Refusal::Role(role) => format!("the user's role is below {}", role.as_str()),
        Refusal::ClientDisabled => "the client is disabled".into(),
    }
}

/// Issues the tokens of a grant in `tx` (where the code or refresh token was just used), after
/// the membership rule, read in the same transaction: one write per exchange or refresh. A
/// refusal revokes the grant there instead.
async fn issue_tokens(
    p: &Provider<'_>,
    mut tx: Tx,
    (access_secs, id_secs, refresh_secs): (i64, i64, i64),
    client: &Client,
    grant_id: i64,
    a: &Authorization,
    with_nonce: bool,
) -> OAuthResult<Tokens> {
    let at = now();
    let membership = match rule::check(tx.conn(), client, a.user_id).await? {
        Ok(m) => m,
        Err(refusal) => {
            oidc_store::revoke_grant(tx.conn(), grant_id, "membership", at).await?;
            tx.commit().await?;
            return Err(refused("invalid_grant", refusal_text(&refusal)));
        }
    };
    let access = SecretToken::generate("pat_");
    let refresh = SecretToken::generate("prt_");
    oidc_store::insert_token(tx.conn(), &access.hash(), grant_id, "access", at, at + access_secs).await?;
    oidc_store::insert_token(tx.conn(), &refresh.hash(), grant_id, "refresh", at, at + refresh_secs).await?;
    tx.commit().await?;
    let claims = claims(p.store, a, &membership).await?;
    let sub = subject(p.store, a.user_id).await?;
    let mut id = Map::new();
    id.insert("iss".into(), json!(p.issuer));
    id.insert("sub".into(), json!(sub));
    id.insert("aud".into(), json!(client.client_id));
    id.insert("azp".into(), json!(client.client_id));
    id.insert("iat".into(), json!(at));
    id.insert("exp".into(), json!(at + id_secs));
    id.insert("auth_time".into(), json!(a.auth_time));
    id.insert("sid".into(), json!(a.sid));
    id.insert("amr".into(), json!(a.amr.split(' ').collect::<Vec<_>>()));
    if with_nonce && let Some(nonce) = &a.nonce {
        id.insert("nonce".into(), json!(nonce));
    }
    id.extend(claims);
    let alg = IdTokenAlg::parse(&client.id_token_alg).unwrap_or(IdTokenAlg::Rs256);
    let key = p.keys.active(p.store, p.encryption, alg).await?;
    let id_token = key.sign("JWT", id)?;
    Ok(Tokens {
        access_token: access.expose().to_string(),
        expires_in: access_secs,
        refresh_token: refresh.expose().to_string(),
        id_token,
        scope: a.scope.clone(),
    })
}

/// The claims the granted scopes give (in the ID token and from userinfo alike: some relying
/// parties read only one of them).
async fn claims(store: &Store, a: &Authorization, membership: &Membership) -> FlowResult<Map<String, Value>> {
    let scopes: Vec<&str> = a.scope.split(' ').collect();
    let mut out = Map::new();
    if scopes.contains(&"email") {
        out.insert("email".into(), json!(membership.email));
        // Every Portico account was made through a link sent to its address.
        out.insert("email_verified".into(), json!(true));
    }
    if scopes.contains(&"profile") {
        let profile = records::profile(store.pool(), membership.id).await?;
        let (given, family, preferred) = match &profile {
            Some(p) => (p.first_name.clone(), p.last_name.clone(), p.preferred_name.clone()),
            None => (String::new(), String::new(), None),
        };
        let shown = preferred.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| given.clone());
        let name =
            [shown.as_str(), family.as_str()].iter().filter(|s| !s.is_empty()).cloned().collect::<Vec<_>>();
        let name = if name.is_empty() { membership.email.clone() } else { name.join(" ") };
        out.insert("name".into(), json!(name));
        if !given.is_empty() {
            out.insert("given_name".into(), json!(given));
        }
        if !family.is_empty() {
            out.insert("family_name".into(), json!(family));
        }
        out.insert(
            "preferred_username".into(),
            json!(membership.username.clone().unwrap_or_else(|| membership.email.clone())),
        );
        let locale: Option<String> = sqlx::query_scalar("SELECT locale FROM users WHERE id = $1")
            .bind(membership.user_id)
            .fetch_optional(store.pool())
            .await
            .map_err(crate::store::StoreError::from)?
            .flatten();
        if let Some(locale) = locale {
            out.insert("locale".into(), json!(locale));
        }
    }
    if scopes.contains(&"groups") {
        let at = now();
        let mut groups = vec![membership.role.as_str().to_string()];
        groups.extend(
            records::authorisations(store.pool(), membership.id)
                .await?
                .into_iter()
                .filter(|auth| !auth.expired(at))
                .map(|auth| auth.name),
        );
        out.insert("groups".into(), json!(groups));
    }
    if scopes.contains(&"membership") {
        out.insert(
            "membership".into(),
            json!({ "status": membership.status.as_str(), "plan": membership.plan }),
        );
    }
    Ok(out)
}

/// A live access token and the membership it speaks for, after the rule (userinfo, and the
/// resource side of introspection).
pub async fn access_token(store: &Store, presented: &str) -> OAuthResult<(TokenRow, Client, Membership)> {
    let token_error = || refused("invalid_token", "the access token is not valid");
    let row = oidc_store::token(store.pool(), &SecretToken::hash_presented(presented))
        .await?
        .ok_or_else(token_error)?;
    if row.kind != "access" || row.grant_revoked || row.expires_at <= now() {
        return Err(token_error());
    }
    let client =
        oidc_store::client_by_id(store.pool(), row.authorization.client_pk).await?.ok_or_else(token_error)?;
    match rule::check_now(store, &client, row.authorization.user_id).await? {
        Ok(membership) => Ok((row, client, membership)),
        Err(_) => Err(token_error()),
    }
}

/// Userinfo: `sub` and the claims of the token's scopes.
pub async fn userinfo(store: &Store, presented: &str) -> OAuthResult<Value> {
    let (row, _, membership) = access_token(store, presented).await?;
    let mut out = claims(store, &row.authorization, &membership).await?;
    out.insert("sub".into(), json!(subject(store, row.authorization.user_id).await?));
    Ok(Value::Object(out))
}

/// Introspection (RFC 7662) by the client the token was issued to: `active` only while the token
/// is live and the membership rule holds; anything else is `{"active": false}`.
pub async fn introspect(p: &Provider<'_>, client: &Client, presented: &str) -> OAuthResult<Value> {
    let inactive = json!({ "active": false });
    let Some(row) = oidc_store::token(p.store.pool(), &SecretToken::hash_presented(presented)).await? else {
        return Ok(inactive);
    };
    let expired = row.expires_at <= now() || (row.kind == "refresh" && row.used_at.is_some());
    if row.authorization.client_pk != client.id || row.grant_revoked || expired {
        return Ok(inactive);
    }
    if rule::check_now(p.store, client, row.authorization.user_id).await?.is_err() {
        return Ok(inactive);
    }
    Ok(json!({
        "active": true,
        "scope": row.authorization.scope,
        "client_id": client.client_id,
        "sub": subject(p.store, row.authorization.user_id).await?,
        "token_type": if row.kind == "access" { "Bearer" } else { "refresh_token" },
        "exp": row.expires_at,
        "iat": row.created_at,
        "iss": p.issuer,
        "aud": client.client_id,
    }))
}

/// Revocation (RFC 7009) by the client the token was issued to: a refresh token revokes its
/// grant (and so every token of it), an access token itself. Unknown tokens are no error.
pub async fn revoke_token(p: &Provider<'_>, client: &Client, presented: &str) -> OAuthResult<()> {
    let hash = SecretToken::hash_presented(presented);
    let Some(row) = oidc_store::token(p.store.pool(), &hash).await? else { return Ok(()) };
    if row.authorization.client_pk != client.id {
        return Ok(());
    }
    let mut tx = p.store.begin().await?;
    if row.kind == "refresh" {
        oidc_store::revoke_grant(tx.conn(), row.grant_id, "revoked_by_client", now()).await?;
    } else {
        oidc_store::delete_token(tx.conn(), &hash).await?;
    }
    tx.commit().await?;
    Ok(())
}
