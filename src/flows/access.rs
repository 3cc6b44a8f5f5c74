//! Door access (SPEC §3.6): devices, the access list a device polls, and the proof that a
//! revocation reached every device.
//!
//! The list's version is a hash of its content, so every process computes the same version
//! from the same data, and a change nobody announced (an authorisation that expired) still
//! changes it. Each change of the lists is also written to `access_changes` in the transaction
//! that causes it; a waiting poll (`?wait=N`) is woken by a per-process watcher that reads the
//! newest change id four times a second while anyone waits, so a change made through any
//! process reaches a waiting device within a second.

use std::time::Duration;

use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::lifecycle::{self, About};
use super::{Ctx, FlowError, FlowResult};
use crate::domain::member::text;
use crate::domain::{MembershipStatus, SecretToken};
use crate::store::access::{self, Contact, Device, Entry, NewDevice};
use crate::store::audit::{self, Origin};
use crate::store::orgs::Org;
use crate::store::{Store, Tx, memberships, now, records};

/// The longest a poll may wait for a change.
pub const MAX_WAIT_SECS: u64 = 60;

/// How often a process looks for list changes while polls wait.
const WATCH_EVERY: Duration = Duration::from_millis(250);

/// An access list as a device receives it.
#[derive(Debug, Clone)]
pub struct AccessList {
    pub version: String,
    pub generated_at: i64,
    pub entries: Vec<Entry>,
    /// The newest list change made before the list was read: the list reflects it.
    pub newest_change: i64,
}

/// The version of a list: the first 16 hex digits of the SHA-256 of its lines.
pub fn version_of(entries: &[Entry]) -> String {
    let mut hash = Sha256::new();
    for e in entries {
        hash.update(e.tag.as_bytes());
        hash.update(b"\t");
        hash.update(e.membership_id.to_string().as_bytes());
        hash.update(b"\t");
        hash.update(e.name.as_bytes());
        hash.update(b"\n");
    }
    hash.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Tells waiting polls that some organisation's lists changed (the newest change id).
#[derive(Clone)]
pub struct AccessWatch {
    newest: watch::Sender<i64>,
}

impl Default for AccessWatch {
    fn default() -> Self {
        AccessWatch { newest: watch::channel(0).0 }
    }
}

impl AccessWatch {
    /// Reads the newest change id while any poll waits, and wakes the waiters when it moves.
    /// Runs for the life of the server.
    pub async fn run(self, store: Store) {
        let mut interval = tokio::time::interval(WATCH_EVERY);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            if self.newest.receiver_count() == 0 {
                continue;
            }
            match access::newest_change(store.pool(), None).await {
                Ok(id) => {
                    self.newest.send_if_modified(|current| {
                        let moved = *current != id;
                        *current = id;
                        moved
                    });
                }
                Err(e) => tracing::warn!(error = %e, "access watch: cannot read changes"),
            }
        }
    }
}

/// The list a device may open doors with, read now.
pub async fn list_for(store: &Store, org_id: i64, requires: Option<&str>) -> FlowResult<AccessList> {
    let pool = store.pool();
    // Read the newest change first: the list read after it reflects it (and maybe later ones).
    let newest_change = access::newest_change(pool, Some(org_id)).await?;
    let at = now();
    let entries = access::entries(pool, org_id, requires, at).await?;
    Ok(AccessList { version: version_of(&entries), generated_at: at, entries, newest_change })
}

/// A device presenting its token, with where the request came from.
pub struct DeviceRequest<'a> {
    pub device: &'a Device,
    pub address: &'a str,
    pub agent: Option<&'a str>,
}

/// What a poll answers.
pub enum Poll {
    /// The device holds the current list (304).
    Current(String),
    List(AccessList),
}

/// `GET /api/v1/orgs/{slug}/access-list`: the device's list, or `Current` when the version it
/// holds is the current one — after waiting up to `wait` seconds for a change. Each answer
/// records what the device now holds, and when.
pub async fn poll(
    store: &Store,
    watcher: &AccessWatch,
    request: &DeviceRequest<'_>,
    org: &Org,
    held: Option<&str>,
    wait: u64,
) -> FlowResult<Poll> {
    let device = request.device;
    if device.org_id != org.id {
        return Err(FlowError::Forbidden);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait.min(MAX_WAIT_SECS));
    let mut changes = watcher.newest.subscribe();
    loop {
        let list = list_for(store, org.id, device.requires.as_deref()).await?;
        let current = held == Some(list.version.as_str());
        if !current || tokio::time::Instant::now() >= deadline {
            record_contact(store, org.id, request, &list).await?;
            return Ok(if current { Poll::Current(list.version) } else { Poll::List(list) });
        }
        // Wait for a change (or the deadline), then read the list again. Changes that make no
        // difference to this device's list (someone else's key) just mean another read.
        if tokio::time::timeout_at(deadline, changes.changed()).await.is_err() {
            continue;
        }
    }
}

async fn record_contact(
    store: &Store,
    org_id: i64,
    r: &DeviceRequest<'_>,
    list: &AccessList,
) -> FlowResult<()> {
    let d = r.device;
    // Contact is kept to the second: a device polling several times a second, holding the same
    // list from the same address, is written once, not once per request.
    let unchanged = d.last_seen_at == Some(list.generated_at)
        && d.held_version.as_deref() == Some(list.version.as_str())
        && d.synced_change >= list.newest_change
        && d.last_address.as_deref() == Some(r.address);
    if unchanged {
        return Ok(());
    }
    let mut tx = store.begin().await?;
    access::record_contact(
        tx.conn(),
        org_id,
        &Contact {
            device_id: r.device.id,
            at: list.generated_at,
            address: r.address,
            agent: r.agent,
            held_version: &list.version,
            synced_change: list.newest_change,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The device a bearer token belongs to; `None` for an unknown or revoked token.
pub async fn device_for_token(store: &Store, presented: &str) -> FlowResult<Option<Device>> {
    let device = access::by_token_hash(store.pool(), &SecretToken::hash_presented(presented)).await?;
    Ok(device.filter(|d| d.revoked_at.is_none()))
}

/// A device just created, with its token (shown once, stored hashed).
pub struct CreatedDevice {
    pub device: Device,
    pub token: String,
}

/// Registers a door or tool controller (admin); `requires` must be in the catalogue.
pub async fn create_device(
    store: &Store,
    ctx: &Ctx,
    slug: &str,
    name: &str,
    requires: Option<&str>,
) -> FlowResult<CreatedDevice> {
    ctx.require_admin()?;
    let org = super::orgs::get(store, ctx, slug).await?;
    let mut problems = Vec::new();
    let name = text(name, "name", 100, true, &mut problems).ok_or_else(|| super::invalid_fields(problems))?;
    let requires = requires.map(str::trim).filter(|r| !r.is_empty());
    if let Some(r) = requires
        && !records::catalogue(store.pool(), org.id).await?.iter().any(|c| c == r)
    {
        return Err(FlowError::Unknown { field: "requires", code: "not_in_catalogue" });
    }
    let token = SecretToken::generate("pdv_");
    let mut tx = store.begin().await?;
    let device = access::insert(
        tx.conn(),
        &NewDevice {
            org_id: org.id,
            name: &name,
            requires,
            token_hash: &token.hash(),
            created_by: &ctx.actor.label,
            created_at: now(),
        },
    )
    .await?;
    audit_device(&mut tx, ctx, &org, "device.created", &device, json!({ "requires": requires })).await?;
    tx.commit().await?;
    Ok(CreatedDevice { device, token: token.expose().to_string() })
}

async fn audit_device(
    tx: &mut Tx,
    ctx: &Ctx,
    org: &Org,
    action: &str,
    device: &Device,
    details: serde_json::Value,
) -> FlowResult<()> {
    audit::record(
        tx.conn(),
        audit::NewEvent {
            actor: &ctx.actor,
            origin: &ctx.origin,
            action,
            target: Some(&device.name),
            org_id: Some(org.id),
            details,
        },
    )
    .await?;
    Ok(())
}

/// Changes the authorisation a device requires (admin; `None`: every active member with a
/// key). A new requirement can take people off its list: recorded as a revocation.
pub async fn set_requirement(
    store: &Store,
    ctx: &Ctx,
    slug: &str,
    id: i64,
    requires: Option<&str>,
) -> FlowResult<()> {
    let (org, device) = device_for_admin(store, ctx, slug, id).await?;
    let requires = requires.map(str::trim).filter(|r| !r.is_empty());
    if let Some(r) = requires
        && !records::catalogue(store.pool(), org.id).await?.iter().any(|c| c == r)
    {
        // The device exists; what the body names does not: a conflict, not a 404.
        return Err(FlowError::Conflict { code: "not_in_catalogue" });
    }
    if device.requires.as_deref() == requires {
        return Ok(());
    }
    let mut tx = store.begin().await?;
    access::set_requires(tx.conn(), org.id, id, requires).await?;
    audit_device(
        &mut tx,
        ctx,
        &org,
        "device.requirement_changed",
        &device,
        json!({ "from": device.requires, "to": requires }),
    )
    .await?;
    let detail = format!("{} now requires {}", device.name, requires.unwrap_or("nothing"));
    lifecycle::list_changed(&mut tx, org.id, requires.is_some(), &ctx.actor.label, None, &detail).await?;
    tx.commit().await?;
    Ok(())
}

/// A device of the organisation, for an admin to change.
async fn device_for_admin(store: &Store, ctx: &Ctx, slug: &str, id: i64) -> FlowResult<(Org, Device)> {
    ctx.require_admin()?;
    let org = super::orgs::get(store, ctx, slug).await?;
    let device = access::list(store.pool(), org.id)
        .await?
        .into_iter()
        .find(|d| d.id == id)
        .ok_or(FlowError::NotFound)?;
    Ok((org, device))
}

/// Revokes a device's token (admin): its next request is refused.
pub async fn revoke_device(store: &Store, ctx: &Ctx, slug: &str, id: i64) -> FlowResult<()> {
    let (org, device) = device_for_admin(store, ctx, slug, id).await?;
    let mut tx = store.begin().await?;
    if access::revoke(tx.conn(), org.id, id, now()).await? {
        audit_device(&mut tx, ctx, &org, "device.revoked", &device, json!({})).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A device as staff see it: is the list it holds the current one, and since when not.
#[derive(Debug, Clone)]
pub struct DeviceStatus {
    pub device: Device,
    pub current_version: String,
    /// The device's last contact found it holding the current list.
    pub current: bool,
    /// Seconds since the last contact.
    pub silent_for: Option<i64>,
    /// Not current: since when the lists changed without it (the first change it lacks).
    pub stale_since: Option<i64>,
}

/// A device's revocation pickup, as staff see it.
#[derive(Debug, Clone)]
pub struct Pickup {
    pub device: String,
    /// Seconds from the change to the first list without it; `None`: not yet.
    pub lag: Option<i64>,
}

/// A revocation and which devices have it.
#[derive(Debug, Clone)]
pub struct RevocationView {
    pub at: i64,
    pub cause: String,
    pub membership_id: Option<i64>,
    pub detail: String,
    pub pickups: Vec<Pickup>,
}

/// The devices of an organisation with their state, and its recent revocations with which
/// device picked each up and after how long (staff).
pub async fn overview(
    store: &Store,
    ctx: &Ctx,
    slug: &str,
) -> FlowResult<(Vec<DeviceStatus>, Vec<RevocationView>)> {
    ctx.require_staff()?;
    let org = super::orgs::get(store, ctx, slug).await?;
    let devices = access::list(store.pool(), org.id).await?;
    let at = now();
    let mut statuses = Vec::new();
    for device in devices {
        let list = list_for(store, org.id, device.requires.as_deref()).await?;
        let current = device.held_version.as_deref() == Some(list.version.as_str());
        let stale_since = match current {
            true => None,
            false => access::first_change_after(store.pool(), org.id, device.synced_change)
                .await?
                .or(Some(device.created_at)),
        };
        statuses.push(DeviceStatus {
            current,
            stale_since,
            silent_for: device.last_seen_at.map(|t| at - t),
            current_version: list.version,
            device,
        });
    }
    let revocations = access::revocations(store.pool(), org.id, 50)
        .await?
        .into_iter()
        .map(|r| RevocationView {
            pickups: statuses
                .iter()
                .filter(|s| s.device.revoked_at.is_none() && s.device.created_at <= r.at)
                .map(|s| Pickup {
                    device: s.device.name.clone(),
                    lag: r.pickups.iter().find(|(d, _)| *d == s.device.id).map(|(_, t)| t - r.at),
                })
                .collect(),
            at: r.at,
            cause: r.cause,
            membership_id: r.membership_id,
            detail: r.detail,
        })
        .collect();
    Ok((statuses, revocations))
}

/// Every live device of the instance, with its staleness.
pub async fn health(store: &Store) -> FlowResult<Vec<crate::metrics::DeviceHealth>> {
    let at = now();
    let mut out = Vec::new();
    for (device, org) in access::all_live(store.pool()).await? {
        let list = list_for(store, device.org_id, device.requires.as_deref()).await?;
        out.push(crate::metrics::DeviceHealth {
            org,
            id: device.id,
            silent_for: device.last_seen_at.map(|t| at - t),
            stale: device.held_version.as_deref() != Some(list.version.as_str()),
            name: device.name,
        });
    }
    Ok(out)
}

/// What one scheduler round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Swept {
    /// Timed suspensions that ended.
    pub reactivated: usize,
    /// Authorisations whose expiry was recorded.
    pub expired: usize,
}

/// Ends timed suspensions that are due (back to `active`, unless the membership was changed
/// meanwhile) and records expired authorisations as list changes; both audited with cause
/// `schedule`. Safe in several processes: each change is conditional.
pub async fn sweep(store: &Store) -> FlowResult<Swept> {
    let mut swept = Swept::default();
    let system = audit::Actor::system("schedule");
    for (id, org_id) in memberships::suspensions_due(store.pool(), now(), 100).await? {
        let mut tx = store.begin().await?;
        let Some(m) = memberships::find(tx.conn(), id).await? else { continue };
        if memberships::end_timed_suspension(tx.conn(), id, now()).await? {
            let details = json!({ "from": "suspended", "to": "active", "reason": "suspension ended", "cause": "schedule" });
            let about = About { org_id, membership_id: id, email: &m.email };
            lifecycle::record(&mut tx, &system, &Origin::default(), about, "member.status_changed", details)
                .await?;
            lifecycle::status_changed(
                &mut tx,
                org_id,
                id,
                MembershipStatus::Suspended,
                MembershipStatus::Active,
                "schedule",
            )
            .await?;
            swept.reactivated += 1;
        }
        tx.commit().await?;
    }
    for (id, org_id, name) in records::expired_unnoted(store.pool(), now(), 100).await? {
        let mut tx = store.begin().await?;
        let Some(m) = memberships::find(tx.conn(), id).await? else { continue };
        if records::note_expiry(tx.conn(), id, &name, now()).await? {
            let details = json!({ "name": name, "cause": "schedule" });
            let about = About { org_id, membership_id: id, email: &m.email };
            lifecycle::record(
                &mut tx,
                &system,
                &Origin::default(),
                about,
                "member.authorisation_expired",
                details,
            )
            .await?;
            let detail = format!("authorisation {name} expired");
            lifecycle::list_changed(&mut tx, org_id, true, "schedule", Some(id), &detail).await?;
            lifecycle::authorisation_lost(&mut tx, id, &name).await?;
            swept.expired += 1;
        }
        tx.commit().await?;
    }
    Ok(swept)
}
