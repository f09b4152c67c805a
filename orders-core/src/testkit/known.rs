//! A status change of an order the caller already holds
//! ([`OrderStore::change_status_of`](crate::ports::OrderStore::change_status_of)):
//! it writes, returns and refuses exactly as `change_status`, and a `known`
//! order that is not the one the change was planned on is not trusted.

use std::sync::Arc;

use chrono::Utc;

use super::customer;
use super::payments::{engine_at, place, provider};
use crate::money::Money;
use crate::order::{Actor, EventKind, OrderStatus, PaymentStatus, plan_payment};
use crate::ports::{Store, StoreError, TestGateway};

/// The capture a card checkout records (planned on the order the placement
/// returned), a later change planned on a read, a stale one, and one handed
/// another order as `known`: each returns what a read then finds, or
/// refuses and writes nothing.
pub(super) async fn status_change_of_a_known_order(store: Arc<dyn Store>) {
    let (orders, _, _) = engine_at(store.clone(), Utc::now());
    let who = customer();
    // Placed authorised, then captured and recorded at checkout: the order
    // the checkout returns is the one the store holds.
    let (order, _) = place(&orders, &who, TestGateway::TOKEN_AUTHORIZED).await;
    let stored = store.order(order.id()).await.expect("read").expect("order");
    assert_eq!(order, stored, "the recorded capture reads back as returned");
    assert_eq!(stored.payment().status, PaymentStatus::Captured);
    assert_eq!(stored.version(), 2, "placed, then the capture recorded");

    let total = stored.totals().total;
    let part = Money::from_minor(100, total.currency()).expect("amount");
    let state = provider(PaymentStatus::PartiallyRefunded, total, total, part, None);
    let change = plan_payment(&stored, &state, Actor::system(), Utc::now()).expect("a change");
    let (changed, event) = store
        .change_status_of(&stored, &change)
        .await
        .expect("change of the known order");
    assert_eq!(changed.version(), stored.version() + 1);
    assert_eq!(changed.payment().refunded, part);
    assert_eq!(
        store.order(order.id()).await.expect("read").as_ref(),
        Some(&changed)
    );
    let events = store.order_events(order.id()).await.expect("events");
    assert_eq!(events.last(), Some(&event));
    assert_eq!(event.kind, EventKind::PaymentUpdated);

    // Stale: the known order and the change are a version behind.
    assert_eq!(
        store.change_status_of(&stored, &change).await.unwrap_err(),
        StoreError::Conflict
    );
    assert_eq!(
        store.order_events(order.id()).await.expect("events"),
        events,
        "a refused change writes no event"
    );

    // Another order as `known`: the change is still of its own order, and
    // returns that order as stored, not the other one changed.
    let (other, _) = place(&orders, &who, TestGateway::TOKEN_AUTHORIZED).await;
    let more = Money::from_minor(200, total.currency()).expect("amount");
    let state = provider(PaymentStatus::PartiallyRefunded, total, total, more, None);
    let change = plan_payment(&changed, &state, Actor::system(), Utc::now()).expect("a change");
    let (again, _) = store
        .change_status_of(&other, &change)
        .await
        .expect("change with another order as known");
    assert_eq!(again.id(), order.id());
    assert_eq!(again.payment().refunded, more);
    assert_eq!(
        store.order(order.id()).await.expect("read").as_ref(),
        Some(&again)
    );
    assert_eq!(
        store.order(other.id()).await.expect("read").as_ref(),
        Some(&other),
        "the other order is untouched"
    );
    assert_eq!(again.status(), OrderStatus::Paid);
}
