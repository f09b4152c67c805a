//! Pricing: the one calculator that turns lines, a discount, a shipping
//! method and a destination into amounts that reconcile to the cent.
//!
//! # The computation
//!
//! 1. `line_subtotal = unit_price × quantity` (exact).
//! 2. `discount_total` = the discount's amount off the subtotal (rounded
//!    once, half up, capped at the subtotal), then spread over the lines in
//!    proportion to their subtotals by **largest remainder** in minor units,
//!    so the `line_discount`s add up to `discount_total` exactly.
//! 3. `line_tax = round((line_subtotal − line_discount) × rate)` with the
//!    rate of the destination country and the product's tax class; prices
//!    are tax exclusive and tax is rounded per line.
//! 4. Shipping: the method's price in the cart's currency, free when the
//!    discounted subtotal reaches its threshold, zero for an empty cart. If
//!    the configuration taxes shipping, its tax joins the tax total (on no line).
//! 5. `total = subtotal − discount_total + shipping_total + tax_total`, and
//!    `line_total = line_subtotal − line_discount + line_tax`.
//!
//! Internally amounts are integer minor units (`i128`), which makes every
//! sum exact and the whole computation allocation-light.

mod config;
mod totals;

use serde::Serialize;

use crate::cart::Quantity;
use crate::checkout::Country;
use crate::discount::Discount;
use crate::money::{Currency, Money, MoneyError};

pub use totals::Totals;

pub use config::{
    InvalidShippingMethodCode, InvalidTaxRate, ShippingMethod, ShippingMethodCode, ShippingRate,
    TaxRate, TaxTable,
};

use crate::catalogue::TaxClass;

/// One line to price: what the calculator needs of a product and how many.
#[derive(Debug, Clone, Copy)]
pub struct LineInput<'a> {
    /// Unit price, tax exclusive, in the cart's currency.
    pub unit_price: Money,
    /// How many.
    pub quantity: Quantity,
    /// The product's tax class.
    pub tax_class: &'a TaxClass,
}

/// The amounts of one priced line, in the order of the input lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LineAmounts {
    /// `unit_price × quantity`.
    pub line_subtotal: Money,
    /// This line's share of the order discount.
    pub line_discount: Money,
    /// Tax on `line_subtotal − line_discount`.
    pub line_tax: Money,
    /// `line_subtotal − line_discount + line_tax`.
    pub line_total: Money,
}

/// A priced cart or order: the amounts of every line and the totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriceBreakdown {
    /// The currency of every amount.
    pub currency: Currency,
    /// Per line, in input order.
    pub lines: Vec<LineAmounts>,
    /// Subtotal, discount, shipping, tax (`shipping_tax` included) and total.
    #[serde(flatten)]
    pub totals: Totals,
    /// Tax on shipping (part of `totals.tax`, on no line).
    pub shipping_tax: Money,
}

/// Why a cart could not be priced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PricingError {
    /// A line's price is in another currency than the cart.
    #[error("line {index} is priced in {found}, the cart in {expected}")]
    Currency {
        /// The line's position.
        index: usize,
        /// The cart's currency.
        expected: Currency,
        /// The line's currency.
        found: Currency,
    },
    /// The shipping method has no price in the cart's currency.
    #[error("shipping method {0} is not available in {1}")]
    ShippingUnavailable(String, Currency),
    /// Money arithmetic failed (a fixed discount in another currency).
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// Prices `lines` in `currency` for delivery to `country` by `shipping`,
/// with `discount` applied (already checked by [`Discount::check`]).
///
/// ```
/// use orders_core::{cart::Quantity, catalogue::TaxClass, checkout::Country, money::*, pricing::*};
///
/// let standard = TaxClass::standard();
/// let gb = Country::parse("GB").unwrap();
/// let tax = TaxTable::new().with_rate(gb, standard.clone(), TaxRate::percent("20").unwrap());
/// let shipping = ShippingMethod::new(ShippingMethodCode::parse("standard").unwrap(), "Standard")
///     .with_rate(ShippingRate::new(Money::parse_price("4.99", Currency::GBP).unwrap()));
/// let lines = [LineInput {
///     unit_price: Money::parse_price("10.00", Currency::GBP).unwrap(),
///     quantity: Quantity::new(2).unwrap(),
///     tax_class: &standard,
/// }];
/// let priced = price(Currency::GBP, &lines, None, &shipping, &tax, gb).unwrap();
/// assert_eq!(priced.totals.subtotal.to_string(), "20.00");
/// assert_eq!(priced.totals.tax.to_string(), "4.00");
/// assert_eq!(priced.totals.total.to_string(), "28.99");
/// ```
///
/// # Errors
/// [`PricingError`] for a line or discount in another currency.
pub fn price(
    currency: Currency,
    lines: &[LineInput<'_>],
    discount: Option<&Discount>,
    shipping: &ShippingMethod,
    tax: &TaxTable,
    country: Country,
) -> Result<PriceBreakdown, PricingError> {
    let money = |units: i128| Money::from_minor_exact(units, currency);

    let mut subtotals = Vec::with_capacity(lines.len());
    let mut subtotal: i128 = 0;
    for (index, line) in lines.iter().enumerate() {
        if line.unit_price.currency() != currency {
            return Err(PricingError::Currency {
                index,
                expected: currency,
                found: line.unit_price.currency(),
            });
        }
        let units = i128::from(line.unit_price.to_minor()) * i128::from(line.quantity.get());
        subtotals.push(units);
        subtotal += units;
    }

    let discount_total: i128 = match discount {
        Some(discount) if subtotal > 0 => {
            i128::from(discount.amount_off(money(subtotal))?.to_minor())
        }
        _ => 0,
    };
    let discounts = allocate(discount_total, &subtotals);

    let mut out = Vec::with_capacity(lines.len());
    let mut tax_total: i128 = 0;
    // Most carts use one or two tax classes: remember the last lookup.
    let mut last_rate: Option<(&TaxClass, TaxRate)> = None;
    for ((line, &line_subtotal), &line_discount) in lines.iter().zip(&subtotals).zip(&discounts) {
        let net = line_subtotal - line_discount;
        let rate = match last_rate {
            Some((class, rate)) if class == line.tax_class => rate,
            _ => {
                let rate = tax.tax_rate(country, line.tax_class);
                last_rate = Some((line.tax_class, rate));
                rate
            }
        };
        let line_tax = rate.tax_on(net);
        tax_total += line_tax;
        out.push(LineAmounts {
            line_subtotal: money(line_subtotal),
            line_discount: money(line_discount),
            line_tax: money(line_tax),
            line_total: money(net + line_tax),
        });
    }

    let shipping_price = shipping
        .price_for(currency)
        .ok_or_else(|| PricingError::ShippingUnavailable(shipping.code.to_string(), currency))?;
    let discounted = subtotal - discount_total;
    let shipping_total: i128 = if lines.is_empty()
        || shipping
            .free_above_for(currency)
            .is_some_and(|threshold| discounted >= i128::from(threshold.to_minor()))
    {
        0
    } else {
        i128::from(shipping_price.to_minor())
    };
    let shipping_tax = match tax.shipping_class() {
        Some(class) => tax.tax_rate(country, class).tax_on(shipping_total),
        None => 0,
    };
    tax_total += shipping_tax;

    Ok(PriceBreakdown {
        currency,
        lines: out,
        totals: Totals {
            subtotal: money(subtotal),
            discount: money(discount_total),
            shipping: money(shipping_total),
            tax: money(tax_total),
            total: money(discounted + shipping_total + tax_total),
        },
        shipping_tax: money(shipping_tax),
    })
}

/// Splits `total` minor units over `weights` in proportion, by largest
/// remainder: every share is the floor of its exact share, and the units
/// left over go one each to the largest remainders (earlier lines first on
/// ties). The shares always add up to `total` exactly, and no share exceeds
/// its weight when `total` does not exceed the sum of weights.
///
/// ```
/// # use orders_core::pricing::allocate;
/// assert_eq!(allocate(100, &[1, 1, 1]), vec![34, 33, 33]);
/// assert_eq!(allocate(10, &[500, 300, 200]), vec![5, 3, 2]);
/// assert_eq!(allocate(0, &[5, 5]), vec![0, 0]);
/// ```
pub fn allocate(total: i128, weights: &[i128]) -> Vec<i128> {
    let sum: i128 = weights.iter().sum();
    if total == 0 || sum == 0 {
        return vec![0; weights.len()];
    }
    let mut shares = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    let mut given = 0;
    for (index, &weight) in weights.iter().enumerate() {
        let exact = total * weight;
        shares.push(exact / sum);
        given += exact / sum;
        remainders.push((exact % sum, index));
    }
    let left = usize::try_from(total - given).unwrap_or(0);
    if left > 0 {
        // Largest remainder first; ties go to the earlier line.
        remainders.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(_, index) in remainders.iter().take(left) {
            shares[index] += 1;
        }
    }
    shares
}

#[cfg(test)]
mod tests;
