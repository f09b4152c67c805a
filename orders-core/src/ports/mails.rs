//! The mail store port: the mailer's cursor over the event log and the
//! mails it records, as sentences a store MUST satisfy (the conformance
//! kit's `mails` section checks them).
//!
//! A port of its own rather than a second kind of target in
//! [`super::DeliveryStore`]: a mail has no endpoint row to join, no
//! per-target concurrency, and one mail per event instead of one per
//! (webhook, event), so sharing the webhook tables would leave every
//! delivery query with a nullable target and a second key. Both consumers
//! share the cursor table and the [`Lease`] type.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::deliveries::Lease;
use super::store::{Store, StoreError};
use crate::ids::{DeliveryId, OrderId};
use crate::mail::Mail;
use crate::order::OrderEvent;
use crate::webhook::DeliveryStatus;

/// A claimed mail with its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedMail {
    /// The mail as stored.
    pub mail: Mail,
    /// Its event.
    pub event: OrderEvent,
}

/// The mailer's records.
#[async_trait]
pub trait MailStore: Send + Sync {
    /// Moves the cursor of [`crate::mail::MAIL_CONSUMER`] over up to
    /// `limit` events after it, oldest first, recording at `now` the mail
    /// [`Mail::plan`] makes of each, atomically with the cursor move.
    /// Returns how many events it passed.
    ///
    /// - The cursor starts at the beginning of the log (events older than
    ///   [`crate::mail::MAX_MAIL_AGE`] make no mail).
    /// - MUST never pass an event that is not yet committed while a later
    ///   one is.
    /// - MUST record each event's mail at most once, however many callers
    ///   move the cursor at once.
    async fn fan_out_mail(&self, limit: usize, now: DateTime<Utc>) -> Result<usize, StoreError>;

    /// Claims up to `limit` due mails under `lease`, oldest event first,
    /// and returns them with their events.
    ///
    /// A mail is due when it is pending, its `next_attempt_at` is at or
    /// before `now`, it is not held by an unexpired lease, and no pending
    /// mail of an earlier event of the same order exists (in order per
    /// order). MUST NOT hand one mail to two concurrent claims.
    async fn claim_mails(
        &self,
        now: DateTime<Utc>,
        lease: &Lease,
        limit: usize,
    ) -> Result<Vec<ClaimedMail>, StoreError>;

    /// Stores `mail` (what [`Mail::after_attempt`] made of a claimed one)
    /// and ends the lease on it.
    ///
    /// MUST return [`StoreError::Conflict`] if it is no longer held under
    /// `lease_token`, and [`StoreError::NotFound`] if it is unknown,
    /// writing nothing.
    async fn record_mail_attempt(&self, mail: &Mail, lease_token: &str) -> Result<(), StoreError>;

    /// Makes a dead mail pending again, due at `now` ([`Mail::retried`]).
    ///
    /// MUST return [`StoreError::NotFound`] for an unknown mail and
    /// [`StoreError::Conflict`] if it is not dead.
    async fn retry_mail(&self, id: &DeliveryId, now: DateTime<Utc>) -> Result<Mail, StoreError>;

    /// The mails of `order`, oldest event first.
    async fn order_mails(&self, order: &OrderId) -> Result<Vec<Mail>, StoreError>;

    /// How many mails are pending (due or not), for the backlog gauge.
    async fn pending_mails(&self) -> Result<u64, StoreError>;

    /// How many mails are dead (waiting for [`MailStore::retry_mail`]),
    /// for the dead gauge. MUST count a mail from the moment an attempt
    /// recorded it dead until it is retried.
    async fn dead_mails(&self) -> Result<u64, StoreError>;

    /// Up to `limit` mails in `status`, oldest event first, for the admin
    /// panel. MUST return only mails in `status`.
    async fn mails_in_status(
        &self,
        status: DeliveryStatus,
        limit: usize,
    ) -> Result<Vec<Mail>, StoreError>;
}

/// A store that also keeps mails: what the mail worker needs (the order
/// to render from, and the mails). Implemented by every type that
/// implements both.
pub trait MailboxStore: Store + MailStore {}

impl<T: Store + MailStore> MailboxStore for T {}
