//! ISO 3166-1 alpha-2 country codes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Every officially assigned ISO 3166-1 alpha-2 code, sorted.
/// Every ISO 3166-1 alpha-2 code, upper case, sorted.
pub(crate) const CODES: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// The country code was not an officially assigned ISO 3166-1 alpha-2 code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown country code")]
pub struct CountryError;

/// A country, by its officially assigned ISO 3166-1 alpha-2 code.
///
/// Parsing accepts either case (and surrounding whitespace); the code is kept
/// upper case.
///
/// ```
/// use orders_core::checkout::Country;
///
/// assert_eq!(Country::parse("gb").unwrap().code(), "GB");
/// assert!(Country::parse("UK").is_err()); // reserved, not assigned
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Country(&'static str);

impl Country {
    /// Looks `code` up in the table of assigned codes.
    ///
    /// # Errors
    /// [`CountryError`] when `code` is not an assigned alpha-2 code.
    pub fn parse(code: &str) -> Result<Self, CountryError> {
        let code = code.trim().to_ascii_uppercase();
        CODES
            .binary_search(&code.as_str())
            .map(|index| Self(CODES[index]))
            .map_err(|_| CountryError)
    }

    /// The upper-case two-letter code, e.g. `"GB"`.
    pub fn code(self) -> &'static str {
        self.0
    }

    /// Every assigned country, in code order.
    pub fn all() -> impl Iterator<Item = Country> {
        CODES.iter().map(|code| Country(code))
    }
}

impl AsRef<str> for Country {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl FromStr for Country {
    type Err = CountryError;

    fn from_str(code: &str) -> Result<Self, CountryError> {
        Self::parse(code)
    }
}

impl TryFrom<String> for Country {
    type Error = CountryError;

    fn try_from(code: String) -> Result<Self, CountryError> {
        Self::parse(&code)
    }
}

impl From<Country> for String {
    fn from(country: Country) -> String {
        country.0.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_complete_and_sorted() {
        assert_eq!(CODES.len(), 249);
        assert!(CODES.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(
            CODES
                .iter()
                .all(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
        );
        assert_eq!(Country::all().count(), 249);
    }

    #[test]
    fn parses_either_case() {
        for (input, code) in [
            ("GB", "GB"),
            ("us", "US"),
            (" jp ", "JP"),
            ("Ax", "AX"),
            ("ZW", "ZW"),
            ("AD", "AD"),
        ] {
            assert_eq!(Country::parse(input).unwrap().code(), code);
        }
        assert_eq!("de".parse::<Country>().unwrap().to_string(), "DE");
    }

    #[test]
    fn refuses_unassigned() {
        for bad in ["", "G", "GBR", "UK", "EU", "XK", "ZZ", "1A", "ÄB", "G B"] {
            assert_eq!(Country::parse(bad), Err(CountryError), "{bad:?}");
        }
    }

    #[test]
    fn serde_as_code() {
        let country: Country = serde_json::from_str("\"fr\"").unwrap();
        assert_eq!(serde_json::to_string(&country).unwrap(), "\"FR\"");
        assert!(serde_json::from_str::<Country>("\"XX\"").is_err());
    }
}
