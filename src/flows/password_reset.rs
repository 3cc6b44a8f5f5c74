//! "Forgot your password?" The request answers the same way for every address and only records
//! the attempt; the mail worker sends a link if the address has an account. Using the link sets
//! a new password, ends every session of the user and every other outstanding link.

use serde_json::json;

use super::password::Hasher;
use super::{FlowError, FlowResult, auth, invalid, throttle};
use crate::config::Config;
use crate::domain::{Email, NewPassword};
use crate::i18n::Locale;
use crate::mail::templates;
use crate::store::audit::{self, Actor, Origin};
use crate::store::tokens::{self, Purpose};
use crate::store::{Store, now, sessions, signups, users};

const RESET_HOURS: i64 = 2;

/// Records a reset request. Same work, same answer, whether or not the address has an account.
/// The throttles are the signup ones: both are "send an email to this address" requests.
pub async fn request(store: &Store, origin: &Origin, email_input: &str, locale: Locale) -> FlowResult<()> {
    let email = Email::parse(email_input).map_err(|_| invalid("email", "invalid_email"))?;
    let (mut tx, charged, now) = throttle::charge_email_request(store, origin, "reset", &email).await?;
    signups::insert_reset(&mut tx, email.as_str(), locale.as_str(), (&charged.0, charged.1), now).await?;
    tx.commit().await?;
    Ok(())
}

/// Worker side: a link for addresses with an account; nothing for the others.
pub async fn dispatch(store: &Store, config: &Config, limit: i64) -> FlowResult<usize> {
    if !signups::any_new_reset(store.pool()).await? {
        return Ok(0);
    }
    let now = now();
    let mut tx = store.begin().await?;
    let requests = signups::claim_resets(&mut tx, store.backend(), limit, now).await?;
    for r in &requests {
        let email = Email::from_trusted(r.email.clone());
        // No account: no email. The allowance stays used, or the limit would answer known and
        // unknown addresses differently.
        // (A disabled account gets none either.)
        let user = users::find_by_email(tx.conn(), &email).await?.filter(|u| u.disabled_at.is_none());
        let Some(user) = user else { continue };
        let locale = Locale::parse(&r.locale).unwrap_or(config.default_locale);
        let charged = r.charged.as_ref().map(|(b, w)| (b.as_str(), *w));
        let spec = super::mail::AccountLinkSpec {
            purpose: Purpose::PasswordReset,
            subject: ("user", user.id),
            to: &email,
            path: "password/reset/",
            hours: RESET_HOURS,
            kind: templates::AccountMail::PasswordReset,
            address: None,
        };
        super::mail::queue_account_link(&mut tx, config, spec, locale, charged).await?;
    }
    tx.commit().await?;
    Ok(requests.len())
}

/// Whether a reset link is live (GET shows the form without using it up).
pub async fn check(store: &Store, presented: &str) -> FlowResult<()> {
    tokens::peek(store.pool(), Purpose::PasswordReset, presented, now())
        .await?
        .map(|_| ())
        .ok_or(FlowError::NotFound)
}

/// Sets the new password; returns a new session for the user.
pub async fn reset(
    store: &Store,
    config: &Config,
    hasher: &Hasher,
    origin: &Origin,
    presented: &str,
    new_password: &str,
    confirm: &str,
) -> FlowResult<(auth::Opened, bool)> {
    let subject = tokens::peek(store.pool(), Purpose::PasswordReset, presented, now())
        .await?
        .ok_or(FlowError::NotFound)?;
    if new_password != confirm {
        return Err(invalid("password_confirm", "password_mismatch"));
    }
    let password = NewPassword::parse(new_password, &[&subject.email])
        .map_err(|_| invalid("password", "weak_password"))?;
    let hash = hasher.hash(&password).await?;
    let now = now();
    let mut tx = store.begin().await?;
    let subject = tokens::consume(tx.conn(), Purpose::PasswordReset, presented, now)
        .await?
        .ok_or(FlowError::NotFound)?;
    let user = users::find_by_id(tx.conn(), subject.subject_id)
        .await?
        .filter(|u| u.disabled_at.is_none())
        .ok_or(FlowError::NotFound)?;
    users::set_password(tx.conn(), user.id, &hash).await?;
    tokens::revoke_after_password_set(tx.conn(), user.email.as_str(), now).await?;
    // A new password ends every session, wherever it was signed in.
    sessions::delete_for_user(tx.conn(), user.id).await?;
    super::oidc::end_user_grants(&mut tx, user.id, "password_reset").await?;
    // The emailed link replaces the password, not the second factor.
    let home = if user.staff_role.is_some() { "/staff/orgs" } else { "/dashboard" };
    let session =
        auth::after_password(&mut tx, user.id, None, config.session_hours, origin, Some(home)).await?;
    audit::record(
        tx.conn(),
        audit::NewEvent {
            actor: &Actor::user(user.id, user.email.as_str()),
            origin,
            action: "password.reset",
            target: Some(user.email.as_str()),
            org_id: None,
            details: json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((session, user.staff_role.is_some()))
}
