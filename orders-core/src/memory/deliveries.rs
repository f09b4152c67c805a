//! The delivery port in memory: webhooks, consumers' cursors and
//! deliveries behind one lock of their own, taken before the store's.
//!
//! Events are appended under one lock in id order, so a cursor over them
//! never passes one still being written.

use std::collections::{BTreeMap, HashMap};
use std::sync::{MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::MemoryStore;
use crate::ids::{DeliveryId, EventId, OrderId, WebhookId};
use crate::ports::{
    AttemptRecord, ClaimLimits, ClaimedDelivery, Cursor, DeliveryCounts, DeliveryStore, Lease,
    Page, PageRequest, RecordOutcome, StoreError,
};
use crate::webhook::{Delivery, DeliveryStatus, NewWebhook, Webhook};

/// What the delivery port keeps.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    webhooks: Vec<Webhook>,
    cursors: HashMap<String, EventId>,
    /// By (event, webhook): event order is claim order.
    deliveries: BTreeMap<(EventId, WebhookId), Held>,
    ids: HashMap<DeliveryId, (EventId, WebhookId)>,
}

#[derive(Debug, Clone)]
struct Held {
    delivery: Delivery,
    lease: Option<Lease>,
}

impl MemoryStore {
    fn outbox(&self) -> MutexGuard<'_, Outbox> {
        // Every section checks before it writes, so a poisoned lock is safe.
        self.outbox.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl DeliveryStore for MemoryStore {
    async fn insert_webhook(&self, new: &NewWebhook) -> Result<Webhook, StoreError> {
        let mut outbox = self.outbox();
        if outbox.webhooks.iter().any(|w| w.id == new.id) {
            return Err(StoreError::Duplicate("webhook"));
        }
        let (_, last) = self.events_since(None, 0);
        let webhook = Webhook {
            id: new.id.clone(),
            url: new.url.clone(),
            events: new.events.clone(),
            secret: new.secret.clone(),
            created_at: new.created_at,
            after_event: last,
        };
        outbox.webhooks.push(webhook.clone());
        Ok(webhook)
    }

    async fn webhook(&self, id: &WebhookId) -> Result<Option<Webhook>, StoreError> {
        Ok(self.outbox().webhooks.iter().find(|w| &w.id == id).cloned())
    }

    async fn webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        Ok(self.outbox().webhooks.iter().rev().cloned().collect())
    }

    async fn delete_webhook(&self, id: &WebhookId) -> Result<(), StoreError> {
        let mut outbox = self.outbox();
        let before = outbox.webhooks.len();
        outbox.webhooks.retain(|w| &w.id != id);
        if outbox.webhooks.len() == before {
            return Err(StoreError::NotFound);
        }
        outbox.deliveries.retain(|(_, w), _| w != id);
        outbox.ids.retain(|_, (_, w)| w != id);
        Ok(())
    }

    async fn fan_out(
        &self,
        consumer: &str,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut outbox = self.outbox();
        let after = outbox.cursors.get(consumer).copied();
        let (events, _) = self.events_since(after, limit);
        let Some(last) = events.last().map(|e| e.id) else {
            return Ok(0);
        };
        for event in &events {
            for delivery in Delivery::plan(event, &outbox.webhooks, now) {
                let key = (delivery.event_id, delivery.webhook_id.clone());
                if !outbox.deliveries.contains_key(&key) {
                    outbox.ids.insert(delivery.id.clone(), key.clone());
                    outbox.deliveries.insert(
                        key,
                        Held {
                            delivery,
                            lease: None,
                        },
                    );
                }
            }
        }
        outbox.cursors.insert(consumer.to_owned(), last);
        Ok(events.len())
    }

    async fn consumer_position(&self, consumer: &str) -> Result<Option<EventId>, StoreError> {
        Ok(self.outbox().cursors.get(consumer).copied())
    }

    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease: &Lease,
        limits: &ClaimLimits,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let mut outbox = self.outbox();
        let mut blocked: Vec<(WebhookId, OrderId)> = Vec::new();
        let mut taken: HashMap<WebhookId, usize> = HashMap::new();
        let mut keys = Vec::new();
        for (key, held) in &outbox.deliveries {
            let d = &held.delivery;
            if d.status != DeliveryStatus::Pending {
                continue;
            }
            let line = (d.webhook_id.clone(), d.order_id.clone());
            if blocked.contains(&line) {
                continue;
            }
            blocked.push(line);
            let leased = held.lease.as_ref().is_some_and(|l| l.until > now);
            let room = limits.room(&d.webhook_id);
            let taken = taken.entry(d.webhook_id.clone()).or_default();
            if !leased && *taken < room && d.next_attempt_at <= now && keys.len() < limits.total {
                *taken += 1;
                keys.push(key.clone());
            }
        }
        let mut claimed = Vec::with_capacity(keys.len());
        for key in keys {
            let webhook = outbox.webhooks.iter().find(|w| w.id == key.1).cloned();
            let (Some(webhook), Some(event)) = (webhook, self.event(key.0)) else {
                continue;
            };
            let held = outbox.deliveries.get_mut(&key).expect("listed above");
            held.lease = Some(lease.clone());
            claimed.push(ClaimedDelivery {
                delivery: held.delivery.clone(),
                event,
                webhook,
            });
        }
        Ok(claimed)
    }

    async fn record_attempt(
        &self,
        delivery: &Delivery,
        lease_token: &str,
    ) -> Result<(), StoreError> {
        let mut outbox = self.outbox();
        let key = (delivery.event_id, delivery.webhook_id.clone());
        let held = outbox
            .deliveries
            .get_mut(&key)
            .ok_or(StoreError::NotFound)?;
        if held.lease.as_ref().is_none_or(|l| l.token != lease_token) {
            return Err(StoreError::Conflict);
        }
        held.delivery = delivery.clone();
        held.lease = None;
        Ok(())
    }

    async fn record_attempts(
        &self,
        records: &[AttemptRecord],
    ) -> Result<Vec<RecordOutcome>, StoreError> {
        // One lock for the whole batch: it is one transaction.
        let mut outbox = self.outbox();
        Ok(records
            .iter()
            .map(|record| {
                let key = (record.delivery.event_id, record.delivery.webhook_id.clone());
                let Some(held) = outbox.deliveries.get_mut(&key) else {
                    return RecordOutcome::Gone;
                };
                if held
                    .lease
                    .as_ref()
                    .is_none_or(|l| l.token != record.lease_token)
                {
                    return RecordOutcome::LeaseLost;
                }
                held.delivery = record.delivery.clone();
                held.lease = None;
                RecordOutcome::Recorded
            })
            .collect())
    }

    async fn retry_delivery(
        &self,
        webhook: &WebhookId,
        delivery: &DeliveryId,
        now: DateTime<Utc>,
    ) -> Result<Delivery, StoreError> {
        let mut outbox = self.outbox();
        let key = outbox
            .ids
            .get(delivery)
            .filter(|(_, w)| w == webhook)
            .cloned()
            .ok_or(StoreError::NotFound)?;
        let held = outbox
            .deliveries
            .get_mut(&key)
            .ok_or(StoreError::NotFound)?;
        let retried = held
            .delivery
            .retried(now)
            .map_err(|_| StoreError::Conflict)?;
        held.delivery = retried.clone();
        held.lease = None;
        Ok(retried)
    }

    async fn deliveries(
        &self,
        webhook: &WebhookId,
        page: &PageRequest,
    ) -> Result<Page<Delivery>, StoreError> {
        let before = page
            .cursor
            .as_ref()
            .map(|c| c.0.parse::<u64>().map_err(|_| StoreError::InvalidCursor))
            .transpose()?;
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT);
        let outbox = self.outbox();
        let mut items: Vec<Delivery> = outbox
            .deliveries
            .iter()
            .rev()
            .filter(|((event, w), _)| w == webhook && before.is_none_or(|b| event.get() < b))
            .take(limit + 1)
            .map(|(_, held)| held.delivery.clone())
            .collect();
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|d| Cursor(d.event_id.get().to_string()))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    async fn pending_deliveries(&self) -> Result<u64, StoreError> {
        let outbox = self.outbox();
        let pending = outbox
            .deliveries
            .values()
            .filter(|h| h.delivery.status == DeliveryStatus::Pending)
            .count();
        Ok(pending as u64)
    }

    async fn delivery_counts(&self) -> Result<Vec<DeliveryCounts>, StoreError> {
        let outbox = self.outbox();
        let mut counts = BTreeMap::<&str, DeliveryCounts>::new();
        for held in outbox.deliveries.values() {
            let d = &held.delivery;
            if d.status == DeliveryStatus::Delivered {
                continue;
            }
            let row = counts
                .entry(d.webhook_id.as_str())
                .or_insert_with(|| DeliveryCounts {
                    webhook_id: d.webhook_id.clone(),
                    pending: 0,
                    dead: 0,
                });
            if d.status == DeliveryStatus::Pending {
                row.pending += 1;
            } else {
                row.dead += 1;
            }
        }
        Ok(counts.into_values().collect())
    }
}
