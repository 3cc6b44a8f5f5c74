use serde_json::json;

use super::{Ctx, FieldError, FlowError, FlowResult, invalid, lifecycle};
use crate::domain::member::{phone, text};
use crate::domain::text::{Lines, clean};
use crate::domain::{AuthorisationName, MembershipRole, MembershipStatus, NameError, csv};
use crate::store::audit;
use crate::store::memberships::{self, Membership};
use crate::store::orgs::{MemberFilter, MemberRow, Org};
use crate::store::records::{self, Agreement, Authorisation, Credential, Note, Profile};
use crate::store::{self, Store, StoreError, now};

/// The members of an organisation, optionally by status and a search in email or username.
pub async fn list(
    store: &Store,
    ctx: &Ctx,
    slug: &str,
    status: Option<&str>,
    query: Option<&str>,
) -> FlowResult<Vec<MemberRow>> {
    list_at_most(store, ctx, slug, status, query, None).await
}

/// [`list`], the first `limit` by email (the console's page; the API and the CSV give all).
pub async fn list_at_most(
    store: &Store,
    ctx: &Ctx,
    slug: &str,
    status: Option<&str>,
    query: Option<&str>,
    limit: Option<i64>,
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
    Ok(store::orgs::members(store.pool(), org.id, &MemberFilter { status, query, limit }).await?)
}

/// A membership's whole record.
#[derive(Clone, Debug)]
pub struct Record {
    pub org: Org,
    pub membership: Membership,
    /// Empty (all defaults) if the record has no profile row.
    pub profile: Profile,
    pub agreements: Vec<Agreement>,
    /// Staff notes (empty in the member's own view).
    pub notes: Vec<Note>,
    pub credentials: Vec<Credential>,
    pub authorisations: Vec<Authorisation>,
    /// What may be granted in this organisation (empty in the member's own view).
    pub catalogue: Vec<String>,
}

/// Loads a membership's whole record; `org` must be the membership's organisation.
pub async fn load(store: &Store, org: Org, membership_id: i64) -> FlowResult<Record> {
    let membership = memberships::find(store.pool(), membership_id)
        .await?
        .filter(|m| m.org_id == org.id)
        .ok_or(FlowError::NotFound)?;
    with_sections(store, org, membership, Sections::STAFF).await
}

/// Which parts of a record a page reads; a page reads only what it shows. The member's own
/// view never has the staff notes or the catalogue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sections {
    pub profile: bool,
    pub agreements: bool,
    pub credentials: bool,
    pub authorisations: bool,
    notes_and_catalogue: bool,
}

impl Sections {
    const STAFF: Sections = Sections {
        profile: true,
        agreements: true,
        credentials: true,
        authorisations: true,
        notes_and_catalogue: true,
    };
    pub const PROFILE: Sections = Sections { profile: true, ..Sections::NONE };
    pub const CREDENTIALS: Sections = Sections { credentials: true, ..Sections::NONE };
    pub const AUTHORISATIONS: Sections = Sections { authorisations: true, ..Sections::NONE };
    pub const NONE: Sections = Sections {
        profile: false,
        agreements: false,
        credentials: false,
        authorisations: false,
        notes_and_catalogue: false,
    };
}

/// One query per section asked for; the others stay empty.
async fn with_sections(store: &Store, org: Org, membership: Membership, s: Sections) -> FlowResult<Record> {
    let pool = store.pool();
    let id = membership.id;
    Ok(Record {
        profile: if s.profile {
            records::profile(pool, id).await?.unwrap_or_default()
        } else {
            Profile::default()
        },
        agreements: if s.agreements { records::agreements(pool, id).await? } else { Vec::new() },
        notes: if s.notes_and_catalogue { records::notes(pool, id).await? } else { Vec::new() },
        credentials: if s.credentials { records::credentials(pool, id).await? } else { Vec::new() },
        authorisations: if s.authorisations { records::authorisations(pool, id).await? } else { Vec::new() },
        catalogue: if s.notes_and_catalogue { records::catalogue(pool, org.id).await? } else { Vec::new() },
        membership,
        org,
    })
}

/// Everything audited about a membership, newest first (the latest 500), for staff: status
/// changes with cause and reason, notes, keys, authorisations, payments, invitations, sign-ins.
/// Events name the address the person had then: the history follows them across address
/// changes (each `account.email_changed` names the one before).
pub async fn history(store: &Store, record: &Record) -> FlowResult<Vec<audit::Event>> {
    let mut addresses = audit::previous_addresses(store.pool(), record.membership.user_id).await?;
    addresses.push(record.membership.email.clone());
    Ok(audit::about(store.pool(), record.org.id, &addresses, 500).await?)
}

/// A member's record, for staff.
pub async fn get(store: &Store, ctx: &Ctx, slug: &str, membership_id: i64) -> FlowResult<Record> {
    let org = super::orgs::get(store, ctx, slug).await?;
    load(store, org, membership_id).await
}

async fn record_event(
    tx: &mut store::Tx,
    ctx: &Ctx,
    action: &str,
    record: &Record,
    details: serde_json::Value,
) -> FlowResult<()> {
    let about = lifecycle::About {
        org_id: record.org.id,
        membership_id: record.membership.id,
        email: &record.membership.email,
    };
    lifecycle::record(tx, &ctx.actor, &ctx.origin, about, action, details).await
}

/// What staff change on a membership: status (with a reason, and for a suspension optionally
/// when it ends by itself) and/or role.
#[derive(Debug, Clone, Copy, Default)]
pub struct Change<'a> {
    pub status: Option<&'a str>,
    pub role: Option<&'a str>,
    pub reason: Option<&'a str>,
    /// The end of a suspension: RFC 3339 or `YYYY-MM-DD` (midnight UTC).
    pub until: Option<&'a str>,
}

/// Changes status (along the allowed transitions, with a reason) and/or role; audited. A
/// suspension with `until` returns to `active` by itself then (the scheduler in `serve`).
pub async fn change(
    store: &Store,
    ctx: &Ctx,
    slug: &str,
    membership_id: i64,
    c: &Change<'_>,
) -> FlowResult<Record> {
    let Change { status, role, reason, until } = *c;
    let record = get(store, ctx, slug, membership_id).await?;
    let status = status
        .map(|s| MembershipStatus::parse(s).map_err(|_| invalid("status", "invalid_status")))
        .transpose()?;
    let role =
        role.map(|r| MembershipRole::parse(r).map_err(|_| invalid("role", "invalid_role"))).transpose()?;
    let reason = match reason.map(|r| clean(r, 500, Lines::Single)).transpose() {
        Ok(reason) => reason.flatten(),
        Err(e) => return Err(invalid("reason", e.code())),
    };
    let reason = reason.as_deref();
    if status.is_none() && role.is_none() {
        return Err(invalid("status", "nothing_to_change"));
    }
    let until = match until.map(str::trim).filter(|u| !u.is_empty()) {
        None => None,
        Some(u) => match crate::domain::parse_instant(u) {
            // A time already past is allowed: the scheduler ends the suspension at its next run.
            Some(t) if status == Some(MembershipStatus::Suspended) => Some(t),
            _ => return Err(invalid("until", "invalid_until")),
        },
    };
    let from = record.membership.status;
    if let Some(to) = status {
        if reason.is_none() {
            return Err(invalid("reason", "required"));
        }
        if !from.can_become(to) {
            return Err(FlowError::TransitionNotAllowed { from: from.as_str(), to: to.as_str() });
        }
    }
    let mut tx = store.begin().await?;
    if let Some(to) = status {
        // Conditional on the status we checked, so two racing changes cannot both apply.
        if !memberships::set_status(tx.conn(), membership_id, from, to, now()).await? {
            return Err(FlowError::Conflict { code: "status_changed" });
        }
        record_event(
            &mut tx,
            ctx,
            "member.status_changed",
            &record,
            json!({ "from": from, "to": to, "reason": reason, "cause": "staff", "until": until.map(crate::domain::rfc3339) }),
        )
        .await?;
        lifecycle::status_changed(&mut tx, record.org.id, membership_id, from, to, &ctx.actor.label).await?;
        if let Some(until) = until {
            memberships::set_suspended_until(tx.conn(), membership_id, until).await?;
        }
    }
    if let Some(role) = role {
        memberships::set_role(tx.conn(), membership_id, role).await?;
        record_event(
            &mut tx,
            ctx,
            "member.role_changed",
            &record,
            json!({ "from": record.membership.role, "to": role }),
        )
        .await?;
    }
    tx.commit().await?;
    load(store, record.org, membership_id).await
}

/// Staff record that a member signed the waiver (on paper, say) or showed ID: an activation
/// gate (SPEC §3.8). If the membership is paid and this was all it waited for, it becomes
/// active in the same transaction. Audited with who and when.
pub async fn record_gate(
    store: &Store,
    ctx: &Ctx,
    slug: &str,
    membership_id: i64,
    kind: &str,
) -> FlowResult<Record> {
    ctx.require_staff()?;
    let record = get(store, ctx, slug, membership_id).await?;
    let (kind, version) = match kind {
        "waiver" => ("waiver", "staff"),
        "id_check" => ("id_check", "checked"),
        _ => return Err(invalid("kind", "invalid_agreement")),
    };
    let mut tx = store.begin().await?;
    records::add_agreement(tx.conn(), membership_id, kind, version, &ctx.actor.label, now()).await?;
    record_event(&mut tx, ctx, "member.agreement_recorded", &record, json!({ "kind": kind })).await?;
    lifecycle::after_gate_recorded(&mut tx, ctx, &record.org, membership_id).await?;
    tx.commit().await?;
    load(store, record.org, membership_id).await
}

/// Appends a staff note. Notes are never edited or deleted.
pub async fn add_note(
    store: &Store,
    ctx: &Ctx,
    slug: &str,
    membership_id: i64,
    note: &str,
) -> FlowResult<Record> {
    let record = get(store, ctx, slug, membership_id).await?;
    let mut problems = vec![];
    // Notes are multi-line: line breaks and tabs are kept.
    let note = crate::domain::member::text_lines(note, "text", 4000, true, Lines::Multi, &mut problems)
        .ok_or_else(|| invalid("text", problems.first().map_or("required", |p| p.1)))?;
    let mut tx = store.begin().await?;
    records::add_note(tx.conn(), membership_id, &note, &ctx.actor.label, now()).await?;
    record_event(&mut tx, ctx, "member.note_added", &record, json!({})).await?;
    tx.commit().await?;
    load(store, record.org, membership_id).await
}

/// An RFID tag: exactly 10 digits.
fn rfid(tag: &str) -> FlowResult<String> {
    let tag = tag.trim();
    if tag.len() == 10 && tag.chars().all(|c| c.is_ascii_digit()) {
        Ok(tag.to_string())
    } else {
        Err(invalid("tag", "invalid_tag"))
    }
}

async fn add_credential_to(store: &Store, ctx: &Ctx, record: &Record, tag: &str) -> FlowResult<()> {
    let tag = rfid(tag)?;
    let mut tx = store.begin().await?;
    match records::add_credential(
        tx.conn(),
        record.membership.id,
        record.org.id,
        &tag,
        &ctx.actor.label,
        now(),
    )
    .await
    {
        Ok(_) => {}
        Err(StoreError::Conflict(_)) => return Err(FlowError::Conflict { code: "credential_taken" }),
        Err(e) => return Err(e.into()),
    }
    let change =
        KeyChange { action: "member.credential_added", details: json!({ "tag": tag }), removes: false };
    record_key_change(&mut tx, ctx, record, change, &format!("key {tag} added")).await?;
    tx.commit().await?;
    Ok(())
}

/// A key added or removed: audited, and a change of the door lists.
struct KeyChange {
    action: &'static str,
    details: serde_json::Value,
    removes: bool,
}

async fn record_key_change(
    tx: &mut store::Tx,
    ctx: &Ctx,
    record: &Record,
    change: KeyChange,
    detail: &str,
) -> FlowResult<()> {
    record_event(tx, ctx, change.action, record, change.details).await?;
    let (org, member) = (record.org.id, Some(record.membership.id));
    lifecycle::list_changed(tx, org, change.removes, &ctx.actor.label, member, detail).await
}

async fn remove_credential_from(
    store: &Store,
    ctx: &Ctx,
    record: &Record,
    credential_id: i64,
) -> FlowResult<()> {
    let mut tx = store.begin().await?;
    if !records::remove_credential(tx.conn(), record.membership.id, credential_id, now()).await? {
        return Err(FlowError::NotFound);
    }
    let change = KeyChange {
        action: "member.credential_removed",
        details: json!({ "credential_id": credential_id }),
        removes: true,
    };
    record_key_change(&mut tx, ctx, record, change, &format!("key {credential_id} removed")).await?;
    tx.commit().await?;
    Ok(())
}

/// Staff add a credential. A tag live for anyone in the organisation is refused (409).
pub async fn add_credential(
    store: &Store,
    ctx: &Ctx,
    slug: &str,
    membership_id: i64,
    tag: &str,
) -> FlowResult<Record> {
    let record = get(store, ctx, slug, membership_id).await?;
    add_credential_to(store, ctx, &record, tag).await?;
    load(store, record.org, membership_id).await
}

pub async fn remove_credential(
    store: &Store,
    ctx: &Ctx,
    slug: &str,
    membership_id: i64,
    credential_id: i64,
) -> FlowResult<Record> {
    let record = get(store, ctx, slug, membership_id).await?;
    remove_credential_from(store, ctx, &record, credential_id).await?;
    load(store, record.org, membership_id).await
}

/// Grants (or with `grant = false` revokes) an authorisation from the organisation's catalogue.
pub async fn set_authorisation(
    store: &Store,
    ctx: &Ctx,
    slug: &str,
    membership_id: i64,
    name: &str,
    grant: bool,
) -> FlowResult<Record> {
    let record = get(store, ctx, slug, membership_id).await?;
    let name = name.trim();
    if !record.catalogue.iter().any(|c| c == name) {
        // The path names an authorisation this organisation does not have: not found.
        return Err(FlowError::Unknown { field: "name", code: "not_in_catalogue" });
    }
    let at = now();
    let mut tx = store.begin().await?;
    let changed = if grant {
        let rules =
            records::catalogue_entries(tx.conn(), record.org.id).await?.into_iter().find(|e| e.name == name);
        let requires = rules.as_ref().map(|r| r.requires.clone()).unwrap_or_default();
        // Read inside the transaction that grants, so a prerequisite revoked meanwhile counts.
        let held = records::authorisations(tx.conn(), membership_id).await?;
        let missing: Vec<String> =
            requires.into_iter().filter(|r| !held.iter().any(|h| &h.name == r && !h.expired(at))).collect();
        if !missing.is_empty() {
            return Err(FlowError::MissingPrerequisites(missing));
        }
        let expires_at = rules.and_then(|r| r.valid_days).map(|days| at + days * 86_400);
        records::grant(tx.conn(), membership_id, name, &ctx.actor.label, at, expires_at).await?;
        true
    } else {
        records::revoke(tx.conn(), membership_id, name).await?
    };
    if changed {
        let action = if grant { "member.authorisation_granted" } else { "member.authorisation_revoked" };
        record_event(&mut tx, ctx, action, &record, json!({ "name": name })).await?;
        let detail = format!("authorisation {name} {}", if grant { "granted" } else { "revoked" });
        lifecycle::list_changed(
            &mut tx,
            record.org.id,
            !grant,
            &ctx.actor.label,
            Some(membership_id),
            &detail,
        )
        .await?;
        if !grant {
            lifecycle::authorisation_lost(&mut tx, membership_id, name).await?;
        }
    }
    tx.commit().await?;
    load(store, record.org, membership_id).await
}

/// The rules of a catalogue authorisation, as staff give them.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogueRules {
    /// Days a grant lasts (1 to 3650); absent: no expiry.
    #[serde(default, deserialize_with = "super::present_whole_number")]
    pub valid_days: Option<i64>,
    /// Other authorisations of the catalogue a member must hold first.
    #[serde(default)]
    pub requires: Vec<String>,
}

/// Most prerequisites one authorisation may have.
pub const MAX_PREREQUISITES: usize = 20;

/// Adds a name to the organisation's authorisation catalogue (admin); with `rules`, sets its
/// validity period and prerequisites (which must be in the catalogue already).
pub async fn add_to_catalogue(
    store: &Store,
    ctx: &Ctx,
    slug: &str,
    name: &str,
    rules: Option<&CatalogueRules>,
) -> FlowResult<Vec<records::CatalogueEntry>> {
    ctx.require_admin()?;
    let org = super::orgs::get(store, ctx, slug).await?;
    let name = match AuthorisationName::parse(name) {
        Ok(name) => name.as_str().to_string(),
        Err(NameError::Empty) => return Err(invalid("name", "required")),
        Err(NameError::TooLong) => return Err(invalid("name", "too_long")),
        Err(_) => return Err(invalid("name", "invalid_authorisation_name")),
    };
    let entry = match rules {
        None => None,
        Some(rules) => {
            if rules.valid_days.is_some_and(|d| !(1..=3650).contains(&d)) {
                return Err(invalid("valid_days", "invalid_valid_days"));
            }
            let catalogue = records::catalogue(store.pool(), org.id).await?;
            let mut requires = Vec::with_capacity(rules.requires.len());
            for r in &rules.requires {
                let r =
                    AuthorisationName::parse(r).map_err(|_| invalid("requires", "invalid_prerequisites"))?;
                requires.push(r.as_str().to_string());
            }
            requires.sort();
            requires.dedup();
            if requires.len() > MAX_PREREQUISITES {
                return Err(invalid("requires", "invalid_prerequisites"));
            }
            if requires.iter().any(|r| r == &name) {
                // Well-formed, but it can never be granted: a conflict with itself.
                return Err(FlowError::Conflict { code: "self_prerequisite" });
            }
            if requires.iter().any(|r| !catalogue.contains(r)) {
                return Err(FlowError::Unknown { field: "requires", code: "not_in_catalogue" });
            }
            Some(records::CatalogueEntry { name: name.clone(), valid_days: rules.valid_days, requires })
        }
    };
    let mut tx = store.begin().await?;
    match &entry {
        Some(entry) => records::set_catalogue_entry(tx.conn(), org.id, entry).await?,
        None => records::add_to_catalogue(tx.conn(), org.id, &name).await?,
    }
    audit::record(
        tx.conn(),
        audit::NewEvent {
            actor: &ctx.actor,
            origin: &ctx.origin,
            action: "org.authorisation_added",
            target: Some(&name),
            org_id: Some(org.id),
            details: json!({ "valid_days": entry.as_ref().and_then(|e| e.valid_days),
                             "requires": entry.as_ref().map(|e| e.requires.clone()) }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(records::catalogue_entries(store.pool(), org.id).await?)
}

/// The members of an organisation as CSV (RFC 4180; cells that a spreadsheet would run as a
/// formula are prefixed with `'`).
pub async fn export_csv(store: &Store, ctx: &Ctx, slug: &str) -> FlowResult<String> {
    let members = list(store, ctx, slug, None, None).await?;
    let mut out = csv::row(&["membership_id", "email", "username", "role", "status", "member_since"]);
    for m in members {
        let since = m.member_since.map(crate::domain::rfc3339).unwrap_or_default();
        let cells = [
            m.membership_id.to_string(),
            m.email,
            m.username.unwrap_or_default(),
            m.role.to_string(),
            m.status.to_string(),
            since,
        ];
        out.push_str(&csv::row(&cells));
    }
    Ok(out)
}

// ---- The member's own side (dashboard) ----

/// The member's membership in the organisation `slug`, or their first one.
/// The record of one of the user's memberships (`mine`, as `memberships::of_user` reads them):
/// of the organisation `slug`, else the first.
pub async fn own_record(
    store: &Store,
    mine: &[memberships::UserMembership],
    slug: Option<&str>,
    sections: Sections,
) -> FlowResult<Option<Record>> {
    let chosen = match slug {
        Some(slug) => mine.iter().find(|m| m.org.slug == slug),
        None => mine.first(),
    };
    let Some(m) = chosen else { return Ok(None) };
    // The profile came with the memberships.
    let mut record =
        with_sections(store, m.org.clone(), m.membership.clone(), Sections { profile: false, ..sections })
            .await?;
    record.profile = m.profile.clone();
    Ok(Some(record))
}

/// What a member may edit of their profile.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct ProfileInput {
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub preferred_name: String,
    #[serde(default)]
    pub pronouns: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub emergency_contact: String,
    #[serde(default)]
    pub chat_handle: String,
}

pub async fn update_own_profile(
    store: &Store,
    ctx: &Ctx,
    record: &Record,
    input: &ProfileInput,
) -> FlowResult<()> {
    let mut problems = vec![];
    let profile = Profile {
        first_name: text(&input.first_name, "first_name", 100, true, &mut problems).unwrap_or_default(),
        last_name: text(&input.last_name, "last_name", 100, true, &mut problems).unwrap_or_default(),
        preferred_name: text(&input.preferred_name, "preferred_name", 100, false, &mut problems),
        pronouns: text(&input.pronouns, "pronouns", 40, false, &mut problems),
        phone: phone(&input.phone, &mut problems),
        emergency_contact: text(&input.emergency_contact, "emergency_contact", 200, false, &mut problems),
        chat_handle: text(&input.chat_handle, "chat_handle", 100, false, &mut problems),
        ..record.profile.clone()
    };
    if !problems.is_empty() {
        return Err(FlowError::Invalid(
            problems.into_iter().map(|(field, code)| FieldError { field, code }).collect(),
        ));
    }
    let mut tx = store.begin().await?;
    let now = now();
    if records::profile(tx.conn(), record.membership.id).await?.is_none() {
        records::insert(
            tx.conn(),
            record.membership.id,
            &Profile { custom_fields: "{}".into(), ..Profile::default() },
            now,
        )
        .await?;
    }
    records::update_profile(tx.conn(), record.membership.id, &profile, now).await?;
    record_event(&mut tx, ctx, "member.profile_updated", record, json!({})).await?;
    let p = &record.profile;
    let renamed = (&p.first_name, &p.last_name, &p.preferred_name)
        != (&profile.first_name, &profile.last_name, &profile.preferred_name);
    if renamed {
        // Door lists carry the name: a waiting door gets the new one.
        lifecycle::list_changed(
            &mut tx,
            record.org.id,
            false,
            &ctx.actor.label,
            Some(record.membership.id),
            "name changed",
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Members manage their own keys only while active.
fn require_active(record: &Record) -> FlowResult<()> {
    if record.membership.status == MembershipStatus::Active { Ok(()) } else { Err(FlowError::Forbidden) }
}

pub async fn add_own_credential(store: &Store, ctx: &Ctx, record: &Record, tag: &str) -> FlowResult<()> {
    require_active(record)?;
    add_credential_to(store, ctx, record, tag).await
}

pub async fn remove_own_credential(
    store: &Store,
    ctx: &Ctx,
    record: &Record,
    credential_id: i64,
) -> FlowResult<()> {
    require_active(record)?;
    remove_credential_from(store, ctx, record, credential_id).await
}

/// Custom fields: a JSON object of at most 50 keys (each 1 to 50 characters under the text
/// rule, without surrounding spaces) whose values are strings (the text rule, at most 200
/// characters), numbers, booleans or null. The request body limit bounds the whole.
pub fn validate_custom_fields(value: &serde_json::Value) -> FlowResult<String> {
    let bad = || invalid("custom_fields", "invalid_custom_fields");
    let object = value.as_object().ok_or_else(bad)?;
    // Keys and string values follow the one text rule (keys: one line, 1 to 50 characters).
    let keys_ok = object.len() <= 50
        && object.keys().all(|k| matches!(clean(k, 50, Lines::Single), Ok(Some(t)) if t == *k));
    let values_ok = object.values().all(|v| match v {
        serde_json::Value::Object(_) | serde_json::Value::Array(_) => false,
        serde_json::Value::String(s) => clean(s, 200, Lines::Single).is_ok(),
        _ => true,
    });
    if !keys_ok || !values_ok {
        return Err(bad());
    }
    Ok(value.to_string())
}

/// A storage assignment under the text rule (at most 100 characters); blank clears it.
pub fn storage_value(s: &str) -> FlowResult<Option<String>> {
    let mut problems = vec![];
    let value = text(s, "storage", 100, false, &mut problems);
    match problems.first() {
        Some((_, code)) => Err(invalid("storage", code)),
        None => Ok(value),
    }
}

/// Staff set the storage assignment (`Some(None)` clears it) and/or replace the custom fields.
pub async fn set_staff_fields(
    store: &Store,
    ctx: &Ctx,
    slug: &str,
    membership_id: i64,
    storage: Option<Option<&str>>,
    custom_fields: Option<&serde_json::Value>,
) -> FlowResult<Record> {
    let record = get(store, ctx, slug, membership_id).await?;
    let storage: Option<Option<String>> = match storage {
        None => None,
        Some(None) => Some(None),
        Some(Some(s)) => Some(storage_value(s)?),
    };
    let fields = custom_fields.map(validate_custom_fields).transpose()?;
    let mut tx = store.begin().await?;
    let now = now();
    if records::profile(tx.conn(), membership_id).await?.is_none() {
        records::insert(
            tx.conn(),
            membership_id,
            &Profile { custom_fields: "{}".into(), ..Profile::default() },
            now,
        )
        .await?;
    }
    records::set_staff_fields(
        tx.conn(),
        membership_id,
        storage.as_ref().map(|s| s.as_deref()),
        fields.as_deref(),
        now,
    )
    .await?;
    record_event(
        &mut tx,
        ctx,
        "member.record_updated",
        &record,
        json!({ "storage": storage, "custom_fields": fields.is_some() }),
    )
    .await?;
    tx.commit().await?;
    load(store, record.org, membership_id).await
}
