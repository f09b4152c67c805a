//! The store conformance kit: every behaviour a [`Store`] MUST have, as
//! async checks any store runs against itself.
//!
//! ```ignore
//! #[tokio::test]
//! async fn conformance() {
//!     orders_core::testkit::run_all(|| async { Arc::new(MyStore::open().await) as Arc<dyn Store> }).await;
//! }
//! ```
//!
//! Each check calls the factory for its store and creates its own
//! uniquely named data, so a factory may hand out the same database every
//! time. Checks need no particular runtime: concurrency comes from polling
//! many futures at once (`join_all`), which a store backed by a connection
//! pool turns into truly concurrent transactions.

mod versions;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::join_all;

use crate::cart::Quantity;
use crate::catalogue::{
    NewProduct, Product, ProductEdit, ProductName, ProductPatch, Sku, StockChange, TaxClass,
};
use crate::checkout::{AddressForm, CardForm, CheckoutForm, PaymentForm};
use crate::discount::{Discount, DiscountCode, DiscountKind};
use crate::ids::{CartId, CustomerId, EventId, OrderId, ProductId};
use crate::money::{Currency, Money};
use crate::order::{Actor, Order, OrderStatus, StatusChange, TrackingNumber, Transition};
use crate::ports::{
    Cursor, IdempotencyClaim, IdempotencyState, OrderFilter, PageRequest, Store, StoreError,
    TestGateway,
};
use crate::{Access, Error, Orders, OrdersConfig};

type Check = fn(Arc<dyn Store>) -> futures_util::future::BoxFuture<'static, ()>;

/// Every check, by name.
pub const CHECKS: &[(&str, Check)] = &[
    ("products_unique_sku_and_patch", |s| {
        products_unique_sku_and_patch(s).boxed()
    }),
    ("products_list_newest_first", |s| {
        products_list_newest_first(s).boxed()
    }),
    ("product_edits_compare_and_set_on_version", |s| {
        versions::product_edits_compare_and_set_on_version(s).boxed()
    }),
    ("sales_and_cancellations_make_older_edits_stale", |s| {
        versions::sales_and_cancellations_make_older_edits_stale(s).boxed()
    }),
    ("stock_adjustments_apply_to_the_stored_stock", |s| {
        versions::stock_adjustments_apply_to_the_stored_stock(s).boxed()
    }),
    ("carts_compare_and_set", |s| {
        carts_compare_and_set(s).boxed()
    }),
    ("concurrent_cart_changes_all_land", |s| {
        concurrent_cart_changes_all_land(s).boxed()
    }),
    ("cart_with_products_reads_lines_and_extra", |s| {
        cart_with_products_reads_lines_and_extra(s).boxed()
    }),
    ("discounts_unique_code", |s| {
        discounts_unique_code(s).boxed()
    }),
    ("checkout_places_a_snapshot", |s| {
        checkout_places_a_snapshot(s).boxed()
    }),
    ("checkout_stores_taxed_discounted_lines_exactly", |s| {
        checkout_stores_taxed_discounted_lines_exactly(s).boxed()
    }),
    ("checkout_short_stock_changes_nothing", |s| {
        checkout_short_stock_changes_nothing(s).boxed()
    }),
    ("concurrent_checkouts_never_oversell", |s| {
        concurrent_checkouts_never_oversell(s).boxed()
    }),
    ("idempotent_retries", |s| idempotent_retries(s).boxed()),
    ("idempotency_claims", |s| idempotency_claims(s).boxed()),
    ("idempotency_claims_with_the_cart", |s| {
        idempotency_claims_with_the_cart(s).boxed()
    }),
    ("discount_uses_are_counted_atomically", |s| {
        discount_uses_are_counted_atomically(s).boxed()
    }),
    ("closed_cart_refuses_everything", |s| {
        closed_cart_refuses_everything(s).boxed()
    }),
    ("status_changes_compare_and_set", |s| {
        status_changes_compare_and_set(s).boxed()
    }),
    ("cancel_returns_stock_and_refunds", |s| {
        cancel_returns_stock_and_refunds(s).boxed()
    }),
    ("orders_paginate_newest_first", |s| {
        orders_paginate_newest_first(s).boxed()
    }),
    ("admin_filters", |s| admin_filters(s).boxed()),
    ("events_replay_after_an_id", |s| {
        events_replay_after_an_id(s).boxed()
    }),
];

/// Runs every check of [`CHECKS`], each on a store from `make_store`, and
/// panics listing the ones that failed.
pub async fn run_all<F, Fut>(make_store: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    let mut failed = Vec::new();
    for (name, check) in CHECKS {
        let store = make_store().await;
        if let Err(panic) = AssertUnwindSafe(check(store)).catch_unwind().await {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failed.push(format!("{name}: {message}"));
        }
    }
    assert!(
        failed.is_empty(),
        "conformance checks failed:\n{}",
        failed.join("\n")
    );
}

/// A name no other check or run uses.
fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", ProductId::generate())
}

fn customer() -> CustomerId {
    CustomerId::parse(&unique("cust")).expect("valid id")
}

fn usd(amount: &str) -> Money {
    Money::parse_price(amount, Currency::USD).expect("valid amount")
}

/// An engine over `store` with the demo configuration and a test gateway.
pub fn engine(store: Arc<dyn Store>) -> (Orders, Arc<TestGateway>) {
    let gateway = Arc::new(TestGateway::new());
    let orders = Orders::builder(store)
        .config(OrdersConfig::demo())
        .payments(gateway.clone())
        .build();
    (orders, gateway)
}

/// Creates an active USD product with `stock` units at `price`.
pub async fn product(orders: &Orders, price: &str, stock: u32) -> Product {
    let new = NewProduct::new(
        Sku::parse(&unique("SKU")).expect("valid sku"),
        ProductName::parse("Conformance product").expect("valid name"),
        usd(price),
        stock,
    );
    orders.create_product(new).await.expect("create product")
}

/// A cart of `customer` holding each `(product, quantity)`.
pub async fn cart_with(
    orders: &Orders,
    customer: &CustomerId,
    lines: &[(&ProductId, u32)],
) -> CartId {
    let cart = orders
        .create_cart(customer, Some(Currency::USD))
        .await
        .expect("create cart");
    for (product, quantity) in lines {
        let quantity = Quantity::new(*quantity).expect("valid quantity");
        orders
            .add_to_cart(customer, &cart.id, product, quantity)
            .await
            .expect("add to cart");
    }
    cart.id
}

/// A valid checkout form paying with `card` (or cash on delivery for `None`).
pub fn form(card: Option<&str>) -> CheckoutForm {
    let text = |s: &str| Some(s.to_owned());
    let payment = match card {
        Some(number) => PaymentForm {
            method: text("card"),
            card: Some(CardForm {
                number: text(number),
                exp_month: Some(12),
                exp_year: Some(2040),
                cvc: text("123"),
                holder: text("Ada Lovelace"),
            }),
        },
        None => PaymentForm {
            method: text("cash_on_delivery"),
            card: None,
        },
    };
    CheckoutForm {
        email: text("ada@example.com"),
        shipping_address: Some(AddressForm {
            full_name: text("Ada Lovelace"),
            line1: text("1 Main St"),
            city: text("Springfield"),
            postal_code: text("12345"),
            country: text("US"),
            ..AddressForm::default()
        }),
        shipping_method: text("standard"),
        payment: Some(payment),
        expected_total: None,
    }
}

async fn stock(orders: &Orders, id: &ProductId) -> u32 {
    orders.product(id).await.expect("product").stock
}

async fn products_unique_sku_and_patch(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let p = product(&orders, "5.00", 3).await;
    let mut twin = NewProduct::new(p.sku.clone(), p.name.clone(), usd("1"), 1);
    twin.id = ProductId::generate();
    assert_eq!(
        orders.create_product(twin.clone()).await.unwrap_err(),
        Error::Duplicate("sku")
    );
    assert!(
        store.product(&twin.id).await.expect("read").is_none(),
        "duplicate stored"
    );

    let patch = ProductPatch {
        price: Some(usd("7.25")),
        stock: Some(StockChange::Set(9)),
        active: Some(false),
        ..Default::default()
    };
    let edit = ProductEdit {
        patch: patch.clone(),
        expected_version: Some(p.version),
    };
    let updated = orders.update_product(&p.id, edit).await.expect("update");
    assert_eq!(
        (updated.price, updated.stock, updated.active),
        (usd("7.25"), 9, false)
    );
    let read = store.product(&p.id).await.expect("read").expect("exists");
    assert_eq!(read, updated, "the store returns what it stored");
    assert_eq!(
        store
            .update_product(&ProductId::generate(), &patch, None, chrono::Utc::now())
            .await,
        Err(StoreError::NotFound)
    );
    let both = store
        .products(&[p.id.clone(), ProductId::generate()])
        .await
        .expect("read");
    assert_eq!(both.len(), 1);
}

async fn products_list_newest_first(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let mut mine = Vec::new();
    for _ in 0..5 {
        mine.push(product(&orders, "1.00", 1).await.id);
    }
    orders
        .update_product(
            &mine[2],
            ProductPatch {
                active: Some(false),
                ..Default::default()
            },
        )
        .await
        .expect("deactivate");
    // Walk every page of active products; ours appear newest first, once.
    let mut seen = Vec::new();
    let mut page = PageRequest::first(2);
    loop {
        let result = store.list_products(true, &page).await.expect("list");
        assert!(result.items.len() <= 2);
        assert!(result.items.iter().all(|p| p.active));
        seen.extend(
            result
                .items
                .into_iter()
                .map(|p| p.id)
                .filter(|id| mine.contains(id)),
        );
        match result.next_cursor {
            Some(cursor) => page = PageRequest::first(2).after(Some(cursor)),
            None => break,
        }
    }
    let expected: Vec<_> = mine
        .iter()
        .rev()
        .filter(|id| **id != mine[2])
        .cloned()
        .collect();
    assert_eq!(seen, expected);
    let bad = PageRequest::first(2).after(Some(Cursor("not a cursor".into())));
    assert_eq!(
        store.list_products(true, &bad).await.unwrap_err(),
        StoreError::InvalidCursor
    );
}

async fn carts_compare_and_set(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let who = customer();
    let p = product(&orders, "2.00", 5).await;
    let cart_id = cart_with(&orders, &who, &[(&p.id, 1)]).await;
    let mut cart = store.cart(&cart_id).await.expect("read").expect("exists");
    let stale = cart.clone();
    let version = cart.version;
    cart.set_quantity(&p.id, 4, chrono::Utc::now())
        .expect("change");
    store
        .update_cart(&cart, version)
        .await
        .expect("first writer wins");
    let mut late = stale.clone();
    late.set_quantity(&p.id, 2, chrono::Utc::now())
        .expect("change");
    assert_eq!(
        store.update_cart(&late, version).await,
        Err(StoreError::Conflict)
    );
    let read = store.cart(&cart_id).await.expect("read").expect("exists");
    assert_eq!(read, cart);
    let mut ghost = cart.clone();
    ghost.id = CartId::generate();
    assert_eq!(
        store.update_cart(&ghost, ghost.version).await,
        Err(StoreError::NotFound)
    );
    // Another customer's cart is invisible through the facade.
    assert_eq!(
        orders
            .cart(&customer(), &cart_id, &Default::default())
            .await
            .unwrap_err(),
        Error::NotFound("cart")
    );
}

/// Many changes to one cart at the same moment: each lost
/// compare-and-set is retried by the facade, so every change lands once.
async fn concurrent_cart_changes_all_land(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let who = customer();
    let cart_id = cart_with(&orders, &who, &[]).await;
    let mut products = Vec::new();
    for _ in 0..8 {
        products.push(product(&orders, "1.00", 5).await.id);
    }
    let one = Quantity::new(1).expect("q");
    let results = join_all(
        products
            .iter()
            .map(|p| orders.add_to_cart(&who, &cart_id, p, one)),
    )
    .await;
    for result in &results {
        assert!(result.is_ok(), "{result:?}");
    }
    let cart = store.cart(&cart_id).await.expect("read").expect("cart");
    assert_eq!(cart.lines.len(), products.len(), "every line landed once");
    assert_eq!(
        cart.version,
        1 + products.len() as u64,
        "one version per change"
    );
}

async fn cart_with_products_reads_lines_and_extra(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let who = customer();
    let (a, b, c) = (
        product(&orders, "1.00", 5).await,
        product(&orders, "2.00", 5).await,
        product(&orders, "3.00", 5).await,
    );
    let ids = |found: &[Product]| {
        let mut ids: Vec<String> = found.iter().map(|p| p.id.to_string()).collect();
        ids.sort();
        ids
    };
    let sorted = |products: &[&Product]| {
        let mut ids: Vec<String> = products.iter().map(|p| p.id.to_string()).collect();
        ids.sort();
        ids
    };

    let empty = cart_with(&orders, &who, &[]).await;
    let (cart, found) = store
        .cart_with_products(&empty, &[])
        .await
        .expect("read")
        .expect("the cart");
    assert_eq!(cart.id, empty);
    assert!(found.is_empty(), "an empty cart has no products: {found:?}");

    let full = cart_with(&orders, &who, &[(&a.id, 1), (&b.id, 2)]).await;
    let (cart, found) = store
        .cart_with_products(&full, &[])
        .await
        .expect("read")
        .expect("the cart");
    assert_eq!(cart.lines.len(), 2);
    assert_eq!(cart.version, 3, "the cart as stored");
    assert_eq!(ids(&found), sorted(&[&a, &b]), "the lines' products");
    let stored = found.iter().find(|p| p.id == b.id).expect("b");
    assert_eq!(
        (&stored.sku, stored.price, stored.stock, stored.active),
        (&b.sku, b.price, b.stock, b.active),
        "each product whole, as stored"
    );

    let gone = ProductId::parse(&unique("gone")).expect("id");
    let (_, found) = store
        .cart_with_products(&full, &[c.id.clone(), a.id.clone(), gone])
        .await
        .expect("read")
        .expect("the cart");
    assert_eq!(
        ids(&found),
        sorted(&[&a, &b, &c]),
        "lines and extra, each once, unknown ones left out"
    );
    let (_, found) = store
        .cart_with_products(&empty, std::slice::from_ref(&c.id))
        .await
        .expect("read")
        .expect("the cart");
    assert_eq!(ids(&found), sorted(&[&c]), "extra alone");

    let unknown = CartId::parse(&unique("cart")).expect("id");
    assert!(
        store
            .cart_with_products(&unknown, std::slice::from_ref(&a.id))
            .await
            .expect("read")
            .is_none(),
        "an unknown cart is None"
    );
}

async fn discounts_unique_code(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let code = DiscountCode::parse(&unique("D")).expect("code");
    let mut discount = Discount::new(
        code.clone(),
        DiscountKind::percent("12.5").expect("pct"),
        chrono::Utc::now(),
    );
    discount.max_uses = Some(3);
    discount.min_subtotal = Some(usd("10"));
    orders
        .create_discount(discount.clone())
        .await
        .expect("create");
    assert_eq!(
        orders.create_discount(discount.clone()).await.unwrap_err(),
        Error::Duplicate("code")
    );
    let read = store.discount(&code).await.expect("read").expect("exists");
    assert_eq!(
        (read.kind, read.max_uses, read.min_subtotal, read.uses),
        (discount.kind, Some(3), Some(usd("10")), 0)
    );
    assert!(
        store
            .discount(&DiscountCode::parse(&unique("NONE")).expect("code"))
            .await
            .expect("read")
            .is_none()
    );
}

async fn checkout_places_a_snapshot(store: Arc<dyn Store>) {
    let (orders, gateway) = engine(store.clone());
    let who = customer();
    let a = product(&orders, "10.00", 5).await;
    let b = product(&orders, "3.33", 5).await;
    let cart_id = cart_with(&orders, &who, &[(&a.id, 2), (&b.id, 3)]).await;
    let placed = orders
        .checkout(&who, &cart_id, form(Some("4242424242424242")), None)
        .await
        .expect("checkout");
    assert!(placed.created);
    let order = placed.order;
    assert_eq!(order.status, OrderStatus::Paid);
    assert_eq!(order.subtotal, usd("29.99"));
    assert_eq!(order.shipping_total, usd("4.99"));
    assert_eq!(order.total, usd("34.98"));
    assert_eq!(order.payment.last4.as_deref(), Some("4242"));
    assert_eq!(gateway.captured_count(), 1);
    assert_eq!(
        (stock(&orders, &a.id).await, stock(&orders, &b.id).await),
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
            &a.id,
            ProductPatch {
                price: Some(usd("99.00")),
                name: Some(ProductName::parse("Renamed").expect("name")),
                ..Default::default()
            },
        )
        .await
        .expect("update");
    let read = orders
        .order(Access::Owner(&who), &order.id)
        .await
        .expect("read");
    assert_eq!(read, order);
    assert_eq!(read.lines[0].unit_price, usd("10.00"));
    assert_eq!(read.lines[0].name.as_str(), "Conformance product");
    assert_eq!(
        orders
            .order(Access::Owner(&customer()), &order.id)
            .await
            .unwrap_err(),
        Error::NotFound("order")
    );

    let events = orders
        .order_events(Access::Owner(&who), &order.id)
        .await
        .expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].from, events[0].to), (None, OrderStatus::Paid));
    assert_eq!(events[0].actor, Actor::customer(&who));

    let cod = cart_with(&orders, &who, &[(&b.id, 1)]).await;
    let second = orders
        .checkout(&who, &cod, form(None), None)
        .await
        .expect("checkout")
        .order;
    assert_eq!(second.status, OrderStatus::Pending);
    assert!(second.number > order.number, "order numbers rise");
}

/// A checkout to a taxed destination (GB: 20 % standard, 5 % reduced) with
/// a percentage discount, over two lines of different prices, quantities
/// and tax classes: the stored order holds every line amount in its own
/// field. The expectation is the core's pricing, and a few literal values
/// pin it, so two amounts swapped on the way to storage (consistently or
/// not) fail here.
async fn checkout_stores_taxed_discounted_lines_exactly(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let config = OrdersConfig::demo();
    let who = customer();
    let gbp = |amount: &str| Money::parse_price(amount, Currency::GBP).expect("valid amount");
    let reduced = TaxClass::parse("reduced").expect("tax class");
    let create = |price: &str, tax_class: TaxClass| {
        let mut new = NewProduct::new(
            Sku::parse(&unique("SKU")).expect("valid sku"),
            ProductName::parse("Taxed product").expect("valid name"),
            gbp(price),
            10,
        );
        new.tax_class = tax_class;
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
    for (product, quantity) in [(&a.id, 3), (&b.id, 2)] {
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
        .order(Access::Owner(&who), &placed.id)
        .await
        .expect("read");
    assert_eq!(read, placed, "the stored order is the placed one");

    // What the core's pricing says these lines cost.
    let gb = crate::checkout::Country::parse("GB").expect("country");
    let inputs = [(&a, 3), (&b, 2)].map(|(p, q)| crate::pricing::LineInput {
        unit_price: p.price,
        quantity: Quantity::new(q).expect("valid quantity"),
        tax_class: &p.tax_class,
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
    assert_eq!(read.lines.len(), 2);
    for (index, ((line, want), input)) in read
        .lines
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
            product.id.clone(),
            input.unit_price,
            input.quantity,
            want.line_subtotal,
            want.line_discount,
            want.line_tax,
            want.line_total,
            product.tax_class.clone(),
        );
        assert_eq!(got, wanted, "line {index}");
        assert_eq!((&line.sku, &line.name), (&product.sku, &product.name));
    }
    assert_eq!(
        (
            read.subtotal,
            read.discount_total,
            read.shipping_total,
            read.tax_total,
            read.total,
        ),
        (
            expected.subtotal,
            expected.discount_total,
            expected.shipping_total,
            expected.tax_total,
            expected.total,
        )
    );
    assert_eq!(read.discount_code.as_ref(), Some(&code));

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
        amounts(&read.lines[0]),
        ["12.34", "37.02", "3.71", "6.66", "39.97"]
    );
    assert_eq!(
        amounts(&read.lines[1]),
        ["5.67", "11.34", "1.13", "0.51", "10.72"]
    );
    assert_eq!(
        (read.lines[0].quantity.get(), read.lines[1].quantity.get()),
        (3, 2)
    );
    assert_eq!(read.lines[1].tax_class, reduced);
    assert_eq!(
        [
            read.subtotal,
            read.discount_total,
            read.shipping_total,
            read.tax_total,
            read.total,
        ]
        .map(|m| m.to_string()),
        ["48.36", "4.84", "4.99", "7.17", "55.68"]
    );
    assert_eq!(read.total, gbp("55.68"));
    assert_eq!(
        (stock(&orders, &a.id).await, stock(&orders, &b.id).await),
        (7, 8)
    );
}

async fn checkout_short_stock_changes_nothing(store: Arc<dyn Store>) {
    let (orders, gateway) = engine(store.clone());
    let who = customer();
    let plenty = product(&orders, "1.00", 10).await;
    let short = product(&orders, "1.00", 1).await;
    let cart_id = cart_with(&orders, &who, &[(&plenty.id, 2), (&short.id, 2)]).await;
    let error = orders
        .checkout(&who, &cart_id, form(Some("4242424242424242")), None)
        .await
        .unwrap_err();
    assert_eq!(error, Error::InsufficientStock(vec![short.id.clone()]));
    assert_eq!(
        (
            stock(&orders, &plenty.id).await,
            stock(&orders, &short.id).await
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
    assert_eq!(declined.unwrap_err(), Error::PaymentDeclined);
    assert_eq!(stock(&orders, &plenty.id).await, 10);
}

async fn concurrent_checkouts_never_oversell(store: Arc<dyn Store>) {
    const BUYERS: usize = 64;
    const STOCK: u32 = 21;
    let (orders, _) = engine(store.clone());
    let hot = product(&orders, "5.00", STOCK).await;
    let side = product(&orders, "1.00", 1000).await;
    let mut carts = Vec::new();
    for _ in 0..BUYERS {
        let who = customer();
        let cart = cart_with(&orders, &who, &[(&side.id, 1), (&hot.id, 1)]).await;
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
                &Error::InsufficientStock(vec![hot.id.clone()]),
                "only stock may fail"
            );
        }
    }
    assert_eq!(placed.len(), STOCK as usize);
    assert_eq!(stock(&orders, &hot.id).await, 0);
    let sold: u32 = placed
        .iter()
        .flat_map(|o| &o.lines)
        .filter(|l| l.product_id == side.id)
        .map(|l| l.quantity.get())
        .sum();
    assert_eq!(stock(&orders, &side.id).await, 1000 - sold);
    assert_eq!(sold, STOCK);
}

async fn idempotent_retries(store: Arc<dyn Store>) {
    let (orders, gateway) = engine(store.clone());
    let who = customer();
    let p = product(&orders, "4.00", 10).await;
    let cart_id = cart_with(&orders, &who, &[(&p.id, 1)]).await;
    let key = unique("key");
    let first = orders
        .checkout(&who, &cart_id, form(Some("4242424242424242")), Some(&key))
        .await
        .expect("first");
    let again = orders
        .checkout(&who, &cart_id, form(Some("4242424242424242")), Some(&key))
        .await
        .expect("retry");
    assert!(first.created && !again.created);
    assert_eq!(first.order, again.order);
    assert_eq!(gateway.captured_count(), 1);
    assert_eq!(stock(&orders, &p.id).await, 9);
    assert_eq!(
        orders
            .checkout(&who, &cart_id, form(None), Some(&key))
            .await
            .unwrap_err(),
        Error::IdempotencyMismatch
    );
    // Keys belong to their customer: another customer's same key is theirs.
    let other = customer();
    let their_cart = cart_with(&orders, &other, &[(&p.id, 1)]).await;
    let theirs = orders
        .checkout(&other, &their_cart, form(None), Some(&key))
        .await
        .expect("other");
    assert_ne!(theirs.order.id, first.order.id);

    // The same key at the same moment: one order, never two.
    let racer = customer();
    let race_cart = cart_with(&orders, &racer, &[(&p.id, 1)]).await;
    let race_key = unique("race");
    let results = join_all((0..4).map(|_| {
        orders.checkout(
            &racer,
            &race_cart,
            form(Some("4242424242424242")),
            Some(&race_key),
        )
    }))
    .await;
    let mut ids = Vec::new();
    for result in results {
        match result {
            Ok(outcome) => ids.push(outcome.order.id),
            Err(error) => assert_eq!(error, Error::IdempotencyInProgress),
        }
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "exactly one order for one key");
    let mine = OrderFilter {
        customer_id: Some(racer),
        ..Default::default()
    };
    assert_eq!(
        orders
            .list_orders(Access::Staff, &mine, &PageRequest::default())
            .await
            .expect("list")
            .items
            .len(),
        1
    );

    // A failed checkout frees its key.
    let failing = customer();
    let empty = cart_with(&orders, &failing, &[]).await;
    let key = unique("empty");
    assert_eq!(
        orders
            .checkout(&failing, &empty, form(None), Some(&key))
            .await
            .unwrap_err(),
        Error::CartEmpty
    );
    orders
        .add_to_cart(&failing, &empty, &p.id, Quantity::new(1).expect("q"))
        .await
        .expect("add");
    orders
        .checkout(&failing, &empty, form(None), Some(&key))
        .await
        .expect("key usable again");

    // Another customer's cart, or none, is not found with a key too, and
    // frees the key it claimed on the way.
    let stranger = customer();
    let key = unique("stranger");
    for cart in [&empty, &CartId::parse(&unique("cart")).expect("id")] {
        assert_eq!(
            orders
                .checkout(&stranger, cart, form(None), Some(&key))
                .await
                .unwrap_err(),
            Error::NotFound("cart")
        );
    }
    let own = cart_with(&orders, &stranger, &[(&p.id, 1)]).await;
    orders
        .checkout(&stranger, &own, form(None), Some(&key))
        .await
        .expect("the key was not left claimed");
}

async fn idempotency_claims(store: Arc<dyn Store>) {
    let now = chrono::Utc::now();
    let claim = IdempotencyClaim {
        customer_id: customer(),
        key: unique("k"),
        fingerprint: "f1".into(),
    };
    let long_ago = now - chrono::Duration::hours(1);
    assert_eq!(
        store
            .begin_idempotent(&claim, now, long_ago)
            .await
            .expect("begin"),
        IdempotencyState::Claimed
    );
    assert_eq!(
        store
            .begin_idempotent(&claim, now, long_ago)
            .await
            .expect("begin"),
        IdempotencyState::InProgress {
            fingerprint: "f1".into()
        }
    );
    // A claim older than the lease is taken over.
    let later = now + chrono::Duration::minutes(10);
    let other = IdempotencyClaim {
        fingerprint: "f2".into(),
        ..claim.clone()
    };
    assert_eq!(
        store
            .begin_idempotent(&other, later, later - chrono::Duration::minutes(5))
            .await
            .expect("begin"),
        IdempotencyState::Claimed
    );
    store
        .release_idempotent(&claim.customer_id, &claim.key)
        .await
        .expect("release");
    assert_eq!(
        store
            .begin_idempotent(&claim, now, long_ago)
            .await
            .expect("begin"),
        IdempotencyState::Claimed
    );
    let concurrent = IdempotencyClaim {
        key: unique("k"),
        ..claim.clone()
    };
    let states = join_all((0..8).map(|_| store.begin_idempotent(&concurrent, now, long_ago))).await;
    let claimed = states
        .iter()
        .filter(|s| matches!(s, Ok(IdempotencyState::Claimed)))
        .count();
    assert_eq!(claimed, 1, "{states:?}");
}

/// `begin_idempotent_with_cart` claims as `begin_idempotent` does and reads
/// as `cart_with_products` does, together or apart.
async fn idempotency_claims_with_the_cart(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let who = customer();
    let (a, b) = (
        product(&orders, "1.00", 5).await,
        product(&orders, "2.00", 5).await,
    );
    let cart_id = cart_with(&orders, &who, &[(&a.id, 2), (&b.id, 1)]).await;
    let now = chrono::Utc::now();
    let long_ago = now - chrono::Duration::hours(1);
    let claim = IdempotencyClaim {
        customer_id: who.clone(),
        key: unique("k"),
        fingerprint: "f1".into(),
    };
    let sorted = |mut products: Vec<Product>| {
        products.sort_by(|x, y| x.id.cmp(&y.id));
        products
    };
    let alone = store
        .cart_with_products(&cart_id, &[])
        .await
        .expect("read")
        .map(|(cart, products)| (cart, sorted(products)));
    assert!(alone.is_some(), "the cart exists");

    let first = store
        .begin_idempotent_with_cart(&claim, now, long_ago, &cart_id)
        .await
        .expect("begin");
    assert_eq!(first.claim, IdempotencyState::Claimed);
    let read = first.cart.map(|(cart, products)| (cart, sorted(products)));
    assert_eq!(read, alone, "the cart and its products, as read alone");
    let again = store
        .begin_idempotent_with_cart(&claim, now, long_ago, &cart_id)
        .await
        .expect("again");
    assert_eq!(
        again.claim,
        IdempotencyState::InProgress {
            fingerprint: "f1".into()
        }
    );
    assert!(again.cart.is_some());

    // No such cart: no cart, but the claim is made all the same.
    let nowhere = CartId::parse(&unique("cart")).expect("id");
    let other = IdempotencyClaim {
        key: unique("k"),
        ..claim.clone()
    };
    let missing = store
        .begin_idempotent_with_cart(&other, now, long_ago, &nowhere)
        .await
        .expect("begin");
    assert_eq!(
        (missing.claim, missing.cart),
        (IdempotencyState::Claimed, None)
    );
    assert_eq!(
        store
            .begin_idempotent(&other, now, long_ago)
            .await
            .expect("begin"),
        IdempotencyState::InProgress {
            fingerprint: "f1".into()
        },
        "the claim was recorded"
    );

    // Concurrent claims of one key: exactly one wins, all read the cart.
    let raced = IdempotencyClaim {
        key: unique("k"),
        ..claim.clone()
    };
    let results =
        join_all((0..8).map(|_| store.begin_idempotent_with_cart(&raced, now, long_ago, &cart_id)))
            .await;
    let claimed = results
        .iter()
        .filter(|r| matches!(r, Ok(found) if found.claim == IdempotencyState::Claimed))
        .count();
    assert_eq!(claimed, 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(found) if found.cart.is_some())),
        "{results:?}"
    );

    // A key that placed an order is completed, with that order.
    let key = unique("k");
    let placed = orders
        .checkout(&who, &cart_id, form(None), Some(&key))
        .await
        .expect("checkout");
    let done = store
        .begin_idempotent_with_cart(
            &IdempotencyClaim {
                key,
                ..claim.clone()
            },
            now,
            long_ago,
            &cart_id,
        )
        .await
        .expect("begin");
    assert!(
        matches!(&done.claim, IdempotencyState::Completed { order_id, .. } if *order_id == placed.order.id),
        "{:?}",
        done.claim
    );
    let (cart, _) = done.cart.expect("the cart");
    assert!(!cart.is_open(), "the cart as checked out");
}

async fn discount_uses_are_counted_atomically(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let p = product(&orders, "20.00", 100).await;
    let code = DiscountCode::parse(&unique("ONCE")).expect("code");
    let mut discount = Discount::new(
        code.clone(),
        DiscountKind::fixed("5", Currency::USD).expect("fixed"),
        chrono::Utc::now(),
    );
    discount.max_uses = Some(1);
    orders.create_discount(discount).await.expect("create");
    let mut carts = Vec::new();
    for _ in 0..4 {
        let who = customer();
        let cart = cart_with(&orders, &who, &[(&p.id, 1)]).await;
        let priced = orders
            .apply_discount(&who, &cart, code.as_str())
            .await
            .expect("apply");
        assert_eq!(priced.discount_total, usd("5.00"));
        carts.push((who, cart));
    }
    let results = join_all(
        carts
            .iter()
            .map(|(who, cart)| orders.checkout(who, cart, form(None), None)),
    )
    .await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1, "{results:?}");
    for result in &results {
        if let Err(error) = result {
            assert_eq!(error.code(), "discount_unavailable");
        }
    }
    assert_eq!(stock(&orders, &p.id).await, 99);
    assert_eq!(
        store
            .discount(&code)
            .await
            .expect("read")
            .expect("exists")
            .uses,
        1
    );
}

async fn closed_cart_refuses_everything(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let who = customer();
    let p = product(&orders, "1.00", 5).await;
    let cart_id = cart_with(&orders, &who, &[(&p.id, 1)]).await;
    orders
        .checkout(&who, &cart_id, form(None), None)
        .await
        .expect("checkout");
    assert_eq!(
        orders
            .checkout(&who, &cart_id, form(None), None)
            .await
            .unwrap_err(),
        Error::CartClosed
    );
    let one = Quantity::new(1).expect("q");
    assert_eq!(
        orders
            .add_to_cart(&who, &cart_id, &p.id, one)
            .await
            .unwrap_err(),
        Error::CartClosed
    );
    assert_eq!(
        orders
            .set_cart_quantity(&who, &cart_id, &p.id, 3)
            .await
            .unwrap_err(),
        Error::CartClosed
    );
    assert_eq!(
        orders
            .remove_from_cart(&who, &cart_id, &p.id)
            .await
            .unwrap_err(),
        Error::CartClosed
    );
    assert_eq!(stock(&orders, &p.id).await, 4);
}

async fn placed_order(
    orders: &Orders,
    who: &CustomerId,
    card: Option<&str>,
    quantity: u32,
) -> (Order, Product) {
    let p = product(orders, "8.00", 10).await;
    let cart = cart_with(orders, who, &[(&p.id, quantity)]).await;
    let order = orders
        .checkout(who, &cart, form(card), None)
        .await
        .expect("checkout")
        .order;
    (order, p)
}

async fn status_changes_compare_and_set(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let who = customer();
    let (order, _) = placed_order(&orders, &who, None, 1).await;
    let staff = Actor::staff(&customer());
    let change = StatusChange {
        order_id: order.id.clone(),
        expected_version: order.version,
        from: order.status,
        to: OrderStatus::Paid,
        tracking_number: None,
        payment_status: None,
        restock: false,
        at: chrono::Utc::now(),
        actor: staff.clone(),
        note: None,
    };
    let (paid, event) = store.change_status(&change).await.expect("first change");
    assert_eq!(
        (paid.status, paid.version),
        (OrderStatus::Paid, order.version + 1)
    );
    assert_eq!(
        (event.from, event.to),
        (Some(OrderStatus::Pending), OrderStatus::Paid)
    );
    assert_eq!(
        store.change_status(&change).await.unwrap_err(),
        StoreError::Conflict,
        "stale version"
    );
    let ghost = StatusChange {
        order_id: OrderId::generate(),
        ..change.clone()
    };
    assert_eq!(
        store.change_status(&ghost).await.unwrap_err(),
        StoreError::NotFound
    );

    let err = orders
        .transition(
            staff.clone(),
            &order.id,
            Transition::to(OrderStatus::Shipped),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_transition");
    orders
        .transition(
            staff.clone(),
            &order.id,
            Transition::to(OrderStatus::Processing),
        )
        .await
        .expect("processing");
    let err = orders
        .transition(
            staff.clone(),
            &order.id,
            Transition::to(OrderStatus::Shipped),
        )
        .await
        .unwrap_err();
    assert!(
        err.field_errors()
            .is_some_and(|e| e.contains("tracking_number"))
    );
    let ship = Transition {
        tracking_number: Some(TrackingNumber::parse("1Z999").expect("tracking")),
        ..Transition::to(OrderStatus::Shipped)
    };
    let shipped = orders
        .transition(staff.clone(), &order.id, ship)
        .await
        .expect("shipped");
    assert_eq!(
        shipped.tracking_number.as_ref().map(|t| t.as_str()),
        Some("1Z999")
    );
    let events = orders
        .order_events(Access::Staff, &order.id)
        .await
        .expect("events");
    let chain: Vec<_> = events.iter().map(|e| (e.from, e.to)).collect();
    assert_eq!(
        chain,
        [
            (None, OrderStatus::Pending),
            (Some(OrderStatus::Pending), OrderStatus::Paid),
            (Some(OrderStatus::Paid), OrderStatus::Processing),
            (Some(OrderStatus::Processing), OrderStatus::Shipped),
        ]
    );
    assert!(
        events
            .windows(2)
            .all(|w| w[0].id < w[1].id && w[0].id.to_string() < w[1].id.to_string())
    );
    assert_eq!(
        store
            .order(&order.id)
            .await
            .expect("read")
            .expect("order")
            .version,
        order.version + 3
    );
}

async fn cancel_returns_stock_and_refunds(store: Arc<dyn Store>) {
    let (orders, gateway) = engine(store.clone());
    let who = customer();
    let (order, p) = placed_order(&orders, &who, Some("4242424242424242"), 3).await;
    assert_eq!(stock(&orders, &p.id).await, 7);
    assert_eq!(
        orders
            .cancel(&customer(), &order.id, None)
            .await
            .unwrap_err(),
        Error::NotFound("order"),
        "another customer cannot cancel"
    );
    let cancelled = orders.cancel(&who, &order.id, None).await.expect("cancel");
    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    assert_eq!(
        cancelled.payment.status,
        crate::order::PaymentStatus::Refunded
    );
    assert_eq!(stock(&orders, &p.id).await, 10);
    assert_eq!(gateway.captured_count(), 0);
    assert_eq!(
        orders
            .cancel(&who, &order.id, None)
            .await
            .unwrap_err()
            .code(),
        "invalid_transition"
    );
    assert_eq!(
        stock(&orders, &p.id).await,
        10,
        "a refused cancel returns nothing"
    );
}

async fn orders_paginate_newest_first(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let who = customer();
    let mut placed = Vec::new();
    for _ in 0..5 {
        placed.push(placed_order(&orders, &who, None, 1).await.0.id);
    }
    let mine = OrderFilter {
        customer_id: Some(who.clone()),
        ..Default::default()
    };
    let first = orders
        .list_orders(Access::Staff, &mine, &PageRequest::first(2))
        .await
        .expect("page 1");
    // A new order arrives between pages: it must not shift what follows.
    let newest = placed_order(&orders, &who, None, 1).await.0.id;
    let mut seen: Vec<_> = first.items.iter().map(|o| o.id.clone()).collect();
    let mut cursor = first.next_cursor;
    while let Some(c) = cursor {
        let page = orders
            .list_orders(Access::Staff, &mine, &PageRequest::first(2).after(Some(c)))
            .await
            .expect("page");
        seen.extend(page.items.iter().map(|o| o.id.clone()));
        cursor = page.next_cursor;
    }
    let expected: Vec<_> = placed.iter().rev().cloned().collect();
    assert_eq!(seen, expected);
    let all = orders
        .list_orders(Access::Staff, &mine, &PageRequest::first(100))
        .await
        .expect("all");
    assert_eq!(all.items.first().map(|o| &o.id), Some(&newest));
    assert!(all.next_cursor.is_none());
    let bad = PageRequest::first(2).after(Some(Cursor("garbage".into())));
    assert_eq!(
        store.list_orders(&mine, &bad).await.unwrap_err(),
        StoreError::InvalidCursor
    );
}

async fn admin_filters(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let who = customer();
    let (cod, _) = placed_order(&orders, &who, None, 1).await;
    let (card, _) = placed_order(&orders, &who, Some("4242424242424242"), 1).await;
    let mine = |status| OrderFilter {
        customer_id: Some(who.clone()),
        status,
        ..Default::default()
    };
    let pending = orders
        .list_orders(
            Access::Staff,
            &mine(Some(OrderStatus::Pending)),
            &PageRequest::default(),
        )
        .await
        .expect("list");
    assert_eq!(
        pending.items.iter().map(|o| &o.id).collect::<Vec<_>>(),
        [&cod.id]
    );
    let paid = orders
        .list_orders(
            Access::Staff,
            &mine(Some(OrderStatus::Paid)),
            &PageRequest::default(),
        )
        .await
        .expect("list");
    assert_eq!(
        paid.items.iter().map(|o| &o.id).collect::<Vec<_>>(),
        [&card.id]
    );
    let by_number = OrderFilter {
        search: Some(card.number.to_string()),
        ..Default::default()
    };
    let found = orders
        .list_orders(Access::Staff, &by_number, &PageRequest::default())
        .await
        .expect("search");
    assert!(found.items.iter().any(|o| o.id == card.id));
    let by_email = OrderFilter {
        customer_id: Some(who.clone()),
        email: Some("ADA@example.com".into()),
        ..Default::default()
    };
    assert_eq!(
        orders
            .list_orders(Access::Staff, &by_email, &PageRequest::default())
            .await
            .expect("email")
            .items
            .len(),
        2
    );
    let nobody = OrderFilter {
        customer_id: Some(who),
        email: Some("nobody@example.com".into()),
        ..Default::default()
    };
    assert!(
        orders
            .list_orders(Access::Staff, &nobody, &PageRequest::default())
            .await
            .expect("email")
            .items
            .is_empty()
    );
}

async fn events_replay_after_an_id(store: Arc<dyn Store>) {
    use futures_util::StreamExt;
    let (orders, _) = engine(store.clone());
    let who = customer();
    let (order, _) = placed_order(&orders, &who, None, 1).await;
    let staff = Actor::staff(&customer());
    let first_event = orders
        .order_events(Access::Owner(&who), &order.id)
        .await
        .expect("events")[0]
        .id;
    orders
        .transition(staff.clone(), &order.id, Transition::to(OrderStatus::Paid))
        .await
        .expect("paid");
    let after = store
        .events_after(Some(first_event), Some(&order.id), 10)
        .await
        .expect("log");
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].to, OrderStatus::Paid);
    let all = store
        .events_after(Some(EventId::new(0)), None, 1_000_000)
        .await
        .expect("log");
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "oldest first");

    let (snapshot, mut live) = orders
        .track(Access::Owner(&who), &order.id, None)
        .await
        .expect("track");
    assert_eq!(snapshot.status, OrderStatus::Paid);
    let (_, mut replay) = orders
        .track(Access::Owner(&who), &order.id, Some(first_event))
        .await
        .expect("replay");
    orders
        .transition(staff, &order.id, Transition::to(OrderStatus::Processing))
        .await
        .expect("processing");
    let next = live.next().await.expect("an event").expect("not lagged");
    assert_eq!(next.to, OrderStatus::Processing);
    let replayed: Vec<_> = [replay.next().await, replay.next().await]
        .into_iter()
        .map(|e| e.expect("event").expect("not lagged").to)
        .collect();
    assert_eq!(replayed, [OrderStatus::Paid, OrderStatus::Processing]);
    assert_eq!(
        orders
            .track(Access::Owner(&who), &order.id, Some(EventId::new(u64::MAX)))
            .await
            .err()
            .map(|e| e.code()),
        Some("validation")
    );
}
