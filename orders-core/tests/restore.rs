//! A stored order is rebuilt only if it keeps an order's rules: what
//! checkout placed restores to itself, and parts whose amounts do not add
//! up, or that hold no line or too many, are refused.
#![cfg(feature = "testkit")]

use std::sync::Arc;

use futures_executor::block_on;
use orders_core::ids::CustomerId;
use orders_core::memory::MemoryStore;
use orders_core::money::{Currency, Money};
use orders_core::order::{InvalidOrder, Order, OrderParts};
use orders_core::testkit::{cart_with, engine, form, product};

fn placed() -> Order {
    block_on(async {
        let (orders, _) = engine(Arc::new(MemoryStore::new()));
        let tea = product(&orders, "4.50", 10).await;
        let mug = product(&orders, "12.00", 10).await;
        let ada = CustomerId::parse("ada").unwrap();
        let cart = cart_with(&orders, &ada, &[(tea.id(), 3), (mug.id(), 1)]).await;
        orders
            .checkout(&ada, &cart, form(Some("4242424242424242")), None)
            .await
            .unwrap()
            .order
    })
}

fn cents(n: i64) -> Money {
    Money::from_minor(n, Currency::USD).unwrap()
}

#[test]
fn a_placed_order_restores_to_itself() {
    let order = placed();
    assert_eq!(Order::restore(order.clone().into_parts()), Ok(order));
}

#[test]
fn totals_off_by_a_cent_are_refused() {
    let mut parts = placed().into_parts();
    parts.totals.total = parts.totals.total.checked_add(cents(1)).unwrap();
    assert_eq!(Order::restore(parts), Err(InvalidOrder::Totals));

    // Consistent totals that are not the sum of the lines.
    let mut parts = placed().into_parts();
    parts.totals.subtotal = parts.totals.subtotal.checked_add(cents(1)).unwrap();
    parts.totals.total = parts.totals.total.checked_add(cents(1)).unwrap();
    assert_eq!(Order::restore(parts), Err(InvalidOrder::Totals));
}

#[test]
fn a_line_that_does_not_add_up_is_refused() {
    let mut parts = placed().into_parts();
    parts.lines[1].line_total = parts.lines[1].line_total.checked_add(cents(1)).unwrap();
    assert_eq!(Order::restore(parts), Err(InvalidOrder::Line(1)));

    let mut parts = placed().into_parts();
    parts.lines[0].unit_price = parts.lines[0].unit_price.checked_add(cents(1)).unwrap();
    assert_eq!(Order::restore(parts), Err(InvalidOrder::Line(0)));
}

#[test]
fn no_line_or_a_101st_line_is_refused() {
    let parts = OrderParts {
        lines: Vec::new(),
        ..placed().into_parts()
    };
    assert_eq!(Order::restore(parts), Err(InvalidOrder::LineCount(0)));

    let mut parts = placed().into_parts();
    let line = parts.lines[0].clone();
    parts.lines = vec![line; 101];
    assert_eq!(Order::restore(parts), Err(InvalidOrder::LineCount(101)));
}

#[test]
fn version_zero_is_refused() {
    let parts = OrderParts {
        version: 0,
        ..placed().into_parts()
    };
    assert_eq!(Order::restore(parts), Err(InvalidOrder::VersionZero));
}
