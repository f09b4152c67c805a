//! [`MemoryNotifier`]: order events fanned out inside one process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_broadcast::{InactiveReceiver, Receiver, RecvError, Sender};
use async_trait::async_trait;

use crate::ids::{EventId, OrderId};
use crate::order::OrderEvent;
use crate::ports::{
    EventLog, Notifier, StoreError, Subscription, SubscriptionError, Topic, replay_then_live,
};

/// How many events the channel holds for its slowest subscriber before
/// that subscriber is told it lagged.
pub const DEFAULT_CAPACITY: usize = 1024;

/// The most events one order's channel holds, whatever the capacity: an
/// order has a few dozen events in its whole life, and a channel's ring is
/// allocated whole when the order is first followed, so a process following
/// 100,000 orders must not hold room for 1,024 events of each. A subscriber
/// of one order that falls this far behind lags, like any other.
pub const ORDER_CAPACITY: usize = 64;

/// An in-process broadcast of order events, with replay from an
/// [`EventLog`].
///
/// Each order with subscribers has a channel of its own (of at most
/// [`ORDER_CAPACITY`] events), and [`Topic::All`] has one more: an event
/// wakes only the subscribers of its order and the dashboards, not every
/// tracker in the process.
///
/// Publishing never waits: channels are bounded and in overflow mode, so
/// when a subscriber falls [`DEFAULT_CAPACITY`] events behind, the oldest
/// event is dropped for it alone and it receives
/// [`SubscriptionError::Lagged`]; faster subscribers and the publisher go
/// on. A lagged subscriber resubscribes after the last id it saw and loses
/// nothing, since the log still has every event.
#[derive(Debug, Clone)]
pub struct MemoryNotifier {
    all: Channel,
    orders: Arc<Mutex<Orders>>,
    capacity: usize,
    log: Arc<dyn EventLog>,
}

/// The per-order channels, swept of those nobody listens to any more.
#[derive(Debug, Default)]
struct Orders {
    channels: HashMap<OrderId, Channel>,
    sweep_at: usize,
}

/// One bounded broadcast channel in overflow mode.
#[derive(Debug, Clone)]
struct Channel {
    sender: Sender<OrderEvent>,
    // Keeps the channel open while nobody subscribes.
    keep_open: InactiveReceiver<OrderEvent>,
}

impl Channel {
    fn new(capacity: usize) -> Self {
        let (mut sender, receiver) = async_broadcast::broadcast(capacity.max(1));
        sender.set_overflow(true);
        sender.set_await_active(false);
        Self {
            sender,
            keep_open: receiver.deactivate(),
        }
    }

    fn publish(&self, event: &OrderEvent) {
        // Overflow mode: full means the oldest is dropped, never an error
        // but "inactive" (no subscriber) or "closed", both harmless.
        let _ = self.sender.try_broadcast(event.clone());
    }

    fn receiver(&self) -> Receiver<OrderEvent> {
        self.keep_open.activate_cloned()
    }

    fn listened(&self) -> bool {
        self.sender.receiver_count() > 0
    }
}

impl std::fmt::Debug for dyn EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventLog")
    }
}

impl MemoryNotifier {
    /// A notifier replaying from `log`, with [`DEFAULT_CAPACITY`].
    pub fn new(log: Arc<dyn EventLog>) -> Self {
        Self::with_capacity(log, DEFAULT_CAPACITY)
    }

    /// A notifier whose channels hold `capacity` events (at least 1).
    pub fn with_capacity(log: Arc<dyn EventLog>, capacity: usize) -> Self {
        Self {
            all: Channel::new(capacity),
            orders: Arc::default(),
            capacity: capacity.max(1),
            log,
        }
    }

    fn orders(&self) -> std::sync::MutexGuard<'_, Orders> {
        self.orders.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Announces an event without awaiting (it never waits anyway).
    pub fn publish_now(&self, event: &OrderEvent) {
        self.all.publish(event);
        let mut orders = self.orders();
        if let Some(channel) = orders.channels.get(&event.order_id) {
            if channel.listened() {
                channel.publish(event);
            } else {
                orders.channels.remove(&event.order_id);
            }
        }
    }

    /// How many orders have a channel (for tests of the sweeping).
    pub fn order_channels(&self) -> usize {
        self.orders().channels.len()
    }

    fn live(&self, topic: &Topic) -> Receiver<OrderEvent> {
        let id = match topic {
            Topic::All => return self.all.receiver(),
            Topic::Order(id) => id,
        };
        let mut orders = self.orders();
        if orders.channels.len() >= orders.sweep_at {
            orders.channels.retain(|_, channel| channel.listened());
            orders.sweep_at = (orders.channels.len() * 2).max(1024);
        }
        let capacity = self.capacity.min(ORDER_CAPACITY);
        orders
            .channels
            .entry(id.clone())
            .or_insert_with(|| Channel::new(capacity))
            .receiver()
    }
}

/// The live side of a subscription: events until the receiver overflows
/// (then one `Lagged`, then the end) or the channel closes.
fn live_stream(
    receiver: Receiver<OrderEvent>,
) -> impl futures_core::Stream<Item = Result<OrderEvent, SubscriptionError>> + Send + Unpin {
    Box::pin(futures_util::stream::unfold(
        Some(receiver),
        |receiver| async move {
            let mut receiver = receiver?;
            match receiver.recv().await {
                Ok(event) => Some((Ok(event), Some(receiver))),
                Err(RecvError::Overflowed(_)) => Some((Err(SubscriptionError::Lagged), None)),
                Err(RecvError::Closed) => None,
            }
        },
    ))
}

#[async_trait]
impl Notifier for MemoryNotifier {
    async fn publish(&self, event: &OrderEvent) -> Result<(), StoreError> {
        self.publish_now(event);
        Ok(())
    }

    async fn subscribe(
        &self,
        topic: Topic,
        after: Option<EventId>,
    ) -> Result<Subscription, StoreError> {
        // Subscribe to the live channel before reading the log, so nothing
        // published in between is missed.
        let live = live_stream(self.live(&topic));
        Ok(replay_then_live(self.log.clone(), topic, after, live))
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;
    use crate::memory::MemoryStore;
    use crate::order::{Actor, OrderStatus};

    fn event(id: u64, order: &OrderId) -> OrderEvent {
        OrderEvent {
            id: EventId::new(id),
            order_id: order.clone(),
            from: Some(OrderStatus::Paid),
            to: OrderStatus::Processing,
            at: chrono::Utc::now(),
            actor: Actor::system(),
            note: None,
            kind: crate::order::EventKind::StatusChanged,
            data: None,
        }
    }

    #[test]
    fn an_event_reaches_its_order_and_the_dashboards_only() {
        futures_executor::block_on(async {
            let notifier = MemoryNotifier::new(Arc::new(MemoryStore::new()));
            let (a, b) = (OrderId::generate(), OrderId::generate());
            let mut of_a = notifier
                .subscribe(Topic::Order(a.clone()), None)
                .await
                .unwrap();
            let mut of_b = notifier
                .subscribe(Topic::Order(b.clone()), None)
                .await
                .unwrap();
            let mut all = notifier.subscribe(Topic::All, None).await.unwrap();
            notifier.publish_now(&event(1, &a));
            notifier.publish_now(&event(2, &b));
            assert_eq!(of_a.next().await.unwrap().unwrap().id, EventId::new(1));
            assert_eq!(of_b.next().await.unwrap().unwrap().id, EventId::new(2));
            assert_eq!(all.next().await.unwrap().unwrap().id, EventId::new(1));
            assert_eq!(all.next().await.unwrap().unwrap().id, EventId::new(2));
            // Nothing else is waiting for A's subscriber: B's event never
            // went into A's channel.
            let a_channel = notifier.orders().channels[&a].clone();
            assert_eq!(a_channel.sender.len(), 0);

            // A channel nobody listens to is dropped at its next event.
            drop(of_a);
            assert_eq!(notifier.order_channels(), 2);
            notifier.publish_now(&event(3, &a));
            assert_eq!(notifier.order_channels(), 1);
        });
    }

    #[test]
    fn a_slow_subscriber_lags_alone() {
        futures_executor::block_on(async {
            let notifier = MemoryNotifier::with_capacity(Arc::new(MemoryStore::new()), 2);
            let order = OrderId::generate();
            let mut slow = notifier
                .subscribe(Topic::Order(order.clone()), None)
                .await
                .unwrap();
            let mut fast = notifier
                .subscribe(Topic::Order(order.clone()), None)
                .await
                .unwrap();
            for id in 1..=3 {
                notifier.publish_now(&event(id, &order));
                assert_eq!(fast.next().await.unwrap().unwrap().id, EventId::new(id));
            }
            assert_eq!(slow.next().await.unwrap(), Err(SubscriptionError::Lagged));
            assert!(slow.next().await.is_none(), "the stream ends after Lagged");
        });
    }
}
