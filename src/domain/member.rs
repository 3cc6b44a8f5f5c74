//! The details a person gives when they sign up or edit their profile, validated as a whole so
//! a form can show a message next to every bad field at once.

use time::{Date, Month};

use super::text::{Lines, TextError, clean};
use super::{NewPassword, Username};

/// A field that failed validation and why (`invalid_phone`); the web layer turns the code into
/// a message.
pub type Problem = (&'static str, &'static str);

/// A one-line free-text field under the rule of [`super::text`]; a problem is recorded with
/// its real reason (`required`, `too_long`, `control_character`, `invisible_character`).
pub fn text(
    value: &str,
    field: &'static str,
    max: usize,
    required: bool,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    text_lines(value, field, max, required, Lines::Single, problems)
}

/// As [`text`], choosing whether line breaks are allowed.
pub fn text_lines(
    value: &str,
    field: &'static str,
    max: usize,
    required: bool,
    lines: Lines,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    match clean(value, max, lines) {
        Ok(None) if required => {
            problems.push((field, TextError::Required.code()));
            None
        }
        Ok(text) => text,
        Err(e) => {
            problems.push((field, e.code()));
            None
        }
    }
}

/// A phone number: digits with optional `+`, spaces, dashes, dots and parentheses; 6 to 20 digits.
pub fn phone(value: &str, problems: &mut Vec<Problem>) -> Option<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return None;
    }
    let digits = trimmed.chars().filter(char::is_ascii_digit).count();
    let allowed = trimmed
        .chars()
        .enumerate()
        .all(|(i, c)| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')') || (c == '+' && i == 0));
    if !allowed || !(6..=20).contains(&digits) || trimmed.len() > 30 {
        problems.push(("phone", "invalid_phone"));
        return None;
    }
    Some(trimmed.to_string())
}

/// A JSON value in which no object has the same key twice. `serde_json` keeps the last of two
/// equal keys without a word; custom fields refuse them instead (a 400 naming the key). Other
/// shapes pass through for the caller to judge.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UniqueKeys(pub serde_json::Value);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde_json::Value;
        struct Any;
        impl<'de> serde::de::Visitor<'de> for Any {
            type Value = UniqueKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value whose objects have distinct keys")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
                let mut out = serde_json::Map::new();
                while let Some((key, UniqueKeys(value))) = map.next_entry::<String, UniqueKeys>()? {
                    if out.contains_key(&key) {
                        return Err(serde::de::Error::custom(format!("duplicate key {key:?}")));
                    }
                    out.insert(key, value);
                }
                Ok(UniqueKeys(Value::Object(out)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
                let mut out = Vec::new();
                while let Some(UniqueKeys(value)) = seq.next_element::<UniqueKeys>()? {
                    out.push(value);
                }
                Ok(UniqueKeys(Value::Array(out)))
            }
            fn visit_bool<E>(self, v: bool) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(Value::from(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(Value::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(Value::from(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(Value::String(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(Value::String(v)))
            }
            fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(Value::Null))
            }
            fn visit_none<E>(self) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(Value::Null))
            }
        }
        deserializer.deserialize_any(Any)
    }
}

/// Whole years between `birthday` and `today`.
pub fn age_on(birthday: Date, today: Date) -> i32 {
    let mut age = today.year() - birthday.year();
    if (today.month() as u8, today.day()) < (birthday.month() as u8, birthday.day()) {
        age -= 1;
    }
    age
}

/// A birthday `YYYY-MM-DD`, not in the future, plausible, and old enough for the organisation.
pub fn birthday(value: &str, min_age: i64, today: Date, problems: &mut Vec<Problem>) -> Option<Date> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        if min_age > 0 {
            problems.push(("birthday", "required"));
        }
        return None;
    }
    let parsed = (|| {
        let mut parts = trimmed.splitn(3, '-');
        let year: i32 = parts.next()?.parse().ok()?;
        let month: u8 = parts.next()?.parse().ok()?;
        let day: u8 = parts.next()?.parse().ok()?;
        Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
    })();
    let Some(date) = parsed else {
        problems.push(("birthday", "invalid_birthday"));
        return None;
    };
    let age = age_on(date, today);
    if date > today || age > 130 {
        problems.push(("birthday", "invalid_birthday"));
        return None;
    }
    if i64::from(age) < min_age {
        problems.push(("birthday", "too_young"));
        return None;
    }
    Some(date)
}

/// Everything the signup details form asks for, as typed.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct DetailsInput {
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub preferred_name: String,
    #[serde(default)]
    pub pronouns: String,
    #[serde(default)]
    pub birthday: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub password_confirm: String,
    #[serde(default)]
    pub accept_terms: Option<String>,
    #[serde(default)]
    pub accept_waiver: Option<String>,
}

/// The validated details.
#[derive(Debug)]
pub struct Details {
    pub first_name: String,
    pub last_name: String,
    pub preferred_name: Option<String>,
    pub pronouns: Option<String>,
    pub birthday: Option<Date>,
    pub username: Username,
    pub phone: Option<String>,
    pub password: NewPassword,
}

impl Details {
    pub fn parse(
        input: &DetailsInput,
        email: &str,
        min_age: i64,
        today: Date,
    ) -> Result<Details, Vec<Problem>> {
        let mut problems = Vec::new();
        let first_name = text(&input.first_name, "first_name", 100, true, &mut problems);
        let last_name = text(&input.last_name, "last_name", 100, true, &mut problems);
        let preferred_name = text(&input.preferred_name, "preferred_name", 100, false, &mut problems);
        let pronouns = text(&input.pronouns, "pronouns", 40, false, &mut problems);
        let birthday = birthday(&input.birthday, min_age, today, &mut problems);
        let username = Username::parse(&input.username)
            .map_err(|_| problems.push(("username", "invalid_username")))
            .ok();
        let phone = phone(&input.phone, &mut problems);
        let password = if input.password != input.password_confirm {
            problems.push(("password_confirm", "password_mismatch"));
            None
        } else {
            let context = [email, input.username.trim()];
            NewPassword::parse(&input.password, &context)
                .map_err(|_| problems.push(("password", "weak_password")))
                .ok()
        };
        if input.accept_terms.is_none() {
            problems.push(("accept_terms", "must_accept"));
        }
        if input.accept_waiver.is_none() {
            problems.push(("accept_waiver", "must_accept"));
        }
        match (first_name, last_name, username, password) {
            (Some(first_name), Some(last_name), Some(username), Some(password)) if problems.is_empty() => {
                Ok(Details {
                    first_name,
                    last_name,
                    preferred_name,
                    pronouns,
                    birthday,
                    username,
                    phone,
                    password,
                })
            }
            _ => Err(problems),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn valid() -> DetailsInput {
        DetailsInput {
            first_name: " Ada ".into(),
            last_name: "Lovelace".into(),
            username: "Ada_L".into(),
            birthday: "1990-12-10".into(),
            phone: "+40 721 000 000".into(),
            password: "analytical engine".into(),
            password_confirm: "analytical engine".into(),
            accept_terms: Some("on".into()),
            accept_waiver: Some("on".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_valid_form_parses() {
        let d = Details::parse(&valid(), "ada@example.org", 18, date!(2026 - 11 - 22)).unwrap();
        assert_eq!(d.first_name, "Ada");
        assert_eq!(d.username.as_str(), "ada_l");
        assert_eq!(d.birthday, Some(date!(1990 - 12 - 10)));
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let input = DetailsInput {
            first_name: "".into(),
            last_name: "x".repeat(101),
            username: "bad name".into(),
            birthday: "2020-02-30".into(),
            phone: "call me".into(),
            password: "short".into(),
            password_confirm: "short".into(),
            ..Default::default()
        };
        let problems = Details::parse(&input, "a@b.org", 0, date!(2026 - 11 - 22)).unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|(f, _)| *f).collect();
        for f in [
            "first_name",
            "last_name",
            "username",
            "birthday",
            "phone",
            "password",
            "accept_terms",
            "accept_waiver",
        ] {
            assert!(fields.contains(&f), "{f} in {problems:?}");
        }
    }

    #[test]
    fn age_is_checked_on_the_server() {
        let today = date!(2026 - 11 - 22);
        let mut p = vec![];
        assert_eq!(birthday("2008-11-22", 18, today, &mut p), Some(date!(2008 - 11 - 22)), "18 today");
        assert!(birthday("2008-11-23", 18, today, &mut p).is_none());
        assert_eq!(p, vec![("birthday", "too_young")]);
        let mut p = vec![];
        assert!(birthday("2030-01-01", 0, today, &mut p).is_none());
        assert!(birthday("", 16, today, &mut p).is_none());
        assert_eq!(p, vec![("birthday", "invalid_birthday"), ("birthday", "required")]);
        assert_eq!(age_on(date!(2000 - 02 - 29), date!(2026 - 02 - 28)), 25);
    }

    #[test]
    fn phones() {
        let mut p = vec![];
        assert!(phone("+40 (721) 000-000", &mut p).is_some());
        assert!(phone("0721.000.000", &mut p).is_some());
        assert!(p.is_empty());
        for bad in ["12345", "+40+721000000", "0721 000 000 ext 5", "<script>"] {
            let mut p = vec![];
            assert!(phone(bad, &mut p).is_none(), "{bad}");
        }
    }
}
