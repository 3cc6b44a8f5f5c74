//! Account self-service for every signed-in user (`/account`): change the password, change the
//! email address through a link sent to the new one (the old one is told), list and end one's
//! own sessions, choose a language. Every change is audited; password and address changes are
//! throttled.

use serde_json::json;

use super::password::Hasher;
use super::{FlowError, FlowResult, auth, invalid, throttle};
use crate::config::Config;
use crate::domain::{Email, NewPassword, SecretToken};
use crate::i18n::Locale;
use crate::mail::templates::{AccountLink, AccountMail};
use crate::store::audit::{self, Actor, Origin};
use crate::store::sessions::{self, SessionInfo};
use crate::store::tokens::{self, Purpose};
use crate::store::{self, Store, now, users};

/// The subject kind of an address-change link (purpose `email_verification`): the user whose
/// address it changes. Signup links carry `signup_request`; neither is taken for the other.
const EMAIL_CHANGE: &str = "user_email";
/// Address change requests per account per hour.
const EMAIL_CHANGES_PER_HOUR: i64 = 5;
/// How long an address-change link lives.
pub const EMAIL_CHANGE_HOURS: i64 = 24;

/// Who is acting on their own account, from where, with which session.
pub struct Me<'a> {
    pub user_id: i64,
    pub origin: &'a Origin,
    /// The session cookie the request came with.
    pub session: &'a str,
}

pub struct Overview {
    pub user: users::User,
    pub sessions: Vec<SessionInfo>,
    /// Applications the person allowed to sign them in (OpenID Connect clients), with the
    /// scopes they allowed.
    pub connected: Vec<(crate::store::oidc::Client, String)>,
    /// The stored hash of the session this request came with.
    pub current: String,
}

/// The account behind a signed-in request.
pub(super) async fn user(store: &Store, user_id: i64) -> FlowResult<users::User> {
    users::find_by_id(store.pool(), user_id).await?.ok_or(FlowError::NotFound)
}

/// Audits an action of a person on their own account.
pub(super) async fn record(
    tx: &mut store::Tx,
    user: &users::User,
    origin: &Origin,
    action: &str,
    details: serde_json::Value,
) -> FlowResult<()> {
    audit::record(
        tx.conn(),
        audit::NewEvent {
            actor: &Actor::user(user.id, user.email.as_str()),
            origin,
            action,
            target: Some(user.email.as_str()),
            org_id: None,
            details,
        },
    )
    .await?;
    Ok(())
}

pub async fn overview(store: &Store, me: &Me<'_>) -> FlowResult<Overview> {
    let user = user(store, me.user_id).await?;
    let sessions = sessions::list_for_user(store.pool(), me.user_id, now()).await?;
    let connected = crate::store::oidc::consents_of(store.pool(), me.user_id).await?;
    Ok(Overview { user, sessions, connected, current: SecretToken::hash_presented(me.session) })
}

/// Withdraws the permission given to an application: it asks again next time, and its tokens
/// for this person are revoked now.
pub async fn withdraw_application(store: &Store, me: &Me<'_>, client_id: &str) -> FlowResult<()> {
    let user = user(store, me.user_id).await?;
    let client =
        crate::store::oidc::client_by_client_id(store.pool(), client_id).await?.ok_or(FlowError::NotFound)?;
    let mut tx = store.begin().await?;
    if !crate::store::oidc::withdraw_consent(tx.conn(), user.id, client.id).await? {
        return Err(FlowError::NotFound);
    }
    let ended = super::oidc::Ended::UserAtClient { user_id: user.id, client_pk: client.id };
    let revoked = super::oidc::end_grants(&mut tx, ended, "consent_withdrawn").await?;
    record(
        &mut tx,
        &user,
        me.origin,
        "account.application_withdrawn",
        json!({ "client_id": client.client_id, "name": client.name, "grants_revoked": revoked }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Changes the password: the current one is required (a wrong one counts against the client's
/// sign-in allowance), the new one is strength-checked; every session of the account ends and
/// this one continues under a new id (returned), and outstanding reset links stop working.
pub async fn change_password(
    store: &Store,
    hasher: &Hasher,
    config: &Config,
    me: &Me<'_>,
    current: &str,
    new: &str,
    confirm: &str,
) -> FlowResult<SecretToken> {
    auth::charge_password_attempt(store, me.origin).await?;
    let user = user(store, me.user_id).await?;
    if !hasher.verify(current, user.password_hash.clone()).await? {
        return Err(invalid("current_password", "wrong_password"));
    }
    if new != confirm {
        return Err(invalid("password_confirm", "password_mismatch"));
    }
    let mut context = vec![user.email.as_str()];
    context.extend(user.username.as_deref());
    let password = NewPassword::parse(new, &context).map_err(|_| invalid("password", "weak_password"))?;
    let hash = hasher.hash(&password).await?;
    // This session goes on under a new id, signed in as it was.
    let amr = sessions::find_user(store.pool(), &SecretToken::hash_presented(me.session), now())
        .await?
        .map(|s| s.amr)
        .unwrap_or_else(|| "pwd".into());
    let mut tx = store.begin().await?;
    users::set_password(tx.conn(), user.id, &hash).await?;
    let ended = sessions::delete_for_user(tx.conn(), user.id).await?;
    super::oidc::end_user_grants(&mut tx, user.id, "password_changed").await?;
    tokens::revoke_after_password_set(tx.conn(), user.email.as_str(), now()).await?;
    let session = auth::open_session(&mut tx, user.id, None, config.session_hours, me.origin, &amr).await?;
    record(
        &mut tx,
        &user,
        me.origin,
        "account.password_changed",
        json!({ "other_sessions_ended": ended.saturating_sub(1) }),
    )
    .await?;
    tx.commit().await?;
    Ok(session)
}

/// Asks to change the address: the current password is required; a link goes to the new
/// address and a notice to the old one. The answer is the same whether or not the new address
/// already has an account (the link then cannot be used: the address stays unique by the
/// database's constraint), so the form tells nobody which addresses are taken.
pub async fn request_email_change(
    store: &Store,
    hasher: &Hasher,
    config: &Config,
    me: &Me<'_>,
    new_email: &str,
    current: &str,
    locale: Locale,
) -> FlowResult<()> {
    auth::charge_password_attempt(store, me.origin).await?;
    throttle::charge(store, &format!("account:email:{}", me.user_id), EMAIL_CHANGES_PER_HOUR, 3600).await?;
    let user = user(store, me.user_id).await?;
    let new_email = Email::parse(new_email).map_err(|_| invalid("email", "invalid_email"))?;
    if !hasher.verify(current, user.password_hash.clone()).await? {
        return Err(invalid("current_password", "wrong_password"));
    }
    if new_email == user.email {
        return Err(invalid("email", "same_email"));
    }
    let now = now();
    let mut tx = store.begin().await?;
    // One live link per account: a new request replaces the previous one.
    tokens::revoke_subject(tx.conn(), (EMAIL_CHANGE, user.id), now).await?;
    let address = Some(new_email.as_str().to_string());
    let spec = super::mail::AccountLinkSpec {
        purpose: Purpose::EmailVerification,
        subject: (EMAIL_CHANGE, user.id),
        to: &new_email,
        path: "account/email/",
        hours: EMAIL_CHANGE_HOURS,
        kind: AccountMail::EmailChange,
        address: address.clone(),
    };
    super::mail::queue_account_link(&mut tx, config, spec, locale, None).await?;
    let notice =
        AccountLink { kind: AccountMail::EmailChangeNotice, link: None, expires_in_hours: 0, address }
            .render(locale, &config.brand)
            .map_err(|e| FlowError::Internal(e.to_string()))?;
    crate::mail::enqueue(&mut tx, config, &user.email, &notice, Some(("user", user.id)), None).await?;
    record(&mut tx, &user, me.origin, "account.email_change_requested", json!({ "to": new_email.as_str() }))
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The new address a live change link stands for (GET shows it without using the link up).
pub async fn email_change_target(store: &Store, presented: &str) -> FlowResult<String> {
    let subject = tokens::peek(store.pool(), Purpose::EmailVerification, presented, now())
        .await?
        .filter(|s| s.subject_kind == EMAIL_CHANGE)
        .ok_or(FlowError::NotFound)?;
    Ok(subject.email)
}

/// Confirms an address change from the link. An address another account has meanwhile (or
/// had all along) is refused by the unique index: 409 `email_in_use`, nothing changed. Links
/// and resets addressed to the old address stop working.
pub async fn confirm_email_change(store: &Store, origin: &Origin, presented: &str) -> FlowResult<String> {
    let now = now();
    let mut tx = store.begin().await?;
    let subject = match tokens::peek(tx.conn(), Purpose::EmailVerification, presented, now).await? {
        Some(s) if s.subject_kind == EMAIL_CHANGE => s,
        _ => return Err(FlowError::NotFound),
    };
    tokens::consume(tx.conn(), Purpose::EmailVerification, presented, now)
        .await?
        .ok_or(FlowError::NotFound)?;
    let user = users::find_by_id(tx.conn(), subject.subject_id)
        .await?
        .filter(|u| u.disabled_at.is_none())
        .ok_or(FlowError::NotFound)?;
    let new_email = Email::from_trusted(subject.email);
    match users::set_email(tx.conn(), user.id, &new_email).await {
        Ok(()) => {}
        Err(store::StoreError::Conflict(_)) => return Err(FlowError::Conflict { code: "email_in_use" }),
        Err(e) => return Err(e.into()),
    }
    tokens::revoke_after_password_set(tx.conn(), user.email.as_str(), now).await?;
    audit::record(
        tx.conn(),
        audit::NewEvent {
            actor: &Actor::user(user.id, new_email.as_str()),
            origin,
            action: "account.email_changed",
            target: Some(new_email.as_str()),
            org_id: None,
            details: json!({ "from": user.email.as_str(), "to": new_email.as_str() }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(new_email.as_str().to_string())
}

/// Ends one of the user's own sessions (another device, or this one).
pub async fn end_session(store: &Store, me: &Me<'_>, id_hash: &str) -> FlowResult<()> {
    let user = user(store, me.user_id).await?;
    let mut tx = store.begin().await?;
    if sessions::delete_of_user(tx.conn(), user.id, id_hash).await? == 0 {
        return Err(FlowError::NotFound);
    }
    let this_one = id_hash == SecretToken::hash_presented(me.session);
    record(&mut tx, &user, me.origin, "account.session_ended", json!({ "this_session": this_one })).await?;
    tx.commit().await?;
    Ok(())
}

/// Signs out everywhere: every session of the account ends, this one too.
pub async fn end_all_sessions(store: &Store, me: &Me<'_>) -> FlowResult<u64> {
    let user = user(store, me.user_id).await?;
    let mut tx = store.begin().await?;
    let ended = sessions::delete_for_user(tx.conn(), user.id).await?;
    super::oidc::end_user_grants(&mut tx, user.id, "signed_out_everywhere").await?;
    record(&mut tx, &user, me.origin, "account.signed_out_everywhere", json!({ "sessions_ended": ended }))
        .await?;
    tx.commit().await?;
    Ok(ended)
}

/// Chooses the language of pages and emails.
pub async fn set_locale(store: &Store, me: &Me<'_>, locale: &str) -> FlowResult<()> {
    let locale = Locale::parse(locale.trim()).ok_or_else(|| invalid("locale", "invalid_locale"))?;
    let user = user(store, me.user_id).await?;
    let mut tx = store.begin().await?;
    users::set_locale(tx.conn(), user.id, locale.as_str()).await?;
    record(
        &mut tx,
        &user,
        me.origin,
        "account.locale_changed",
        json!({ "from": user.locale, "to": locale.as_str() }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
