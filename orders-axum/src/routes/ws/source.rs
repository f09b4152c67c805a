//! What a socket forwards: the frames of one order's feed (shared with its
//! other followers), or of a subscription of its own (the admin stream).

use axum::extract::ws::Utf8Bytes;
use futures_util::StreamExt;
use orders_core::ids::EventId;
use orders_core::order::OrderEvent;
use orders_core::ports::{Subscription, SubscriptionError};
use tokio::sync::broadcast;

use crate::followers::{Follower, Shared, event_frame};

/// The next thing a socket is to do with its feed.
#[derive(Debug)]
pub(crate) enum Item {
    /// Send this text frame.
    Frame(Utf8Bytes),
    /// The client fell behind: close with 1013.
    Lagged,
    /// The feed failed or ended: close with 1011.
    Failed,
}

/// A socket's feed.
pub(crate) enum Source {
    /// One order, through the registry of followers.
    Follow(Following),
    /// A subscription of its own (every order's events, for dashboards).
    Own(Subscription),
}

impl Source {
    /// The next item; `None` when the feed ended without saying why.
    pub(crate) async fn next(&mut self) -> Option<Item> {
        match self {
            Self::Follow(following) => following.next().await,
            Self::Own(subscription) => Some(match subscription.next().await? {
                Ok(event) => Item::Frame(shared_frame(&event)),
                Err(SubscriptionError::Lagged) => Item::Lagged,
                Err(error) => {
                    tracing::warn!(%error, "event feed failed");
                    Item::Failed
                }
            }),
        }
    }
}

/// A follower of one order, replaying first what its snapshot does not
/// show, then the live frames that it has not replayed and may see.
pub(crate) struct Following {
    follower: Follower,
    /// Replayed events' frames, not sent yet, oldest first.
    replay: std::collections::VecDeque<Utf8Bytes>,
    /// The last event the snapshot (or the client) has.
    after: EventId,
    /// The ids of the replayed events (usually none).
    replayed: Box<[EventId]>,
    /// Only the events the order's customer may see.
    customer: bool,
}

impl Following {
    /// `follower`, subscribed *before* `replay` (the events after `after`
    /// that the caller may see) was read from the log.
    pub(crate) fn new(
        follower: Follower,
        after: EventId,
        replay: Vec<OrderEvent>,
        customer: bool,
    ) -> Self {
        Self {
            follower,
            replayed: replay.iter().map(|e| e.id).collect(),
            replay: replay.iter().map(event_frame).collect(),
            after,
            customer,
        }
    }

    /// The next item; `None` when the feed is gone.
    pub(crate) async fn next(&mut self) -> Option<Item> {
        if let Some(frame) = self.replay.pop_front() {
            return Some(Item::Frame(frame));
        }
        loop {
            let shared = match self.follower.queue.recv().await {
                Ok(shared) => shared,
                Err(broadcast::error::RecvError::Lagged(_)) => return Some(Item::Lagged),
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            match &*shared {
                Shared::Event {
                    id,
                    visible_to_customer,
                    frame,
                } => {
                    // Ids are compared by membership too: a backend may commit a smaller id
                    // after a larger one (see `orders_core::ports::replay_then_live`).
                    if *id <= self.after
                        || self.replayed.contains(id)
                        || (self.customer && !visible_to_customer)
                    {
                        continue;
                    }
                    return Some(Item::Frame(frame.clone()));
                }
                Shared::Lagged => return Some(Item::Lagged),
                Shared::Failed => return Some(Item::Failed),
            }
        }
    }
}

/// The text frame of `event`, serialised once however many sockets send
/// it: every admin stream receives the same event at about the same
/// moment, so one slot holding the last frame turns N serialisations into
/// one. Keyed by event id *and* order id, so two engines in one process
/// (whose event ids both start at 1) never share a frame.
fn shared_frame(event: &OrderEvent) -> Utf8Bytes {
    type Slot = Option<(EventId, orders_core::ids::OrderId, Utf8Bytes)>;
    static LAST: std::sync::Mutex<Slot> = std::sync::Mutex::new(None);
    let mut last = LAST
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((id, order, frame)) = last.as_ref()
        && *id == event.id
        && *order == event.order_id
    {
        return frame.clone();
    }
    let frame = event_frame(event);
    *last = Some((event.id, event.order_id.clone(), frame.clone()));
    frame
}
