//! What follows from a change of a membership, whoever makes it (staff, the member, a payment,
//! the scheduler, an import), inside the caller's transaction: the audit row, the event out
//! (SPEC §3.7), the access-list change (§3.6), and the status transitions of the lifecycle
//! (§3.8) with their causes. Members, payments, access, signup and invitations call down into
//! this module; it calls only the store.

use serde_json::{Value, json};

use super::{Ctx, FlowError, FlowResult};
use crate::domain::MembershipStatus;
use crate::store::audit::{self, Actor, Origin};
use crate::store::memberships::{self, Membership};
use crate::store::orgs::Org;
use crate::store::{Tx, access, now, now_ms, records, webhooks};

/// The membership a change is about.
#[derive(Clone, Copy)]
pub struct About<'a> {
    pub org_id: i64,
    pub membership_id: i64,
    /// The audit event's target.
    pub email: &'a str,
}

/// The one way a change of a membership is recorded, whoever causes it (staff, the member, a
/// payment, the scheduler): audited, and emitted as the webhook event it is (SPEC §3.7), in
/// the caller's transaction.
pub async fn record(
    tx: &mut Tx,
    actor: &audit::Actor,
    origin: &audit::Origin,
    about: About<'_>,
    action: &str,
    details: serde_json::Value,
) -> FlowResult<()> {
    let event = crate::domain::events::event_for(action, &details);
    audit::record(
        tx.conn(),
        audit::NewEvent {
            actor,
            origin,
            action,
            target: Some(about.email),
            org_id: Some(about.org_id),
            details: details.clone(),
        },
    )
    .await?;
    if let Some(event) = event {
        emit(tx, event, about.membership_id, details).await?;
    }
    Ok(())
}

/// [`record`] for a change with a [`Cause`] (a payment, the scheduler): the cause's label is
/// in the details.
pub async fn record_with_cause(
    tx: &mut Tx,
    cause: &Cause,
    org: &Org,
    m: &Membership,
    action: &str,
    mut details: Value,
) -> FlowResult<()> {
    details["cause"] = cause.label.clone().into();
    let about = About { org_id: org.id, membership_id: m.id, email: &m.email };
    record(tx, &cause.actor, &Origin::default(), about, action, details).await
}

/// What caused a change, as the audit trail records it.
#[derive(Clone, Debug)]
pub struct Cause {
    pub actor: Actor,
    /// `stripe:evt_…`, `schedule:past_due_grace`, `staff`.
    pub label: String,
}

/// Writes `event_type` about a membership inside `tx`: reads the membership as the change left
/// it, takes its next sequence number, and queues a delivery to each enabled endpoint of its
/// organisation subscribed to the type. `details` are the change's own facts (the audit
/// details: cause, reason, from/to, names). When no endpoint wants it, only the read is done:
/// sequence numbers then have gaps, as they do for types an endpoint does not take.
pub async fn emit(tx: &mut Tx, event_type: &str, membership_id: i64, details: Value) -> FlowResult<()> {
    let Some(subject) = webhooks::subject(tx.conn(), membership_id, event_type).await? else { return Ok(()) };
    if subject.subscribers == 0 {
        return Ok(());
    }
    let seq = webhooks::next_seq(tx.conn(), membership_id).await?;
    let message_id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let body = json!({
        "type": event_type,
        "timestamp": crate::domain::rfc3339(crate::store::now()),
        "data": {
            "membership": {
                "id": membership_id,
                "organisation": subject.org_slug,
                "email": subject.email,
                "username": subject.username,
                "role": subject.role,
                "status": subject.status,
            },
            "sequence": seq,
            "details": details,
        },
    })
    .to_string();
    let new = webhooks::NewEvent {
        message_id: &message_id,
        org_id: subject.org_id,
        membership_id: Some(membership_id),
        seq,
        event_type,
        body: &body,
    };
    tx.webhooks_queued += webhooks::insert_event(tx.conn(), &new, None, now_ms()).await?;
    Ok(())
}

/// Records a change of an organisation's access lists, in the caller's transaction.
pub async fn list_changed(
    tx: &mut Tx,
    org_id: i64,
    removes: bool,
    cause: &str,
    membership_id: Option<i64>,
    detail: &str,
) -> FlowResult<()> {
    access::record_change(tx.conn(), org_id, removes, cause, membership_id, detail, now()).await?;
    Ok(())
}

/// A status change enters or leaves the lists when it is to or from `active`.
pub async fn status_changed(
    tx: &mut Tx,
    org_id: i64,
    membership_id: i64,
    from: MembershipStatus,
    to: MembershipStatus,
    cause: &str,
) -> FlowResult<()> {
    if from == MembershipStatus::Active || to == MembershipStatus::Active {
        let detail = format!("status {} → {}", from.as_str(), to.as_str());
        list_changed(tx, org_id, from == MembershipStatus::Active, cause, Some(membership_id), &detail)
            .await?;
    }
    if from == MembershipStatus::Active && to != MembershipStatus::Active {
        // Sign-in elsewhere ends with the membership (SPEC §3.9): in this transaction.
        let reason = format!("membership_{}", to.as_str());
        super::oidc::end_grants(tx, super::oidc::Ended::Membership(membership_id), &reason).await?;
    }
    Ok(())
}

/// An authorisation a membership held is gone (revoked, or expired): the sign-ins to clients
/// that require it end, in the caller's transaction.
pub async fn authorisation_lost(tx: &mut Tx, membership_id: i64, name: &str) -> FlowResult<()> {
    let ended = super::oidc::Ended::Authorisation { membership_id, name };
    super::oidc::end_grants(tx, ended, "authorisation_lost").await?;
    Ok(())
}

/// A status change along the allowed transitions, audited with its cause. The change is
/// conditional on the status read, so a concurrent change makes it a no-op (false).
pub async fn transition(
    tx: &mut Tx,
    org: &Org,
    m: &Membership,
    to: MembershipStatus,
    cause: &Cause,
    reason: &str,
) -> FlowResult<bool> {
    if !m.status.can_become(to) || !memberships::set_status(tx.conn(), m.id, m.status, to, now()).await? {
        return Ok(false);
    }
    // Every suspension made here is for the payment, so a later payment lifts it.
    memberships::set_suspended_for_payment(tx.conn(), m.id, to == MembershipStatus::Suspended).await?;
    record_with_cause(
        tx,
        cause,
        org,
        m,
        "member.status_changed",
        json!({ "from": m.status, "to": to, "reason": reason }),
    )
    .await?;
    status_changed(tx, org.id, m.id, m.status, to, &cause.label).await?;
    Ok(true)
}

/// What a paid `pending` membership still waits for before it may become active: a signed
/// waiver, an ID check (when the organisation requires them), or staff (manual activation).
pub fn waiting_for(org: &Org, agreements: &[records::Agreement]) -> Vec<&'static str> {
    let has = |kind: &str| agreements.iter().any(|a| a.kind == kind);
    let mut waiting = Vec::new();
    if org.requires_waiver && !has("waiver") {
        waiting.push("waiver");
    }
    if org.requires_id_check && !has("id_check") {
        waiting.push("id_check");
    }
    if org.activation != "automatic" {
        waiting.push("staff");
    }
    waiting
}

/// Activates a paid `pending` membership if nothing holds it (automatic activation, gates met).
pub async fn activate_if_ready(tx: &mut Tx, org: &Org, m: &Membership, cause: &Cause) -> FlowResult<bool> {
    if m.status != MembershipStatus::Pending || m.payment.paid_at.is_none() {
        return Ok(false);
    }
    let agreements = records::agreements(tx.conn(), m.id).await?;
    if !waiting_for(org, &agreements).is_empty() {
        return Ok(false);
    }
    transition(tx, org, m, MembershipStatus::Active, cause, "payment").await
}

/// After staff record a waiver or an ID check: activate the membership if that was all it
/// was waiting for. Called inside the transaction that recorded it.
pub async fn after_gate_recorded(tx: &mut Tx, ctx: &Ctx, org: &Org, membership_id: i64) -> FlowResult<bool> {
    let m = memberships::find(tx.conn(), membership_id).await?.ok_or(FlowError::NotFound)?;
    let cause = Cause { actor: ctx.actor.clone(), label: "staff".into() };
    activate_if_ready(tx, org, &m, &cause).await
}
