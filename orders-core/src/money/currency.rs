//! ISO 4217 currencies and their minor digits.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An ISO 4217 currency: its three-letter code and how many minor digits
/// (cents) its amounts carry.
///
/// A `Currency` can only be made from a code in the ISO 4217 table, so a
/// value of this type is always a real currency.
///
/// ```
/// use orders_core::money::Currency;
///
/// let usd: Currency = "USD".parse().unwrap();
/// assert_eq!(usd.code(), "USD");
/// assert_eq!(usd.minor_digits(), 2);
/// assert_eq!(Currency::parse("JPY").unwrap().minor_digits(), 0);
/// assert!(Currency::parse("usd").is_err());
/// assert!(Currency::parse("XYZ").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: &'static str,
    minor_digits: u8,
}

/// The code is not an ISO 4217 currency this crate knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown currency code")]
pub struct UnknownCurrency;

impl Currency {
    /// US dollar.
    pub const USD: Currency = Currency::known("USD", 2);
    /// Euro.
    pub const EUR: Currency = Currency::known("EUR", 2);
    /// Pound sterling.
    pub const GBP: Currency = Currency::known("GBP", 2);
    /// Japanese yen (no minor unit).
    pub const JPY: Currency = Currency::known("JPY", 0);

    const fn known(code: &'static str, minor_digits: u8) -> Self {
        Self { code, minor_digits }
    }

    /// Looks up an upper-case ISO 4217 code.
    ///
    /// # Errors
    /// [`UnknownCurrency`] when the code is not in the table (lower case
    /// included: codes are upper case by the standard).
    pub fn parse(code: &str) -> Result<Self, UnknownCurrency> {
        TABLE
            .binary_search_by(|(c, _)| (*c).cmp(code))
            .map(|i| Self::known(TABLE[i].0, TABLE[i].1))
            .map_err(|_| UnknownCurrency)
    }

    /// The three-letter code, e.g. `"EUR"`.
    pub fn code(self) -> &'static str {
        self.code
    }

    /// How many digits follow the decimal point in this currency (2 for
    /// `USD`, 0 for `JPY`, 3 for `KWD`).
    pub fn minor_digits(self) -> u32 {
        u32::from(self.minor_digits)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl FromStr for Currency {
    type Err = UnknownCurrency;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code)
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&code).map_err(serde::de::Error::custom)
    }
}

/// Active ISO 4217 codes with their minor digits, sorted by code.
/// Funds and precious metals (XAU, XDR, ...) are left out: nobody prices a
/// cart in them.
/// Every code of the table, in its order (the `enum` of a currency field).
pub(crate) const CODES: [&str; TABLE.len()] = {
    let mut codes = [""; TABLE.len()];
    let mut i = 0;
    while i < TABLE.len() {
        codes[i] = TABLE[i].0;
        i += 1;
    }
    codes
};

const TABLE: &[(&str, u8)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("ANG", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("UYU", 2),
    ("UZS", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(TABLE.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(
            TABLE
                .iter()
                .all(|(c, _)| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()))
        );
    }

    #[test]
    fn constants_match_the_table() {
        for c in [Currency::USD, Currency::EUR, Currency::GBP, Currency::JPY] {
            assert_eq!(Currency::parse(c.code()), Ok(c));
        }
        assert_eq!(Currency::parse("KWD").map(Currency::minor_digits), Ok(3));
        assert_eq!(Currency::parse(""), Err(UnknownCurrency));
        assert_eq!(Currency::parse("USDX"), Err(UnknownCurrency));
    }

    #[test]
    fn serde_round_trip() {
        let json = serde_json::to_string(&Currency::EUR).unwrap();
        assert_eq!(json, "\"EUR\"");
        assert_eq!(
            serde_json::from_str::<Currency>(&json).unwrap(),
            Currency::EUR
        );
        assert!(serde_json::from_str::<Currency>("\"eur\"").is_err());
    }
}
