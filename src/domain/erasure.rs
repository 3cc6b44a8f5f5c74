//! Erasure (SPEC §3.11) as pure rules: the address an erased person gets, the tombstone of a
//! banned one, the choice about their Stripe subscription, and how a text or a JSON document
//! is scrubbed of their address (and, for Stripe's objects, of every personal field).

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The address an erased person's account takes (SPEC §3.11).
pub fn erased_address(user_id: i64) -> String {
    format!("erased-{user_id}@invalid")
}

/// Whether an account's address is an erased one (no real address has the bare domain
/// `invalid`: the grammar wants a dot).
pub fn is_erased_address(address: &str) -> bool {
    address
        .strip_prefix("erased-")
        .and_then(|rest| rest.strip_suffix("@invalid"))
        .is_some_and(|id| id.parse::<i64>().is_ok())
}

/// The tombstone of an address: SHA-256 of the lower-cased address (not keyed, so a change of
/// the secret key does not let a banned person back in).
pub fn tombstone_hash(address: &str) -> String {
    let digest = Sha256::digest(format!("portico-tombstone:{}", address.trim().to_lowercase()).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// What happens to a subscription of the person erased.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StripeChoice {
    CancelNow,
    CancelAtPeriodEnd,
}

impl StripeChoice {
    /// `cancel_now` or `cancel_at_period_end`; absent means `cancel_now`.
    pub fn parse(given: Option<&str>) -> Option<StripeChoice> {
        match given.map(str::trim) {
            None | Some("") | Some("cancel_now") => Some(StripeChoice::CancelNow),
            Some("cancel_at_period_end") => Some(StripeChoice::CancelAtPeriodEnd),
            _ => None,
        }
    }
}

/// A character that may stand next to an address inside it (so `xa@b.org` does not contain
/// `a@b.org` as an address).
fn address_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._%+-@".contains(c)
}

/// `text` with every standalone occurrence of `address` (any case) replaced.
pub fn scrub_text(text: &str, address: &str, replacement: &str) -> Option<String> {
    let address = address.to_lowercase();
    if address.is_empty() {
        return None;
    }
    let lower = text.to_lowercase();
    // Lower-casing can change byte lengths outside ASCII; then only whole matches are safe.
    if lower.len() != text.len() {
        return text.eq_ignore_ascii_case(&address).then(|| replacement.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut changed = false;
    for (at, _) in lower.match_indices(&address) {
        if at < last {
            continue;
        }
        let before = text[..at].chars().next_back();
        let mut after = text[at + address.len()..].chars();
        let continues = match after.next() {
            // A full stop ends a sentence unless the domain goes on after it.
            Some('.') => after.next().is_some_and(|c| c.is_ascii_alphanumeric()),
            Some(c) => address_char(c),
            None => false,
        };
        if before.is_some_and(address_char) || continues {
            continue;
        }
        out.push_str(&text[last..at]);
        out.push_str(replacement);
        last = at + address.len();
        changed = true;
    }
    if !changed {
        return None;
    }
    out.push_str(&text[last..]);
    Some(out)
}

/// Every string in `value` scrubbed of `address`; whether anything changed.
pub fn scrub_json(value: &mut Value, address: &str, replacement: &str) -> bool {
    match value {
        Value::String(s) => match scrub_text(s, address, replacement) {
            Some(scrubbed) => {
                *s = scrubbed;
                true
            }
            None => false,
        },
        Value::Array(items) => items.iter_mut().fold(false, |c, v| scrub_json(v, address, replacement) | c),
        Value::Object(map) => map.values_mut().fold(false, |c, v| scrub_json(v, address, replacement) | c),
        _ => false,
    }
}

/// Fields of Stripe's objects that hold personal data (of a customer, a session, an invoice,
/// a charge): emptied wherever they are.
const STRIPE_PERSONAL: [&str; 14] = [
    "email",
    "name",
    "phone",
    "address",
    "shipping",
    "customer_email",
    "customer_name",
    "customer_phone",
    "customer_address",
    "customer_shipping",
    "customer_details",
    "billing_details",
    "receipt_email",
    "description",
];

/// A Stripe event's payload without personal data: the fields above nulled, the address
/// replaced wherever else it is. Ids, types, times, amounts and statuses stay.
pub fn scrub_stripe(value: &mut Value, address: &str, replacement: &str) -> bool {
    let mut changed = false;
    match value {
        Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                if STRIPE_PERSONAL.contains(&key.as_str()) && !field.is_null() {
                    *field = Value::Null;
                    changed = true;
                } else {
                    changed |= scrub_stripe(field, address, replacement);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                changed |= scrub_stripe(item, address, replacement);
            }
        }
        other => changed |= scrub_json(other, address, replacement),
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_address_itself_is_replaced() {
        let r = |t: &str| scrub_text(t, "a@b.org", "X");
        assert_eq!(r("a@b.org").as_deref(), Some("X"));
        assert_eq!(r("A@B.org").as_deref(), Some("X"));
        assert_eq!(r("invite:recipient:a@b.org").as_deref(), Some("invite:recipient:X"));
        assert_eq!(r("to a@b.org.").as_deref(), Some("to X."));
        assert_eq!(r("xa@b.org"), None, "another person's address");
        assert_eq!(r("a@b.org.uk"), None, "another domain");
        assert_eq!(r("a@b.orgs"), None);
        assert_eq!(r("nothing here"), None);
    }

    #[test]
    fn stripe_payloads_lose_personal_fields_and_keep_the_rest() {
        let mut v = json!({"id": "evt_1", "data": {"object": {"id": "cs_1", "customer_email": "a@b.org",
            "customer_details": {"email": "a@b.org", "name": "Ada"}, "amount_total": 2500,
            "metadata": {"note": "for a@b.org"}}}});
        assert!(scrub_stripe(&mut v, "a@b.org", "erased-1@invalid"));
        let o = &v["data"]["object"];
        assert!(o["customer_email"].is_null() && o["customer_details"].is_null());
        assert_eq!(o["amount_total"], 2500);
        assert_eq!(o["metadata"]["note"], "for erased-1@invalid");
        assert!(!v.to_string().contains("a@b.org"));
    }

    #[test]
    fn the_choice_defaults_to_cancelling_now() {
        assert_eq!(StripeChoice::parse(None), Some(StripeChoice::CancelNow));
        assert_eq!(StripeChoice::parse(Some("cancel_at_period_end")), Some(StripeChoice::CancelAtPeriodEnd));
        assert_eq!(StripeChoice::parse(Some("keep")), None);
    }

    #[test]
    fn erased_addresses_are_recognised_and_are_no_real_addresses() {
        assert!(is_erased_address(&erased_address(42)));
        assert!(!is_erased_address("erased-42@invalid.org"));
        assert!(crate::domain::Email::parse(&erased_address(42)).is_err());
    }

    #[test]
    fn tombstones_ignore_case() {
        assert_eq!(tombstone_hash("A@B.org"), tombstone_hash("a@b.org"));
        assert_ne!(tombstone_hash("a@b.org"), tombstone_hash("c@b.org"));
    }
}
