//! The OpenID Connect provider's state (SPEC §3.9): signing keys, clients, codes, grants and
//! their tokens, consents.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Executor, Row};

use super::{Result, StoreError};

// ---- signing keys -------------------------------------------------------------------------

pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub state: String,
    /// Encrypted (see `flows::oidc::keys`).
    pub private_key: String,
    pub public_jwk: String,
    pub created_at: i64,
}

const KEY_COLUMNS: &str = "kid, alg, state, private_key, public_jwk, created_at";

fn key(r: &AnyRow) -> Result<KeyRow> {
    Ok(KeyRow {
        kid: r.try_get(0)?,
        alg: r.try_get(1)?,
        state: r.try_get(2)?,
        private_key: r.try_get(3)?,
        public_jwk: r.try_get(4)?,
        created_at: r.try_get(5)?,
    })
}

pub struct NewKey<'a> {
    pub kid: &'a str,
    pub alg: &'a str,
    pub state: &'a str,
    pub private_key: &'a str,
    pub public_jwk: &'a str,
}

/// Adds a key unless its algorithm already has one in that state; whether it was added.
pub async fn insert_key(conn: &mut AnyConnection, new: &NewKey<'_>, now: i64) -> Result<bool> {
    let activated = (new.state == "active").then_some(now);
    let done = sqlx::query(
        "INSERT INTO oidc_keys (kid, alg, state, private_key, public_jwk, created_at, activated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
    )
    .bind(new.kid)
    .bind(new.alg)
    .bind(new.state)
    .bind(new.private_key)
    .bind(new.public_jwk)
    .bind(now)
    .bind(activated)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn key_in_state<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    alg: &str,
    state: &str,
) -> Result<Option<KeyRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS} FROM oidc_keys WHERE alg = $1 AND state = $2"
    )))
    .bind(alg)
    .bind(state)
    .fetch_optional(e)
    .await?;
    row.as_ref().map(key).transpose()
}

/// Every key the JWKS shows, oldest first.
pub async fn published_keys<'c, E: Executor<'c, Database = sqlx::Any>>(e: E) -> Result<Vec<KeyRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {KEY_COLUMNS} FROM oidc_keys ORDER BY id")))
        .fetch_all(e)
        .await?;
    rows.iter().map(key).collect()
}

pub async fn retire_active(conn: &mut AnyConnection, alg: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE oidc_keys SET state = 'retired', retired_at = $2 WHERE alg = $1 AND state = 'active'",
    )
    .bind(alg)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Makes a `next` key the active one; false if it is not `next` any more.
pub async fn activate(conn: &mut AnyConnection, kid: &str, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE oidc_keys SET state = 'active', activated_at = $2 WHERE kid = $1 AND state = 'next'",
    )
    .bind(kid)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete_retired_before<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    before: i64,
) -> Result<u64> {
    let done = sqlx::query("DELETE FROM oidc_keys WHERE state = 'retired' AND retired_at < $1")
        .bind(before)
        .execute(e)
        .await?;
    Ok(done.rows_affected())
}

/// A JSON array column.
pub(crate) fn json_list(text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

// ---- clients ------------------------------------------------------------------------------

/// A relying party of an organisation.
#[derive(Clone, Debug)]
pub struct Client {
    pub id: i64,
    pub org_id: i64,
    pub client_id: String,
    pub name: String,
    /// SHA-256 of the secret; `None` for a public client.
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub pkce_required: bool,
    pub first_party: bool,
    pub requires_authorisation: Option<String>,
    pub requires_role: Option<String>,
    pub id_token_alg: String,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }
}

const CLIENT_COLUMNS: &str = "id, org_id, client_id, name, secret_hash, redirect_uris, post_logout_redirect_uris, \
     backchannel_logout_uri, pkce_required, first_party, requires_authorisation, requires_role, id_token_alg, \
     enabled, created_at, updated_at";

fn client(r: &AnyRow) -> Result<Client> {
    Ok(Client {
        id: r.try_get(0)?,
        org_id: r.try_get(1)?,
        client_id: r.try_get(2)?,
        name: r.try_get(3)?,
        secret_hash: r.try_get(4)?,
        redirect_uris: json_list(&r.try_get::<String, _>(5)?)?,
        post_logout_redirect_uris: json_list(&r.try_get::<String, _>(6)?)?,
        backchannel_logout_uri: r.try_get(7)?,
        pkce_required: r.try_get::<i64, _>(8)? == 1,
        first_party: r.try_get::<i64, _>(9)? == 1,
        requires_authorisation: r.try_get(10)?,
        requires_role: r.try_get(11)?,
        id_token_alg: r.try_get(12)?,
        enabled: r.try_get::<i64, _>(13)? == 1,
        created_at: r.try_get(14)?,
        updated_at: r.try_get(15)?,
    })
}

/// What a client is made of (new, or the whole of a change).
pub struct ClientFields<'a> {
    pub name: &'a str,
    pub redirect_uris: &'a [String],
    pub post_logout_redirect_uris: &'a [String],
    pub backchannel_logout_uri: Option<&'a str>,
    pub pkce_required: bool,
    pub first_party: bool,
    pub requires_authorisation: Option<&'a str>,
    pub requires_role: Option<&'a str>,
    pub id_token_alg: &'a str,
    pub enabled: bool,
}

fn list_json(items: &[String]) -> String {
    serde_json::Value::from(items.to_vec()).to_string()
}

pub async fn insert_client(
    conn: &mut AnyConnection,
    org_id: i64,
    client_id: &str,
    secret_hash: Option<&str>,
    f: &ClientFields<'_>,
    created_by: &str,
    now: i64,
) -> Result<Client> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO oidc_clients (org_id, client_id, secret_hash, name, redirect_uris, post_logout_redirect_uris,
             backchannel_logout_uri, pkce_required, first_party, requires_authorisation, requires_role,
             id_token_alg, enabled, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15) RETURNING {CLIENT_COLUMNS}"
    )))
    .bind(org_id)
    .bind(client_id)
    .bind(secret_hash)
    .bind(f.name)
    .bind(list_json(f.redirect_uris))
    .bind(list_json(f.post_logout_redirect_uris))
    .bind(f.backchannel_logout_uri)
    .bind(i64::from(f.pkce_required))
    .bind(i64::from(f.first_party))
    .bind(f.requires_authorisation)
    .bind(f.requires_role)
    .bind(f.id_token_alg)
    .bind(i64::from(f.enabled))
    .bind(created_by)
    .bind(now)
    .fetch_one(conn)
    .await?;
    client(&row)
}

pub async fn update_client(conn: &mut AnyConnection, id: i64, f: &ClientFields<'_>, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE oidc_clients SET name = $2, redirect_uris = $3, post_logout_redirect_uris = $4,
             backchannel_logout_uri = $5, pkce_required = $6, first_party = $7, requires_authorisation = $8,
             requires_role = $9, id_token_alg = $10, enabled = $11, updated_at = $12
         WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(f.name)
    .bind(list_json(f.redirect_uris))
    .bind(list_json(f.post_logout_redirect_uris))
    .bind(f.backchannel_logout_uri)
    .bind(i64::from(f.pkce_required))
    .bind(i64::from(f.first_party))
    .bind(f.requires_authorisation)
    .bind(f.requires_role)
    .bind(f.id_token_alg)
    .bind(i64::from(f.enabled))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_secret(conn: &mut AnyConnection, id: i64, secret_hash: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE oidc_clients SET secret_hash = $2, updated_at = $3 WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(secret_hash)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete_client(conn: &mut AnyConnection, id: i64, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE oidc_clients SET deleted_at = $2, enabled = 0, updated_at = $2 WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A live (not deleted) client by its `client_id`.
pub async fn client_by_client_id<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    client_id: &str,
) -> Result<Option<Client>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CLIENT_COLUMNS} FROM oidc_clients WHERE client_id = $1 AND deleted_at IS NULL"
    )))
    .bind(client_id)
    .fetch_optional(e)
    .await?;
    row.as_ref().map(client).transpose()
}

pub async fn client_by_id<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    id: i64,
) -> Result<Option<Client>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CLIENT_COLUMNS} FROM oidc_clients WHERE id = $1 AND deleted_at IS NULL"
    )))
    .bind(id)
    .fetch_optional(e)
    .await?;
    row.as_ref().map(client).transpose()
}

pub async fn clients_of<'c, E: Executor<'c, Database = sqlx::Any>>(e: E, org_id: i64) -> Result<Vec<Client>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CLIENT_COLUMNS} FROM oidc_clients WHERE org_id = $1 AND deleted_at IS NULL ORDER BY id"
    )))
    .bind(org_id)
    .fetch_all(e)
    .await?;
    rows.iter().map(client).collect()
}

// ---- subjects -----------------------------------------------------------------------------

/// The user's `sub`, if it was made.
pub async fn existing_subject<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    user_id: i64,
) -> Result<Option<String>> {
    let row = sqlx::query("SELECT oidc_sub FROM users WHERE id = $1").bind(user_id).fetch_optional(e).await?;
    Ok(row.map(|r| r.try_get::<Option<String>, _>(0)).transpose()?.flatten())
}

/// The user's `sub`, made (random, once) on first need.
pub async fn subject(conn: &mut AnyConnection, user_id: i64, fresh: &str) -> Result<String> {
    sqlx::query("UPDATE users SET oidc_sub = $2 WHERE id = $1 AND oidc_sub IS NULL")
        .bind(user_id)
        .bind(fresh)
        .execute(&mut *conn)
        .await?;
    let row = sqlx::query("SELECT oidc_sub FROM users WHERE id = $1").bind(user_id).fetch_one(conn).await?;
    Ok(row.try_get(0)?)
}

// ---- codes, grants, tokens ----------------------------------------------------------------

/// What an authorization code (and the grant it starts) carries.
#[derive(Clone, Debug)]
pub struct Authorization {
    pub client_pk: i64,
    pub user_id: i64,
    pub membership_id: i64,
    pub scope: String,
    pub sid: String,
    pub auth_time: i64,
    pub amr: String,
    pub nonce: Option<String>,
}

/// An [`Authorization`] from eight columns starting at `at`, in the order
/// `client_pk, user_id, membership_id, scope, sid, auth_time, amr, nonce` (codes and grants
/// store it alike).
fn authorization_at(r: &AnyRow, at: usize) -> Result<Authorization> {
    Ok(Authorization {
        client_pk: r.try_get(at)?,
        user_id: r.try_get(at + 1)?,
        membership_id: r.try_get(at + 2)?,
        scope: r.try_get(at + 3)?,
        sid: r.try_get(at + 4)?,
        auth_time: r.try_get(at + 5)?,
        amr: r.try_get(at + 6)?,
        nonce: r.try_get(at + 7)?,
    })
}

pub async fn insert_code(
    conn: &mut AnyConnection,
    code_hash: &str,
    a: &Authorization,
    redirect_uri: &str,
    code_challenge: Option<&str>,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO oidc_codes (code_hash, client_pk, user_id, membership_id, redirect_uri, code_challenge, nonce,
             scope, sid, auth_time, amr, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(code_hash)
    .bind(a.client_pk)
    .bind(a.user_id)
    .bind(a.membership_id)
    .bind(redirect_uri)
    .bind(code_challenge)
    .bind(a.nonce.as_deref())
    .bind(&a.scope)
    .bind(&a.sid)
    .bind(a.auth_time)
    .bind(&a.amr)
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A stored code.
pub struct CodeRow {
    pub authorization: Authorization,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub grant_id: Option<i64>,
}

pub async fn code(conn: &mut AnyConnection, code_hash: &str) -> Result<Option<CodeRow>> {
    let row = sqlx::query(
        "SELECT client_pk, user_id, membership_id, scope, sid, auth_time, amr, nonce, redirect_uri, code_challenge,
                expires_at, used_at, grant_id
         FROM oidc_codes WHERE code_hash = $1",
    )
    .bind(code_hash)
    .fetch_optional(conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(CodeRow {
        authorization: authorization_at(&r, 0)?,
        redirect_uri: r.try_get(8)?,
        code_challenge: r.try_get(9)?,
        expires_at: r.try_get(10)?,
        used_at: r.try_get(11)?,
        grant_id: r.try_get(12)?,
    }))
}

/// Marks a code used by the grant it made; false if another exchange used it first.
pub async fn use_code(conn: &mut AnyConnection, code_hash: &str, grant_id: i64, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE oidc_codes SET used_at = $2, grant_id = $3 WHERE code_hash = $1 AND used_at IS NULL",
    )
    .bind(code_hash)
    .bind(now)
    .bind(grant_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn insert_grant(conn: &mut AnyConnection, a: &Authorization, now: i64) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO oidc_grants (client_pk, user_id, membership_id, scope, sid, auth_time, amr, nonce, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(a.client_pk)
    .bind(a.user_id)
    .bind(a.membership_id)
    .bind(&a.scope)
    .bind(&a.sid)
    .bind(a.auth_time)
    .bind(&a.amr)
    .bind(a.nonce.as_deref())
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

pub async fn insert_token(
    conn: &mut AnyConnection,
    token_hash: &str,
    grant_id: i64,
    kind: &str,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO oidc_tokens (token_hash, grant_id, kind, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(grant_id)
    .bind(kind)
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A token with its grant, as presented (a token of a revoked grant is returned too: the caller
/// decides).
#[derive(Clone, Debug)]
pub struct TokenRow {
    pub grant_id: i64,
    pub kind: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub grant_revoked: bool,
    pub authorization: Authorization,
}

pub async fn token<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    token_hash: &str,
) -> Result<Option<TokenRow>> {
    let row = sqlx::query(
        "SELECT t.grant_id, t.kind, t.created_at, t.expires_at, t.used_at, g.revoked_at,
                g.client_pk, g.user_id, g.membership_id, g.scope, g.sid, g.auth_time, g.amr, g.nonce
         FROM oidc_tokens t JOIN oidc_grants g ON g.id = t.grant_id WHERE t.token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(e)
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(TokenRow {
        grant_id: r.try_get(0)?,
        kind: r.try_get(1)?,
        created_at: r.try_get(2)?,
        expires_at: r.try_get(3)?,
        used_at: r.try_get(4)?,
        grant_revoked: r.try_get::<Option<i64>, _>(5)?.is_some(),
        authorization: authorization_at(&r, 6)?,
    }))
}

/// Uses a refresh token once; false if it was used already (a replay).
pub async fn use_refresh_token(conn: &mut AnyConnection, token_hash: &str, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE oidc_tokens SET used_at = $2 WHERE token_hash = $1 AND kind = 'refresh' AND used_at IS NULL",
    )
    .bind(token_hash)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete_token(conn: &mut AnyConnection, token_hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM oidc_tokens WHERE token_hash = $1").bind(token_hash).execute(conn).await?;
    Ok(())
}

/// A grant that was live and is now revoked, for back-channel logout.
#[derive(Clone, Debug)]
pub struct RevokedGrant {
    pub grant_id: i64,
    pub client_pk: i64,
    pub user_id: i64,
    pub sid: String,
}

/// The rows of `RETURNING id, client_pk, user_id, sid`.
fn revoked(rows: &[AnyRow]) -> Result<Vec<RevokedGrant>> {
    rows.iter()
        .map(|r| {
            Ok(RevokedGrant {
                grant_id: r.try_get(0)?,
                client_pk: r.try_get(1)?,
                user_id: r.try_get(2)?,
                sid: r.try_get(3)?,
            })
        })
        .collect()
}

async fn revoke_where(
    conn: &mut AnyConnection,
    condition: &str,
    bind: i64,
    reason: &str,
    now: i64,
) -> Result<Vec<RevokedGrant>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE oidc_grants SET revoked_at = $2, revoked_reason = $3
         WHERE {condition} AND revoked_at IS NULL RETURNING id, client_pk, user_id, sid"
    )))
    .bind(bind)
    .bind(now)
    .bind(reason)
    .fetch_all(conn)
    .await?;
    revoked(&rows)
}

pub async fn revoke_grant(
    conn: &mut AnyConnection,
    grant_id: i64,
    reason: &str,
    now: i64,
) -> Result<Vec<RevokedGrant>> {
    revoke_where(conn, "id = $1", grant_id, reason, now).await
}

pub async fn revoke_grants_of_membership(
    conn: &mut AnyConnection,
    membership_id: i64,
    reason: &str,
    now: i64,
) -> Result<Vec<RevokedGrant>> {
    revoke_where(conn, "membership_id = $1", membership_id, reason, now).await
}

/// The membership's grants to clients that require `authorisation`.
pub async fn revoke_grants_needing(
    conn: &mut AnyConnection,
    membership_id: i64,
    authorisation: &str,
    reason: &str,
    now: i64,
) -> Result<Vec<RevokedGrant>> {
    let rows = sqlx::query(
        "UPDATE oidc_grants SET revoked_at = $3, revoked_reason = $4
         WHERE membership_id = $1 AND revoked_at IS NULL
           AND client_pk IN (SELECT id FROM oidc_clients WHERE requires_authorisation = $2)
         RETURNING id, client_pk, user_id, sid",
    )
    .bind(membership_id)
    .bind(authorisation)
    .bind(now)
    .bind(reason)
    .fetch_all(conn)
    .await?;
    revoked(&rows)
}

pub async fn revoke_grants_of_user(
    conn: &mut AnyConnection,
    user_id: i64,
    reason: &str,
    now: i64,
) -> Result<Vec<RevokedGrant>> {
    revoke_where(conn, "user_id = $1", user_id, reason, now).await
}

// ---- consents -----------------------------------------------------------------------------

/// The scopes a user consented to for a client, if any.
pub async fn consent<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    user_id: i64,
    client_pk: i64,
) -> Result<Option<String>> {
    let row = sqlx::query("SELECT scope FROM oidc_consents WHERE user_id = $1 AND client_pk = $2")
        .bind(user_id)
        .bind(client_pk)
        .fetch_optional(e)
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

pub async fn record_consent(
    conn: &mut AnyConnection,
    user_id: i64,
    client_pk: i64,
    scope: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO oidc_consents (user_id, client_pk, scope, granted_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id, client_pk) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
    )
    .bind(user_id)
    .bind(client_pk)
    .bind(scope)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The clients a user has allowed, with the scopes, newest first.
pub async fn consents_of<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    user_id: i64,
) -> Result<Vec<(Client, String)>> {
    let columns: String = CLIENT_COLUMNS.split(", ").map(|c| format!("c.{c}")).collect::<Vec<_>>().join(", ");
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {columns}, k.scope FROM oidc_consents k JOIN oidc_clients c ON c.id = k.client_pk
         WHERE k.user_id = $1 AND c.deleted_at IS NULL ORDER BY k.granted_at DESC, c.id DESC"
    )))
    .bind(user_id)
    .fetch_all(e)
    .await?;
    rows.iter().map(|r| Ok((client(r)?, r.try_get(16)?))).collect()
}

/// Withdraws a consent; whether there was one.
pub async fn withdraw_consent(conn: &mut AnyConnection, user_id: i64, client_pk: i64) -> Result<bool> {
    let done = sqlx::query("DELETE FROM oidc_consents WHERE user_id = $1 AND client_pk = $2")
        .bind(user_id)
        .bind(client_pk)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The user's live grants to one client.
pub async fn revoke_grants_of_user_for(
    conn: &mut AnyConnection,
    user_id: i64,
    client_pk: i64,
    reason: &str,
    now: i64,
) -> Result<Vec<RevokedGrant>> {
    let rows = sqlx::query(
        "UPDATE oidc_grants SET revoked_at = $3, revoked_reason = $4
         WHERE user_id = $1 AND client_pk = $2 AND revoked_at IS NULL RETURNING id, client_pk, user_id, sid",
    )
    .bind(user_id)
    .bind(client_pk)
    .bind(now)
    .bind(reason)
    .fetch_all(conn)
    .await?;
    revoked(&rows)
}

// ---- back-channel logout deliveries -------------------------------------------------------

/// Queues a logout token for each ended grant whose client has a back-channel logout URI (one
/// per client and session); how many.
pub async fn queue_logouts(
    conn: &mut AnyConnection,
    ended: &[RevokedGrant],
    reason: &str,
    now_ms: i64,
) -> Result<u64> {
    let mut seen: Vec<(i64, &str)> = Vec::new();
    let mut queued = 0;
    for g in ended {
        if seen.contains(&(g.client_pk, g.sid.as_str())) {
            continue;
        }
        seen.push((g.client_pk, g.sid.as_str()));
        let done = sqlx::query(
            "INSERT INTO oidc_logouts (client_pk, user_id, sid, reason, state, next_attempt_ms, created_at)
             SELECT c.id, $2, $3, $4, 'queued', $5, $6 FROM oidc_clients c
             WHERE c.id = $1 AND c.backchannel_logout_uri IS NOT NULL AND c.deleted_at IS NULL",
        )
        .bind(g.client_pk)
        .bind(g.user_id)
        .bind(&g.sid)
        .bind(reason)
        .bind(now_ms)
        .bind(now_ms / 1000)
        .execute(&mut *conn)
        .await?;
        queued += done.rows_affected();
    }
    Ok(queued)
}

/// A claimed logout delivery, with what its token says.
#[derive(Clone, Debug)]
pub struct ClaimedLogout {
    pub id: i64,
    pub attempts: i64,
    pub claim_token: String,
    pub client_id: String,
    pub org_slug: String,
    pub url: String,
    pub alg: String,
    pub sub: Option<String>,
    pub sid: String,
}

/// Claims up to `limit` due deliveries with a lease (a concurrent claimer re-checks the row's
/// state under its lock, so no delivery is claimed twice).
pub async fn claim_logouts(
    conn: &mut AnyConnection,
    now_ms: i64,
    lease_until_ms: i64,
    claim_token: &str,
    limit: i64,
) -> Result<Vec<ClaimedLogout>> {
    sqlx::query(
        "UPDATE oidc_logouts SET claim_token = $3, lease_until_ms = $2, attempts = attempts + 1
         WHERE id IN (SELECT id FROM oidc_logouts
                      WHERE state IN ('queued', 'failed') AND next_attempt_ms <= $1
                        AND (lease_until_ms IS NULL OR lease_until_ms < $1)
                      ORDER BY next_attempt_ms, id LIMIT $4)
           AND state IN ('queued', 'failed') AND (lease_until_ms IS NULL OR lease_until_ms < $1)",
    )
    .bind(now_ms)
    .bind(lease_until_ms)
    .bind(claim_token)
    .bind(limit)
    .execute(&mut *conn)
    .await?;
    let rows = sqlx::query(
        "SELECT l.id, l.attempts, c.client_id, o.slug, c.backchannel_logout_uri, c.id_token_alg, u.oidc_sub, l.sid
         FROM oidc_logouts l JOIN oidc_clients c ON c.id = l.client_pk JOIN organisations o ON o.id = c.org_id
              JOIN users u ON u.id = l.user_id
         WHERE l.claim_token = $1",
    )
    .bind(claim_token)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ClaimedLogout {
                id: r.try_get(0)?,
                attempts: r.try_get(1)?,
                claim_token: claim_token.to_string(),
                client_id: r.try_get(2)?,
                org_slug: r.try_get(3)?,
                url: r.try_get::<Option<String>, _>(4)?.unwrap_or_default(),
                alg: r.try_get(5)?,
                sub: r.try_get(6)?,
                sid: r.try_get(7)?,
            })
        })
        .collect()
}

/// The outcome of a logout delivery: `delivered`, or `failed` again at `next_attempt_ms`, or
/// `dead` (`None`). False when the claim was lost.
pub async fn record_logout(
    conn: &mut AnyConnection,
    c: &ClaimedLogout,
    state: &str,
    next_attempt_ms: Option<i64>,
    status: Option<i64>,
    error: Option<&str>,
    now_ms: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE oidc_logouts SET state = $3, next_attempt_ms = COALESCE($4, next_attempt_ms), last_status = $5,
             last_error = $6, claim_token = NULL, lease_until_ms = NULL,
             delivered_at = CASE WHEN $3 = 'delivered' THEN $7 ELSE delivered_at END
         WHERE id = $1 AND claim_token = $2",
    )
    .bind(c.id)
    .bind(&c.claim_token)
    .bind(state)
    .bind(next_attempt_ms)
    .bind(status)
    .bind(error)
    .bind(now_ms / 1000)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A client's logout deliveries, newest first, for staff.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct LogoutRow {
    pub id: i64,
    pub reason: String,
    pub state: String,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
    /// When the next attempt is due (milliseconds), while `queued` or `failed`.
    pub next_attempt_ms: i64,
}

pub async fn logouts_of<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    client_pk: i64,
    limit: i64,
) -> Result<Vec<LogoutRow>> {
    let rows = sqlx::query(
        "SELECT id, reason, state, attempts, last_status, last_error, created_at, delivered_at,
                next_attempt_ms
         FROM oidc_logouts WHERE client_pk = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(client_pk)
    .bind(limit)
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(LogoutRow {
                id: r.try_get(0)?,
                reason: r.try_get(1)?,
                state: r.try_get(2)?,
                attempts: r.try_get(3)?,
                last_status: r.try_get(4)?,
                last_error: r.try_get(5)?,
                created_at: r.try_get(6)?,
                delivered_at: r.try_get(7)?,
                next_attempt_ms: r.try_get(8)?,
            })
        })
        .collect()
}
