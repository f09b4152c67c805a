//! Payment cards and the payment choice.
//!
//! Card numbers and security codes never show in `Debug` output and none of
//! these types serialise: the full number is reachable only through
//! [`CardNumber::expose_digits`], for handing to a payment gateway.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::text::CardHolder;

/// Why a card number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CardNumberError {
    /// Characters other than digits, spaces and hyphens.
    #[error("invalid card number")]
    NotDigits,
    /// Fewer than 12 or more than 19 digits.
    #[error("must be 12 to 19 digits")]
    Length,
    /// The Luhn check digit does not match.
    #[error("invalid card number")]
    Checksum,
}

/// A card number: 12 to 19 digits with a valid Luhn check digit, spaces and
/// hyphens removed.
///
/// `Debug` shows only the last four digits; there is no `Display`,
/// `Serialize` or `Clone`.
///
/// ```
/// use orders_core::checkout::{CardBrand, CardNumber};
///
/// let number = CardNumber::parse("4242 4242 4242 4242").unwrap();
/// assert_eq!(number.brand(), CardBrand::Visa);
/// assert_eq!(number.last4(), "4242");
/// assert_eq!(format!("{number:?}"), "**** 4242");
/// assert_eq!(number.expose_digits(), "4242424242424242");
/// assert!(CardNumber::parse("4242424242424241").is_err());
/// ```
#[derive(PartialEq, Eq)]
pub struct CardNumber(String);

fn luhn_ok(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            match (i % 2, d * 2) {
                (0, _) => d,
                (_, doubled) if doubled > 9 => doubled - 9,
                (_, doubled) => doubled,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

impl CardNumber {
    /// The JSON Schema pattern of a card number as typed: digits, spaces
    /// and hyphens (the length and the Luhn digit are checked by
    /// [`CardNumber::parse`] alone).
    pub const PATTERN: &'static str = "^[0-9 -]*[0-9][0-9 -]*$";

    /// Validates `text`, ignoring spaces and hyphens.
    ///
    /// # Errors
    /// A [`CardNumberError`] saying why the number was refused.
    pub fn parse(text: &str) -> Result<Self, CardNumberError> {
        let digits: String = text
            .trim()
            .chars()
            .filter(|c| *c != ' ' && *c != '-')
            .collect();
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            Err(CardNumberError::NotDigits)
        } else if !(12..=19).contains(&digits.len()) {
            Err(CardNumberError::Length)
        } else if !luhn_ok(&digits) {
            Err(CardNumberError::Checksum)
        } else {
            Ok(Self(digits))
        }
    }

    /// The last four digits, safe to show and store.
    pub fn last4(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }

    /// The card network, from the number's prefix.
    pub fn brand(&self) -> CardBrand {
        CardBrand::detect(&self.0)
    }

    /// The full number, digits only, for a payment gateway. Do not log or
    /// store it.
    pub fn expose_digits(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "**** {}", self.last4())
    }
}

impl TryFrom<String> for CardNumber {
    type Error = CardNumberError;

    fn try_from(text: String) -> Result<Self, CardNumberError> {
        Self::parse(&text)
    }
}

/// A card network, detected from the number's issuer prefix. Serialises in
/// snake case: `"visa"`, `"mastercard"`, `"amex"`, `"discover"`, `"jcb"`,
/// `"diners_club"`, `"union_pay"`, `"unknown"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardBrand {
    /// Visa: 4.
    Visa,
    /// Mastercard: 51–55 and 2221–2720.
    Mastercard,
    /// American Express: 34 and 37.
    Amex,
    /// Discover: 6011, 644–649 and 65.
    Discover,
    /// JCB: 3528–3589.
    Jcb,
    /// Diners Club: 300–305, 3095, 36, 38 and 39.
    DinersClub,
    /// UnionPay: 62 and 81.
    UnionPay,
    /// Any other prefix.
    Unknown,
}

impl CardBrand {
    /// The brand of a number given as ASCII digits.
    fn detect(digits: &str) -> Self {
        let prefix = |len: usize| digits.get(..len).and_then(|p| p.parse::<u32>().ok());
        let in_range = |len, range: std::ops::RangeInclusive<u32>| {
            prefix(len).is_some_and(|p| range.contains(&p))
        };
        if in_range(1, 4..=4) {
            Self::Visa
        } else if in_range(2, 51..=55) || in_range(4, 2221..=2720) {
            Self::Mastercard
        } else if in_range(2, 34..=34) || in_range(2, 37..=37) {
            Self::Amex
        } else if in_range(4, 6011..=6011) || in_range(3, 644..=649) || in_range(2, 65..=65) {
            Self::Discover
        } else if in_range(4, 3528..=3589) {
            Self::Jcb
        } else if in_range(3, 300..=305)
            || in_range(4, 3095..=3095)
            || in_range(2, 36..=36)
            || in_range(2, 38..=39)
        {
            Self::DinersClub
        } else if in_range(2, 62..=62) || in_range(2, 81..=81) {
            Self::UnionPay
        } else {
            Self::Unknown
        }
    }

    /// The serialised name, e.g. `"diners_club"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Visa => "visa",
            Self::Mastercard => "mastercard",
            Self::Amex => "amex",
            Self::Discover => "discover",
            Self::Jcb => "jcb",
            Self::DinersClub => "diners_club",
            Self::UnionPay => "union_pay",
            Self::Unknown => "unknown",
        }
    }
}

impl FromStr for CardBrand {
    type Err = PaymentMethodError;

    /// Parses the serialised name (`"visa"`, `"diners_club"`, ...), as a
    /// store reads it back.
    fn from_str(s: &str) -> Result<Self, PaymentMethodError> {
        [
            Self::Visa,
            Self::Mastercard,
            Self::Amex,
            Self::Discover,
            Self::Jcb,
            Self::DinersClub,
            Self::UnionPay,
            Self::Unknown,
        ]
        .into_iter()
        .find(|b| b.as_str() == s)
        .ok_or(PaymentMethodError)
    }
}

impl fmt::Display for CardBrand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a card expiry was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExpiryError {
    /// The month is not 1 to 12.
    #[error("must be between 1 and 12")]
    Month,
    /// The year does not have four digits.
    #[error("must be a 4-digit year")]
    Year,
    /// The year is more than 20 years after today's.
    #[error("too far in the future")]
    TooFar,
    /// The expiry month is before today's month.
    #[error("card has expired")]
    Expired,
}

/// The most years ahead of today an expiry year may be.
pub const MAX_EXPIRY_YEARS_AHEAD: i64 = 20;

/// A card's expiry month: valid through the end of that month.
///
/// ```
/// use chrono::NaiveDate;
/// use orders_core::checkout::CardExpiry;
///
/// let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
/// assert!(CardExpiry::parse(11, 2026, today).is_ok());
/// assert!(CardExpiry::parse(10, 2026, today).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CardExpiry {
    year: u16,
    month: u8,
}

/// The expiry months, first and last.
pub const EXPIRY_MONTHS: (i64, i64) = (1, 12);

/// The expiry years a card may state at all, four digits (which of them
/// are not past and not too far ahead depends on the day).
pub const EXPIRY_YEARS: (i64, i64) = (1000, 9999);

/// The month alone: 1 to 12.
pub(super) fn check_month(month: i64) -> Result<u8, ExpiryError> {
    Some(month)
        .filter(|m| (EXPIRY_MONTHS.0..=EXPIRY_MONTHS.1).contains(m))
        .and_then(|m| u8::try_from(m).ok())
        .ok_or(ExpiryError::Month)
}

/// The year alone: four digits, at most [`MAX_EXPIRY_YEARS_AHEAD`] after
/// `today`'s.
pub(super) fn check_year(year: i64, today: NaiveDate) -> Result<u16, ExpiryError> {
    if !(EXPIRY_YEARS.0..=EXPIRY_YEARS.1).contains(&year) {
        Err(ExpiryError::Year)
    } else if year > i64::from(today.year()) + MAX_EXPIRY_YEARS_AHEAD {
        Err(ExpiryError::TooFar)
    } else {
        u16::try_from(year).map_err(|_| ExpiryError::Year)
    }
}

impl CardExpiry {
    /// Validates an expiry month and year against `today`: month 1 to 12, a
    /// four-digit year no more than 20 years ahead, and not before today's
    /// month.
    ///
    /// # Errors
    /// An [`ExpiryError`]; the month is checked first, then the year.
    pub fn parse(month: i64, year: i64, today: NaiveDate) -> Result<Self, ExpiryError> {
        let month = check_month(month)?;
        let year = check_year(year, today)?;
        if (i32::from(year), u32::from(month)) < (today.year(), today.month()) {
            return Err(ExpiryError::Expired);
        }
        Ok(Self { year, month })
    }

    /// The month, 1 to 12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// The four-digit year.
    pub fn year(self) -> u16 {
        self.year
    }
}

/// Why a card security code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be 3 or 4 digits")]
pub struct CvcError;

/// A card security code: 3 or 4 ASCII digits. `Debug` prints `***`.
///
/// ```
/// use orders_core::checkout::Cvc;
///
/// let cvc = Cvc::parse("123").unwrap();
/// assert_eq!(format!("{cvc:?}"), "***");
/// assert_eq!(cvc.expose_digits(), "123");
/// assert!(Cvc::parse("12a").is_err());
/// ```
#[derive(PartialEq, Eq)]
pub struct Cvc(String);

impl Cvc {
    /// The JSON Schema pattern of a security code (surrounding whitespace
    /// is also accepted by [`Cvc::parse`]).
    pub const PATTERN: &'static str = "^[0-9]{3,4}$";

    /// Validates `text`, ignoring surrounding whitespace.
    ///
    /// # Errors
    /// [`CvcError`] unless it is 3 or 4 digits.
    pub fn parse(text: &str) -> Result<Self, CvcError> {
        let text = text.trim();
        if (3..=4).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(text.to_owned()))
        } else {
            Err(CvcError)
        }
    }

    /// The digits, for a payment gateway. Do not log or store them.
    pub fn expose_digits(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Cvc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl TryFrom<String> for Cvc {
    type Error = CvcError;

    fn try_from(text: String) -> Result<Self, CvcError> {
        Self::parse(&text)
    }
}

/// A validated card, ready for a payment gateway. `Debug` is masked
/// (`**** 4242`, `***`); it neither serialises nor clones.
#[derive(Debug)]
pub struct CardDetails {
    number: CardNumber,
    expiry: CardExpiry,
    cvc: Cvc,
    holder: CardHolder,
}

impl CardDetails {
    /// The card as a request's fingerprint may see it: every part but the
    /// number and the security code, of which only the last four digits
    /// and nothing count. (The parts are named one by one, so a new part
    /// does not compile until it is placed here.)
    pub fn canonical(&self) -> serde_json::Value {
        let Self {
            number,
            expiry,
            cvc: _,
            holder,
        } = self;
        serde_json::json!({
            "last4": number.last4(),
            "exp_month": expiry.month(),
            "exp_year": expiry.year(),
            "holder": holder,
        })
    }

    /// Puts validated parts together.
    pub fn new(number: CardNumber, expiry: CardExpiry, cvc: Cvc, holder: CardHolder) -> Self {
        Self {
            number,
            expiry,
            cvc,
            holder,
        }
    }

    /// The card network.
    pub fn brand(&self) -> CardBrand {
        self.number.brand()
    }

    /// The last four digits of the number.
    pub fn last4(&self) -> &str {
        self.number.last4()
    }

    /// The expiry month.
    pub fn expiry(&self) -> CardExpiry {
        self.expiry
    }

    /// The name on the card.
    pub fn holder(&self) -> &CardHolder {
        &self.holder
    }

    /// The number; its digits are behind [`CardNumber::expose_digits`].
    pub fn number(&self) -> &CardNumber {
        &self.number
    }

    /// The security code; its digits are behind [`Cvc::expose_digits`].
    pub fn cvc(&self) -> &Cvc {
        &self.cvc
    }
}

/// How the customer pays. Serialises as `"card"` / `"cash_on_delivery"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PaymentMethod {
    /// A payment card.
    Card,
    /// Cash handed over on delivery.
    CashOnDelivery,
}

/// The payment method named was not one of [`PaymentMethod::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be one of: card, cash_on_delivery")]
pub struct PaymentMethodError;

impl PaymentMethod {
    /// Every method, in the order they are listed to customers.
    pub const ALL: [PaymentMethod; 2] = [Self::Card, Self::CashOnDelivery];

    /// The serialised names of [`PaymentMethod::ALL`], in its order.
    pub const NAMES: [&'static str; 2] = crate::form::names_of!(Self::ALL);

    /// The serialised name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Card => "card",
            Self::CashOnDelivery => "cash_on_delivery",
        }
    }
}

impl fmt::Display for PaymentMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PaymentMethod {
    type Err = PaymentMethodError;

    /// Parses the serialised name, ignoring surrounding whitespace.
    ///
    /// ```
    /// use orders_core::checkout::PaymentMethod;
    ///
    /// assert_eq!("cash_on_delivery".parse(), Ok(PaymentMethod::CashOnDelivery));
    /// assert!("cheque".parse::<PaymentMethod>().is_err());
    /// ```
    fn from_str(text: &str) -> Result<Self, PaymentMethodError> {
        let text = text.trim();
        Self::ALL
            .into_iter()
            .find(|method| method.as_str() == text)
            .ok_or(PaymentMethodError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
    }

    fn brand(number: &str) -> CardBrand {
        CardNumber::parse(number).unwrap().brand()
    }

    #[test]
    fn luhn() {
        assert!(CardNumber::parse("4242424242424242").is_ok());
        assert!(CardNumber::parse("4000000000000002").is_ok());
        assert_eq!(
            CardNumber::parse("4242424242424241"),
            Err(CardNumberError::Checksum)
        );
        assert_eq!(
            CardNumber::parse(" 4242-4242 4242-4242 ")
                .unwrap()
                .expose_digits(),
            "4242424242424242"
        );
    }

    #[test]
    fn card_number_shape() {
        assert_eq!(
            CardNumber::parse("4242a42424242424"),
            Err(CardNumberError::NotDigits)
        );
        assert_eq!(
            CardNumber::parse("４２４２４２４２４２４２４２４２"),
            Err(CardNumberError::NotDigits)
        );
        assert_eq!(CardNumber::parse(""), Err(CardNumberError::Length));
        assert_eq!(
            CardNumber::parse("42424242426"),
            Err(CardNumberError::Length)
        );
        assert_eq!(
            CardNumber::parse("42424242424242424242"),
            Err(CardNumberError::Length)
        );
        assert_eq!(CardNumberError::Checksum.to_string(), "invalid card number");
    }

    #[test]
    fn brands() {
        assert_eq!(brand("4242424242424242"), CardBrand::Visa);
        assert_eq!(brand("5555555555554444"), CardBrand::Mastercard);
        assert_eq!(brand("2223003122003222"), CardBrand::Mastercard);
        assert_eq!(brand("378282246310005"), CardBrand::Amex);
        assert_eq!(brand("371449635398431"), CardBrand::Amex);
        assert_eq!(brand("6011111111111117"), CardBrand::Discover);
        assert_eq!(brand("6445644564456445"), CardBrand::Discover);
        assert_eq!(brand("3566002020360505"), CardBrand::Jcb);
        assert_eq!(brand("30569309025904"), CardBrand::DinersClub);
        assert_eq!(brand("36227206271667"), CardBrand::DinersClub);
        assert_eq!(brand("6200000000000005"), CardBrand::UnionPay);
        assert_eq!(brand("1234567812345670"), CardBrand::Unknown);
        assert_eq!(
            serde_json::to_string(&CardBrand::DinersClub).unwrap(),
            "\"diners_club\""
        );
        assert_eq!(
            serde_json::to_string(&CardBrand::Mastercard).unwrap(),
            "\"mastercard\""
        );
        assert_eq!(CardBrand::Amex.to_string(), "amex");
    }

    #[test]
    fn expiry() {
        let t = today();
        assert_eq!(
            CardExpiry::parse(11, 2026, t).map(|e| (e.month(), e.year())),
            Ok((11, 2026))
        );
        assert!(CardExpiry::parse(1, 2046, t).is_ok());
        assert_eq!(CardExpiry::parse(10, 2026, t), Err(ExpiryError::Expired));
        assert_eq!(CardExpiry::parse(12, 2025, t), Err(ExpiryError::Expired));
        assert_eq!(CardExpiry::parse(1, 2047, t), Err(ExpiryError::TooFar));
        assert_eq!(CardExpiry::parse(0, 2030, t), Err(ExpiryError::Month));
        assert_eq!(CardExpiry::parse(13, 2030, t), Err(ExpiryError::Month));
        assert_eq!(CardExpiry::parse(-1, 2030, t), Err(ExpiryError::Month));
        assert_eq!(CardExpiry::parse(12, 30, t), Err(ExpiryError::Year));
        assert_eq!(
            CardExpiry::parse(i64::MAX, i64::MIN, t),
            Err(ExpiryError::Month)
        );
        assert_eq!(CardExpiry::parse(1, i64::MAX, t), Err(ExpiryError::Year));
    }

    #[test]
    fn cvc() {
        assert!(Cvc::parse("123").is_ok());
        assert!(Cvc::parse(" 1234 ").is_ok());
        for bad in ["", "12", "12345", "12a", "１２３"] {
            assert_eq!(Cvc::parse(bad), Err(CvcError), "{bad:?}");
        }
    }

    #[test]
    fn card_details_debug_is_masked() {
        let card = CardDetails::new(
            CardNumber::parse("4242424242424242").unwrap(),
            CardExpiry::parse(12, 2030, today()).unwrap(),
            Cvc::parse("987").unwrap(),
            CardHolder::parse("Ada Lovelace").unwrap(),
        );
        let debug = format!(
            "{card:?} {:?}",
            crate::checkout::PaymentDetails::Card(CardDetails::new(
                CardNumber::parse("4000000000000002").unwrap(),
                card.expiry(),
                Cvc::parse("6543").unwrap(),
                card.holder().clone(),
            ))
        );
        assert!(!debug.contains("4242424242424242") && !debug.contains("4000000000000002"));
        assert!(!debug.contains("987") && !debug.contains("6543"));
        assert!(debug.contains("**** 4242") && debug.contains("**** 0002"));
        assert_eq!((card.brand(), card.last4()), (CardBrand::Visa, "4242"));
        assert_eq!(card.number().expose_digits(), "4242424242424242");
        assert_eq!(card.cvc().expose_digits(), "987");
    }

    #[test]
    fn payment_method() {
        assert_eq!(" card ".parse(), Ok(PaymentMethod::Card));
        assert_eq!("Card".parse::<PaymentMethod>(), Err(PaymentMethodError));
        assert_eq!(
            serde_json::to_string(&PaymentMethod::CashOnDelivery).unwrap(),
            "\"cash_on_delivery\""
        );
        assert_eq!(
            serde_json::from_str::<PaymentMethod>("\"card\"").unwrap(),
            PaymentMethod::Card
        );
        assert_eq!(
            crate::checkout::PaymentDetails::CashOnDelivery.method(),
            PaymentMethod::CashOnDelivery
        );
    }

    proptest! {
        #[test]
        fn card_number_never_panics(text in any::<String>(), digits in "[0-9 -]{0,24}") {
            let _ = CardNumber::parse(&text);
            if let Ok(number) = CardNumber::parse(&digits) {
                prop_assert_eq!(number.last4().len(), 4);
                let debug = format!("{number:?}");
                prop_assert!(!debug.contains(number.expose_digits()));
                let _ = number.brand();
            }
        }

        #[test]
        fn expiry_and_cvc_never_panic(month in any::<i64>(), year in any::<i64>(), cvc in any::<String>()) {
            let _ = CardExpiry::parse(month, year, today());
            let _ = Cvc::parse(&cvc);
        }
    }
}
