use chrono::Utc;
use proptest::prelude::*;
use rust_decimal::Decimal;

use super::*;
use crate::discount::{DiscountCode, DiscountKind};

fn gbp(s: &str) -> Money {
    Money::parse(s, Currency::GBP).unwrap()
}

fn gb() -> Country {
    Country::parse("GB").unwrap()
}

fn method(price: &str, free_above: Option<&str>) -> ShippingMethod {
    let mut rate = ShippingRate::new(gbp(price));
    if let Some(t) = free_above {
        rate = rate.free_above(gbp(t));
    }
    ShippingMethod::new(ShippingMethodCode::parse("standard").unwrap(), "Standard").with_rate(rate)
}

fn line<'a>(price: &str, q: u32, class: &'a TaxClass) -> LineInput<'a> {
    LineInput {
        unit_price: gbp(price),
        quantity: Quantity::new(q).unwrap(),
        tax_class: class,
    }
}

fn percent(p: &str) -> Discount {
    Discount::new(
        DiscountCode::parse("P").unwrap(),
        DiscountKind::percent(p).unwrap(),
        Utc::now(),
    )
}

#[test]
fn worked_example_with_discount_tax_and_shipping_tax() {
    let standard = TaxClass::standard();
    let reduced = TaxClass::parse("reduced").unwrap();
    let tax = TaxTable::new()
        .with_rate(gb(), standard.clone(), TaxRate::percent("20").unwrap())
        .with_rate(gb(), reduced.clone(), TaxRate::percent("5").unwrap())
        .with_shipping_taxed_as(standard.clone());
    let lines = [line("10.00", 1, &standard), line("3.33", 3, &reduced)];
    let p = price(
        Currency::GBP,
        &lines,
        Some(&percent("10")),
        &method("4.99", None),
        &tax,
        gb(),
    )
    .unwrap();
    // subtotal 10.00 + 9.99 = 19.99; 10 % = 1.999 -> 2.00, split 10.00:9.99
    assert_eq!(p.totals.subtotal, gbp("19.99"));
    assert_eq!(p.totals.discount, gbp("2.00"));
    assert_eq!(p.lines[0].line_discount, gbp("1.00"));
    assert_eq!(p.lines[1].line_discount, gbp("1.00"));
    // tax: (10.00-1.00)*0.2 = 1.80; (9.99-1.00)*0.05 = 0.4495 -> 0.45
    assert_eq!(p.lines[0].line_tax, gbp("1.80"));
    assert_eq!(p.lines[1].line_tax, gbp("0.45"));
    // shipping 4.99 taxed at 20 % = 0.998 -> 1.00
    assert_eq!(p.shipping_tax, gbp("1.00"));
    assert_eq!(p.totals.tax, gbp("3.25"));
    assert_eq!(p.totals.total, gbp("26.23"));
    assert_eq!(p.lines[0].line_total, gbp("10.80"));
}

#[test]
fn free_shipping_threshold_applies_to_discounted_subtotal() {
    let c = TaxClass::standard();
    let tax = TaxTable::new();
    let m = method("4.99", Some("50.00"));
    let p = price(Currency::GBP, &[line("50.00", 1, &c)], None, &m, &tax, gb()).unwrap();
    assert!(p.totals.shipping.is_zero());
    let p = price(
        Currency::GBP,
        &[line("50.00", 1, &c)],
        Some(&percent("10")),
        &m,
        &tax,
        gb(),
    )
    .unwrap();
    assert_eq!(p.totals.shipping, gbp("4.99"));
}

#[test]
fn empty_cart_costs_nothing() {
    let p = price(
        Currency::GBP,
        &[],
        Some(&percent("10")),
        &method("4.99", None),
        &TaxTable::new(),
        gb(),
    )
    .unwrap();
    assert!(p.totals.total.is_zero() && p.totals.shipping.is_zero() && p.lines.is_empty());
}

#[test]
fn fixed_discount_never_exceeds_subtotal() {
    let c = TaxClass::standard();
    let d = Discount::new(
        DiscountCode::parse("F").unwrap(),
        DiscountKind::fixed("100", Currency::GBP).unwrap(),
        Utc::now(),
    );
    let p = price(
        Currency::GBP,
        &[line("3.00", 1, &c)],
        Some(&d),
        &method("1", None),
        &TaxTable::new(),
        gb(),
    )
    .unwrap();
    assert_eq!(p.totals.discount, gbp("3.00"));
    assert_eq!(p.totals.total, gbp("1.00"));
}

#[test]
fn refuses_lines_in_another_currency_and_unpriced_shipping() {
    let c = TaxClass::standard();
    let usd = LineInput {
        unit_price: Money::parse("1", Currency::USD).unwrap(),
        quantity: Quantity::new(1).unwrap(),
        tax_class: &c,
    };
    assert!(matches!(
        price(
            Currency::GBP,
            &[usd],
            None,
            &method("1", None),
            &TaxTable::new(),
            gb()
        ),
        Err(PricingError::Currency { index: 0, .. })
    ));
    assert!(matches!(
        price(
            Currency::USD,
            &[usd],
            None,
            &method("1", None),
            &TaxTable::new(),
            gb()
        ),
        Err(PricingError::ShippingUnavailable(..))
    ));
}

#[test]
fn allocation_is_exact_and_ties_go_first() {
    assert_eq!(allocate(2, &[1, 1, 1]), vec![1, 1, 0]);
    assert_eq!(allocate(7, &[0, 10, 0]), vec![0, 7, 0]);
    assert_eq!(allocate(5, &[]), Vec::<i128>::new());
}

fn currency() -> impl Strategy<Value = Currency> {
    prop_oneof![
        Just(Currency::GBP),
        Just(Currency::JPY),
        Just(Currency::parse("KWD").unwrap())
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn allocation_sums_and_stays_within_weights(
        weights in prop::collection::vec(0_i128..1_000_000, 0..50),
        fraction in 0.0_f64..=1.0,
    ) {
        let sum: i128 = weights.iter().sum();
        let total = (sum as f64 * fraction) as i128;
        let shares = allocate(total, &weights);
        prop_assert_eq!(shares.len(), weights.len());
        if sum > 0 {
            prop_assert_eq!(shares.iter().sum::<i128>(), total);
        }
        for (share, weight) in shares.iter().zip(&weights) {
            prop_assert!(*share >= 0 && share <= weight);
        }
    }

    /// Random carts, discounts, tax rates and shipping: every total
    /// reconciles to the cent and nothing is negative.
    #[test]
    fn totals_always_reconcile(
        currency in currency(),
        lines in prop::collection::vec((0_i64..10_000_000, 1_u32..=999, 0_usize..3), 0..40),
        discount in prop_oneof![
            Just(None),
            (1_u32..=1_000_000).prop_map(|bp| Some((true, bp as i64))),
            (1_i64..100_000_000).prop_map(|units| Some((false, units))),
        ],
        rates in prop::collection::vec(0_u32..=1_000_000, 3),
        shipping in 0_i64..100_000,
        free_above in prop::option::of(0_i64..100_000_000),
        tax_shipping in any::<bool>(),
    ) {
        let classes = [TaxClass::standard(), TaxClass::parse("reduced").unwrap(), TaxClass::parse("zero").unwrap()];
        let country = Country::parse("FR").unwrap();
        let mut tax = TaxTable::new();
        for (class, rate) in classes.iter().zip(&rates) {
            // up to 100 % with 4 decimals
            let pct = Decimal::new(i64::from(*rate), 4).to_string();
            tax = tax.with_rate(country, class.clone(), TaxRate::percent(&pct).unwrap());
        }
        if tax_shipping {
            tax = tax.with_shipping_taxed_as(classes[0].clone());
        }
        let money = |units: i64| Money::from_minor(units, currency).unwrap();
        let mut rate = ShippingRate::new(money(shipping));
        if let Some(t) = free_above {
            rate = rate.free_above(money(t));
        }
        let method = ShippingMethod::new(ShippingMethodCode::parse("m").unwrap(), "M").with_rate(rate);
        let inputs: Vec<LineInput<'_>> = lines
            .iter()
            .map(|(units, q, class)| LineInput {
                unit_price: money(*units),
                quantity: Quantity::new(*q).unwrap(),
                tax_class: &classes[*class],
            })
            .collect();
        let discount = discount.map(|(is_percent, v)| {
            let kind = if is_percent {
                DiscountKind::percent(&Decimal::new(v, 4).to_string()).unwrap()
            } else {
                DiscountKind::Fixed(money(v))
            };
            Discount::new(DiscountCode::parse("D").unwrap(), kind, Utc::now())
        });

        let p = price(currency, &inputs, discount.as_ref(), &method, &tax, country).unwrap();

        let sum = |f: fn(&LineAmounts) -> Money| p.lines.iter().map(|l| f(l).to_minor()).sum::<i64>();
        prop_assert_eq!(sum(|l| l.line_subtotal), p.totals.subtotal.to_minor());
        prop_assert_eq!(sum(|l| l.line_discount), p.totals.discount.to_minor());
        prop_assert_eq!(sum(|l| l.line_tax) + p.shipping_tax.to_minor(), p.totals.tax.to_minor());
        prop_assert_eq!(sum(|l| l.line_total) + p.totals.shipping.to_minor() + p.shipping_tax.to_minor(), p.totals.total.to_minor());
        prop_assert_eq!(
            p.totals.total.to_minor(),
            p.totals.subtotal.to_minor() - p.totals.discount.to_minor() + p.totals.shipping.to_minor() + p.totals.tax.to_minor()
        );
        for l in &p.lines {
            prop_assert_eq!(l.line_total.to_minor(), l.line_subtotal.to_minor() - l.line_discount.to_minor() + l.line_tax.to_minor());
            prop_assert!(!l.line_subtotal.is_negative() && !l.line_discount.is_negative() && !l.line_tax.is_negative() && !l.line_total.is_negative());
            prop_assert!(l.line_discount.to_minor() <= l.line_subtotal.to_minor());
            prop_assert_eq!(l.line_subtotal.currency(), currency);
        }
        for m in [p.totals.subtotal, p.totals.discount, p.totals.shipping, p.totals.tax, p.totals.total] {
            prop_assert!(!m.is_negative());
            prop_assert_eq!(m.currency(), currency);
            prop_assert_eq!(m.amount().scale(), currency.minor_digits());
        }
        prop_assert!(p.totals.discount.to_minor() <= p.totals.subtotal.to_minor());
    }
}
