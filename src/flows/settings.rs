use serde_json::json;

use super::{Ctx, FieldError, FlowError, FlowResult};
use crate::domain::SettingDef;
use crate::store::{self, Store, audit};

/// The current value of a setting: what staff stored, else the default.
pub async fn get(store: &Store, def: &SettingDef) -> FlowResult<i64> {
    let stored = store.settings().get(store.pool(), def.key).await?;
    Ok(stored.and_then(|raw| def.parse_value(&raw).ok()).unwrap_or(def.default))
}

/// Validates and stores a setting, audited in the same transaction.
pub async fn set(store: &Store, ctx: &Ctx, key: &str, raw: &str) -> FlowResult<i64> {
    ctx.require_admin()?;
    let def = SettingDef::find(key).map_err(|_| FlowError::NotFound)?;
    let value = def.parse_value(raw).map_err(|_| {
        FlowError::Invalid(vec![FieldError { field: "value", code: "invalid_setting_value" }])
    })?;
    let mut tx = store.begin().await?;
    store::settings::set(tx.conn(), def.key, &value.to_string(), &ctx.actor.label).await?;
    audit::record(
        tx.conn(),
        audit::NewEvent {
            actor: &ctx.actor,
            origin: &ctx.origin,
            action: "setting.changed",
            target: Some(def.key),
            org_id: None,
            details: json!({ "value": value }),
        },
    )
    .await?;
    tx.commit().await?;
    store.settings().forget();
    Ok(value)
}
