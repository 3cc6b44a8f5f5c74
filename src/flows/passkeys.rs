//! Passkeys (WebAuthn, SPEC §3.10) through `webauthn-rs`: adding one (several, named), using
//! one as the second step of a sign-in, and signing in with a passkey alone (a discoverable
//! credential with user verification, which replaces password and second factor). A ceremony's
//! state waits in the database between its two requests (any server process may get the
//! second), expires after five minutes, and is taken once.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Uuid, Webauthn, WebauthnBuilder,
};

use super::account::{Me, record, user};
use super::auth::{self, SecondStepDone};
use super::{FlowError, FlowResult, invalid};
use crate::config::Config;
use crate::domain::SecretToken;
use crate::domain::text::{Lines, clean};
use crate::store::audit::Origin;
use crate::store::factors::{self, PasskeyRow};
use crate::store::{Store, StoreError, Tx, now, users};

/// How long a ceremony may take between its two requests.
pub const CEREMONY_SECS: i64 = 5 * 60;

/// The relying party: this server's host and origin (`base_url`). Browsers accept only a
/// domain name as its id: a server reached by an IP address cannot offer passkeys (409
/// `passkeys_unavailable`).
fn webauthn(config: &Config) -> FlowResult<Webauthn> {
    let origin = &config.base_url;
    let unavailable = FlowError::Conflict { code: "passkeys_unavailable" };
    let Some(url::Host::Domain(rp_id)) = origin.host() else { return Err(unavailable) };
    WebauthnBuilder::new(rp_id, origin)
        .and_then(|b| b.rp_name(&config.brand).build())
        .map_err(|_| unavailable)
}

fn internal(e: impl std::fmt::Display) -> FlowError {
    FlowError::Internal(e.to_string())
}

/// The first request of a ceremony: what to give `navigator.credentials`, and the name of the
/// ceremony to send back with the answer.
pub struct Started {
    pub ceremony: String,
    pub options: Value,
}

fn passkey_of(row: &PasskeyRow) -> FlowResult<Passkey> {
    serde_json::from_str(&row.credential)
        .map_err(|e| internal(format!("passkey {} is unreadable: {e}", row.id)))
}

fn cred_id_text(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

async fn store_ceremony(
    tx: &mut Tx,
    purpose: &str,
    user_id: Option<i64>,
    state: &impl serde::Serialize,
) -> FlowResult<String> {
    let token = SecretToken::generate("");
    let at = now();
    let state = serde_json::to_string(state).map_err(internal)?;
    factors::insert_challenge(tx.conn(), &token.hash(), purpose, user_id, &state, at, at + CEREMONY_SECS)
        .await?;
    Ok(token.expose().to_string())
}

/// Takes a ceremony's state, once (in its own transaction: a failed answer uses it up too).
async fn take_ceremony(
    store: &Store,
    ceremony: &str,
    purpose: &str,
) -> FlowResult<Option<(Option<i64>, String)>> {
    let mut tx = store.begin().await?;
    let taken =
        factors::take_challenge(tx.conn(), &SecretToken::hash_presented(ceremony), purpose, now()).await?;
    tx.commit().await?;
    Ok(taken)
}

/// Starts adding a passkey to the signed-in person's account.
pub async fn start_registration(store: &Store, config: &Config, me: &Me<'_>) -> FlowResult<Started> {
    let user = user(store, me.user_id).await?;
    let existing = factors::passkeys_of(store.pool(), user.id).await?;
    let exclude = existing
        .iter()
        .map(|r| passkey_of(r).map(|p| p.cred_id().clone()))
        .collect::<FlowResult<Vec<_>>>()?;
    let mut tx = store.begin().await?;
    let handle = factors::webauthn_handle(tx.conn(), user.id, &Uuid::new_v4().to_string()).await?;
    let handle = Uuid::parse_str(&handle).map_err(internal)?;
    let name = user.email.as_str();
    let (options, state) =
        webauthn(config)?.start_passkey_registration(handle, name, name, Some(exclude)).map_err(internal)?;
    let mut options = serde_json::to_value(&options).map_err(internal)?;
    // Asked to be discoverable where the authenticator can, so that it can sign in alone (the
    // library's passkey registration discourages it; verifying the answer does not depend on it).
    if let Some(selection) =
        options.pointer_mut("/publicKey/authenticatorSelection").and_then(Value::as_object_mut)
    {
        selection.insert("residentKey".into(), json!("preferred"));
    }
    let ceremony = store_ceremony(&mut tx, "register", Some(user.id), &state).await?;
    tx.commit().await?;
    Ok(Started { ceremony, options })
}

/// Finishes adding a passkey: the authenticator's answer to the ceremony, and its name.
pub async fn finish_registration(
    store: &Store,
    config: &Config,
    me: &Me<'_>,
    ceremony: &str,
    name: &str,
    answer: &str,
) -> FlowResult<()> {
    let name = match clean(name, 60, Lines::Single) {
        Ok(Some(name)) => name,
        Ok(None) => return Err(invalid("name", "required")),
        Err(e) => return Err(invalid("name", e.code())),
    };
    // Taken first: any answer, even one that does not parse, uses the ceremony up.
    let Some((Some(user_id), state)) = take_ceremony(store, ceremony, "register").await? else {
        return Err(invalid("credential", "ceremony_expired"));
    };
    let answer: RegisterPublicKeyCredential =
        serde_json::from_str(answer).map_err(|_| invalid("credential", "invalid_credential"))?;
    if user_id != me.user_id {
        return Err(invalid("credential", "ceremony_expired"));
    }
    let state: PasskeyRegistration = serde_json::from_str(&state).map_err(internal)?;
    let passkey = webauthn(config)?
        .finish_passkey_registration(&answer, &state)
        .map_err(|_| invalid("credential", "invalid_credential"))?;
    let user = user(store, user_id).await?;
    let cred_id = cred_id_text(passkey.cred_id().as_ref());
    let credential = serde_json::to_string(&passkey).map_err(internal)?;
    let at = now();
    let mut tx = store.begin().await?;
    match factors::insert_passkey(tx.conn(), user.id, &cred_id, &name, &credential, at).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(FlowError::Conflict { code: "passkey_exists" }),
        Err(e) => return Err(e.into()),
    }
    crate::store::sessions::verified(tx.conn(), &SecretToken::hash_presented(me.session), at).await?;
    record(&mut tx, &user, me.origin, "second_factor.passkey_added", json!({ "name": name })).await?;
    tx.commit().await?;
    Ok(())
}

/// `amr` for a passkey: a key that lives on one device (`hwk`) or is synchronised (`swk`),
/// with user verification (so multiple factors).
fn passkey_amr(backup_eligible: bool) -> &'static str {
    if backup_eligible { "swk mfa" } else { "hwk mfa" }
}

/// Starts the second step of a sign-in with a passkey.
pub async fn start_second_step(store: &Store, config: &Config, pending_token: &str) -> FlowResult<Started> {
    let pending = auth::pending_sign_in(store, pending_token).await?.ok_or(FlowError::NotFound)?;
    let rows = factors::passkeys_of(store.pool(), pending.user_id).await?;
    if rows.is_empty() {
        return Err(FlowError::NotFound);
    }
    let keys = rows.iter().map(passkey_of).collect::<FlowResult<Vec<_>>>()?;
    let (options, state) = webauthn(config)?.start_passkey_authentication(&keys).map_err(internal)?;
    let mut tx = store.begin().await?;
    let ceremony = store_ceremony(&mut tx, "authenticate", Some(pending.user_id), &state).await?;
    tx.commit().await?;
    Ok(Started { ceremony, options: serde_json::to_value(&options).map_err(internal)? })
}

/// The passkey a verified answer used, with its credential updated (counter, backup state).
async fn used_passkey(
    tx: &mut Tx,
    user_id: i64,
    result: &webauthn_rs::prelude::AuthenticationResult,
) -> FlowResult<bool> {
    let cred_id = cred_id_text(result.cred_id().as_ref());
    let Some(row) = factors::passkey_by_cred(tx.conn(), &cred_id).await?.filter(|r| r.user_id == user_id)
    else {
        return Ok(false);
    };
    let mut passkey = passkey_of(&row)?;
    passkey.update_credential(result);
    let credential = serde_json::to_string(&passkey).map_err(internal)?;
    factors::passkey_used(tx.conn(), row.id, &credential, now()).await?;
    Ok(true)
}

/// Finishes the second step with a passkey's answer. Throttled and audited like a code; every
/// failure answers the same (`InvalidCredentials`).
pub async fn finish_second_step(
    store: &Store,
    config: &Config,
    origin: &Origin,
    pending_token: &str,
    ceremony: &str,
    answer: &str,
) -> FlowResult<SecondStepDone> {
    let pending = auth::pending_sign_in(store, pending_token).await?.ok_or(FlowError::NotFound)?;
    auth::charge_second_step(store, origin, pending.user_id).await?;
    let user = users::find_by_id(store.pool(), pending.user_id).await?.ok_or(FlowError::NotFound)?;
    let verified = async {
        let (owner, state) = take_ceremony(store, ceremony, "authenticate").await.ok()??;
        let answer: PublicKeyCredential = serde_json::from_str(answer).ok()?;
        if owner != Some(user.id) {
            return None;
        }
        let state: PasskeyAuthentication = serde_json::from_str(&state).ok()?;
        webauthn(config).ok()?.finish_passkey_authentication(&answer, &state).ok()
    };
    let result = verified.await;
    let mut tx = store.begin().await?;
    let passed = match &result {
        Some(result) => used_passkey(&mut tx, user.id, result).await?,
        None => false,
    };
    let Some(result) = result.filter(|_| passed) else {
        auth::second_step_failed(&mut tx, &user, origin).await?;
        tx.commit().await?;
        return Err(FlowError::InvalidCredentials);
    };
    let amr = format!("pwd {}", passkey_amr(result.backup_eligible()));
    auth::finish_pending(tx, config, origin, &user, pending_token, pending.next_path, &amr).await
}

/// Starts a sign-in with a passkey alone (the authenticator offers the person's passkeys).
/// Counted against the client IP's sign-in allowance.
pub async fn start_discoverable(store: &Store, config: &Config, origin: &Origin) -> FlowResult<Started> {
    auth::charge_password_attempt(store, origin).await?;
    let (mut options, state) = webauthn(config)?.start_discoverable_authentication().map_err(internal)?;
    // A button asks for it, not an autofill field: the browser's usual dialog.
    options.mediation = None;
    let mut tx = store.begin().await?;
    let ceremony = store_ceremony(&mut tx, "discover", None, &state).await?;
    tx.commit().await?;
    Ok(Started { ceremony, options: serde_json::to_value(&options).map_err(internal)? })
}

/// Finishes a sign-in with a passkey alone: a new session (the one the request carried ends).
/// Every failure is the same `InvalidCredentials`.
pub async fn finish_discoverable(
    store: &Store,
    config: &Config,
    origin: &Origin,
    ceremony: &str,
    answer: &str,
    previous_session: Option<&str>,
) -> FlowResult<(SecretToken, bool)> {
    let webauthn = webauthn(config)?;
    let found = async {
        let (_, state) = take_ceremony(store, ceremony, "discover").await.ok()??;
        let answer: PublicKeyCredential = serde_json::from_str(answer).ok()?;
        let state: DiscoverableAuthentication = serde_json::from_str(&state).ok()?;
        let (handle, _) = webauthn.identify_discoverable_authentication(&answer).ok()?;
        let user_id = factors::user_by_webauthn_handle(store.pool(), &handle.to_string()).await.ok()??;
        let rows = factors::passkeys_of(store.pool(), user_id).await.ok()?;
        let keys: Vec<DiscoverableKey> =
            rows.iter().filter_map(|r| passkey_of(r).ok()).map(DiscoverableKey::from).collect();
        let result = webauthn.finish_discoverable_authentication(&answer, state, &keys).ok()?;
        Some((user_id, result))
    };
    let Some((user_id, result)) = found.await else { return Err(FlowError::InvalidCredentials) };
    let user = users::find_by_id(store.pool(), user_id).await?.ok_or(FlowError::InvalidCredentials)?;
    let mut tx = store.begin().await?;
    if !used_passkey(&mut tx, user.id, &result).await? {
        return Err(FlowError::InvalidCredentials);
    }
    let amr = passkey_amr(result.backup_eligible());
    let session =
        auth::open_session(&mut tx, user.id, previous_session, config.session_hours, origin, amr).await?;
    auth::record_signed_in(&mut tx, &user, origin, amr).await?;
    tx.commit().await?;
    Ok((session, user.staff_role.is_some()))
}

/// Removes one of the person's passkeys (after the password or a code: see `second_factor`).
pub async fn delete(tx: &mut Tx, user_id: i64, passkey_id: i64) -> FlowResult<u64> {
    Ok(factors::delete_passkey(tx.conn(), user_id, passkey_id).await?)
}
