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
