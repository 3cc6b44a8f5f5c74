use serde_json::json;

use super::{Ctx, FieldError, FlowError, FlowResult};
use crate::config::Config;
use crate::domain::Email;
use crate::i18n::Locale;
use crate::mail::{self, templates::TestMessage};
use crate::store::{Store, audit};

/// Queues a test email so operators can check delivery end to end.
pub async fn queue_test_message(
    store: &Store,
    config: &Config,
    ctx: &Ctx,
    to: &str,
    locale: Locale,
) -> FlowResult<i64> {
    ctx.require_admin()?;
    let to = Email::parse(to)
        .map_err(|_| FlowError::Invalid(vec![FieldError { field: "to", code: "invalid_email" }]))?;
    let rendered =
        TestMessage.render(locale, &config.brand).map_err(|e| FlowError::Internal(e.to_string()))?;
    let mut tx = store.begin().await?;
    let id = mail::enqueue(&mut tx, config, &to, &rendered, None, None).await?;
    audit::record(
        tx.conn(),
        audit::NewEvent {
            actor: &ctx.actor,
            origin: &ctx.origin,
            action: "mail.test_queued",
            target: Some(to.as_str()),
            org_id: None,
            details: json!({ "outbox_id": id }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// What an account email's link is: a token of `purpose` for `subject`, sent to `to`, opening
/// `{base_url}{path}{token}`, live for `hours`.
pub struct AccountLinkSpec<'a> {
    pub purpose: crate::store::tokens::Purpose,
    pub subject: (&'a str, i64),
    pub to: &'a Email,
    pub path: &'a str,
    pub hours: i64,
    pub kind: mail::templates::AccountMail,
    /// The address the email names (an address change's new one).
    pub address: Option<String>,
}

/// Issues the link's token and queues the email that carries it, in `tx`.
pub async fn queue_account_link(
    tx: &mut crate::store::Tx,
    config: &Config,
    spec: AccountLinkSpec<'_>,
    locale: Locale,
    charged: Option<(&str, i64)>,
) -> FlowResult<()> {
    queue_account_link_at(tx, config, spec, locale, charged, 0).await
}

/// [`queue_account_link`], the email to be sent no earlier than `send_at_ms`.
pub async fn queue_account_link_at(
    tx: &mut crate::store::Tx,
    config: &Config,
    spec: AccountLinkSpec<'_>,
    locale: Locale,
    charged: Option<(&str, i64)>,
    send_at_ms: i64,
) -> FlowResult<()> {
    let now = crate::store::now();
    let token = crate::store::tokens::issue(
        tx.conn(),
        spec.purpose,
        spec.subject,
        spec.to.as_str(),
        now + spec.hours * 3600,
        now,
    )
    .await?;
    let link = config
        .base_url
        .join(&format!("{}{}", spec.path, token.expose()))
        .map_err(|e| FlowError::Internal(e.to_string()))?;
    let rendered = mail::templates::AccountLink {
        kind: spec.kind,
        link: Some(link.to_string()),
        expires_in_hours: spec.hours,
        address: spec.address,
    }
    .render(locale, &config.brand)
    .map_err(|e| FlowError::Internal(e.to_string()))?;
    mail::enqueue_at(tx, config, spec.to, &rendered, Some(("user", spec.subject.1)), charged, send_at_ms)
        .await?;
    Ok(())
}
