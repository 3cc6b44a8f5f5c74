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
