//! Payments in the store: an order waiting for its payment, payment-only
//! changes (their amounts, next action, and the event's kind and data),
//! the compare-and-set under them, the sweeper's list of expired holds,
//! the lookup by provider reference, and provider webhook events recorded
//! once.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures_util::future::join_all;

use super::{cart_with, customer, product, stock, token_form, unique};
use crate::catalogue::Product;
use crate::ids::CustomerId;
use crate::money::Money;
use crate::order::{
    Actor, EventKind, NextAction, Order, OrderStatus, PaymentStatus, ProviderState, plan_payment,
};
use crate::ports::{Clock, ManualClock, Store, StoreError, TestGateway};
use crate::{Access, Orders, OrdersConfig};

/// An engine over `store` with a test gateway and a clock it sets.
pub(super) fn engine_at(
    store: Arc<dyn Store>,
    at: DateTime<Utc>,
) -> (Orders, Arc<TestGateway>, Arc<ManualClock>) {
    let gateway = Arc::new(TestGateway::new());
    let clock = Arc::new(ManualClock::new(at));
    let orders = Orders::builder(store)
        .config(OrdersConfig::demo())
        .payments(gateway.clone())
        .clock(clock.clone())
        .build();
    (orders, gateway, clock)
}

/// Places an order of one unit of a new product (3 in stock), paid with
/// the test gateway's `token`.
pub(super) async fn place(orders: &Orders, who: &CustomerId, token: &str) -> (Order, Product) {
    let p = product(orders, "12.50", 3).await;
    let cart = cart_with(orders, who, &[(p.id(), 1)]).await;
    let order = orders
        .checkout(who, &cart, token_form(token), None)
        .await
        .expect("checkout")
        .order;
    (order, p)
}

/// What the provider would say: `status` with these amounts.
pub(super) fn provider(
    status: PaymentStatus,
    authorized: Money,
    captured: Money,
    refunded: Money,
    next_action: Option<NextAction>,
) -> ProviderState {
    ProviderState {
        status,
        authorized,
        captured,
        refunded,
        next_action,
        brand: None,
        last4: None,
    }
}

/// An order placed `awaiting_payment` (3-D Secure) keeps its stock held,
/// its payment `requires_action` with the amount authorised and the next
/// action, and reads back exactly as placed; its first event is a plain
/// status change with no data.
pub(super) async fn awaiting_payment_orders_round_trip(store: Arc<dyn Store>) {
    let (orders, gateway, _) = engine_at(store.clone(), Utc::now());
    let who = customer();
    let (order, p) = place(&orders, &who, TestGateway::TOKEN_REQUIRES_ACTION).await;
    assert_eq!(order.status(), OrderStatus::AwaitingPayment);
    let payment = order.payment();
    assert_eq!(payment.status, PaymentStatus::RequiresAction);
    assert_eq!(payment.authorized, order.totals().total);
    assert!(payment.captured.is_zero() && payment.refunded.is_zero());
    let reference = payment.reference.clone().expect("a reference");
    assert_eq!(
        payment.next_action,
        Some(NextAction::UseSdk {
            client_secret: format!("{reference}_secret_test")
        })
    );
    assert!(gateway.payment(&reference).is_some());
    assert_eq!(stock(&orders, p.id()).await, 2, "the hold takes the stock");

    let read = store.order(order.id()).await.expect("read").expect("order");
    assert_eq!(read, order);
    let events = store.order_events(order.id()).await.expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::StatusChanged);
    assert_eq!(
        (events[0].from, events[0].to),
        (None, OrderStatus::AwaitingPayment)
    );
    assert_eq!(events[0].data, None);
}

/// A change of the payment alone (`from == to`, kind `payment_updated`)
/// stores every payment field and the event's kind and data, and reads
/// back as the store returned it; so does a new next action.
pub(super) async fn payment_only_changes_round_trip(store: Arc<dyn Store>) {
    let (orders, _, _) = engine_at(store.clone(), Utc::now());
    let who = customer();
    let (order, _) = place(&orders, &who, TestGateway::TOKEN_AUTHORIZED).await;
    // Placed authorised, captured at checkout.
    assert_eq!(order.status(), OrderStatus::Paid);
    let total = order.totals().total;
    let stored = store.order(order.id()).await.expect("read").expect("order");
    assert_eq!(stored.payment().status, PaymentStatus::Captured);
    assert_eq!(
        (stored.payment().authorized, stored.payment().captured),
        (total, total)
    );

    let part = Money::from_minor(125, total.currency()).expect("amount");
    let state = provider(PaymentStatus::PartiallyRefunded, total, total, part, None);
    let change = plan_payment(&stored, &state, Actor::system(), Utc::now()).expect("a change");
    assert_eq!(
        (change.from(), change.to()),
        (OrderStatus::Paid, OrderStatus::Paid)
    );
    assert_eq!(change.kind(), EventKind::PaymentUpdated);
    let (changed, event) = store.change_status(&change).await.expect("payment change");
    assert_eq!(changed.version(), stored.version() + 1);
    assert_eq!(changed.payment().status, PaymentStatus::PartiallyRefunded);
    assert_eq!(changed.payment().refunded, part);
    assert_eq!(changed.payment().captured, total);
    assert_eq!(
        store.order(order.id()).await.expect("read").as_ref(),
        Some(&changed)
    );
    let data = event.data.clone().expect("the payment as data");
    assert_eq!(data["status"], "partially_refunded");
    assert_eq!(data["refunded"], part.to_string());
    let events = store.order_events(order.id()).await.expect("events");
    assert_eq!(
        events.last(),
        Some(&event),
        "the event reads back as written"
    );
    assert_eq!(
        (event.kind, event.from, event.to),
        (
            EventKind::PaymentUpdated,
            Some(OrderStatus::Paid),
            OrderStatus::Paid
        )
    );

    // A payment still waiting for the customer, whose next action changes.
    let (waiting, _) = place(&orders, &who, TestGateway::TOKEN_REQUIRES_ACTION).await;
    let redirect = NextAction::Redirect {
        url: format!("https://bank.example/3ds/{}", unique("step")),
    };
    let p = waiting.payment();
    let state = provider(
        PaymentStatus::RequiresAction,
        p.authorized,
        p.captured,
        p.refunded,
        Some(redirect.clone()),
    );
    let change = plan_payment(&waiting, &state, Actor::system(), Utc::now()).expect("a change");
    assert_eq!(
        (change.from(), change.to()),
        (OrderStatus::AwaitingPayment, OrderStatus::AwaitingPayment)
    );
    let (changed, event) = store.change_status(&change).await.expect("next action");
    assert_eq!(changed.payment().next_action, Some(redirect));
    let read = store
        .order(waiting.id())
        .await
        .expect("read")
        .expect("order");
    assert_eq!(read, changed);
    assert_eq!(
        store
            .order_events(waiting.id())
            .await
            .expect("events")
            .last(),
        Some(&event)
    );
    assert_eq!(event.data.expect("data")["next_action"]["type"], "redirect");
}

/// A payment change made from a stale version writes nothing: not the
/// payment, not the status, not the event, not the stock.
pub(super) async fn payment_changes_compare_and_set(store: Arc<dyn Store>) {
    let (orders, _, _) = engine_at(store.clone(), Utc::now());
    let who = customer();
    let (waiting, p) = place(&orders, &who, TestGateway::TOKEN_REQUIRES_ACTION).await;
    let pay = waiting.payment();
    let authorized = provider(
        PaymentStatus::Authorized,
        pay.authorized,
        pay.captured,
        pay.refunded,
        None,
    );
    let voided = provider(
        PaymentStatus::Voided,
        pay.authorized,
        pay.captured,
        pay.refunded,
        None,
    );
    let paying = plan_payment(&waiting, &authorized, Actor::system(), Utc::now()).expect("paid");
    let cancelling = plan_payment(&waiting, &voided, Actor::system(), Utc::now()).expect("void");
    assert_eq!(cancelling.to(), OrderStatus::Cancelled);
    assert!(!cancelling.restock().is_empty());

    let (paid, _) = store.change_status(&paying).await.expect("first change");
    assert_eq!(paid.status(), OrderStatus::Paid);
    assert_eq!(paid.payment().status, PaymentStatus::Authorized);
    assert_eq!(paid.payment().next_action, None);
    let before = store.order_events(waiting.id()).await.expect("events");

    for stale in [&paying, &cancelling] {
        assert_eq!(
            store.change_status(stale).await.unwrap_err(),
            StoreError::Conflict,
            "a change from version {} after the order moved on",
            stale.expected_version()
        );
    }
    assert_eq!(
        store.order(waiting.id()).await.expect("read").as_ref(),
        Some(&paid)
    );
    assert_eq!(
        store.order_events(waiting.id()).await.expect("events"),
        before
    );
    assert_eq!(stock(&orders, p.id()).await, 2, "no stock went back");
}

/// The sweeper's list: only orders still `awaiting_payment`, placed before
/// the instant, oldest first, at most `limit`.
pub(super) async fn awaiting_payment_lists_expired_holds(store: Arc<dyn Store>) {
    // A past instant of its own, so other checks' orders are newer.
    let start: DateTime<Utc> = "2020-03-01T10:00:00Z".parse().expect("instant");
    let (orders, gateway, clock) = engine_at(store.clone(), start);
    let who = customer();
    let minute = Duration::minutes(1);
    let (first, _) = place(&orders, &who, TestGateway::TOKEN_REQUIRES_ACTION).await;
    clock.advance(minute);
    let (paid, _) = place(&orders, &who, TestGateway::TOKEN_REQUIRES_ACTION).await;
    let reference = paid.payment().reference.clone().expect("reference");
    gateway.authenticate(&reference).expect("authenticated");
    let paid = orders
        .confirm_payment(&who, paid.id())
        .await
        .expect("confirm");
    assert_eq!(paid.status(), OrderStatus::Paid);
    clock.advance(minute);
    let (second, _) = place(&orders, &who, TestGateway::TOKEN_REQUIRES_ACTION).await;
    clock.advance(minute);
    let (card, _) = place(&orders, &who, TestGateway::TOKEN_AUTHORIZED).await;
    clock.advance(minute);
    let (late, _) = place(&orders, &who, TestGateway::TOKEN_REQUIRES_ACTION).await;
    let before = late.created_at();
    assert_eq!(before, clock.now());

    let listed = store.awaiting_payment(before, 1000).await.expect("list");
    assert!(listed.len() <= 1000);
    for o in &listed {
        assert_eq!(o.status(), OrderStatus::AwaitingPayment, "{}", o.id());
        assert!(o.created_at() < before, "{} placed too late", o.id());
    }
    let numbers: Vec<u64> = listed.iter().map(|o| o.number().get()).collect();
    let mut sorted = numbers.clone();
    sorted.sort_unstable();
    assert_eq!(numbers, sorted, "oldest first");
    let at = |o: &Order| listed.iter().position(|l| l.id() == o.id());
    let (a, b) = (at(&first), at(&second));
    assert!(a.is_some() && b.is_some(), "both holds listed: {numbers:?}");
    assert!(a < b);
    assert_eq!(listed[a.unwrap_or_default()], first, "read in full");
    for excluded in [&paid, &card, &late] {
        assert_eq!(at(excluded), None, "{} is not a hold before", excluded.id());
    }

    let one = store.awaiting_payment(before, 1).await.expect("list");
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].id(), listed[0].id());
    let none = store
        .awaiting_payment(first.created_at(), 1000)
        .await
        .expect("list");
    assert!(none.iter().all(|o| o.created_at() < first.created_at()));
    assert!(none.iter().all(|o| o.id() != first.id()));
}

/// An order is found by its payment's provider reference; an unknown
/// reference finds none.
pub(super) async fn orders_found_by_payment_reference(store: Arc<dyn Store>) {
    let (orders, _, _) = engine_at(store.clone(), Utc::now());
    let who = customer();
    let (order, _) = place(&orders, &who, TestGateway::TOKEN_AUTHORIZED).await;
    let (other, _) = place(&orders, &who, TestGateway::TOKEN_REQUIRES_ACTION).await;
    for placed in [&order, &other] {
        let reference = placed.payment().reference.clone().expect("reference");
        let found = store
            .order_by_payment_reference(&reference)
            .await
            .expect("lookup")
            .expect("found");
        let read = orders
            .order(Access::Owner(&who), placed.id())
            .await
            .expect("read");
        assert_eq!(found, read);
    }
    let unknown = unique("test_pi_unknown");
    assert_eq!(
        store
            .order_by_payment_reference(&unknown)
            .await
            .expect("lookup"),
        None
    );
}

/// A provider's webhook event is recorded once, even when recorded many
/// times at once; it is seen after, and only under its own provider.
pub(super) async fn provider_events_recorded_once(store: Arc<dyn Store>) {
    let id = unique("evt");
    let now = Utc::now();
    assert!(!store.provider_event_seen("test", &id).await.expect("seen"));
    assert!(
        store
            .record_provider_event("test", &id, now)
            .await
            .expect("record")
    );
    assert!(store.provider_event_seen("test", &id).await.expect("seen"));
    assert!(
        !store
            .record_provider_event("test", &id, now)
            .await
            .expect("again")
    );
    assert!(
        !store
            .provider_event_seen("stripe", &id)
            .await
            .expect("seen"),
        "events are per provider"
    );

    let racing = unique("evt");
    let recorded =
        join_all((0..8).map(|_| store.record_provider_event("stripe", &racing, now))).await;
    let inserted = recorded
        .into_iter()
        .map(|r| r.expect("record"))
        .filter(|inserted| *inserted)
        .count();
    assert_eq!(inserted, 1, "recorded once among concurrent records");
    assert!(
        store
            .provider_event_seen("stripe", &racing)
            .await
            .expect("seen")
    );
    assert!(
        !store
            .provider_event_seen("test", &racing)
            .await
            .expect("seen")
    );
}
