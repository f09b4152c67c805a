//! Checkout under real concurrency, and a checkout that fails half-way, on
//! both backends, through the engine's facade.
#![cfg(all(feature = "sqlite", feature = "postgres"))]

mod common;

use std::sync::Arc;

use orders_core::discount::{Discount, DiscountCode, DiscountKind};
use orders_core::order::NewOrder;
use orders_core::ports::{
    IdempotencyClaim, OrderFilter, OrderPlacement, PageRequest, Store, StoreError,
};
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
        let who = CustomerId::parse(&format!("buyer-{n}-{}", hot.id())).expect("id");
        let cart = cart_with(&orders, &who, &[(side.id(), 2), (hot.id(), 1)]).await;
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
                Error::InsufficientStock(vec![hot.id().clone()]),
                "only stock may fail"
            ),
        }
    }
    assert_eq!(
        placed.len(),
        STOCK as usize,
        "exactly as many orders as units"
    );
    assert_eq!(orders.product(hot.id()).await.expect("hot").stock(), 0);
    let hot_sold: u32 = placed
        .iter()
        .flat_map(|(_, o)| o.lines())
        .filter(|l| &l.product_id == hot.id())
        .map(|l| l.quantity.get())
        .sum();
    let side_sold: u32 = placed
        .iter()
        .flat_map(|(_, o)| o.lines())
        .filter(|l| &l.product_id == side.id())
        .map(|l| l.quantity.get())
        .sum();
    assert_eq!(hot_sold, STOCK);
    assert_eq!(
        orders.product(side.id()).await.expect("side").stock(),
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
        numbers.push(order.number());
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
    let first_cart = cart_with(&orders, &who, &[(p.id(), 1)]).await;
    let first = orders
        .checkout(&who, &first_cart, form(None), None)
        .await
        .expect("first")
        .order;
    let code = DiscountCode::parse(&format!("HALF{}", first.number())).expect("code");
    let discount = Discount::new(
        code.clone(),
        DiscountKind::percent("10").expect("pct"),
        chrono::Utc::now(),
    )
    .with_max_uses(std::num::NonZeroU32::new(5).expect("5"));
    orders.create_discount(discount).await.expect("discount");

    let cart_id = cart_with(&orders, &who, &[(p.id(), 2)]).await;
    let cart_before = store.cart(&cart_id).await.expect("read").expect("cart");
    let stock_before = orders.product(p.id()).await.expect("p").stock();
    let events_before = store
        .events_after(None, None, 1_000_000)
        .await
        .expect("events")
        .len();

    let mut lines = first.lines().to_vec();
    lines[0].quantity = orders_core::cart::Quantity::new(2).expect("q");
    let placement = OrderPlacement {
        order: NewOrder {
            id: first.id().clone(), // taken: the order insert fails after the stock was taken
            customer_id: who.clone(),
            status: first.status(),
            currency: first.currency(),
            email: first.email().clone(),
            lines,
            totals: *first.totals(),
            discount_code: Some(code.clone()),
            shipping_address: first.shipping_address().clone(),
            shipping_method: first.shipping_method().clone(),
            payment: first.payment().clone(),
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
        orders.product(p.id()).await.expect("p").stock(),
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
            .uses(),
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
    assert!(placed.order.number() > first.number());
    assert_eq!(
        orders.product(p.id()).await.expect("p").stock(),
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

/// A placement like `first` (same lines and amounts, a new id) from
/// `cart_id`, counting `discount` and completing `claim`.
fn placement_like(
    first: &orders_core::order::Order,
    cart_id: &orders_core::ids::CartId,
    discount: Option<&DiscountCode>,
    claim: Option<IdempotencyClaim>,
) -> OrderPlacement {
    OrderPlacement {
        order: NewOrder {
            id: orders_core::ids::OrderId::generate(),
            customer_id: first.customer_id().clone(),
            status: first.status(),
            currency: first.currency(),
            email: first.email().clone(),
            lines: first.lines().to_vec(),
            totals: *first.totals(),
            discount_code: discount.cloned(),
            shipping_address: first.shipping_address().clone(),
            shipping_method: first.shipping_method().clone(),
            payment: first.payment().clone(),
            created_at: chrono::Utc::now(),
        },
        cart_id: cart_id.clone(),
        discount_code: discount.cloned(),
        idempotency: claim,
        actor: orders_core::order::Actor::customer(first.customer_id()),
    }
}

/// Every refusal of the store's placement itself (the engine checks most of
/// them before, so only races reach these): the right error, in the
/// documented order, and nothing changed.
async fn refused_placements_change_nothing(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let who = CustomerId::parse(&format!(
        "refused-{}",
        orders_core::ids::OrderId::generate()
    ))
    .expect("id");
    let a = product(&orders, "2.00", 10).await;
    let b = product(&orders, "3.00", 10).await;
    let first_cart = cart_with(&orders, &who, &[(a.id(), 1), (b.id(), 1)]).await;
    let first = orders
        .checkout(&who, &first_cart, form(None), None)
        .await
        .expect("first")
        .order;
    let code = DiscountCode::parse(&format!("ONCE{}", first.number())).expect("code");
    let discount = Discount::new(
        code.clone(),
        DiscountKind::percent("10").expect("pct"),
        chrono::Utc::now(),
    )
    .with_max_uses(std::num::NonZeroU32::new(1).expect("1"));
    orders.create_discount(discount).await.expect("discount");

    let stocks = || async {
        (
            orders.product(a.id()).await.expect("a").stock(),
            orders.product(b.id()).await.expect("b").stock(),
        )
    };
    let events = || async {
        store
            .events_after(None, None, 1_000_000)
            .await
            .expect("events")
            .len()
    };
    let open = cart_with(&orders, &who, &[(a.id(), 1), (b.id(), 1)]).await;
    let (stock_before, events_before) = (stocks().await, events().await);
    let unchanged = || async {
        assert_eq!(stocks().await, stock_before, "stock unchanged");
        assert_eq!(events().await, events_before, "no event");
        let cart = store.cart(&open).await.expect("read").expect("cart");
        assert!(cart.is_open(), "cart still open");
    };

    // A closed cart, and a missing one.
    let error = store
        .place_order(placement_like(&first, &first_cart, None, None))
        .await
        .unwrap_err();
    assert_eq!(error, StoreError::CartClosed);
    let missing = orders_core::ids::CartId::parse("no-such-cart").expect("id");
    let error = store
        .place_order(placement_like(&first, &missing, None, None))
        .await
        .unwrap_err();
    assert_eq!(error, StoreError::NotFound);
    unchanged().await;

    // Short stock on one line of two: nothing taken from the other.
    let mut short = placement_like(&first, &open, None, None);
    short.order.lines[1].quantity = orders_core::cart::Quantity::new(11).expect("q");
    let error = store.place_order(short).await.unwrap_err();
    assert_eq!(error, StoreError::InsufficientStock(vec![b.id().clone()]));
    unchanged().await;

    // A discount used up (by a placement that then succeeds elsewhere).
    let other = cart_with(&orders, &who, &[(a.id(), 1)]).await;
    let mut using = placement_like(&first, &other, Some(&code), None);
    using.order.lines.truncate(1);
    store.place_order(using).await.expect("uses the discount");
    let (stock_before, events_before) = (stocks().await, events().await);
    let unchanged = || async {
        assert_eq!(stocks().await, stock_before, "stock unchanged");
        assert_eq!(events().await, events_before, "no event");
        let cart = store.cart(&open).await.expect("read").expect("cart");
        assert!(cart.is_open(), "cart still open");
    };
    let error = store
        .place_order(placement_like(&first, &open, Some(&code), None))
        .await
        .unwrap_err();
    assert_eq!(error, StoreError::DiscountUnavailable);
    assert_eq!(
        store
            .discount(&code)
            .await
            .expect("read")
            .expect("d")
            .uses(),
        1
    );
    unchanged().await;

    // An idempotency key another order completed.
    let claim = IdempotencyClaim {
        customer_id: who.clone(),
        key: "refused-key".into(),
        fingerprint: "f".into(),
    };
    let now = chrono::Utc::now();
    store
        .begin_idempotent(&claim, now, now - chrono::Duration::minutes(1))
        .await
        .expect("claim");
    let keyed = cart_with(&orders, &who, &[(a.id(), 1)]).await;
    let mut keyed = placement_like(&first, &keyed, None, Some(claim.clone()));
    keyed.order.lines.truncate(1);
    store.place_order(keyed).await.expect("completes the key");
    let (stock_before, events_before) = (stocks().await, events().await);
    let unchanged = || async {
        assert_eq!(stocks().await, stock_before, "stock unchanged");
        assert_eq!(events().await, events_before, "no event");
        let cart = store.cart(&open).await.expect("read").expect("cart");
        assert!(cart.is_open(), "cart still open");
    };
    let error = store
        .place_order(placement_like(&first, &open, None, Some(claim)))
        .await
        .unwrap_err();
    assert_eq!(error, StoreError::IdempotencyKeyUsed);
    unchanged().await;

    // The open cart still checks out.
    store
        .place_order(placement_like(&first, &open, None, None))
        .await
        .expect("places");
    assert_eq!(
        stocks().await,
        (stock_before.0 - 1, stock_before.1 - 1),
        "stock taken once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_refused_placements_change_nothing() {
    let (store, _dir) = common::sqlite().await;
    refused_placements_change_nothing(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refused_placements_change_nothing() {
    let Some(db) = common::PgDatabase::create().await else {
        return;
    };
    refused_placements_change_nothing(db.store().await).await;
}

/// A placement whose key has no row any more (its claim was released, or
/// never made) records the key as completed with its order, as it
/// completes a claim in progress.
async fn a_placement_completes_a_key_whose_claim_is_gone(store: Arc<dyn Store>) {
    use orders_core::ports::IdempotencyState;
    let (orders, _) = engine(store.clone());
    let who =
        CustomerId::parse(&format!("gone-{}", orders_core::ids::OrderId::generate())).expect("id");
    let p = product(&orders, "4.00", 10).await;
    let first_cart = cart_with(&orders, &who, &[(p.id(), 1)]).await;
    let first = orders
        .checkout(&who, &first_cart, form(None), None)
        .await
        .expect("first")
        .order;
    let claim = IdempotencyClaim {
        customer_id: who.clone(),
        key: "gone-key".into(),
        fingerprint: "f".into(),
    };
    let now = chrono::Utc::now();
    let stale_before = now - chrono::Duration::minutes(1);
    store
        .begin_idempotent(&claim, now, stale_before)
        .await
        .expect("claim");
    store
        .release_idempotent(&claim.customer_id, &claim.key)
        .await
        .expect("release");
    let cart = cart_with(&orders, &who, &[(p.id(), 1)]).await;
    let placed = store
        .place_order(placement_like(&first, &cart, None, Some(claim.clone())))
        .await
        .expect("placed");
    assert_eq!(
        store
            .begin_idempotent(&claim, now, stale_before)
            .await
            .expect("state"),
        IdempotencyState::Completed {
            fingerprint: claim.fingerprint.clone(),
            order_id: placed.order.id().clone(),
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_placement_completes_a_key_whose_claim_is_gone() {
    let (store, _dir) = common::sqlite().await;
    a_placement_completes_a_key_whose_claim_is_gone(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_placement_completes_a_key_whose_claim_is_gone() {
    let Some(db) = common::PgDatabase::create().await else {
        return;
    };
    a_placement_completes_a_key_whose_claim_is_gone(db.store().await).await;
}

/// Releasing a key claim runs after a checkout failed, often because the
/// database is away: it gives up after a short wait for a connection
/// instead of the pool's whole acquire timeout (30 s on this pool), so the
/// client's 503 is not held back; and once a connection is free it works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_claim_release_gives_up_quickly_when_no_connection_comes() {
    use orders_core::ports::{IdempotencyState, IdempotencyStore};
    let Some(db) = common::PgDatabase::create().await else {
        return;
    };
    let store = db.store_with(2).await;
    assert!(
        store.pool().options().get_acquire_timeout() >= std::time::Duration::from_secs(30),
        "the test needs a long acquire timeout to tell the waits apart"
    );
    let claim = IdempotencyClaim {
        customer_id: CustomerId::parse("releaser").expect("id"),
        key: "release-key".into(),
        fingerprint: "f".into(),
    };
    let now = chrono::Utc::now();
    let stale_before = now - chrono::Duration::minutes(1);
    let state = store
        .begin_idempotent(&claim, now, stale_before)
        .await
        .expect("claim");
    assert_eq!(state, IdempotencyState::Claimed);

    // Every connection of the pool is taken.
    let held = (
        store.pool().acquire().await.expect("first connection"),
        store.pool().acquire().await.expect("second connection"),
    );
    let started = std::time::Instant::now();
    let refused = store
        .release_idempotent(&claim.customer_id, &claim.key)
        .await;
    let waited = started.elapsed();
    assert!(
        matches!(refused, Err(StoreError::Unavailable(_))),
        "{refused:?}"
    );
    assert!(
        waited >= orders_sqlx::RELEASE_CLAIM_WAIT && waited < std::time::Duration::from_secs(10),
        "the release waited {waited:?} for a connection"
    );
    drop(held);
    // Nothing was released: the key is still claimed.
    let state = store
        .begin_idempotent(&claim, now, stale_before)
        .await
        .expect("claim seen");
    assert!(
        matches!(state, IdempotencyState::InProgress { .. }),
        "{state:?}"
    );
    store
        .release_idempotent(&claim.customer_id, &claim.key)
        .await
        .expect("release with a free connection");
    let state = store
        .begin_idempotent(&claim, now, stale_before)
        .await
        .expect("claim again");
    assert_eq!(state, IdempotencyState::Claimed);
}
