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
