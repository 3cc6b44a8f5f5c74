//! Second factors (SPEC §3.10): adding and removing a TOTP, recovery codes, and checking the
//! second step of a sign-in. TOTP secrets are stored sealed (`sealing`), bound to their user;
//! a code's step is used once, by a conditional update.

use serde_json::json;

use super::account::{Me, record, user};
use super::password::Hasher;
use super::sealing::Sealer;
use super::{FlowError, FlowResult, auth, invalid, settings};
use crate::config::Config;
use crate::domain::second_factor::{RECOVERY_CODES, RecoveryCode, TotpSecret, totp_code};
use crate::domain::settings as setting_defs;
use crate::i18n::Locale;
use crate::mail::templates::{AccountLink, AccountMail};
use crate::store::audit;
use crate::store::factors::{self, Totp};
use crate::store::{Store, Tx, now, users};

/// The key TOTP secrets are sealed with, derived from the secret key.
pub fn totp_sealer(config: &Config) -> Sealer {
    Sealer::derive(&config.secret_key.0, b"portico totp secrets")
}

fn sealed_for(user_id: i64) -> String {
    format!("totp:{user_id}")
}

fn open_secret(config: &Config, user_id: i64, totp: &Totp) -> FlowResult<TotpSecret> {
    totp_sealer(config)
        .open(&sealed_for(user_id), &totp.secret_sealed)
        .ok()
        .and_then(TotpSecret::from_bytes)
        .ok_or_else(|| {
            FlowError::Internal(format!(
                "the TOTP secret of user {user_id} cannot be decrypted: was the secret key changed?"
            ))
        })
}

/// What a person's account page shows of their factors.
pub struct Status {
    /// Their TOTP, confirmed or still being added.
    pub totp: Option<Totp>,
    /// Recovery codes: (unused, when made, when one was last used).
    pub recovery: Option<(i64, i64, Option<i64>)>,
    pub passkeys: Vec<factors::PasskeyRow>,
}

pub async fn status(store: &Store, user_id: i64) -> FlowResult<Status> {
    Ok(Status {
        totp: factors::totp(store.pool(), user_id).await?,
        recovery: factors::recovery_codes(store.pool(), user_id).await?,
        passkeys: factors::passkeys_of(store.pool(), user_id).await?,
    })
}

/// A TOTP being added: what the authenticator application is given.
pub struct Enrolment {
    /// `otpauth://totp/…`, for the QR code and to copy.
    pub uri: String,
    /// The secret in base32, to type in.
    pub secret: String,
}

/// Starts adding a TOTP: a new secret, not counted until a code confirms it (starting again
/// replaces an unconfirmed one). Refused while a confirmed one exists: remove it first.
pub async fn start_totp(store: &Store, config: &Config, me: &Me<'_>) -> FlowResult<Enrolment> {
    let user = user(store, me.user_id).await?;
    let secret = TotpSecret::generate();
    let sealed = totp_sealer(config).seal(&sealed_for(user.id), secret.bytes())?;
    let mut tx = store.begin().await?;
    if !factors::start_totp(tx.conn(), user.id, &sealed, now()).await? {
        return Err(FlowError::Conflict { code: "totp_exists" });
    }
    tx.commit().await?;
    Ok(Enrolment { uri: secret.uri(&config.brand, user.email.as_str()), secret: secret.base32() })
}

/// The TOTP being added, again (the page shown after a wrong confirmation code).
pub async fn pending_enrolment(
    store: &Store,
    config: &Config,
    user_id: i64,
) -> FlowResult<Option<Enrolment>> {
    let Some(totp) = factors::totp(store.pool(), user_id).await?.filter(|t| t.confirmed_at.is_none()) else {
        return Ok(None);
    };
    let user = user(store, user_id).await?;
    let secret = open_secret(config, user_id, &totp)?;
    Ok(Some(Enrolment { uri: secret.uri(&config.brand, user.email.as_str()), secret: secret.base32() }))
}

/// Confirms the TOTP being added with a code from the application. The first factor of an
/// account comes with a set of recovery codes, returned to be shown once.
pub async fn confirm_totp(
    store: &Store,
    config: &Config,
    me: &Me<'_>,
    code: &str,
) -> FlowResult<Option<Vec<RecoveryCode>>> {
    let user = user(store, me.user_id).await?;
    let totp = factors::totp(store.pool(), user.id)
        .await?
        .filter(|t| t.confirmed_at.is_none())
        .ok_or(FlowError::NotFound)?;
    let secret = open_secret(config, user.id, &totp)?;
    let at = now();
    let step = secret.matching_step(code, at, 0).ok_or_else(|| invalid("code", "invalid_code"))?;
    let mut tx = store.begin().await?;
    if !factors::confirm_totp(tx.conn(), user.id, step, at).await? {
        return Err(FlowError::NotFound);
    }
    let codes = if factors::recovery_codes(tx.conn(), user.id).await?.is_none() {
        Some(replace_codes(&mut tx, user.id, at).await?)
    } else {
        None
    };
    // The person just proved the factor in this session.
    crate::store::sessions::verified(tx.conn(), &crate::domain::SecretToken::hash_presented(me.session), at)
        .await?;
    record(
        &mut tx,
        &user,
        me.origin,
        "second_factor.totp_added",
        json!({ "recovery_codes_made": codes.is_some() }),
    )
    .await?;
    tx.commit().await?;
    Ok(codes)
}

async fn replace_codes(tx: &mut Tx, user_id: i64, at: i64) -> FlowResult<Vec<RecoveryCode>> {
    let codes: Vec<RecoveryCode> = (0..RECOVERY_CODES).map(|_| RecoveryCode::generate()).collect();
    let hashes: Vec<String> = codes.iter().map(RecoveryCode::hash).collect();
    factors::replace_recovery_codes(tx.conn(), user_id, &hashes, at).await?;
    Ok(codes)
}

/// A new set of recovery codes; the old ones stop working. Returned to be shown once.
pub async fn regenerate_recovery_codes(store: &Store, me: &Me<'_>) -> FlowResult<Vec<RecoveryCode>> {
    let user = user(store, me.user_id).await?;
    let mut tx = store.begin().await?;
    let codes = replace_codes(&mut tx, user.id, now()).await?;
    record(&mut tx, &user, me.origin, "second_factor.recovery_codes_made", json!({})).await?;
    tx.commit().await?;
    Ok(codes)
}

/// Which factor a removal is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Factor {
    Totp,
    RecoveryCodes,
    /// One passkey, by its id.
    Passkey(i64),
    /// Every factor (an admin's reset).
    All,
}

impl Factor {
    fn name_key(self) -> &'static str {
        match self {
            Factor::Totp => "factor-name-totp",
            Factor::RecoveryCodes => "factor-name-recovery",
            Factor::Passkey(_) => "factor-name-passkey",
            Factor::All => "factor-name-all",
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Factor::Totp => "totp",
            Factor::RecoveryCodes => "recovery_codes",
            Factor::Passkey(_) => "passkey",
            Factor::All => "all",
        }
    }
}

/// Removes a factor. The person proves it is them again: their password, or a code of a
/// factor. A wrong proof counts against the client's sign-in allowance. The person is emailed.
pub async fn remove(
    store: &Store,
    hasher: &Hasher,
    config: &Config,
    me: &Me<'_>,
    factor: Factor,
    proof: &str,
) -> FlowResult<()> {
    auth::charge_password_attempt(store, me.origin).await?;
    let user = user(store, me.user_id).await?;
    let at = now();
    // A code-shaped proof is taken as a code; anything else as the password (checked before
    // the transaction: hashing takes a while).
    let code_shaped = totp_code(proof).is_some() || RecoveryCode::parse(proof).is_some();
    let password_ok = !code_shaped && hasher.verify(proof, user.password_hash.clone()).await?;
    let mut tx = store.begin().await?;
    let proven =
        password_ok || (code_shaped && check_code(&mut tx, config, user.id, proof, at).await?.is_some());
    if !proven {
        return Err(invalid("proof", "wrong_password_or_code"));
    }
    let removed = match factor {
        Factor::Totp => factors::delete_totp(tx.conn(), user.id).await?,
        Factor::RecoveryCodes => factors::delete_recovery_codes(tx.conn(), user.id).await?,
        Factor::Passkey(id) => super::passkeys::delete(&mut tx, user.id, id).await?,
        Factor::All => {
            factors::delete_totp(tx.conn(), user.id).await?
                + factors::delete_recovery_codes(tx.conn(), user.id).await?
                + factors::delete_passkeys_of(tx.conn(), user.id).await?
        }
    };
    if removed == 0 {
        return Err(FlowError::NotFound);
    }
    let passkey = match factor {
        Factor::Passkey(id) => Some(id),
        _ => None,
    };
    record(
        &mut tx,
        &user,
        me.origin,
        "second_factor.removed",
        json!({ "factor": factor.as_str(), "passkey": passkey }),
    )
    .await?;
    notify(&mut tx, config, &user, AccountMail::FactorRemovedNotice, Some(factor)).await?;
    tx.commit().await?;
    Ok(())
}

/// Queues a notice to the person (in their language).
async fn notify(
    tx: &mut Tx,
    config: &Config,
    user: &users::User,
    kind: AccountMail,
    factor: Option<Factor>,
) -> FlowResult<()> {
    let locale = user.locale.as_deref().and_then(Locale::parse).unwrap_or(Locale::En);
    let address = factor.map(|f| locale.tr().t(f.name_key()));
    let notice = AccountLink { kind, link: None, expires_in_hours: 0, address }
        .render(locale, &config.brand)
        .map_err(|e| FlowError::Internal(e.to_string()))?;
    crate::mail::enqueue(tx, config, &user.email, &notice, Some(("user", user.id)), None).await?;
    Ok(())
}

/// How long a sign-in or a check of the password or a factor counts as recent for sensitive
/// actions (API tokens, staff accounts, settings, exports, erasure).
pub const RECENT_SECS: i64 = 10 * 60;

/// Whether a session proved who it is recently enough for a sensitive action.
pub fn recent(verified_at: i64) -> bool {
    now() - verified_at <= RECENT_SECS
}

/// The person proves it is them again, for a sensitive action: a code of their second factor
/// if they have one (a password is what a stolen session's thief may also know), else their
/// password. Counts against the client's sign-in allowance; marks the session as verified now.
pub async fn confirm_identity(
    store: &Store,
    hasher: &Hasher,
    config: &Config,
    me: &Me<'_>,
    proof: &str,
) -> FlowResult<()> {
    auth::charge_password_attempt(store, me.origin).await?;
    let user = user(store, me.user_id).await?;
    let at = now();
    let with_factor = factors::has_factor(store.pool(), user.id).await?;
    let password_ok = !with_factor && hasher.verify(proof, user.password_hash.clone()).await?;
    let mut tx = store.begin().await?;
    let passed = if with_factor { check_code(&mut tx, config, user.id, proof, at).await? } else { None };
    if !password_ok && passed.is_none() {
        let code = if with_factor { "invalid_code" } else { "wrong_password" };
        return Err(invalid("proof", code));
    }
    if passed == Some(Passed::RecoveryCode) {
        recovery_code_used(&mut tx, config, &user).await?;
    }
    crate::store::sessions::verified(tx.conn(), &crate::domain::SecretToken::hash_presented(me.session), at)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// An admin removes every second factor of another person (who lost their device), with a
/// reason; their sign-ins waiting for a second step end, the person is emailed. Audited. What
/// the person then signs in with is the password alone (staff are sent to add a factor again
/// while it is required).
pub async fn reset(
    store: &Store,
    config: &Config,
    ctx: &super::Ctx,
    user_id: i64,
    reason: &str,
) -> FlowResult<()> {
    ctx.require_admin()?;
    let reason = match crate::domain::text::clean(reason, 500, crate::domain::text::Lines::Single) {
        Ok(Some(reason)) => reason,
        Ok(None) => return Err(invalid("reason", "required")),
        Err(e) => return Err(invalid("reason", e.code())),
    };
    let user = user(store, user_id).await?;
    let mut tx = store.begin().await?;
    let totp = factors::delete_totp(tx.conn(), user.id).await?;
    let codes = factors::delete_recovery_codes(tx.conn(), user.id).await?;
    let passkeys = factors::delete_passkeys_of(tx.conn(), user.id).await?;
    let pending = factors::delete_pending_of(tx.conn(), user.id).await?;
    audit::record(
        tx.conn(),
        audit::NewEvent {
            actor: &ctx.actor,
            origin: &ctx.origin,
            action: "second_factor.reset",
            target: Some(user.email.as_str()),
            org_id: None,
            details: json!({ "reason": reason, "totp": totp > 0, "recovery_codes": codes, "passkeys": passkeys, "pending_sign_ins_ended": pending }),
        },
    )
    .await?;
    if totp + codes + passkeys > 0 {
        notify(&mut tx, config, &user, AccountMail::FactorRemovedNotice, Some(Factor::All)).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// What a second step was passed with: its `amr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Passed {
    Totp,
    RecoveryCode,
}

impl Passed {
    /// OpenID Connect `amr` values (RFC 8176) after the password: a one-time password, and
    /// multiple factors.
    pub fn amr(self) -> &'static str {
        match self {
            Passed::Totp => "pwd otp mfa",
            Passed::RecoveryCode => "pwd mfa",
        }
    }
}

/// Checks a second-step code in `tx` and uses it up: a TOTP code of a step later than the last
/// one accepted, or an unused recovery code. `None` for anything else.
pub async fn check_code(
    tx: &mut Tx,
    config: &Config,
    user_id: i64,
    code: &str,
    at: i64,
) -> FlowResult<Option<Passed>> {
    if totp_code(code).is_some() {
        let Some(totp) = factors::totp(tx.conn(), user_id).await?.filter(|t| t.confirmed_at.is_some()) else {
            return Ok(None);
        };
        let secret = open_secret(config, user_id, &totp)?;
        return Ok(match secret.matching_step(code, at, totp.last_step) {
            Some(step) if factors::use_totp_step(tx.conn(), user_id, step, at).await? => Some(Passed::Totp),
            _ => None,
        });
    }
    if let Some(recovery) = RecoveryCode::parse(code)
        && factors::use_recovery_code(tx.conn(), user_id, &recovery.hash(), at).await?
    {
        return Ok(Some(Passed::RecoveryCode));
    }
    Ok(None)
}

/// After a recovery code signed someone in: the notice (the code is used up already).
pub async fn recovery_code_used(tx: &mut Tx, config: &Config, user: &users::User) -> FlowResult<()> {
    notify(tx, config, user, AccountMail::RecoveryCodeUsedNotice, None).await
}

/// Whether a signed-in person must add a second factor before anything else: someone without
/// one whom an organisation of theirs requires it of (by role, or everyone), or staff while the
/// setting requires it.
pub async fn enrolment_required(
    store: &Store,
    user: &crate::store::sessions::SessionUser,
) -> FlowResult<bool> {
    if user.has_factor {
        return Ok(false);
    }
    if user.org_requires_factor {
        return Ok(true);
    }
    Ok(user.staff_role.is_some()
        && settings::get(store, &setting_defs::STAFF_SECOND_FACTOR_REQUIRED).await? == 1)
}

/// The second step of a sign-in: a TOTP code or a recovery code (one field). Throttled per
/// account and per client IP; every wrong input answers the same (`InvalidCredentials`) and is
/// audited. A pending sign-in that has expired or was finished is `NotFound`.
pub async fn second_step(
    store: &Store,
    config: &crate::config::Config,
    origin: &crate::store::audit::Origin,
    pending_token: &str,
    code: &str,
) -> FlowResult<auth::SecondStepDone> {
    let at = now();
    let pending = auth::pending_sign_in(store, pending_token).await?.ok_or(FlowError::NotFound)?;
    auth::charge_second_step(store, origin, pending.user_id).await?;
    let user =
        crate::store::users::find_by_id(store.pool(), pending.user_id).await?.ok_or(FlowError::NotFound)?;
    let mut tx = store.begin().await?;
    let Some(passed) = check_code(&mut tx, config, user.id, code, at).await? else {
        auth::second_step_failed(&mut tx, &user, origin).await?;
        tx.commit().await?;
        return Err(FlowError::InvalidCredentials);
    };
    if passed == Passed::RecoveryCode {
        recovery_code_used(&mut tx, config, &user).await?;
    }
    auth::finish_pending(tx, config, origin, &user, pending_token, pending.next_path, passed.amr()).await
}
