use std::fmt;

/// A normalised email address: trimmed, lower-cased, at most 254 characters, with a dot-atom
/// local part and a hostname with at least two labels. Nothing else is decided from it (no DNS,
/// no lookups), so parsing an address never reveals anything about accounts.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("enter an email address")]
    Empty,
    #[error("an email address has at most 254 characters")]
    TooLong,
    #[error("this is not a valid email address")]
    Invalid,
}

const LOCAL_SPECIALS: &str = "!#$%&'*+/=?^_`{|}~-";

impl Email {
    pub fn parse(input: &str) -> Result<Email, EmailError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.chars().count() > 254 {
            return Err(EmailError::TooLong);
        }
        // ASCII only, checked before folding: Unicode folding would turn look-alikes such as
        // the Kelvin sign into `k`, and the two databases fold differently.
        if !trimmed.is_ascii() {
            return Err(EmailError::Invalid);
        }
        let lowered = trimmed.to_ascii_lowercase();
        let (local, domain) = lowered.rsplit_once('@').ok_or(EmailError::Invalid)?;
        if !valid_local(local) || !valid_domain(domain) {
            return Err(EmailError::Invalid);
        }
        Ok(Email(lowered))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For values read back from the database, which only ever holds parsed addresses.
    pub fn from_trusted(stored: String) -> Email {
        Email(stored)
    }
}

fn valid_local(local: &str) -> bool {
    !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || LOCAL_SPECIALS.contains(c))
}

fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        // A top-level domain is never all digits; this rejects bare IPv4 addresses.
        && labels
            .last()
            .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()))
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalises_legitimate_addresses() {
        let cases = [
            ("a--b@x.org", "a--b@x.org"),
            ("o'neil@x.ie", "o'neil@x.ie"),
            ("jane+portico@example.com", "jane+portico@example.com"),
            ("  Jane.Doe@Example.COM \n", "jane.doe@example.com"),
            ("first.last@sub.domain-name.co.uk", "first.last@sub.domain-name.co.uk"),
            ("x@y.io", "x@y.io"),
            ("user_name{tag}@mail.example", "user_name{tag}@mail.example"),
            ("1234@numbers.example", "1234@numbers.example"),
        ];
        for (input, expected) in cases {
            assert_eq!(Email::parse(input).map(|e| e.0), Ok(expected.to_string()), "{input}");
        }
    }

    #[test]
    fn rejects_what_is_not_an_address() {
        let cases = [
            ("", EmailError::Empty),
            ("   ", EmailError::Empty),
            ("plainaddress", EmailError::Invalid),
            ("@example.com", EmailError::Invalid),
            ("user@", EmailError::Invalid),
            ("user@localhost", EmailError::Invalid),
            ("user@@example.com", EmailError::Invalid),
            ("a@b@example.com", EmailError::Invalid),
            (".user@example.com", EmailError::Invalid),
            ("user.@example.com", EmailError::Invalid),
            ("us..er@example.com", EmailError::Invalid),
            ("user name@example.com", EmailError::Invalid),
            ("user@exa mple.com", EmailError::Invalid),
            ("user@-example.com", EmailError::Invalid),
            ("user@example-.com", EmailError::Invalid),
            ("user@example..com", EmailError::Invalid),
            ("user@127.0.0.1", EmailError::Invalid),
            ("Bob <bob@example.com>", EmailError::Invalid),
            ("\"quoted\"@example.com", EmailError::Invalid),
            ("user@example.com\r\nBcc: x@y.z", EmailError::Invalid),
            ("josé@example.com", EmailError::Invalid),
            ("<script>@example.com", EmailError::Invalid),
        ];
        for (input, expected) in cases {
            assert_eq!(Email::parse(input), Err(expected), "{input:?}");
        }
    }

    #[test]
    fn enforces_length_limits() {
        let local64 = "a".repeat(64);
        let long_domain = format!("{}.{}.{}.com", "b".repeat(63), "c".repeat(63), "d".repeat(57));
        let exactly_254 = format!("{local64}@{long_domain}");
        assert_eq!(exactly_254.len(), 254);
        assert!(Email::parse(&exactly_254).is_ok());
        let over = format!("{local64}@e{long_domain}");
        assert_eq!(Email::parse(&over), Err(EmailError::TooLong));
        let local65 = format!("{}@example.com", "a".repeat(65));
        assert_eq!(Email::parse(&local65), Err(EmailError::Invalid));
    }
}
