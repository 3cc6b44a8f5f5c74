//! Signing in and out. Sessions live in the database (two server processes must share them);
//! the cookie holds a random token and only its SHA-256 is stored.

use serde_json::json;

use super::password::Hasher;
use super::{Ctx, FlowError, FlowResult, settings, throttle};
use crate::domain::{Email, LOGIN_ATTEMPTS_PER_IP, SecretToken};
use crate::store::audit::{self, Actor, Origin};
use crate::store::sessions::{self, SessionUser};
use crate::store::{self, Store, now};

const LOGIN_WINDOW_SECS: i64 = 15 * 60;

pub struct SignedIn {
    pub session_token: SecretToken,
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
    email_input: &str,
    password_input: &str,
    previous_session: Option<&str>,
    session_hours: i64,
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

    let token = open_session(&mut tx, user.id, previous_session, session_hours, origin).await?;
    let action = if user.staff_role.is_some() { "staff.signed_in" } else { "user.signed_in" };
    audit::record(
        tx.conn(),
        audit::NewEvent {
            actor: &Actor::user(user.id, user.email.as_str()),
            origin,
            action,
            target: Some(user.email.as_str()),
            org_id: None,
            details: json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(SignedIn { session_token: token, user_id: user.id, is_staff: user.staff_role.is_some() })
}

/// Starts a session for a user inside `tx`, always under a new id: the session the request
/// carried (if any) is deleted.
pub async fn open_session(
    tx: &mut store::Tx,
    user_id: i64,
    previous_session: Option<&str>,
    session_hours: i64,
    origin: &Origin,
) -> FlowResult<SecretToken> {
    if let Some(previous) = previous_session {
        sessions::delete(tx.conn(), &SecretToken::hash_presented(previous)).await?;
    }
    let token = SecretToken::generate("");
    let now = now();
    sessions::insert(tx.conn(), &token.hash(), user_id, now, now + session_hours * 3600, origin).await?;
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
    let windows = store::rate_limits::purge_before(tx.conn(), now - 2 * 24 * 3600).await?;
    tx.commit().await?;
    Ok((sessions, windows))
}
