//! The delivery port: webhook endpoints, the consumers' cursors over the
//! event log, and the deliveries those cursors record, as sentences a
//! store MUST satisfy (the conformance kit's `deliveries` section checks
//! them).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::store::{Page, PageRequest, Store, StoreError};
use crate::ids::{DeliveryId, EventId, WebhookId};
use crate::order::OrderEvent;
use crate::webhook::{Delivery, NewWebhook, Webhook};

/// A hold on claimed deliveries: whoever has the token may record their
/// attempts until `until`; after it, another claim may take them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Unique per claim.
    pub token: String,
    /// When the hold ends.
    pub until: DateTime<Utc>,
}

/// How many deliveries one [`DeliveryStore::claim_deliveries`] may take:
/// so many in all, so many to one webhook, less what the caller already
/// has in flight to it. A claim that respects each webhook's room hands
/// nothing back: a caller with a few requests free for a slow receiver
/// gets that many of its deliveries, not a round full of them.
///
/// ```
/// use orders_core::ids::WebhookId;
/// use orders_core::ports::ClaimLimits;
///
/// let busy = WebhookId::parse("wh_slow").unwrap();
/// let limits = ClaimLimits::total(256).per_webhook(64).in_flight(&busy, 60);
/// assert_eq!(limits.room(&busy), 4);
/// assert_eq!(limits.room(&WebhookId::parse("wh_idle").unwrap()), 64);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimLimits {
    /// The most deliveries in all.
    pub total: usize,
    /// The most to one webhook (`usize::MAX`: no such limit).
    pub per_webhook: usize,
    /// Webhooks the caller already has deliveries in flight to, and how
    /// many: each gets [`per_webhook`](Self::per_webhook) less that many.
    pub in_flight: Vec<(WebhookId, usize)>,
}

impl ClaimLimits {
    /// At most `total` deliveries, however many of one webhook.
    #[must_use]
    pub fn total(total: usize) -> Self {
        Self {
            total,
            per_webhook: usize::MAX,
            in_flight: Vec::new(),
        }
    }

    /// At most `limit` to one webhook.
    #[must_use]
    pub fn per_webhook(mut self, limit: usize) -> Self {
        self.per_webhook = limit;
        self
    }

    /// `webhook` has `count` deliveries in flight already (a second call
    /// for one webhook replaces the first).
    #[must_use]
    pub fn in_flight(mut self, webhook: &WebhookId, count: usize) -> Self {
        self.in_flight.retain(|(id, _)| id != webhook);
        self.in_flight.push((webhook.clone(), count));
        self
    }

    /// How many deliveries to `webhook` this claim may take.
    #[must_use]
    pub fn room(&self, webhook: &WebhookId) -> usize {
        let busy = self
            .in_flight
            .iter()
            .find(|(id, _)| id == webhook)
            .map_or(0, |(_, n)| *n);
        self.per_webhook.saturating_sub(busy).min(self.total)
    }
}

/// A claimed delivery with what its attempt needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedDelivery {
    /// The delivery as stored.
    pub delivery: Delivery,
    /// Its event.
    pub event: OrderEvent,
    /// Its webhook.
    pub webhook: Webhook,
}

/// One finished attempt for [`DeliveryStore::record_attempts`]: the
/// delivery as the attempt left it ([`Delivery::after_attempt`], or as
/// claimed to hand it back untried) and the token of the lease it was
/// claimed under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    /// The delivery to store.
    pub delivery: Delivery,
    /// The lease it was claimed under ([`Lease::token`]).
    pub lease_token: String,
}

/// What [`DeliveryStore::record_attempts`] did with one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Stored, and the lease on the delivery ended.
    Recorded,
    /// Not stored: the delivery is no longer held under the record's lease
    /// (it ran out and another claim took it, or it was recorded already).
    LeaseLost,
    /// Not stored: the delivery is gone (its webhook was deleted).
    Gone,
}

/// How many deliveries of one webhook are waiting or given up: its row of
/// [`DeliveryStore::delivery_counts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryCounts {
    /// The webhook.
    pub webhook_id: WebhookId,
    /// Deliveries pending, due or not (its backlog).
    pub pending: u64,
    /// Deliveries dead (waiting for a retry by hand).
    pub dead: u64,
}

/// Webhooks and their deliveries.
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Stores a webhook and returns it with `after_event` set to the last
    /// event committed at that moment (`None` for an empty log), so it
    /// receives exactly the events committed after it.
    ///
    /// MUST return [`StoreError::Duplicate`]`("webhook")` for an id in use.
    async fn insert_webhook(&self, webhook: &NewWebhook) -> Result<Webhook, StoreError>;

    /// The webhook, or `None`.
    async fn webhook(&self, id: &WebhookId) -> Result<Option<Webhook>, StoreError>;

    /// Every webhook, newest first.
    async fn webhooks(&self) -> Result<Vec<Webhook>, StoreError>;

    /// Removes the webhook and every delivery to it.
    ///
    /// MUST return [`StoreError::NotFound`] for an unknown id.
    async fn delete_webhook(&self, id: &WebhookId) -> Result<(), StoreError>;

    /// Moves the cursor of `consumer` over up to `limit` events after it,
    /// oldest first, recording at `now` the deliveries
    /// [`Delivery::plan`] makes of each event for the stored webhooks,
    /// atomically with the cursor move. Returns how many events it passed.
    ///
    /// - A consumer never seen before starts at the beginning of the log.
    /// - MUST never pass an event that is not yet committed while a later
    ///   one is: on a backend where events commit out of id order, the
    ///   cursor stops before any event still being written.
    /// - MUST record each (webhook, event) at most once, however many
    ///   callers move one consumer at once.
    async fn fan_out(
        &self,
        consumer: &str,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError>;

    /// The last event `consumer` has passed, or `None`.
    async fn consumer_position(&self, consumer: &str) -> Result<Option<EventId>, StoreError>;

    /// Claims due deliveries under `lease`, oldest event first, as many as
    /// `limits` allow ([`ClaimLimits::total`] in all, no more than
    /// [`ClaimLimits::room`] to any one webhook), and returns them.
    ///
    /// A delivery is due when it is pending, its `next_attempt_at` is at
    /// or before `now`, it is not held by an unexpired lease, and no
    /// pending delivery to the same webhook of an earlier event of the
    /// same order exists (in order per order: a later event waits for the
    /// earlier ones to be delivered or dead). MUST NOT hand one delivery
    /// to two concurrent claims.
    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease: &Lease,
        limits: &ClaimLimits,
    ) -> Result<Vec<ClaimedDelivery>, StoreError>;

    /// Stores `delivery` (what [`Delivery::after_attempt`] made of a
    /// claimed one) and ends the lease on it.
    ///
    /// MUST return [`StoreError::Conflict`] if the delivery is no longer
    /// held under `lease_token` (the lease ran out and another claim took
    /// it), and [`StoreError::NotFound`] if it is gone (its webhook was
    /// deleted), writing nothing.
    async fn record_attempt(
        &self,
        delivery: &Delivery,
        lease_token: &str,
    ) -> Result<(), StoreError>;

    /// Stores every record of `records` whose delivery is still held under
    /// the record's lease, as [`DeliveryStore::record_attempt`] does for
    /// one, all in one transaction: the bookkeeping of many attempts costs
    /// one write. Returns one outcome per record, in their order.
    ///
    /// - MUST store nothing for a record whose delivery is no longer held
    ///   under its lease ([`RecordOutcome::LeaseLost`]) or is gone
    ///   ([`RecordOutcome::Gone`]), and still store the others.
    /// - MUST store each delivery at most once per lease, however many
    ///   callers record at once: of two records of one delivery under
    ///   different leases, only the one under the lease that holds it is
    ///   stored.
    /// - An error of the store itself stores none of them.
    ///
    /// `records` holds each delivery at most once.
    async fn record_attempts(
        &self,
        records: &[AttemptRecord],
    ) -> Result<Vec<RecordOutcome>, StoreError>;

    /// Makes a dead delivery of `webhook` pending again, due at `now`
    /// ([`Delivery::retried`]), and returns it.
    ///
    /// MUST return [`StoreError::NotFound`] for an unknown delivery or one
    /// of another webhook, and [`StoreError::Conflict`] if it is not dead.
    async fn retry_delivery(
        &self,
        webhook: &WebhookId,
        delivery: &DeliveryId,
        now: DateTime<Utc>,
    ) -> Result<Delivery, StoreError>;

    /// The deliveries to `webhook`, newest event first.
    ///
    /// MUST return [`StoreError::InvalidCursor`] for a cursor it did not
    /// make.
    async fn deliveries(
        &self,
        webhook: &WebhookId,
        page: &PageRequest,
    ) -> Result<Page<Delivery>, StoreError>;

    /// How many deliveries are pending (due or not), for the backlog gauge.
    async fn pending_deliveries(&self) -> Result<u64, StoreError>;

    /// Per webhook, how many of its deliveries are pending and how many
    /// dead, ordered by webhook id.
    ///
    /// MUST list every webhook with a pending or dead delivery, and no
    /// other.
    async fn delivery_counts(&self) -> Result<Vec<DeliveryCounts>, StoreError>;
}

/// A store that also keeps deliveries: what the delivery worker and the
/// webhook routes need. Implemented by every type that implements both.
pub trait OutboxStore: Store + DeliveryStore {}

impl<T: Store + DeliveryStore> OutboxStore for T {}
