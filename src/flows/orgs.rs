use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{Ctx, FieldError, FlowError, FlowResult};
use crate::domain::{OrgKind, SignupMode, Slug};
use crate::store::orgs::{NewOrg, Org};
use crate::store::{self, Store, StoreError, audit, now};

/// What staff submit to create an organisation, as received (validated by [`create`]).
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgInput {
    /// `[a-z0-9-]{2,63}`; upper case is folded to lower case.
    pub slug: String,
    pub name: String,
    /// `individual`, `company` or `nonprofit`.
    pub kind: String,
    #[serde(default)]
    pub company_name: Option<String>,
    /// `closed` (default) or `open`.
    #[serde(default)]
    pub signup: Option<String>,
}

const MAX_NAME_CHARS: usize = 200;

use crate::domain::text::{Lines, TextError};

fn text_field(
    value: &str,
    field: &'static str,
    code: &'static str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    // An empty or over-long name gets the field's own message (it states the limit); a bad
    // character gets the rule it broke.
    match crate::domain::text::required(value, MAX_NAME_CHARS, Lines::Single) {
        Ok(text) => Some(text),
        Err(e @ (TextError::ControlCharacter | TextError::InvisibleCharacter)) => {
            errors.push(FieldError { field, code: e.code() });
            None
        }
        Err(_) => {
            errors.push(FieldError { field, code });
            None
        }
    }
}

/// The days of grace a past-due membership may be given.
pub const GRACE_DAYS: std::ops::RangeInclusive<i64> = 0..=60;

/// The activation policies: `automatic` on payment, or `manual` by staff.
pub const ACTIVATIONS: [&str; 2] = ["automatic", "manual"];

/// What staff change on an organisation; fields left out stay as they are.
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgPatch {
    #[serde(default, deserialize_with = "super::present")]
    pub name: Option<String>,
    /// `closed` or `open`.
    #[serde(default, deserialize_with = "super::present")]
    pub signup: Option<String>,
    /// `automatic` (a first payment activates, once the gates are met) or `manual` (staff do).
    #[serde(default, deserialize_with = "super::present")]
    pub activation: Option<String>,
    /// A membership becomes active only once a waiver is signed.
    #[serde(default, deserialize_with = "super::present")]
    pub requires_waiver: Option<bool>,
    /// A membership becomes active only once staff recorded an ID check.
    #[serde(default, deserialize_with = "super::present")]
    pub requires_id_check: Option<bool>,
    /// Days a past-due membership keeps its access (0 to 60).
    #[serde(default, deserialize_with = "super::present_whole_number")]
    pub past_due_grace_days: Option<i64>,
    /// Who must have a second factor: `none`, `admins` (owners and admins) or `everyone`.
    #[serde(default, deserialize_with = "super::present")]
    pub second_factor: Option<String>,
}

/// The values of an organisation's `second_factor`.
pub const SECOND_FACTOR_RULES: [&str; 3] = ["none", "admins", "everyone"];

/// Changes an organisation's settings (admin); audited with what changed.
pub async fn update(store: &Store, ctx: &Ctx, slug: &str, patch: &OrgPatch) -> FlowResult<Org> {
    ctx.require_admin()?;
    let org = get(store, ctx, slug).await?;
    let mut errors = Vec::new();
    let name = match &patch.name {
        Some(name) => text_field(name, "name", "invalid_name", &mut errors),
        None => Some(org.name.clone()),
    };
    let signup = match patch.signup.as_deref() {
        Some(s) => SignupMode::parse(s)
            .map_err(|_| errors.push(FieldError { field: "signup", code: "invalid_signup" }))
            .ok(),
        None => Some(org.signup),
    };
    let activation = match patch.activation.as_deref().map(str::trim) {
        Some(a) => ACTIVATIONS.iter().find(|x| **x == a).map(|x| x.to_string()).or_else(|| {
            errors.push(FieldError { field: "activation", code: "invalid_activation" });
            None
        }),
        None => Some(org.activation.clone()),
    };
    let second_factor = match patch.second_factor.as_deref().map(str::trim) {
        Some(rule) => SECOND_FACTOR_RULES.iter().find(|x| **x == rule).map(|x| x.to_string()).or_else(|| {
            errors.push(FieldError { field: "second_factor", code: "invalid_second_factor" });
            None
        }),
        None => Some(org.second_factor.clone()),
    };
    let grace = patch.past_due_grace_days.unwrap_or(org.past_due_grace_days);
    if !GRACE_DAYS.contains(&grace) {
        errors.push(FieldError { field: "past_due_grace_days", code: "invalid_grace_days" });
    }
    let nothing = patch.name.is_none()
        && patch.signup.is_none()
        && patch.activation.is_none()
        && patch.requires_waiver.is_none()
        && patch.requires_id_check.is_none()
        && patch.past_due_grace_days.is_none()
        && patch.second_factor.is_none();
    if nothing {
        errors.push(FieldError { field: "body", code: "empty_patch" });
    }
    let (Some(name), Some(signup), Some(activation), Some(second_factor), true) =
        (name, signup, activation, second_factor, errors.is_empty())
    else {
        return Err(FlowError::Invalid(errors));
    };
    let settings = store::orgs::OrgSettings {
        name: &name,
        signup,
        activation: &activation,
        requires_waiver: patch.requires_waiver.unwrap_or(org.requires_waiver),
        requires_id_check: patch.requires_id_check.unwrap_or(org.requires_id_check),
        past_due_grace_days: grace,
        second_factor: &second_factor,
    };
    let mut tx = store.begin().await?;
    let updated = store::orgs::update(tx.conn(), org.id, &settings).await?;
    audit::record(
        tx.conn(),
        audit::NewEvent {
            actor: &ctx.actor,
            origin: &ctx.origin,
            action: "org.updated",
            target: Some(&org.slug),
            org_id: Some(org.id),
            details: json!({
                "name": patch.name.as_ref().map(|_| &updated.name),
                "signup": patch.signup.as_ref().map(|_| updated.signup),
                "activation": patch.activation.as_ref().map(|_| &updated.activation),
                "requires_waiver": patch.requires_waiver,
                "requires_id_check": patch.requires_id_check,
                "past_due_grace_days": patch.past_due_grace_days,
                "second_factor": patch.second_factor.as_ref().map(|_| &updated.second_factor),
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(updated)
}

/// Creates an organisation and its audit event in one transaction. A slug that exists already
/// (in any letter case) is a conflict, decided by the database's unique index.
pub async fn create(store: &Store, ctx: &Ctx, input: &OrgInput) -> FlowResult<Org> {
    ctx.require_admin()?;
    let mut errors = Vec::new();
    let slug = Slug::parse(&input.slug)
        .map_err(|_| errors.push(FieldError { field: "slug", code: "invalid_slug" }))
        .ok();
    let name = text_field(&input.name, "name", "invalid_name", &mut errors);
    let kind = OrgKind::parse(&input.kind)
        .map_err(|_| errors.push(FieldError { field: "kind", code: "invalid_kind" }))
        .ok();
    let company_name = match input.company_name.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(c) => text_field(c, "company_name", "invalid_company_name", &mut errors),
    };
    let signup = match input.signup.as_deref().map(str::trim) {
        None | Some("") => Some(SignupMode::Closed),
        Some(s) => SignupMode::parse(s)
            .map_err(|_| errors.push(FieldError { field: "signup", code: "invalid_signup" }))
            .ok(),
    };
    let (Some(slug), Some(name), Some(kind), Some(signup)) = (slug, name, kind, signup) else {
        return Err(FlowError::Invalid(errors));
    };
    if !errors.is_empty() {
        return Err(FlowError::Invalid(errors));
    }

    let mut tx = store.begin().await?;
    let new = NewOrg { slug: &slug, name: &name, kind, company_name: company_name.as_deref(), signup };
    let org = store::orgs::insert(tx.conn(), &new, now()).await.map_err(|e| match e {
        StoreError::Conflict(_) => FlowError::Conflict { code: "slug_taken" },
        other => other.into(),
    })?;
    audit::record(
        tx.conn(),
        audit::NewEvent {
            actor: &ctx.actor,
            origin: &ctx.origin,
            action: "org.created",
            target: Some(&org.slug),
            org_id: Some(org.id),
            details: json!({ "name": org.name, "kind": org.kind, "signup": org.signup }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(org)
}

pub async fn get(store: &Store, ctx: &Ctx, slug: &str) -> FlowResult<Org> {
    ctx.require_staff()?;
    store::orgs::find_by_slug(store.pool(), slug).await?.ok_or(FlowError::NotFound)
}
