//! Signing in and out. Sessions live in the database (two server processes must share them);
//! the cookie holds a random token and only its SHA-256 is stored.

use serde_json::json;

use super::password::Hasher;
use super::{Ctx, FlowError, FlowResult, settings, throttle};
use crate::domain::settings::{SECOND_FACTOR_ATTEMPTS_PER_ACCOUNT, SECOND_FACTOR_ATTEMPTS_PER_IP};
use crate::domain::{Email, LOGIN_ATTEMPTS_PER_IP, SecretToken};
use crate::store::audit::{self, Actor, Origin};
use crate::store::factors;
use crate::store::sessions::{self, SessionUser};
use crate::store::{self, Store, now};

const LOGIN_WINDOW_SECS: i64 = 15 * 60;

/// How long the second step of a sign-in may take.
pub const PENDING_SIGN_IN_SECS: i64 = 10 * 60;

/// What a correct password leads to.
pub enum Opened {
    /// Signed in: the new session's cookie value.
    Session(SecretToken),
    /// The account has a second factor: a pending sign-in's cookie value. It is no session; the
    /// second step (`second_step`) turns it into one.
    SecondStep(SecretToken),
}

pub struct SignedIn {
    pub opened: Opened,
    pub user_id: i64,
    pub is_staff: bool,
}

/// Checks the credentials and opens a new session. Any session the request already carried is
/// deleted first, so the session id is always new after sign-in. A wrong password and an
/// unknown email fail identically (same error, same work, same audit action).
pub async fn sign_in(
    store: &Store,
    hasher: &Hasher,
    origin: &Origin,
    (email_input, password_input): (&str, &str),
    previous_session: Option<&str>,
    session_hours: i64,
    next_path: Option<&str>,
) -> FlowResult<SignedIn> {
    charge_password_attempt(store, origin).await?;

    let email = Email::parse(email_input).ok();
    let user = match &email {
        Some(email) => store::users::find_by_email(store.pool(), email).await?,
        None => None,
    };
    let stored_hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let password_ok = hasher.verify(password_input, stored_hash).await?;

    let mut tx = store.begin().await?;
    // A disabled account fails as a wrong password does.
    let Some(user) = user.filter(|u| password_ok && u.disabled_at.is_none()) else {
        let attempted: String =
            email.map(|e| e.to_string()).unwrap_or_else(|| email_input.trim().chars().take(254).collect());
        audit::record(
            tx.conn(),
            audit::NewEvent {
                actor: &Actor::system("anonymous"),
                origin,
                action: "sign_in.failed",
                target: None,
                org_id: None,
                details: json!({ "email": attempted }),
            },
        )
        .await?;
        tx.commit().await?;
        return Err(FlowError::InvalidCredentials);
    };

    let opened = after_password(&mut tx, user.id, previous_session, session_hours, origin, next_path).await?;
    if let Opened::Session(_) = opened {
        signed_in(&mut tx, &user, origin, "pwd").await?;
    }
    tx.commit().await?;
    Ok(SignedIn { opened, user_id: user.id, is_staff: user.staff_role.is_some() })
}

async fn signed_in(
    tx: &mut store::Tx,
    user: &store::users::User,
    origin: &Origin,
    amr: &str,
) -> FlowResult<()> {
    let action = if user.staff_role.is_some() { "staff.signed_in" } else { "user.signed_in" };
    audit::record(
        tx.conn(),
        audit::NewEvent {
            actor: &Actor::user(user.id, user.email.as_str()),
            origin,
            action,
            target: Some(user.email.as_str()),
            org_id: None,
            details: json!({ "amr": amr }),
        },
    )
    .await?;
    Ok(())
}

/// After a correct password (a sign-in, a reset, an invitation accepted with one): a session,
/// or, for an account with a second factor, a pending sign-in for the second step. Either way
/// the session the request carried ends.
pub async fn after_password(
    tx: &mut store::Tx,
    user_id: i64,
    previous_session: Option<&str>,
    session_hours: i64,
    origin: &Origin,
    next_path: Option<&str>,
) -> FlowResult<Opened> {
    if !factors::has_factor(tx.conn(), user_id).await? {
        return Ok(Opened::Session(
            open_session(tx, user_id, previous_session, session_hours, origin, "pwd").await?,
        ));
    }
    if let Some(previous) = previous_session {
        sessions::delete(tx.conn(), &SecretToken::hash_presented(previous)).await?;
    }
    let pending = SecretToken::generate("");
    let at = now();
    factors::insert_pending(tx.conn(), &pending.hash(), user_id, next_path, at, at + PENDING_SIGN_IN_SECS)
        .await?;
    Ok(Opened::SecondStep(pending))
}

/// A finished second step: the session, and where the sign-in was going.
pub struct SecondStepDone {
    pub session_token: SecretToken,
    pub is_staff: bool,
    pub next_path: Option<String>,
}

/// The pending sign-in behind a cookie, if it is live: (user id, where it was going).
pub async fn pending_sign_in(store: &Store, presented: &str) -> FlowResult<Option<factors::Pending>> {
    Ok(factors::pending(store.pool(), &SecretToken::hash_presented(presented), now()).await?)
}

/// Counts a second-step attempt against the account's and the client IP's allowances.
pub async fn charge_second_step(store: &Store, origin: &Origin, user_id: i64) -> FlowResult<()> {
    let per_account = settings::get(store, &SECOND_FACTOR_ATTEMPTS_PER_ACCOUNT).await?;
    let per_ip = settings::get(store, &SECOND_FACTOR_ATTEMPTS_PER_IP).await?;
    let ip = origin.client_ip.as_deref().unwrap_or("unknown");
    throttle::charge(store, &format!("2fa:ip:{ip}"), per_ip, LOGIN_WINDOW_SECS).await?;
    throttle::charge(store, &format!("2fa:user:{user_id}"), per_account, LOGIN_WINDOW_SECS).await
}

/// Audits a failed second step.
pub async fn second_step_failed(
    tx: &mut store::Tx,
    user: &store::users::User,
    origin: &Origin,
) -> FlowResult<()> {
    audit::record(
        tx.conn(),
        audit::NewEvent {
            actor: &Actor::user(user.id, user.email.as_str()),
            origin,
            action: "sign_in.second_factor_failed",
            target: Some(user.email.as_str()),
            org_id: None,
            details: json!({}),
        },
    )
    .await?;
    Ok(())
}

/// Ends a pending sign-in whose second step passed (`amr` says how) and opens its session, in
/// `tx`, which it commits. If another request finished it meanwhile, this one opens nothing.
pub async fn finish_pending(
    mut tx: store::Tx,
    config: &crate::config::Config,
    origin: &Origin,
    user: &store::users::User,
    pending_token: &str,
    next_path: Option<String>,
    amr: &str,
) -> FlowResult<SecondStepDone> {
    if !factors::delete_pending(tx.conn(), &SecretToken::hash_presented(pending_token)).await? {
        return Err(FlowError::NotFound);
    }
    let session = open_session(&mut tx, user.id, None, config.session_hours, origin, amr).await?;
    signed_in(&mut tx, user, origin, amr).await?;
    tx.commit().await?;
    Ok(SecondStepDone { session_token: session, is_staff: user.staff_role.is_some(), next_path })
}

/// Audits a sign-in (by whatever means `amr` says).
pub async fn record_signed_in(
    tx: &mut store::Tx,
    user: &store::users::User,
    origin: &Origin,
    amr: &str,
) -> FlowResult<()> {
    signed_in(tx, user, origin, amr).await
}

/// Starts a session for a user inside `tx`, always under a new id: the session the request
/// carried (if any) is deleted.
pub async fn open_session(
    tx: &mut store::Tx,
    user_id: i64,
    previous_session: Option<&str>,
    session_hours: i64,
    origin: &Origin,
    amr: &str,
) -> FlowResult<SecretToken> {
    if let Some(previous) = previous_session {
        sessions::delete(tx.conn(), &SecretToken::hash_presented(previous)).await?;
    }
    let token = SecretToken::generate("");
    let now = now();
    sessions::insert(tx.conn(), &token.hash(), user_id, (now, now + session_hours * 3600), amr, origin)
        .await?;
    Ok(token)
}

/// Counts a password attempt against the client IP's sign-in allowance.
pub async fn charge_password_attempt(store: &Store, origin: &Origin) -> FlowResult<()> {
    let limit = settings::get(store, &LOGIN_ATTEMPTS_PER_IP).await?;
    let ip = origin.client_ip.as_deref().unwrap_or("unknown");
    throttle::charge(store, &format!("login:ip:{ip}"), limit, LOGIN_WINDOW_SECS).await
}

pub async fn sign_out(store: &Store, ctx: &Ctx, session_token: &str) -> FlowResult<()> {
    let mut tx = store.begin().await?;
    let deleted = sessions::delete(tx.conn(), &SecretToken::hash_presented(session_token)).await?;
    if deleted > 0 {
        audit::record(
            tx.conn(),
            audit::NewEvent {
                actor: &ctx.actor,
                origin: &ctx.origin,
                action: "signed_out",
                target: None,
                org_id: None,
                details: json!({}),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// How stale a session's "last seen" may get before a request records it again: one write per
/// session every few minutes, not one per request.
const SESSION_SEEN_EVERY_SECS: i64 = 300;

/// The user behind a session cookie, if the session exists, has not expired and its account is
/// not disabled.
pub async fn session_user(store: &Store, session_token: &str) -> FlowResult<Option<SessionUser>> {
    let id_hash = SecretToken::hash_presented(session_token);
    let now = now();
    let user = sessions::find_user(store.pool(), &id_hash, now).await?;
    if let Some(u) = &user
        && now - u.last_seen_at >= SESSION_SEEN_EVERY_SECS
    {
        sessions::touch(store.pool(), &id_hash, now).await?;
    }
    Ok(user)
}

/// Removes expired sessions and old rate-limit windows; run periodically by the server.
pub async fn housekeeping(store: &Store) -> FlowResult<(u64, u64)> {
    let now = now();
    let mut tx = store.begin().await?;
    let sessions = sessions::delete_expired(tx.conn(), now).await?;
    factors::delete_expired_pending(tx.conn(), now).await?;
    factors::delete_expired_challenges(tx.conn(), now).await?;
    let windows = store::rate_limits::purge_before(tx.conn(), now - 2 * 24 * 3600).await?;
    tx.commit().await?;
    Ok((sessions, windows))
}
