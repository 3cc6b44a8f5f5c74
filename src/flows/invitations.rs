//! Staff invite an email address into an organisation (SPEC §3.1). The invitation, its token,
//! its audit event and its email are written in one transaction. Whether the address already
//! has an account elsewhere changes only the email's wording, never the answer to staff.

use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::password::Hasher;
use super::{Ctx, FlowError, FlowResult, auth, invalid, settings, throttle};
use crate::config::Config;
use crate::domain::{
    Email, INVITE_CREATES_PER_CLIENT, INVITE_LIMIT_PER_RECIPIENT, InvitationState, MembershipRole,
    MembershipStatus, NewPassword, SecretToken,
};
use crate::i18n::Locale;
use crate::mail::{self, templates};
use crate::store::audit::{self, Actor, Origin};
use crate::store::invitations::{self, Invitation, NewInvitation};
use crate::store::orgs::Org;
use crate::store::outbox::Delivery;
use crate::store::tokens::{self, Purpose};
use crate::store::{self, Store, StoreError, Tx, memberships, now, users};

/// What staff submit to invite someone.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteInput {
    pub email: String,
    /// `owner`, `admin` or `member` (default).
    #[serde(default)]
    pub role: Option<String>,
    /// `en` or `ro`; default: the invitee's own locale if they have an account, else the
    /// instance default.
    #[serde(default)]
    pub locale: Option<String>,
}

const RECIPIENT_WINDOW_SECS: i64 = 3600;

/// The throttles of one invitation email, charged inside its transaction (a refused or
/// rolled-back invitation costs nothing): per API token and per client IP each minute, and per
/// recipient each hour. The recipient's counter is last.
fn limits<'a>(buckets: &'a [String], client_limit: i64, recipient_limit: i64) -> Vec<throttle::Limit<'a>> {
    let (recipient, clients) = buckets.split_last().expect("the recipient's bucket is always there");
    clients
        .iter()
        .map(|b| throttle::Limit { bucket: b, window_secs: 60, limit: client_limit })
        .chain([throttle::Limit {
            bucket: recipient,
            window_secs: RECIPIENT_WINDOW_SECS,
            limit: recipient_limit,
        }])
        .collect()
}

/// The counters of one invitation email (see [`limits`]).
fn buckets(ctx: &Ctx, email: &str, with_client: bool) -> Vec<String> {
    let mut buckets = Vec::new();
    if with_client {
        buckets.extend(ctx.api_token_id.map(|token| format!("invite:create:token:{token}")));
        buckets.extend(ctx.origin.client_ip.as_ref().map(|ip| format!("invite:create:ip:{ip}")));
    }
    buckets.push(format!("invite:recipient:{email}"));
    buckets
}

/// The invitation email carrying `token`. Rendered before the transaction opens where the
/// caller can, so that it never holds SQLite's one writer.
fn render_email(
    config: &Config,
    org: &Org,
    token: &SecretToken,
    locale: Locale,
    existing_user: bool,
) -> FlowResult<templates::RenderedEmail> {
    let link = config
        .base_url
        .join(&format!("invite/{}", token.expose()))
        .map_err(|e| FlowError::Internal(e.to_string()))?;
    templates::Invitation {
        org_name: org.display_name().to_string(),
        link: link.to_string(),
        expires_in_hours: config.invitation_hours,
        existing_user,
    }
    .render(locale, &config.brand)
    .map_err(|e| FlowError::Internal(e.to_string()))
}

/// Charges the throttles, stores the link's token and queues the email, inside `tx`.
#[allow(clippy::too_many_arguments)]
async fn queue_email(
    tx: &mut Tx,
    config: &Config,
    limits: &[throttle::Limit<'_>],
    invitation_id: i64,
    email: &Email,
    token: &SecretToken,
    rendered: &templates::RenderedEmail,
    expires_at: i64,
    now: i64,
) -> FlowResult<()> {
    let windows = throttle::charge_each(tx, limits, now).await?;
    let subject = ("invitation", invitation_id);
    tokens::insert(tx.conn(), token, Purpose::Invitation, subject, email.as_str(), expires_at, now).await?;
    let recipient = limits.last().map(|l| l.bucket).unwrap_or_default();
    let window = windows.last().copied().unwrap_or_default();
    mail::enqueue(tx, config, email, rendered, Some(subject), Some((recipient, window))).await?;
    Ok(())
}

/// Inserts the pending invitation, replacing one whose time ran out; 409 with the pending
/// one's id when there is a live one.
async fn insert_pending(tx: &mut Tx, new: &NewInvitation<'_>, now: i64) -> FlowResult<i64> {
    if let Some(id) = invitations::insert(tx.conn(), new, now).await? {
        return Ok(id);
    }
    if invitations::expire_stale(tx.conn(), new.org_id, new.email, now).await?
        && let Some(id) = invitations::insert(tx.conn(), new, now).await?
    {
        return Ok(id);
    }
    let pending = invitations::find_pending(tx.conn(), new.org_id, new.email, now).await?;
    Err(FlowError::InvitationPending { invitation_id: pending.map_or(0, |p| p.id) })
}

pub async fn create(
    store: &Store,
    config: &Config,
    ctx: &Ctx,
    slug: &str,
    input: &InviteInput,
) -> FlowResult<Invitation> {
    ctx.require_staff()?;
    // Everything is validated before anything is written.
    let email = Email::parse(&input.email).map_err(|_| invalid("email", "invalid_email"))?;
    let role = match input.role.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        None => MembershipRole::Member,
        Some(r) => MembershipRole::parse(r).map_err(|_| invalid("role", "invalid_role"))?,
    };
    let requested_locale = match input.locale.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
        None => None,
        Some(l) => Some(Locale::parse(l).ok_or_else(|| invalid("locale", "invalid_locale"))?),
    };
    let org = super::orgs::get(store, ctx, slug).await?;
    // Everything that can be read or prepared is, before the transaction: a transaction never
    // waits for a second pooled connection, and on SQLite holds the one writer briefly.
    let client_limit = settings::get(store, &INVITE_CREATES_PER_CLIENT).await?;
    let recipient_limit = settings::get(store, &INVITE_LIMIT_PER_RECIPIENT).await?;
    let user = users::find_by_email_in_org(store.pool(), &email, org.id).await?;
    if user.as_ref().is_some_and(|(_, member)| *member) {
        return Err(FlowError::Conflict { code: "already_member" });
    }
    if super::erasure::tombstoned(store, org.id, email.as_str()).await? {
        return Err(FlowError::Conflict { code: "address_erased_banned" });
    }
    let user = user.map(|(user, _)| user);
    let locale = requested_locale
        .or_else(|| user.as_ref().and_then(|u| u.locale.as_deref()).and_then(Locale::parse))
        .unwrap_or(config.default_locale);
    let existing_user = user.as_ref().is_some_and(|u| u.password_hash.is_some());
    let token = SecretToken::generate("");
    let rendered = render_email(config, &org, &token, locale, existing_user)?;
    let buckets = buckets(ctx, email.as_str(), true);
    let limits = limits(&buckets, client_limit, recipient_limit);

    let now = now();
    let expires_at = now + config.invitation_hours * 3600;
    let new = NewInvitation {
        org_id: org.id,
        email: email.as_str(),
        role,
        locale: requested_locale.map(Locale::as_str),
        invited_by: ctx.actor.user_id,
        inviter: &ctx.actor.label,
        expires_at,
    };
    let mut tx = store.begin().await?;
    let id = insert_pending(&mut tx, &new, now).await?;
    queue_email(&mut tx, config, &limits, id, &email, &token, &rendered, expires_at, now).await?;
    audit::record(
        tx.conn(),
        audit::NewEvent {
            actor: &ctx.actor,
            origin: &ctx.origin,
            action: "invitation.created",
            target: Some(email.as_str()),
            org_id: Some(org.id),
            details: json!({ "invitation_id": id, "role": role }),
        },
    )
    .await?;
    tx.commit().await?;
    // What was written, without reading it back.
    Ok(Invitation {
        id,
        org_id: org.id,
        email: email.as_str().to_string(),
        role,
        locale: new.locale.map(String::from),
        state: InvitationState::Pending,
        inviter: ctx.actor.label.clone(),
        expires_at,
        send_count: 1,
        created_at: now,
        delivery: Some(Delivery {
            state: "queued".into(),
            attempts: 0,
            last_error: None,
            updated_at: crate::domain::rfc3339(now),
        }),
    })
}

pub async fn list(store: &Store, ctx: &Ctx, slug: &str, state: Option<&str>) -> FlowResult<Vec<Invitation>> {
    let state = match state.map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(InvitationState::parse(s).map_err(|_| invalid("state", "invalid_state"))?),
    };
    let org = super::orgs::get(store, ctx, slug).await?;
    Ok(invitations::list(store.pool(), org.id, state, now()).await?)
}

/// The invitation `id` if it belongs to `org` (another organisation's id is "not found").
async fn own_invitation(tx: &mut Tx, org: &Org, id: i64, now: i64) -> FlowResult<Invitation> {
    invitations::find(tx.conn(), id, now).await?.filter(|i| i.org_id == org.id).ok_or(FlowError::NotFound)
}

/// Sends a pending invitation again with a new link (the old one stops working) and a new
/// expiry, within the recipient's hourly allowance.
pub async fn resend(
    store: &Store,
    config: &Config,
    ctx: &Ctx,
    slug: &str,
    id: i64,
) -> FlowResult<Invitation> {
    let org = super::orgs::get(store, ctx, slug).await?;
    let limit = settings::get(store, &INVITE_LIMIT_PER_RECIPIENT).await?;
    let now = now();
    let mut tx = store.begin().await?;
    let invitation = own_invitation(&mut tx, &org, id, now).await?;
    // An invitation whose time ran out may be resent: that is how a broken link is mended.
    if !matches!(invitation.state, InvitationState::Pending | InvitationState::Expired) {
        return Err(FlowError::Conflict { code: "not_pending" });
    }
    let expires_at = now + config.invitation_hours * 3600;
    if !invitations::record_resend(tx.conn(), id, expires_at, now).await? {
        return Err(FlowError::Conflict { code: "not_pending" });
    }
    let email = Email::from_trusted(invitation.email.clone());
    let user = users::find_by_email(tx.conn(), &email).await?;
    let locale = invitation
        .locale
        .as_deref()
        .or(user.as_ref().and_then(|u| u.locale.as_deref()))
        .and_then(Locale::parse)
        .unwrap_or(config.default_locale);
    let existing_user = user.as_ref().is_some_and(|u| u.password_hash.is_some());
    // The new link replaces the old one.
    tokens::revoke_subject(tx.conn(), ("invitation", id), now).await?;
    let token = SecretToken::generate("");
    let rendered = render_email(config, &org, &token, locale, existing_user)?;
    let buckets = buckets(ctx, email.as_str(), false);
    let limits = limits(&buckets, 0, limit);
    queue_email(&mut tx, config, &limits, id, &email, &token, &rendered, expires_at, now).await?;
    audit::record(
        tx.conn(),
        audit::NewEvent {
            actor: &ctx.actor,
            origin: &ctx.origin,
            action: "invitation.resent",
            target: Some(&invitation.email),
            org_id: Some(org.id),
            details: json!({ "invitation_id": id, "send_count": invitation.send_count + 1 }),
        },
    )
    .await?;
    tx.commit().await?;
    invitations::find(store.pool(), id, now).await?.ok_or(FlowError::NotFound)
}

/// Revokes a pending invitation: its link stops working at once.
pub async fn revoke(store: &Store, ctx: &Ctx, slug: &str, id: i64) -> FlowResult<Invitation> {
    let org = super::orgs::get(store, ctx, slug).await?;
    let now = now();
    let mut tx = store.begin().await?;
    let invitation = own_invitation(&mut tx, &org, id, now).await?;
    if !invitations::close(tx.conn(), id, InvitationState::Revoked, None, now).await? {
        return Err(FlowError::Conflict { code: "not_pending" });
    }
    tokens::revoke_subject(tx.conn(), ("invitation", id), now).await?;
    audit::record(
        tx.conn(),
        audit::NewEvent {
            actor: &ctx.actor,
            origin: &ctx.origin,
            action: "invitation.revoked",
            target: Some(&invitation.email),
            org_id: Some(org.id),
            details: json!({ "invitation_id": id }),
        },
    )
    .await?;
    tx.commit().await?;
    invitations::find(store.pool(), id, now).await?.ok_or(FlowError::NotFound)
}

/// What the acceptance page shows for a live link.
#[derive(Clone, Debug)]
pub struct Offer {
    pub invitation: Invitation,
    pub org_name: String,
    /// The invitee has an account with a password: they sign in instead of choosing one.
    pub existing_user: Option<i64>,
}

/// Looks at a link without using it up (GET must not consume: link scanners follow links).
/// `NotFound` for any link that cannot be used, whatever the reason.
pub async fn inspect(store: &Store, presented: &str) -> FlowResult<Offer> {
    let now = now();
    let subject =
        tokens::peek(store.pool(), Purpose::Invitation, presented, now).await?.ok_or(FlowError::NotFound)?;
    let invitation = invitations::find(store.pool(), subject.subject_id, now)
        .await?
        .filter(|i| i.state == InvitationState::Pending)
        .ok_or(FlowError::NotFound)?;
    let org = store::orgs::find_by_id(store.pool(), invitation.org_id).await?.ok_or(FlowError::NotFound)?;
    let user = users::find_by_email(store.pool(), &Email::from_trusted(invitation.email.clone())).await?;
    Ok(Offer {
        org_name: org.display_name().to_string(),
        existing_user: user.filter(|u| u.password_hash.is_some()).map(|u| u.id),
        invitation,
    })
}

/// How the invitee proves who they are.
pub enum Acceptance<'a> {
    /// A new user chooses a password (twice, for typing mistakes).
    NewPassword { password: &'a str, confirm: &'a str },
    /// An existing user signs in with their password.
    ExistingPassword(&'a str),
    /// An existing user who is already signed in as the invited address.
    SignedIn { user_id: i64 },
}

pub struct Accepted {
    /// A new session (or, for an account with a second factor, a pending sign-in) when the
    /// acceptance signed someone in.
    pub session: Option<auth::Opened>,
    pub org_slug: String,
}

/// Uses the link: joins the organisation with the invited role, active, and signs in.
pub async fn accept(
    store: &Store,
    config: &Config,
    hasher: &Hasher,
    origin: &Origin,
    presented: &str,
    how: Acceptance<'_>,
    previous_session: Option<&str>,
) -> FlowResult<Accepted> {
    let offer = inspect(store, presented).await?;
    let email = offer.invitation.email.clone();
    // Check the person before using the link up, so a typo does not burn it.
    let new_password_hash = match (&how, offer.existing_user) {
        (Acceptance::NewPassword { password, confirm }, None) => {
            if password != confirm {
                return Err(invalid("password_confirm", "password_mismatch"));
            }
            let password =
                NewPassword::parse(password, &[&email]).map_err(|_| invalid("password", "weak_password"))?;
            Some(hasher.hash(&password).await?)
        }
        (Acceptance::ExistingPassword(pw), Some(user_id)) => {
            auth::charge_password_attempt(store, origin).await?;
            let user = users::find_by_id(store.pool(), user_id).await?.ok_or(FlowError::NotFound)?;
            if !hasher.verify(pw, user.password_hash).await? {
                return Err(FlowError::InvalidCredentials);
            }
            None
        }
        (Acceptance::SignedIn { user_id }, Some(invitee)) if *user_id == invitee => None,
        (Acceptance::SignedIn { .. }, _) => return Err(FlowError::Forbidden),
        // The page offered the other form (the account changed in between): show it again.
        _ => return Err(FlowError::Conflict { code: "account_changed" }),
    };

    let now = now();
    let mut tx = store.begin().await?;
    // One conditional UPDATE: a link is used at most once, even by racing requests.
    let subject =
        tokens::consume(tx.conn(), Purpose::Invitation, presented, now).await?.ok_or(FlowError::NotFound)?;
    let invitation_id = subject.subject_id;
    let user_id = match (offer.existing_user, &new_password_hash) {
        (Some(user_id), _) => user_id,
        (None, Some(hash)) => {
            let email = Email::from_trusted(email.clone());
            let user_id = match users::find_by_email(tx.conn(), &email).await? {
                Some(user) => {
                    users::set_password(tx.conn(), user.id, hash).await?;
                    user.id
                }
                None => users::insert(tx.conn(), &email, None, Some(hash), now).await?,
            };
            tokens::revoke_after_password_set(tx.conn(), email.as_str(), now).await?;
            user_id
        }
        (None, None) => return Err(FlowError::NotFound),
    };
    if !invitations::close(tx.conn(), invitation_id, InvitationState::Accepted, Some(user_id), now).await? {
        return Err(FlowError::NotFound);
    }
    let org_id = offer.invitation.org_id;
    let role = offer.invitation.role;
    let membership_id =
        match memberships::insert(tx.conn(), org_id, user_id, role, MembershipStatus::Active, now).await {
            Ok(id) => {
                let details = json!({ "invitation_id": invitation_id, "role": role });
                super::lifecycle::emit(&mut tx, "membership.created", id, details).await?;
                id
            }
            // A member already (they joined by another way meanwhile): the invitation is used up.
            Err(StoreError::Conflict(_)) => {
                memberships::id_of(tx.conn(), org_id, user_id).await?.ok_or(FlowError::NotFound)?
            }
            Err(e) => return Err(e.into()),
        };
    let session = match how {
        Acceptance::SignedIn { .. } => None,
        _ => {
            let hours = config.session_hours;
            Some(
                auth::after_password(&mut tx, user_id, previous_session, hours, origin, Some("/dashboard"))
                    .await?,
            )
        }
    };
    super::lifecycle::record(
        &mut tx,
        &Actor::user(user_id, &email),
        origin,
        super::lifecycle::About { org_id, membership_id, email: &email },
        "invitation.accepted",
        json!({ "invitation_id": invitation_id, "role": role, "new_user": new_password_hash.is_some() }),
    )
    .await?;
    tx.commit().await?;
    let org =
        store::orgs::find_by_id(store.pool(), offer.invitation.org_id).await?.ok_or(FlowError::NotFound)?;
    Ok(Accepted { session, org_slug: org.slug })
}
