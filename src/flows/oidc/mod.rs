//! Sign in elsewhere with Portico (SPEC §3.9): an OpenID Connect provider per organisation where
//! membership decides, every time. [`keys`] signs, [`clients`] registers relying parties.

pub mod authorize;
pub mod clients;
pub mod keys;
pub mod provider;
pub mod rule;

use crate::flows::FlowResult;
use crate::store::{Tx, now, oidc as oidc_store};

/// Every OpenID Connect grant of a user ends with their Portico sessions (a password change or
/// reset, "sign out everywhere", a disabled account), in the same transaction.
pub async fn end_user_grants(tx: &mut Tx, user_id: i64, reason: &str) -> FlowResult<usize> {
    Ok(oidc_store::revoke_grants_of_user(tx.conn(), user_id, reason, now()).await?.len())
}
