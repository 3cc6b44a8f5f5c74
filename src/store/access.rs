//! Door access: devices, the access list, the log of list changes and which device picked up
//! each revocation.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Executor, Row};

use super::{Result, StoreError};

#[derive(Debug, Clone)]
pub struct Device {
    pub id: i64,
    pub org_id: i64,
    pub name: String,
    /// The authorisation a member needs to be on this device's list.
    pub requires: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub last_seen_at: Option<i64>,
    pub last_address: Option<String>,
    pub last_agent: Option<String>,
    /// The list version the device said (or was told) it holds at its last contact.
    pub held_version: Option<String>,
    /// The newest access change the device holds a list made after.
    pub synced_change: i64,
    pub synced_at: Option<i64>,
}

const DEVICE_COLUMNS: &str = "id, org_id, name, requires, created_by, created_at, revoked_at, last_seen_at, \
     last_address, last_agent, held_version, synced_change, synced_at";

fn device(r: &AnyRow) -> Result<Device> {
    Ok(Device {
        id: r.try_get(0)?,
        org_id: r.try_get(1)?,
        name: r.try_get(2)?,
        requires: r.try_get(3)?,
        created_by: r.try_get(4)?,
        created_at: r.try_get(5)?,
        revoked_at: r.try_get(6)?,
        last_seen_at: r.try_get(7)?,
        last_address: r.try_get(8)?,
        last_agent: r.try_get(9)?,
        held_version: r.try_get(10)?,
        synced_change: r.try_get(11)?,
        synced_at: r.try_get(12)?,
    })
}

pub struct NewDevice<'a> {
    pub org_id: i64,
    pub name: &'a str,
    pub requires: Option<&'a str>,
    pub token_hash: &'a str,
    pub created_by: &'a str,
    pub created_at: i64,
}

pub async fn insert(conn: &mut AnyConnection, d: &NewDevice<'_>) -> Result<Device> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO devices (org_id, name, requires, token_hash, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {DEVICE_COLUMNS}"
    )))
    .bind(d.org_id)
    .bind(d.name)
    .bind(d.requires)
    .bind(d.token_hash)
    .bind(d.created_by)
    .bind(d.created_at)
    .fetch_one(conn)
    .await
    .map_err(|e| StoreError::conflict_as(e, "token"))?;
    device(&row)
}

pub async fn list<'c, E: Executor<'c, Database = sqlx::Any>>(e: E, org_id: i64) -> Result<Vec<Device>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DEVICE_COLUMNS} FROM devices WHERE org_id = $1 ORDER BY id"
    )))
    .bind(org_id)
    .fetch_all(e)
    .await?;
    rows.iter().map(device).collect()
}

/// Every device of every organisation that is not revoked (for `/metrics`).
/// Every live device with its organisation's slug (for `/metrics`), by organisation.
pub async fn all_live<'c, E: Executor<'c, Database = sqlx::Any>>(e: E) -> Result<Vec<(Device, String)>> {
    // The device columns come first, so `device` reads them; the slug follows them.
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT d.*, o.slug FROM (SELECT {DEVICE_COLUMNS} FROM devices WHERE revoked_at IS NULL) d
         JOIN organisations o ON o.id = d.org_id ORDER BY d.org_id, d.id"
    )))
    .fetch_all(e)
    .await?;
    rows.iter().map(|r| Ok((device(r)?, r.try_get("slug")?))).collect()
}

/// The device a token belongs to (revoked ones too: the caller tells them apart).
pub async fn by_token_hash<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    hash: &str,
) -> Result<Option<Device>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DEVICE_COLUMNS} FROM devices WHERE token_hash = $1"
    )))
    .bind(hash)
    .fetch_optional(e)
    .await?;
    row.as_ref().map(device).transpose()
}

pub async fn set_requires(
    conn: &mut AnyConnection,
    org_id: i64,
    id: i64,
    requires: Option<&str>,
) -> Result<bool> {
    Ok(sqlx::query("UPDATE devices SET requires = $3 WHERE org_id = $1 AND id = $2")
        .bind(org_id)
        .bind(id)
        .bind(requires)
        .execute(conn)
        .await?
        .rows_affected()
        == 1)
}

pub async fn revoke(conn: &mut AnyConnection, org_id: i64, id: i64, now: i64) -> Result<bool> {
    Ok(sqlx::query("UPDATE devices SET revoked_at = $3 WHERE org_id = $1 AND id = $2 AND revoked_at IS NULL")
        .bind(org_id)
        .bind(id)
        .bind(now)
        .execute(conn)
        .await?
        .rows_affected()
        == 1)
}

/// What a device request tells us: when, from where, which version it holds now, and that it
/// holds a list made after change `synced_change`.
pub struct Contact<'a> {
    pub device_id: i64,
    pub at: i64,
    pub address: &'a str,
    pub agent: Option<&'a str>,
    pub held_version: &'a str,
    pub synced_change: i64,
}

/// Records a device's contact, and, for each revocation it now holds a list after that it had
/// not before, when it picked it up.
pub async fn record_contact(conn: &mut AnyConnection, org_id: i64, c: &Contact<'_>) -> Result<()> {
    sqlx::query(
        "UPDATE devices SET last_seen_at = $2, last_address = $3, last_agent = $4, held_version = $5,
            synced_at = $2, synced_change = CASE WHEN synced_change < $6 THEN $6 ELSE synced_change END
         WHERE id = $1",
    )
    .bind(c.device_id)
    .bind(c.at)
    .bind(c.address)
    .bind(c.agent)
    .bind(c.held_version)
    .bind(c.synced_change)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO access_pickups (change_id, device_id, picked_up_at)
         SELECT id, $2, $3 FROM access_changes
         WHERE org_id = $1 AND removes = 1 AND id <= $4
           AND id > COALESCE((SELECT MAX(change_id) FROM access_pickups WHERE device_id = $2), 0)
         ON CONFLICT (change_id, device_id) DO NOTHING",
    )
    .bind(org_id)
    .bind(c.device_id)
    .bind(c.at)
    .bind(c.synced_change)
    .execute(conn)
    .await?;
    Ok(())
}

/// One credential on an access list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub tag: String,
    pub membership_id: i64,
    pub name: String,
}

/// The live credentials of `active` members of the organisation, holding `requires` (not
/// expired at `now`) when given; ordered by tag.
pub async fn entries<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    org_id: i64,
    requires: Option<&str>,
    now: i64,
) -> Result<Vec<Entry>> {
    // The name is chosen in SQL (preferred name, else first and last, else username): three
    // columns a row instead of seven, which is most of the cost of a poll.
    let rows = sqlx::query(
        "SELECT c.tag, m.id,
                COALESCE(NULLIF(TRIM(COALESCE(r.preferred_name, '')), ''),
                         NULLIF(TRIM(COALESCE(r.first_name, '') || ' ' || COALESCE(r.last_name, '')), ''),
                         u.username, '')
         FROM member_credentials c
         JOIN memberships m ON m.id = c.membership_id
         JOIN users u ON u.id = m.user_id
         LEFT JOIN member_records r ON r.membership_id = m.id
         WHERE c.org_id = $1 AND c.removed_at IS NULL AND m.status = 'active'
           AND ($2 IS NULL OR EXISTS (
               SELECT 1 FROM member_authorisations a
               WHERE a.membership_id = m.id AND a.name = $2 AND (a.expires_at IS NULL OR a.expires_at > $3)))
         ORDER BY c.tag",
    )
    .bind(org_id)
    .bind(requires)
    .bind(now)
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|r| {
            let membership_id: i64 = r.try_get(1)?;
            let name: String = r.try_get(2)?;
            let name = if name.is_empty() { format!("member {membership_id}") } else { name };
            Ok(Entry { tag: r.try_get(0)?, membership_id, name })
        })
        .collect()
}

/// Records a change of the organisation's access lists; its id orders it.
pub async fn record_change(
    conn: &mut AnyConnection,
    org_id: i64,
    removes: bool,
    cause: &str,
    membership_id: Option<i64>,
    detail: &str,
    now: i64,
) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO access_changes (org_id, at, removes, cause, membership_id, detail)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(org_id)
    .bind(now)
    .bind(i64::from(removes))
    .bind(cause)
    .bind(membership_id)
    .bind(detail)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get(0)?)
}

/// The newest change of an organisation's lists (0 when none), or of all organisations.
pub async fn newest_change<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    org_id: Option<i64>,
) -> Result<i64> {
    let row =
        sqlx::query("SELECT COALESCE(MAX(id), 0) FROM access_changes WHERE ($1 IS NULL OR org_id = $1)")
            .bind(org_id)
            .fetch_one(e)
            .await?;
    Ok(row.try_get(0)?)
}

/// When the oldest change after `after` was made (None: there is none).
pub async fn first_change_after<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    org_id: i64,
    after: i64,
) -> Result<Option<i64>> {
    let row = sqlx::query("SELECT MIN(at) FROM access_changes WHERE org_id = $1 AND id > $2")
        .bind(org_id)
        .bind(after)
        .fetch_one(e)
        .await?;
    Ok(row.try_get(0)?)
}

/// A revocation with, per device, when it picked it up.
#[derive(Debug, Clone)]
pub struct Revocation {
    pub id: i64,
    pub at: i64,
    pub cause: String,
    pub membership_id: Option<i64>,
    pub detail: String,
    /// (device id, picked up at).
    pub pickups: Vec<(i64, i64)>,
}

/// The newest `limit` revocations of an organisation, newest first, with their pickups.
pub async fn revocations<'c, E>(e: E, org_id: i64, limit: i64) -> Result<Vec<Revocation>>
where
    E: Executor<'c, Database = sqlx::Any> + Copy,
{
    let rows = sqlx::query(
        "SELECT id, at, cause, membership_id, detail FROM access_changes
         WHERE org_id = $1 AND removes = 1 ORDER BY id DESC LIMIT $2",
    )
    .bind(org_id)
    .bind(limit)
    .fetch_all(e)
    .await?;
    let mut out: Vec<Revocation> = rows
        .iter()
        .map(|r| {
            Ok(Revocation {
                id: r.try_get(0)?,
                at: r.try_get(1)?,
                cause: r.try_get(2)?,
                membership_id: r.try_get(3)?,
                detail: r.try_get(4)?,
                pickups: Vec::new(),
            })
        })
        .collect::<Result<_>>()?;
    let Some(oldest) = out.last().map(|r| r.id) else { return Ok(out) };
    let pickups = sqlx::query(
        "SELECT p.change_id, p.device_id, p.picked_up_at FROM access_pickups p
         JOIN devices d ON d.id = p.device_id WHERE d.org_id = $1 AND p.change_id >= $2",
    )
    .bind(org_id)
    .bind(oldest)
    .fetch_all(e)
    .await?;
    for p in &pickups {
        let change: i64 = p.try_get(0)?;
        if let Some(r) = out.iter_mut().find(|r| r.id == change) {
            r.pickups.push((p.try_get(1)?, p.try_get(2)?));
        }
    }
    Ok(out)
}
