//! Self-service signup (SPEC §3.2). The email step records a request and answers the same page
//! for every address; the mail worker decides which email it becomes. The details step creates
//! user, membership and the whole member record in one transaction.

use serde_json::json;

use super::password::Hasher;
use super::{FlowError, FlowResult, auth, invalid, invalid_fields, throttle};
use crate::config::Config;
use crate::domain::member::{Details, DetailsInput};
use crate::domain::{Email, MembershipRole, MembershipStatus, SecretToken, SignupMode};
use crate::i18n::Locale;
use crate::mail::{self, templates};
use crate::store::audit::{Actor, Origin};
use crate::store::orgs::Org;
use crate::store::records::{self, Profile};
use crate::store::tokens::{self, Purpose};
use crate::store::{self, Store, StoreError, memberships, now, signups, users};

const VERIFY_HOURS: i64 = 24;
const TERMS_VERSION: &str = "1";

/// An organisation that takes signups; anything else is "not found".
pub async fn open_org(store: &Store, slug: &str) -> FlowResult<Org> {
    store::orgs::find_by_slug(store.pool(), slug)
        .await?
        .filter(|o| o.signup == SignupMode::Open)
        .ok_or(FlowError::NotFound)
}

/// The email step. Does the same work for every valid address (validate, throttle, count, record
/// a request); whether the address has an account is decided later, by the worker.
pub async fn request(
    store: &Store,
    origin: &Origin,
    slug: &str,
    email_input: &str,
    locale: Locale,
) -> FlowResult<()> {
    let org = open_org(store, slug).await?;
    let email = Email::parse(email_input).map_err(|_| invalid("email", "invalid_email"))?;
    let (mut tx, charged, now) = throttle::charge_email_request(store, origin, "signup", &email).await?;
    signups::insert(&mut tx, org.id, email.as_str(), locale.as_str(), (&charged.0, charged.1), now).await?;
    tx.commit().await?;
    Ok(())
}

/// Worker side: turns pending signup requests into emails, in one transaction with marking them
/// processed. Returns how many were handled.
pub async fn dispatch(store: &Store, config: &Config, limit: i64) -> FlowResult<usize> {
    if !signups::any_new_signup(store.pool()).await? {
        return Ok(0);
    }
    let now = now();
    let mut tx = store.begin().await?;
    let requests = signups::claim(&mut tx, store.backend(), limit, now).await?;
    for r in &requests {
        let Some(org) = store::orgs::find_by_id(tx.conn(), r.org_id).await? else { continue };
        let email = Email::from_trusted(r.email.clone());
        let hash = crate::domain::erasure::tombstone_hash(email.as_str());
        if store::erasure::tombstoned(tx.conn(), org.id, &hash).await? {
            // A banned member who was erased: the visitor was answered as anyone is; nothing
            // is sent, and staff read why in the audit log (without the address).
            let event = store::audit::NewEvent {
                actor: &Actor::system("signup"),
                origin: &Origin::default(),
                action: "signup.blocked",
                target: None,
                org_id: Some(org.id),
                details: json!({ "reason": "erased_banned_member", "address_hash": &hash[..16] }),
            };
            store::audit::record(tx.conn(), event).await?;
            continue;
        }
        let locale = Locale::parse(&r.locale).unwrap_or(config.default_locale);
        let existing = users::find_by_email(tx.conn(), &email).await?;
        let join = |path: &str| {
            config.base_url.join(path).map(|u| u.to_string()).map_err(|e| FlowError::Internal(e.to_string()))
        };
        let rendered = if existing.is_some() {
            templates::SignupExists {
                org_name: org.display_name().to_string(),
                sign_in_link: join("login")?,
                reset_link: join("password/forgot")?,
            }
            .render(locale, &config.brand)
        } else {
            let token = tokens::issue(
                tx.conn(),
                Purpose::EmailVerification,
                ("signup_request", r.id),
                email.as_str(),
                now + VERIFY_HOURS * 3600,
                now,
            )
            .await?;
            templates::SignupVerify {
                org_name: org.display_name().to_string(),
                link: join(&format!("o/{}/join/verify/{}", org.slug, token.expose()))?,
                expires_in_hours: VERIFY_HOURS,
            }
            .render(locale, &config.brand)
        }
        .map_err(|e| FlowError::Internal(e.to_string()))?;
        let charged = r.charged.as_ref().map(|(b, w)| (b.as_str(), *w));
        mail::enqueue(&mut tx, config, &email, &rendered, Some(("signup_request", r.id)), charged).await?;
    }
    tx.commit().await?;
    Ok(requests.len())
}

/// The address a live verification link stands for, in this open organisation.
pub async fn verified_email(store: &Store, slug: &str, presented: &str) -> FlowResult<(Org, Email)> {
    let org = open_org(store, slug).await?;
    let subject = tokens::peek(store.pool(), Purpose::EmailVerification, presented, now())
        .await?
        // (an address-change link is an email verification too, but not a signup's)
        .filter(|s| s.subject_kind == "signup_request")
        .ok_or(FlowError::NotFound)?;
    Ok((org, Email::from_trusted(subject.email)))
}

pub struct Joined {
    pub session: SecretToken,
    pub membership_id: i64,
}

/// The details step: validates every field on the server, then creates the user, the pending
/// membership and the whole member record in one transaction, and signs the person in. The
/// email comes from the link, never from the form.
/// Who is filling in the form: where from, in which language, with which session (if any).
pub struct Visitor<'a> {
    pub origin: &'a Origin,
    pub locale: Locale,
    pub session: Option<&'a str>,
}

pub async fn complete(
    store: &Store,
    config: &Config,
    hasher: &Hasher,
    visitor: &Visitor<'_>,
    slug: &str,
    presented: &str,
    input: &DetailsInput,
) -> FlowResult<Joined> {
    let (org, email) = verified_email(store, slug, presented).await?;
    let today = time::OffsetDateTime::now_utc().date();
    let details = Details::parse(input, email.as_str(), org.min_age, today).map_err(invalid_fields)?;
    // A friendly early answer; the unique index below is what really decides.
    if users::username_taken(store.pool(), &details.username).await? {
        return Err(invalid("username", "username_taken"));
    }
    // One request at a time works on a link: the others with the same link are answered now,
    // instead of each waiting to hash a password that cannot be used (or filling the queue).
    let mut claim = store.begin().await?;
    let claimed =
        tokens::claim(claim.conn(), Purpose::EmailVerification, presented, now(), CLAIM_LEASE_SECS).await?;
    claim.commit().await?;
    if !claimed {
        return Err(match users::find_by_email(store.pool(), &email).await? {
            Some(_) => FlowError::Conflict { code: "account_exists" },
            None => FlowError::Conflict { code: "link_in_use" },
        });
    }
    let outcome = create_account(store, config, hasher, visitor, &org, &email, &details, presented).await;
    if outcome.is_err() {
        // Let a retry (or another request with the link) go ahead.
        let mut tx = store.begin().await?;
        tokens::release(tx.conn(), Purpose::EmailVerification, presented).await?;
        tx.commit().await?;
    }
    outcome
}

/// How long a request may hold a link it works on (a crashed one's hold ends then).
const CLAIM_LEASE_SECS: i64 = 60;

#[allow(clippy::too_many_arguments)]
async fn create_account(
    store: &Store,
    config: &Config,
    hasher: &Hasher,
    visitor: &Visitor<'_>,
    org: &Org,
    email: &Email,
    details: &Details,
    presented: &str,
) -> FlowResult<Joined> {
    let hash = hasher.hash(&details.password).await?;
    let now = now();
    let mut tx = store.begin().await?;
    if tokens::consume(tx.conn(), Purpose::EmailVerification, presented, now).await?.is_none() {
        drop(tx);
        // Someone finished with this link first: say so plainly if it made the account.
        return Err(match users::find_by_email(store.pool(), email).await? {
            Some(_) => FlowError::Conflict { code: "account_exists" },
            None => FlowError::NotFound,
        });
    }
    let user_id = match users::insert_with_username(
        tx.conn(),
        email,
        details.username.as_str(),
        &hash,
        visitor.locale.as_str(),
        now,
    )
    .await
    {
        Ok(id) => id,
        Err(StoreError::Conflict("username")) => return Err(invalid("username", "username_taken")),
        Err(StoreError::Conflict(_)) => return Err(FlowError::Conflict { code: "account_exists" }),
        Err(e) => return Err(e.into()),
    };
    let membership_id = memberships::insert(
        tx.conn(),
        org.id,
        user_id,
        MembershipRole::Member,
        MembershipStatus::Pending,
        now,
    )
    .await?;
    let profile = Profile {
        first_name: details.first_name.clone(),
        last_name: details.last_name.clone(),
        preferred_name: details.preferred_name.clone(),
        pronouns: details.pronouns.clone(),
        birthday: details.birthday.map(|d| d.to_string()),
        phone: details.phone.clone(),
        custom_fields: "{}".into(),
        ..Profile::default()
    };
    records::insert(tx.conn(), membership_id, &profile, now).await?;
    for kind in ["terms", "waiver"] {
        records::add_agreement(tx.conn(), membership_id, kind, TERMS_VERSION, email.as_str(), now).await?;
    }
    let session =
        auth::open_session(&mut tx, user_id, visitor.session, config.session_hours, visitor.origin, "pwd")
            .await?;
    super::lifecycle::record(
        &mut tx,
        &Actor::user(user_id, email.as_str()),
        visitor.origin,
        super::lifecycle::About { org_id: org.id, membership_id, email: email.as_str() },
        "member.signed_up",
        json!({ "membership_id": membership_id, "username": details.username.as_str() }),
    )
    .await?;
    if config.test_hooks.fail_signup_before_commit {
        return Err(FlowError::Internal("test hook: signup fails after its last write".into()));
    }
    tx.commit().await?;
    Ok(Joined { session, membership_id })
}

/// A signed-in user joins an open organisation with their existing account: a pending
/// membership with an empty record, never a second account.
pub async fn join_with_account(
    store: &Store,
    origin: &Origin,
    slug: &str,
    user_id: i64,
    email: &str,
) -> FlowResult<i64> {
    let org = open_org(store, slug).await?;
    let now = now();
    let mut tx = store.begin().await?;
    let membership_id = match memberships::insert(
        tx.conn(),
        org.id,
        user_id,
        MembershipRole::Member,
        MembershipStatus::Pending,
        now,
    )
    .await
    {
        Ok(id) => id,
        Err(StoreError::Conflict(_)) => return Err(FlowError::Conflict { code: "already_member" }),
        Err(e) => return Err(e.into()),
    };
    records::insert(
        tx.conn(),
        membership_id,
        &Profile { custom_fields: "{}".into(), ..Profile::default() },
        now,
    )
    .await?;
    super::lifecycle::record(
        &mut tx,
        &Actor::user(user_id, email),
        origin,
        super::lifecycle::About { org_id: org.id, membership_id, email },
        "member.joined",
        json!({ "membership_id": membership_id }),
    )
    .await?;
    tx.commit().await?;
    Ok(membership_id)
}
