//! The notification port: order events announced after commit, to
//! subscribers of one order or of all, resumable after an event id.

use std::collections::{HashSet, VecDeque};
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use futures_core::Stream;
use futures_util::StreamExt;

use super::store::{EventLog, StoreError};
use crate::ids::{EventId, OrderId};
use crate::order::OrderEvent;

/// What a subscriber listens to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Topic {
    /// One order's events.
    Order(OrderId),
    /// Every order's events (dashboards).
    All,
}

impl Topic {
    /// Whether `event` belongs to this topic.
    pub fn matches(&self, event: &OrderEvent) -> bool {
        match self {
            Self::Order(id) => &event.order_id == id,
            Self::All => true,
        }
    }

    fn order(&self) -> Option<&OrderId> {
        match self {
            Self::Order(id) => Some(id),
            Self::All => None,
        }
    }
}

/// Why a subscription ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubscriptionError {
    /// The subscriber read too slowly and events were dropped for it. It can
    /// subscribe again after the last event it received; nothing is lost.
    #[error("the subscriber fell behind; resubscribe after the last event received")]
    Lagged,
    /// Replaying from the event log failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A stream of events, in order, ending after an error.
pub type Subscription = Pin<Box<dyn Stream<Item = Result<OrderEvent, SubscriptionError>> + Send>>;

/// Announces committed order events and lets callers subscribe to them.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Announces `event`, which MUST already be committed. Subscribers of
    /// its order and of [`Topic::All`] receive it. A failure to announce
    /// loses nothing: the event is in the log, and subscribers catch up
    /// when they resume.
    ///
    /// # Errors
    /// The backend's, if it could not announce.
    async fn publish(&self, event: &OrderEvent) -> Result<(), StoreError>;

    /// Subscribes to `topic`.
    ///
    /// With `after = None`: every matching event published from now on.
    /// With `after = Some(id)`: first every matching event after `id`
    /// already in the log, oldest first, then the live ones, with no gap and
    /// no duplicate. A subscriber that falls too far behind gets
    /// [`SubscriptionError::Lagged`] and the stream ends; it never slows the
    /// publisher or other subscribers.
    ///
    /// # Errors
    /// The backend's, if it cannot subscribe.
    async fn subscribe(
        &self,
        topic: Topic,
        after: Option<EventId>,
    ) -> Result<Subscription, StoreError>;
}

/// How many events one replay read fetches.
const REPLAY_BATCH: usize = 500;

/// Joins a replay from `log` with a `live` stream that was subscribed
/// *before* this call, with no gap and no duplicate.
///
/// The live stream buffers what is published while the log is read. Each
/// replayed id is remembered; a live event is then dropped if it was
/// replayed or is not after `after`, and passed on otherwise. Ids are
/// compared by membership, not only by "greater than the last replayed",
/// because a backend may commit a smaller id after a larger one (sequence
/// values are taken before commit), and such an event must still arrive.
///
/// Store implementations call this from [`Notifier::subscribe`].
pub fn replay_then_live<S>(
    log: Arc<dyn EventLog>,
    topic: Topic,
    after: Option<EventId>,
    live: S,
) -> Subscription
where
    S: Stream<Item = Result<OrderEvent, SubscriptionError>> + Send + Unpin + 'static,
{
    let Some(after) = after else {
        return Box::pin(live.filter(move |item| {
            let keep = match item {
                Ok(event) => topic.matches(event),
                Err(_) => true,
            };
            std::future::ready(keep)
        }));
    };
    struct State<S> {
        log: Arc<dyn EventLog>,
        topic: Topic,
        after: EventId,
        cursor: EventId,
        buffer: VecDeque<OrderEvent>,
        replaying: bool,
        seen: HashSet<EventId>,
        live: S,
        done: bool,
    }
    let state = State {
        log,
        topic,
        after,
        cursor: after,
        buffer: VecDeque::new(),
        replaying: true,
        seen: HashSet::new(),
        live,
        done: false,
    };
    Box::pin(futures_util::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        loop {
            if let Some(event) = s.buffer.pop_front() {
                s.seen.insert(event.id);
                return Some((Ok(event), s));
            }
            if !s.replaying {
                break;
            }
            match s
                .log
                .events_after(Some(s.cursor), s.topic.order(), REPLAY_BATCH)
                .await
            {
                Ok(batch) => {
                    s.replaying = batch.len() == REPLAY_BATCH;
                    if let Some(last) = batch.last() {
                        s.cursor = last.id;
                    }
                    s.buffer
                        .extend(batch.into_iter().filter(|e| s.topic.matches(e)));
                }
                Err(error) => {
                    s.done = true;
                    return Some((Err(SubscriptionError::Store(error)), s));
                }
            }
        }
        loop {
            match s.live.next().await? {
                Ok(event) => {
                    if !s.topic.matches(&event) || event.id <= s.after || s.seen.contains(&event.id)
                    {
                        continue;
                    }
                    return Some((Ok(event), s));
                }
                Err(error) => {
                    s.done = true;
                    return Some((Err(error), s));
                }
            }
        }
    }))
}
