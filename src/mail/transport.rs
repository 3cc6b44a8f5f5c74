//! Delivery of one claimed message: over SMTP with lettre, or into the dev mailbox when no SMTP
//! server is configured.
//!
//! Every SMTP attempt uses a connection of its own (lettre's pool is not compiled in). The worker
//! puts a deadline on each attempt by dropping its future; a dropped attempt closes its socket,
//! whereas a pooled connection abandoned in the middle of a conversation could be handed to the
//! next message in an unknown state.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart, header};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::Config;
use crate::store::outbox::{self, Claimed, DevMail};
use crate::store::{Store, now};

pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    DevMailbox,
}

/// Why an attempt failed: transient failures are retried, permanent ones are not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    Transient(String),
    Permanent(String),
}

impl Transport {
    pub fn from_config(config: &Config) -> Result<Transport, String> {
        match &config.smtp_url {
            None => Ok(Transport::DevMailbox),
            Some(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.as_str())
                    .map_err(|e| format!("smtp_url: {e}"))?
                    // Bounds connecting only; the worker's deadline bounds the whole attempt.
                    .timeout(Some(Duration::from_secs(config.outbox.send_timeout_secs as u64)))
                    .build();
                Ok(Transport::Smtp(transport))
            }
        }
    }

    pub async fn send(&self, store: &Store, from: &Mailbox, claimed: &Claimed) -> Result<(), SendError> {
        let message = build(from, claimed)?;
        match self {
            Transport::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(|e| {
                if e.is_permanent() {
                    SendError::Permanent(e.to_string())
                } else {
                    SendError::Transient(e.to_string())
                }
            }),
            Transport::DevMailbox => {
                let mail = DevMail {
                    id: 0,
                    message_id: claimed.message_id.clone(),
                    recipient: claimed.recipient.clone(),
                    subject: claimed.subject.clone(),
                    headers: message.headers().to_string(),
                    body_text: claimed.body_text.clone().unwrap_or_default(),
                    body_html: claimed.body_html.clone().unwrap_or_default(),
                    delivered_at: now(),
                };
                let stored = async {
                    let mut tx = store.begin().await?;
                    outbox::insert_dev_mail(tx.conn(), &mail).await?;
                    tx.commit().await
                };
                stored.await.map_err(|e| SendError::Transient(e.to_string()))
            }
        }
    }
}

/// The MIME message: plain text and HTML alternatives, with the stable Message-ID of the row.
fn build(from: &Mailbox, claimed: &Claimed) -> Result<Message, SendError> {
    let (Some(text), Some(html)) = (&claimed.body_text, &claimed.body_html) else {
        return Err(SendError::Permanent("message body is missing".into()));
    };
    let to: Mailbox = claimed
        .recipient
        .parse()
        .map_err(|e| SendError::Permanent(format!("recipient {:?}: {e}", claimed.recipient)))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(&claimed.subject)
        .message_id(Some(claimed.message_id.clone()))
        .header(header::Date::now())
        .multipart(MultiPart::alternative_plain_html(text.clone(), html.clone()))
        .map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))
}
