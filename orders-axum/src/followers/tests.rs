//! The registry with a real in-memory notifier, its real channels and
//! tasks, and the socket loop on top of it.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Message;
use chrono::Utc;
use orders_core::ids::{EventId, OrderId};
use orders_core::memory::{MemoryNotifier, MemoryStore};
use orders_core::order::{Actor, EventKind, OrderEvent, OrderStatus};
use tokio::sync::{broadcast, mpsc, watch};

use super::{FEED_CAPACITY, Follower, Followers, Shared};
use crate::routes::ws::test_support::{Duplex, Tokens, session};
use crate::routes::ws::{Ended, Following, Item, SocketConfig, Source, pump};

fn event(id: u64, order: &OrderId) -> OrderEvent {
    OrderEvent {
        id: EventId::new(id),
        order_id: order.clone(),
        from: Some(OrderStatus::Pending),
        to: OrderStatus::Paid,
        at: Utc::now(),
        actor: Actor::system(),
        note: None,
        kind: EventKind::StatusChanged,
        data: None,
    }
}

fn registry() -> (MemoryNotifier, Followers) {
    let notifier = MemoryNotifier::new(Arc::new(MemoryStore::new()));
    let followers = Followers::new(Arc::new(notifier.clone()));
    (notifier, followers)
}

/// The event id of a queued frame.
fn id_of(shared: &Shared) -> EventId {
    match shared {
        Shared::Event { id, .. } => *id,
        other => panic!("expected an event, got {other:?}"),
    }
}

async fn next_id(follower: &mut Follower) -> EventId {
    let shared = tokio::time::timeout(Duration::from_secs(5), follower.queue.recv())
        .await
        .expect("a frame in time")
        .expect("a frame");
    id_of(&shared)
}

/// Lets the feeds' tasks run until nothing is left to do.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn an_orders_change_reaches_its_followers_only() {
    let (notifier, followers) = registry();
    let (a, b) = (OrderId::generate(), OrderId::generate());
    let mut of_a = [
        followers.follow(&a).await.unwrap(),
        followers.follow(&a).await.unwrap(),
    ];
    let mut of_b = followers.follow(&b).await.unwrap();
    assert_eq!(followers.followed_orders(), 2);
    // One core subscription per order, however many follow it.
    assert_eq!(notifier.order_channels(), 2);

    notifier.publish_now(&event(1, &a));
    for follower in &mut of_a {
        assert_eq!(next_id(follower).await, EventId::new(1));
    }
    settle().await;
    // Nothing reached B's follower, and nothing was queued for it.
    assert!(matches!(
        of_b.queue.try_recv(),
        Err(broadcast::error::TryRecvError::Empty)
    ));
    assert_eq!(followers.feed_state(&a), Some((2, 2)));
    assert_eq!(followers.feed_state(&b), Some((1, 0)));

    notifier.publish_now(&event(2, &b));
    assert_eq!(next_id(&mut of_b).await, EventId::new(2));
    settle().await;
    for follower in &mut of_a {
        assert!(follower.queue.is_empty(), "B's event reached A's follower");
    }
    assert_eq!(followers.feed_state(&a), Some((2, 2)));
    assert_eq!(followers.feed_state(&b), Some((1, 1)));
}

#[tokio::test]
async fn the_registry_drops_an_order_when_its_last_follower_leaves() {
    let (notifier, followers) = registry();
    let (a, b) = (OrderId::generate(), OrderId::generate());
    let first = followers.follow(&a).await.unwrap();
    let second = followers.follow(&a).await.unwrap();
    let of_b = followers.follow(&b).await.unwrap();
    drop(first);
    assert_eq!(followers.feed_state(&a).map(|(n, _)| n), Some(1));
    drop(second);
    assert_eq!(followers.feed_state(&a), None);
    assert_eq!(followers.followed_orders(), 1);
    // Its task is gone with its core subscription: the core drops the
    // order's channel at its next event.
    settle().await;
    notifier.publish_now(&event(1, &a));
    assert_eq!(notifier.order_channels(), 1);

    drop(of_b);
    assert_eq!(followers.followed_orders(), 0);

    // Following again starts afresh, and works.
    let mut again = followers.follow(&a).await.unwrap();
    notifier.publish_now(&event(2, &a));
    assert_eq!(next_id(&mut again).await, EventId::new(2));
}

#[tokio::test]
async fn many_followers_coming_and_going_leave_nothing_behind() {
    let (notifier, followers) = registry();
    let orders: Vec<OrderId> = (0..50).map(|_| OrderId::generate()).collect();
    let mut tasks = Vec::new();
    for round in 0..4 {
        for order in &orders {
            let (followers, order) = (followers.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let follower = followers.follow(&order).await.unwrap();
                tokio::time::sleep(Duration::from_millis(round)).await;
                drop(follower);
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(followers.followed_orders(), 0);
    settle().await;
    for (i, order) in orders.iter().enumerate() {
        notifier.publish_now(&event(i as u64 + 1, order));
    }
    assert_eq!(notifier.order_channels(), 0);
}

#[tokio::test]
async fn a_follower_that_stops_reading_lags_alone() {
    let (notifier, followers) = registry();
    let order = OrderId::generate();
    let slow = followers.follow(&order).await.unwrap();
    let mut fast = followers.follow(&order).await.unwrap();
    let mut slow = Following::new(slow, EventId::new(0), Vec::new(), false);
    let total = FEED_CAPACITY as u64 + 5;
    for id in 1..=total {
        notifier.publish_now(&event(id, &order));
        assert_eq!(next_id(&mut fast).await, EventId::new(id));
    }
    assert!(matches!(slow.next().await, Some(Item::Lagged)));
}

#[tokio::test]
async fn replayed_events_are_sent_once_and_customers_see_only_theirs() {
    let (notifier, followers) = registry();
    let order = OrderId::generate();
    let follower = followers.follow(&order).await.unwrap();
    // The snapshot shows events up to 4; 5 was read from the log after
    // following, so it comes live too.
    let mut following = Following::new(follower, EventId::new(4), vec![event(5, &order)], true);
    let mut note = event(7, &order);
    note.kind = EventKind::NoteAdded;
    for e in [
        event(4, &order),
        event(5, &order),
        event(6, &order),
        note,
        event(8, &order),
    ] {
        notifier.publish_now(&e);
    }
    let mut got = Vec::new();
    for _ in 0..3 {
        match following.next().await {
            Some(Item::Frame(frame)) => {
                let value: serde_json::Value = serde_json::from_str(frame.as_str()).unwrap();
                got.push(
                    value["event"]["id"]
                        .as_str()
                        .unwrap()
                        .trim_start_matches('0')
                        .to_owned(),
                );
            }
            other => panic!("expected a frame, got {other:?}"),
        }
    }
    assert_eq!(got, ["5", "6", "8"]);
}

/// The sink half of a test socket.
type TestSink = std::pin::Pin<Box<dyn futures_util::Sink<Message, Error = ()> + Send>>;
/// A client that sends nothing.
type Silent = futures_util::stream::Pending<Result<Message, std::convert::Infallible>>;

/// A socket whose client stopped reading: no frame is ever accepted.
fn stuck_socket() -> Duplex<TestSink, Silent> {
    let sink = futures_util::sink::unfold((), |(), _: Message| async {
        std::future::pending::<Result<(), ()>>().await
    });
    Duplex {
        sink: Box::pin(sink),
        stream: futures_util::stream::pending(),
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_follower_does_not_delay_the_others() {
    let (notifier, followers) = registry();
    let order = OrderId::generate();
    let config = SocketConfig {
        ping_interval: Duration::from_secs(30),
        send_timeout: Duration::from_secs(10),
    };
    let tokens = Arc::new(Tokens::default());
    let revocations = crate::Revocations::new();
    let (_stop, stop_rx) = watch::channel(false);

    let source =
        |follower| Source::Follow(Following::new(follower, EventId::new(0), Vec::new(), false));
    let slow = tokio::spawn(pump(
        stuck_socket(),
        None,
        source(followers.follow(&order).await.unwrap()),
        stop_rx.clone(),
        session("t1", &revocations, &tokens),
        config,
    ));
    let (sent_tx, mut sent) = mpsc::unbounded_channel::<Message>();
    let sink = futures_util::sink::unfold(sent_tx, |tx, message: Message| async move {
        tx.send(message).map_err(|_| ())?;
        Ok::<_, ()>(tx)
    });
    let fast = tokio::spawn(pump(
        Duplex {
            sink: Box::pin(sink),
            stream: futures_util::stream::pending::<Result<Message, std::convert::Infallible>>(),
        },
        None,
        source(followers.follow(&order).await.unwrap()),
        stop_rx,
        session("t2", &revocations, &tokens),
        config,
    ));
    let started = tokio::time::Instant::now();
    let total = FEED_CAPACITY as u64 * 2;
    for id in 1..=total {
        notifier.publish_now(&event(id, &order));
        match sent.recv().await.unwrap() {
            Message::Text(text) => {
                let value: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
                assert_eq!(value["event"]["id"], EventId::new(id).to_string());
            }
            other => panic!("expected an event, got {other:?}"),
        }
    }
    // Every event reached the fast follower at once (time is paused: no
    // timer fired meanwhile), while the slow one's first send was stuck.
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(slow.await.unwrap(), Ended::Send);
    assert_eq!(followers.feed_state(&order).map(|(n, _)| n), Some(1));
    notifier.publish_now(&event(total + 1, &order));
    assert!(matches!(sent.recv().await.unwrap(), Message::Text(_)));
    fast.abort();
}
