//! Fuzzing money parsing by proptest (cargo-fuzz needs nightly; CI runs
//! stable). The in-crate properties check that `Money::parse` never panics
//! and that minor units round-trip; these check *what* it accepts: exactly
//! the plain decimal grammar of its documentation, with the currency's minor
//! digits and the magnitude bound, and that what it accepts prints back to
//! the same amount.
//!
//! Longer run: `PROPTEST_CASES=100000 cargo test -p orders-core --all-features --test fuzz_money`.

use orders_core::money::{Currency, Money, MoneyError};
use proptest::prelude::*;
use rust_decimal::Decimal;

/// The documented grammar, written independently of the parser:
/// `-?[0-9]+(\.[0-9]{1,minor})?`.
fn plain_decimal(text: &str, minor: usize) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    all_digits(whole) && fraction.is_none_or(|f| all_digits(f) && f.len() <= minor)
}

fn currency() -> impl Strategy<Value = Currency> {
    prop::sample::select(vec![
        Currency::USD,
        Currency::EUR,
        Currency::GBP,
        Currency::JPY,
    ])
}

/// Mostly number-like text, with the characters a hostile client tries.
fn amount_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?[0-9]{1,16}(\\.[0-9]{0,4})?",
        "[-+ .,_eE0-9]{0,20}",
        "[0-9]{1,3}[eE][-+]?[0-9]{1,3}",
        "0x[0-9a-f]{1,8}",
        prop::sample::select(vec![
            "NaN",
            "inf",
            "-inf",
            "Infinity",
            "1_000",
            "1,00",
            " 1",
            "1 ",
            "+1",
            ".5",
            "5.",
            "-",
            "-0",
            "0.00",
            "1000000000000",
            "1000000000000.01",
            "999999999999.99",
            "١٢٣",
        ])
        .prop_map(str::to_owned),
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(4000)
    ))]

    /// Accepted exactly when the text is a plain decimal with few enough
    /// decimals and a magnitude within `MAX_AMOUNT`.
    #[test]
    fn accepts_exactly_the_grammar(text in amount_text(), currency in currency()) {
        let minor = currency.minor_digits() as usize;
        let result = Money::parse(&text, currency);
        if !plain_decimal(&text, minor) {
            prop_assert!(result.is_err(), "{text:?} accepted as {result:?}");
            return Ok(());
        }
        let exact: Decimal = text.parse().unwrap_or(Decimal::MAX);
        if exact.abs() > Money::MAX_AMOUNT {
            prop_assert_eq!(result, Err(MoneyError::TooLarge), "{}", text);
        } else {
            let money = result.unwrap();
            prop_assert_eq!(money.amount(), exact);
            prop_assert_eq!(money.currency(), currency);
        }
    }

    /// What is accepted prints with exactly the currency's minor digits and
    /// parses back to itself.
    #[test]
    fn accepted_amounts_round_trip(text in amount_text(), currency in currency()) {
        if let Ok(money) = Money::parse(&text, currency) {
            let printed = money.to_string();
            let minor = currency.minor_digits() as usize;
            let decimals = printed.split_once('.').map_or(0, |(_, f)| f.len());
            prop_assert_eq!(decimals, minor, "{}", printed);
            prop_assert_eq!(Money::parse(&printed, currency).unwrap(), money);
            // JSON carries it as that same string.
            prop_assert_eq!(serde_json::to_value(money).unwrap(), serde_json::Value::String(printed));
        }
    }

    /// A price is a parse that is not negative; nothing else changes.
    #[test]
    fn a_price_is_a_non_negative_amount(text in amount_text(), currency in currency()) {
        match (Money::parse(&text, currency), Money::parse_price(&text, currency)) {
            (Ok(m), Ok(p)) => { prop_assert_eq!(m, p); prop_assert!(!p.is_negative()); }
            (Ok(m), Err(e)) => { prop_assert!(m.is_negative()); prop_assert_eq!(e, MoneyError::Negative); }
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            (Err(e), Ok(p)) => prop_assert!(false, "{text:?}: parse {e:?} but price {p:?}"),
        }
    }

    /// Exponents are never a price, whatever their value (`1e3` is not 1000).
    #[test]
    fn exponent_notation_is_refused(mantissa in 0_u32..10_000, exponent in -5_i32..20, upper in any::<bool>()) {
        let e = if upper { 'E' } else { 'e' };
        prop_assert_eq!(Money::parse_price(&format!("{mantissa}{e}{exponent}"), Currency::USD), Err(MoneyError::Syntax));
    }

    /// Adding two accepted amounts either gives their exact sum or an error,
    /// never a silently rounded or wrapped one.
    #[test]
    fn sums_are_exact(a in -49_999_999_999_999_i64..49_999_999_999_999, b in -49_999_999_999_999_i64..49_999_999_999_999) {
        let x = Money::from_minor(a, Currency::USD).unwrap();
        let y = Money::from_minor(b, Currency::USD).unwrap();
        let sum = x.checked_add(y).unwrap();
        prop_assert_eq!(sum.to_minor(), a + b);
        prop_assert_eq!(x.checked_sub(y).unwrap().to_minor(), a - b);
    }
}

#[test]
fn the_bounds() {
    let usd = |s| Money::parse_price(s, Currency::USD);
    assert!(usd("1000000000000").is_ok());
    assert_eq!(usd("1000000000000.01"), Err(MoneyError::TooLarge));
    assert_eq!(usd("0").unwrap().to_string(), "0.00");
    assert!(matches!(
        usd("0.001"),
        Err(MoneyError::TooManyDecimals { .. })
    ));
    assert_eq!(usd("1e3"), Err(MoneyError::Syntax));
    assert_eq!(usd("-0.01"), Err(MoneyError::Negative));
    assert!(Money::parse_price("1.5", Currency::JPY).is_err());
}
