//! What retention removes (SPEC §3.11), one batch per statement so no statement holds the
//! database long: each returns how many rows it removed (or scrubbed), fewer than `batch`
//! when nothing older is left.

use sqlx::AnyConnection;

use super::Result;

/// The kinds of kept data with a retention setting (besides the audit log, `audit::prune`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// Sent and given-up emails (their bodies went when they ended).
    Emails,
    /// What the dev mailbox "delivered".
    DevMail,
    /// Delivered and dead webhook deliveries.
    WebhookDeliveries,
    /// Webhook events no delivery refers to any more.
    WebhookEvents,
    /// Signup requests that were processed.
    SignupRequests,
    /// Used, revoked or expired links (invitations, verifications, password resets).
    Tokens,
    /// Expired OpenID Connect codes and tokens.
    OidcCodes,
    OidcTokens,
    /// Stripe event payloads (scrubbed to `{}`: id, type, times and outcome stay).
    StripePayloads,
}

impl Kept {
    pub const ALL: [Kept; 9] = [
        Kept::Emails,
        Kept::DevMail,
        Kept::WebhookDeliveries,
        Kept::WebhookEvents,
        Kept::SignupRequests,
        Kept::Tokens,
        Kept::OidcCodes,
        Kept::OidcTokens,
        Kept::StripePayloads,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kept::Emails => "emails",
            Kept::DevMail => "dev_mail",
            Kept::WebhookDeliveries => "webhook_deliveries",
            Kept::WebhookEvents => "webhook_events",
            Kept::SignupRequests => "signup_requests",
            Kept::Tokens => "tokens",
            Kept::OidcCodes => "oidc_codes",
            Kept::OidcTokens => "oidc_tokens",
            Kept::StripePayloads => "stripe_payloads",
        }
    }

    /// One batch: `$1` the cutoff (Unix seconds), `$2` the batch size.
    fn sql(self) -> &'static str {
        match self {
            Kept::Emails => {
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox
                   WHERE state IN ('sent', 'dead') AND updated_at < $1 ORDER BY id LIMIT $2)"
            }
            Kept::DevMail => {
                "DELETE FROM dev_mailbox WHERE id IN (SELECT id FROM dev_mailbox
                   WHERE delivered_at < $1 ORDER BY id LIMIT $2)"
            }
            Kept::WebhookDeliveries => {
                "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries
                   WHERE state IN ('delivered', 'dead') AND updated_at < $1 ORDER BY id LIMIT $2)"
            }
            Kept::WebhookEvents => {
                "DELETE FROM webhook_events WHERE id IN (SELECT e.id FROM webhook_events e
                   WHERE e.created_at < $1
                     AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id)
                   ORDER BY e.id LIMIT $2)"
            }
            Kept::SignupRequests => {
                "DELETE FROM signup_requests WHERE id IN (SELECT id FROM signup_requests
                   WHERE state = 'processed' AND processed_at < $1 ORDER BY id LIMIT $2)"
            }
            Kept::Tokens => {
                "DELETE FROM tokens WHERE id IN (SELECT id FROM tokens
                   WHERE expires_at < $1 OR used_at < $1 OR revoked_at < $1 ORDER BY id LIMIT $2)"
            }
            Kept::OidcCodes => {
                "DELETE FROM oidc_codes WHERE code_hash IN (SELECT code_hash FROM oidc_codes
                   WHERE expires_at < $1 LIMIT $2)"
            }
            Kept::OidcTokens => {
                "DELETE FROM oidc_tokens WHERE token_hash IN (SELECT token_hash FROM oidc_tokens
                   WHERE expires_at < $1 LIMIT $2)"
            }
            Kept::StripePayloads => {
                "UPDATE stripe_events SET payload = '{}' WHERE id IN (SELECT id FROM stripe_events
                   WHERE received_at < $1 AND state <> 'received' AND payload <> '{}' LIMIT $2)"
            }
        }
    }
}

pub async fn remove_batch(conn: &mut AnyConnection, kept: Kept, cutoff: i64, batch: i64) -> Result<u64> {
    Ok(sqlx::query(kept.sql()).bind(cutoff).bind(batch).execute(conn).await?.rows_affected())
}
