//! The events Portico sends out (SPEC §3.7), and which audited change of a membership is which
//! event. Pure data: emitting them is `flows::lifecycle`'s.

use serde_json::Value;

/// Every event type, as endpoints subscribe to them.
pub const EVENT_TYPES: [&str; 12] = [
    "membership.created",
    "membership.activated",
    "membership.suspended",
    "membership.banned",
    "membership.reinstated",
    "member.updated",
    "credentials.changed",
    "authorisations.changed",
    "payment.succeeded",
    "payment.failed",
    "invitation.accepted",
    "member.erased",
];

/// The event an audited change of a membership is, if any: every change of a membership is
/// audited through one helper, which emits what this says in the same transaction.
pub fn event_for(action: &str, details: &Value) -> Option<&'static str> {
    let status = |key: &str| details.get(key).and_then(Value::as_str);
    Some(match action {
        "member.status_changed" => match (status("from"), status("to")) {
            (Some("pending"), Some("active")) => "membership.activated",
            (_, Some("active")) => "membership.reinstated",
            (_, Some("suspended")) => "membership.suspended",
            (_, Some("banned")) => "membership.banned",
            _ => return None,
        },
        "member.profile_updated"
        | "member.record_updated"
        | "member.role_changed"
        | "member.agreement_recorded" => "member.updated",
        "member.credential_added" | "member.credential_removed" => "credentials.changed",
        "member.authorisation_granted" | "member.authorisation_revoked" | "member.authorisation_expired" => {
            "authorisations.changed"
        }
        // `member.paid` (the first payment) comes with its invoice's `member.payment_succeeded`.
        "member.payment_succeeded" => "payment.succeeded",
        "member.payment_failed" => "payment.failed",
        "member.signed_up" | "member.joined" | "member.imported" => "membership.created",
        "invitation.accepted" => "invitation.accepted",
        "member.erased" => "member.erased",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_changes_map_to_the_events_of_spec_3_7() {
        let change =
            |from: &str, to: &str| event_for("member.status_changed", &json!({ "from": from, "to": to }));
        assert_eq!(change("pending", "active"), Some("membership.activated"));
        assert_eq!(change("suspended", "active"), Some("membership.reinstated"));
        assert_eq!(change("active", "suspended"), Some("membership.suspended"));
        assert_eq!(change("banned", "suspended"), Some("membership.suspended"));
        assert_eq!(change("active", "banned"), Some("membership.banned"));
        assert_eq!(event_for("member.note_added", &json!({})), None, "staff notes are not sent out");
        for mapped in ["member.payment_succeeded", "member.credential_added", "member.authorisation_expired"]
        {
            assert!(EVENT_TYPES.contains(&event_for(mapped, &json!({})).unwrap()));
        }
    }
}
