/// A password someone chose, checked for minimum strength. It never implements `Debug` output
/// of its contents, so it cannot end up in a log line.
pub struct NewPassword(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("use at least 12 characters")]
    TooShort,
    #[error("use at most 1024 characters")]
    TooLong,
    #[error("this password is too easy to guess")]
    TooSimple,
}

impl NewPassword {
    pub const MIN_CHARS: usize = 12;

    /// `context` holds words the password must not contain (the email, the username); words
    /// shorter than 4 characters are too common to count.
    pub fn parse(input: &str, context: &[&str]) -> Result<NewPassword, PasswordError> {
        let chars = input.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(PasswordError::TooShort);
        }
        if input.len() > 1024 {
            return Err(PasswordError::TooLong);
        }
        let mut distinct: Vec<char> = input.chars().collect();
        distinct.sort_unstable();
        distinct.dedup();
        let lowered = input.to_lowercase();
        if distinct.len() < 5
            || context.iter().any(|c| c.chars().count() >= 4 && lowered.contains(&c.to_lowercase()))
        {
            return Err(PasswordError::TooSimple);
        }
        Ok(NewPassword(input.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strength() {
        assert!(NewPassword::parse("correct horse battery", &[]).is_ok());
        assert_eq!(NewPassword::parse("short", &[]).unwrap_err(), PasswordError::TooShort);
        assert_eq!(NewPassword::parse("aaaaaaaaaaaaaaaa", &[]).unwrap_err(), PasswordError::TooSimple);
        assert_eq!(
            NewPassword::parse("xxjane@example.comxx", &["jane@example.com"]).unwrap_err(),
            PasswordError::TooSimple
        );
        assert_eq!(NewPassword::parse(&"ab1!".repeat(300), &[]).unwrap_err(), PasswordError::TooLong);
        assert!(
            NewPassword::parse("a long enough password", &["n", "ong"]).is_ok(),
            "short context words do not count"
        );
        assert!(NewPassword::parse("my name is grace123!", &["Grace"]).is_err());
        assert_eq!(
            format!("{:?}", NewPassword::parse("correct horse battery", &[]).unwrap()),
            "NewPassword(..)"
        );
    }
}
