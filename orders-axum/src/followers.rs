//! The followers of orders: one live subscription per followed order,
//! shared by every socket that tracks it.
//!
//! Tracking sockets used to hold a subscription each: 10,000 followers of
//! one order meant 10,000 copies of every event, 10,000 replay states and
//! 10,000 channel receivers. Here the registry ([`Followers`]) keeps one
//! [`OrderFeed`] per order that has followers: a task reading the core's
//! subscription of that order, which serialises each event once into a
//! shared frame and queues it on a bounded broadcast ring of that order
//! only. A follower holds the feed (keeping it alive) and a receiver of
//! the ring (its bounded queue: [`FEED_CAPACITY`] frames); sockets that
//! follow other orders are not woken and nothing is queued for them.
//!
//! A follower that falls [`FEED_CAPACITY`] frames behind is told it lagged
//! (the socket closes with 1013 and the client resumes with `?after=`), as
//! are the followers of a feed whose own subscription lagged or failed:
//! slow readers never hold up the feed or the other followers.
//!
//! When an order's last follower leaves, its feed is dropped: its task is
//! aborted, its core subscription released, and its entry removed from the
//! registry.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use axum::extract::ws::Utf8Bytes;
use futures_util::StreamExt;
use orders_core::ids::{EventId, OrderId};
use orders_core::order::OrderEvent;
use orders_core::ports::{Notifier, StoreError, Subscription, SubscriptionError, Topic};
use tokio::sync::broadcast;

/// How many frames one order's ring holds for its slowest follower before
/// that follower is told it lagged. An order has a few dozen events in its
/// whole life; a follower this far behind is stuck.
pub(crate) const FEED_CAPACITY: usize = 64;

/// What a feed queues for its followers.
#[derive(Debug)]
pub(crate) enum Shared {
    /// An event, serialised once for every follower.
    Event {
        /// Its id (to skip what a follower replayed or its snapshot shows).
        id: EventId,
        /// Whether the order's customer may see it.
        visible_to_customer: bool,
        /// Its text frame: `{"type": "event", "event": …}`.
        frame: Utf8Bytes,
    },
    /// The feed's own subscription lagged: every follower resumes.
    Lagged,
    /// The feed's subscription failed or ended.
    Failed,
}

impl Shared {
    fn event(event: &OrderEvent) -> Self {
        Self::Event {
            id: event.id,
            visible_to_customer: event.visible_to_customer(),
            frame: event_frame(event),
        }
    }
}

/// The text frame of one event.
pub(crate) fn event_frame(event: &OrderEvent) -> Utf8Bytes {
    Utf8Bytes::from(serde_json::json!({"type": "event", "event": event}).to_string())
}

/// The registry of followed orders. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Followers {
    registry: Arc<Registry>,
}

struct Registry {
    notifier: Arc<dyn Notifier>,
    feeds: Mutex<HashMap<OrderId, Weak<OrderFeed>>>,
}

impl Registry {
    fn feeds(&self) -> MutexGuard<'_, HashMap<OrderId, Weak<OrderFeed>>> {
        self.feeds.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One followed order: its task and its ring. Dropped with its last
/// follower.
pub(crate) struct OrderFeed {
    id: OrderId,
    sender: broadcast::Sender<Arc<Shared>>,
    /// Set by the task when it ends: new followers get a new feed.
    ended: Arc<AtomicBool>,
    /// Frames queued, summed over the followers each was queued for (read
    /// by the tests, to show that nothing is queued for other orders).
    #[cfg_attr(not(test), allow(dead_code))]
    queued: Arc<AtomicU64>,
    registry: Arc<Registry>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OrderFeed {
    fn drop(&mut self) {
        self.task.abort();
        let mut feeds = self.registry.feeds();
        // Only this feed's entry: a newer feed of the order may be there.
        if feeds.get(&self.id).is_some_and(|w| w.strong_count() == 0) {
            feeds.remove(&self.id);
        }
    }
}

/// A follower of one order: its feed (kept alive while it follows) and its
/// queue of frames.
pub(crate) struct Follower {
    /// The feed; dropping the last follower drops it.
    _feed: Arc<OrderFeed>,
    /// This follower's bounded queue.
    pub(crate) queue: broadcast::Receiver<Arc<Shared>>,
}

impl Followers {
    /// A registry subscribing through `notifier`.
    pub(crate) fn new(notifier: Arc<dyn Notifier>) -> Self {
        Self {
            registry: Arc::new(Registry {
                notifier,
                feeds: Mutex::default(),
            }),
        }
    }

    /// Follows `order`: every event published from now on is queued for the
    /// returned follower. The first follower of an order subscribes to it.
    ///
    /// # Errors
    /// The notifier's, if it cannot subscribe.
    pub(crate) async fn follow(&self, order: &OrderId) -> Result<Follower, StoreError> {
        if let Some(follower) = self.join(order) {
            return Ok(follower);
        }
        // Subscribed outside the lock; a follower that raced us to it wins.
        let subscription = self
            .registry
            .notifier
            .subscribe(Topic::Order(order.clone()), None)
            .await?;
        // Declared before the lock, so dropped after it: dropping the last
        // reference to a feed takes the lock.
        let current;
        let mut feeds = self.registry.feeds();
        current = feeds.get(order).and_then(Weak::upgrade);
        if let Some(feed) = &current
            && !feed.ended.load(Ordering::Acquire)
        {
            let queue = feed.sender.subscribe();
            return Ok(Follower {
                _feed: feed.clone(),
                queue,
            });
        }
        let (sender, queue) = broadcast::channel(FEED_CAPACITY);
        let ended = Arc::new(AtomicBool::new(false));
        let queued = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(forward(
            subscription,
            sender.clone(),
            ended.clone(),
            queued.clone(),
        ));
        let feed = Arc::new(OrderFeed {
            id: order.clone(),
            sender,
            ended,
            queued,
            registry: self.registry.clone(),
            task,
        });
        feeds.insert(order.clone(), Arc::downgrade(&feed));
        Ok(Follower { _feed: feed, queue })
    }

    /// A new follower of a live feed of `order`, if there is one.
    fn join(&self, order: &OrderId) -> Option<Follower> {
        let feed = self.registry.feeds().get(order).and_then(Weak::upgrade)?;
        if feed.ended.load(Ordering::Acquire) {
            return None;
        }
        let queue = feed.sender.subscribe();
        Some(Follower { _feed: feed, queue })
    }

    /// How many orders have a feed.
    #[cfg(test)]
    pub(crate) fn followed_orders(&self) -> usize {
        self.registry.feeds().len()
    }

    /// The followers of `order` and the frames queued for them so far
    /// (each frame counted once per follower it was queued for); `None`
    /// when the order has no feed.
    #[cfg(test)]
    pub(crate) fn feed_state(&self, order: &OrderId) -> Option<(usize, u64)> {
        let feed = self.registry.feeds().get(order).and_then(Weak::upgrade)?;
        Some((
            feed.sender.receiver_count(),
            feed.queued.load(Ordering::Relaxed),
        ))
    }
}

/// A feed's task: each event of `subscription`, serialised once, queued for
/// every follower; on the subscription's end, one last `Lagged` or
/// `Failed` for them.
async fn forward(
    mut subscription: Subscription,
    sender: broadcast::Sender<Arc<Shared>>,
    ended: Arc<AtomicBool>,
    queued: Arc<AtomicU64>,
) {
    let last = loop {
        match subscription.next().await {
            Some(Ok(event)) => {
                // No follower (the last one is leaving): nothing is queued.
                if let Ok(followers) = sender.send(Arc::new(Shared::event(&event))) {
                    queued.fetch_add(followers as u64, Ordering::Relaxed);
                }
            }
            Some(Err(SubscriptionError::Lagged)) => break Shared::Lagged,
            Some(Err(error)) => {
                tracing::warn!(%error, "an order's event feed failed");
                break Shared::Failed;
            }
            None => break Shared::Failed,
        }
    };
    // Before the last frame: a follower that sees it and comes back gets a
    // new feed.
    ended.store(true, Ordering::Release);
    let _ = sender.send(Arc::new(last));
}

#[cfg(test)]
mod tests;
