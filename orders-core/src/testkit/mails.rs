//! The mail store port: the mailer's fan-out, claims with leases in order
//! per order, attempts and retries. Run by [`run_mails`] on a store that
//! also keeps mails.
//!
//! Checks share the store with each other (and with earlier runs), and the
//! mailer's cursor is one for the whole store, so each makes its own
//! orders and looks only at their mails.

use std::collections::HashSet;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, join_all};

use super::{cart_with, customer, engine, form, product, unique};
use crate::ids::{DeliveryId, OrderId};
use crate::mail::{Mail, MailKind};
use crate::order::{Actor, Order, OrderStatus, TrackingNumber, Transition};
use crate::ports::{ClaimedMail, Lease, MailError, MailboxStore, Store, StoreError};
use crate::webhook::{DeliveryStatus, RetryPolicy};

type Check = fn(Arc<dyn MailboxStore>) -> BoxFuture<'static, ()>;

/// Every check of the mail store port, by name.
pub const MAIL_CHECKS: &[(&str, Check)] = &[
    ("fan_out_records_one_mail_per_customer_event", |s| {
        fan_out_records_one_mail_per_customer_event(s).boxed()
    }),
    ("mail_claims_keep_order_per_order_and_respect_leases", |s| {
        mail_claims_keep_order_per_order_and_respect_leases(s).boxed()
    }),
    ("concurrent_claims_never_share_a_mail", |s| {
        concurrent_claims_never_share_a_mail(s).boxed()
    }),
    ("dead_mails_can_be_retried", |s| {
        dead_mails_can_be_retried(s).boxed()
    }),
];

/// Runs every check of [`MAIL_CHECKS`], each on a store from
/// `make_store`, and panics listing the ones that failed.
///
/// ```
/// use std::sync::Arc;
///
/// use orders_core::memory::MemoryStore;
/// use orders_core::ports::MailboxStore;
///
/// futures_executor::block_on(orders_core::testkit::run_mails(|| async {
///     Arc::new(MemoryStore::new()) as Arc<dyn MailboxStore>
/// }));
/// ```
pub async fn run_mails<F, Fut>(make_store: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn MailboxStore>>,
{
    let mut failed = Vec::new();
    for (name, check) in MAIL_CHECKS {
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
        "mail checks failed:\n{}",
        failed.join("\n")
    );
}

/// A pending (cash on delivery) order.
async fn order(store: &Arc<dyn MailboxStore>) -> Order {
    let (orders, _) = engine(store.clone() as Arc<dyn Store>);
    let who = customer();
    let p = product(&orders, "5.00", 10).await;
    let cart = cart_with(&orders, &who, &[(p.id(), 1)]).await;
    orders
        .checkout(&who, &cart, form(None), None)
        .await
        .expect("checkout")
        .order
}

/// Moves `order` to `to` as stored (with a tracking number for shipped).
async fn move_to(store: &Arc<dyn MailboxStore>, order: &Order, to: OrderStatus) -> Order {
    let transition = Transition {
        tracking_number: (to == OrderStatus::Shipped)
            .then(|| TrackingNumber::parse("TRK-1").expect("tracking number")),
        ..Transition::to(to)
    };
    let change = crate::order::plan_transition(order, transition, Actor::system(), &[], Utc::now())
        .expect("a move the table allows");
    store.change_status(&change).await.expect("move").0
}

async fn fan_out_all(store: &Arc<dyn MailboxStore>, now: DateTime<Utc>) {
    while store.fan_out_mail(50, now).await.expect("fan out") > 0 {}
}

fn lease(until: DateTime<Utc>) -> Lease {
    Lease {
        token: unique("lease"),
        until,
    }
}

/// Claims at `now` and keeps those of `orders` (others' stay leased until
/// `now + 1 min`, which no check reaches again).
async fn claim(
    store: &Arc<dyn MailboxStore>,
    orders: &[&OrderId],
    now: DateTime<Utc>,
    lease: &Lease,
) -> Vec<ClaimedMail> {
    let claimed = store.claim_mails(now, lease, 10_000).await.expect("claim");
    claimed
        .into_iter()
        .filter(|c| orders.contains(&&c.mail.order_id))
        .collect()
}

fn kinds(mails: &[Mail]) -> Vec<MailKind> {
    mails.iter().map(|m| m.kind).collect()
}

async fn fan_out_records_one_mail_per_customer_event(store: Arc<dyn MailboxStore>) {
    let now = Utc::now();
    let placed = order(&store).await;
    let paid = move_to(&store, &placed, OrderStatus::Paid).await;
    let processing = move_to(&store, &paid, OrderStatus::Processing).await;
    move_to(&store, &processing, OrderStatus::Shipped).await;
    let cancelled = order(&store).await;
    move_to(&store, &cancelled, OrderStatus::Cancelled).await;
    // Several movers at once record each event's mail once.
    join_all((0..4).map(|_| fan_out_all(&store, now))).await;
    fan_out_all(&store, now).await;
    let shipped = store.order_mails(placed.id()).await.expect("mails");
    assert_eq!(kinds(&shipped), [MailKind::Placed, MailKind::Shipped]);
    let events = store.order_events(placed.id()).await.expect("events");
    assert_eq!(shipped[0].id, Mail::id_for(events[0].id), "a stable id");
    assert_eq!(shipped[1].event_id, events[3].id);
    assert!(shipped.iter().all(|m| m.status == DeliveryStatus::Pending));
    let other = store.order_mails(cancelled.id()).await.expect("mails");
    assert_eq!(kinds(&other), [MailKind::Placed, MailKind::Cancelled]);
    assert!(store.pending_mails().await.expect("pending") >= 4);
}

async fn mail_claims_keep_order_per_order_and_respect_leases(store: Arc<dyn MailboxStore>) {
    let now = Utc::now() + Duration::seconds(5);
    let first = order(&store).await;
    move_to(&store, &first, OrderStatus::Cancelled).await;
    let second = order(&store).await;
    fan_out_all(&store, now).await;
    let mine = [first.id(), second.id()];
    let held = lease(now + Duration::minutes(1));
    let claimed = claim(&store, &mine, now, &held).await;
    let got: Vec<(&OrderId, MailKind)> = claimed
        .iter()
        .map(|c| (&c.mail.order_id, c.mail.kind))
        .collect();
    assert_eq!(
        got,
        [
            (first.id(), MailKind::Placed),
            (second.id(), MailKind::Placed)
        ],
        "the first mail of each order only, oldest first"
    );
    assert_eq!(
        claimed[0].event.id, claimed[0].mail.event_id,
        "with its event"
    );
    let again = claim(&store, &mine, now, &lease(now + Duration::minutes(1))).await;
    assert!(
        again.is_empty(),
        "leased mails are not claimed twice: {again:?}"
    );

    let policy = RetryPolicy::default();
    let sent = claimed[0].mail.after_attempt(&Ok(()), now, &policy);
    assert_eq!(
        store.record_mail_attempt(&sent, "not-the-lease").await,
        Err(StoreError::Conflict),
        "only the lease holder records"
    );
    store
        .record_mail_attempt(&sent, &held.token)
        .await
        .expect("record");
    let next = claim(&store, &mine, now, &lease(now + Duration::minutes(1))).await;
    let got: Vec<MailKind> = next.iter().map(|c| c.mail.kind).collect();
    assert_eq!(got, [MailKind::Cancelled], "the next of the first order");

    // A lease that ran out lets another claim take the mail.
    let later = now + Duration::minutes(2);
    let retaken = claim(
        &store,
        &[second.id()],
        later,
        &lease(later + Duration::minutes(1)),
    )
    .await;
    assert_eq!(retaken.len(), 1, "an expired lease frees the mail");
    assert_eq!(
        store
            .record_mail_attempt(&claimed[1].mail, &held.token)
            .await,
        Err(StoreError::Conflict),
        "the old holder may no longer record"
    );
    let mails = store.order_mails(first.id()).await.expect("mails");
    assert_eq!(mails[0].status, DeliveryStatus::Delivered);
    assert_eq!(mails[0].delivered_at, Some(now));
}

async fn concurrent_claims_never_share_a_mail(store: Arc<dyn MailboxStore>) {
    let now = Utc::now() + Duration::seconds(10);
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(order(&store).await.id().clone());
    }
    fan_out_all(&store, now).await;
    let mine: Vec<&OrderId> = ids.iter().collect();
    let leases: Vec<Lease> = (0..4).map(|_| lease(now + Duration::minutes(1))).collect();
    let claims = join_all(leases.iter().map(|l| claim(&store, &mine, now, l))).await;
    let mut seen = HashSet::new();
    for claimed in &claims {
        for c in claimed {
            assert!(
                seen.insert(c.mail.id.clone()),
                "{} claimed twice",
                c.mail.id
            );
        }
    }
    assert_eq!(seen.len(), 6, "every order's mail claimed once");
}

async fn dead_mails_can_be_retried(store: Arc<dyn MailboxStore>) {
    let now = Utc::now() + Duration::seconds(15);
    let placed = order(&store).await;
    fan_out_all(&store, now).await;
    let held = lease(now + Duration::minutes(1));
    let claimed = claim(&store, &[placed.id()], now, &held).await;
    assert_eq!(claimed.len(), 1);
    let mail = &claimed[0].mail;
    let refused = Err(MailError::Permanent("550 no such user".into()));
    let dead = mail.after_attempt(&refused, now, &RetryPolicy::default());
    store
        .record_mail_attempt(&dead, &held.token)
        .await
        .expect("record");
    let stored = store.order_mails(placed.id()).await.expect("mails");
    assert_eq!(stored[0].status, DeliveryStatus::Dead);
    assert_eq!(stored[0].last_error.as_deref(), Some("550 no such user"));
    assert!(store.dead_mails().await.expect("dead") >= 1, "counted dead");
    let listed = store
        .mails_in_status(DeliveryStatus::Dead, 100_000)
        .await
        .expect("dead mails");
    assert!(listed.iter().any(|m| m.id == mail.id), "listed dead");
    assert!(listed.iter().all(|m| m.status == DeliveryStatus::Dead));
    let pending = store
        .mails_in_status(DeliveryStatus::Pending, 100_000)
        .await
        .expect("pending mails");
    assert!(pending.iter().all(|m| m.status == DeliveryStatus::Pending));
    assert!(
        !pending.iter().any(|m| m.id == mail.id),
        "not listed pending"
    );
    let none = claim(
        &store,
        &[placed.id()],
        now,
        &lease(now + Duration::minutes(1)),
    )
    .await;
    assert!(none.is_empty(), "a dead mail is not claimed");

    let later = now + Duration::seconds(1);
    let retried = store.retry_mail(&mail.id, later).await.expect("retry");
    assert_eq!(
        (retried.status, retried.failures),
        (DeliveryStatus::Pending, 0)
    );
    assert_eq!(retried.next_attempt_at, later);
    let listed = store
        .mails_in_status(DeliveryStatus::Dead, 100_000)
        .await
        .expect("dead mails");
    assert!(!listed.iter().any(|m| m.id == mail.id), "no longer dead");
    assert_eq!(
        store.retry_mail(&mail.id, later).await.unwrap_err(),
        StoreError::Conflict,
        "only a dead mail is retried"
    );
    let unknown = DeliveryId::parse(&unique("mail")).expect("id");
    assert_eq!(
        store.retry_mail(&unknown, later).await.unwrap_err(),
        StoreError::NotFound
    );
    let back = claim(
        &store,
        &[placed.id()],
        later,
        &lease(later + Duration::minutes(1)),
    )
    .await;
    assert_eq!(back.len(), 1, "pending again");
}
