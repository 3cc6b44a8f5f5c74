use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("this field is required")]
    Empty,
    #[error("too long")]
    TooLong,
    #[error("too short")]
    TooShort,
    #[error("only lower-case letters, digits and the allowed punctuation")]
    BadCharacters,
}

/// An organisation slug: `[a-z0-9-]{2,63}`, not starting or ending with `-`. Input is trimmed
/// and lower-cased first, so `Acme` and `acme` are the same slug. Only ASCII is folded: Unicode
/// case folding would turn the Kelvin sign `K` (U+212A) into `k`, and the two databases fold
/// differently, so non-ASCII input is refused before any folding.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    pub fn parse(input: &str) -> Result<Slug, NameError> {
        let s = input.trim();
        if !s.is_ascii() {
            return Err(NameError::BadCharacters);
        }
        let s = s.to_ascii_lowercase();
        match s.chars().count() {
            0 => return Err(NameError::Empty),
            1 => return Err(NameError::TooShort),
            n if n > 63 => return Err(NameError::TooLong),
            _ => {}
        }
        let allowed = s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !allowed || s.starts_with('-') || s.ends_with('-') {
            return Err(NameError::BadCharacters);
        }
        Ok(Slug(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A username: `[a-z0-9_-]{1,16}` after trimming and lower-casing. It becomes a directory
/// account name, so it is unique case-insensitively across the instance.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(input: &str) -> Result<Username, NameError> {
        // ASCII before folding, as for slugs.
        let s = input.trim();
        if !s.is_ascii() {
            return Err(NameError::BadCharacters);
        }
        let s = s.to_ascii_lowercase();
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        if s.chars().count() > 16 {
            return Err(NameError::TooLong);
        }
        if !s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-') {
            return Err(NameError::BadCharacters);
        }
        Ok(Username(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(Slug::parse(" Acme-Labs ").unwrap().as_str(), "acme-labs");
        assert_eq!(Slug::parse("a1").unwrap().as_str(), "a1");
        assert!(Slug::parse(&"x".repeat(63)).is_ok());
        assert_eq!(Slug::parse(&"x".repeat(64)), Err(NameError::TooLong));
        assert_eq!(Slug::parse("a"), Err(NameError::TooShort));
        assert_eq!(Slug::parse(""), Err(NameError::Empty));
        for bad in ["-acme", "acme-", "ac me", "acme_labs", "ácme", "acme/x", "a.b"] {
            assert_eq!(Slug::parse(bad), Err(NameError::BadCharacters), "{bad}");
        }
    }

    #[test]
    fn usernames() {
        assert_eq!(Username::parse("Ada_L-1").unwrap().as_str(), "ada_l-1");
        assert!(Username::parse("x").is_ok());
        assert!(Username::parse(&"y".repeat(16)).is_ok());
        assert_eq!(Username::parse(&"y".repeat(17)), Err(NameError::TooLong));
        assert_eq!(Username::parse("  "), Err(NameError::Empty));
        for bad in ["ada.l", "ada l", "ädä", "<b>", "a@b"] {
            assert_eq!(Username::parse(bad), Err(NameError::BadCharacters), "{bad}");
        }
    }
}

/// The name of an authorisation in an organisation's catalogue: what a door or a tool is called
/// ("Woodshop", "Laser cutter 2", "Strung CNC"). 1 to 60 characters of letters (ASCII and the
/// accented Latin ones), digits, spaces, `-`, `_` and `.`, starting with a letter or digit, so
/// there are no path separators and no leading dots: every name can be addressed as one URL path
/// segment. Surrounding whitespace is trimmed; case is kept.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AuthorisationName(String);

impl AuthorisationName {
    pub const MAX_CHARS: usize = 60;

    pub fn parse(input: &str) -> Result<AuthorisationName, NameError> {
        let s = input.trim();
        let mut chars = s.chars();
        let Some(first) = chars.next() else { return Err(NameError::Empty) };
        if s.chars().count() > Self::MAX_CHARS {
            return Err(NameError::TooLong);
        }
        let letter_or_digit = |c: char| c.is_ascii_alphanumeric() || is_latin_letter(c);
        if !letter_or_digit(first) || !chars.all(|c| letter_or_digit(c) || " -_.".contains(c)) {
            return Err(NameError::BadCharacters);
        }
        Ok(AuthorisationName(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The rule as a regular expression (ECMA 262 and Python agree on it), surrounding
    /// whitespace of class `ws` allowed, for the OpenAPI document.
    pub fn pattern(ws: &str) -> String {
        let letters = "A-Za-z0-9\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u024F";
        format!("^[{ws}]*[{letters}][{letters} ._-]{{0,{}}}[{ws}]*$", Self::MAX_CHARS - 1)
    }
}

/// À–ɏ without × and ÷: Latin-1 letters and Latin Extended-A/B (Romanian ă â î ș ț among them).
fn is_latin_letter(c: char) -> bool {
    matches!(c, '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{24F}')
}

impl fmt::Display for AuthorisationName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod authorisation_name_tests {
    use super::*;

    #[test]
    fn authorisation_names_are_what_a_door_or_tool_is_called_and_fit_a_path_segment() {
        for good in
            ["Woodshop", "Laser cutter 2", "  lathe  ", "Strung CNC", "Sudură", "3D-printer_v1.2", "ț"]
        {
            assert!(AuthorisationName::parse(good).is_ok(), "{good}");
        }
        assert_eq!(AuthorisationName::parse("  lathe ").unwrap().as_str(), "lathe");
        for bad in
            ["../../x", "a/b", "a\\b", ".hidden", "-x", " ", "", "tab\tname", "é×2", "a%2Fb", "x?y", "x#y"]
        {
            assert!(AuthorisationName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(AuthorisationName::parse(&"a".repeat(60)).is_ok());
        assert_eq!(AuthorisationName::parse(&"a".repeat(61)), Err(NameError::TooLong));
    }
}
