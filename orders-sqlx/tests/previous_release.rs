//! Rows written by the previous release read back through the `Store` port.
//!
//! `tests/fixtures/release-0.1-*.sql` hold what release 0.1.0 wrote (schema,
//! `_sqlx_migrations` and rows, made by `orders-server serve --demo`): two
//! orders, one shipped by staff, and an open cart of two lines. Each test
//! loads a fixture into a fresh database, opens it with the current store
//! and `migrate()` (later migrations apply on top), and reads carts, orders
//! and events with exact values, then writes the old open cart again and
//! checks it out. A change to how stored JSON (cart lines, addresses) is
//! read that forgets the rows already on disk fails here.
#![cfg(all(feature = "sqlite", feature = "postgres"))]

mod common;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use orders_core::cart::{Cart, CartLine, CartStatus, Quantity};
use orders_core::checkout::PaymentMethod;
use orders_core::ids::{CartId, CustomerId, OrderId, ProductId};
use orders_core::order::{EventKind, Order, OrderStatus, PaymentStatus};
use orders_core::ports::{OrderFilter, PageRequest, Store};
use orders_core::testkit;
use orders_sqlx::SqliteStore;
use sqlx::Connection;

const SQLITE_FIXTURE: &str = include_str!("fixtures/release-0.1-sqlite.sql");
const POSTGRES_FIXTURE: &str = include_str!("fixtures/release-0.1-postgres.sql");
/// A host's own tables under the names the release gave the store's (and,
/// on PostgreSQL, with the release's constraint and index names).
const HOST_TABLES: &str =
    "CREATE TABLE products (id TEXT, sku TEXT, CONSTRAINT products_sku_key UNIQUE (sku));
     CREATE TABLE orders (id TEXT, CONSTRAINT orders_pkey PRIMARY KEY (id));
     CREATE INDEX orders_customer_number ON orders (id)";

/// The ids and instants of one fixture (they differ between the two runs
/// that made them; everything else is the same).
struct Release {
    customer: &'static str,
    staff: &'static str,
    earl_grey: &'static str,
    teapot: &'static str,
    mug: &'static str,
    sencha: &'static str,
    infuser: &'static str,
    shipped_order: &'static str,
    shipped_order_placed: &'static str,
    shipped_order_events: [&'static str; 3],
    payment_reference: &'static str,
    cash_order: &'static str,
    cash_order_placed: &'static str,
    open_cart: &'static str,
    open_cart_times: (&'static str, &'static str),
    closed_cart: &'static str,
}

const SQLITE: Release = Release {
    customer: "01a24b5245f27284be10e226ee5c6ec2",
    staff: "01a24b528d9377248f1d15388ce38101",
    earl_grey: "01a24b523d9970eead9c889c50223ca5",
    teapot: "01a24b523d9a7170addade821b4028f5",
    mug: "01a24b523d9a7170addade8189d6b49a",
    sencha: "01a24b523d9970eead9c889d16f13cd5",
    infuser: "01a24b523d9a7170addade838a4ffa04",
    shipped_order: "01a24b527d74718eb4c8aebc06f1eee0",
    shipped_order_placed: "2026-12-06T12:27:06.992384100Z",
    shipped_order_events: [
        "2026-12-06T12:27:06.992384100Z",
        "2026-12-06T12:27:11.847990378Z",
        "2026-12-06T12:27:11.876250767Z",
    ],
    payment_reference: "test_ch_01a24b527d74718eb4c8aebd195d528d",
    cash_order: "01a24b527e7d765aa986e6d06171d937",
    cash_order_placed: "2026-12-06T12:27:07.261362992Z",
    open_cart: "01a24b527ea872c6b53e9d6d9d548eba",
    open_cart_times: (
        "2026-12-06T12:27:07.304880737Z",
        "2026-12-06T12:27:07.665432584Z",
    ),
    closed_cart: "01a24b527c3075559170b0f42049b6c7",
};

const POSTGRES: Release = Release {
    customer: "01a24b52e301767fa76253eb17a5d6c9",
    staff: "01a24b52f82f77398b1c6efc7c748212",
    earl_grey: "01a24b52e205751080fadcff53699947",
    teapot: "01a24b52e2197086a1105c8b4ecdf16b",
    mug: "01a24b52e21474cfa016e0ec9f6496c4",
    sencha: "01a24b52e211710c80deef1da37acde5",
    infuser: "01a24b52e21c737dbe2bd5d106b7250c",
    shipped_order: "01a24b52f4ed7355850e2fb0bd3cfd75",
    shipped_order_placed: "2026-12-06T12:27:37.578854261Z",
    shipped_order_events: [
        "2026-12-06T12:27:37.578854261Z",
        "2026-12-06T12:27:38.930346197Z",
        "2026-12-06T12:27:38.985186831Z",
    ],
    payment_reference: "test_ch_01a24b52f4ed7355850e2fb10379c5be",
    cash_order: "01a24b52f68f760a94afbd8dc2437a43",
    cash_order_placed: "2026-12-06T12:27:37.999243358Z",
    open_cart: "01a24b52f6dd709b81e6734dfded8d5a",
    open_cart_times: (
        "2026-12-06T12:27:38.077458248Z",
        "2026-12-06T12:27:38.323127842Z",
    ),
    closed_cart: "01a24b52f3b97193b421626c416dd9a7",
};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("instant")
        .with_timezone(&Utc)
}

fn product(id: &str) -> ProductId {
    ProductId::parse(id).expect("product id")
}

fn line(id: &str, quantity: u32) -> CartLine {
    CartLine {
        product_id: product(id),
        quantity: Quantity::new(quantity).expect("quantity"),
    }
}

/// An order's lines as (product, sku, quantity, unit price, subtotal,
/// discount, tax, total, tax class).
fn lines_of(order: &Order) -> Vec<(String, String, u32, [i64; 5], String)> {
    order
        .lines()
        .iter()
        .map(|l| {
            (
                l.product_id.as_str().to_owned(),
                l.sku.as_str().to_owned(),
                l.quantity.get(),
                [
                    l.unit_price.to_minor(),
                    l.line_subtotal.to_minor(),
                    l.line_discount.to_minor(),
                    l.line_tax.to_minor(),
                    l.line_total.to_minor(),
                ],
                l.tax_class.as_str().to_owned(),
            )
        })
        .collect()
}

/// An address as its eight fields, absent optionals as `None`.
fn address_of(order: &Order) -> [Option<String>; 8] {
    let a = &order.shipping_address();
    [
        Some(a.full_name().as_str().to_owned()),
        Some(a.line1().as_str().to_owned()),
        a.line2().map(|l| l.as_str().to_owned()),
        Some(a.city().as_str().to_owned()),
        a.region().map(|r| r.as_str().to_owned()),
        Some(a.postal_code().as_str().to_owned()),
        Some(a.country().code().to_owned()),
        a.phone().map(|p| p.as_str().to_owned()),
    ]
}

fn some(fields: [&str; 8]) -> [Option<String>; 8] {
    fields.map(|f| (!f.is_empty()).then(|| f.to_owned()))
}

/// Reads every row of the fixture through the port with exact values,
/// writes the open cart again and reads it back, then checks it out; the
/// new order's id, for the caller to look at its row.
async fn reads_the_release(store: Arc<dyn Store>, r: &Release) -> OrderId {
    let customer = CustomerId::parse(r.customer).expect("customer id");

    // The open cart: two lines in the order they were added.
    let open_id = CartId::parse(r.open_cart).expect("cart id");
    let open = store
        .cart(&open_id)
        .await
        .expect("read")
        .expect("open cart");
    assert_eq!(open.customer_id(), &customer);
    assert_eq!(open.currency().code(), "USD");
    assert_eq!(open.lines(), vec![line(r.sencha, 4), line(r.infuser, 2)]);
    assert_eq!(open.discount_code(), None);
    assert_eq!(open.status(), CartStatus::Open);
    assert_eq!(open.version(), 3);
    assert_eq!(open.created_at(), at(r.open_cart_times.0));
    assert_eq!(open.updated_at(), at(r.open_cart_times.1));

    // The checked-out cart: the line added twice is one line of 2.
    let closed = store
        .cart(&CartId::parse(r.closed_cart).expect("cart id"))
        .await
        .expect("read")
        .expect("closed cart");
    assert_eq!(
        closed.lines(),
        vec![line(r.earl_grey, 2), line(r.teapot, 1)]
    );
    assert_eq!(
        closed.discount_code().as_ref().map(|c| c.as_str()),
        Some("WELCOME10")
    );
    assert_eq!(closed.status(), CartStatus::CheckedOut);
    assert_eq!(closed.version(), 6);

    // The shipped card order to a full GB address.
    let shipped_id = OrderId::parse(r.shipped_order).expect("order id");
    let shipped = store
        .order(&shipped_id)
        .await
        .expect("read")
        .expect("shipped order");
    assert_eq!(shipped.number().get(), 1);
    assert_eq!(shipped.customer_id(), &customer);
    assert_eq!(shipped.status(), OrderStatus::Shipped);
    assert_eq!(shipped.email().as_str(), "Ada@example.com");
    assert_eq!(
        address_of(&shipped),
        some([
            "Ada Lovelace",
            "12 St James's Square",
            "Flat 3",
            "London",
            "Greater London",
            "SW1Y 4JH",
            "GB",
            "+44 20 7946 0958",
        ])
    );
    assert_eq!(
        lines_of(&shipped),
        vec![
            (
                r.earl_grey.to_owned(),
                "TEA-EARL-GREY-250".to_owned(),
                2,
                [850, 1700, 170, 77, 1607],
                "reduced".to_owned()
            ),
            (
                r.teapot.to_owned(),
                "POT-CAST-IRON".to_owned(),
                1,
                [5400, 5400, 540, 972, 5832],
                "standard".to_owned()
            ),
        ]
    );
    assert_eq!(
        [
            shipped.totals().subtotal.to_minor(),
            shipped.totals().discount.to_minor(),
            shipped.totals().shipping.to_minor(),
            shipped.totals().tax.to_minor(),
            shipped.totals().total.to_minor(),
        ],
        [7100, 710, 1499, 1049, 8938]
    );
    assert_eq!(shipped.currency().code(), "USD");
    assert_eq!(
        shipped.discount_code().as_ref().map(|c| c.as_str()),
        Some("WELCOME10")
    );
    assert_eq!(shipped.shipping_method().as_str(), "express");
    assert_eq!(shipped.payment().method, PaymentMethod::Card);
    assert_eq!(
        shipped.payment().brand.map(|b| b.to_string()).as_deref(),
        Some("visa")
    );
    assert_eq!(shipped.payment().last4.as_deref(), Some("4242"));
    assert_eq!(shipped.payment().status, PaymentStatus::Captured);
    // Migrated: a captured payment had taken the order's total.
    let paid = shipped.totals().total;
    assert_eq!(
        (shipped.payment().authorized, shipped.payment().captured),
        (paid, paid)
    );
    assert!(shipped.payment().refunded.is_zero());
    assert_eq!(shipped.payment().next_action, None);
    assert_eq!(
        shipped.payment().reference.as_deref(),
        Some(r.payment_reference)
    );
    assert_eq!(
        shipped.tracking_number().as_ref().map(|t| t.as_str()),
        Some("1Z999AA10123456784")
    );
    assert_eq!(shipped.created_at(), at(r.shipped_order_placed));
    assert_eq!(shipped.updated_at(), at(r.shipped_order_events[2]));
    assert_eq!(shipped.version(), 3);

    let events = store.order_events(&shipped_id).await.expect("events");
    assert!(
        events
            .iter()
            .all(|e| e.kind == EventKind::StatusChanged && e.data.is_none()),
        "the release's events are plain status changes"
    );
    let events: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.id.get(),
                e.order_id.clone(),
                e.from,
                e.to,
                e.at,
                e.actor.to_string(),
                e.note.as_ref().map(|n| n.as_str().to_owned()),
            )
        })
        .collect();
    let staff = format!("staff:{}", r.staff);
    assert_eq!(
        events,
        vec![
            (
                1,
                shipped_id.clone(),
                None,
                OrderStatus::Paid,
                at(r.shipped_order_events[0]),
                format!("customer:{}", r.customer),
                None
            ),
            (
                3,
                shipped_id.clone(),
                Some(OrderStatus::Paid),
                OrderStatus::Processing,
                at(r.shipped_order_events[1]),
                staff.clone(),
                Some("Packed with care".to_owned())
            ),
            (
                4,
                shipped_id.clone(),
                Some(OrderStatus::Processing),
                OrderStatus::Shipped,
                at(r.shipped_order_events[2]),
                staff,
                None
            ),
        ]
    );

    // The cash order to a DE address without the optionals.
    let cash_id = OrderId::parse(r.cash_order).expect("order id");
    let cash = store
        .order(&cash_id)
        .await
        .expect("read")
        .expect("cash order");
    assert_eq!(cash.number().get(), 2);
    assert_eq!(cash.status(), OrderStatus::Pending);
    assert_eq!(
        address_of(&cash),
        some([
            "Ada Lovelace",
            "Unter den Linden 1",
            "",
            "Berlin",
            "",
            "10117",
            "DE",
            "",
        ])
    );
    assert_eq!(
        lines_of(&cash),
        vec![(
            r.mug.to_owned(),
            "MUG-ENAMEL-WHITE".to_owned(),
            3,
            [1200, 3600, 0, 684, 4284],
            "standard".to_owned()
        )]
    );
    assert_eq!(
        [
            cash.totals().subtotal.to_minor(),
            cash.totals().discount.to_minor(),
            cash.totals().shipping.to_minor(),
            cash.totals().tax.to_minor(),
            cash.totals().total.to_minor(),
        ],
        [3600, 0, 499, 684, 4783]
    );
    assert_eq!(cash.discount_code(), None);
    assert_eq!(cash.payment().method, PaymentMethod::CashOnDelivery);
    assert_eq!(cash.payment().brand, None);
    assert_eq!(cash.payment().status, PaymentStatus::Pending);
    assert!(cash.payment().authorized.is_zero() && cash.payment().captured.is_zero());
    assert!(cash.payment().refunded.is_zero());
    assert_eq!(cash.tracking_number(), None);
    assert_eq!(cash.created_at(), at(r.cash_order_placed));
    assert_eq!(cash.version(), 1);

    // Listing reads every order row (addresses included), newest first.
    let listed = store
        .list_orders(
            &OrderFilter {
                customer_id: Some(customer.clone()),
                ..OrderFilter::default()
            },
            &PageRequest::default(),
        )
        .await
        .expect("list");
    assert_eq!(listed.items, vec![cash, shipped]);

    // The products of the old cart's lines are found from its stored JSON.
    let (cart, products) = store
        .cart_with_products(&open_id, &[product(r.mug)])
        .await
        .expect("read")
        .expect("open cart");
    assert_eq!(cart, open);
    let mut skus: Vec<_> = products
        .iter()
        .map(|p| p.sku().as_str().to_owned())
        .collect();
    skus.sort();
    assert_eq!(
        skus,
        ["INFUSER-STEEL", "MUG-ENAMEL-WHITE", "TEA-SENCHA-100"]
    );

    // The old cart written again by this release reads back the same.
    let mut parts = open.clone().into_parts();
    parts.lines.push(line(r.teapot, 1));
    parts.version += 1;
    let changed = Cart::restore(parts).expect("a cart");
    store
        .update_cart(&changed, open.version())
        .await
        .expect("update");
    let (cart, products) = store
        .cart_with_products(&open_id, &[])
        .await
        .expect("read")
        .expect("open cart");
    assert_eq!(cart, changed);
    assert_eq!(products.len(), 3);

    // A checkout on top of the old rows: numbers and event ids go on from
    // the release's, and old and new orders list together.
    let (orders, _gateway) = testkit::engine(store.clone());
    let placed = orders
        .checkout(
            &customer,
            &open_id,
            testkit::form(Some("4242424242424242")),
            None,
        )
        .await
        .expect("checkout on the old rows")
        .order;
    assert_eq!(placed.number().get(), 3);
    assert_eq!(placed.lines().len(), 3);
    let events = store.order_events(placed.id()).await.expect("events");
    // Placed, then its card payment captured (`on_checkout`).
    assert_eq!(
        events.iter().map(|e| e.id.get()).collect::<Vec<_>>(),
        [5, 6]
    );
    let read = store
        .order(placed.id())
        .await
        .expect("read")
        .expect("new order");
    assert_eq!(read, placed);
    let listed = store
        .list_orders(&OrderFilter::default(), &PageRequest::default())
        .await
        .expect("list");
    assert_eq!(
        listed
            .items
            .iter()
            .map(|o| o.number().get())
            .collect::<Vec<_>>(),
        [3, 2, 1]
    );
    placed.id().clone()
}

/// What this release writes in the JSON columns, read raw: the new order's
/// address and the old cart written again.
fn assert_written_shapes(address: &str, lines: &str, r: &Release) {
    assert!(
        address.starts_with(r#"{"v":1,"full_name":"#),
        "address written as version 1: {address}"
    );
    assert_eq!(
        lines,
        format!(
            r#"[{{"product_id":"{}","quantity":4}},{{"product_id":"{}","quantity":2}},{{"product_id":"{}","quantity":1}}]"#,
            r.sencha, r.infuser, r.teapot
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reads_rows_of_release_0_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("release-0.1.db");
    let url = format!("sqlite://{}", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&format!("{url}?mode=rwc"))
        .await
        .expect("create the file");
    sqlx::raw_sql(SQLITE_FIXTURE)
        .execute(&mut conn)
        .await
        .expect("load the fixture");
    conn.close().await.expect("close");

    let store = SqliteStore::connect(&url).await.expect("open");
    store
        .migrate()
        .await
        .expect("later migrations apply on top");
    let placed = reads_the_release(Arc::new(store), &SQLITE).await;

    let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open");
    let address: String =
        sqlx::query_scalar("SELECT shipping_address FROM orders_orders WHERE id = ?")
            .bind(placed.as_str())
            .fetch_one(&mut conn)
            .await
            .expect("address");
    let lines: String = sqlx::query_scalar("SELECT lines FROM orders_carts WHERE id = ?")
        .bind(SQLITE.open_cart)
        .fetch_one(&mut conn)
        .await
        .expect("lines");
    assert_written_shapes(&address, &lines, &SQLITE);
    // `orders_orders` was rebuilt (migration 5): its children still find
    // their parents, and it is still the parent their foreign keys name.
    let orphans: Vec<(String, i64, String, i64)> = sqlx::query_as("PRAGMA foreign_key_check")
        .fetch_all(&mut conn)
        .await
        .expect("check");
    assert!(orphans.is_empty(), "{orphans:?}");
    let orphan = sqlx::query(
        "INSERT INTO orders_order_events (order_id, to_status, at, actor) VALUES ('no-such-order', 'paid', '', 'system')",
    )
    .execute(&mut conn)
    .await;
    assert!(
        orphan
            .unwrap_err()
            .as_database_error()
            .is_some_and(|e| e.is_foreign_key_violation()),
        "an event of no order is refused"
    );
    sqlx::raw_sql(HOST_TABLES)
        .execute(&mut conn)
        .await
        .expect("the release's tables were renamed: a host's own fit beside them");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_reads_rows_of_release_0_1() {
    let Some(db) = common::PgDatabase::create().await else {
        return;
    };
    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    sqlx::raw_sql(POSTGRES_FIXTURE)
        .execute(&mut conn)
        .await
        .expect("load the fixture");
    conn.close().await.expect("close");

    let store = db.store().await;
    let placed = reads_the_release(store, &POSTGRES).await;

    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    let address: String =
        sqlx::query_scalar("SELECT shipping_address FROM orders_orders WHERE id = $1")
            .bind(placed.as_str())
            .fetch_one(&mut conn)
            .await
            .expect("address");
    let lines: String = sqlx::query_scalar("SELECT lines FROM orders_carts WHERE id = $1")
        .bind(POSTGRES.open_cart)
        .fetch_one(&mut conn)
        .await
        .expect("lines");
    sqlx::raw_sql(HOST_TABLES)
        .execute(&mut conn)
        .await
        .expect("the release's tables were renamed: a host's own fit beside them");
    conn.close().await.expect("close");
    assert_written_shapes(&address, &lines, &POSTGRES);
}
