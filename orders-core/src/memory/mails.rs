//! The mail store port in memory: the mailer's cursor and its mails
//! behind one lock of their own, taken before the store's.

use std::collections::{BTreeMap, HashSet};
use std::sync::{MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::MemoryStore;
use crate::ids::{DeliveryId, EventId, OrderId};
use crate::mail::Mail;
use crate::ports::{ClaimedMail, Lease, MailStore, StoreError};
use crate::webhook::DeliveryStatus;

/// What the mail store port keeps.
#[derive(Debug, Default)]
pub(crate) struct Mailbox {
    cursor: Option<EventId>,
    /// By event: event order is claim order.
    mails: BTreeMap<EventId, Held>,
}

#[derive(Debug, Clone)]
struct Held {
    mail: Mail,
    lease: Option<Lease>,
}

impl MemoryStore {
    fn mailbox(&self) -> MutexGuard<'_, Mailbox> {
        // Every section checks before it writes, so a poisoned lock is safe.
        self.mailbox.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Mailbox {
    fn by_id(&mut self, id: &DeliveryId) -> Option<&mut Held> {
        self.mails.values_mut().find(|h| &h.mail.id == id)
    }
}

#[async_trait]
impl MailStore for MemoryStore {
    async fn fan_out_mail(&self, limit: usize, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut mailbox = self.mailbox();
        let (events, _) = self.events_since(mailbox.cursor, limit);
        let Some(last) = events.last().map(|e| e.id) else {
            return Ok(0);
        };
        for event in &events {
            if let Some(mail) = Mail::plan(event, now) {
                mailbox
                    .mails
                    .entry(event.id)
                    .or_insert(Held { mail, lease: None });
            }
        }
        mailbox.cursor = Some(last);
        Ok(events.len())
    }

    async fn claim_mails(
        &self,
        now: DateTime<Utc>,
        lease: &Lease,
        limit: usize,
    ) -> Result<Vec<ClaimedMail>, StoreError> {
        let mut mailbox = self.mailbox();
        let mut blocked: HashSet<OrderId> = HashSet::new();
        let mut keys = Vec::new();
        for (key, held) in &mailbox.mails {
            let m = &held.mail;
            if m.status != DeliveryStatus::Pending || !blocked.insert(m.order_id.clone()) {
                continue;
            }
            let leased = held.lease.as_ref().is_some_and(|l| l.until > now);
            if !leased && m.next_attempt_at <= now && keys.len() < limit {
                keys.push(*key);
            }
        }
        let mut claimed = Vec::with_capacity(keys.len());
        for key in keys {
            let Some(event) = self.event(key) else {
                continue;
            };
            let held = mailbox.mails.get_mut(&key).expect("listed above");
            held.lease = Some(lease.clone());
            claimed.push(ClaimedMail {
                mail: held.mail.clone(),
                event,
            });
        }
        Ok(claimed)
    }

    async fn record_mail_attempt(&self, mail: &Mail, lease_token: &str) -> Result<(), StoreError> {
        let mut mailbox = self.mailbox();
        let held = mailbox
            .mails
            .get_mut(&mail.event_id)
            .filter(|h| h.mail.id == mail.id)
            .ok_or(StoreError::NotFound)?;
        if held.lease.as_ref().is_none_or(|l| l.token != lease_token) {
            return Err(StoreError::Conflict);
        }
        held.mail = mail.clone();
        held.lease = None;
        Ok(())
    }

    async fn retry_mail(&self, id: &DeliveryId, now: DateTime<Utc>) -> Result<Mail, StoreError> {
        let mut mailbox = self.mailbox();
        let held = mailbox.by_id(id).ok_or(StoreError::NotFound)?;
        let retried = held.mail.retried(now).map_err(|_| StoreError::Conflict)?;
        held.mail = retried.clone();
        held.lease = None;
        Ok(retried)
    }

    async fn order_mails(&self, order: &OrderId) -> Result<Vec<Mail>, StoreError> {
        Ok(self
            .mailbox()
            .mails
            .values()
            .filter(|h| &h.mail.order_id == order)
            .map(|h| h.mail.clone())
            .collect())
    }

    async fn pending_mails(&self) -> Result<u64, StoreError> {
        let pending = self
            .mailbox()
            .mails
            .values()
            .filter(|h| h.mail.status == DeliveryStatus::Pending)
            .count();
        Ok(pending as u64)
    }

    async fn dead_mails(&self) -> Result<u64, StoreError> {
        let dead = self
            .mailbox()
            .mails
            .values()
            .filter(|h| h.mail.status == DeliveryStatus::Dead)
            .count();
        Ok(dead as u64)
    }

    async fn mails_in_status(
        &self,
        status: DeliveryStatus,
        limit: usize,
    ) -> Result<Vec<Mail>, StoreError> {
        let mut mails: Vec<Mail> = self
            .mailbox()
            .mails
            .values()
            .filter(|h| h.mail.status == status)
            .map(|h| h.mail.clone())
            .collect();
        mails.sort_by_key(|m| m.event_id);
        mails.truncate(limit);
        Ok(mails)
    }
}
