//! What a store configures for pricing: tax rates and shipping methods.

use std::collections::HashMap;
use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::catalogue::TaxClass;
use crate::checkout::Country;
use crate::money::{Currency, Money};

/// A tax rate as a fraction: `0.2` is 20 %. Between 0 and 1 inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct TaxRate(Decimal);

/// The rate is outside 0 to 100 % or not a plain decimal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a tax rate must be a percentage from 0 to 100 with at most 4 decimals")]
pub struct InvalidTaxRate;

impl TaxRate {
    /// A rate from a percentage string: `"20"` is 20 %, `"8.875"` is 8.875 %.
    ///
    /// # Errors
    /// [`InvalidTaxRate`] outside 0 to 100 or with more than 4 decimals.
    pub fn percent(text: &str) -> Result<Self, InvalidTaxRate> {
        let plain = !text.is_empty()
            && text.len() <= 12
            && text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && text.bytes().filter(|b| *b == b'.').count() <= 1
            && !text.starts_with('.')
            && !text.ends_with('.');
        if !plain {
            return Err(InvalidTaxRate);
        }
        let pct: Decimal = text.parse().map_err(|_| InvalidTaxRate)?;
        if pct > Decimal::ONE_HUNDRED || pct.scale() > 4 {
            return Err(InvalidTaxRate);
        }
        Ok(Self(pct / Decimal::ONE_HUNDRED))
    }

    /// The rate as a fraction.
    pub fn fraction(self) -> Decimal {
        self.0
    }

    /// Tax in minor units on `net` minor units, rounded by the crate's one
    /// rule ([`crate::money::div_round`]), in integer arithmetic.
    pub fn tax_on(self, net: i128) -> i128 {
        if self.0.is_zero() || net == 0 {
            return 0;
        }
        let denominator = 10_i128.pow(self.0.scale());
        crate::money::div_round(net * self.0.mantissa(), denominator)
    }
}

/// Tax rates by destination country and tax class. A pair with no rate is
/// taxed at zero.
///
/// Kept per country as a short list of classes, so a lookup borrows the
/// class name instead of building a key: pricing looks up one rate per line.
#[derive(Debug, Clone, Default)]
pub struct TaxTable {
    rates: HashMap<Country, Vec<(TaxClass, TaxRate)>>,
    shipping: Option<TaxClass>,
}

impl TaxTable {
    /// No rates: everything untaxed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the rate of `class` in `country`.
    #[must_use]
    pub fn with_rate(mut self, country: Country, class: TaxClass, rate: TaxRate) -> Self {
        let classes = self.rates.entry(country).or_default();
        classes.retain(|(c, _)| *c != class);
        classes.push((class, rate));
        self
    }

    /// Taxes shipping at the rate of `class` in the destination (untaxed by
    /// default).
    #[must_use]
    pub fn with_shipping_taxed_as(mut self, class: TaxClass) -> Self {
        self.shipping = Some(class);
        self
    }

    /// The rate, as a fraction, of `class` in `country` (zero when unset).
    pub fn rate(&self, country: Country, class: &TaxClass) -> Decimal {
        self.tax_rate(country, class).fraction()
    }

    /// The rate of `class` in `country` (zero when unset).
    pub fn tax_rate(&self, country: Country, class: &TaxClass) -> TaxRate {
        self.rates
            .get(&country)
            .and_then(|classes| classes.iter().find(|(c, _)| c == class))
            .map_or(TaxRate::default(), |(_, rate)| *rate)
    }

    /// The tax class shipping is taxed as, if it is taxed.
    pub fn shipping_class(&self) -> Option<&TaxClass> {
        self.shipping.as_ref()
    }
}

/// A shipping method's code as the checkout form names it (`standard`,
/// `express`): 1 to 32 characters of `a-z`, `0-9`, `_` and `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ShippingMethodCode(String);

/// The code text is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to 32 characters of a-z, 0-9, '_' or '-'")]
pub struct InvalidShippingMethodCode;

impl ShippingMethodCode {
    /// Parses a code.
    ///
    /// # Errors
    /// [`InvalidShippingMethodCode`].
    pub fn parse(text: &str) -> Result<Self, InvalidShippingMethodCode> {
        let ok = (1..=32).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-'));
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(InvalidShippingMethodCode)
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ShippingMethodCode {
    type Error = InvalidShippingMethodCode;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ShippingMethodCode> for String {
    fn from(value: ShippingMethodCode) -> Self {
        value.0
    }
}

impl fmt::Display for ShippingMethodCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A shipping method's price in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShippingRate {
    /// The price, tax exclusive.
    pub price: Money,
    /// Shipping is free when the discounted subtotal reaches this.
    pub free_above: Option<Money>,
}

impl ShippingRate {
    /// A flat price, never free.
    pub fn new(price: Money) -> Self {
        Self {
            price,
            free_above: None,
        }
    }

    /// Free from `threshold` up (in the price's currency).
    #[must_use]
    pub fn free_above(mut self, threshold: Money) -> Self {
        self.free_above = Some(threshold);
        self
    }
}

/// A way of shipping an order, priced per currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippingMethod {
    /// The code the checkout form names.
    pub code: ShippingMethodCode,
    /// The name customers see.
    pub name: String,
    rates: Vec<ShippingRate>,
}

impl ShippingMethod {
    /// A method with no prices yet.
    pub fn new(code: ShippingMethodCode, name: impl Into<String>) -> Self {
        Self {
            code,
            name: name.into(),
            rates: Vec::new(),
        }
    }

    /// Adds (or replaces) its price in the rate's currency.
    #[must_use]
    pub fn with_rate(mut self, rate: ShippingRate) -> Self {
        self.rates
            .retain(|r| r.price.currency() != rate.price.currency());
        self.rates.push(rate);
        self
    }

    fn rate(&self, currency: Currency) -> Option<&ShippingRate> {
        self.rates.iter().find(|r| r.price.currency() == currency)
    }

    /// Its price in `currency`, if it ships in that currency.
    pub fn price_for(&self, currency: Currency) -> Option<Money> {
        self.rate(currency).map(|r| r.price)
    }

    /// Its free-shipping threshold in `currency`, if any.
    pub fn free_above_for(&self, currency: Currency) -> Option<Money> {
        self.rate(currency).and_then(|r| r.free_above)
    }

    /// Every currency it is priced in.
    pub fn currencies(&self) -> impl Iterator<Item = Currency> + '_ {
        self.rates.iter().map(|r| r.price.currency())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tax_rate_parsing() {
        assert_eq!(
            TaxRate::percent("20").unwrap().fraction(),
            Decimal::new(2, 1)
        );
        assert_eq!(
            TaxRate::percent("8.875").unwrap().fraction(),
            Decimal::new(8875, 5)
        );
        assert!(TaxRate::percent("0").is_ok());
        for bad in ["", "-1", "100.5", "1e1", "NaN", "5.12345", "."] {
            assert_eq!(TaxRate::percent(bad), Err(InvalidTaxRate), "{bad:?}");
        }
    }

    #[test]
    fn shipping_rates_by_currency() {
        let usd = Money::parse_price("5", Currency::USD).unwrap();
        let method =
            ShippingMethod::new(ShippingMethodCode::parse("standard").unwrap(), "Standard")
                .with_rate(ShippingRate::new(usd))
                .with_rate(
                    ShippingRate::new(usd)
                        .free_above(Money::parse_price("50", Currency::USD).unwrap()),
                );
        assert_eq!(method.currencies().count(), 1);
        assert_eq!(method.price_for(Currency::USD), Some(usd));
        assert!(method.free_above_for(Currency::USD).is_some());
        assert_eq!(method.price_for(Currency::EUR), None);
        assert!(ShippingMethodCode::parse("Express").is_err());
    }
}
