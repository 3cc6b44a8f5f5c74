//! Sign in elsewhere with Portico (SPEC §3.9): an OpenID Connect provider per organisation where
//! membership decides, every time. [`keys`] signs, [`clients`] registers relying parties.

pub mod authorize;
pub mod clients;
pub mod keys;
pub mod provider;
pub mod rule;

use crate::flows::FlowResult;
use crate::store::{Tx, now, now_ms, oidc as oidc_store};

/// Which sign-ins end.
#[derive(Clone, Copy, Debug)]
pub enum Ended<'a> {
    /// Every one of a membership (it left `active`).
    Membership(i64),
    /// A membership's sign-ins to clients that require an authorisation it lost.
    Authorisation { membership_id: i64, name: &'a str },
    /// Every one of a user (their Portico sessions ended).
    User(i64),
    /// A user's sign-ins to one client (consent withdrawn).
    UserAtClient { user_id: i64, client_pk: i64 },
}

/// Ends sign-ins in the caller's transaction: their grants (and every token of them) are
/// revoked, and each client with a back-channel logout URI gets a logout token, queued in the
/// same transaction and delivered by `delivery::logouts`. How many grants ended.
pub async fn end_grants(tx: &mut Tx, which: Ended<'_>, reason: &str) -> FlowResult<usize> {
    let at = now();
    let conn = tx.conn();
    let ended = match which {
        Ended::Membership(id) => oidc_store::revoke_grants_of_membership(conn, id, reason, at).await?,
        Ended::Authorisation { membership_id, name } => {
            oidc_store::revoke_grants_needing(conn, membership_id, name, reason, at).await?
        }
        Ended::User(id) => oidc_store::revoke_grants_of_user(conn, id, reason, at).await?,
        Ended::UserAtClient { user_id, client_pk } => {
            oidc_store::revoke_grants_of_user_for(conn, user_id, client_pk, reason, at).await?
        }
    };
    oidc_store::queue_logouts(tx.conn(), &ended, reason, now_ms()).await?;
    Ok(ended.len())
}

/// Every OpenID Connect sign-in of a user ends with their Portico sessions (a password change
/// or reset, "sign out everywhere", a disabled account), in the same transaction.
pub async fn end_user_grants(tx: &mut Tx, user_id: i64, reason: &str) -> FlowResult<usize> {
    end_grants(tx, Ended::User(user_id), reason).await
}
