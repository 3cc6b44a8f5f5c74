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

/// The invisible characters refused, as inclusive ranges.
const INVISIBLE: &[(char, char)] = &[
    ('\u{061C}', '\u{061C}'),
    ('\u{200B}', '\u{200C}'),
    ('\u{200E}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2060}'),
    ('\u{2066}', '\u{2069}'),
    ('\u{FEFF}', '\u{FEFF}'),
];

/// Control characters (Unicode `Cc`), as inclusive ranges.
const CONTROL: &[(char, char)] = &[('\u{0000}', '\u{001F}'), ('\u{007F}', '\u{009F}')];

/// What `str::trim` removes (Unicode `White_Space`), as inclusive ranges.
const WHITE_SPACE: &[(char, char)] = &[
    ('\u{0009}', '\u{000D}'),
    (' ', ' '),
    ('\u{0085}', '\u{0085}'),
    ('\u{00A0}', '\u{00A0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200A}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202F}', '\u{202F}'),
    ('\u{205F}', '\u{205F}'),
    ('\u{3000}', '\u{3000}'),
];

fn invisible(c: char) -> bool {
    INVISIBLE.iter().any(|(from, to)| (*from..=*to).contains(&c))
}

/// A regular-expression character class body (ECMA-262 and Python alike) for the ranges, with
/// the characters of `except` left out: `\u0000-\u0008\u000b...`.
fn class(ranges: &[&[(char, char)]], except: &[char]) -> String {
    let mut codes: Vec<u32> = ranges
        .iter()
        .flat_map(|r| r.iter())
        .flat_map(|&(from, to)| from as u32..=to as u32)
        .filter(|c| char::from_u32(*c).is_some_and(|c| !except.contains(&c)))
        .collect();
    codes.sort_unstable();
    codes.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < codes.len() {
        let start = codes[i];
        while i + 1 < codes.len() && codes[i + 1] == codes[i] + 1 {
            i += 1;
        }
        out.push_str(&format!("\\u{start:04x}"));
        if codes[i] != start {
            out.push_str(&format!("-\\u{:04x}", codes[i]));
        }
        i += 1;
    }
    out
}

/// The characters one-line free text may not hold, as a character class body.
pub fn forbidden_class(lines: Lines) -> String {
    let allowed: &[char] = match lines {
        Lines::Single => &[],
        Lines::Multi => &['\t', '\n', '\r'],
    };
    class(&[CONTROL, INVISIBLE], allowed)
}

/// The characters trimming removes, as a character class body.
pub fn whitespace_class() -> String {
    class(&[WHITE_SPACE], &[])
}

/// The characters trimming removes that may appear in a URL (control characters are refused in
/// every path and query), as a character class body.
pub fn url_whitespace_class() -> String {
    let controls: Vec<char> = CONTROL.iter().flat_map(|&(from, to)| from..=to).collect();
    class(&[WHITE_SPACE], &controls)
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

    /// The classes the API document states agree with the rule, character by character.
    #[test]
    fn the_documented_classes_are_the_rule() {
        let in_class = |class: &str, c: char| {
            class
                .split("\\u")
                .filter(|s| !s.is_empty())
                .fold((false, None::<u32>), |(hit, pending), part| {
                    let (hex, range) = part.split_at(4);
                    let n = u32::from_str_radix(hex, 16).unwrap();
                    match pending {
                        Some(from) => (hit || (from..=n).contains(&(c as u32)), None),
                        None if range == "-" => (hit, Some(n)),
                        None => (hit || n == c as u32, None),
                    }
                })
                .0
        };
        let single = forbidden_class(Lines::Single);
        let multi = forbidden_class(Lines::Multi);
        let space = whitespace_class();
        for c in (0..=0xFFFFu32).filter_map(char::from_u32) {
            let text = format!("a{c}b");
            assert_eq!(in_class(&single, c), clean(&text, 10, Lines::Single).is_err(), "{:04x}", c as u32);
            assert_eq!(in_class(&multi, c), clean(&text, 10, Lines::Multi).is_err(), "{:04x}", c as u32);
            assert_eq!(in_class(&space, c), c.is_whitespace(), "{:04x}", c as u32);
        }
    }

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
