//! The socket loop, with channels for the socket and the feed.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Message;
use chrono::Utc;
use orders_core::ids::EventId;
use orders_core::ports::{Subscription, SubscriptionError};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::pump::{Ended, SocketConfig, pump};
use super::source::Source;
use orders_core::ids::OrderId;
use orders_core::order::{Actor, OrderEvent, OrderStatus};
use tokio::sync::mpsc;

use super::test_support::{Duplex, Tokens, session};
use crate::Revocations;

type Item = Result<Message, std::convert::Infallible>;

fn event(n: u64) -> OrderEvent {
    OrderEvent {
        id: EventId::new(n),
        order_id: OrderId::parse("o1").unwrap(),
        from: Some(OrderStatus::Pending),
        to: OrderStatus::Paid,
        at: Utc::now(),
        actor: Actor::system(),
        note: None,
        kind: orders_core::order::EventKind::StatusChanged,
        data: None,
    }
}

struct Harness {
    sent: mpsc::UnboundedReceiver<Message>,
    client: mpsc::UnboundedSender<Item>,
    feed: mpsc::UnboundedSender<Result<OrderEvent, SubscriptionError>>,
    stop: watch::Sender<bool>,
    revocations: Revocations,
    tokens: Arc<Tokens>,
    task: tokio::task::JoinHandle<Ended>,
}

fn harness(first: Option<Value>, ping: Duration) -> Harness {
    let (sent_tx, sent) = mpsc::unbounded_channel::<Message>();
    let sink = futures_util::sink::unfold(sent_tx, |tx, message: Message| async move {
        tx.send(message).map_err(|_| ())?;
        Ok::<_, ()>(tx)
    });
    let (client, client_rx) = mpsc::unbounded_channel::<Item>();
    let incoming = Box::pin(futures_util::stream::unfold(client_rx, |mut rx| async {
        rx.recv().await.map(|item| (item, rx))
    }));
    let (feed, feed_rx) = mpsc::unbounded_channel();
    let events: Subscription = Box::pin(futures_util::stream::unfold(feed_rx, |mut rx| async {
        rx.recv().await.map(|item| (item, rx))
    }));
    let (stop, stop_rx) = watch::channel(false);
    let config = SocketConfig {
        ping_interval: ping,
        send_timeout: Duration::from_secs(5),
    };
    let revocations = Revocations::new();
    let tokens = Arc::new(Tokens::default());
    let task = tokio::spawn(pump(
        Duplex {
            sink: Box::pin(sink),
            stream: incoming,
        },
        first,
        Source::Own(events),
        stop_rx,
        session("t1", &revocations, &tokens),
        config,
    ));
    Harness {
        sent,
        client,
        feed,
        stop,
        revocations,
        tokens,
        task,
    }
}

fn text(message: Message) -> Value {
    match message {
        Message::Text(text) => serde_json::from_str(text.as_str()).unwrap(),
        other => panic!("expected text, got {other:?}"),
    }
}

fn close_code(message: Message) -> u16 {
    match message {
        Message::Close(Some(frame)) => frame.code,
        other => panic!("expected close, got {other:?}"),
    }
}

#[tokio::test]
async fn snapshot_then_events_in_order_then_lagged_closes_with_1013() {
    let mut h = harness(Some(json!({"type": "snapshot"})), Duration::from_secs(30));
    assert_eq!(text(h.sent.recv().await.unwrap())["type"], "snapshot");
    h.feed.send(Ok(event(1))).unwrap();
    h.feed.send(Ok(event(2))).unwrap();
    let one = text(h.sent.recv().await.unwrap());
    let two = text(h.sent.recv().await.unwrap());
    assert_eq!(one["type"], "event");
    assert_eq!(one["event"]["id"], "00000000000000000001");
    assert_eq!(two["event"]["id"], "00000000000000000002");
    h.feed.send(Err(SubscriptionError::Lagged)).unwrap();
    assert_eq!(close_code(h.sent.recv().await.unwrap()), 1013);
    assert_eq!(h.task.await.unwrap(), Ended::Lagged);
}

#[tokio::test]
async fn shutdown_closes_with_1001() {
    let mut h = harness(None, Duration::from_secs(30));
    h.stop.send_replace(true);
    assert_eq!(close_code(h.sent.recv().await.unwrap()), 1001);
    assert_eq!(h.task.await.unwrap(), Ended::Shutdown);
}

#[tokio::test]
async fn client_close_ends_the_loop() {
    let h = harness(None, Duration::from_secs(30));
    h.client.send(Ok(Message::Close(None))).unwrap();
    assert_eq!(h.task.await.unwrap(), Ended::Client);
    drop(h.feed);
}

#[tokio::test(start_paused = true)]
async fn pings_every_interval() {
    let mut h = harness(None, Duration::from_secs(30));
    // Time is paused: the runtime jumps to the next timer when idle.
    let first = h.sent.recv().await.unwrap();
    assert!(matches!(first, Message::Ping(_)));
    let second = h.sent.recv().await.unwrap();
    assert!(matches!(second, Message::Ping(_)));
    drop(h.client);
    assert_eq!(h.task.await.unwrap(), Ended::Client);
}

#[tokio::test(start_paused = true)]
async fn a_client_that_stops_reading_is_dropped() {
    // A sink that never accepts a frame, like a socket whose peer stopped reading.
    let sink = futures_util::sink::unfold((), |(), _: Message| async {
        std::future::pending::<Result<(), ()>>().await
    });
    let (_stop, stop_rx) = watch::channel(false);
    let config = SocketConfig {
        ping_interval: Duration::from_secs(30),
        send_timeout: Duration::from_secs(10),
    };
    let incoming = futures_util::stream::pending::<Item>();
    let events: Subscription = Box::pin(futures_util::stream::pending());
    let ended = pump(
        Duplex {
            sink: Box::pin(sink),
            stream: incoming,
        },
        Some(json!({"type": "snapshot"})),
        Source::Own(events),
        stop_rx,
        session("t1", &Revocations::new(), &Arc::default()),
        config,
    )
    .await;
    assert_eq!(ended, Ended::Send);
}

#[tokio::test]
async fn a_failed_feed_closes_with_1011() {
    let mut h = harness(None, Duration::from_secs(30));
    drop(h.feed);
    assert_eq!(close_code(h.sent.recv().await.unwrap()), 1011);
    assert_eq!(h.task.await.unwrap(), Ended::Feed);
}

#[tokio::test]
async fn a_revoked_token_closes_with_4001_and_another_does_not() {
    let mut h = harness(None, Duration::from_secs(30));
    h.revocations.revoked("someone else");
    h.feed.send(Ok(event(1))).unwrap();
    assert_eq!(text(h.sent.recv().await.unwrap())["type"], "event");
    h.revocations.revoked("t1");
    assert_eq!(close_code(h.sent.recv().await.unwrap()), 4001);
    assert_eq!(h.task.await.unwrap(), Ended::Revoked);
}

#[tokio::test(start_paused = true)]
async fn a_token_unknown_at_a_ping_closes_with_4001() {
    let mut h = harness(None, Duration::from_secs(30));
    assert!(matches!(h.sent.recv().await.unwrap(), Message::Ping(_)));
    // Revoked elsewhere: no announcement here, only the host's answer.
    h.tokens.0.lock().unwrap().clear();
    assert_eq!(close_code(h.sent.recv().await.unwrap()), 4001);
    assert_eq!(h.task.await.unwrap(), Ended::Revoked);
}
