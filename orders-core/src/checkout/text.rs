//! Free-text fields a customer types: names, address lines, city, region and
//! card holder. One rule set ([`crate::text`]), several newtypes so the
//! fields cannot be mixed up.

pub use crate::text::TextError;
use crate::text::text_type;

/// The most characters (not bytes) a text field may hold.
pub const MAX_TEXT_CHARS: usize = 200;

text_type!(
    /// A person's full name, as one free-text field.
    ///
    /// ```
    /// use orders_core::checkout::FullName;
    ///
    /// assert_eq!(FullName::parse("  Zoë Żółć ").unwrap().as_str(), "Zoë Żółć");
    /// assert!(FullName::parse("   ").is_err());
    /// ```
    FullName,
    MAX_TEXT_CHARS
);

text_type!(
    /// One line of a street address.
    AddressLine,
    MAX_TEXT_CHARS
);

text_type!(
    /// A city, town or locality.
    City,
    MAX_TEXT_CHARS
);

text_type!(
    /// A state, province, county or prefecture.
    Region,
    MAX_TEXT_CHARS
);

text_type!(
    /// The name printed on a payment card.
    CardHolder,
    MAX_TEXT_CHARS
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_unicode_and_trims() {
        for name in [
            "José Müller",
            "日本 太郎",
            "Дмитрий Иванов",
            "O'Brien-Smith",
            "محمد",
        ] {
            assert_eq!(
                FullName::parse(&format!("  {name}\t")).unwrap().as_str(),
                name
            );
        }
        assert_eq!(City::parse("São Paulo").unwrap().to_string(), "São Paulo");
    }

    #[test]
    fn refuses_empty_and_too_long() {
        assert_eq!(AddressLine::parse(""), Err(TextError::Empty));
        assert_eq!(AddressLine::parse(" \n\t "), Err(TextError::Empty));
        // 200 multi-byte characters are fine: the limit counts characters.
        assert!(Region::parse(&"é".repeat(200)).is_ok());
        assert_eq!(
            Region::parse(&"é".repeat(201)),
            Err(TextError::TooLong(200))
        );
    }

    #[test]
    fn refuses_control_and_bidi_characters() {
        for bad in [
            "Ada\u{0}Lovelace",
            "Ada\nLovelace",
            "Ada\u{7f}",
            "Ada\u{9b}",
            "\u{202E}ecalevoL",
            "Ada\u{2066}x\u{2069}",
            "Ada\u{202A}",
        ] {
            assert_eq!(
                CardHolder::parse(bad),
                Err(TextError::ForbiddenCharacter),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn accepts_the_marks_keyboards_insert() {
        for typed in ["Ada\u{200E}", "עדה\u{200F} 12", "شارع\u{061C} 12"] {
            assert_eq!(CardHolder::parse(typed).unwrap().as_str(), typed);
        }
    }

    #[test]
    fn serde_goes_through_parse() {
        let city: City = serde_json::from_str("\" London \"").unwrap();
        assert_eq!(serde_json::to_string(&city).unwrap(), "\"London\"");
        assert!(serde_json::from_str::<City>("\"\"").is_err());
        assert!(serde_json::from_str::<City>("\"a\\u202eb\"").is_err());
    }

    proptest! {
        #[test]
        fn never_panics_and_output_is_valid(text in any::<String>()) {
            if let Ok(name) = FullName::parse(&text) {
                prop_assert_eq!(name.as_str(), text.trim());
                prop_assert!(FullName::parse(name.as_str()).is_ok());
            }
        }
    }
}
