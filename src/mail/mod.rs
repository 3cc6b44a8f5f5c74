//! Email that is never lost: messages are rendered and written to the outbox inside the
//! transaction of the change that causes them, and a worker in every `portico serve` process
//! delivers them over SMTP (or into the dev mailbox) with retries.

pub mod templates;
pub mod transport;

use crate::config::Config;
use crate::domain::Email;
use crate::store::outbox::{self, NewMessage, Priority};
use crate::store::{Result, Tx, now_ms};
pub use templates::RenderedEmail;

/// Puts a rendered email in the outbox as part of `tx`: if the transaction rolls back, the
/// email was never queued. Returns the outbox row id.
pub async fn enqueue(
    tx: &mut Tx,
    config: &Config,
    recipient: &Email,
    email: &RenderedEmail,
    belongs_to: Option<(&str, i64)>,
    charged: Option<(&str, i64)>,
) -> Result<i64> {
    enqueue_at(tx, config, recipient, email, belongs_to, charged, 0).await
}

/// [`enqueue`], to be sent no earlier than `send_at_ms` (a paced series).
pub async fn enqueue_at(
    tx: &mut Tx,
    config: &Config,
    recipient: &Email,
    email: &RenderedEmail,
    belongs_to: Option<(&str, i64)>,
    charged: Option<(&str, i64)>,
    send_at_ms: i64,
) -> Result<i64> {
    // The Message-ID names this instance's host, so replies and bounces can be traced to it.
    let host = config.base_url.host_str().unwrap_or("localhost");
    let message_id = format!("<{}@{host}>", uuid::Uuid::new_v4().simple());
    let message = NewMessage {
        message_id: &message_id,
        recipient: recipient.as_str(),
        template: email.template,
        locale: email.locale.as_str(),
        subject: &email.subject,
        body_text: &email.text,
        body_html: &email.html,
        belongs_to,
        charged,
        priority: Priority::of(email.template),
    };
    let now = now_ms();
    outbox::insert(tx, &message, now, send_at_ms).await
}

/// The `http(s)://` links of a plain-text body, in order.
pub fn links(text: &str) -> Vec<String> {
    text.split_whitespace()
        .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
        .map(|w| w.trim_end_matches(['.', ',', ')', '>']).to_string())
        .collect()
}
