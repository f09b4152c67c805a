//! One event on its way to one webhook, and what each attempt changes.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{RetryPolicy, Webhook};
use crate::ids::{DeliveryId, EventId, OrderId, WebhookId};
use crate::order::OrderEvent;

/// The most characters of a delivery's `last_error` (longer is cut).
pub const MAX_ERROR_CHARS: usize = 500;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not delivered yet: due at `next_attempt_at`.
    Pending,
    /// A receiver acknowledged it.
    Delivered,
    /// Given up; [`Delivery::retried`] makes it pending again.
    Dead,
}

impl DeliveryStatus {
    /// The stored and shown name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    /// The status of a stored name, or `None`.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Dead]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The receiver answered 2xx in time.
    Delivered,
    /// Anything else, said in a few words (no secret, no body).
    Failed(String),
}

/// The delivery is not dead, so there is nothing to retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("only a dead delivery can be retried")]
pub struct NotDead;

/// One event for one webhook.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Delivery {
    /// Stable over every attempt ([`Delivery::id_for`]).
    pub id: DeliveryId,
    /// To which webhook.
    pub webhook_id: WebhookId,
    /// Which event.
    pub event_id: EventId,
    /// The event's order: deliveries of one order go out in event order.
    pub order_id: OrderId,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// Failures in a row since it was recorded or last retried by hand.
    pub failures: u32,
    /// When it is due (pending), or was last tried.
    pub next_attempt_at: DateTime<Utc>,
    /// When its current retry window opened: recorded, or retried by hand.
    pub since: DateTime<Utc>,
    /// What the last failed attempt said.
    pub last_error: Option<String>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// When a receiver acknowledged it.
    pub delivered_at: Option<DateTime<Utc>>,
}

impl Delivery {
    /// The id of `event`'s delivery to `webhook`: the same on every
    /// backend and every instance, so recording it twice is one row.
    pub fn id_for(webhook: &WebhookId, event: EventId) -> DeliveryId {
        let digest = Sha256::new()
            .chain_update(webhook.as_str().as_bytes())
            .chain_update([0])
            .chain_update(event.get().to_be_bytes())
            .finalize();
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        DeliveryId::parse(&format!("dlv_{hex}")).expect("36 ASCII characters")
    }

    /// The deliveries of `event`, one per webhook of `webhooks` that wants
    /// it, pending and due at `now`.
    pub fn plan(event: &OrderEvent, webhooks: &[Webhook], now: DateTime<Utc>) -> Vec<Self> {
        webhooks
            .iter()
            .filter(|w| w.wants(event))
            .map(|w| Self {
                id: Self::id_for(&w.id, event.id),
                webhook_id: w.id.clone(),
                event_id: event.id,
                order_id: event.order_id.clone(),
                status: DeliveryStatus::Pending,
                attempts: 0,
                failures: 0,
                next_attempt_at: now,
                since: now,
                last_error: None,
                created_at: now,
                delivered_at: None,
            })
            .collect()
    }

    /// The delivery after an attempt at `now` came to `outcome`: delivered,
    /// or pending until the policy's next attempt, or dead when the policy
    /// gives up.
    #[must_use]
    pub fn after_attempt(
        &self,
        outcome: &AttemptOutcome,
        now: DateTime<Utc>,
        policy: &RetryPolicy,
    ) -> Self {
        let mut next = self.clone();
        next.attempts = self.attempts.saturating_add(1);
        match outcome {
            AttemptOutcome::Delivered => {
                next.status = DeliveryStatus::Delivered;
                next.delivered_at = Some(now);
                next.next_attempt_at = now;
            }
            AttemptOutcome::Failed(error) => {
                next.failures = self.failures.saturating_add(1);
                next.last_error = Some(error.chars().take(MAX_ERROR_CHARS).collect());
                match policy.next_attempt(&self.id, next.failures, self.since, now) {
                    Some(at) => next.next_attempt_at = at,
                    None => {
                        next.status = DeliveryStatus::Dead;
                        next.next_attempt_at = now;
                    }
                }
            }
        }
        next
    }

    /// A dead delivery made pending again at `now`, with a new retry window.
    ///
    /// # Errors
    /// [`NotDead`] when it is pending or delivered.
    pub fn retried(&self, now: DateTime<Utc>) -> Result<Self, NotDead> {
        if self.status != DeliveryStatus::Dead {
            return Err(NotDead);
        }
        Ok(Self {
            status: DeliveryStatus::Pending,
            failures: 0,
            next_attempt_at: now,
            since: now,
            ..self.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::order::{Actor, OrderStatus};
    use crate::webhook::{EventFilter, WebhookSecret, WebhookUrl};

    fn webhook(id: &str, events: &[&str], after: Option<u64>) -> Webhook {
        Webhook {
            id: WebhookId::parse(id).expect("id"),
            url: WebhookUrl::parse("https://example.com/").expect("url"),
            events: EventFilter::parse(events).expect("events"),
            secret: WebhookSecret::from_random_bytes(&[1; 32]),
            created_at: Utc::now(),
            after_event: after.map(EventId::new),
        }
    }

    fn event(id: u64, from: Option<OrderStatus>) -> OrderEvent {
        OrderEvent {
            id: EventId::new(id),
            order_id: OrderId::parse("o1").expect("id"),
            from,
            to: OrderStatus::Paid,
            at: Utc::now(),
            actor: Actor::system(),
            note: None,
            kind: crate::order::EventKind::StatusChanged,
            data: None,
        }
    }

    #[test]
    fn plans_one_delivery_per_wanting_webhook() {
        let hooks = [
            webhook("all", &["*"], None),
            webhook("created", &["order.created"], None),
            webhook("late", &["*"], Some(5)),
        ];
        let now = Utc::now();
        let created = Delivery::plan(&event(3, None), &hooks, now);
        let ids: Vec<&str> = created.iter().map(|d| d.webhook_id.as_str()).collect();
        assert_eq!(ids, ["all", "created"]);
        let changed = Delivery::plan(&event(6, Some(OrderStatus::Pending)), &hooks, now);
        let ids: Vec<&str> = changed.iter().map(|d| d.webhook_id.as_str()).collect();
        assert_eq!(ids, ["all", "late"]);
        assert_eq!(
            changed[0].id,
            Delivery::id_for(&hooks[0].id, EventId::new(6))
        );
        assert_ne!(changed[0].id, changed[1].id);
    }

    #[test]
    fn a_payment_update_is_its_own_type_and_a_status_change_when_it_moved_the_status() {
        use crate::order::EventKind;
        use crate::webhook::EventType;
        let hooks = [
            webhook("pay", &["order.payment_updated"], None),
            webhook("status", &["order.status_changed"], None),
            webhook("created", &["order.created"], None),
        ];
        let planned = |e: &OrderEvent| {
            Delivery::plan(e, &hooks, Utc::now())
                .into_iter()
                .map(|d| d.webhook_id.as_str().to_owned())
                .collect::<Vec<_>>()
        };
        // awaiting_payment -> paid, by the payment.
        let mut moved = event(7, Some(OrderStatus::AwaitingPayment));
        moved.kind = EventKind::PaymentUpdated;
        assert_eq!(EventType::of(&moved), EventType::PaymentUpdated);
        assert_eq!(planned(&moved), ["pay", "status"]);
        // paid -> paid: the capture.
        let mut captured = event(8, Some(OrderStatus::Paid));
        captured.kind = EventKind::PaymentUpdated;
        assert_eq!(planned(&captured), ["pay"]);
        // A plain status change is not a payment update.
        let shipped = event(9, Some(OrderStatus::Pending));
        assert_eq!(EventType::of(&shipped), EventType::StatusChanged);
        assert_eq!(planned(&shipped), ["status"]);
        assert_eq!(planned(&event(10, None)), ["created"]);
    }

    #[test]
    fn failures_back_off_then_die_and_a_retry_reopens() {
        let hooks = [webhook("w", &["*"], None)];
        let t0: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("time");
        let policy = RetryPolicy {
            give_up_after: Duration::seconds(10),
            ..RetryPolicy::default()
        };
        let mut d = Delivery::plan(&event(1, None), &hooks, t0).remove(0);
        let mut now = t0;
        let mut waits = Vec::new();
        while d.status == DeliveryStatus::Pending {
            d = d.after_attempt(&AttemptOutcome::Failed("503".into()), now, &policy);
            if d.status == DeliveryStatus::Pending {
                waits.push((d.next_attempt_at - now).num_milliseconds());
                now = d.next_attempt_at;
            }
        }
        assert_eq!(d.status, DeliveryStatus::Dead);
        assert!(waits.len() >= 3, "{waits:?}");
        assert!(waits.windows(2).all(|w| w[1] > w[0]), "{waits:?}");
        assert_eq!(d.last_error.as_deref(), Some("503"));
        let again = d.retried(now).expect("dead");
        assert_eq!((again.status, again.failures), (DeliveryStatus::Pending, 0));
        assert_eq!(again.retried(now), Err(NotDead));
        let done = again.after_attempt(&AttemptOutcome::Delivered, now, &policy);
        assert_eq!(done.status, DeliveryStatus::Delivered);
        assert_eq!(done.attempts, d.attempts + 1);
        assert_eq!(done.delivered_at, Some(now));
    }
}
