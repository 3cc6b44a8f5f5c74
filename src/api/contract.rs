//! The input rules of the API, stated in the OpenAPI document from the domain's own constants,
//! so a client (or schemathesis) that follows the document is never refused for a rule it could
//! not see. The patterns are the accepted inputs in their canonical form (no surrounding
//! whitespace, lower-case slugs and emails); the server also accepts what folds to them.

use serde_json::{Value, json};

use crate::domain::text::{Lines, forbidden_class, whitespace_class};
use crate::domain::{ALL_SETTINGS, MembershipRole, MembershipStatus, OrgKind, SignupMode};

/// Free text of 1 to `max` characters under `domain::text`'s rule, without surrounding
/// whitespace.
fn text(max: usize, lines: Lines) -> String {
    let (space, forbidden) = (whitespace_class(), forbidden_class(lines));
    format!("^[^{space}{forbidden}](?:[^{forbidden}]{{0,{}}}[^{space}{forbidden}])?$", max - 2)
}

fn single_line(max: usize) -> String {
    text(max, Lines::Single)
}

const SLUG: &str = "^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$";
/// Addresses the parser accepts, in a plain common form (dot-separated atoms, a host and a
/// top-level domain of letters).
const EMAIL: &str =
    "^[a-z0-9]+(?:[._+-][a-z0-9]+){0,3}@[a-z0-9]+(?:-[a-z0-9]+)?(?:\\.[a-z0-9]+){0,2}\\.[a-z]{2,10}$";
const RFID_TAG: &str = "^[0-9]{10}$";

fn names<T: Copy>(all: &[T], name: impl Fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|v| name(*v)).collect()
}

fn set(doc: &mut Value, pointer: &str, value: Value) {
    match doc.pointer_mut(pointer) {
        Some(slot) => *slot = value,
        None => tracing::error!(pointer, "OpenAPI contract: nothing at this pointer"),
    }
}

/// A nullable string property with more constraints.
fn nullable(mut constraints: Value) -> Value {
    constraints["type"] = json!(["string", "null"]);
    constraints
}

/// Applies the input rules to the generated document.
pub fn apply(doc: &mut Value) {
    let schemas = "/components/schemas";
    let kinds = names(OrgKind::ALL, OrgKind::as_str);
    let signups = names(SignupMode::ALL, SignupMode::as_str);
    let roles = names(MembershipRole::ALL, MembershipRole::as_str);
    let statuses = names(MembershipStatus::ALL, MembershipStatus::as_str);

    set(doc, &format!("{schemas}/OrgInput/properties/slug"), json!({"type": "string", "pattern": SLUG}));
    set(
        doc,
        &format!("{schemas}/OrgInput/properties/name"),
        json!({"type": "string", "pattern": single_line(200)}),
    );
    set(
        doc,
        &format!("{schemas}/OrgInput/properties/company_name"),
        nullable(json!({"pattern": single_line(200)})),
    );
    set(doc, &format!("{schemas}/OrgInput/properties/kind"), json!({"type": "string", "enum": kinds}));
    set(doc, &format!("{schemas}/OrgInput/properties/signup"), nullable(json!({"enum": signups})));

    set(doc, &format!("{schemas}/InviteInput/properties/email"), json!({"type": "string", "pattern": EMAIL}));
    set(doc, &format!("{schemas}/InviteInput/properties/role"), nullable(json!({"enum": roles})));
    set(doc, &format!("{schemas}/InviteInput/properties/locale"), nullable(json!({"enum": ["en", "ro"]})));

    set(
        doc,
        &format!("{schemas}/NoteInput/properties/text"),
        json!({"type": "string", "pattern": text(4000, Lines::Multi)}),
    );
    set(
        doc,
        &format!("{schemas}/CredentialInput/properties/tag"),
        json!({"type": "string", "pattern": RFID_TAG}),
    );

    // A change names something to change; a status change gives a reason. Custom fields are a
    // small object of short scalar values (well inside the 4 KiB the server allows).
    let change = format!("{schemas}/MemberChange");
    set(doc, &format!("{change}/properties/status"), json!({"type": "string", "enum": statuses}));
    set(doc, &format!("{change}/properties/role"), json!({"type": "string", "enum": roles}));
    set(doc, &format!("{change}/properties/reason"), json!({"type": "string", "pattern": single_line(500)}));
    set(
        doc,
        &format!("{change}/properties/storage"),
        json!({"type": "string", "anyOf": [{"maxLength": 0}, {"pattern": single_line(100)}]}),
    );
    set(
        doc,
        &format!("{change}/properties/custom_fields"),
        json!({
            "type": "object",
            "maxProperties": 10,
            "propertyNames": {"pattern": "^[A-Za-z0-9_][A-Za-z0-9_ -]{0,28}[A-Za-z0-9_]$"},
            "additionalProperties": {"anyOf": [
                {"type": "string", "pattern": "^[ -~]{0,100}$"},
                {"type": "integer", "minimum": -1_000_000_000_i64, "maximum": 1_000_000_000_i64},
                {"type": "boolean"},
            ]},
        }),
    );
    if let Some(object) = doc.pointer_mut(&change).and_then(Value::as_object_mut) {
        object.insert(
            "anyOf".into(),
            json!([{"required": ["status", "reason"]}, {"required": ["role"]}, {"required": ["storage"]}, {"required": ["custom_fields"]}]),
        );
        object.insert("dependentRequired".into(), json!({"status": ["reason"]}));
    }

    for (path, item) in doc.pointer_mut("/paths").and_then(Value::as_object_mut).into_iter().flatten() {
        let operations = item.as_object_mut().into_iter().flat_map(|ops| ops.values_mut());
        for operation in operations {
            let parameters =
                operation.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten();
            for parameter in parameters {
                let schema = match (parameter["in"].as_str(), parameter["name"].as_str()) {
                    (Some("path"), Some("slug")) => json!({"type": "string", "pattern": SLUG}),
                    (Some("path"), Some("name")) => json!({"type": "string", "pattern": single_line(60)}),
                    (Some("query"), Some("status")) => json!({"type": "string", "enum": statuses}),
                    (Some("query"), Some("state")) => {
                        json!({"type": "string", "enum": ["pending", "accepted", "revoked", "expired"]})
                    }
                    (Some("query"), Some("q")) => json!({"type": "string", "pattern": single_line(100)}),
                    _ => continue,
                };
                parameter["schema"] = schema;
            }
        }
        let _ = path;
    }
    split_settings(doc);
}

/// `PUT /api/v1/settings/{key}` becomes one path per setting, each with its own value range: a
/// document cannot tie the range in the body to the key in the path otherwise.
fn split_settings(doc: &mut Value) {
    let Some(paths) = doc.pointer_mut("/paths").and_then(Value::as_object_mut) else { return };
    let Some(template) = paths.remove("/api/v1/settings/{key}") else { return };
    for def in ALL_SETTINGS {
        let mut item = template.clone();
        if let Some(put) = item.get_mut("put") {
            if let Some(parameters) = put.get_mut("parameters").and_then(Value::as_array_mut) {
                parameters.retain(|p| p["name"] != "key");
            }
            put["operationId"] = json!(format!("put_setting_{}", def.key.replace('.', "_")));
            put["summary"] = json!(format!("Set `{}`: {}", def.key, def.help));
            put["requestBody"]["content"]["application/json"]["schema"] = json!({
                "type": "object",
                "required": ["value"],
                "additionalProperties": false,
                "properties": {"value": {"type": "integer", "minimum": def.min, "maximum": def.max}},
            });
        }
        paths.insert(format!("/api/v1/settings/{}", def.key), item);
    }
}
