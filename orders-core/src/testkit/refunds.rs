//! Refunds in the store: by units (exact shares), a free amount, through
//! the provider and refused by it; two staff refunding at once; money
//! given back by a transition kept as a refund.

use std::sync::Arc;

use chrono::Utc;
use futures_util::future::join;

use super::aftersale::{engine, place, reread, ship, staff, units};
use super::customer;
use crate::Access;
use crate::Error;
use crate::money::Money;
use crate::order::{
    EventKind, Order, OrderStatus, PaymentStatus, RefundAmount, RefundRequest, RefundStatus,
    plan_refund,
};
use crate::ports::{PaymentGateway, Store, StoreError};

/// Refunds by units add up to the line's total exactly, go through the
/// provider, are stored with their order and found by id; never more than
/// is left (422); the order is `refunded` once all of it is; a refund the
/// provider refuses leaves only its event.
pub(super) async fn refunds_round_trip(store: Arc<dyn Store>) {
    let (orders, gateway, _) = engine(store);
    let who = customer();
    let (order, a, b) = place(&orders, &who).await;
    orders
        .create_fulfilment(staff(), order.id(), ship(vec![units(&a, 3), units(&b, 1)]))
        .await
        .expect("ship all");
    let by_units = |lines, shipping| RefundRequest {
        amount: RefundAmount::Lines { lines, shipping },
        note: None,
        return_id: None,
    };
    let mut a_total = 0;
    for _ in 0..3 {
        let (_, refund) = orders
            .refund(staff(), order.id(), by_units(vec![units(&a, 1)], false))
            .await
            .expect("one unit");
        assert_eq!(refund.status, RefundStatus::Succeeded);
        a_total += refund.amount.to_minor();
    }
    assert_eq!(
        a_total,
        order.lines()[0].line_total.to_minor(),
        "units add up"
    );
    let fourth = orders
        .refund(staff(), order.id(), by_units(vec![units(&a, 1)], false))
        .await;
    assert!(matches!(fourth, Err(Error::Validation(_))), "{fourth:?}");
    let left = order.totals().total.to_minor() - a_total;
    let over = RefundRequest {
        amount: RefundAmount::Free(Money::from_minor(left + 1, order.currency()).expect("m")),
        note: None,
        return_id: None,
    };
    let refused = orders.refund(staff(), order.id(), over).await;
    assert!(
        matches!(&refused, Err(Error::Validation(e)) if e.contains("amount")),
        "{refused:?}"
    );

    // The provider refuses what it no longer has: only an event stays.
    let reference = order.payment().reference.clone().expect("reference");
    let behind = Money::from_minor(1, order.currency()).expect("m");
    gateway
        .refund(&reference, behind, "outside")
        .await
        .expect("refunded behind the engine's back");
    let all_left = RefundRequest {
        amount: RefundAmount::Free(Money::from_minor(left, order.currency()).expect("m")),
        note: None,
        return_id: None,
    };
    let provider_refused = orders.refund(staff(), order.id(), all_left).await;
    assert!(
        matches!(provider_refused, Err(Error::PaymentRefused(_))),
        "{provider_refused:?}"
    );
    let stored = reread(&orders, &order).await;
    assert_eq!(stored.refunds().len(), 3, "no trace of the refused refund");
    let last = orders
        .order_events(Access::Staff, order.id())
        .await
        .expect("events")
        .pop()
        .expect("event");
    assert_eq!(last.kind, EventKind::RefundUpdated);
    assert_eq!(last.data.as_ref().expect("data")["status"], "failed");

    let rest = RefundRequest {
        amount: RefundAmount::Free(Money::from_minor(left - 1, order.currency()).expect("m")),
        note: None,
        return_id: None,
    };
    let (done, refund) = orders
        .refund(staff(), order.id(), rest)
        .await
        .expect("rest");
    let found = orders
        .store()
        .order_by_refund(&refund.id)
        .await
        .expect("lookup");
    assert_eq!(found.as_ref().map(Order::id), Some(order.id()));
    assert_eq!(
        done.refunded_total().to_minor(),
        order.totals().total.to_minor() - 1
    );
    assert_eq!(done.payment().refunded, done.payment().captured);
    assert_eq!(reread(&orders, &order).await.refunds(), done.refunds());
}

/// Two staff refund the same order at once: the store applies one
/// reservation, the other loses its compare-and-set and is not applied,
/// so the provider refunds once; through the engine, the second gets a
/// conflict or sees the first and is refused, never a second refund.
pub(super) async fn concurrent_refunds_never_double(store: Arc<dyn Store>) {
    let (orders, gateway, _) = engine(store);
    let who = customer();
    let (order, a, b) = place(&orders, &who).await;
    let (order, _) = orders
        .create_fulfilment(staff(), order.id(), ship(vec![units(&a, 3), units(&b, 1)]))
        .await
        .expect("ship all");
    let all = || RefundRequest {
        amount: RefundAmount::Free(order.payment().refundable()),
        note: None,
        return_id: None,
    };
    let now = Utc::now();
    let one = plan_refund(&order, all(), staff(), now).expect("plan one");
    let two = plan_refund(&order, all(), staff(), now).expect("plan two");
    let (r1, r2) = join(
        orders.store().change_status(&one),
        orders.store().change_status(&two),
    )
    .await;
    assert!(
        r1.is_ok() != r2.is_ok(),
        "exactly one reservation: {r1:?} {r2:?}"
    );
    assert!(matches!(
        r1.as_ref().err().or(r2.as_ref().err()),
        Some(StoreError::Conflict)
    ));
    let stored = reread(&orders, &order).await;
    assert_eq!(stored.refunds().len(), 1);

    // Through the engine, on a fresh order.
    let (order, a, b) = place(&orders, &who).await;
    let (order, _) = orders
        .create_fulfilment(staff(), order.id(), ship(vec![units(&a, 3), units(&b, 1)]))
        .await
        .expect("ship all");
    let (x, y) = join(
        orders.refund(staff(), order.id(), all_of(&order)),
        orders.refund(staff(), order.id(), all_of(&order)),
    )
    .await;
    let oks = [x.is_ok(), y.is_ok()].iter().filter(|ok| **ok).count();
    assert_eq!(oks, 1, "{x:?} {y:?}");
    for r in [x, y].into_iter().filter_map(Result::err) {
        assert!(
            matches!(r, Error::ConcurrentUpdate | Error::Validation(_)),
            "{r:?}"
        );
    }
    let reference = order.payment().reference.clone().expect("reference");
    assert_eq!(gateway.payment(&reference).expect("payment").refunds, 1);
    let stored = reread(&orders, &order).await;
    assert_eq!(stored.refunded_total(), order.payment().captured);
    assert_eq!(
        stored.status(),
        OrderStatus::Shipped,
        "shipped cannot become refunded"
    );
}

fn all_of(order: &Order) -> RefundRequest {
    RefundRequest {
        amount: RefundAmount::Free(order.payment().refundable()),
        note: None,
        return_id: None,
    }
}

/// Cancelling (or refunding by transition) a captured order gives its
/// money back as a refund the order keeps: `refunded_total` says it.
pub(super) async fn money_back_by_transition_is_a_refund(store: Arc<dyn Store>) {
    let (orders, _) = super::engine(store);
    let who = customer();
    let (order, _, _) = place(&orders, &who).await;
    assert_eq!(order.payment().status, PaymentStatus::Captured);
    let cancelled = orders.cancel(&who, order.id(), None).await.expect("cancel");
    assert_eq!(cancelled.refunds().len(), 1);
    assert_eq!(cancelled.refunded_total(), order.totals().total);
    assert_eq!(cancelled.payment().refunded, order.totals().total);
    let stored = reread(&orders, &order).await;
    assert_eq!(stored.refunds(), cancelled.refunds());
}
