//! One row of a member import (SPEC §3.11), read by the same rules as the forms and the API:
//! the email grammar, usernames, the one text rule, RFID tags, authorisation names, statuses and
//! roles, dates. Pure: what needs the database (uniqueness, plans, the catalogue, the
//! organisation's minimum age) is the import flow's. A row is checked whole, so its refusal
//! names every bad cell with its column and reason.

use std::collections::BTreeMap;

use time::Date;

use super::member::{Problem, phone, text, text_lines};
use super::text::Lines;
use super::{AuthorisationName, Email, MembershipRole, MembershipStatus, Username};

/// The columns an import file may have besides `custom.KEY` ones; only `email` is required.
pub const COLUMNS: [&str; 17] = [
    "email",
    "first_name",
    "last_name",
    "preferred_name",
    "username",
    "phone",
    "birthday",
    "status",
    "role",
    "plan",
    "member_since",
    "paid_through",
    "tags",
    "authorisations",
    "note",
    "stripe_customer",
    "stripe_subscription",
];

/// Custom field columns: `custom.` and the field's key.
pub const CUSTOM_PREFIX: &str = "custom.";

/// A column of the header: one of [`COLUMNS`] or a custom field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    Known(&'static str),
    Custom(String),
}

impl Column {
    pub fn name(&self) -> String {
        match self {
            Column::Known(name) => (*name).to_string(),
            Column::Custom(key) => format!("{CUSTOM_PREFIX}{key}"),
        }
    }
}

/// A refused cell (or row, or header): where and why. `column` is empty for the row as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 1-based line of the file where the row starts.
    pub line: u64,
    pub column: String,
    /// A machine code (`invalid_email`, `duplicate_in_file`, …); the report turns it into words.
    pub reason: &'static str,
}

/// The column names of one row and its cells, in the same order.
pub type NamedCells = (Vec<String>, Vec<String>);

/// A line of an organisation export (`GET /api/v1/orgs/{slug}/export`, JSON Lines) as the
/// header and cells of an import row: `Ok(None)` for a line that is not a member (the
/// organisation, its plans, catalogue, devices, endpoints: the import reads members only),
/// `Err` for one that is not a JSON object with a `type`. Dates given as Unix seconds become
/// days; keys and authorisations are joined as the CSV columns write them; every value then
/// passes the same rules as a CSV cell.
pub fn cells_of_export_line(line: &str) -> Result<Option<NamedCells>, &'static str> {
    use serde_json::Value;
    let value: Value = serde_json::from_str(line).map_err(|_| "invalid_json")?;
    let object = value.as_object().ok_or("invalid_json")?;
    match object.get("type").and_then(Value::as_str) {
        Some("member") => {}
        Some(_) => return Ok(None),
        None => return Err("invalid_json"),
    }
    let day = |v: &Value| {
        v.as_i64()
            .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())
            .map(|t| t.date().to_string())
    };
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let mut names = Vec::new();
    let mut cells = Vec::new();
    let mut put = |name: String, cell: Option<String>| {
        if let Some(cell) = cell.filter(|c| !c.is_empty()) {
            names.push(name);
            cells.push(cell);
        }
    };
    for (column, field) in [
        ("email", "email"),
        ("first_name", "first_name"),
        ("last_name", "last_name"),
        ("preferred_name", "preferred_name"),
        ("username", "username"),
        ("phone", "phone"),
        ("birthday", "birthday"),
        ("status", "status"),
        ("role", "role"),
        ("plan", "plan"),
        ("stripe_customer", "stripe_customer"),
        ("stripe_subscription", "stripe_subscription"),
    ] {
        put(column.to_string(), object.get(field).and_then(text));
    }
    put("member_since".into(), object.get("member_since").and_then(day));
    put("paid_through".into(), object.get("renews_at").and_then(day));
    let tags: Vec<String> =
        object.get("tags").and_then(Value::as_array).into_iter().flatten().filter_map(text).collect();
    put("tags".into(), Some(tags.join(";")));
    let held: Vec<String> = object
        .get("authorisations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| {
            let name = a.get("name").and_then(Value::as_str)?;
            Some(match a.get("granted_at").and_then(day) {
                Some(date) => format!("{name}@{date}"),
                None => name.to_string(),
            })
        })
        .collect();
    put("authorisations".into(), Some(held.join(";")));
    if let Some(custom) = object.get("custom_fields").and_then(Value::as_object) {
        for (key, value) in custom {
            put(format!("{CUSTOM_PREFIX}{key}"), text(value));
        }
    }
    Ok(Some((names, cells)))
}

/// The header row: each cell a known column or `custom.KEY`, each once, `email` among them.
#[derive(Debug, Clone)]
pub struct Header {
    pub columns: Vec<Column>,
}

impl Header {
    pub fn parse(cells: &[String]) -> Result<Header, Vec<Refusal>> {
        let mut refusals = Vec::new();
        let mut columns = Vec::with_capacity(cells.len());
        for cell in cells {
            let name = cell.trim();
            let column = if let Some(known) = COLUMNS.iter().find(|c| c.eq_ignore_ascii_case(name)) {
                Column::Known(known)
            } else if let Some(key) = name.strip_prefix(CUSTOM_PREFIX) {
                match super::text::clean(key, 50, Lines::Single) {
                    Ok(Some(clean)) if clean == key => Column::Custom(key.to_string()),
                    _ => {
                        refusals.push(Refusal {
                            line: 1,
                            column: name.to_string(),
                            reason: "invalid_custom_key",
                        });
                        continue;
                    }
                }
            } else {
                refusals.push(Refusal { line: 1, column: name.to_string(), reason: "unknown_column" });
                continue;
            };
            if columns.contains(&column) {
                refusals.push(Refusal { line: 1, column: column.name(), reason: "duplicate_column" });
                continue;
            }
            columns.push(column);
        }
        if !columns.contains(&Column::Known("email")) {
            refusals.push(Refusal { line: 1, column: "email".into(), reason: "missing_email_column" });
        }
        if refusals.is_empty() { Ok(Header { columns }) } else { Err(refusals) }
    }
}

/// An authorisation held, with the day it was granted when the file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub name: AuthorisationName,
    pub granted: Option<Date>,
}

/// A row that passed every rule this module knows. Absent columns and blank cells are `None`
/// (or empty): an update leaves those fields as they are.
#[derive(Debug, Clone, Default)]
pub struct ImportRow {
    pub line: u64,
    pub email: Option<Email>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub preferred_name: Option<String>,
    pub username: Option<Username>,
    pub phone: Option<String>,
    pub birthday: Option<Date>,
    pub status: Option<MembershipStatus>,
    pub role: Option<MembershipRole>,
    /// A plan's name or its Stripe price id, to be found among the organisation's plans.
    pub plan: Option<String>,
    pub member_since: Option<Date>,
    pub paid_through: Option<Date>,
    pub tags: Vec<String>,
    pub authorisations: Vec<Held>,
    pub note: Option<String>,
    pub stripe_customer: Option<String>,
    pub stripe_subscription: Option<String>,
    pub custom: BTreeMap<String, String>,
}

/// A cell a spreadsheet would run as a formula: `=` or `@` first, or `+`/`-` first with
/// anything but digits, spaces and `+-().` after (a phone number `+40 …` or a number is data;
/// `+cmd|…` or `-2+SUM(…)` is not). Refused, never stored.
pub fn looks_like_formula(cell: &str) -> bool {
    let cell = cell.trim_start();
    match cell.chars().next() {
        Some('=' | '@') => true,
        Some('+' | '-') => !cell.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c)),
        _ => false,
    }
}

fn date(value: &str) -> Option<Date> {
    Date::parse(value.trim(), time::macros::format_description!("[year]-[month]-[day]")).ok()
}

/// An RFID tag: exactly 10 digits (as the console and API take them).
pub fn rfid_tag(value: &str) -> Option<String> {
    let tag = value.trim();
    (tag.len() == 10 && tag.bytes().all(|b| b.is_ascii_digit())).then(|| tag.to_string())
}

impl ImportRow {
    /// Reads the cells of one data row (as many as the header has columns; fewer or more is a
    /// refusal of the row) that starts on `line`, as of `today` (dates in the future are
    /// refused where they cannot be).
    pub fn parse(
        header: &Header,
        cells: &[String],
        line: u64,
        today: Date,
    ) -> Result<ImportRow, Vec<Refusal>> {
        if cells.len() != header.columns.len() {
            return Err(vec![Refusal { line, column: String::new(), reason: "wrong_number_of_cells" }]);
        }
        let mut row = ImportRow { line, ..ImportRow::default() };
        let mut refusals = Vec::new();
        let mut refuse = |column: &Column, reason: &'static str| {
            refusals.push(Refusal { line, column: column.name(), reason });
        };
        for (column, cell) in header.columns.iter().zip(cells) {
            if looks_like_formula(cell) {
                refuse(column, "formula");
                continue;
            }
            let value = cell.trim();
            if value.is_empty() {
                if *column == Column::Known("email") {
                    refuse(column, "required");
                }
                continue;
            }
            let mut problems: Vec<Problem> = Vec::new();
            let name = match column {
                Column::Custom(key) => {
                    match text(value, "custom", 200, false, &mut problems) {
                        Some(v) => {
                            row.custom.insert(key.clone(), v);
                        }
                        None => refuse(column, problems.first().map_or("invalid_text", |p| p.1)),
                    }
                    continue;
                }
                Column::Known(name) => *name,
            };
            let texted = |max: usize| {
                let mut problems = Vec::new();
                let v = text(value, "text", max, false, &mut problems);
                (v, problems.first().map(|p| p.1))
            };
            match name {
                "email" => match Email::parse(value) {
                    Ok(email) => row.email = Some(email),
                    Err(_) => refuse(column, "invalid_email"),
                },
                "first_name" | "last_name" | "preferred_name" => match texted(100) {
                    (Some(v), None) => match name {
                        "first_name" => row.first_name = Some(v),
                        "last_name" => row.last_name = Some(v),
                        _ => row.preferred_name = Some(v),
                    },
                    (_, reason) => refuse(column, reason.unwrap_or("invalid_text")),
                },
                "username" => match Username::parse(value) {
                    Ok(u) => row.username = Some(u),
                    Err(_) => refuse(column, "invalid_username"),
                },
                "phone" => match phone(value, &mut problems) {
                    Some(p) => row.phone = Some(p),
                    None => refuse(column, "invalid_phone"),
                },
                "birthday" => match date(value) {
                    Some(d) if d < today => row.birthday = Some(d),
                    Some(_) => refuse(column, "date_in_future"),
                    None => refuse(column, "invalid_date"),
                },
                "member_since" => match date(value) {
                    Some(d) if d <= today => row.member_since = Some(d),
                    Some(_) => refuse(column, "date_in_future"),
                    None => refuse(column, "invalid_date"),
                },
                "paid_through" => match date(value) {
                    Some(d) => row.paid_through = Some(d),
                    None => refuse(column, "invalid_date"),
                },
                "status" => match MembershipStatus::parse(&value.to_ascii_lowercase()) {
                    Ok(s) => row.status = Some(s),
                    Err(_) => refuse(column, "invalid_status"),
                },
                "role" => match MembershipRole::parse(&value.to_ascii_lowercase()) {
                    Ok(r) => row.role = Some(r),
                    Err(_) => refuse(column, "invalid_role"),
                },
                "plan" => match texted(100) {
                    (Some(v), None) => row.plan = Some(v),
                    (_, reason) => refuse(column, reason.unwrap_or("invalid_text")),
                },
                "tags" => {
                    for tag in value.split(';').map(str::trim).filter(|t| !t.is_empty()) {
                        match rfid_tag(tag) {
                            Some(t) if row.tags.contains(&t) => refuse(column, "duplicate_tag"),
                            Some(t) => row.tags.push(t),
                            None => refuse(column, "invalid_tag"),
                        }
                    }
                }
                "authorisations" => {
                    for entry in value.split(';').map(str::trim).filter(|t| !t.is_empty()) {
                        let (held, granted) = match entry.rsplit_once('@') {
                            Some((name, day)) => (name, Some(day)),
                            None => (entry, None),
                        };
                        let Ok(auth) = AuthorisationName::parse(held) else {
                            refuse(column, "invalid_authorisation");
                            continue;
                        };
                        let granted = match granted.map(date) {
                            None => None,
                            Some(Some(d)) if d <= today => Some(d),
                            Some(Some(_)) => {
                                refuse(column, "date_in_future");
                                continue;
                            }
                            Some(None) => {
                                refuse(column, "invalid_date");
                                continue;
                            }
                        };
                        if row.authorisations.iter().any(|h| h.name == auth) {
                            refuse(column, "duplicate_authorisation");
                            continue;
                        }
                        row.authorisations.push(Held { name: auth, granted });
                    }
                }
                "note" => match text_lines(value, "note", 4000, false, Lines::Multi, &mut problems) {
                    Some(v) => row.note = Some(v),
                    None => refuse(column, problems.first().map_or("invalid_text", |p| p.1)),
                },
                "stripe_customer" | "stripe_subscription" => {
                    let prefix = if name == "stripe_customer" { "cus_" } else { "sub_" };
                    let ok = value.starts_with(prefix)
                        && value.len() <= 255
                        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                    match (ok, name) {
                        (true, "stripe_customer") => row.stripe_customer = Some(value.to_string()),
                        (true, _) => row.stripe_subscription = Some(value.to_string()),
                        (false, _) => refuse(column, "invalid_stripe_id"),
                    }
                }
                _ => {}
            }
        }
        if refusals.is_empty() { Ok(row) } else { Err(refusals) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn header(names: &[&str]) -> Header {
        Header::parse(&names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn cells(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    const TODAY: Date = date!(2026 - 12 - 02);

    #[test]
    fn the_header_names_known_and_custom_columns_once_with_email() {
        let h = header(&["Email", "first_name", "custom.Locker"]);
        assert_eq!(
            h.columns,
            [Column::Known("email"), Column::Known("first_name"), Column::Custom("Locker".into())]
        );
        let bad = Header::parse(&cells(&["first_name", "nickname", "first_name", "custom. x"])).unwrap_err();
        let reasons: Vec<_> = bad.iter().map(|r| (r.column.as_str(), r.reason)).collect();
        assert_eq!(
            reasons,
            [
                ("nickname", "unknown_column"),
                ("first_name", "duplicate_column"),
                ("custom. x", "invalid_custom_key"),
                ("email", "missing_email_column"),
            ]
        );
    }

    #[test]
    fn a_full_row_reads_every_column() {
        let h = header(&COLUMNS);
        let row = ImportRow::parse(
            &h,
            &cells(&[
                " Ada@Example.org ",
                "Ada",
                "Lovelace",
                "Countess",
                "ada",
                "+44 20 7946 0000",
                "1990-12-10",
                "Active",
                "member",
                "Standard",
                "2020-01-01",
                "2027-01-31",
                "0004711234; 0004711235",
                "induction@2020-02-01;laser-cutter",
                "Line one\nline two",
                "cus_123",
                "sub_456",
            ]),
            2,
            TODAY,
        )
        .unwrap();
        assert_eq!(row.email.as_ref().map(Email::as_str), Some("ada@example.org"));
        assert_eq!(row.status, Some(MembershipStatus::Active));
        assert_eq!(row.tags, ["0004711234", "0004711235"]);
        assert_eq!(row.authorisations.len(), 2);
        assert_eq!(row.authorisations[0].granted, Some(date!(2020 - 02 - 01)));
        assert_eq!(row.note.as_deref(), Some("Line one\nline two"));
        assert_eq!(row.paid_through, Some(date!(2027 - 01 - 31)));
    }

    #[test]
    fn every_bad_cell_is_named_with_its_reason() {
        let h = header(&[
            "email",
            "username",
            "birthday",
            "status",
            "tags",
            "authorisations",
            "custom.shoe",
            "phone",
        ]);
        let refusals = ImportRow::parse(
            &h,
            &cells(&[
                "not-an-email",
                "has space",
                "2030-01-01",
                "retired",
                "123;0004711234;0004711234",
                "-bad;ok@2031-01-01",
                "=HYPERLINK(\"http://x\")",
                "call me",
            ]),
            7,
            TODAY,
        )
        .unwrap_err();
        let got: Vec<_> = refusals.iter().map(|r| (r.line, r.column.as_str(), r.reason)).collect();
        assert_eq!(
            got,
            [
                (7, "email", "invalid_email"),
                (7, "username", "invalid_username"),
                (7, "birthday", "date_in_future"),
                (7, "status", "invalid_status"),
                (7, "tags", "invalid_tag"),
                (7, "tags", "duplicate_tag"),
                (7, "authorisations", "formula"),
                (7, "custom.shoe", "formula"),
                (7, "phone", "invalid_phone"),
            ]
        );
        let short = ImportRow::parse(&h, &cells(&["a@b.org"]), 9, TODAY).unwrap_err();
        assert_eq!(short[0].reason, "wrong_number_of_cells");
        let blank =
            ImportRow::parse(&header(&["email", "note"]), &cells(&["  ", "x"]), 3, TODAY).unwrap_err();
        assert_eq!(blank[0].reason, "required");
    }

    #[test]
    fn formulas_are_told_from_phone_numbers_and_numbers() {
        for formula in ["=1+2", "@SUM(A1)", "+cmd|' /C calc'!A0", "-2+3+cmd", " =x"] {
            assert!(looks_like_formula(formula), "{formula}");
        }
        for data in ["+40 721 000 000", "-5", "+(0)20", "plain", ""] {
            assert!(!looks_like_formula(data), "{data}");
        }
    }
}
