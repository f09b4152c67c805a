use super::*;
use crate::catalogue::{NewProduct, ProductName, Sku};
use crate::money::Money;

fn product(n: usize, currency: Currency) -> Product {
    NewProduct::new(
        Sku::parse(&format!("P{n}")).unwrap(),
        ProductName::parse("P").unwrap(),
        Money::parse_price("1", currency).unwrap(),
        5,
    )
    .into_product(Utc::now())
}

fn cart() -> Cart {
    Cart::new(CustomerId::parse("c").unwrap(), Currency::USD, Utc::now())
}

fn q(n: u32) -> Quantity {
    Quantity::new(n).unwrap()
}

#[test]
fn merging_past_999_is_refused_and_changes_nothing() {
    let now = Utc::now();
    let p = product(1, Currency::USD);
    let mut c = cart();
    c.add(&p, q(998), now).unwrap();
    let before = c.clone();
    assert_eq!(c.add(&p, q(2), now), Err(CartError::Quantity));
    assert_eq!(c, before);
    c.add(&p, q(1), now).unwrap();
    assert_eq!(c.lines[0].quantity.get(), 999);
}

#[test]
fn a_hundred_lines_at_most() {
    let now = Utc::now();
    let mut c = cart();
    for n in 0..MAX_LINES {
        c.add(&product(n, Currency::USD), q(1), now).unwrap();
    }
    assert_eq!(
        c.add(&product(1000, Currency::USD), q(1), now),
        Err(CartError::Full)
    );
    // An existing line still merges.
    let first = c.lines[0].product_id.clone();
    let again = NewProduct::new(
        Sku::parse("P0").unwrap(),
        ProductName::parse("P").unwrap(),
        Money::parse_price("1", Currency::USD).unwrap(),
        5,
    )
    .id(first)
    .into_product(Utc::now());
    c.add(&again, q(1), now).unwrap();
}

#[test]
fn refuses_inactive_foreign_and_closed() {
    let now = Utc::now();
    let mut c = cart();
    let p = NewProduct::new(
        Sku::parse("P1").unwrap(),
        ProductName::parse("P").unwrap(),
        Money::parse_price("1", Currency::USD).unwrap(),
        5,
    )
    .active(false)
    .into_product(Utc::now());
    assert!(matches!(
        c.add(&p, q(1), now),
        Err(CartError::ProductUnavailable(_))
    ));
    let eur = product(2, Currency::EUR);
    assert!(matches!(
        c.add(&eur, q(1), now),
        Err(CartError::CurrencyMismatch { .. })
    ));
    let p = product(3, Currency::USD);
    c.add(&p, q(1), now).unwrap();
    c.close(now).unwrap();
    let version = c.version;
    assert_eq!(c.add(&p, q(1), now), Err(CartError::Closed));
    assert_eq!(c.set_quantity(p.id(), 2, now), Err(CartError::Closed));
    assert_eq!(c.remove(p.id(), now), Err(CartError::Closed));
    assert_eq!(c.remove_discount(now), Err(CartError::Closed));
    assert_eq!(c.close(now), Err(CartError::Closed));
    assert_eq!(c.version, version);
}

#[test]
fn restore_keeps_a_valid_cart_and_refuses_a_broken_one() {
    let now = Utc::now();
    let mut c = cart();
    c.add(&product(1, Currency::USD), q(2), now).unwrap();
    c.add(&product(2, Currency::USD), q(1), now).unwrap();
    assert_eq!(Cart::restore(c.clone().into_parts()), Ok(c.clone()));
    let mut twice = c.clone().into_parts();
    twice.lines.push(twice.lines[0].clone());
    assert!(matches!(
        Cart::restore(twice),
        Err(InvalidCart::RepeatedProduct(_))
    ));
    let zero = CartParts {
        version: 0,
        ..c.into_parts()
    };
    assert_eq!(Cart::restore(zero), Err(InvalidCart::VersionZero));
}

#[test]
fn set_quantity_zero_removes_and_version_rises() {
    let now = Utc::now();
    let mut c = cart();
    let p = product(1, Currency::USD);
    c.add(&p, q(2), now).unwrap();
    c.set_quantity(p.id(), 7, now).unwrap();
    assert_eq!(c.lines[0].quantity.get(), 7);
    assert_eq!(c.set_quantity(p.id(), 1000, now), Err(CartError::Quantity));
    c.set_quantity(p.id(), 0, now).unwrap();
    assert!(c.lines.is_empty());
    assert_eq!(c.version, 4);
    assert!(matches!(
        c.set_quantity(p.id(), 1, now),
        Err(CartError::LineNotFound(_))
    ));
}
