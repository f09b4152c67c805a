//! Postal codes, phone numbers and the validated shipping address.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::country::Country;
use super::form::AddressForm;
use super::text::{AddressLine, City, FullName, Region};
use crate::validation::ValidationErrors;

/// The most characters a postal code may hold.
pub const MAX_POSTAL_CODE_CHARS: usize = 16;

/// Why a postal code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PostalCodeError {
    /// Nothing but whitespace.
    #[error("must not be empty")]
    Empty,
    /// More than [`MAX_POSTAL_CODE_CHARS`] characters.
    #[error("must be at most 16 characters")]
    TooLong,
    /// Characters other than ASCII letters, digits, spaces and hyphens, or no
    /// letter or digit at all.
    #[error("invalid postal code")]
    Invalid,
    /// Not in the format the country uses.
    #[error("invalid postal code for {0}")]
    WrongFormat(Country),
}

/// A postal code, checked against the country it belongs to.
///
/// Always: 1 to 16 ASCII letters, digits, spaces and hyphens with at least one
/// letter or digit, upper-cased, runs of spaces collapsed. For GB, US, CA, DE,
/// FR, ES, IT, NL, JP and AU the national format is checked too, and the code
/// is stored in its canonical spacing (`sw1y4jh` → `SW1Y 4JH`, `1234ab` →
/// `1234 AB`, `1234567` → `123-4567`).
///
/// ```
/// use orders_core::checkout::{Country, PostalCode};
///
/// let gb = Country::parse("GB").unwrap();
/// assert_eq!(PostalCode::parse(" sw1y  4jh", gb).unwrap().as_str(), "SW1Y 4JH");
/// assert!(PostalCode::parse("12345", gb).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct PostalCode(String);

/// National formats: a pattern (`A` a letter, `9` a digit, anything else
/// itself) and the separator of the canonical form with its position. With a
/// separator the pattern is matched without it, and the code may be typed with
/// the separator in its place or without; `None` matches the code as is.
type Format = (&'static str, Option<(usize, char)>);

fn national_formats(country: Country) -> &'static [Format] {
    match country.code() {
        "GB" => &[
            ("A99AA", Some((2, ' '))),
            ("A999AA", Some((3, ' '))),
            ("A9A9AA", Some((3, ' '))),
            ("AA99AA", Some((3, ' '))),
            ("AA999AA", Some((4, ' '))),
            ("AA9A9AA", Some((4, ' '))),
            ("GIR0AA", Some((3, ' '))),
        ],
        "US" => &[("99999", None), ("999999999", Some((5, '-')))],
        "CA" => &[("A9A9A9", Some((3, ' ')))],
        "DE" | "FR" | "ES" | "IT" => &[("99999", None)],
        "NL" => &[("9999AA", Some((4, ' ')))],
        "JP" => &[("9999999", Some((3, '-')))],
        "AU" => &[("9999", None)],
        _ => &[],
    }
}

fn matches(text: &str, pattern: &str) -> bool {
    text.len() == pattern.len()
        && text.bytes().zip(pattern.bytes()).all(|(t, p)| match p {
            b'A' => t.is_ascii_alphabetic(),
            b'9' => t.is_ascii_digit(),
            _ => t == p,
        })
}

/// The country-independent checks: trimmed, upper-cased, spaces collapsed.
/// The JSON Schema pattern of a postal code in any country: letters,
/// digits, spaces and hyphens, with a letter or digit (each country's own
/// format is checked by [`PostalCode::parse`]).
pub const POSTAL_CODE_PATTERN: &str = "^[A-Za-z0-9 -]*[A-Za-z0-9][A-Za-z0-9 -]*$";

pub(super) fn normalise_postal_code(text: &str) -> Result<String, PostalCodeError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(PostalCodeError::Empty);
    }
    if !text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-')
        || !text.chars().any(|c| c.is_ascii_alphanumeric())
    {
        return Err(PostalCodeError::Invalid);
    }
    let code = text
        .split(' ')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase();
    if code.len() > MAX_POSTAL_CODE_CHARS {
        return Err(PostalCodeError::TooLong);
    }
    Ok(code)
}

impl PostalCode {
    /// Validates `text` as a postal code of `country`.
    ///
    /// # Errors
    /// A [`PostalCodeError`]: [`WrongFormat`](PostalCodeError::WrongFormat)
    /// when the code is well-formed but not in the country's format.
    pub fn parse(text: &str, country: Country) -> Result<Self, PostalCodeError> {
        let code = normalise_postal_code(text)?;
        let formats = national_formats(country);
        if formats.is_empty() {
            return Ok(Self(code));
        }
        let compact: String = code.chars().filter(|c| *c != ' ' && *c != '-').collect();
        formats
            .iter()
            .find_map(|&(pattern, separator)| match separator {
                None => matches(&code, pattern).then(|| code.clone()),
                Some((at, sep)) if matches(&compact, pattern) => {
                    let canonical = format!("{}{sep}{}", &compact[..at], &compact[at..]);
                    (code == compact || code == canonical).then_some(canonical)
                }
                Some(_) => None,
            })
            .map(Self)
            .ok_or(PostalCodeError::WrongFormat(country))
    }

    /// The normalised code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for PostalCode {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PostalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<PostalCode> for String {
    fn from(code: PostalCode) -> String {
        code.0
    }
}

/// Why a phone number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PhoneError {
    /// Nothing but whitespace.
    #[error("must not be empty")]
    Empty,
    /// A character other than a leading `+`, digits, spaces, hyphens, dots
    /// and parentheses.
    #[error("invalid phone number")]
    Invalid,
    /// Fewer than 7 or more than 15 digits.
    #[error("must have 7 to 15 digits")]
    DigitCount,
}

/// A phone number: an optional leading `+`, then digits with spaces, hyphens,
/// dots or parentheses, 7 to 15 digits in all. Kept as typed, trimmed.
///
/// ```
/// use orders_core::checkout::Phone;
///
/// assert_eq!(Phone::parse(" +44 (20) 7946-0958 ").unwrap().as_str(), "+44 (20) 7946-0958");
/// assert!(Phone::parse("12345").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    /// The JSON Schema pattern of a phone number: an optional `+`, then 7
    /// to 15 digits among spaces, hyphens, dots and parentheses.
    pub const PATTERN: &'static str = "^\\+?[ ().-]*([0-9][ ().-]*){7,15}$";

    /// Validates `text`.
    ///
    /// # Errors
    /// A [`PhoneError`] saying why the number was refused.
    pub fn parse(text: &str) -> Result<Self, PhoneError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(PhoneError::Empty);
        }
        let rest = text.strip_prefix('+').unwrap_or(text);
        if !rest
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'))
        {
            return Err(PhoneError::Invalid);
        }
        let digits = rest.chars().filter(char::is_ascii_digit).count();
        if !(7..=15).contains(&digits) {
            return Err(PhoneError::DigitCount);
        }
        Ok(Self(text.to_owned()))
    }

    /// The number as typed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Phone {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Phone {
    type Err = PhoneError;

    fn from_str(text: &str) -> Result<Self, PhoneError> {
        Self::parse(text)
    }
}

impl TryFrom<String> for Phone {
    type Error = PhoneError;

    fn try_from(text: String) -> Result<Self, PhoneError> {
        Self::parse(&text)
    }
}

impl From<Phone> for String {
    fn from(phone: Phone) -> String {
        phone.0
    }
}

/// A validated shipping address.
///
/// Built by [`AddressForm::validate`] or by deserialising, which goes through
/// the same validation. Serialises as
/// `{"full_name","line1","line2","city","region","postal_code","country","phone"}`
/// with `null` for the absent optionals.
///
/// ```
/// use orders_core::checkout::AddressForm;
///
/// let form = AddressForm {
///     full_name: Some("Ada Lovelace".into()),
///     line1: Some("12 St James's Square".into()),
///     city: Some("London".into()),
///     postal_code: Some("sw1y 4jh".into()),
///     country: Some("gb".into()),
///     ..AddressForm::default()
/// };
/// let address = form.validate().unwrap();
/// assert_eq!(address.postal_code().as_str(), "SW1Y 4JH");
/// assert_eq!(address.country().code(), "GB");
/// assert!(address.line2().is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "AddressForm")]
pub struct Address {
    pub(super) full_name: FullName,
    pub(super) line1: AddressLine,
    pub(super) line2: Option<AddressLine>,
    pub(super) city: City,
    pub(super) region: Option<Region>,
    pub(super) postal_code: PostalCode,
    pub(super) country: Country,
    pub(super) phone: Option<Phone>,
}

impl Address {
    /// The recipient.
    pub fn full_name(&self) -> &FullName {
        &self.full_name
    }

    /// The first address line.
    pub fn line1(&self) -> &AddressLine {
        &self.line1
    }

    /// The second address line, if any.
    pub fn line2(&self) -> Option<&AddressLine> {
        self.line2.as_ref()
    }

    /// The city.
    pub fn city(&self) -> &City {
        &self.city
    }

    /// The state, province or county, if any.
    pub fn region(&self) -> Option<&Region> {
        self.region.as_ref()
    }

    /// The postal code, valid for [`country`](Self::country).
    pub fn postal_code(&self) -> &PostalCode {
        &self.postal_code
    }

    /// The country.
    pub fn country(&self) -> Country {
        self.country
    }

    /// A contact phone number, if any.
    pub fn phone(&self) -> Option<&Phone> {
        self.phone.as_ref()
    }
}

impl TryFrom<AddressForm> for Address {
    type Error = ValidationErrors;

    fn try_from(form: AddressForm) -> Result<Self, ValidationErrors> {
        form.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn country(code: &str) -> Country {
        Country::parse(code).unwrap()
    }

    fn postal(text: &str, code: &str) -> Result<String, PostalCodeError> {
        PostalCode::parse(text, country(code)).map(String::from)
    }

    #[test]
    fn postal_code_national_formats() {
        let good = [
            ("SW1Y 4JH", "GB", "SW1Y 4JH"),
            ("sw1y4jh", "GB", "SW1Y 4JH"),
            ("M1 1AE", "GB", "M1 1AE"),
            ("EC1A 1BB", "GB", "EC1A 1BB"),
            ("B33 8TH", "GB", "B33 8TH"),
            ("CR2 6XH", "GB", "CR2 6XH"),
            ("W1A 0AX", "GB", "W1A 0AX"),
            ("DN55 1PT", "GB", "DN55 1PT"),
            ("12345", "US", "12345"),
            ("12345-6789", "US", "12345-6789"),
            ("k1a0b1", "CA", "K1A 0B1"),
            ("K1A 0B1", "CA", "K1A 0B1"),
            ("10115", "DE", "10115"),
            ("75008", "FR", "75008"),
            ("28013", "ES", "28013"),
            ("00184", "IT", "00184"),
            ("1234 ab", "NL", "1234 AB"),
            ("1234AB", "NL", "1234 AB"),
            ("123-4567", "JP", "123-4567"),
            ("1234567", "JP", "123-4567"),
            ("2000", "AU", "2000"),
            // Elsewhere only the generic rules apply.
            ("  01-234 ", "PL", "01-234"),
            ("sw  1a   x", "IE", "SW 1A X"),
        ];
        for (input, code, expected) in good {
            assert_eq!(
                postal(input, code).as_deref(),
                Ok(expected),
                "{input:?} {code}"
            );
        }
        let bad = [
            ("12345", "GB"),
            ("SW1Y 4J", "GB"),
            ("1234", "US"),
            ("12345-678", "US"),
            ("K1A 0B", "CA"),
            ("1011", "DE"),
            ("7500A", "FR"),
            ("1234 A", "NL"),
            ("12-34567", "JP"),
            ("1234-56789", "US"),
            ("SW1Y-4JH", "GB"),
            ("SW1 Y4JH", "GB"),
            ("200", "AU"),
        ];
        for (input, code) in bad {
            assert_eq!(
                postal(input, code),
                Err(PostalCodeError::WrongFormat(country(code))),
                "{input:?} {code}"
            );
        }
        assert_eq!(
            postal("12345", "GB").unwrap_err().to_string(),
            "invalid postal code for GB"
        );
    }

    #[test]
    fn postal_code_generic_rules() {
        assert_eq!(postal("  ", "PL"), Err(PostalCodeError::Empty));
        assert_eq!(postal("--", "PL"), Err(PostalCodeError::Invalid));
        assert_eq!(postal("12_34", "PL"), Err(PostalCodeError::Invalid));
        assert_eq!(postal("١٢٣٤٥", "PL"), Err(PostalCodeError::Invalid));
        assert_eq!(postal(&"1".repeat(17), "PL"), Err(PostalCodeError::TooLong));
        assert!(postal(&"1".repeat(16), "PL").is_ok());
    }

    #[test]
    fn phone_rules() {
        for good in [
            "+44 20 7946 0958",
            "(555) 123-4567",
            "555.123.4567",
            "1234567",
            "+123456789012345",
        ] {
            assert_eq!(Phone::parse(good).unwrap().as_str(), good);
        }
        assert_eq!(Phone::parse(" "), Err(PhoneError::Empty));
        assert_eq!(Phone::parse("123456"), Err(PhoneError::DigitCount));
        assert_eq!(
            Phone::parse("+1234567890123456"),
            Err(PhoneError::DigitCount)
        );
        assert_eq!(Phone::parse("++441234567"), Err(PhoneError::Invalid));
        assert_eq!(Phone::parse("1234567+"), Err(PhoneError::Invalid));
        assert_eq!(Phone::parse("call 1234567"), Err(PhoneError::Invalid));
    }

    fn sample() -> AddressForm {
        AddressForm {
            full_name: Some("Ada Lovelace".into()),
            line1: Some("12 St James's Square".into()),
            line2: Some("  ".into()),
            city: Some("London".into()),
            region: None,
            postal_code: Some("sw1y4jh".into()),
            country: Some("gb".into()),
            phone: Some("+44 20 7946 0958".into()),
        }
    }

    #[test]
    fn address_serialises_to_the_documented_shape() {
        let address = sample().validate().unwrap();
        let json = serde_json::to_value(&address).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "full_name": "Ada Lovelace",
                "line1": "12 St James's Square",
                "line2": null,
                "city": "London",
                "region": null,
                "postal_code": "SW1Y 4JH",
                "country": "GB",
                "phone": "+44 20 7946 0958",
            })
        );
        let back: Address = serde_json::from_value(json).unwrap();
        assert_eq!(back, address);
    }

    #[test]
    fn address_deserialising_revalidates() {
        let mut json = serde_json::to_value(sample().validate().unwrap()).unwrap();
        json["postal_code"] = "12345".into();
        let error = serde_json::from_value::<Address>(json).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("postal_code: invalid postal code for GB"),
            "{error}"
        );
    }

    proptest! {
        #[test]
        fn postal_code_never_panics(text in any::<String>(), index in 0..249usize) {
            let country = Country::all().nth(index).unwrap();
            if let Ok(code) = PostalCode::parse(&text, country) {
                prop_assert_eq!(PostalCode::parse(code.as_str(), country), Ok(code));
            }
        }

        #[test]
        fn postal_code_never_panics_on_plausible_input(
            text in "[a-zA-Z0-9 -]{0,18}",
            code in prop::sample::select(vec!["GB", "US", "CA", "DE", "NL", "JP", "AU", "BR"]),
        ) {
            let country = Country::parse(code).unwrap();
            if let Ok(postal) = PostalCode::parse(&text, country) {
                prop_assert_eq!(PostalCode::parse(postal.as_str(), country), Ok(postal));
            }
        }

        #[test]
        fn phone_never_panics(text in any::<String>(), plausible in "[+0-9 ().-]{0,20}") {
            let _ = Phone::parse(&text);
            if let Ok(phone) = Phone::parse(&plausible) {
                prop_assert_eq!(phone.as_str(), plausible.trim());
            }
        }
    }
}
