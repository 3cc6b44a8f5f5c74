//! The input rules of the API, stated in the OpenAPI document from the domain's own constants,
//! so that what the document allows is accepted and what it does not is refused. The server
//! trims surrounding whitespace (Unicode `White_Space`, as `str::trim`) from every text input and
//! folds ASCII letter case in slugs and emails; the patterns say so.

use serde_json::{Value, json};

use crate::domain::text::{Lines, forbidden_class, url_whitespace_class, whitespace_class};
use crate::domain::{
    ALL_SETTINGS, AuthorisationName, InvitationState, MembershipRole, MembershipStatus, OrgKind, SignupMode,
};

/// Free text under `domain::text`'s rule: up to `max` characters once trimmed, none of the
/// forbidden characters; `required` refuses blank text.
fn text(max: usize, lines: Lines, required: bool) -> String {
    text_within(&whitespace_class(), max, lines, required)
}

/// As [`text`], with the whitespace that can occur where the text travels.
fn text_within(ws: &str, max: usize, lines: Lines, required: bool) -> String {
    let bad = forbidden_class(lines);
    let core = format!("[^{ws}{bad}](?:[^{bad}]{{0,{}}}[^{ws}{bad}])?", max - 2);
    let core = if required { core } else { format!("(?:{core})?") };
    format!("^[{ws}]*{core}[{ws}]*$")
}

/// One of `values`, with surrounding whitespace; `blank_allowed` when blank means "not given".
fn one_of(values: &[&str], blank_allowed: bool) -> String {
    one_of_within(&whitespace_class(), values, blank_allowed)
}

fn one_of_within(ws: &str, values: &[&str], blank_allowed: bool) -> String {
    let optional = if blank_allowed { "?" } else { "" };
    format!("^[{ws}]*(?:{}){optional}[{ws}]*$", values.join("|"))
}

/// Free text in a query string: at most `max` characters once trimmed, no control characters.
fn query_text(url_ws: &str, max: usize) -> String {
    let cc = "\\u0000-\\u001f\\u007f-\\u009f";
    format!("^[{url_ws}]*(?:[^{url_ws}{cc}](?:[^{cc}]{{0,{}}}[^{url_ws}{cc}])?)?[{url_ws}]*$", max - 2)
}

fn string(pattern: String) -> Value {
    json!({"type": "string", "pattern": pattern})
}

fn nullable_string(pattern: String) -> Value {
    json!({"type": ["string", "null"], "pattern": pattern})
}

/// A slug in a request body: 2 to 63 letters, digits or dashes, not at either end.
fn slug() -> String {
    let ws = whitespace_class();
    format!("^[{ws}]*[A-Za-z0-9][A-Za-z0-9-]{{0,61}}[A-Za-z0-9][{ws}]*$")
}

/// A webhook URL as `domain::destination::parse_url` takes it: `http(s)://`, a host name whose
/// last label starts with a letter or a dotted-quad IPv4 address, an optional port 1–65535,
/// then a path and query of `[A-Za-z0-9._~/?=&%-]`.
fn webhook_url() -> String {
    http_url("https?://{host}", "")
}

/// An OpenID Connect redirect URI as `domain::oidc::parse_redirect_uri` takes it (the grammar of
/// webhook URLs, with `:+,;!$()` also in the path and query): `https://` anywhere, `http://` to
/// `localhost` or `127.0.0.1` only.
fn redirect_uri() -> String {
    http_url(
        "(?:https://{host}|http://(?:localhost|127\\.0\\.0\\.1))",
        &regex_class_escape(crate::domain::oidc::REDIRECT_URI_MORE_CHARS),
    )
}

/// Characters made safe inside a regular expression's `[…]`.
fn regex_class_escape(chars: &str) -> String {
    chars.chars().map(|c| if "\\]^-[".contains(c) { format!("\\{c}") } else { c.to_string() }).collect()
}

/// `start` (with `{host}` for a host name or IPv4 address), an optional port 1–65535, then a
/// path and query of `[A-Za-z0-9._~/?=&%-]` and `more` (already escaped for a character class),
/// with surrounding whitespace.
fn http_url(start: &str, more: &str) -> String {
    let ws = whitespace_class();
    let label = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
    let last = "[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
    let octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
    let host = format!("(?:(?:{label}\\.){{0,10}}{last}|{octet}(?:\\.{octet}){{3}})");
    let port =
        "(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?";
    let start = start.replace("{host}", &host);
    format!("^[{ws}]*{start}{port}(?:[/?][A-Za-z0-9._~/?=&%{more}-]{{0,500}})?[{ws}]*$")
}

/// A slug naming an organisation in a path (anything else is a 404).
const PATH_SLUG: &str = "^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$";
const RFID_TAG: &str = "[0-9]{10}";

/// The address grammar of `domain::Email`, as several patterns that must all hold (a single
/// pattern would need look-aheads for the length limits): dot-separated atoms, `@`, dot-separated
/// labels whose last one is not all digits; at most 254 characters, 64 before the `@`, 253
/// after, 63 per label.
fn email() -> Value {
    let ws = whitespace_class();
    let atom = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+";
    let label = "[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?";
    let tld =
        "(?:(?:[A-Za-z0-9][A-Za-z0-9-]*)?[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?|[0-9][0-9-]*-[0-9-]*[0-9])";
    json!({"type": "string", "allOf": [
        {"pattern": format!("^[{ws}]*{atom}(?:\\.{atom})*@(?:{label}\\.)+{tld}[{ws}]*$")},
        {"pattern": format!("^[{ws}]*[^@]{{1,64}}@")},
        {"pattern": format!("@[^@{ws}]{{1,253}}[{ws}]*$")},
        {"pattern": format!("@(?:[^.@{ws}]{{1,63}}\\.)*[^.@{ws}]{{1,63}}[{ws}]*$")},
        {"pattern": format!("^[{ws}]*[^{ws}]{{1,254}}[{ws}]*$")},
    ]})
}

/// A locale: `en` or `ro` in any letter case, optionally followed by a region (`en-GB`);
/// blank means the default.
fn locale() -> String {
    let ws = whitespace_class();
    format!("^[{ws}]*(?:(?:[Ee][Nn]|[Rr][Oo])(?:[-_][\\s\\S]*|[{ws}]*))?$")
}

fn names<T: Copy>(all: &[T], name: impl Fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|v| name(*v)).collect()
}

fn set(doc: &mut Value, pointer: &str, value: Value) {
    match doc.pointer_mut(pointer) {
        Some(slot) => *slot = value,
        None => tracing::error!(pointer, "OpenAPI contract: nothing at this pointer"),
    }
}

/// Applies the input rules to the generated document.
pub fn apply(doc: &mut Value) {
    let schemas = "/components/schemas";
    let kinds = names(OrgKind::ALL, OrgKind::as_str);
    let signups = names(SignupMode::ALL, SignupMode::as_str);
    let roles = names(MembershipRole::ALL, MembershipRole::as_str);
    let statuses = names(MembershipStatus::ALL, MembershipStatus::as_str);
    let states = names(InvitationState::ALL, InvitationState::as_str);

    let org = format!("{schemas}/OrgInput/properties");
    set(doc, &format!("{org}/slug"), string(slug()));
    set(doc, &format!("{org}/name"), string(text(200, Lines::Single, true)));
    set(doc, &format!("{org}/company_name"), nullable_string(text(200, Lines::Single, false)));
    set(doc, &format!("{org}/kind"), string(one_of(&kinds, false)));
    set(doc, &format!("{org}/signup"), nullable_string(one_of(&signups, true)));

    let patch = format!("{schemas}/OrgPatch");
    set(doc, &format!("{patch}/properties/name"), string(text(200, Lines::Single, true)));
    set(doc, &format!("{patch}/properties/signup"), string(one_of(&signups, false)));
    set(
        doc,
        &format!("{patch}/properties/activation"),
        string(one_of(&crate::flows::orgs::ACTIVATIONS, false)),
    );
    set(
        doc,
        &format!("{patch}/properties/second_factor"),
        string(one_of(&crate::flows::orgs::SECOND_FACTOR_RULES, false)),
    );
    set(doc, &format!("{patch}/properties/requires_waiver"), json!({"type": "boolean"}));
    set(doc, &format!("{patch}/properties/requires_id_check"), json!({"type": "boolean"}));
    let grace = crate::flows::orgs::GRACE_DAYS;
    set(
        doc,
        &format!("{patch}/properties/past_due_grace_days"),
        json!({"type": "integer", "minimum": grace.start(), "maximum": grace.end()}),
    );
    if let Some(object) = doc.pointer_mut(&patch).and_then(Value::as_object_mut) {
        object.insert("minProperties".into(), json!(1));
    }

    let invite = format!("{schemas}/InviteInput/properties");
    set(doc, &format!("{invite}/email"), email());
    set(doc, &format!("{invite}/role"), nullable_string(one_of(&roles, true)));
    set(doc, &format!("{invite}/locale"), nullable_string(locale()));

    let plan = format!("{schemas}/PlanInput/properties");
    set(doc, &format!("{plan}/name"), string(text(100, Lines::Single, true)));
    set(doc, &format!("{plan}/display_price"), string(text(40, Lines::Single, true)));
    set(
        doc,
        &format!("{plan}/price_id"),
        string(format!("^[{ws}]*price_[A-Za-z0-9]{{1,100}}[{ws}]*$", ws = whitespace_class())),
    );
    set(doc, &format!("{plan}/interval"), string(one_of(&crate::flows::plans::INTERVALS, false)));

    set(doc, &format!("{schemas}/NoteInput/properties/text"), string(text(4000, Lines::Multi, true)));

    let device = format!("{schemas}/DeviceInput/properties");
    set(doc, &format!("{device}/name"), string(text(100, Lines::Single, true)));
    // A requirement names an authorisation (blank: none).
    let ws = whitespace_class();
    let requirement = format!("(?:{})|^[{ws}]*$", AuthorisationName::pattern(&ws));
    set(doc, &format!("{device}/requires"), string(requirement.clone()));
    set(doc, &format!("{schemas}/DeviceUpdate/properties/requires"), string(requirement));
    let rules = format!("{schemas}/CatalogueRules/properties");
    set(doc, &format!("{rules}/valid_days"), json!({"type": "integer", "minimum": 1, "maximum": 3650}));
    set(
        doc,
        &format!("{rules}/requires"),
        json!({"type": "array", "maxItems": crate::flows::members::MAX_PREREQUISITES,
               "items": {"type": "string", "pattern": AuthorisationName::pattern(&ws)}}),
    );
    // Webhook endpoints: an http(s) URL with a host name or IPv4 address and an optional port
    // (what the server may still refuse — http, internal addresses — is a 409), and event
    // types from the catalogue.
    // (the dots of the names are literal)
    let escaped: Vec<String> =
        crate::flows::webhooks::EVENT_TYPES.iter().map(|t| t.replace('.', "\\.")).collect();
    let event_types: Vec<&str> = escaped.iter().map(String::as_str).collect();
    for schema in ["EndpointInput", "EndpointUpdate"] {
        let props = format!("{schemas}/{schema}/properties");
        set(
            doc,
            &format!("{props}/url"),
            json!({"type": "string", "maxLength": 1000, "pattern": webhook_url()}),
        );
        set(
            doc,
            &format!("{props}/events"),
            json!({"type": "array", "minItems": 1, "maxItems": 20,
                   "items": {"type": "string", "pattern": one_of(&event_types, false)}}),
        );
        set(doc, &format!("{props}/enabled"), json!({"type": "boolean"}));
    }
    set(
        doc,
        &format!("{schemas}/ReplayInput/properties/since"),
        json!({"type": "string", "format": "date-time"}),
    );
    let ws = whitespace_class();
    set(
        doc,
        &format!("{schemas}/CredentialInput/properties/tag"),
        string(format!("^[{ws}]*{RFID_TAG}[{ws}]*$")),
    );

    // An erasure gives a reason; the Stripe choice is one of two (blank: the default).
    let erase = format!("{schemas}/EraseRequest");
    set(doc, &format!("{erase}/properties/reason"), string(text(500, Lines::Single, true)));
    set(
        doc,
        &format!("{erase}/properties/stripe"),
        string(one_of(&["cancel_now", "cancel_at_period_end"], true)),
    );

    // A change names something to change; a status change gives a reason.
    let change = format!("{schemas}/MemberChange");
    set(doc, &format!("{change}/properties/status"), string(one_of(&statuses, false)));
    set(doc, &format!("{change}/properties/role"), string(one_of(&roles, false)));
    set(doc, &format!("{change}/properties/reason"), string(text(500, Lines::Single, false)));
    set(doc, &format!("{change}/properties/storage"), string(text(100, Lines::Single, false)));
    set(doc, &format!("{change}/properties/until"), json!({"type": "string", "format": "date-time"}));
    let key =
        format!("^[^{ws}{bad}](?:[^{bad}]{{0,48}}[^{ws}{bad}])?$", bad = forbidden_class(Lines::Single));
    set(
        doc,
        &format!("{change}/properties/custom_fields"),
        json!({
            "type": "object",
            "maxProperties": 50,
            "propertyNames": {"pattern": key},
            "additionalProperties": {"anyOf": [
                {"type": "string", "pattern": text(200, Lines::Single, false)},
                {"type": ["number", "boolean", "null"]},
            ]},
        }),
    );
    if let Some(object) = doc.pointer_mut(&change).and_then(Value::as_object_mut) {
        object.insert(
            "anyOf".into(),
            json!([{"required": ["status"]}, {"required": ["role"]}, {"required": ["storage"]}, {"required": ["custom_fields"]}]),
        );
        object.insert(
            "dependentSchemas".into(),
            json!({
                "status": {"required": ["reason"], "properties": {"reason": {"pattern": text(500, Lines::Single, true)}}},
                "until": {"required": ["status"], "properties": {"status": {"pattern": one_of(&["suspended"], false)}}},
            }),
        );
    }

    // In a URL, trimmable whitespace excludes the control characters refused there.
    let url_ws = url_whitespace_class();
    for item in
        doc.pointer_mut("/paths").and_then(Value::as_object_mut).into_iter().flat_map(|p| p.values_mut())
    {
        let operations = item.as_object_mut().into_iter().flat_map(|ops| ops.values_mut());
        for operation in operations {
            let parameters =
                operation.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten();
            for parameter in parameters {
                let schema = match (parameter["in"].as_str(), parameter["name"].as_str()) {
                    (Some("path"), Some("slug")) => string(PATH_SLUG.to_string()),
                    (Some("path"), Some("client_id")) => string("^pc_[A-Za-z0-9_-]{22}$".to_string()),
                    (Some("path"), Some("name")) => string(AuthorisationName::pattern(&url_ws)),
                    (Some("query"), Some("status")) => string(one_of_within(&url_ws, &statuses, true)),
                    (Some("query"), Some("state")) => string(one_of_within(&url_ws, &states, true)),
                    // Ledger filters: an event type or an outcome.
                    (Some("query"), Some("type" | "outcome")) => {
                        string(format!("^[{url_ws}]*(?:[A-Za-z0-9._]{{1,100}})?[{url_ws}]*$"))
                    }
                    // A search: at most 100 characters once trimmed (control characters are
                    // refused for every URL).
                    (Some("query"), Some("q")) => string(query_text(&url_ws, 100)),
                    // Audit log filters (`flows::audit`).
                    (Some("query"), Some("org")) => string(format!(
                        "^[{url_ws}]*(?:[A-Za-z0-9][A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?[{url_ws}]*$"
                    )),
                    (Some("query"), Some("actor")) => {
                        string(query_text(&url_ws, crate::flows::audit::MAX_ACTORS_LEN))
                    }
                    (Some("query"), Some("target")) => {
                        string(query_text(&url_ws, crate::flows::audit::MAX_TARGET_LEN))
                    }
                    (Some("query"), Some("action")) => string(format!(
                        "^[{url_ws}]*(?:[A-Za-z0-9._]{{1,{}}})?[{url_ws}]*$",
                        crate::flows::audit::MAX_ACTION_LEN
                    )),
                    (Some("query"), Some("since" | "until")) => {
                        json!({"type": "string", "format": "date-time"})
                    }
                    (Some("query"), Some("cursor")) => {
                        string(format!("^[{url_ws}]*(?:[0-9]{{1,18}}-[0-9]{{1,18}})?[{url_ws}]*$"))
                    }
                    (Some("query"), Some("limit")) => json!({"type": "integer", "minimum": 1,
                        "maximum": crate::flows::audit::MAX_PAGE}),
                    _ => continue,
                };
                parameter["schema"] = schema;
            }
        }
    }
    // A Stripe event id; anything else names no event (404).
    set(
        doc,
        "/paths/~1api~1v1~1stripe~1events~1{id}~1reprocess/post/parameters/0/schema",
        string("^evt_[A-Za-z0-9_]{1,251}$".to_string()),
    );
    oidc_clients(doc, schemas, &roles);
    split_settings(doc);
}

/// OpenID Connect clients (`flows::oidc::clients`).
fn oidc_clients(doc: &mut Value, schemas: &str, roles: &[&str]) {
    let ws = whitespace_class();
    let uris = |min: usize| {
        json!({"type": "array", "minItems": min, "maxItems": crate::flows::oidc::clients::MAX_URIS,
               "items": {"type": "string", "maxLength": 1000, "pattern": redirect_uri()}})
    };
    let blank_or = |pattern: String| format!("(?:{pattern})|^[{ws}]*$");
    let algs: Vec<&str> = crate::domain::oidc::IdTokenAlg::ALL.iter().map(|a| a.as_str()).collect();
    for (schema, min) in [("ClientInput", 1), ("ClientUpdate", 1)] {
        let props = format!("{schemas}/{schema}/properties");
        set(doc, &format!("{props}/name"), string(text(100, Lines::Single, true)));
        set(doc, &format!("{props}/redirect_uris"), uris(min));
        set(doc, &format!("{props}/post_logout_redirect_uris"), uris(0));
        set(doc, &format!("{props}/backchannel_logout_uri"), string(blank_or(webhook_url())));
        set(doc, &format!("{props}/requires"), string(blank_or(AuthorisationName::pattern(&ws))));
        set(doc, &format!("{props}/role"), string(one_of(roles, true)));
        set(doc, &format!("{props}/id_token_alg"), string(one_of(&algs, false)));
        for flag in ["first_party", "pkce_required"] {
            set(doc, &format!("{props}/{flag}"), json!({"type": "boolean"}));
        }
    }
    set(doc, &format!("{schemas}/ClientInput/properties/public"), json!({"type": "boolean"}));
    set(doc, &format!("{schemas}/ClientUpdate/properties/enabled"), json!({"type": "boolean"}));
    // A public client always uses PKCE.
    if let Some(object) = doc.pointer_mut(&format!("{schemas}/ClientInput")).and_then(Value::as_object_mut) {
        object.insert(
            "not".into(),
            json!({"required": ["public", "pkce_required"],
                   "properties": {"public": {"const": true}, "pkce_required": {"const": false}}}),
        );
    }
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
