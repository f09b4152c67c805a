//! After the sale in the store: fulfilments, returns and notes written
//! with their status change and event, read back with their order and
//! found by their id; exact restock; a fulfilment racing a cancellation;
//! internal notes kept from customers. Refunds are in `refunds`.

use std::sync::Arc;

use chrono::{Duration, Utc};
use futures_util::StreamExt;
use futures_util::future::join;

use super::{cart_with, customer, product, stock, token_form};
use crate::Error;
use crate::cart::Quantity;
use crate::catalogue::Product;
use crate::ids::CustomerId;
use crate::order::{
    Actor, Carrier, EventKind, FulfilmentRequest, FulfilmentState, FulfilmentStatus, ItemLine,
    NewNote, NoteText, Order, OrderStatus, PaymentStatus, RefundAmount, RefundRequest, ReturnMove,
    ReturnReason, ReturnRequest, ReturnStatus, TrackingNumber, Transition, plan_fulfilment,
    plan_transition,
};
use crate::ports::{ManualClock, Store, TestGateway};
use crate::{Access, Orders, OrdersConfig};

/// An engine capturing on shipment, with a clock it sets.
pub(super) fn engine(store: Arc<dyn Store>) -> (Orders, Arc<TestGateway>, Arc<ManualClock>) {
    let gateway = Arc::new(TestGateway::new());
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let mut config = OrdersConfig::demo();
    config.capture_policy = crate::order::CapturePolicy::OnShipment;
    let orders = Orders::builder(store)
        .config(config)
        .payments(gateway.clone())
        .clock(clock.clone())
        .build();
    (orders, gateway, clock)
}

/// A card order of 3 × 12.50 and 1 × 3.99 (10 of each in stock), paid
/// (authorised) by `who`.
pub(super) async fn place(orders: &Orders, who: &CustomerId) -> (Order, Product, Product) {
    let a = product(orders, "12.50", 10).await;
    let b = product(orders, "3.99", 10).await;
    let cart = cart_with(orders, who, &[(a.id(), 3), (b.id(), 1)]).await;
    let order = orders
        .checkout(who, &cart, token_form("test_visa"), None)
        .await
        .expect("checkout")
        .order;
    (order, a, b)
}

pub(super) fn units(product: &Product, n: u32) -> ItemLine {
    ItemLine {
        product_id: product.id().clone(),
        quantity: Quantity::new(n).expect("quantity"),
    }
}

pub(super) fn ship(lines: Vec<ItemLine>) -> FulfilmentRequest {
    FulfilmentRequest {
        lines,
        carrier: Some(Carrier::parse("DHL").expect("carrier")),
        tracking_number: TrackingNumber::parse("TRK-1").expect("tracking"),
    }
}

pub(super) fn staff() -> Actor {
    Actor::staff(&customer())
}

pub(super) async fn reread(orders: &Orders, order: &Order) -> Order {
    orders
        .store()
        .order(order.id())
        .await
        .expect("read")
        .expect("order")
}

/// Fulfilments are stored with their order, in order, found by id; the
/// status follows them; each captures its share, the shares add up to
/// the total; shipping more than is left is refused on `lines`, and so is
/// shipping from a status the table forbids.
pub(super) async fn fulfilments_round_trip(store: Arc<dyn Store>) {
    let (orders, gateway, _) = engine(store);
    let who = customer();
    let (order, a, b) = place(&orders, &who).await;
    assert_eq!(order.payment().status, PaymentStatus::Authorized);
    let (after, first) = orders
        .create_fulfilment(staff(), order.id(), ship(vec![units(&a, 1)]))
        .await
        .expect("first fulfilment");
    assert_eq!(after.status(), OrderStatus::PartiallyShipped);
    assert_eq!(after.fulfilment_status(), FulfilmentState::Partial);
    let stored = reread(&orders, &order).await;
    assert_eq!(
        stored.fulfilments(),
        std::slice::from_ref(&first),
        "stored with its order"
    );
    assert_eq!(
        stored.payment().captured,
        first.amount,
        "the first share captured"
    );
    let over = orders
        .create_fulfilment(staff(), order.id(), ship(vec![units(&a, 3)]))
        .await
        .expect_err("3 of a, 2 left");
    assert!(
        matches!(&over, Error::Validation(e) if e.contains("lines")),
        "{over:?}"
    );
    let (done, second) = orders
        .create_fulfilment(staff(), order.id(), ship(vec![units(&a, 2), units(&b, 1)]))
        .await
        .expect("the rest");
    assert_eq!(done.status(), OrderStatus::Shipped);
    assert_eq!(done.fulfilment_status(), FulfilmentState::Fulfilled);
    let stored = reread(&orders, &order).await;
    assert_eq!(stored.fulfilments(), &[first.clone(), second.clone()]);
    let shares = first.amount.to_minor() + second.amount.to_minor();
    assert_eq!(shares, order.totals().total.to_minor(), "shares add up");
    assert_eq!(stored.payment().captured, order.totals().total);
    let reference = order.payment().reference.clone().expect("reference");
    assert_eq!(gateway.payment(&reference).expect("payment").captures, 2);
    let found = orders
        .store()
        .order_by_fulfilment(&second.id)
        .await
        .expect("lookup");
    assert_eq!(found.as_ref().map(Order::id), Some(order.id()));
    let more = orders
        .create_fulfilment(staff(), order.id(), ship(vec![units(&b, 1)]))
        .await
        .expect_err("shipped already");
    assert_eq!(more.code(), "invalid_transition");

    // Delivered one by one; the order once both are.
    let (o, f) = orders
        .mark_delivered(staff(), &first.id)
        .await
        .expect("one");
    assert_eq!(
        (o.status(), f.status),
        (OrderStatus::Shipped, FulfilmentStatus::Delivered)
    );
    let again = orders.mark_delivered(staff(), &first.id).await;
    assert_eq!(again.expect_err("twice").code(), "invalid_transition");
    let (o, _) = orders
        .mark_delivered(staff(), &second.id)
        .await
        .expect("two");
    assert_eq!(o.status(), OrderStatus::Delivered);
    let stored = reread(&orders, &order).await;
    assert!(
        stored
            .fulfilments()
            .iter()
            .all(|f| f.delivered_at.is_some())
    );
    let ids: Vec<_> = stored.fulfilments().iter().map(|f| f.id.clone()).collect();
    assert_eq!(
        ids,
        [first.id.clone(), second.id.clone()],
        "replaced in place"
    );
    let kinds: Vec<EventKind> = orders
        .order_events(Access::Staff, order.id())
        .await
        .expect("events")
        .iter()
        .map(|e| e.kind)
        .collect();
    for kind in [EventKind::FulfilmentCreated, EventKind::FulfilmentDelivered] {
        assert_eq!(kinds.iter().filter(|k| **k == kind).count(), 2, "{kinds:?}");
    }
}

/// A delivered order's return: requested within the window for what was
/// delivered, approved, received with restock (exactly its units back, its
/// product's version up), found by id; another rejected; past the window,
/// refused.
pub(super) async fn returns_round_trip_and_restock_exact_units(store: Arc<dyn Store>) {
    let (orders, _, clock) = engine(store);
    let who = customer();
    let (order, a, b) = place(&orders, &who).await;
    let tracking = TrackingNumber::parse("T").expect("t");
    orders
        .transition(
            staff(),
            order.id(),
            Transition {
                tracking_number: Some(tracking.clone()),
                ..Transition::to(OrderStatus::Processing)
            },
        )
        .await
        .expect("processing");
    let shipped = orders
        .transition(
            staff(),
            order.id(),
            Transition {
                tracking_number: Some(tracking),
                ..Transition::to(OrderStatus::Shipped)
            },
        )
        .await
        .expect("ships all in one fulfilment");
    assert_eq!(shipped.fulfilments().len(), 1);
    assert_eq!(
        shipped.payment().captured,
        order.totals().total,
        "captured on shipment"
    );
    let delivered = orders
        .transition(staff(), order.id(), Transition::to(OrderStatus::Delivered))
        .await
        .expect("delivered");
    assert_eq!(
        delivered.fulfilments()[0].status,
        FulfilmentStatus::Delivered
    );
    let before = orders.product(a.id()).await.expect("a");
    let ask = |lines| ReturnRequest {
        lines,
        reason: ReturnReason::parse("too big").expect("reason"),
    };
    let too_many = orders
        .request_return(&who, order.id(), ask(vec![units(&a, 4)]))
        .await;
    assert!(
        matches!(too_many, Err(Error::Validation(_))),
        "{too_many:?}"
    );
    let (_, ret) = orders
        .request_return(&who, order.id(), ask(vec![units(&a, 2)]))
        .await
        .expect("return");
    assert_eq!(ret.status, ReturnStatus::Requested);
    let stranger = orders
        .request_return(&customer(), order.id(), ask(vec![units(&b, 1)]))
        .await;
    assert_eq!(stranger.expect_err("not theirs"), Error::NotFound("order"));
    let found = orders
        .store()
        .order_by_return(&ret.id)
        .await
        .expect("lookup");
    assert_eq!(found.as_ref().map(Order::id), Some(order.id()));
    let early = orders
        .move_return(staff(), &ret.id, ReturnMove::Receive { restock: true })
        .await;
    assert_eq!(
        early.expect_err("not approved").code(),
        "invalid_transition"
    );
    orders
        .move_return(staff(), &ret.id, ReturnMove::Approve)
        .await
        .expect("approve");
    let (after, received) = orders
        .move_return(staff(), &ret.id, ReturnMove::Receive { restock: true })
        .await
        .expect("receive");
    assert_eq!(received.status, ReturnStatus::Received);
    assert!(received.restocked);
    assert_eq!(after.returns(), std::slice::from_ref(&received));
    let now = orders.product(a.id()).await.expect("a");
    assert_eq!(now.stock(), before.stock() + 2, "exactly its units back");
    assert!(
        now.version() > before.version(),
        "the product's version rose"
    );
    assert_eq!(stock(&orders, b.id()).await, 9, "nothing else");
    assert_eq!(
        reread(&orders, &order).await.returns(),
        std::slice::from_ref(&received)
    );
    // A refund naming the received return pays back its units.
    let (paid_back, refund) = orders
        .refund(
            staff(),
            order.id(),
            RefundRequest {
                amount: RefundAmount::Lines {
                    lines: Vec::new(),
                    shipping: false,
                },
                note: None,
                return_id: Some(received.id.clone()),
            },
        )
        .await
        .expect("refund of the return");
    assert_eq!(refund.lines, received.lines);
    assert_eq!(refund.return_id.as_ref(), Some(&received.id));
    assert_eq!(paid_back.returns()[0].status, ReturnStatus::Refunded);

    let (_, other) = orders
        .request_return(&who, order.id(), ask(vec![units(&b, 1)]))
        .await
        .expect("second return");
    let note = crate::order::Note::parse("worn").expect("note");
    let (_, rejected) = orders
        .move_return(staff(), &other.id, ReturnMove::Reject(note))
        .await
        .expect("reject");
    assert_eq!(rejected.status, ReturnStatus::Rejected);
    clock.advance(Duration::days(31));
    let late = orders
        .request_return(&who, order.id(), ask(vec![units(&a, 1)]))
        .await;
    assert!(matches!(late, Err(Error::Validation(_))), "{late:?}");
}

/// A fulfilment and a cancellation decided on the same order: the store
/// applies one; if the cancellation won, the stock is back and nothing
/// shipped; if the fulfilment won, no stock came back.
pub(super) async fn fulfilment_races_cancellation(store: Arc<dyn Store>) {
    let (orders, _, _) = engine(store);
    let who = customer();
    let (order, a, _) = place(&orders, &who).await;
    let now = Utc::now();
    let fulfil = plan_fulfilment(&order, ship(vec![units(&a, 1)]), staff(), &[], now)
        .expect("plan fulfilment");
    let cancel = plan_transition(
        &order,
        Transition::to(OrderStatus::Cancelled),
        staff(),
        &[],
        now,
    )
    .expect("plan cancel");
    let (f, c) = join(
        orders.store().change_status(&fulfil),
        orders.store().change_status(&cancel),
    )
    .await;
    assert!(f.is_ok() != c.is_ok(), "exactly one: {f:?} {c:?}");
    let stored = reread(&orders, &order).await;
    if c.is_ok() {
        assert_eq!(stored.status(), OrderStatus::Cancelled);
        assert!(stored.fulfilments().is_empty());
        assert_eq!(stock(&orders, a.id()).await, 10);
    } else {
        assert_eq!(stored.status(), OrderStatus::PartiallyShipped);
        assert_eq!(stored.fulfilments().len(), 1);
        assert_eq!(stock(&orders, a.id()).await, 7);
        let late = orders.cancel(&who, order.id(), None).await;
        assert_eq!(late.expect_err("shipped").code(), "invalid_transition");
    }
}

/// Notes are stored with their order, in order; a customer's reads (the
/// order, its events, its tracking snapshot and stream) never show an
/// internal one.
pub(super) async fn internal_notes_never_reach_the_customer(store: Arc<dyn Store>) {
    let (orders, _, _) = engine(store);
    let who = customer();
    let (order, _, _) = place(&orders, &who).await;
    let (_, mut live) = orders
        .track(Access::Owner(&who), order.id(), None)
        .await
        .expect("track");
    let note = |text: &str, visible| NewNote {
        text: NoteText::parse(text).expect("text"),
        visible_to_customer: visible,
    };
    let (_, internal) = orders
        .add_note(staff(), order.id(), note("fraud check pending", false))
        .await
        .expect("internal");
    let (_, visible) = orders
        .add_note(staff(), order.id(), note("ships Monday", true))
        .await
        .expect("visible");
    let stored = reread(&orders, &order).await;
    assert_eq!(stored.notes(), &[internal.clone(), visible.clone()]);
    let mine = orders
        .order(Access::Owner(&who), order.id())
        .await
        .expect("order");
    assert_eq!(mine.notes(), std::slice::from_ref(&visible));
    let json = serde_json::to_string(&mine).expect("json");
    assert!(!json.contains("fraud check"), "{json}");
    let events = orders
        .order_events(Access::Owner(&who), order.id())
        .await
        .expect("events");
    assert!(
        !serde_json::to_string(&events)
            .expect("json")
            .contains("fraud check")
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind == EventKind::NoteAdded)
            .count(),
        1
    );
    let next = live.next().await.expect("an event").expect("ok");
    assert_eq!(next.kind, EventKind::NoteAdded);
    assert_eq!(next.data.as_ref().expect("data")["id"], visible.id.as_str());
    let (snapshot, _) = orders
        .track(Access::Owner(&who), order.id(), None)
        .await
        .expect("track");
    assert_eq!(snapshot.notes(), &[visible]);
    let staff_view = orders
        .order(Access::Staff, order.id())
        .await
        .expect("staff");
    assert_eq!(staff_view.notes().len(), 2);
}
