//! Operator actions run from the command line: staff accounts and API tokens.

use serde_json::json;

use super::password::Hasher;
use super::{Ctx, FieldError, FlowError, FlowResult};
use crate::domain::{Email, NewPassword, SecretToken, StaffRole};
use crate::store::{self, Store, audit, now};

pub struct StaffCreated {
    pub user_id: i64,
    /// False when an existing user was made staff (and given the new password).
    pub created: bool,
}

/// Creates a staff user, or makes an existing user staff, with the given password.
pub async fn create_staff(
    store: &Store,
    hasher: &Hasher,
    ctx: &Ctx,
    email: &str,
    role: StaffRole,
    password: &str,
) -> FlowResult<StaffCreated> {
    ctx.require_admin()?;
    let email = Email::parse(email)
        .map_err(|_| FlowError::Invalid(vec![FieldError { field: "email", code: "invalid_email" }]))?;
    let password = NewPassword::parse(password, &[email.as_str()])
        .map_err(|_| FlowError::Invalid(vec![FieldError { field: "password", code: "weak_password" }]))?;
    let hash = hasher.hash(&password).await?;

    let mut tx = store.begin().await?;
    let existing = store::users::find_by_email(tx.conn(), &email).await?;
    let (user_id, created) = match existing {
        Some(user) => {
            store::users::set_staff_role_and_password(tx.conn(), user.id, role, &hash).await?;
            (user.id, false)
        }
        None => (store::users::insert(tx.conn(), &email, Some(role), Some(&hash), now()).await?, true),
    };
    audit::record(
        tx.conn(),
        audit::NewEvent {
            actor: &ctx.actor,
            origin: &ctx.origin,
            action: "staff.created",
            target: Some(email.as_str()),
            org_id: None,
            details: json!({ "role": role, "new_user": created }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(StaffCreated { user_id, created })
}

/// Issues an API token for a staff member. The token is returned once and stored hashed.
pub async fn create_api_token(
    store: &Store,
    ctx: &Ctx,
    staff_email: &str,
    name: &str,
) -> FlowResult<SecretToken> {
    ctx.require_admin()?;
    let email = Email::parse(staff_email)
        .map_err(|_| FlowError::Invalid(vec![FieldError { field: "staff", code: "invalid_email" }]))?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(FlowError::Invalid(vec![FieldError { field: "name", code: "invalid_name" }]));
    }
    let mut tx = store.begin().await?;
    let user = store::users::find_by_email(tx.conn(), &email).await?;
    let Some(user) = user.filter(|u| u.staff_role.is_some()) else {
        return Err(FlowError::NotFound);
    };
    let token = SecretToken::generate("pt_");
    let token_id = store::api_tokens::insert(tx.conn(), user.id, name, &token.hash(), now()).await?;
    audit::record(
        tx.conn(),
        audit::NewEvent {
            actor: &ctx.actor,
            origin: &ctx.origin,
            action: "api_token.created",
            target: Some(user.email.as_str()),
            org_id: None,
            details: json!({ "token_id": token_id, "name": name }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

// ---- Staff accounts in the console (admins) ----

/// A staff member as the console lists them, with their API tokens.
pub struct StaffAccount {
    pub user: store::users::User,
    pub created_at: i64,
    pub tokens: Vec<store::api_tokens::TokenInfo>,
}

/// Every staff account (disabled ones too), by address, with its API tokens.
pub async fn list(store: &Store, ctx: &Ctx) -> FlowResult<Vec<StaffAccount>> {
    ctx.require_admin()?;
    let users = store::users::staff(store.pool()).await?;
    let tokens = store::api_tokens::list(store.pool()).await?;
    Ok(users
        .into_iter()
        .map(|(user, created_at)| {
            let tokens = tokens.iter().filter(|t| t.user_id == user.id).cloned().collect();
            StaffAccount { user, created_at, tokens }
        })
        .collect())
}

/// How a new staff member gets their first password.
pub enum FirstPassword {
    /// Generated and shown once to the admin who creates the account.
    ShownOnce,
    /// An emailed set-password link, valid for the invitation lifetime.
    EmailedLink,
}

/// Creates a staff account from the console. With [`FirstPassword::ShownOnce`] the generated
/// password is returned; with a link, nothing (the email is queued in the same transaction).
/// An address that already has an account is refused (409): making an existing user staff is
/// the command line's job, where the operator sees whom they promote.
pub async fn create_from_console(
    store: &Store,
    hasher: &Hasher,
    config: &crate::config::Config,
    ctx: &Ctx,
    email: &str,
    role: &str,
    first: FirstPassword,
) -> FlowResult<Option<String>> {
    ctx.require_admin()?;
    let email = Email::parse(email)
        .map_err(|_| FlowError::Invalid(vec![FieldError { field: "email", code: "invalid_email" }]))?;
    let role = StaffRole::parse(role.trim())
        .map_err(|_| FlowError::Invalid(vec![FieldError { field: "role", code: "invalid_staff_role" }]))?;
    let password = match first {
        FirstPassword::ShownOnce => Some(super::password::generate()),
        FirstPassword::EmailedLink => None,
    };
    let hash = match &password {
        Some(p) => {
            let parsed =
                NewPassword::parse(p, &[email.as_str()]).map_err(|e| FlowError::Internal(e.to_string()))?;
            Some(hasher.hash(&parsed).await?)
        }
        None => None,
    };
    let now = now();
    let mut tx = store.begin().await?;
    let user_id = match store::users::insert(tx.conn(), &email, Some(role), hash.as_deref(), now).await {
        Ok(id) => id,
        Err(store::StoreError::Conflict(_)) => return Err(FlowError::Conflict { code: "email_taken" }),
        Err(e) => return Err(e.into()),
    };
    if password.is_none() {
        let spec = super::mail::AccountLinkSpec {
            purpose: store::tokens::Purpose::PasswordReset,
            subject: ("user", user_id),
            to: &email,
            path: "password/reset/",
            hours: config.invitation_hours,
            kind: crate::mail::templates::AccountMail::StaffWelcome,
            address: None,
        };
        super::mail::queue_account_link(&mut tx, config, spec, config.default_locale, None).await?;
    }
    record(&mut tx, ctx, "staff.created", email.as_str(), json!({ "role": role, "first_password": if password.is_some() { "shown_once" } else { "emailed_link" } })).await?;
    tx.commit().await?;
    Ok(password)
}

async fn record(
    tx: &mut store::Tx,
    ctx: &Ctx,
    action: &str,
    target: &str,
    details: serde_json::Value,
) -> FlowResult<()> {
    audit::record(
        tx.conn(),
        audit::NewEvent {
            actor: &ctx.actor,
            origin: &ctx.origin,
            action,
            target: Some(target),
            org_id: None,
            details,
        },
    )
    .await?;
    Ok(())
}

/// A staff account by user id (not an ordinary user's).
async fn staff_user(tx: &mut store::Tx, user_id: i64) -> FlowResult<store::users::User> {
    store::users::find_by_id(tx.conn(), user_id)
        .await?
        .filter(|u| u.staff_role.is_some())
        .ok_or(FlowError::NotFound)
}

/// Changes a staff member's role. The last enabled admin cannot be made support staff (409
/// `last_admin`), so the instance always keeps someone who can administer it.
pub async fn set_role(store: &Store, ctx: &Ctx, user_id: i64, role: &str) -> FlowResult<()> {
    ctx.require_admin()?;
    let role = StaffRole::parse(role.trim())
        .map_err(|_| FlowError::Invalid(vec![FieldError { field: "role", code: "invalid_staff_role" }]))?;
    let mut tx = store.begin().await?;
    let user = staff_user(&mut tx, user_id).await?;
    if user.staff_role == Some(role) {
        return Ok(());
    }
    if !store::users::set_staff_role_keeping_an_admin(tx.conn(), user_id, role).await? {
        return Err(FlowError::Conflict { code: "last_admin" });
    }
    record(
        &mut tx,
        ctx,
        "staff.role_changed",
        user.email.as_str(),
        json!({ "from": user.staff_role, "to": role }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Disables a staff account at once: it cannot sign in, and every session and API token it
/// has ends in the same transaction. Nobody disables themselves (409 `own_account`), and the
/// last enabled admin stays (409 `last_admin`).
pub async fn disable(store: &Store, ctx: &Ctx, user_id: i64) -> FlowResult<()> {
    ctx.require_admin()?;
    if ctx.actor.user_id == Some(user_id) {
        return Err(FlowError::Conflict { code: "own_account" });
    }
    let now = now();
    let mut tx = store.begin().await?;
    let user = staff_user(&mut tx, user_id).await?;
    if user.disabled_at.is_some() {
        return Ok(());
    }
    if !store::users::disable_keeping_an_admin(tx.conn(), user_id, now).await? {
        return Err(FlowError::Conflict { code: "last_admin" });
    }
    let sessions = store::sessions::delete_for_user(tx.conn(), user_id).await?;
    super::oidc::end_user_grants(&mut tx, user_id, "account_disabled").await?;
    let tokens = store::api_tokens::revoke_all_of(tx.conn(), user_id, now).await?;
    record(
        &mut tx,
        ctx,
        "staff.disabled",
        user.email.as_str(),
        json!({ "sessions_ended": sessions, "tokens_revoked": tokens }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Enables a disabled staff account again (its old tokens stay revoked; it signs in anew).
pub async fn enable(store: &Store, ctx: &Ctx, user_id: i64) -> FlowResult<()> {
    ctx.require_admin()?;
    let mut tx = store.begin().await?;
    let user = staff_user(&mut tx, user_id).await?;
    if user.disabled_at.is_none() {
        return Ok(());
    }
    store::users::set_disabled(tx.conn(), user_id, None).await?;
    record(&mut tx, ctx, "staff.enabled", user.email.as_str(), json!({})).await?;
    tx.commit().await?;
    Ok(())
}

/// Revokes one API token (admins).
pub async fn revoke_token(store: &Store, ctx: &Ctx, token_id: i64) -> FlowResult<()> {
    ctx.require_admin()?;
    let mut tx = store.begin().await?;
    let Some(owner) = store::api_tokens::revoke(tx.conn(), token_id, now()).await? else {
        return Err(FlowError::NotFound);
    };
    let user = store::users::find_by_id(tx.conn(), owner).await?.ok_or(FlowError::NotFound)?;
    record(&mut tx, ctx, "api_token.revoked", user.email.as_str(), json!({ "token_id": token_id })).await?;
    tx.commit().await?;
    Ok(())
}
