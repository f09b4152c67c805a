//! [`DeliveryStore::record_attempts`](crate::ports::DeliveryStore::record_attempts):
//! many attempts in one write, each only under the lease that holds it.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Duration, Utc};

use super::{claim, events_of, fan_out_all, lease, new_webhook, order, pay};
use crate::ids::DeliveryId;
use crate::ports::{AttemptRecord, ClaimLimits, OutboxStore, PageRequest, RecordOutcome};
use crate::testkit::unique;
use crate::webhook::{AttemptOutcome, Delivery, DeliveryStatus, RetryPolicy, Webhook};

fn record(delivery: &Delivery, token: &str) -> AttemptRecord {
    AttemptRecord {
        delivery: delivery.clone(),
        lease_token: token.to_owned(),
    }
}

/// The deliveries to `webhook` as stored, by id.
async fn stored(store: &Arc<dyn OutboxStore>, webhook: &Webhook) -> HashMap<DeliveryId, Delivery> {
    let page = store
        .deliveries(&webhook.id, &PageRequest::first(100))
        .await
        .expect("list");
    page.items.into_iter().map(|d| (d.id.clone(), d)).collect()
}

/// One batch stores a delivered, a retried and a dead attempt, and refuses
/// the one under a lease that does not hold it and the one whose webhook
/// is gone, writing nothing of those two.
pub(super) async fn a_batch_records_mixed_outcomes_and_refuses_the_rest(
    store: Arc<dyn OutboxStore>,
) {
    let consumer = unique("consumer");
    let t0 = Utc::now();
    let policy = RetryPolicy::default();
    let dies = RetryPolicy {
        give_up_after: Duration::zero(),
        ..RetryPolicy::default()
    };
    let webhook = store
        .insert_webhook(&new_webhook(&["*"]))
        .await
        .expect("insert");
    let doomed = store
        .insert_webhook(&new_webhook(&["*"]))
        .await
        .expect("insert");
    let mut firsts = Vec::new();
    for _ in 0..4 {
        firsts.push(order(&store).await.1.id);
    }
    fan_out_all(&store, &consumer, t0).await;
    let held = lease(t0 + Duration::seconds(30));
    let all = store
        .claim_deliveries(t0, &held, &ClaimLimits::total(1000))
        .await
        .expect("claim");
    let mine: Vec<_> = all
        .iter()
        .filter(|c| c.webhook.id == webhook.id)
        .cloned()
        .collect();
    assert_eq!(events_of(&mine), firsts, "the first event of each order");
    let gone = all
        .iter()
        .find(|c| c.webhook.id == doomed.id)
        .expect("a delivery to the other webhook")
        .delivery
        .clone();
    store.delete_webhook(&doomed.id).await.expect("delete");

    let delivered = mine[0]
        .delivery
        .after_attempt(&AttemptOutcome::Delivered, t0, &policy);
    let retried =
        mine[1]
            .delivery
            .after_attempt(&AttemptOutcome::Failed("HTTP 503".into()), t0, &policy);
    let dead =
        mine[2]
            .delivery
            .after_attempt(&AttemptOutcome::Failed("HTTP 410".into()), t0, &dies);
    let not_held = mine[3]
        .delivery
        .after_attempt(&AttemptOutcome::Delivered, t0, &policy);
    assert_eq!(
        (retried.status, dead.status),
        (DeliveryStatus::Pending, DeliveryStatus::Dead)
    );
    let batch = [
        record(&delivered, &held.token),
        record(&not_held, "not-the-lease"),
        record(&retried, &held.token),
        record(&gone, &held.token),
        record(&dead, &held.token),
    ];
    let outcomes = store.record_attempts(&batch).await.expect("record");
    assert_eq!(
        outcomes,
        [
            RecordOutcome::Recorded,
            RecordOutcome::LeaseLost,
            RecordOutcome::Recorded,
            RecordOutcome::Gone,
            RecordOutcome::Recorded,
        ],
        "one outcome per record, in their order"
    );
    let now = stored(&store, &webhook).await;
    assert_eq!(now[&delivered.id], delivered, "delivered, as recorded");
    assert_eq!(now[&retried.id], retried, "pending until its retry");
    assert!(now[&retried.id].next_attempt_at > t0);
    assert_eq!(now[&dead.id], dead, "dead");
    assert_eq!(
        now[&not_held.id], mine[3].delivery,
        "nothing written under a lease that does not hold it"
    );

    // Their leases ended with the write: the same batch again stores
    // nothing; the one refused is still held by the claim.
    let again = store.record_attempts(&batch).await.expect("record");
    assert_eq!(
        again,
        [
            RecordOutcome::LeaseLost,
            RecordOutcome::LeaseLost,
            RecordOutcome::LeaseLost,
            RecordOutcome::Gone,
            RecordOutcome::LeaseLost,
        ]
    );
    assert!(
        claim(&store, &webhook, t0, &lease(t0 + Duration::seconds(30)))
            .await
            .is_empty(),
        "the refused one is still leased, the retried one not due"
    );
    assert_eq!(
        store
            .record_attempts(&[record(&not_held, &held.token)])
            .await
            .expect("record"),
        [RecordOutcome::Recorded]
    );
    assert!(store.record_attempts(&[]).await.expect("empty").is_empty());
    store.delete_webhook(&webhook.id).await.expect("delete");
}

/// A lease that ran out: the delivery another claim took is refused to the
/// first holder's batch, whose other records are stored; the new holder's
/// record is stored.
pub(super) async fn a_batch_with_a_lost_lease_stores_only_what_it_holds(
    store: Arc<dyn OutboxStore>,
) {
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

    let first = lease(t0 + Duration::seconds(30));
    let claimed = claim(&store, &webhook, t0, &first).await;
    assert_eq!(events_of(&claimed), [a_created.id, b_created.id]);
    // B's is recorded (failed) by the first holder; it is due again later.
    // Past the lease, a second claim retakes A's first (B's is not due).
    let b1 =
        claimed[1]
            .delivery
            .after_attempt(&AttemptOutcome::Failed("HTTP 500".into()), t0, &policy);
    store
        .record_attempts(&[record(&b1, &first.token)])
        .await
        .expect("record");
    let t1 = t0 + Duration::seconds(31);
    assert!(b1.next_attempt_at > t0 && b1.next_attempt_at < t1);
    let second = lease(t1 + Duration::seconds(30));
    let retaken = claim(&store, &webhook, t1, &second).await;
    assert_eq!(events_of(&retaken), [a_created.id, b_created.id]);

    // The first holder's late batch: nothing of it is stored.
    let late_a = claimed[0]
        .delivery
        .after_attempt(&AttemptOutcome::Delivered, t1, &policy);
    let late_b = b1.after_attempt(&AttemptOutcome::Delivered, t1, &policy);
    assert_eq!(
        store
            .record_attempts(&[record(&late_a, &first.token), record(&late_b, &first.token)])
            .await
            .expect("record"),
        [RecordOutcome::LeaseLost, RecordOutcome::LeaseLost]
    );
    // The new holder's: A's delivered, B's retried once more.
    let a1 = retaken[0]
        .delivery
        .after_attempt(&AttemptOutcome::Delivered, t1, &policy);
    let b2 =
        retaken[1]
            .delivery
            .after_attempt(&AttemptOutcome::Failed("HTTP 502".into()), t1, &policy);
    assert_eq!(
        store
            .record_attempts(&[record(&b2, &second.token), record(&a1, &second.token)])
            .await
            .expect("record"),
        [RecordOutcome::Recorded, RecordOutcome::Recorded]
    );
    let now = stored(&store, &webhook).await;
    assert_eq!(
        (now[&a1.id].status, now[&a1.id].attempts),
        (DeliveryStatus::Delivered, 1)
    );
    assert_eq!(
        (
            now[&b2.id].status,
            now[&b2.id].attempts,
            now[&b2.id].failures
        ),
        (DeliveryStatus::Pending, 2, 2),
        "each attempt counted once"
    );
    // With A's first delivered, its second is due.
    let next = claim(&store, &webhook, t1, &lease(t1 + Duration::seconds(30))).await;
    assert_eq!(events_of(&next), [a_paid.id]);
    store.delete_webhook(&webhook.id).await.expect("delete");
}

/// Two workers record the same deliveries at once, one under a lease that
/// ran out and one under the lease that retook them, in opposite orders:
/// each delivery is stored once, by the holder.
pub(super) async fn concurrent_batches_never_both_record_a_delivery(store: Arc<dyn OutboxStore>) {
    let consumer = unique("consumer");
    let t0 = Utc::now();
    let policy = RetryPolicy::default();
    let webhook = store
        .insert_webhook(&new_webhook(&["*"]))
        .await
        .expect("insert");
    for _ in 0..12 {
        order(&store).await;
    }
    fan_out_all(&store, &consumer, t0).await;
    let first = lease(t0 + Duration::seconds(30));
    let claimed = claim(&store, &webhook, t0, &first).await;
    assert_eq!(claimed.len(), 12);
    let t1 = t0 + Duration::seconds(31);
    let second = lease(t1 + Duration::seconds(30));
    let retaken = claim(&store, &webhook, t1, &second).await;
    assert_eq!(retaken.len(), 12, "every lease ran out");

    for round in 0..3 {
        let stale: Vec<AttemptRecord> = claimed
            .iter()
            .map(|c| {
                let failed = AttemptOutcome::Failed(format!("stale {round}"));
                record(
                    &c.delivery.after_attempt(&failed, t1, &policy),
                    &first.token,
                )
            })
            .collect();
        let holder: Vec<AttemptRecord> = retaken
            .iter()
            .rev()
            .map(|c| {
                let failed = AttemptOutcome::Failed(format!("holder {round}"));
                record(
                    &c.delivery.after_attempt(&failed, t1, &policy),
                    &second.token,
                )
            })
            .collect();
        let (stale_out, holder_out) = futures_util::future::join(
            store.record_attempts(&stale),
            store.record_attempts(&holder),
        )
        .await;
        let stale_out = stale_out.expect("record");
        let holder_out = holder_out.expect("record");
        if round == 0 {
            assert!(
                stale_out.iter().all(|o| *o == RecordOutcome::LeaseLost),
                "{stale_out:?}"
            );
            assert!(
                holder_out.iter().all(|o| *o == RecordOutcome::Recorded),
                "{holder_out:?}"
            );
        } else {
            // Both leases ended with the first round.
            assert!(
                stale_out
                    .iter()
                    .chain(&holder_out)
                    .all(|o| *o == RecordOutcome::LeaseLost)
            );
        }
    }
    let now = stored(&store, &webhook).await;
    assert_eq!(now.len(), 12);
    for d in now.values() {
        assert_eq!(
            (d.attempts, d.last_error.as_deref()),
            (1, Some("holder 0")),
            "stored once, by the holder"
        );
    }
    store.delete_webhook(&webhook.id).await.expect("delete");
}
