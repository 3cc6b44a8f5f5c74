use super::{Ctx, FieldError, FlowError, FlowResult};
use crate::domain::MembershipStatus;
use crate::store::orgs::{MemberFilter, MemberRow};
use crate::store::{self, Store};

/// The members of an organisation, optionally by status and a search in email or username.
pub async fn list(
    store: &Store,
    ctx: &Ctx,
    slug: &str,
    status: Option<&str>,
    query: Option<&str>,
) -> FlowResult<Vec<MemberRow>> {
    ctx.require_staff()?;
    let status =
        match status.map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(MembershipStatus::parse(s).map_err(|_| {
                FlowError::Invalid(vec![FieldError { field: "status", code: "invalid_status" }])
            })?),
        };
    let query = query.map(str::trim).filter(|q| !q.is_empty());
    if query.is_some_and(|q| q.chars().count() > 100) {
        return Err(FlowError::Invalid(vec![FieldError { field: "q", code: "invalid_query" }]));
    }
    let org = store::orgs::find_by_slug(store.pool(), slug).await?.ok_or(FlowError::NotFound)?;
    Ok(store::orgs::members(store.pool(), org.id, &MemberFilter { status, query }).await?)
}
