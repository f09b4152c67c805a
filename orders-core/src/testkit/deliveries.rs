//! The delivery port: webhooks, the consumer cursor's fan-out, claims
//! with leases in order per order, attempts, retries and listing. Run by
//! [`run_deliveries`] on a store that also keeps deliveries.
//!
//! Checks share the store with each other (and with earlier runs), so
//! each makes its own webhooks and orders, looks only at the deliveries of
//! its own webhooks, and deletes its webhooks at the end.

use std::collections::HashSet;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, join_all};

use super::{cart_with, customer, engine, form, product, unique};
use crate::ids::{EventId, OrderId, WebhookId};
use crate::order::{Actor, Order, OrderEvent, OrderStatus, StatusChange};
use crate::ports::{
    AttemptRecord, ClaimLimits, ClaimedDelivery, Cursor, Lease, OutboxStore, PageRequest, Store,
    StoreError,
};
use crate::webhook::{
    AttemptOutcome, Delivery, DeliveryStatus, EventFilter, NewWebhook, RetryPolicy, Webhook,
    WebhookSecret, WebhookUrl,
};

mod batches;

type Check = fn(Arc<dyn OutboxStore>) -> BoxFuture<'static, ()>;

/// Every check of the delivery port, by name.
pub const DELIVERY_CHECKS: &[(&str, Check)] = &[
    ("webhooks_are_stored_listed_and_deleted", |s| {
        webhooks_are_stored_listed_and_deleted(s).boxed()
    }),
    ("fan_out_records_each_wanted_event_once", |s| {
        fan_out_records_each_wanted_event_once(s).boxed()
    }),
    ("claims_keep_order_per_order_and_respect_leases", |s| {
        claims_keep_order_per_order_and_respect_leases(s).boxed()
    }),
    ("concurrent_claims_never_share_a_delivery", |s| {
        concurrent_claims_never_share_a_delivery(s).boxed()
    }),
    ("dead_deliveries_can_be_retried", |s| {
        dead_deliveries_can_be_retried(s).boxed()
    }),
    ("a_batch_records_mixed_outcomes_and_refuses_the_rest", |s| {
        batches::a_batch_records_mixed_outcomes_and_refuses_the_rest(s).boxed()
    }),
    ("a_batch_with_a_lost_lease_stores_only_what_it_holds", |s| {
        batches::a_batch_with_a_lost_lease_stores_only_what_it_holds(s).boxed()
    }),
    ("concurrent_batches_never_both_record_a_delivery", |s| {
        batches::concurrent_batches_never_both_record_a_delivery(s).boxed()
    }),
];

/// Runs every check of [`DELIVERY_CHECKS`], each on a store from
/// `make_store`, and panics listing the ones that failed.
///
/// ```
/// use std::sync::Arc;
///
/// use orders_core::memory::MemoryStore;
/// use orders_core::ports::OutboxStore;
///
/// futures_executor::block_on(orders_core::testkit::run_deliveries(|| async {
///     Arc::new(MemoryStore::new()) as Arc<dyn OutboxStore>
/// }));
/// ```
pub async fn run_deliveries<F, Fut>(make_store: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn OutboxStore>>,
{
    let mut failed = Vec::new();
    for (name, check) in DELIVERY_CHECKS {
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
        "delivery checks failed:\n{}",
        failed.join("\n")
    );
}

fn new_webhook(events: &[&str]) -> NewWebhook {
    NewWebhook {
        id: WebhookId::parse(&unique("wh")).expect("id"),
        url: WebhookUrl::parse("https://hooks.example.com/in").expect("url"),
        events: EventFilter::parse(events).expect("events"),
        secret: WebhookSecret::from_random_bytes(&[7; 32]),
        created_at: Utc::now(),
    }
}

/// A pending (cash on delivery) order, and its first event.
async fn order(store: &Arc<dyn OutboxStore>) -> (Order, OrderEvent) {
    let (orders, _) = engine(store.clone() as Arc<dyn Store>);
    let who = customer();
    let p = product(&orders, "5.00", 10).await;
    let cart = cart_with(&orders, &who, &[(p.id(), 1)]).await;
    let order = orders
        .checkout(&who, &cart, form(None), None)
        .await
        .expect("checkout")
        .order;
    let events = store.order_events(order.id()).await.expect("events");
    (order, events[0].clone())
}

/// Moves `order` from pending to paid; the event.
async fn pay(store: &Arc<dyn OutboxStore>, order: &Order) -> OrderEvent {
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
        at: Utc::now(),
        actor: Actor::system(),
        note: None,
    };
    store.change_status(&change).await.expect("pay").1
}

/// Fans `consumer` out until it has passed every committed event.
async fn fan_out_all(store: &Arc<dyn OutboxStore>, consumer: &str, now: DateTime<Utc>) {
    while store.fan_out(consumer, 50, now).await.expect("fan out") > 0 {}
}

fn lease(until: DateTime<Utc>) -> Lease {
    Lease {
        token: unique("lease"),
        until,
    }
}

/// Claims at `now` and keeps those of `webhook` (others' stay leased
/// until `now + 1 min`, which no check reaches again).
async fn claim(
    store: &Arc<dyn OutboxStore>,
    webhook: &Webhook,
    now: DateTime<Utc>,
    lease: &Lease,
) -> Vec<ClaimedDelivery> {
    let claimed = store
        .claim_deliveries(now, lease, &ClaimLimits::total(1000))
        .await
        .expect("claim");
    claimed
        .into_iter()
        .filter(|c| c.webhook.id == webhook.id)
        .collect()
}

fn events_of(claimed: &[ClaimedDelivery]) -> Vec<EventId> {
    claimed.iter().map(|c| c.event.id).collect()
}

async fn webhooks_are_stored_listed_and_deleted(store: Arc<dyn OutboxStore>) {
    let (_, before) = order(&store).await;
    let first = store
        .insert_webhook(&new_webhook(&["*"]))
        .await
        .expect("insert");
    assert!(
        first.after_event.is_some_and(|e| e >= before.id),
        "a webhook starts after the events already committed: {:?} < {:?}",
        first.after_event,
        before.id
    );
    let mut again = new_webhook(&["order.created"]);
    again.id = first.id.clone();
    assert_eq!(
        store.insert_webhook(&again).await.unwrap_err(),
        StoreError::Duplicate("webhook")
    );
    let second = store
        .insert_webhook(&new_webhook(&["order.created", "order.status_changed"]))
        .await
        .expect("insert");
    assert_eq!(
        store.webhook(&second.id).await.expect("read").as_ref(),
        Some(&second),
        "read back as stored"
    );
    let listed: Vec<WebhookId> = store
        .webhooks()
        .await
        .expect("list")
        .into_iter()
        .map(|w| w.id)
        .filter(|id| *id == first.id || *id == second.id)
        .collect();
    assert_eq!(
        listed,
        [second.id.clone(), first.id.clone()],
        "newest first"
    );
    store.delete_webhook(&first.id).await.expect("delete");
    assert_eq!(
        store.delete_webhook(&first.id).await.unwrap_err(),
        StoreError::NotFound
    );
    assert_eq!(store.webhook(&first.id).await.expect("read"), None);
    store.delete_webhook(&second.id).await.expect("delete");
}

async fn fan_out_records_each_wanted_event_once(store: Arc<dyn OutboxStore>) {
    let consumer = unique("consumer");
    let now = Utc::now();
    let all = store
        .insert_webhook(&new_webhook(&["*"]))
        .await
        .expect("insert");
    let created_only = store
        .insert_webhook(&new_webhook(&["order.created"]))
        .await
        .expect("insert");
    let mut expected = Vec::new();
    for _ in 0..3 {
        let (order, created) = order(&store).await;
        let paid = pay(&store, &order).await;
        expected.push((created.id, paid.id));
    }
    // Several movers of one consumer at once record each pair once.
    join_all((0..4).map(|_| fan_out_all(&store, &consumer, now))).await;
    let position = store.consumer_position(&consumer).await.expect("position");
    let last = expected.last().expect("three").1;
    assert!(
        position.is_some_and(|p| p >= last),
        "{position:?} passed {last:?}"
    );
    assert_eq!(store.fan_out(&consumer, 50, now).await.expect("again"), 0);

    let listed = |webhook: WebhookId| {
        let store = store.clone();
        async move {
            let mut events = Vec::new();
            let mut page = PageRequest::first(2);
            loop {
                let got = store.deliveries(&webhook, &page).await.expect("list");
                events.extend(
                    got.items
                        .iter()
                        .map(|d| (d.event_id, d.status, d.id.clone())),
                );
                match got.next_cursor {
                    Some(cursor) => page = PageRequest::first(2).after(Some(cursor)),
                    None => break events,
                }
            }
        }
    };
    let to_all = listed(all.id.clone()).await;
    let mut want: Vec<EventId> = expected.iter().flat_map(|(c, p)| [*c, *p]).collect();
    want.sort_unstable_by(|a, b| b.cmp(a));
    let got: Vec<EventId> = to_all.iter().map(|d| d.0).collect();
    assert_eq!(got, want, "every event, once, newest first");
    assert!(to_all.iter().all(|d| d.1 == DeliveryStatus::Pending));
    assert!(
        to_all.iter().all(|d| d.2 == Delivery::id_for(&all.id, d.0)),
        "stable delivery ids"
    );
    let to_created = listed(created_only.id.clone()).await;
    let got: Vec<EventId> = to_created.iter().map(|d| d.0).collect();
    let mut want: Vec<EventId> = expected.iter().map(|(c, _)| *c).collect();
    want.reverse();
    assert_eq!(got, want, "only the events asked for");
    assert_eq!(
        store
            .deliveries(
                &all.id,
                &PageRequest::first(5).after(Some(Cursor("x".into())))
            )
            .await
            .unwrap_err(),
        StoreError::InvalidCursor
    );
    assert!(store.pending_deliveries().await.expect("count") >= 9);
    store.delete_webhook(&all.id).await.expect("delete");
    store
        .delete_webhook(&created_only.id)
        .await
        .expect("delete");
    assert!(
        store
            .deliveries(&all.id, &PageRequest::first(5))
            .await
            .expect("list")
            .items
            .is_empty(),
        "a deleted webhook's deliveries go with it"
    );
}

async fn claims_keep_order_per_order_and_respect_leases(store: Arc<dyn OutboxStore>) {
    let consumer = unique("consumer");
    let t0 = Utc::now();
    let policy = RetryPolicy::default();
    let webhook = store
        .insert_webhook(&new_webhook(&["*"]))
        .await
        .expect("insert");
    let (a, a_created) = order(&store).await;
    let a_paid = pay(&store, &a).await;
    let (_, b_created) = order(&store).await;
    fan_out_all(&store, &consumer, t0).await;

    // A webhook with as many in flight as allowed gets none.
    let full = ClaimLimits::total(1000)
        .per_webhook(8)
        .in_flight(&webhook.id, 8);
    let skipped = store
        .claim_deliveries(t0, &lease(t0 + Duration::seconds(30)), &full)
        .await
        .expect("claim");
    assert!(
        skipped.iter().all(|c| c.webhook.id != webhook.id),
        "a webhook without room had a delivery claimed"
    );
    // One with room for one gets one: the oldest.
    let one = lease(t0 + Duration::seconds(30));
    let claimed = store
        .claim_deliveries(t0, &one, &full.clone().in_flight(&webhook.id, 7))
        .await
        .expect("claim");
    let mine: Vec<&ClaimedDelivery> = claimed
        .iter()
        .filter(|c| c.webhook.id == webhook.id)
        .collect();
    assert_eq!(
        mine.iter().map(|c| c.event.id).collect::<Vec<_>>(),
        [a_created.id],
        "room for one: the oldest due delivery, and only it"
    );
    // Handed back untried, for the checks below.
    let back: Vec<AttemptRecord> = claimed
        .into_iter()
        .map(|c| AttemptRecord {
            delivery: c.delivery,
            lease_token: one.token.clone(),
        })
        .collect();
    store.record_attempts(&back).await.expect("hand back");

    // The first event of each order; A's second waits behind its first.
    let first = lease(t0 + Duration::seconds(30));
    let claimed = claim(&store, &webhook, t0, &first).await;
    assert_eq!(events_of(&claimed), [a_created.id, b_created.id]);
    assert!(
        claim(&store, &webhook, t0, &lease(t0 + Duration::seconds(30)))
            .await
            .is_empty(),
        "leased ones are not claimed again, and A's second waits"
    );

    // A's first fails: it waits for its retry, and A's second still waits.
    let a1 = claimed[0]
        .delivery
        .after_attempt(&AttemptOutcome::Failed("503".into()), t0, &policy);
    assert!(a1.next_attempt_at > t0);
    store
        .record_attempt(&a1, &first.token)
        .await
        .expect("record");
    assert_eq!(
        store.record_attempt(&a1, &first.token).await.unwrap_err(),
        StoreError::Conflict,
        "the lease ended with the attempt"
    );
    let b1 = claimed[1]
        .delivery
        .after_attempt(&AttemptOutcome::Delivered, t0, &policy);
    store
        .record_attempt(&b1, &first.token)
        .await
        .expect("record");
    assert!(
        claim(&store, &webhook, t0, &lease(t0 + Duration::seconds(30)))
            .await
            .is_empty()
    );

    // When due, A's first again; delivered, then A's second.
    let t1 = a1.next_attempt_at;
    let second = lease(t1 + Duration::seconds(30));
    let claimed = claim(&store, &webhook, t1, &second).await;
    assert_eq!(events_of(&claimed), [a_created.id]);
    assert_eq!(claimed[0].delivery.attempts, 1);
    assert_eq!(claimed[0].delivery.last_error.as_deref(), Some("503"));
    let a1 = claimed[0]
        .delivery
        .after_attempt(&AttemptOutcome::Delivered, t1, &policy);
    store
        .record_attempt(&a1, &second.token)
        .await
        .expect("record");
    let third = lease(t1 + Duration::seconds(30));
    let claimed = claim(&store, &webhook, t1, &third).await;
    assert_eq!(events_of(&claimed), [a_paid.id]);
    assert_eq!(claimed[0].event, a_paid, "the event as logged");
    assert_eq!(claimed[0].webhook, webhook);

    // A lease that ran out: another claim takes it, the first holder's
    // attempt is refused.
    let t2 = t1 + Duration::seconds(31);
    let fourth = lease(t2 + Duration::seconds(30));
    let retaken = claim(&store, &webhook, t2, &fourth).await;
    assert_eq!(events_of(&retaken), [a_paid.id]);
    let late = claimed[0]
        .delivery
        .after_attempt(&AttemptOutcome::Delivered, t2, &policy);
    assert_eq!(
        store.record_attempt(&late, &third.token).await.unwrap_err(),
        StoreError::Conflict
    );
    store
        .record_attempt(&late, &fourth.token)
        .await
        .expect("record");
    let page = store
        .deliveries(&webhook.id, &PageRequest::first(10))
        .await
        .expect("list");
    let statuses: Vec<(EventId, DeliveryStatus, u32)> = page
        .items
        .iter()
        .map(|d| (d.event_id, d.status, d.attempts))
        .collect();
    assert_eq!(
        statuses,
        [
            (b_created.id, DeliveryStatus::Delivered, 1),
            (a_paid.id, DeliveryStatus::Delivered, 1),
            (a_created.id, DeliveryStatus::Delivered, 2),
        ]
    );
    store.delete_webhook(&webhook.id).await.expect("delete");
    assert_eq!(
        store
            .record_attempt(&late, &fourth.token)
            .await
            .unwrap_err(),
        StoreError::NotFound
    );
}

async fn concurrent_claims_never_share_a_delivery(store: Arc<dyn OutboxStore>) {
    let consumer = unique("consumer");
    let now = Utc::now();
    let webhook = store
        .insert_webhook(&new_webhook(&["*"]))
        .await
        .expect("insert");
    let mut firsts = Vec::new();
    for _ in 0..8 {
        firsts.push(order(&store).await.1.id);
    }
    fan_out_all(&store, &consumer, now).await;
    let leases: Vec<Lease> = (0..4).map(|_| lease(now + Duration::seconds(30))).collect();
    let claims = join_all(leases.iter().map(|l| {
        let store = store.clone();
        async move {
            store
                .claim_deliveries(now, l, &ClaimLimits::total(3))
                .await
                .expect("claim")
        }
    }))
    .await;
    let mut seen = HashSet::new();
    for claimed in claims.iter().flatten() {
        assert!(seen.insert(claimed.delivery.id.clone()), "claimed twice");
    }
    let mine: HashSet<EventId> = claims
        .iter()
        .flatten()
        .filter(|c| c.webhook.id == webhook.id)
        .map(|c| c.event.id)
        .collect();
    let rest = claim(&store, &webhook, now, &lease(now + Duration::seconds(30))).await;
    let all: HashSet<EventId> = mine.iter().copied().chain(events_of(&rest)).collect();
    assert_eq!(all.len(), mine.len() + rest.len(), "claimed twice");
    assert_eq!(all, firsts.into_iter().collect(), "every one claimed once");
    store.delete_webhook(&webhook.id).await.expect("delete");
}

async fn dead_deliveries_can_be_retried(store: Arc<dyn OutboxStore>) {
    let consumer = unique("consumer");
    let t0 = Utc::now();
    let policy = RetryPolicy {
        give_up_after: Duration::zero(),
        ..RetryPolicy::default()
    };
    let webhook = store
        .insert_webhook(&new_webhook(&["*"]))
        .await
        .expect("insert");
    let other = store
        .insert_webhook(&new_webhook(&["*"]))
        .await
        .expect("insert");
    let (order, created) = order(&store).await;
    let paid = pay(&store, &order).await;
    fan_out_all(&store, &consumer, t0).await;
    let held = lease(t0 + Duration::seconds(30));
    let claimed = claim(&store, &webhook, t0, &held).await;
    assert_eq!(events_of(&claimed), [created.id]);
    let id = claimed[0].delivery.id.clone();
    assert_eq!(
        store
            .retry_delivery(&webhook.id, &id, t0)
            .await
            .unwrap_err(),
        StoreError::Conflict,
        "only a dead one"
    );
    let dead =
        claimed[0]
            .delivery
            .after_attempt(&AttemptOutcome::Failed("timed out".into()), t0, &policy);
    assert_eq!(dead.status, DeliveryStatus::Dead);
    store
        .record_attempt(&dead, &held.token)
        .await
        .expect("record");
    let hooks = [&webhook.id, &other.id];
    assert_eq!(
        counts_of(&store, &hooks).await,
        [Some((1, 1)), Some((2, 0))],
        "pending and dead per webhook"
    );

    // A dead delivery no longer holds its order's next one back.
    let t1 = t0 + Duration::seconds(1);
    let next = claim(&store, &webhook, t1, &lease(t1 + Duration::seconds(30))).await;
    assert_eq!(events_of(&next), [paid.id]);

    assert_eq!(
        store.retry_delivery(&other.id, &id, t1).await.unwrap_err(),
        StoreError::NotFound,
        "another webhook's delivery"
    );
    let retried = store
        .retry_delivery(&webhook.id, &id, t1)
        .await
        .expect("retry");
    assert_eq!(
        (retried.status, retried.next_attempt_at, retried.attempts),
        (DeliveryStatus::Pending, t1, 1)
    );
    let again = claim(&store, &webhook, t1, &lease(t1 + Duration::seconds(30))).await;
    assert_eq!(events_of(&again), [created.id]);
    let order_ids: HashSet<&OrderId> = again.iter().map(|c| &c.delivery.order_id).collect();
    assert!(order_ids.contains(&order.id()));
    assert_eq!(
        counts_of(&store, &hooks).await,
        [Some((2, 0)), Some((2, 0))],
        "a retried delivery is pending again"
    );
    store.delete_webhook(&webhook.id).await.expect("delete");
    store.delete_webhook(&other.id).await.expect("delete");
    assert_eq!(
        counts_of(&store, &hooks).await,
        [None, None],
        "a deleted webhook has no counts"
    );
}

/// `(pending, dead)` of each of `hooks` in [`DeliveryStore::delivery_counts`],
/// after checking the list is ordered by webhook id.
async fn counts_of(
    store: &Arc<dyn OutboxStore>,
    hooks: &[&crate::ids::WebhookId],
) -> Vec<Option<(u64, u64)>> {
    let counts = store.delivery_counts().await.expect("counts");
    assert!(
        counts
            .windows(2)
            .all(|w| w[0].webhook_id.as_str() < w[1].webhook_id.as_str()),
        "ordered by webhook id, each once"
    );
    assert!(counts.iter().all(|c| c.pending + c.dead > 0));
    hooks
        .iter()
        .map(|id| {
            counts
                .iter()
                .find(|c| &c.webhook_id == *id)
                .map(|c| (c.pending, c.dead))
        })
        .collect()
}
