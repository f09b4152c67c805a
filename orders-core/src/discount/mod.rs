//! Discount codes: percent or fixed amount off the subtotal, with a minimum
//! subtotal, an expiry, a maximum number of uses in all and per customer,
//! and a switch staff use to disable a code.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

mod form;

pub use form::{DiscountSwitchForm, NewDiscountForm};

use crate::money::{Currency, Money, MoneyError};

mod rules;

pub use rules::{Discount, DiscountParts, InvalidStoredDiscount};

/// The prefix of a guest's customer id (`guest:…`): a guest has no
/// account, so its uses of a code are counted by the order's email.
pub const GUEST_PREFIX: &str = "guest:";

/// Whose use of a code an order is, for `max_uses_per_customer`: a customer
/// by customer id (`customer:ID`), a guest (an id starting with
/// [`GUEST_PREFIX`]) by the order's email, lowercased (`email:ADDRESS`).
/// Every store counts uses under this key.
///
/// ```
/// use orders_core::discount::use_key;
/// use orders_core::ids::CustomerId;
///
/// let ada = CustomerId::parse("c1").unwrap();
/// assert_eq!(use_key(&ada, "Ada@Example.com"), "customer:c1");
/// let guest = CustomerId::parse("guest:7f3a").unwrap();
/// assert_eq!(use_key(&guest, "Ada@Example.com"), "email:ada@example.com");
/// ```
pub fn use_key(customer: &crate::ids::CustomerId, email: &str) -> String {
    if customer.as_str().starts_with(GUEST_PREFIX) {
        format!("email:{}", email.to_lowercase())
    } else {
        format!("customer:{}", customer.as_str())
    }
}

/// A discount code as customers type it: 1 to 64 ASCII letters, digits, `-`
/// and `_`. Codes are case-insensitive: stored and compared upper case.
///
/// ```
/// use orders_core::discount::DiscountCode;
/// assert_eq!(DiscountCode::parse(" welcome10 ").unwrap().as_str(), "WELCOME10");
/// assert!(DiscountCode::parse("no spaces").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DiscountCode(String);

/// The code text is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to 64 characters of letters, digits, '-' or '_'")]
pub struct InvalidDiscountCode;

impl DiscountCode {
    /// The most characters a code has.
    pub const MAX_CHARS: usize = 64;

    /// The JSON Schema pattern of a code's characters.
    pub const PATTERN: &'static str = "^[A-Za-z0-9_-]+$";

    /// Parses a code (surrounding whitespace ignored, upper-cased).
    ///
    /// # Errors
    /// [`InvalidDiscountCode`].
    pub fn parse(text: &str) -> Result<Self, InvalidDiscountCode> {
        let text = text.trim();
        let ok = (1..=Self::MAX_CHARS).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
        if ok {
            Ok(Self(text.to_ascii_uppercase()))
        } else {
            Err(InvalidDiscountCode)
        }
    }

    /// The code, upper case.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DiscountCode {
    type Error = InvalidDiscountCode;
    fn try_from(value: String) -> Result<Self, InvalidDiscountCode> {
        Self::parse(&value)
    }
}

impl From<DiscountCode> for String {
    fn from(value: DiscountCode) -> Self {
        value.0
    }
}

impl fmt::Display for DiscountCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How much a discount takes off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum DiscountKind {
    /// A percentage of the subtotal, more than 0 and at most 100 (`10` is 10 %).
    Percent(Decimal),
    /// A fixed amount, never more than the subtotal.
    Fixed(Money),
}

/// Why a discount definition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidDiscount {
    /// A percentage outside (0, 100] or with more than 4 decimals.
    #[error("a percentage must be more than 0 and at most 100, with at most 4 decimals")]
    Percent,
    /// A fixed amount that is zero or negative.
    #[error("must be more than zero")]
    NotPositive,
    /// An amount that does not parse.
    #[error(transparent)]
    Money(#[from] MoneyError),
}

impl DiscountKind {
    /// The names of the kinds, as `kind` takes them.
    pub const NAMES: [&'static str; 2] = ["percent", "fixed"];

    /// A percentage discount: `"10"` is 10 %.
    ///
    /// # Errors
    /// [`InvalidDiscount::Percent`] outside (0, 100] or with more than 4 decimals.
    pub fn percent(value: &str) -> Result<Self, InvalidDiscount> {
        // Parsed as money of a 4-digit currency would be wrong; parse plainly
        // with the same refusal of exponents and garbage.
        let plain = value.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && value.bytes().filter(|b| *b == b'.').count() <= 1
            && !value.starts_with('.')
            && !value.ends_with('.')
            && value.len() <= 12;
        let pct: Decimal = if plain {
            value.parse().map_err(|_| InvalidDiscount::Percent)?
        } else {
            return Err(InvalidDiscount::Percent);
        };
        if pct <= Decimal::ZERO || pct > Decimal::ONE_HUNDRED || pct.scale() > 4 {
            return Err(InvalidDiscount::Percent);
        }
        Ok(Self::Percent(pct.normalize()))
    }

    /// A fixed-amount discount in `currency`.
    ///
    /// # Errors
    /// [`InvalidDiscount::Money`] or [`InvalidDiscount::NotPositive`].
    pub fn fixed(value: &str, currency: Currency) -> Result<Self, InvalidDiscount> {
        let amount = Money::parse_price(value, currency)?;
        if amount.is_zero() {
            return Err(InvalidDiscount::NotPositive);
        }
        Ok(Self::Fixed(amount))
    }
}

/// Why a code does not apply to a cart now. Shown to the customer on the
/// `code` field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiscountRejection {
    /// No such code.
    #[error("unknown discount code")]
    Unknown,
    /// Past its expiry.
    #[error("this code has expired")]
    Expired,
    /// Every use was taken.
    #[error("this code has been used up")]
    UsedUp,
    /// This customer has used the code as many times as it allows.
    #[error("you have already used this code as many times as it allows")]
    UsedUpByCustomer,
    /// Staff disabled the code.
    #[error("this code is not available")]
    Disabled,
    /// The cart's subtotal is below the code's minimum.
    #[error("this code needs a subtotal of at least {0}")]
    BelowMinimum(String),
    /// A fixed or minimum amount in another currency than the cart.
    #[error("this code is not valid for {0}")]
    Currency(Currency),
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;
    use chrono::{Duration, Utc};

    fn usd(s: &str) -> Money {
        Money::parse(s, Currency::USD).unwrap()
    }

    #[test]
    fn percent_parsing() {
        assert_eq!(
            DiscountKind::percent("10"),
            Ok(DiscountKind::Percent(Decimal::TEN))
        );
        assert!(DiscountKind::percent("100").is_ok());
        assert!(DiscountKind::percent("12.5").is_ok());
        for bad in [
            "0", "100.01", "-5", "1e1", "NaN", "", ".5", "5.", "1.23456", "abc",
        ] {
            assert_eq!(
                DiscountKind::percent(bad),
                Err(InvalidDiscount::Percent),
                "{bad:?}"
            );
        }
        assert_eq!(
            DiscountKind::fixed("0", Currency::USD),
            Err(InvalidDiscount::NotPositive)
        );
        assert!(DiscountKind::fixed("-1", Currency::USD).is_err());
    }

    #[test]
    fn rules_expiry_uses_minimum_currency() {
        let now = Utc::now();
        let code = DiscountCode::parse("X").unwrap();
        let mut d = Discount::new(code, DiscountKind::percent("10").unwrap(), now);
        assert_eq!(d.check(usd("5"), now), Ok(()));
        d.min_subtotal = Some(usd("10"));
        assert_eq!(
            d.check(usd("9.99"), now),
            Err(DiscountRejection::BelowMinimum("10.00".into()))
        );
        assert_eq!(d.check(usd("10"), now), Ok(()));
        d.expires_at = Some(now);
        assert_eq!(d.check(usd("10"), now), Err(DiscountRejection::Expired));
        d.expires_at = Some(now + Duration::days(1));
        d.max_uses = Some(2);
        d.uses = 2;
        assert_eq!(d.check(usd("10"), now), Err(DiscountRejection::UsedUp));
        d.uses = 1;
        let eur = Money::parse("50", Currency::EUR).unwrap();
        assert_eq!(
            d.check(eur, now),
            Err(DiscountRejection::Currency(Currency::EUR))
        );
    }

    #[test]
    fn uses_are_counted_up_to_the_maximum_and_restore_checks() {
        let now = Utc::now();
        let mut once = Discount::new(
            DiscountCode::parse("ONCE").unwrap(),
            DiscountKind::percent("10").unwrap(),
            now,
        )
        .with_max_uses(NonZeroU32::MIN);
        assert_eq!(once.record_use(), Ok(()));
        assert_eq!(once.record_use(), Err(DiscountRejection::UsedUp));
        assert_eq!(once.uses(), 1);
        let parts = |kind, max_uses, uses| DiscountParts {
            code: DiscountCode::parse("X").unwrap(),
            kind,
            min_subtotal: None,
            max_uses,
            uses,
            max_uses_per_customer: None,
            active: true,
            expires_at: None,
            created_at: now,
        };
        let ten = DiscountKind::percent("10").unwrap();
        assert!(Discount::restore(parts(ten, Some(2), 2)).is_ok());
        assert_eq!(
            Discount::restore(parts(ten, Some(0), 0)),
            Err(InvalidStoredDiscount::NoUses)
        );
        assert_eq!(
            Discount::restore(DiscountParts {
                max_uses_per_customer: Some(0),
                ..parts(ten, None, 0)
            }),
            Err(InvalidStoredDiscount::NoUsesPerCustomer)
        );
        assert!(Discount::restore(parts(DiscountKind::Percent(Decimal::ZERO), None, 0)).is_err());
        assert!(Discount::restore(parts(DiscountKind::Fixed(usd("0")), None, 0)).is_err());
        let negative_minimum = DiscountParts {
            min_subtotal: Some(usd("-1")),
            ..parts(ten, None, 0)
        };
        assert_eq!(
            Discount::restore(negative_minimum),
            Err(InvalidStoredDiscount::NegativeMinimum)
        );
    }

    #[test]
    fn a_disabled_code_applies_to_nothing_until_enabled() {
        let now = Utc::now();
        let code = DiscountCode::parse("OFF").unwrap();
        let on = Discount::new(code, DiscountKind::percent("10").unwrap(), now)
            .with_max_uses_per_customer(NonZeroU32::MIN);
        assert_eq!(on.max_uses_per_customer(), Some(1));
        assert!(on.active());
        let off = on.clone().with_active(false);
        assert_eq!(off.check(usd("50"), now), Err(DiscountRejection::Disabled));
        assert_eq!(off.with_active(true).check(usd("50"), now), Ok(()));
    }

    #[test]
    fn uses_are_keyed_by_customer_or_by_a_guests_email() {
        let ada = crate::ids::CustomerId::parse("ada").unwrap();
        let guest = crate::ids::CustomerId::parse("guest:1").unwrap();
        let other_guest = crate::ids::CustomerId::parse("guest:2").unwrap();
        assert_eq!(use_key(&ada, "A@x.io"), use_key(&ada, "b@y.io"));
        assert_eq!(use_key(&guest, "A@X.io"), use_key(&other_guest, "a@x.io"));
        assert_ne!(use_key(&guest, "a@x.io"), use_key(&guest, "b@x.io"));
        // A customer whose id looks like an email key is still a customer.
        let tricky = crate::ids::CustomerId::parse("email:a@x.io").unwrap();
        assert_ne!(use_key(&tricky, "z@z.io"), use_key(&guest, "a@x.io"));
    }

    #[test]
    fn amount_off_is_capped_and_rounded() {
        let now = Utc::now();
        let code = DiscountCode::parse("X").unwrap();
        let fixed = Discount::new(
            code.clone(),
            DiscountKind::fixed("20", Currency::USD).unwrap(),
            now,
        );
        assert_eq!(fixed.amount_off(usd("15")).unwrap(), usd("15"));
        assert_eq!(fixed.amount_off(usd("25")).unwrap(), usd("20"));
        let pct = Discount::new(code, DiscountKind::percent("12.5").unwrap(), now);
        // 12.5 % of 0.10 is 0.0125 -> 0.01 half-up
        assert_eq!(pct.amount_off(usd("0.10")).unwrap(), usd("0.01"));
        assert_eq!(pct.amount_off(usd("0.20")).unwrap(), usd("0.03"));
    }

    #[test]
    fn serialises_kind_and_value() {
        let d = Discount::new(
            DiscountCode::parse("x").unwrap(),
            DiscountKind::percent("10").unwrap(),
            Utc::now(),
        );
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["code"], "X");
        assert_eq!(json["kind"], "percent");
        assert_eq!(json["value"], "10");
    }
}
