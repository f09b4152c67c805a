//! Orders after checkout: status changes (compare-and-set), cancellation
//! with restock and refund, listing and filters, and the event log.

use std::sync::Arc;

use super::{cart_with, customer, engine, form, product, stock};
use crate::catalogue::Product;
use crate::ids::{CustomerId, EventId, OrderId};
use crate::order::{Actor, Order, OrderStatus, StatusChange, TrackingNumber, Transition};
use crate::ports::{Cursor, OrderFilter, PageRequest, Store, StoreError};
use crate::{Access, Error, Orders};

async fn placed_order(
    orders: &Orders,
    who: &CustomerId,
    card: Option<&str>,
    quantity: u32,
) -> (Order, Product) {
    let p = product(orders, "8.00", 10).await;
    let cart = cart_with(orders, who, &[(p.id(), quantity)]).await;
    let order = orders
        .checkout(who, &cart, form(card), None)
        .await
        .expect("checkout")
        .order;
    (order, p)
}

pub(super) async fn status_changes_compare_and_set(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let who = customer();
    let (order, _) = placed_order(&orders, &who, None, 1).await;
    let staff = Actor::staff(&customer());
    let change = StatusChange {
        order_id: order.id().clone(),
        expected_version: order.version(),
        from: order.status(),
        to: OrderStatus::Paid,
        tracking_number: None,
        payment: None,
        kind: crate::order::EventKind::StatusChanged,
        restock: Vec::new(),
        records: Vec::new(),
        removed_refund: None,
        event_data: None,
        at: chrono::Utc::now(),
        actor: staff.clone(),
        note: None,
    };
    let (paid, event) = store.change_status(&change).await.expect("first change");
    assert_eq!(
        (paid.status(), paid.version()),
        (OrderStatus::Paid, order.version() + 1)
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
            order.id(),
            Transition::to(OrderStatus::Shipped),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_transition");
    orders
        .transition(
            staff.clone(),
            order.id(),
            Transition::to(OrderStatus::Processing),
        )
        .await
        .expect("processing");
    let err = orders
        .transition(
            staff.clone(),
            order.id(),
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
        .transition(staff.clone(), order.id(), ship)
        .await
        .expect("shipped");
    assert_eq!(
        shipped.tracking_number().as_ref().map(|t| t.as_str()),
        Some("1Z999")
    );
    let events = orders
        .order_events(Access::Staff, order.id())
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
            .order(order.id())
            .await
            .expect("read")
            .expect("order")
            .version(),
        order.version() + 3
    );
}

pub(super) async fn cancel_returns_stock_and_refunds(store: Arc<dyn Store>) {
    let (orders, gateway) = engine(store.clone());
    let who = customer();
    let (order, p) = placed_order(&orders, &who, Some("4242424242424242"), 3).await;
    assert_eq!(stock(&orders, p.id()).await, 7);
    assert_eq!(
        orders
            .cancel(&customer(), order.id(), None)
            .await
            .unwrap_err(),
        Error::NotFound("order"),
        "another customer cannot cancel"
    );
    let cancelled = orders.cancel(&who, order.id(), None).await.expect("cancel");
    assert_eq!(cancelled.status(), OrderStatus::Cancelled);
    assert_eq!(
        cancelled.payment().status,
        crate::order::PaymentStatus::Refunded
    );
    assert_eq!(stock(&orders, p.id()).await, 10);
    assert_eq!(gateway.captured_count(), 0);
    assert_eq!(
        orders
            .cancel(&who, order.id(), None)
            .await
            .unwrap_err()
            .code(),
        "invalid_transition"
    );
    assert_eq!(
        stock(&orders, p.id()).await,
        10,
        "a refused cancel returns nothing"
    );
}

pub(super) async fn orders_paginate_newest_first(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let who = customer();
    let mut placed = Vec::new();
    for _ in 0..5 {
        placed.push(placed_order(&orders, &who, None, 1).await.0.id().clone());
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
    let newest = placed_order(&orders, &who, None, 1).await.0.id().clone();
    let mut seen: Vec<_> = first.items.iter().map(|o| o.id().clone()).collect();
    let mut cursor = first.next_cursor;
    while let Some(c) = cursor {
        let page = orders
            .list_orders(Access::Staff, &mine, &PageRequest::first(2).after(Some(c)))
            .await
            .expect("page");
        seen.extend(page.items.iter().map(|o| o.id().clone()));
        cursor = page.next_cursor;
    }
    let expected: Vec<_> = placed.iter().rev().cloned().collect();
    assert_eq!(seen, expected);
    let all = orders
        .list_orders(Access::Staff, &mine, &PageRequest::first(100))
        .await
        .expect("all");
    assert_eq!(all.items.first().map(|o| o.id()), Some(&newest));
    assert!(all.next_cursor.is_none());
    let bad = PageRequest::first(2).after(Some(Cursor("garbage".into())));
    assert_eq!(
        store.list_orders(&mine, &bad).await.unwrap_err(),
        StoreError::InvalidCursor
    );
}

pub(super) async fn admin_filters(store: Arc<dyn Store>) {
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
        pending.items.iter().map(|o| o.id()).collect::<Vec<_>>(),
        [cod.id()]
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
        paid.items.iter().map(|o| o.id()).collect::<Vec<_>>(),
        [card.id()]
    );
    let by_number = OrderFilter {
        search: Some(card.number().to_string()),
        ..Default::default()
    };
    let found = orders
        .list_orders(Access::Staff, &by_number, &PageRequest::default())
        .await
        .expect("search");
    assert!(found.items.iter().any(|o| o.id() == card.id()));
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

pub(super) async fn events_replay_after_an_id(store: Arc<dyn Store>) {
    use futures_util::StreamExt;
    let (orders, _) = engine(store.clone());
    let who = customer();
    let (order, _) = placed_order(&orders, &who, None, 1).await;
    let staff = Actor::staff(&customer());
    let first_event = orders
        .order_events(Access::Owner(&who), order.id())
        .await
        .expect("events")[0]
        .id;
    orders
        .transition(staff.clone(), order.id(), Transition::to(OrderStatus::Paid))
        .await
        .expect("paid");
    let after = store
        .events_after(Some(first_event), Some(order.id()), 10)
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
        .track(Access::Owner(&who), order.id(), None)
        .await
        .expect("track");
    assert_eq!(snapshot.status(), OrderStatus::Paid);
    let (_, mut replay) = orders
        .track(Access::Owner(&who), order.id(), Some(first_event))
        .await
        .expect("replay");
    orders
        .transition(staff, order.id(), Transition::to(OrderStatus::Processing))
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
            .track(
                Access::Owner(&who),
                order.id(),
                Some(EventId::new(u64::MAX))
            )
            .await
            .err()
            .map(|e| e.code()),
        Some("validation")
    );
}
