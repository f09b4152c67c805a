//! [`MemoryNotifier`]: order events fanned out inside one process.

use std::sync::Arc;

use async_broadcast::{InactiveReceiver, Receiver, RecvError, Sender};
use async_trait::async_trait;

use crate::ids::EventId;
use crate::order::OrderEvent;
use crate::ports::{
    EventLog, Notifier, StoreError, Subscription, SubscriptionError, Topic, replay_then_live,
};

/// How many events the channel holds for its slowest subscriber before
/// that subscriber is told it lagged.
pub const DEFAULT_CAPACITY: usize = 1024;

/// An in-process broadcast of order events, with replay from an
/// [`EventLog`].
///
/// Publishing never waits: the channel is bounded and in overflow mode, so
/// when a subscriber falls [`DEFAULT_CAPACITY`] events behind, the oldest
/// event is dropped for it alone and it receives
/// [`SubscriptionError::Lagged`]; faster subscribers and the publisher go
/// on. A lagged subscriber resubscribes after the last id it saw and loses
/// nothing, since the log still has every event.
#[derive(Debug, Clone)]
pub struct MemoryNotifier {
    sender: Sender<OrderEvent>,
    // Keeps the channel open while nobody subscribes.
    keep_open: InactiveReceiver<OrderEvent>,
    log: Arc<dyn EventLog>,
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

    /// A notifier whose channel holds `capacity` events (at least 1).
    pub fn with_capacity(log: Arc<dyn EventLog>, capacity: usize) -> Self {
        let (mut sender, receiver) = async_broadcast::broadcast(capacity.max(1));
        sender.set_overflow(true);
        sender.set_await_active(false);
        Self {
            sender,
            keep_open: receiver.deactivate(),
            log,
        }
    }

    /// Announces an event without awaiting (it never waits anyway).
    pub fn publish_now(&self, event: &OrderEvent) {
        // Overflow mode: full means the oldest is dropped, never an error
        // but "inactive" (no subscriber) or "closed", both harmless.
        let _ = self.sender.try_broadcast(event.clone());
    }

    fn live(&self) -> Receiver<OrderEvent> {
        self.keep_open.activate_cloned()
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
        let live = live_stream(self.live());
        Ok(replay_then_live(self.log.clone(), topic, after, live))
    }
}
