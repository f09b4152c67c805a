//! Checkout: the stored order is an exact snapshot (every line amount in
//! its own field), short stock changes nothing, and concurrent checkouts
//! never oversell.

use std::sync::Arc;

use futures_util::future::join_all;

use super::{cart_with, customer, engine, form, product, stock, unique, usd};
use crate::cart::Quantity;
use crate::catalogue::{NewProduct, ProductName, ProductPatch, Sku, StockChange, TaxClass};
use crate::discount::{Discount, DiscountCode, DiscountKind};
use crate::money::{Currency, Money};
use crate::order::{Actor, EventKind, Order, OrderStatus, PaymentStatus};
use crate::ports::{OrderFilter, PageRequest, Store, TestGateway};
use crate::{Access, Error, OrdersConfig};

pub(super) async fn checkout_places_a_snapshot(store: Arc<dyn Store>) {
    let (orders, gateway) = engine(store.clone());
    let who = customer();
    let a = product(&orders, "10.00", 5).await;
    let b = product(&orders, "3.33", 5).await;
    let cart_id = cart_with(&orders, &who, &[(a.id(), 2), (b.id(), 3)]).await;
    let placed = orders
        .checkout(&who, &cart_id, form(Some("4242424242424242")), None)
        .await
        .expect("checkout");
    assert!(placed.created);
    let order = placed.order;
    assert_eq!(order.status(), OrderStatus::Paid);
    assert_eq!(order.totals().subtotal, usd("29.99"));
    assert_eq!(order.totals().shipping, usd("4.99"));
    assert_eq!(order.totals().total, usd("34.98"));
    assert_eq!(order.payment().last4.as_deref(), Some("4242"));
    assert_eq!(gateway.captured_count(), 1);
    assert_eq!(
        (stock(&orders, a.id()).await, stock(&orders, b.id()).await),
        (3, 2)
    );
    assert!(
        !store
            .cart(&cart_id)
            .await
            .expect("read")
            .expect("cart")
            .is_open()
    );

    // The stored order is the snapshot, unchanged by later catalogue edits.
    orders
        .update_product(
            a.id(),
            ProductPatch {
                price: Some(usd("99.00")),
                name: Some(ProductName::parse("Renamed").expect("name")),
                ..Default::default()
            },
        )
        .await
        .expect("update");
    let read = orders
        .order(Access::Owner(&who), order.id())
        .await
        .expect("read");
    assert_eq!(read, order);
    assert_eq!(read.lines()[0].unit_price, usd("10.00"));
    assert_eq!(read.lines()[0].name.as_str(), "Conformance product");
    assert_eq!(
        orders
            .order(Access::Owner(&customer()), order.id())
            .await
            .unwrap_err(),
        Error::NotFound("order")
    );

    let events = orders
        .order_events(Access::Owner(&who), order.id())
        .await
        .expect("events");
    // Placed with the card authorised, then captured (on_checkout): the
    // capture is the second event, and the store keeps every amount.
    assert_eq!(events.len(), 2);
    assert_eq!((events[0].from, events[0].to), (None, OrderStatus::Paid));
    assert_eq!(events[0].kind, EventKind::StatusChanged);
    assert_eq!(events[0].actor, Actor::customer(&who));
    assert_eq!(events[0].data, None);
    assert_eq!(events[1].kind, EventKind::PaymentUpdated);
    assert_eq!(
        (events[1].from, events[1].to),
        (Some(OrderStatus::Paid), OrderStatus::Paid)
    );
    let data = events[1].data.as_ref().expect("the payment");
    assert_eq!(data["status"], "captured");
    assert_eq!(data["captured"], order.totals().total.to_string());
    let payment = read.payment();
    assert_eq!(payment.status, PaymentStatus::Captured);
    assert_eq!(payment.authorized, order.totals().total);
    assert_eq!(payment.captured, order.totals().total);
    assert!(payment.refunded.is_zero());
    assert!(
        payment
            .reference
            .as_deref()
            .is_some_and(|r| r.starts_with("test_pi_"))
    );

    let cod = cart_with(&orders, &who, &[(b.id(), 1)]).await;
    let second = orders
        .checkout(&who, &cod, form(None), None)
        .await
        .expect("checkout")
        .order;
    assert_eq!(second.status(), OrderStatus::Pending);
    assert!(second.number() > order.number(), "order numbers rise");
}

/// A checkout to a taxed destination (GB: 20 % standard, 5 % reduced) with
/// a percentage discount, over two lines of different prices, quantities
/// and tax classes: the stored order holds every line amount in its own
/// field. The expectation is the core's pricing, and a few literal values
/// pin it, so two amounts swapped on the way to storage (consistently or
/// not) fail here.
pub(super) async fn checkout_stores_taxed_discounted_lines_exactly(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let config = OrdersConfig::demo();
    let who = customer();
    let gbp = |amount: &str| Money::parse_price(amount, Currency::GBP).expect("valid amount");
    let reduced = TaxClass::parse("reduced").expect("tax class");
    let create = |price: &str, tax_class: TaxClass| {
        let new = NewProduct::new(
            Sku::parse(&unique("SKU")).expect("valid sku"),
            ProductName::parse("Taxed product").expect("valid name"),
            gbp(price),
            10,
        )
        .tax_class(tax_class);
        orders.create_product(new)
    };
    let a = create("12.34", TaxClass::standard()).await.expect("create");
    let b = create("5.67", reduced.clone()).await.expect("create");
    let code = DiscountCode::parse(&unique("TENOFF")).expect("code");
    let discount = Discount::new(
        code.clone(),
        DiscountKind::percent("10").expect("percent"),
        chrono::Utc::now(),
    );
    orders
        .create_discount(discount.clone())
        .await
        .expect("create discount");
    let cart = orders
        .create_cart(&who, Some(Currency::GBP))
        .await
        .expect("create cart");
    for (product, quantity) in [(&a.id(), 3), (&b.id(), 2)] {
        let quantity = Quantity::new(quantity).expect("valid quantity");
        orders
            .add_to_cart(&who, &cart.id, product, quantity)
            .await
            .expect("add to cart");
    }
    orders
        .apply_discount(&who, &cart.id, code.as_str())
        .await
        .expect("apply");
    let mut to_gb = form(None);
    if let Some(address) = to_gb.shipping_address.as_mut() {
        address.country = Some("GB".to_owned());
        address.postal_code = Some("SW1A 1AA".to_owned());
        address.city = Some("London".to_owned());
    }
    let placed = orders
        .checkout(&who, &cart.id, to_gb, None)
        .await
        .expect("checkout")
        .order;
    let read = orders
        .order(Access::Owner(&who), placed.id())
        .await
        .expect("read");
    assert_eq!(read, placed, "the stored order is the placed one");

    // What the core's pricing says these lines cost.
    let gb = crate::checkout::Country::parse("GB").expect("country");
    let inputs = [(&a, 3), (&b, 2)].map(|(p, q)| crate::pricing::LineInput {
        unit_price: p.price(),
        quantity: Quantity::new(q).expect("valid quantity"),
        tax_class: p.tax_class(),
    });
    let shipping = config
        .shipping_method("standard", Currency::GBP)
        .expect("standard ships in GBP");
    let expected = crate::pricing::price(
        Currency::GBP,
        &inputs,
        Some(&discount),
        shipping,
        &config.tax,
        gb,
    )
    .expect("priced");
    assert_eq!(read.lines().len(), 2);
    for (index, ((line, want), input)) in read
        .lines()
        .iter()
        .zip(&expected.lines)
        .zip(&inputs)
        .enumerate()
    {
        let got = (
            line.product_id.clone(),
            line.unit_price,
            line.quantity,
            line.line_subtotal,
            line.line_discount,
            line.line_tax,
            line.line_total,
            line.tax_class.clone(),
        );
        let product = if index == 0 { &a } else { &b };
        let wanted = (
            product.id().clone(),
            input.unit_price,
            input.quantity,
            want.line_subtotal,
            want.line_discount,
            want.line_tax,
            want.line_total,
            product.tax_class().clone(),
        );
        assert_eq!(got, wanted, "line {index}");
        assert_eq!((&line.sku, &line.name), (product.sku(), product.name()));
    }
    assert_eq!(
        (
            read.totals().subtotal,
            read.totals().discount,
            read.totals().shipping,
            read.totals().tax,
            read.totals().total,
        ),
        (
            expected.totals.subtotal,
            expected.totals.discount,
            expected.totals.shipping,
            expected.totals.tax,
            expected.totals.total,
        )
    );
    assert_eq!(read.discount_code(), Some(&code));

    // Pinned by hand: subtotals 37.02 and 11.34; 10 % off 48.36 is 4.84,
    // spread 3.71 and 1.13; tax 20 % of 33.31 is 6.66 and 5 % of 10.21 is
    // 0.51; shipping 4.99 (under the free threshold, untaxed).
    let amounts = |line: &crate::order::OrderLine| {
        [
            line.unit_price,
            line.line_subtotal,
            line.line_discount,
            line.line_tax,
            line.line_total,
        ]
        .map(|m| m.to_string())
    };
    assert_eq!(
        amounts(&read.lines()[0]),
        ["12.34", "37.02", "3.71", "6.66", "39.97"]
    );
    assert_eq!(
        amounts(&read.lines()[1]),
        ["5.67", "11.34", "1.13", "0.51", "10.72"]
    );
    assert_eq!(
        (
            read.lines()[0].quantity.get(),
            read.lines()[1].quantity.get()
        ),
        (3, 2)
    );
    assert_eq!(read.lines()[1].tax_class, reduced);
    assert_eq!(
        [
            read.totals().subtotal,
            read.totals().discount,
            read.totals().shipping,
            read.totals().tax,
            read.totals().total,
        ]
        .map(|m| m.to_string()),
        ["48.36", "4.84", "4.99", "7.17", "55.68"]
    );
    assert_eq!(read.totals().total, gbp("55.68"));
    assert_eq!(
        (stock(&orders, a.id()).await, stock(&orders, b.id()).await),
        (7, 8)
    );
}

pub(super) async fn checkout_short_stock_changes_nothing(store: Arc<dyn Store>) {
    let (orders, gateway) = engine(store.clone());
    let who = customer();
    let plenty = product(&orders, "1.00", 10).await;
    let short = product(&orders, "1.00", 2).await;
    let cart_id = cart_with(&orders, &who, &[(plenty.id(), 2), (short.id(), 2)]).await;
    // Sold elsewhere after it was added: the cart now asks for more than is left.
    let sold = ProductPatch {
        stock: Some(StockChange::Adjust(-1)),
        ..Default::default()
    };
    orders
        .update_product(short.id(), sold)
        .await
        .expect("sell one");
    let error = orders
        .checkout(&who, &cart_id, form(Some("4242424242424242")), None)
        .await
        .unwrap_err();
    assert_eq!(error, Error::InsufficientStock(vec![short.id().clone()]));
    assert_eq!(
        (
            stock(&orders, plenty.id()).await,
            stock(&orders, short.id()).await
        ),
        (10, 1)
    );
    assert!(
        store
            .cart(&cart_id)
            .await
            .expect("read")
            .expect("cart")
            .is_open()
    );
    let mine = OrderFilter {
        customer_id: Some(who.clone()),
        ..Default::default()
    };
    assert!(
        orders
            .list_orders(Access::Staff, &mine, &PageRequest::default())
            .await
            .expect("list")
            .items
            .is_empty()
    );
    assert_eq!(gateway.captured_count(), 0, "the charge was voided");

    let declined = orders
        .checkout(&who, &cart_id, form(Some(TestGateway::DECLINED_CARD)), None)
        .await;
    assert_eq!(
        declined.unwrap_err(),
        Error::PaymentDeclined {
            field: "payment.card.number"
        }
    );
    assert_eq!(stock(&orders, plenty.id()).await, 10);
}

pub(super) async fn concurrent_checkouts_never_oversell(store: Arc<dyn Store>) {
    const BUYERS: usize = 64;
    const STOCK: u32 = 21;
    let (orders, _) = engine(store.clone());
    let hot = product(&orders, "5.00", STOCK).await;
    let side = product(&orders, "1.00", 1000).await;
    let mut carts = Vec::new();
    for _ in 0..BUYERS {
        let who = customer();
        let cart = cart_with(&orders, &who, &[(side.id(), 1), (hot.id(), 1)]).await;
        carts.push((who, cart));
    }
    let results = join_all(carts.iter().map(|(who, cart)| {
        let orders = orders.clone();
        async move {
            orders
                .checkout(who, cart, form(Some("4242424242424242")), None)
                .await
        }
    }))
    .await;
    let placed: Vec<&Order> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|o| &o.order)
        .collect();
    for result in &results {
        if let Err(error) = result {
            assert_eq!(
                error,
                &Error::InsufficientStock(vec![hot.id().clone()]),
                "only stock may fail"
            );
        }
    }
    assert_eq!(placed.len(), STOCK as usize);
    assert_eq!(stock(&orders, hot.id()).await, 0);
    let sold: u32 = placed
        .iter()
        .flat_map(|o| o.lines())
        .filter(|l| &l.product_id == side.id())
        .map(|l| l.quantity.get())
        .sum();
    assert_eq!(stock(&orders, side.id()).await, 1000 - sold);
    assert_eq!(sold, STOCK);
}

pub(super) async fn adding_past_the_stock_names_the_product_and_what_is_left(
    store: Arc<dyn Store>,
) {
    let (orders, _) = engine(store);
    let who = customer();
    let scarce = product(&orders, "2.00", 3).await;
    let cart_id = cart_with(&orders, &who, &[(scarce.id(), 2)]).await;
    let two = Quantity::new(2).expect("quantity");
    let refused = orders
        .add_to_cart_within_stock(&who, &cart_id, scarce.id(), two)
        .await
        .unwrap_err();
    let message = refused
        .field_errors()
        .and_then(|errors| errors.get("quantity").map(|m| m.join("; ")))
        .unwrap_or_default();
    assert!(
        message.contains("only 3 of") && message.contains("Conformance product"),
        "{message}"
    );
    assert!(
        orders
            .set_cart_quantity_within_stock(&who, &cart_id, scarce.id(), 4)
            .await
            .is_err(),
        "a line may not be set past the stock"
    );
    let cart = orders
        .set_cart_quantity_within_stock(&who, &cart_id, scarce.id(), 3)
        .await
        .expect("up to the stock");
    assert_eq!(cart.lines[0].quantity.get(), 3);
    let sold = ProductPatch {
        stock: Some(StockChange::Adjust(-2)),
        ..Default::default()
    };
    orders
        .update_product(scarce.id(), sold)
        .await
        .expect("sell two");
    let cart = orders
        .set_cart_quantity_within_stock(&who, &cart_id, scarce.id(), 2)
        .await
        .expect("a line past the stock may shrink");
    assert_eq!(cart.lines[0].quantity.get(), 2);
    // The plain add keeps the API's contract: a cart may ask for more than
    // is left, and checkout refuses it with `insufficient_stock`.
    let cart = orders
        .add_to_cart(&who, &cart_id, scarce.id(), two)
        .await
        .expect("the plain add does not check the stock");
    assert_eq!(cart.lines[0].quantity.get(), 4);
}
