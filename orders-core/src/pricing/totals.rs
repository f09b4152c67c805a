//! The five amounts every priced cart and every order carries.

use serde::Serialize;

use crate::money::{Currency, Money, MoneyError};

/// The totals of a priced cart or an order:
/// `total = subtotal − discount + shipping + tax`, all in one currency.
///
/// It serialises as the API spells them (`subtotal`, `discount_total`,
/// `shipping_total`, `tax_total`, `total`); a type that holds it flattens
/// it, so its JSON keeps those five fields at its own level.
///
/// ```
/// use orders_core::money::{Currency, Money};
/// use orders_core::pricing::Totals;
///
/// let usd = |s| Money::parse(s, Currency::USD).unwrap();
/// let totals = Totals::new(usd("20.00"), usd("2.00"), usd("4.99"), usd("3.60")).unwrap();
/// assert_eq!(totals.total, usd("26.59"));
/// assert!(totals.reconciles());
/// assert_eq!(
///     serde_json::to_string(&totals).unwrap(),
///     r#"{"subtotal":"20.00","discount_total":"2.00","shipping_total":"4.99","tax_total":"3.60","total":"26.59"}"#
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Sum of the line subtotals.
    pub subtotal: Money,
    /// Sum of the line discounts.
    #[serde(rename = "discount_total")]
    pub discount: Money,
    /// Shipping, tax exclusive.
    #[serde(rename = "shipping_total")]
    pub shipping: Money,
    /// All tax, shipping's included.
    #[serde(rename = "tax_total")]
    pub tax: Money,
    /// What the customer pays: `subtotal − discount + shipping + tax`.
    pub total: Money,
}

impl Totals {
    /// The totals of these four parts, `total` worked out from them.
    ///
    /// # Errors
    /// [`MoneyError::CurrencyMismatch`] when the parts are in different
    /// currencies, [`MoneyError::Overflow`] when the total does not fit.
    pub fn new(
        subtotal: Money,
        discount: Money,
        shipping: Money,
        tax: Money,
    ) -> Result<Self, MoneyError> {
        let total = subtotal
            .checked_sub(discount)?
            .checked_add(shipping)?
            .checked_add(tax)?;
        Ok(Self {
            subtotal,
            discount,
            shipping,
            tax,
            total,
        })
    }

    /// Zero everywhere: an empty cart's totals.
    pub fn zero(currency: Currency) -> Self {
        let zero = Money::zero(currency);
        Self {
            subtotal: zero,
            discount: zero,
            shipping: zero,
            tax: zero,
            total: zero,
        }
    }

    /// The currency of the amounts (the subtotal's).
    pub fn currency(&self) -> Currency {
        self.subtotal.currency()
    }

    /// Whether the five amounts share one currency, none is negative and
    /// `total = subtotal − discount + shipping + tax` to the cent.
    pub fn reconciles(&self) -> bool {
        let parts = [self.subtotal, self.discount, self.shipping, self.tax];
        parts.iter().all(|m| !m.is_negative())
            && Self::new(self.subtotal, self.discount, self.shipping, self.tax)
                .is_ok_and(|again| again.total == self.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(s: &str) -> Money {
        Money::parse(s, Currency::USD).unwrap()
    }

    #[test]
    fn totals_that_do_not_add_up_do_not_reconcile() {
        let good = Totals::new(usd("10"), usd("1"), usd("2"), usd("0.90")).unwrap();
        assert_eq!(good.total, usd("11.90"));
        assert!(good.reconciles());
        assert!(Totals::zero(Currency::USD).reconciles());
        let off_by_a_cent = Totals {
            total: usd("11.91"),
            ..good
        };
        assert!(!off_by_a_cent.reconciles());
        let negative = Totals::new(usd("10"), usd("-1"), usd("0"), usd("0")).unwrap();
        assert!(!negative.reconciles());
        let eur = Money::parse("2", Currency::EUR).unwrap();
        assert!(Totals::new(usd("10"), usd("1"), eur, usd("0")).is_err());
        let mixed = Totals {
            shipping: eur,
            ..good
        };
        assert!(!mixed.reconciles());
    }
}
