//! Human text fields (names, notes): trimmed, bounded, and free of the
//! characters that hide or reorder what a person reads.
//!
//! Text is taken in every script as people type it, including the invisible
//! marks that keyboards and copy-paste insert: the direction marks U+200E,
//! U+200F and U+061C (Hebrew and Arabic keyboards add them around numbers
//! and Latin words), the joiners U+200C and U+200D (Persian, Indic scripts,
//! emoji sequences) and combining marks. A mark changes the direction of
//! nothing beyond its own neighbours, and pages show stored text isolated
//! (`<bdi>` or `dir="auto"`), so it cannot reorder what surrounds it.
//!
//! Refused ([`is_refused`]): control characters (Unicode category Cc: NUL,
//! line breaks in a single line, ESC, ...) and the bidirectional embeddings,
//! overrides and isolates (U+202A–U+202E, U+2066–U+2069), which open a
//! direction that runs past the text itself: the tools of log injection and
//! of "Trojan Source" style spoofing in an admin panel.

/// Why a text field was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TextError {
    /// Empty once trimmed.
    #[error("required")]
    Empty,
    /// More characters than allowed.
    #[error("must be at most {0} characters")]
    TooLong(usize),
    /// A control character or a bidirectional embedding, override or
    /// isolate.
    #[error("must not contain control or direction-changing characters")]
    ForbiddenCharacter,
}

/// Whether `c` is refused in a human text field: a control character or a
/// bidirectional embedding, override or isolate. Direction marks and
/// joiners are accepted.
///
/// ```
/// use orders_core::text::is_refused;
///
/// assert!(is_refused('\u{0}') && is_refused('\u{202E}') && is_refused('\u{2066}'));
/// assert!(!is_refused('\u{200F}') && !is_refused('\u{061C}') && !is_refused('\u{200D}'));
/// ```
pub fn is_refused(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The characters [`is_refused`] refuses, as the body of an ECMA-262
/// character class (a unit test checks the two agree on every character).
macro_rules! refused_class {
    () => {
        "\\u0000-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069"
    };
}

/// The JSON Schema pattern of a single-line field that must not be blank:
/// some character that is not whitespace, none that [`is_refused`] refuses.
pub const LINE_PATTERN: &str = concat!(
    "^[^",
    refused_class!(),
    "]*[^\\s",
    refused_class!(),
    "][^",
    refused_class!(),
    "]*$"
);

/// The JSON Schema pattern of a single-line field that may be blank
/// (blank counts as absent): no character that [`is_refused`] refuses.
pub const BLANK_LINE_PATTERN: &str = concat!("^[^", refused_class!(), "]*$");

/// The JSON Schema pattern of a multi-line field ([`check_multiline`]):
/// tabs and line breaks besides what a single line takes.
pub const MULTILINE_PATTERN: &str = concat!("^([\\t\\n\\r]|[^", refused_class!(), "])*$");

/// Whether `c` has no place in an identifier-like field (an email address):
/// everything [`is_refused`] refuses, and the invisible direction marks
/// too, since an address is never typed in a right-to-left run and a mark
/// in it would make two addresses look the same.
pub fn is_forbidden(c: char) -> bool {
    is_refused(c) || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}')
}

/// Checks a single-line field: trimmed, 1 to `max` characters, nothing
/// forbidden. Returns the trimmed text.
///
/// # Errors
/// [`TextError`].
pub fn check_line(text: &str, max: usize) -> Result<String, TextError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(TextError::Empty);
    }
    check_chars(text, max, |_| false)
}

/// Checks a multi-line field: trimmed, 0 to `max` characters, newlines and
/// tabs allowed, nothing else forbidden.
///
/// # Errors
/// [`TextError`].
pub fn check_multiline(text: &str, max: usize) -> Result<String, TextError> {
    check_chars(text.trim(), max, |c| matches!(c, '\n' | '\r' | '\t'))
}

fn check_chars(
    text: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<String, TextError> {
    // Counting stops at max + 1, so a megabyte string costs no more than a
    // short one past the limit.
    if text.chars().take(max + 1).count() > max {
        return Err(TextError::TooLong(max));
    }
    if text.chars().any(|c| is_refused(c) && !allowed(c)) {
        return Err(TextError::ForbiddenCharacter);
    }
    Ok(text.to_owned())
}

/// Defines a single-line text newtype bounded to `$max` characters.
macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The most characters it may have.
            pub const MAX_CHARS: usize = $max;

            /// Parses the text: trimmed, 1 to `MAX_CHARS` characters, no
            /// control or bidirectional formatting characters.
            ///
            /// # Errors
            /// [`crate::text::TextError`].
            pub fn parse(text: &str) -> Result<Self, crate::text::TextError> {
                crate::text::check_line(text, $max).map(Self)
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = crate::text::TextError;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse(text)
            }
        }

        impl TryFrom<String> for $name {
            type Error = crate::text::TextError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    };
}
pub(crate) use text_type;

text_type!(
    /// What staff type to find orders (an order number or part of an
    /// email): trimmed, 1 to 200 characters, no control or direction-changing
    /// characters. A NUL or another control character cannot be a search
    /// term, and some databases refuse it outright, so it is refused here,
    /// before any store sees it.
    ///
    /// ```
    /// use orders_core::text::SearchText;
    ///
    /// assert_eq!(SearchText::parse(" #1042 ").unwrap().as_str(), "#1042");
    /// assert!(SearchText::parse("ada\u{0}@example.com").is_err());
    /// assert!(SearchText::parse("   ").is_err());
    /// ```
    SearchText,
    200
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lines_are_trimmed_bounded_and_clean() {
        assert_eq!(
            check_line("  Zoë 日本 Ада  ", 20),
            Ok("Zoë 日本 Ада".to_owned())
        );
        assert_eq!(check_line("   ", 20), Err(TextError::Empty));
        assert_eq!(check_line("abc", 2), Err(TextError::TooLong(2)));
        assert_eq!(check_line("ééé", 3).map(|s| s.chars().count()), Ok(3));
        for bad in ["a\u{0}b", "a\nb", "evil\u{202E}txt", "\u{2066}x", "a\u{7f}"] {
            assert_eq!(
                check_line(bad, 50),
                Err(TextError::ForbiddenCharacter),
                "{bad:?}"
            );
        }
        assert_eq!(
            check_multiline("one\ntwo\tthree", 50),
            Ok("one\ntwo\tthree".to_owned())
        );
        assert_eq!(check_multiline("", 50), Ok(String::new()));
        assert_eq!(
            check_multiline("a\u{202E}", 50),
            Err(TextError::ForbiddenCharacter)
        );
    }

    #[test]
    fn marks_and_joiners_are_text() {
        for typed in [
            "\u{200F}שלום 12\u{200F}",
            "\u{061C}مرحبا\u{061C} 3",
            "Ada\u{200E}",
            "می\u{200C}خواهم",
            "👩\u{200D}💻",
            "e\u{301}cole",
        ] {
            assert_eq!(
                check_line(typed, 50),
                Ok(typed.trim().to_owned()),
                "{typed:?}"
            );
        }
        assert!(is_forbidden('\u{200F}'), "but not in an email address");
    }

    /// The characters of `refused_class!()`, read back from its text.
    fn in_refused_class(c: char) -> bool {
        let class = refused_class!().replace("\\u", "");
        let bounds: Vec<u32> = class
            .split('-')
            .flat_map(|pair| {
                (0..pair.len() / 4)
                    .map(move |i| u32::from_str_radix(&pair[i * 4..i * 4 + 4], 16).unwrap())
            })
            .collect();
        bounds
            .chunks(2)
            .any(|range| (range[0]..=range[1]).contains(&u32::from(c)))
    }

    #[test]
    fn the_schema_patterns_refuse_what_is_refused() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            assert_eq!(in_refused_class(c), is_refused(c), "{c:?}");
        }
        assert!(LINE_PATTERN.contains(refused_class!()));
        assert!(BLANK_LINE_PATTERN.contains(refused_class!()));
        assert!(MULTILINE_PATTERN.contains(refused_class!()));
    }

    #[test]
    fn a_megabyte_is_refused_quickly() {
        assert_eq!(
            check_line(&"x".repeat(1 << 20), 200),
            Err(TextError::TooLong(200))
        );
    }

    proptest! {
        #[test]
        fn never_panics_and_output_is_clean(s in any::<String>()) {
            if let Ok(t) = check_line(&s, 50) {
                prop_assert!(!t.is_empty() && t.chars().count() <= 50);
                prop_assert!(!t.chars().any(is_refused));
            }
        }
    }
}
