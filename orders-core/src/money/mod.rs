//! Money: an exact decimal amount in one ISO 4217 currency.
//!
//! # The rounding rule
//!
//! Every amount this crate produces is rounded to its currency's minor unit
//! by one rule, [`ROUNDING`]: **half up** (a midpoint moves away from zero,
//! so 0.125 becomes 0.13). Half-up is what shoppers, receipts and most tax
//! authorities (EU and UK VAT guidance, US state sales tax) expect; half-even
//! ("banker's rounding") removes a statistical bias over millions of
//! roundings, but that bias never reaches a customer here, because the places
//! where many rounded parts must add up to one total (spreading a discount
//! over lines) use largest-remainder allocation, which is exact by
//! construction. [`Money::round`] is the only function that rounds.
//!
//! Amounts are [`rust_decimal::Decimal`], never floats; parsing rejects
//! anything that is not a plain decimal (`"1e3"`, `"NaN"`, `"0x10"`, `"+1"`,
//! `" 1"`), more decimals than the currency has, and magnitudes above
//! [`Money::MAX_AMOUNT`].

mod currency;

use std::cmp::Ordering;
use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Serialize, Serializer};

pub(crate) use currency::CODES as CURRENCY_CODES;
pub use currency::{Currency, UnknownCurrency};

/// The one rounding rule: half up (midpoint away from zero). See the module
/// docs for why.
pub const ROUNDING: RoundingStrategy = RoundingStrategy::MidpointAwayFromZero;

/// An amount of money in one currency, always a whole number of the
/// currency's minor units (cents).
///
/// Arithmetic between two `Money` values refuses mixed currencies.
///
/// ```
/// use orders_core::money::{Currency, Money};
///
/// let price = Money::parse_price("19.90", Currency::USD).unwrap();
/// let line = price.times(3).unwrap();
/// assert_eq!(line.to_string(), "59.70");
/// let eur = Money::parse_price("1.00", Currency::EUR).unwrap();
/// assert!(line.checked_add(eur).is_err());
/// assert!(Money::parse_price("1e3", Currency::USD).is_err());
/// assert!(Money::parse_price("-1.00", Currency::USD).is_err());
/// assert!(Money::parse_price("1.999", Currency::USD).is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    amount: Decimal,
    currency: Currency,
}

/// Why an amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MoneyError {
    /// The text is not a plain decimal number.
    #[error("must be a decimal amount such as \"19.90\"")]
    Syntax,
    /// More decimals than the currency has.
    #[error("at most {max} decimal places for {currency}")]
    TooManyDecimals {
        /// The currency's minor digits.
        max: u32,
        /// The currency.
        currency: Currency,
    },
    /// A negative amount where only zero or more is allowed.
    #[error("must not be negative")]
    Negative,
    /// The magnitude is above [`Money::MAX_AMOUNT`].
    #[error("must be at most 1000000000000")]
    TooLarge,
    /// Two amounts of different currencies were combined.
    #[error("cannot combine {0} and {1}")]
    CurrencyMismatch(Currency, Currency),
    /// A computation left the representable range.
    #[error("amount out of range")]
    Overflow,
}

impl Money {
    /// The largest magnitude accepted from outside: one trillion units.
    /// Large enough for any order, small enough that sums of a thousand
    /// lines of 999 items never approach `Decimal`'s limits.
    pub const MAX_AMOUNT: Decimal = Decimal::from_parts(3_567_587_328, 232, 0, false, 0);

    /// Zero in `currency`, shown with the currency's minor digits.
    ///
    /// ```
    /// use orders_core::money::{Currency, Money};
    /// assert_eq!(Money::zero(Currency::EUR).to_string(), "0.00");
    /// assert_eq!(Money::zero(Currency::JPY).to_string(), "0");
    /// ```
    pub fn zero(currency: Currency) -> Self {
        let mut amount = Decimal::ZERO;
        amount.rescale(currency.minor_digits());
        Self { amount, currency }
    }

    /// Rounds `amount` to `currency`'s minor unit with [`ROUNDING`]; the one
    /// place where rounding happens.
    ///
    /// ```
    /// use orders_core::money::{Currency, Money};
    /// use rust_decimal::Decimal;
    ///
    /// let m = Money::round(Decimal::new(125, 3), Currency::USD); // 0.125
    /// assert_eq!(m.to_string(), "0.13");
    /// let m = Money::round(Decimal::new(-125, 3), Currency::USD);
    /// assert_eq!(m.to_string(), "-0.13");
    /// ```
    pub fn round(amount: Decimal, currency: Currency) -> Self {
        let mut amount = amount.round_dp_with_strategy(currency.minor_digits(), ROUNDING);
        amount.rescale(currency.minor_digits());
        Self { amount, currency }
    }

    /// `units` minor units, exactly: no rounding is needed for a whole
    /// number of minor units. For the pricing hot path, which works in
    /// integers; saturates far beyond any real amount instead of panicking.
    pub(crate) fn from_minor_exact(units: i128, currency: Currency) -> Self {
        let amount = Decimal::try_from_i128_with_scale(units, currency.minor_digits()).unwrap_or(
            if units < 0 {
                Decimal::MIN
            } else {
                Decimal::MAX
            },
        );
        Self { amount, currency }
    }

    /// An exact amount: `amount` must already be a whole number of minor
    /// units.
    ///
    /// # Errors
    /// [`MoneyError::TooManyDecimals`] if rounding would change it,
    /// [`MoneyError::TooLarge`] above [`Money::MAX_AMOUNT`].
    pub fn new(amount: Decimal, currency: Currency) -> Result<Self, MoneyError> {
        if amount.abs() > Self::MAX_AMOUNT {
            return Err(MoneyError::TooLarge);
        }
        let rounded = Self::round(amount, currency);
        if rounded.amount != amount {
            return Err(MoneyError::TooManyDecimals {
                max: currency.minor_digits(),
                currency,
            });
        }
        Ok(rounded)
    }

    /// Parses a plain decimal string (`"19.90"`, `"-3"`, `"0.5"`).
    ///
    /// Accepted: an optional leading `-`, digits, and optionally a `.`
    /// followed by at most the currency's minor digits. Refused: exponents,
    /// `NaN`, infinities, a leading `+`, whitespace, separators, a bare `.`.
    ///
    /// # Errors
    /// [`MoneyError::Syntax`], [`MoneyError::TooManyDecimals`] or
    /// [`MoneyError::TooLarge`].
    pub fn parse(text: &str, currency: Currency) -> Result<Self, MoneyError> {
        let digits = text.strip_prefix('-').unwrap_or(text);
        let (whole, fraction) = match digits.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (digits, None),
        };
        let plain = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !plain(whole) || fraction.is_some_and(|f| !plain(f)) {
            return Err(MoneyError::Syntax);
        }
        if fraction.is_some_and(|f| f.len() > currency.minor_digits() as usize) {
            return Err(MoneyError::TooManyDecimals {
                max: currency.minor_digits(),
                currency,
            });
        }
        // 13 whole digits exceed MAX_AMOUNT; refusing early keeps Decimal's
        // parser away from arbitrarily long input.
        if whole.trim_start_matches('0').len() > 13 {
            return Err(MoneyError::TooLarge);
        }
        let amount: Decimal = text.parse().map_err(|_| MoneyError::Syntax)?;
        Self::new(amount, currency)
    }

    /// The JSON Schema pattern of a price as [`Money::parse_price`] takes
    /// it: digits, at most twelve before any leading zeros (below
    /// [`Money::MAX_AMOUNT`], 10^12), and a fraction. How many decimals a
    /// currency allows no pattern of one field can say.
    pub const PRICE_PATTERN: &'static str = "^0*[0-9]{1,12}(\\.[0-9]+)?$";

    /// Parses a price: as [`Money::parse`], and not negative.
    ///
    /// # Errors
    /// As [`Money::parse`], plus [`MoneyError::Negative`].
    pub fn parse_price(text: &str, currency: Currency) -> Result<Self, MoneyError> {
        let money = Self::parse(text, currency)?;
        if money.is_negative() {
            return Err(MoneyError::Negative);
        }
        Ok(money)
    }

    /// An amount from a count of minor units (cents): `from_minor(1990, USD)`
    /// is 19.90.
    ///
    /// # Errors
    /// [`MoneyError::TooLarge`] above [`Money::MAX_AMOUNT`].
    pub fn from_minor(units: i64, currency: Currency) -> Result<Self, MoneyError> {
        Self::new(Decimal::new(units, currency.minor_digits()), currency)
    }

    /// The amount as a count of minor units (19.90 USD is 1990).
    pub fn to_minor(self) -> i64 {
        let mut scaled = self.amount;
        scaled.rescale(0);
        let mantissa = self.amount.mantissa();
        // `amount` always has exactly `minor_digits` of scale, so the
        // mantissa is the count of minor units and fits: |amount| <= 1e12.
        debug_assert_eq!(self.amount.scale(), self.currency.minor_digits());
        i64::try_from(mantissa).unwrap_or(if mantissa < 0 { i64::MIN } else { i64::MAX })
    }

    /// The decimal amount.
    pub fn amount(self) -> Decimal {
        self.amount
    }

    /// The currency.
    pub fn currency(self) -> Currency {
        self.currency
    }

    /// Whether the amount is below zero.
    pub fn is_negative(self) -> bool {
        self.amount.is_sign_negative() && !self.amount.is_zero()
    }

    /// Whether the amount is zero.
    pub fn is_zero(self) -> bool {
        self.amount.is_zero()
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch(self.currency, other.currency))
        }
    }

    /// `self + other`.
    ///
    /// # Errors
    /// [`MoneyError::CurrencyMismatch`] or [`MoneyError::Overflow`].
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self
            .amount
            .checked_add(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Self::round(amount, self.currency))
    }

    /// `self - other`.
    ///
    /// # Errors
    /// [`MoneyError::CurrencyMismatch`] or [`MoneyError::Overflow`].
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self
            .amount
            .checked_sub(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Self::round(amount, self.currency))
    }

    /// `self × quantity`, exact.
    ///
    /// # Errors
    /// [`MoneyError::Overflow`].
    pub fn times(self, quantity: u32) -> Result<Money, MoneyError> {
        let amount = self
            .amount
            .checked_mul(Decimal::from(quantity))
            .ok_or(MoneyError::Overflow)?;
        Ok(Self::round(amount, self.currency))
    }

    /// `self × rate`, rounded with [`ROUNDING`] (a tax rate of `0.2`, a
    /// percentage of `0.1`).
    ///
    /// # Errors
    /// [`MoneyError::Overflow`].
    pub fn scale_by(self, rate: Decimal) -> Result<Money, MoneyError> {
        let amount = self.amount.checked_mul(rate).ok_or(MoneyError::Overflow)?;
        Ok(Self::round(amount, self.currency))
    }

    /// The smaller of two amounts of one currency.
    ///
    /// # Errors
    /// [`MoneyError::CurrencyMismatch`].
    pub fn min(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        Ok(if other.amount < self.amount {
            other
        } else {
            self
        })
    }

    /// Compares two amounts of one currency.
    ///
    /// # Errors
    /// [`MoneyError::CurrencyMismatch`].
    pub fn compare(self, other: Money) -> Result<Ordering, MoneyError> {
        self.same_currency(other)?;
        Ok(self.amount.cmp(&other.amount))
    }
}

/// [`ROUNDING`] on integers: `numerator / denominator` rounded half up
/// (midpoint away from zero). The same rule as [`Money::round`], for code
/// that computes in minor units; a property test holds the two equal.
///
/// ```
/// use orders_core::money::div_round;
/// assert_eq!(div_round(125, 10), 13);
/// assert_eq!(div_round(124, 10), 12);
/// assert_eq!(div_round(-125, 10), -13);
/// ```
///
/// # Panics
/// If `denominator` is not positive.
pub fn div_round(numerator: i128, denominator: i128) -> i128 {
    assert!(denominator > 0, "denominator must be positive");
    let quotient = numerator / denominator;
    let remainder = numerator % denominator;
    if remainder.abs() * 2 >= denominator {
        quotient + numerator.signum()
    } else {
        quotient
    }
}

impl fmt::Display for Money {
    /// The amount with exactly the currency's minor digits, no currency:
    /// `19.90`. The containing object carries the currency.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.amount, f)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

impl Serialize for Money {
    /// Serialises as the amount string (`"19.90"`), as the HTTP API shows it; the
    /// object holding it carries `currency`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usd(s: &str) -> Money {
        Money::parse(s, Currency::USD).unwrap()
    }

    #[test]
    fn max_amount_is_one_trillion() {
        assert_eq!(Money::MAX_AMOUNT, Decimal::from(1_000_000_000_000_i64));
    }

    #[test]
    fn parses_plain_decimals_and_pads_to_minor_digits() {
        assert_eq!(usd("19.9").to_string(), "19.90");
        assert_eq!(usd("19").to_string(), "19.00");
        assert_eq!(usd("0.05").to_minor(), 5);
        assert_eq!(usd("-3.50").to_minor(), -350);
        assert_eq!(
            Money::parse("1500", Currency::JPY).unwrap().to_string(),
            "1500"
        );
        assert_eq!(
            Money::parse("1.234", Currency::parse("KWD").unwrap())
                .unwrap()
                .to_minor(),
            1234
        );
    }

    #[test]
    fn refuses_floats_in_disguise_and_garbage() {
        for bad in [
            "1e3", "1E3", "NaN", "nan", "inf", "-inf", "Infinity", "+1", " 1", "1 ", "1,00",
            "0x10", ".5", "5.", "", "-", ".", "1.2.3", "١٢", "１",
        ] {
            assert_eq!(
                Money::parse(bad, Currency::USD),
                Err(MoneyError::Syntax),
                "{bad:?} must be refused"
            );
        }
        assert!(matches!(
            Money::parse("1.999", Currency::USD),
            Err(MoneyError::TooManyDecimals { max: 2, .. })
        ));
        assert!(matches!(
            Money::parse("1.5", Currency::JPY),
            Err(MoneyError::TooManyDecimals { max: 0, .. })
        ));
        assert_eq!(
            Money::parse_price("-0.01", Currency::USD),
            Err(MoneyError::Negative)
        );
        assert!(Money::parse_price("-0", Currency::USD).is_ok());
        assert_eq!(
            Money::parse("1000000000000.01", Currency::USD),
            Err(MoneyError::TooLarge)
        );
        assert_eq!(
            Money::parse(&"9".repeat(5000), Currency::USD),
            Err(MoneyError::TooLarge)
        );
        assert!(Money::parse("1000000000000", Currency::USD).is_ok());
        assert!(Money::parse("0000000000000000000001.00", Currency::USD).is_ok());
    }

    #[test]
    fn rounds_half_up() {
        let r = |units: i64, scale: u32| {
            Money::round(Decimal::new(units, scale), Currency::USD).to_string()
        };
        assert_eq!(r(125, 3), "0.13");
        assert_eq!(r(135, 3), "0.14");
        assert_eq!(r(124, 3), "0.12");
        assert_eq!(r(-125, 3), "-0.13");
        assert_eq!(
            Money::round(Decimal::new(5, 1), Currency::JPY).to_string(),
            "1"
        );
    }

    #[test]
    fn arithmetic_refuses_mixed_currencies() {
        let eur = Money::parse("1", Currency::EUR).unwrap();
        assert_eq!(
            usd("1").checked_add(eur),
            Err(MoneyError::CurrencyMismatch(Currency::USD, Currency::EUR))
        );
        assert!(usd("1").checked_sub(eur).is_err());
        assert!(usd("1").min(eur).is_err());
        assert!(usd("1").compare(eur).is_err());
        assert_eq!(usd("1.10").checked_add(usd("2.20")).unwrap(), usd("3.30"));
        assert_eq!(
            usd("0.10").scale_by(Decimal::new(5, 1)).unwrap(),
            usd("0.05")
        );
        assert_eq!(
            usd("0.01").scale_by(Decimal::new(5, 1)).unwrap(),
            usd("0.01")
        );
    }

    #[test]
    fn serialises_as_amount_string() {
        assert_eq!(serde_json::to_string(&usd("19.9")).unwrap(), "\"19.90\"");
        assert_eq!(format!("{:?}", usd("2")), "2.00 USD");
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = Money::parse(&s, Currency::USD);
            let _ = Money::parse_price(&s, Currency::JPY);
        }

        #[test]
        fn integer_rounding_matches_money_round(units in -1_000_000_000_i64..1_000_000_000, rate in 0_i64..=1_000_000, scale in 0_u32..=6) {
            // units (cents) x rate / 10^scale, rounded both ways.
            let exact = Decimal::new(units, 2) * Decimal::new(rate, scale);
            let by_decimal = Money::round(exact, Currency::USD).to_minor();
            let by_integer = div_round(i128::from(units) * i128::from(rate), 10_i128.pow(scale));
            prop_assert_eq!(i128::from(by_decimal), by_integer);
        }

        #[test]
        fn minor_units_round_trip(units in -100_000_000_000_000_i64..100_000_000_000_000_i64) {
            let m = Money::from_minor(units, Currency::USD).unwrap();
            prop_assert_eq!(m.to_minor(), units);
            prop_assert_eq!(Money::parse(&m.to_string(), Currency::USD).unwrap(), m);
        }
    }
}
