//! One rule for every free text Portico stores (names, profile fields, notes, reasons, custom
//! fields): trimmed; at most a given number of characters; no control characters (a multi-line
//! text may hold line breaks and tabs); and none of the invisible characters that make text
//! lie about itself: direction overrides and isolates (U+202A–U+202E, U+2066–U+2069, U+200E,
//! U+200F, U+061C) and zero-width characters (U+200B, U+200C, U+2060, U+FEFF). The zero-width
//! joiner U+200D stays allowed: emoji sequences need it.

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("this field is required")]
    Required,
    #[error("too long")]
    TooLong,
    #[error("contains a control character")]
    ControlCharacter,
    #[error("contains an invisible or direction-changing character")]
    InvisibleCharacter,
}

impl TextError {
    /// The field error code (its message is the Fluent key `field-<code>`).
    pub fn code(self) -> &'static str {
        match self {
            TextError::Required => "required",
            TextError::TooLong => "too_long",
            TextError::ControlCharacter => "control_character",
            TextError::InvisibleCharacter => "invisible_character",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    Single,
    /// Line breaks and tabs allowed (notes).
    Multi,
}

fn invisible(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
        || matches!(c, '\u{200B}' | '\u{200C}' | '\u{2060}' | '\u{FEFF}')
}

/// The text to store, `None` when it is empty (after trimming); an error names the first rule
/// broken, checked in this order: characters, then length.
pub fn clean(value: &str, max_chars: usize, lines: Lines) -> Result<Option<String>, TextError> {
    let trimmed = value.trim();
    let allowed_control = |c: char| lines == Lines::Multi && matches!(c, '\n' | '\r' | '\t');
    if trimmed.chars().any(|c| c.is_control() && !allowed_control(c)) {
        return Err(TextError::ControlCharacter);
    }
    if trimmed.chars().any(invisible) {
        return Err(TextError::InvisibleCharacter);
    }
    if trimmed.chars().count() > max_chars {
        return Err(TextError::TooLong);
    }
    Ok((!trimmed.is_empty()).then(|| trimmed.to_string()))
}

/// As [`clean`], for a field that must not be empty.
pub fn required(value: &str, max_chars: usize, lines: Lines) -> Result<String, TextError> {
    clean(value, max_chars, lines)?.ok_or(TextError::Required)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_for_free_text() {
        assert_eq!(clean("  Ada  ", 10, Lines::Single), Ok(Some("Ada".into())));
        assert_eq!(clean("   ", 10, Lines::Single), Ok(None));
        assert_eq!(required(" ", 10, Lines::Single), Err(TextError::Required));
        assert_eq!(clean("abcdefghijk", 10, Lines::Single), Err(TextError::TooLong));
        assert_eq!(
            clean("ș".repeat(10).as_str(), 10, Lines::Single),
            Ok(Some("ș".repeat(10))),
            "characters, not bytes"
        );
        assert_eq!(clean("a\0b", 10, Lines::Single), Err(TextError::ControlCharacter));
        assert_eq!(clean("a\nb", 10, Lines::Single), Err(TextError::ControlCharacter));
        assert_eq!(clean("a\nb\tc", 10, Lines::Multi), Ok(Some("a\nb\tc".into())));
        assert_eq!(clean("a\u{1b}b", 10, Lines::Multi), Err(TextError::ControlCharacter));
        assert_eq!(clean("evil\u{202E}gpj.exe", 40, Lines::Single), Err(TextError::InvisibleCharacter));
        assert_eq!(clean("zero\u{200B}width", 40, Lines::Single), Err(TextError::InvisibleCharacter));
        assert_eq!(clean("\u{FEFF}bom", 40, Lines::Single), Err(TextError::InvisibleCharacter));
        assert_eq!(clean("family 👨\u{200D}👩\u{200D}👧", 40, Lines::Single).map(|t| t.is_some()), Ok(true));
        assert_eq!(
            clean(&format!("{}\0", "x".repeat(300)), 200, Lines::Single),
            Err(TextError::ControlCharacter),
            "the real reason first"
        );
    }
}
