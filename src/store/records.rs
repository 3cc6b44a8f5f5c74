//! The member record of a membership: profile, contacts, agreements, notes, credentials,
//! authorisations, storage and custom fields.

use sqlx::{AnyConnection, Executor, Row};

use super::{Result, StoreError};

/// The profile and contact part, as stored.
#[derive(Clone, Debug, Default)]
pub struct Profile {
    pub first_name: String,
    pub last_name: String,
    pub preferred_name: Option<String>,
    pub pronouns: Option<String>,
    pub birthday: Option<String>,
    pub phone: Option<String>,
    pub emergency_contact: Option<String>,
    pub chat_handle: Option<String>,
    pub storage: Option<String>,
    pub custom_fields: String,
}

pub async fn insert(conn: &mut AnyConnection, membership_id: i64, p: &Profile, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO member_records (membership_id, first_name, last_name, preferred_name, pronouns, birthday, phone,
             emergency_contact, chat_handle, storage, custom_fields, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(membership_id)
    .bind(&p.first_name)
    .bind(&p.last_name)
    .bind(&p.preferred_name)
    .bind(&p.pronouns)
    .bind(&p.birthday)
    .bind(&p.phone)
    .bind(&p.emergency_contact)
    .bind(&p.chat_handle)
    .bind(&p.storage)
    .bind(&p.custom_fields)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Updates what a member may edit themselves.
pub async fn update_profile(
    conn: &mut AnyConnection,
    membership_id: i64,
    p: &Profile,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE member_records SET first_name = $2, last_name = $3, preferred_name = $4, pronouns = $5, phone = $6,
             emergency_contact = $7, chat_handle = $8, updated_at = $9
         WHERE membership_id = $1",
    )
    .bind(membership_id)
    .bind(&p.first_name)
    .bind(&p.last_name)
    .bind(&p.preferred_name)
    .bind(&p.pronouns)
    .bind(&p.phone)
    .bind(&p.emergency_contact)
    .bind(&p.chat_handle)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes the profile fields an import carries (names, phone, birthday, custom fields).
pub async fn set_imported_profile(
    conn: &mut AnyConnection,
    membership_id: i64,
    p: &Profile,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE member_records SET first_name = $2, last_name = $3, preferred_name = $4, phone = $5, birthday = $6,
             custom_fields = $7, updated_at = $8
         WHERE membership_id = $1",
    )
    .bind(membership_id)
    .bind(&p.first_name)
    .bind(&p.last_name)
    .bind(&p.preferred_name)
    .bind(&p.phone)
    .bind(&p.birthday)
    .bind(&p.custom_fields)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The columns [`profile_at`] reads after `membership_id`, in its order.
macro_rules! profile_columns {
    () => {
        "first_name, last_name, preferred_name, pronouns, birthday, phone, emergency_contact, chat_handle, storage,
         custom_fields"
    };
}
pub(super) use profile_columns;

pub async fn profile<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    membership_id: i64,
) -> Result<Option<Profile>> {
    let row = sqlx::query(concat!(
        "SELECT membership_id, ",
        profile_columns!(),
        " FROM member_records WHERE membership_id = $1"
    ))
    .bind(membership_id)
    .fetch_optional(e)
    .await?;
    Ok(match row {
        Some(r) => profile_at(&r, 0)?,
        None => None,
    })
}

/// A profile from `membership_id, profile_columns!()` starting at column `at`; `None` when
/// `membership_id` is NULL (a left join that found no record).
pub(super) fn profile_at(r: &sqlx::any::AnyRow, at: usize) -> Result<Option<Profile>> {
    if r.try_get::<Option<i64>, _>(at)?.is_none() {
        return Ok(None);
    }
    Ok(Some(Profile {
        first_name: r.try_get(at + 1)?,
        last_name: r.try_get(at + 2)?,
        preferred_name: r.try_get(at + 3)?,
        pronouns: r.try_get(at + 4)?,
        birthday: r.try_get(at + 5)?,
        phone: r.try_get(at + 6)?,
        emergency_contact: r.try_get(at + 7)?,
        chat_handle: r.try_get(at + 8)?,
        storage: r.try_get(at + 9)?,
        custom_fields: r.try_get(at + 10)?,
    }))
}

pub async fn add_agreement(
    conn: &mut AnyConnection,
    membership_id: i64,
    kind: &str,
    version: &str,
    by: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO member_agreements (membership_id, kind, version, recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(membership_id)
    .bind(kind)
    .bind(version)
    .bind(by)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Agreement {
    pub kind: String,
    pub version: String,
    pub recorded_by: String,
    pub recorded_at: i64,
}

pub async fn agreements<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    membership_id: i64,
) -> Result<Vec<Agreement>> {
    let rows = sqlx::query(
        "SELECT kind, version, recorded_by, recorded_at FROM member_agreements WHERE membership_id = $1 ORDER BY id",
    )
    .bind(membership_id)
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Agreement {
                kind: r.try_get(0)?,
                version: r.try_get(1)?,
                recorded_by: r.try_get(2)?,
                recorded_at: r.try_get(3)?,
            })
        })
        .collect()
}

#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Note {
    pub id: i64,
    pub text: String,
    pub author: String,
    pub created_at: i64,
}

pub async fn add_note(
    conn: &mut AnyConnection,
    membership_id: i64,
    text: &str,
    author: &str,
    now: i64,
) -> Result<i64> {
    let row = sqlx::query("INSERT INTO member_notes (membership_id, text, author, created_at) VALUES ($1, $2, $3, $4) RETURNING id")
        .bind(membership_id)
        .bind(text)
        .bind(author)
        .bind(now)
        .fetch_one(conn)
        .await?;
    Ok(row.try_get(0)?)
}

pub async fn notes<'c, E: Executor<'c, Database = sqlx::Any>>(e: E, membership_id: i64) -> Result<Vec<Note>> {
    let rows = sqlx::query(
        "SELECT id, text, author, created_at FROM member_notes WHERE membership_id = $1 ORDER BY id",
    )
    .bind(membership_id)
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Note {
                id: r.try_get(0)?,
                text: r.try_get(1)?,
                author: r.try_get(2)?,
                created_at: r.try_get(3)?,
            })
        })
        .collect()
}

#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Credential {
    pub id: i64,
    pub tag: String,
    pub added_by: String,
    pub created_at: i64,
}

/// Adds a live RFID tag; `Conflict("credential")` if the tag is live for anyone in the org.
pub async fn add_credential(
    conn: &mut AnyConnection,
    membership_id: i64,
    org_id: i64,
    tag: &str,
    by: &str,
    now: i64,
) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO member_credentials (membership_id, org_id, tag, added_by, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(membership_id)
    .bind(org_id)
    .bind(tag)
    .bind(by)
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(|e| StoreError::conflict_as(e, "credential"))?;
    Ok(row.try_get(0)?)
}

/// Retires a live credential of a membership; false if there was none with that id.
pub async fn remove_credential(
    conn: &mut AnyConnection,
    membership_id: i64,
    credential_id: i64,
    now: i64,
) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE member_credentials SET removed_at = $3 WHERE id = $2 AND membership_id = $1 AND removed_at IS NULL",
    )
    .bind(membership_id)
    .bind(credential_id)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

pub async fn credentials<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    membership_id: i64,
) -> Result<Vec<Credential>> {
    let rows = sqlx::query(
        "SELECT id, tag, added_by, created_at FROM member_credentials WHERE membership_id = $1 AND removed_at IS NULL ORDER BY id",
    )
    .bind(membership_id)
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Credential {
                id: r.try_get(0)?,
                tag: r.try_get(1)?,
                added_by: r.try_get(2)?,
                created_at: r.try_get(3)?,
            })
        })
        .collect()
}

#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Authorisation {
    pub name: String,
    pub granted_by: String,
    pub granted_at: i64,
    /// When the grant stops counting (Unix seconds); null: never.
    pub expires_at: Option<i64>,
}

impl Authorisation {
    pub fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

/// An authorisation the organisation can grant, with its rules.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct CatalogueEntry {
    pub name: String,
    /// Days a grant lasts; null: no expiry.
    pub valid_days: Option<i64>,
    /// Authorisations a member must hold (not expired) before this one is granted.
    pub requires: Vec<String>,
}

pub async fn catalogue_entries<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    org_id: i64,
) -> Result<Vec<CatalogueEntry>> {
    let rows = sqlx::query(
        "SELECT name, valid_days, requires FROM org_authorisations WHERE org_id = $1 ORDER BY name",
    )
    .bind(org_id)
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|r| {
            let requires: String = r.try_get(2)?;
            Ok(CatalogueEntry {
                name: r.try_get(0)?,
                valid_days: r.try_get(1)?,
                requires: serde_json::from_str(&requires).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            })
        })
        .collect()
}

/// Sets an authorisation's rules, adding it to the catalogue if it is not there.
pub async fn set_catalogue_entry(
    conn: &mut AnyConnection,
    org_id: i64,
    entry: &CatalogueEntry,
) -> Result<()> {
    let requires = serde_json::to_string(&entry.requires).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sqlx::query(
        "INSERT INTO org_authorisations (org_id, name, valid_days, requires) VALUES ($1, $2, $3, $4)
         ON CONFLICT (org_id, name) DO UPDATE SET valid_days = excluded.valid_days, requires = excluded.requires",
    )
    .bind(org_id)
    .bind(&entry.name)
    .bind(entry.valid_days)
    .bind(requires)
    .execute(conn)
    .await?;
    Ok(())
}

/// Grants whose expiry has passed and is not recorded yet: (membership, organisation, name).
pub async fn expired_unnoted<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    now: i64,
    limit: i64,
) -> Result<Vec<(i64, i64, String)>> {
    let rows = sqlx::query(
        "SELECT a.membership_id, m.org_id, a.name FROM member_authorisations a
         JOIN memberships m ON m.id = a.membership_id
         WHERE a.expiry_noted = 0 AND a.expires_at IS NOT NULL AND a.expires_at <= $1
         ORDER BY a.expires_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(e)
    .await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))).collect()
}

/// Marks an expiry as recorded; false when another process did it first (or it was renewed).
pub async fn note_expiry(conn: &mut AnyConnection, membership_id: i64, name: &str, now: i64) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE member_authorisations SET expiry_noted = 1
         WHERE membership_id = $1 AND name = $2 AND expiry_noted = 0 AND expires_at <= $3",
    )
    .bind(membership_id)
    .bind(name)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

pub async fn authorisations<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    membership_id: i64,
) -> Result<Vec<Authorisation>> {
    let rows = sqlx::query(
        "SELECT name, granted_by, granted_at, expires_at FROM member_authorisations WHERE membership_id = $1 ORDER BY name",
    )
    .bind(membership_id)
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Authorisation {
                name: r.try_get(0)?,
                granted_by: r.try_get(1)?,
                granted_at: r.try_get(2)?,
                expires_at: r.try_get(3)?,
            })
        })
        .collect()
}

pub async fn catalogue<'c, E: Executor<'c, Database = sqlx::Any>>(e: E, org_id: i64) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT name FROM org_authorisations WHERE org_id = $1 ORDER BY name")
        .bind(org_id)
        .fetch_all(e)
        .await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

pub async fn add_to_catalogue(conn: &mut AnyConnection, org_id: i64, name: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO org_authorisations (org_id, name) VALUES ($1, $2) ON CONFLICT (org_id, name) DO NOTHING",
    )
    .bind(org_id)
    .bind(name)
    .execute(conn)
    .await?;
    Ok(())
}

/// Grants an authorisation, or renews a grant that exists (who, when and the expiry become
/// this grant's).
pub async fn grant(
    conn: &mut AnyConnection,
    membership_id: i64,
    name: &str,
    by: &str,
    now: i64,
    expires_at: Option<i64>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO member_authorisations (membership_id, name, granted_by, granted_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (membership_id, name) DO UPDATE SET granted_by = excluded.granted_by,
             granted_at = excluded.granted_at, expires_at = excluded.expires_at, expiry_noted = 0",
    )
    .bind(membership_id)
    .bind(name)
    .bind(by)
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn revoke(conn: &mut AnyConnection, membership_id: i64, name: &str) -> Result<bool> {
    Ok(sqlx::query("DELETE FROM member_authorisations WHERE membership_id = $1 AND name = $2")
        .bind(membership_id)
        .bind(name)
        .execute(conn)
        .await?
        .rows_affected()
        == 1)
}

/// Sets what staff manage on the record: the storage assignment and the custom fields (a JSON
/// object, already validated).
pub async fn set_staff_fields(
    conn: &mut AnyConnection,
    membership_id: i64,
    storage: Option<Option<&str>>,
    custom_fields: Option<&str>,
    now: i64,
) -> Result<()> {
    if let Some(storage) = storage {
        sqlx::query("UPDATE member_records SET storage = $2, updated_at = $3 WHERE membership_id = $1")
            .bind(membership_id)
            .bind(storage)
            .bind(now)
            .execute(&mut *conn)
            .await?;
    }
    if let Some(fields) = custom_fields {
        sqlx::query("UPDATE member_records SET custom_fields = $2, updated_at = $3 WHERE membership_id = $1")
            .bind(membership_id)
            .bind(fields)
            .bind(now)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Whether `tag` is a live key of anyone in the organisation.
pub async fn tag_in_use<'c, E: Executor<'c, Database = sqlx::Any>>(
    e: E,
    org_id: i64,
    tag: &str,
) -> Result<bool> {
    let row = sqlx::query(
        "SELECT COUNT(*) FROM member_credentials WHERE org_id = $1 AND tag = $2 AND removed_at IS NULL",
    )
    .bind(org_id)
    .bind(tag)
    .fetch_one(e)
    .await?;
    Ok(row.try_get::<i64, _>(0)? > 0)
}
