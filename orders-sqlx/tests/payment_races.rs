//! Issue 17's "prove it": the customer's return from their bank and the
//! provider's webhook arriving at the same moment, on two engines over one
//! database, capture once and record it once; two engines sweeping the
//! same expired holds cancel each once and return its stock once. On a
//! SQLite file and on a fresh PostgreSQL database.
#![cfg(all(feature = "sqlite", feature = "postgres"))]

mod common;

use std::sync::Arc;

use chrono::{Duration, Utc};
use orders_core::catalogue::Product;
use orders_core::ids::{CustomerId, OrderId};
use orders_core::order::{EventKind, Order, OrderEvent, OrderStatus, PaymentStatus};
use orders_core::ports::{Clock, ManualClock, Store, SystemClock, TestGateway};
use orders_core::testkit::{cart_with, product, token_form};
use orders_core::{Orders, OrdersConfig, WebhookOutcome};
use orders_sqlx::SqliteStore;

/// How many races per backend.
const RACES: usize = 50;

/// Orders whose holds two sweepers expire at once, per round.
const HOLDS: usize = 20;

/// An engine over `store`, sharing `gateway` and `clock` with the others.
fn engine(store: Arc<dyn Store>, gateway: &Arc<TestGateway>, clock: Arc<dyn Clock>) -> Orders {
    Orders::builder(store)
        .config(OrdersConfig::demo())
        .payments(gateway.clone())
        .clock(clock)
        .build()
}

/// Places an order of `quantity` of `product` that waits for the
/// customer's 3-D Secure.
async fn awaiting(orders: &Orders, who: &CustomerId, product: &Product, quantity: u32) -> Order {
    let cart = cart_with(orders, who, &[(product.id(), quantity)]).await;
    let order = orders
        .checkout(
            who,
            &cart,
            token_form(TestGateway::TOKEN_REQUIRES_ACTION),
            None,
        )
        .await
        .expect("checkout")
        .order;
    assert_eq!(order.status(), OrderStatus::AwaitingPayment);
    order
}

fn is_capture(event: &OrderEvent) -> bool {
    event.kind == EventKind::PaymentUpdated
        && event
            .data
            .as_ref()
            .is_some_and(|d| d["status"] == PaymentStatus::Captured.as_str())
}

/// `RACES` times: an order waits for 3-D Secure, the customer
/// authenticates, then engine `a` takes the customer's return and engine
/// `b` the webhook, each on a task of its own, at once.
async fn return_and_webhook_race(a: Orders, b: Orders, gateway: Arc<TestGateway>) {
    let who = CustomerId::parse(&format!("racer-{}", OrderId::generate())).expect("id");
    let stock = u32::try_from(RACES).expect("small");
    let p = product(&a, "9.00", stock).await;
    let mut applied = 0;
    for round in 0..RACES {
        let order = awaiting(&a, &who, &p, 1).await;
        let reference = order.payment().reference.clone().expect("reference");
        gateway.authenticate(&reference).expect("authenticate");
        let (signature, body) =
            gateway.webhook(&format!("evt_race_{round}"), &reference, Utc::now());

        let (confirm, webhook) = {
            let (a, b, who, id) = (a.clone(), b.clone(), who.clone(), order.id().clone());
            let confirm = tokio::spawn(async move { a.confirm_payment(&who, &id).await });
            let webhook = tokio::spawn(async move {
                b.payment_webhook("test", Some(&signature), body.as_bytes())
                    .await
            });
            tokio::join!(confirm, webhook)
        };
        let confirmed = confirm.expect("task").expect("confirm");
        assert_eq!(confirmed.id(), order.id());
        if let WebhookOutcome::Applied(_) = webhook.expect("task").expect("webhook") {
            applied += 1;
        }

        let captures = gateway.payment(&reference).expect("payment").captures;
        assert_eq!(captures, 1, "round {round}: captured once at the provider");
        let events = a.store().order_events(order.id()).await.expect("events");
        let paid: Vec<_> = events
            .iter()
            .filter(|e| e.from == Some(OrderStatus::AwaitingPayment) && e.to == OrderStatus::Paid)
            .collect();
        assert_eq!(paid.len(), 1, "round {round}: paid once: {events:?}");
        let recorded = events.iter().filter(|e| is_capture(e)).count();
        assert_eq!(
            recorded, 1,
            "round {round}: capture recorded once: {events:?}"
        );
        let last = a
            .store()
            .order(order.id())
            .await
            .expect("read")
            .expect("order");
        assert_eq!(last.status(), OrderStatus::Paid, "round {round}");
        assert_eq!(last.payment().status, PaymentStatus::Captured);
        assert_eq!(last.payment().captured, order.totals().total);
    }
    assert_eq!(applied, RACES, "every webhook was acted on");
}

/// Rounds of `HOLDS` orders whose holds expire; engines `a` and `b` (one
/// clock) sweep at once: every order cancelled once, with one cancelling
/// event, its authorisation voided, and the stock back exactly.
async fn concurrent_sweeps(a: Orders, b: Orders, clock: Arc<ManualClock>, rounds: usize) {
    let who = CustomerId::parse(&format!("sweeper-{}", OrderId::generate())).expect("id");
    let start_stock = 1000;
    let p = product(&a, "4.00", start_stock).await;
    for round in 0..rounds {
        let mut held = Vec::new();
        for i in 0..HOLDS {
            let quantity = u32::try_from(i % 3 + 1).expect("small");
            held.push(awaiting(&a, &who, &p, quantity).await);
        }
        let taken: u32 = held.iter().map(|o| o.lines()[0].quantity.get()).sum();
        assert_eq!(
            a.product(p.id()).await.expect("product").stock(),
            start_stock - taken
        );
        clock.advance(a.config().payment_hold + Duration::seconds(1));

        let (first, second) = {
            let (a, b) = (a.clone(), b.clone());
            let limit = HOLDS * 2;
            tokio::join!(
                tokio::spawn(async move { a.sweep_payments(limit).await }),
                tokio::spawn(async move { b.sweep_payments(limit).await })
            )
        };
        let (first, second) = (
            first.expect("task").expect("sweep"),
            second.expect("task").expect("sweep"),
        );
        let mut cancelled: Vec<OrderId> = first.cancelled.clone();
        cancelled.extend(second.cancelled.iter().cloned());
        cancelled.sort_by(|x, y| x.as_str().cmp(y.as_str()));
        let mut expected: Vec<OrderId> = held.iter().map(|o| o.id().clone()).collect();
        expected.sort_by(|x, y| x.as_str().cmp(y.as_str()));
        assert_eq!(
            cancelled,
            expected,
            "round {round}: each hold cancelled by exactly one sweeper ({} and {})",
            first.cancelled.len(),
            second.cancelled.len()
        );
        assert!(first.paid.is_empty() && second.paid.is_empty());

        assert_eq!(
            a.product(p.id()).await.expect("product").stock(),
            start_stock,
            "round {round}: the stock came back exactly once"
        );
        for order in &held {
            let events = a.store().order_events(order.id()).await.expect("events");
            let cancelling = events
                .iter()
                .filter(|e| {
                    e.to == OrderStatus::Cancelled && e.from != Some(OrderStatus::Cancelled)
                })
                .count();
            assert_eq!(cancelling, 1, "round {round}: {events:?}");
            let last = a
                .store()
                .order(order.id())
                .await
                .expect("read")
                .expect("order");
            assert_eq!(last.status(), OrderStatus::Cancelled);
            assert_eq!(last.payment().status, PaymentStatus::Voided);
        }
        assert!(
            a.sweep_payments(HOLDS)
                .await
                .expect("sweep")
                .cancelled
                .is_empty()
        );
    }
}

/// Two stores (two pools) over one SQLite file.
async fn sqlite_pair(dir: &tempfile::TempDir) -> (Arc<dyn Store>, Arc<dyn Store>) {
    let url = format!("sqlite://{}", dir.path().join("orders.db").display());
    let one = SqliteStore::connect(&url).await.expect("open");
    one.migrate().await.expect("migrate");
    let two = SqliteStore::connect(&url).await.expect("open again");
    two.migrate().await.expect("migrated already");
    (Arc::new(one), Arc::new(two))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_return_and_webhook_capture_once() {
    let dir = tempfile::tempdir().expect("dir");
    let (one, two) = sqlite_pair(&dir).await;
    let gateway = Arc::new(TestGateway::new());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let a = engine(one, &gateway, clock.clone());
    let b = engine(two, &gateway, clock);
    return_and_webhook_race(a, b, gateway).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_return_and_webhook_capture_once() {
    let Some(db) = common::PgDatabase::create().await else {
        return;
    };
    let gateway = Arc::new(TestGateway::new());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let a = engine(db.store().await, &gateway, clock.clone());
    let b = engine(db.store().await, &gateway, clock);
    return_and_webhook_race(a, b, gateway).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_sweeps_cancel_each_hold_once() {
    let Some(db) = common::PgDatabase::create().await else {
        return;
    };
    let gateway = Arc::new(TestGateway::new());
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let a = engine(db.store().await, &gateway, clock.clone());
    let b = engine(db.store().await, &gateway, clock.clone());
    concurrent_sweeps(a, b, clock, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_sweeps_cancel_each_hold_once() {
    let dir = tempfile::tempdir().expect("dir");
    let (one, two) = sqlite_pair(&dir).await;
    let gateway = Arc::new(TestGateway::new());
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let a = engine(one, &gateway, clock.clone());
    let b = engine(two, &gateway, clock.clone());
    concurrent_sweeps(a, b, clock, 2).await;
}
