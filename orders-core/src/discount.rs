//! Discount codes: percent or fixed amount off the subtotal, with a minimum
//! subtotal, an expiry and a maximum number of uses.

use std::fmt;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::{Currency, Money, MoneyError};

mod rules;

pub use rules::{Discount, DiscountParts, InvalidStoredDiscount};

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
    /// Parses a code (surrounding whitespace ignored, upper-cased).
    ///
    /// # Errors
    /// [`InvalidDiscountCode`].
    pub fn parse(text: &str) -> Result<Self, InvalidDiscountCode> {
        let text = text.trim();
        let ok = (1..=64).contains(&text.len())
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
    /// The cart's subtotal is below the code's minimum.
    #[error("this code needs a subtotal of at least {0}")]
    BelowMinimum(String),
    /// A fixed or minimum amount in another currency than the cart.
    #[error("this code is not valid for {0}")]
    Currency(Currency),
}

/// A new discount code as submitted (the JSON `POST /admin/discounts`
/// body and the admin panel's form alike). Missing fields deserialise as
/// `None`; [`validate`](Self::validate) checks every field and reports every
/// bad one at once, by field name.
///
/// ```
/// use orders_core::discount::NewDiscountForm;
/// use orders_core::money::Currency;
///
/// let now = "2026-12-06T12:00:00Z".parse().unwrap();
/// let errors = NewDiscountForm {
///     code: Some("bad code!".into()),
///     kind: Some("half".into()),
///     max_uses: Some("0".into()),
///     expires_at: Some("tomorrow".into()),
///     ..Default::default()
/// }
/// .validate(Currency::USD, now)
/// .unwrap_err();
/// let fields: Vec<&str> = errors.iter().map(|(path, _)| path).collect();
/// assert_eq!(fields, ["code", "expires_at", "kind", "max_uses", "value"]);
///
/// let ten = NewDiscountForm {
///     code: Some("TEN".into()),
///     kind: Some("percent".into()),
///     value: Some("10".into()),
///     ..Default::default()
/// }
/// .validate(Currency::USD, now)
/// .unwrap();
/// assert_eq!(ten.code().as_str(), "TEN");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct NewDiscountForm {
    /// The code customers type. Required.
    pub code: Option<String>,
    /// `percent` or `fixed`. Required.
    pub kind: Option<String>,
    /// `"10"` with `percent` is 10 %; an amount with `fixed`. Required.
    pub value: Option<String>,
    /// The currency of a fixed `value` and of `min_subtotal`; default: the
    /// store's.
    pub currency: Option<String>,
    /// The smallest subtotal it applies to.
    pub min_subtotal: Option<String>,
    /// How many orders may use it, at least 1; none is unlimited.
    pub max_uses: Option<crate::catalogue::WholeNumber>,
    /// When it stops applying, RFC 3339.
    pub expires_at: Option<String>,
}

impl NewDiscountForm {
    /// The discount the form describes, created `now`; amounts are in
    /// `currency`, or `default_currency` when the form names none. Blank
    /// optional fields count as absent.
    ///
    /// # Errors
    /// [`ValidationErrors`] keyed by field name, every bad field at once.
    pub fn validate(
        self,
        default_currency: Currency,
        now: DateTime<Utc>,
    ) -> Result<Discount, crate::validation::ValidationErrors> {
        use crate::checkout::REQUIRED;
        let mut errors = crate::validation::ValidationErrors::new();
        let present = |text: Option<String>| text.filter(|t| !t.trim().is_empty());
        let code = match present(self.code) {
            Some(text) => errors.check("code", DiscountCode::parse(text.trim())),
            None => {
                errors.add("code", REQUIRED);
                None
            }
        };
        let currency = match present(self.currency) {
            Some(text) => errors.check("currency", Currency::parse(text.trim())),
            None => Some(default_currency),
        };
        // With a bad currency, still report a malformed amount.
        let currency = currency.unwrap_or(default_currency);
        let value = present(self.value);
        let kind = match (present(self.kind).as_deref().map(str::trim), value) {
            (Some(kind), None) => {
                errors.add("value", REQUIRED);
                if !matches!(kind, "percent" | "fixed") {
                    errors.add("kind", "must be one of: percent, fixed");
                }
                None
            }
            (Some("percent"), Some(value)) => {
                errors.check("value", DiscountKind::percent(value.trim()))
            }
            (Some("fixed"), Some(value)) => {
                errors.check("value", DiscountKind::fixed(value.trim(), currency))
            }
            (Some(_), Some(_)) => {
                errors.add("kind", "must be one of: percent, fixed");
                None
            }
            (None, value) => {
                errors.add("kind", REQUIRED);
                if value.is_none() {
                    errors.add("value", REQUIRED);
                }
                None
            }
        };
        let min_subtotal = present(self.min_subtotal).and_then(|text| {
            errors.check("min_subtotal", Money::parse_price(text.trim(), currency))
        });
        let max_uses = self.max_uses.and_then(|value| {
            let n = errors.check("max_uses", value.value())??;
            errors.check(
                "max_uses",
                u32::try_from(n)
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or("must be a positive integer"),
            )
        });
        let expires_at = present(self.expires_at).and_then(|text| {
            errors.check(
                "expires_at",
                DateTime::parse_from_rfc3339(text.trim())
                    .map(|at| at.with_timezone(&Utc))
                    .map_err(|_| "must be an RFC 3339 date-time"),
            )
        });
        let (Some(code), Some(kind)) = (code, kind) else {
            return Err(errors);
        };
        let mut discount = Discount::new(code, kind, now);
        discount.min_subtotal = min_subtotal;
        discount.max_uses = max_uses;
        discount.expires_at = expires_at;
        errors.into_result(discount)
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;
    use chrono::Duration;

    fn usd(s: &str) -> Money {
        Money::parse(s, Currency::USD).unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
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
            expires_at: None,
            created_at: now,
        };
        let ten = DiscountKind::percent("10").unwrap();
        assert!(Discount::restore(parts(ten, Some(2), 2)).is_ok());
        assert_eq!(
            Discount::restore(parts(ten, Some(0), 0)),
            Err(InvalidStoredDiscount::NoUses)
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

    #[test]
    fn a_new_discount_form_reports_every_field_at_once() {
        let now = at("2026-12-01T00:00:00Z");
        let form = |f: fn(&mut NewDiscountForm)| {
            let mut form = NewDiscountForm {
                code: Some("SAVE5".into()),
                kind: Some("fixed".into()),
                value: Some("5.00".into()),
                ..NewDiscountForm::default()
            };
            f(&mut form);
            form.validate(Currency::USD, now)
        };
        let ok = form(|_| {}).unwrap();
        assert_eq!(ok.kind, DiscountKind::fixed("5.00", Currency::USD).unwrap());
        assert_eq!(
            (ok.max_uses, ok.expires_at, ok.min_subtotal),
            (None, None, None)
        );
        // Blank optional fields are absent; a bad currency still lets the
        // amount be judged.
        let blank = form(|f| {
            f.min_subtotal = Some(" ".into());
            f.expires_at = Some(String::new());
        });
        assert!(blank.is_ok());
        let errors = form(|f| {
            f.currency = Some("XX".into());
            f.value = Some("5.001".into());
            f.max_uses = Some("abc".into());
            f.min_subtotal = Some("-1".into());
        })
        .unwrap_err();
        for field in ["currency", "value", "max_uses", "min_subtotal"] {
            assert!(errors.contains(field), "{field}: {errors}");
        }
        let errors = form(|f| f.max_uses = Some(0_i64.into())).unwrap_err();
        assert!(errors.contains("max_uses"));
        let limited = form(|f| {
            f.max_uses = Some(3_i64.into());
            f.expires_at = Some("2027-01-01T00:00:00Z".into());
        })
        .unwrap();
        assert_eq!(limited.max_uses, Some(3));
        assert_eq!(limited.expires_at, Some(at("2027-01-01T00:00:00Z")));
    }
}
