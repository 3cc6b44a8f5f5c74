//! Who may sign in to a client (SPEC §3.9): an active member of the client's organisation,
//! holding the client's authorisation (not expired) and at least its role, if it names them.
//! Checked at every authorization, code exchange, refresh, userinfo and introspection.

use crate::domain::{MembershipRole, MembershipStatus};
use crate::flows::FlowResult;
use crate::store::memberships::{self, Membership};
use crate::store::oidc::Client;
use crate::store::{Store, StoreError};
use crate::store::{now, records};
use sqlx::AnyConnection;

/// Why someone may not sign in to a client; the refusal page says it to them (and only them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not a member of the organisation at all.
    NotMember,
    Status(MembershipStatus),
    /// The authorisation is missing or expired.
    Authorisation(String),
    /// The role is below the client's.
    Role(MembershipRole),
    /// The client was disabled or deleted.
    ClientDisabled,
}

impl Refusal {
    /// The Fluent key of the sentence the person reads.
    pub fn message_key(&self) -> &'static str {
        match self {
            Refusal::NotMember => "oidc-refused-not-member",
            Refusal::Status(MembershipStatus::Pending) => "oidc-refused-pending",
            Refusal::Status(MembershipStatus::Suspended) => "oidc-refused-suspended",
            Refusal::Status(MembershipStatus::Banned) => "oidc-refused-banned",
            Refusal::Status(MembershipStatus::Active) => "oidc-refused-not-member",
            Refusal::Authorisation(_) => "oidc-refused-authorisation",
            Refusal::Role(_) => "oidc-refused-role",
            Refusal::ClientDisabled => "oidc-refused-client",
        }
    }
}

fn rank(role: MembershipRole) -> u8 {
    match role {
        MembershipRole::Member => 0,
        MembershipRole::Admin => 1,
        MembershipRole::Owner => 2,
    }
}

/// The membership of `user_id` that may sign in to `client`, or why not. On a connection, so
/// the token endpoint decides inside the transaction that issues the tokens.
pub async fn check(
    conn: &mut AnyConnection,
    client: &Client,
    user_id: i64,
) -> FlowResult<Result<Membership, Refusal>> {
    if !client.enabled {
        return Ok(Err(Refusal::ClientDisabled));
    }
    let Some(membership) = memberships::find_of_user(&mut *conn, client.org_id, user_id).await? else {
        return Ok(Err(Refusal::NotMember));
    };
    if membership.status != MembershipStatus::Active {
        return Ok(Err(Refusal::Status(membership.status)));
    }
    if let Some(role) = client.requires_role.as_deref().and_then(|r| MembershipRole::parse(r).ok())
        && rank(membership.role) < rank(role)
    {
        return Ok(Err(Refusal::Role(role)));
    }
    if let Some(needed) = &client.requires_authorisation {
        let held = records::authorisations(&mut *conn, membership.id).await?;
        let at = now();
        if !held.iter().any(|a| &a.name == needed && !a.expired(at)) {
            return Ok(Err(Refusal::Authorisation(needed.clone())));
        }
    }
    Ok(Ok(membership))
}

/// `check` on a connection of the pool (a read outside any transaction).
pub async fn check_now(
    store: &Store,
    client: &Client,
    user_id: i64,
) -> FlowResult<Result<Membership, Refusal>> {
    let mut conn = store.pool().acquire().await.map_err(StoreError::from)?;
    check(&mut conn, client, user_id).await
}
