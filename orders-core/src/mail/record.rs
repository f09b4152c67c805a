//! One message on its way: which event it tells of, and its attempts.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::ids::{DeliveryId, EventId, OrderId};
use crate::order::{EventKind, OrderEvent, OrderStatus};
use crate::ports::MailError;
use crate::webhook::{DeliveryStatus, MAX_ERROR_CHARS, NotDead, RetryPolicy};

/// How old an event may be when the mailer reaches it and still send its
/// mail: three days, the default retry window
/// ([`RetryPolicy::give_up_after`]).
pub const MAX_MAIL_AGE: chrono::TimeDelta = chrono::TimeDelta::days(3);

/// Which message an event sends the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MailKind {
    /// The order was placed (or its payment completed after an action).
    Placed,
    /// The payment waits for the customer (3-D Secure).
    PaymentNeedsAction,
    /// Handed to the carrier, with the tracking number.
    Shipped,
    /// Received.
    Delivered,
    /// Cancelled.
    Cancelled,
    /// Money returned.
    Refunded,
}

impl MailKind {
    /// Every kind.
    pub const ALL: [Self; 6] = [
        Self::Placed,
        Self::PaymentNeedsAction,
        Self::Shipped,
        Self::Delivered,
        Self::Cancelled,
        Self::Refunded,
    ];

    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Placed => "placed",
            Self::PaymentNeedsAction => "payment_needs_action",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
            Self::Refunded => "refunded",
        }
    }

    /// The kind of a stored name, or `None`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The message `event` sends, if any: the order's creation (placed, or
    /// payment needs action when it waits for the customer), a payment
    /// that completes after an action (placed: the confirmation the
    /// customer has not had yet), and a move to awaiting payment, shipped,
    /// delivered, cancelled or refunded. Nothing for other moves, for
    /// payment updates that leave the status, or for anything else.
    pub fn of(event: &OrderEvent) -> Option<Self> {
        use OrderStatus as S;
        match (event.kind, event.from, event.to) {
            (_, None, S::AwaitingPayment) => Some(Self::PaymentNeedsAction),
            (_, None, _) => Some(Self::Placed),
            (_, Some(from), to) if from == to => None,
            (EventKind::PaymentUpdated, Some(S::AwaitingPayment), S::Paid) => Some(Self::Placed),
            (_, Some(_), S::AwaitingPayment) => Some(Self::PaymentNeedsAction),
            (_, Some(_), S::Shipped) => Some(Self::Shipped),
            (_, Some(_), S::Delivered) => Some(Self::Delivered),
            (_, Some(_), S::Cancelled) => Some(Self::Cancelled),
            (_, Some(_), S::Refunded) => Some(Self::Refunded),
            _ => None,
        }
    }
}

/// One message for one event, and where its sending stands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mail {
    /// Stable over every attempt ([`Mail::id_for`]); its `Message-ID`.
    pub id: DeliveryId,
    /// Which message.
    pub kind: MailKind,
    /// Which event.
    pub event_id: EventId,
    /// The event's order: its mails go out in event order.
    pub order_id: OrderId,
    /// Pending, delivered (the server accepted it) or dead.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// Failures in a row since it was recorded or last retried by hand.
    pub failures: u32,
    /// When it is due (pending), or was last tried.
    pub next_attempt_at: DateTime<Utc>,
    /// When its current retry window opened.
    pub since: DateTime<Utc>,
    /// What the last failed attempt said.
    pub last_error: Option<String>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// When the server accepted it.
    pub delivered_at: Option<DateTime<Utc>>,
}

impl Mail {
    /// The id of `event`'s mail: the same on every backend and instance,
    /// so recording it twice is one row.
    pub fn id_for(event: EventId) -> DeliveryId {
        let digest = Sha256::new()
            .chain_update(b"mail\0")
            .chain_update(event.get().to_be_bytes())
            .finalize();
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        DeliveryId::parse(&format!("mail_{hex}")).expect("37 ASCII characters")
    }

    /// The mail `event` sends ([`MailKind::of`]), pending and due at `now`;
    /// none for an event older than [`MAX_MAIL_AGE`] at `now`, so a mailer
    /// switched on for a shop with a history does not write to every past
    /// customer (a mail is dead that long after anyway).
    pub fn plan(event: &OrderEvent, now: DateTime<Utc>) -> Option<Self> {
        if now - event.at > MAX_MAIL_AGE {
            return None;
        }
        MailKind::of(event).map(|kind| Self {
            id: Self::id_for(event.id),
            kind,
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
    }

    /// The mail after an attempt at `now` came to `result`: delivered;
    /// pending until the policy's next attempt after a retryable failure;
    /// dead after a permanent one, or when the policy gives up.
    #[must_use]
    pub fn after_attempt(
        &self,
        result: &Result<(), MailError>,
        now: DateTime<Utc>,
        policy: &RetryPolicy,
    ) -> Self {
        let mut next = self.clone();
        next.attempts = self.attempts.saturating_add(1);
        next.next_attempt_at = now;
        let (error, permanent) = match result {
            Ok(()) => {
                next.status = DeliveryStatus::Delivered;
                next.delivered_at = Some(now);
                return next;
            }
            Err(MailError::Retryable(e)) => (e, false),
            Err(MailError::Permanent(e)) => (e, true),
        };
        next.failures = self.failures.saturating_add(1);
        next.last_error = Some(error.chars().take(MAX_ERROR_CHARS).collect());
        match policy.next_attempt(&self.id, next.failures, self.since, now) {
            Some(at) if !permanent => next.next_attempt_at = at,
            _ => next.status = DeliveryStatus::Dead,
        }
        next
    }

    /// A dead mail made pending again at `now`, with a new retry window.
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
    use crate::order::Actor;

    fn event(id: u64, kind: EventKind, from: Option<OrderStatus>, to: OrderStatus) -> OrderEvent {
        OrderEvent {
            id: EventId::new(id),
            order_id: OrderId::parse("o1").expect("id"),
            kind,
            from,
            to,
            at: Utc::now(),
            actor: Actor::system(),
            note: None,
            data: None,
        }
    }

    #[test]
    fn each_customer_facing_event_sends_one_kind() {
        use EventKind::{PaymentUpdated as P, StatusChanged as C};
        use OrderStatus as S;
        let kind = |k, from, to| MailKind::of(&event(1, k, from, to));
        assert_eq!(kind(C, None, S::Pending), Some(MailKind::Placed));
        assert_eq!(kind(C, None, S::Paid), Some(MailKind::Placed));
        assert_eq!(
            kind(C, None, S::AwaitingPayment),
            Some(MailKind::PaymentNeedsAction)
        );
        assert_eq!(
            kind(P, Some(S::AwaitingPayment), S::Paid),
            Some(MailKind::Placed)
        );
        assert_eq!(kind(P, Some(S::Paid), S::Paid), None);
        assert_eq!(kind(C, Some(S::Pending), S::Paid), None);
        assert_eq!(kind(C, Some(S::Paid), S::Processing), None);
        assert_eq!(
            kind(C, Some(S::Processing), S::Shipped),
            Some(MailKind::Shipped)
        );
        assert_eq!(
            kind(C, Some(S::Shipped), S::Delivered),
            Some(MailKind::Delivered)
        );
        assert_eq!(
            kind(C, Some(S::Pending), S::Cancelled),
            Some(MailKind::Cancelled)
        );
        assert_eq!(
            kind(P, Some(S::Paid), S::Refunded),
            Some(MailKind::Refunded)
        );
        for k in MailKind::ALL {
            assert_eq!(MailKind::parse(k.as_str()), Some(k));
        }
    }

    #[test]
    fn retryable_failures_back_off_permanent_ones_kill() {
        let t0: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("time");
        let policy = RetryPolicy::default();
        let shipped = event(
            7,
            EventKind::StatusChanged,
            Some(OrderStatus::Processing),
            OrderStatus::Shipped,
        );
        let mail = Mail::plan(&shipped, t0).expect("a mail");
        assert_eq!(mail.id, Mail::id_for(EventId::new(7)));
        assert_ne!(mail.id, Mail::id_for(EventId::new(8)));
        let old = OrderEvent {
            at: t0 - Duration::days(4),
            ..shipped.clone()
        };
        assert_eq!(Mail::plan(&old, t0), None, "no mail for an old event");
        let busy = mail.after_attempt(&Err(MailError::Retryable("421 busy".into())), t0, &policy);
        assert_eq!(busy.status, DeliveryStatus::Pending);
        assert!(busy.next_attempt_at > t0 && busy.next_attempt_at <= t0 + Duration::seconds(1));
        let refused = busy.after_attempt(&Err(MailError::Permanent("550 no".into())), t0, &policy);
        assert_eq!(
            (refused.status, refused.attempts),
            (DeliveryStatus::Dead, 2)
        );
        assert_eq!(refused.last_error.as_deref(), Some("550 no"));
        let again = refused.retried(t0).expect("dead");
        let sent = again.after_attempt(&Ok(()), t0, &policy);
        assert_eq!(
            (sent.status, sent.delivered_at),
            (DeliveryStatus::Delivered, Some(t0))
        );
        assert_eq!(sent.retried(t0), Err(NotDead));
        let late = busy.after_attempt(
            &Err(MailError::Retryable("down".into())),
            t0 + Duration::days(3),
            &policy,
        );
        assert_eq!(late.status, DeliveryStatus::Dead, "dead after three days");
    }
}
