//! Checkout under real concurrency, and a checkout that fails half-way, on
//! both backends, through the engine's facade.
#![cfg(all(feature = "sqlite", feature = "postgres"))]

mod common;

use std::sync::Arc;

use orders_core::discount::{Discount, DiscountCode, DiscountKind};
use orders_core::order::NewOrder;
use orders_core::ports::{OrderFilter, OrderPlacement, PageRequest, Store, StoreError};
use orders_core::testkit::{cart_with, engine, form, product};
use orders_core::{Error, ids::CustomerId};

const BUYERS: usize = 64;
/// Stock for a third of the buyers.
const STOCK: u32 = (BUYERS / 3) as u32;

/// 64 checkouts on tokio tasks (a multi-thread runtime) against stock for
/// a third of them: exactly that many orders, stock ends at zero, and the
/// quantities ordered equal the stock taken.
async fn concurrent_checkouts_sell_exactly_the_stock(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let hot = product(&orders, "5.00", STOCK).await;
    let side = product(&orders, "1.00", 10_000).await;
    let mut carts = Vec::new();
    for n in 0..BUYERS {
        let who = CustomerId::parse(&format!("buyer-{n}-{}", hot.id)).expect("id");
        let cart = cart_with(&orders, &who, &[(&side.id, 2), (&hot.id, 1)]).await;
        carts.push((who, cart));
    }
    let tasks: Vec<_> = carts
        .into_iter()
        .map(|(who, cart)| {
            let orders = orders.clone();
            tokio::spawn(async move {
                let result = orders
                    .checkout(&who, &cart, form(Some("4242424242424242")), None)
                    .await;
                (who, result)
            })
        })
        .collect();
    let mut placed = Vec::new();
    for task in tasks {
        let (who, result) = task.await.expect("task");
        match result {
            Ok(outcome) => placed.push((who, outcome.order)),
            Err(error) => assert_eq!(
                error,
                Error::InsufficientStock(vec![hot.id.clone()]),
                "only stock may fail"
            ),
        }
    }
    assert_eq!(
        placed.len(),
        STOCK as usize,
        "exactly as many orders as units"
    );
    assert_eq!(orders.product(&hot.id).await.expect("hot").stock, 0);
    let hot_sold: u32 = placed
        .iter()
        .flat_map(|(_, o)| &o.lines)
        .filter(|l| l.product_id == hot.id)
        .map(|l| l.quantity.get())
        .sum();
    let side_sold: u32 = placed
        .iter()
        .flat_map(|(_, o)| &o.lines)
        .filter(|l| l.product_id == side.id)
        .map(|l| l.quantity.get())
        .sum();
    assert_eq!(hot_sold, STOCK);
    assert_eq!(
        orders.product(&side.id).await.expect("side").stock,
        10_000 - side_sold
    );
    // What is stored agrees: each winner has exactly one order, numbers unique.
    let mut numbers = Vec::new();
    for (who, order) in &placed {
        let filter = OrderFilter {
            customer_id: Some(who.clone()),
            ..Default::default()
        };
        let page = store
            .list_orders(&filter, &PageRequest::default())
            .await
            .expect("list");
        assert_eq!(page.items.len(), 1);
        assert_eq!(&page.items[0], order);
        numbers.push(order.number);
    }
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), STOCK as usize, "order numbers are unique");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_concurrent_checkouts_sell_exactly_the_stock() {
    let (store, _dir) = common::sqlite().await;
    concurrent_checkouts_sell_exactly_the_stock(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_checkouts_sell_exactly_the_stock() {
    let Some(db) = common::PgDatabase::create().await else {
        return;
    };
    concurrent_checkouts_sell_exactly_the_stock(db.store().await).await;
}

/// A placement that passes the stock, cart and discount statements and
/// then fails inserting the order (its id is taken) leaves no trace.
async fn a_checkout_failing_half_way_leaves_no_trace(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let who = CustomerId::parse(&format!(
        "halfway-{}",
        orders_core::ids::OrderId::generate()
    ))
    .expect("id");
    let p = product(&orders, "3.00", 10).await;
    let first_cart = cart_with(&orders, &who, &[(&p.id, 1)]).await;
    let first = orders
        .checkout(&who, &first_cart, form(None), None)
        .await
        .expect("first")
        .order;
    let code = DiscountCode::parse(&format!("HALF{}", first.number)).expect("code");
    let mut discount = Discount::new(
        code.clone(),
        DiscountKind::percent("10").expect("pct"),
        chrono::Utc::now(),
    );
    discount.max_uses = Some(5);
    orders.create_discount(discount).await.expect("discount");

    let cart_id = cart_with(&orders, &who, &[(&p.id, 2)]).await;
    let cart_before = store.cart(&cart_id).await.expect("read").expect("cart");
    let stock_before = orders.product(&p.id).await.expect("p").stock;
    let events_before = store
        .events_after(None, None, 1_000_000)
        .await
        .expect("events")
        .len();

    let mut lines = first.lines.clone();
    lines[0].quantity = orders_core::cart::Quantity::new(2).expect("q");
    let placement = OrderPlacement {
        order: NewOrder {
            id: first.id.clone(), // taken: the order insert fails after the stock was taken
            customer_id: who.clone(),
            status: first.status,
            currency: first.currency,
            email: first.email.clone(),
            lines,
            subtotal: first.subtotal,
            discount_total: first.discount_total,
            shipping_total: first.shipping_total,
            tax_total: first.tax_total,
            total: first.total,
            discount_code: Some(code.clone()),
            shipping_address: first.shipping_address.clone(),
            shipping_method: first.shipping_method.clone(),
            payment: first.payment.clone(),
            created_at: chrono::Utc::now(),
        },
        cart_id: cart_id.clone(),
        discount_code: Some(code.clone()),
        idempotency: None,
        actor: orders_core::order::Actor::customer(&who),
    };
    let error = store.place_order(placement).await.unwrap_err();
    assert_eq!(error, StoreError::Duplicate("order"));

    assert_eq!(
        orders.product(&p.id).await.expect("p").stock,
        stock_before,
        "stock unchanged"
    );
    assert_eq!(
        store.cart(&cart_id).await.expect("read").expect("cart"),
        cart_before,
        "cart still open, as it was"
    );
    assert_eq!(
        store
            .discount(&code)
            .await
            .expect("read")
            .expect("discount")
            .uses,
        0,
        "no discount use"
    );
    assert_eq!(
        store
            .events_after(None, None, 1_000_000)
            .await
            .expect("events")
            .len(),
        events_before,
        "no event"
    );
    let filter = OrderFilter {
        customer_id: Some(who.clone()),
        ..Default::default()
    };
    let mine = store
        .list_orders(&filter, &PageRequest::default())
        .await
        .expect("list");
    assert_eq!(mine.items, vec![first.clone()], "no new order");

    // The same cart checks out normally afterwards.
    let placed = orders
        .checkout(&who, &cart_id, form(None), None)
        .await
        .expect("retry");
    assert!(placed.order.number > first.number);
    assert_eq!(
        orders.product(&p.id).await.expect("p").stock,
        stock_before - 2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_checkout_failing_half_way_leaves_no_trace() {
    let (store, _dir) = common::sqlite().await;
    a_checkout_failing_half_way_leaves_no_trace(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_checkout_failing_half_way_leaves_no_trace() {
    let Some(db) = common::PgDatabase::create().await else {
        return;
    };
    a_checkout_failing_half_way_leaves_no_trace(db.store().await).await;
}
