//! The connection deadlines, drain and abort on an in-memory socket with a
//! paused clock: every figure is exact.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::routing::get;
use futures_util::{SinkExt as _, StreamExt as _};
use hyper::server::conn::http1;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, DuplexStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::conn::{self, ConnState, Phase, Served, Timeouts, Tracked};
use super::{ServeOptions, Throttle};

const TIMEOUTS: Timeouts = Timeouts {
    first_byte: Duration::from_secs(1),
    header: Duration::from_secs(2),
    idle: Duration::from_secs(5),
};

const GET_OK: &[u8] = b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n";

fn app() -> Router {
    Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "ok"
            }),
        )
        .route(
            "/stream",
            get(|| async {
                // Five chunks two seconds apart, then "ok": ten seconds of
                // body, longer than the idle deadline.
                let chunks = futures_util::stream::unfold(0, |n| async move {
                    match n {
                        0..5 => {
                            tokio::time::sleep(Duration::from_secs(2)).await;
                            Some((Ok::<_, std::io::Error>(".".to_owned()), n + 1))
                        }
                        5 => Some((Ok("ok".to_owned()), n + 1)),
                        _ => None,
                    }
                });
                Body::from_stream(chunks)
            }),
        )
        .route(
            "/ws",
            get(|upgrade: WebSocketUpgrade| async move {
                upgrade.on_upgrade(|mut socket| async move {
                    while let Some(Ok(message)) = socket.recv().await {
                        if matches!(message, Message::Close(_)) {
                            break;
                        }
                    }
                })
            }),
        )
}

struct Harness {
    client: DuplexStream,
    permits: Arc<Semaphore>,
    phase: watch::Sender<Phase>,
    task: JoinHandle<()>,
    started: Instant,
}

fn start() -> Harness {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let permits = Arc::new(Semaphore::new(1));
    let permit = permits.clone().try_acquire_owned().unwrap();
    let state = ConnState::new();
    let io = Tracked::new(server, state.clone(), permit);
    let service = Served::new(app(), "127.0.0.1:9".parse().unwrap(), state);
    let (phase, receiver) = watch::channel(Phase::Running);
    let mut builder = http1::Builder::new();
    builder.header_read_timeout(None);
    let task = tokio::spawn(conn::run(builder, io, service, TIMEOUTS, receiver));
    Harness {
        client,
        permits,
        phase,
        task,
        started: Instant::now(),
    }
}

/// Reads until the end of a response whose body ends with `ok`.
async fn response(client: &mut DuplexStream) -> String {
    let mut text = Vec::new();
    let mut buffer = [0_u8; 1024];
    while !text.ends_with(b"ok") && !text.ends_with(b"ok\r\n0\r\n\r\n") {
        let n = client.read(&mut buffer).await.unwrap();
        assert!(n > 0, "closed before the response ended");
        text.extend_from_slice(&buffer[..n]);
    }
    String::from_utf8(text).unwrap()
}

/// Reads until the server closes; how long after `started` that was.
async fn closed_after(client: &mut DuplexStream, started: Instant) -> Duration {
    let mut buffer = [0_u8; 1024];
    loop {
        match client.read(&mut buffer).await {
            Ok(0) | Err(_) => return started.elapsed(),
            Ok(_) => {}
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_silent_connection_is_closed_at_the_first_byte_deadline() {
    let mut h = start();
    assert_eq!(
        closed_after(&mut h.client, h.started).await,
        TIMEOUTS.first_byte
    );
    h.task.await.unwrap();
    assert_eq!(h.permits.available_permits(), 1, "the socket is released");
}

#[tokio::test(start_paused = true)]
async fn a_trickled_head_is_cut_at_the_head_deadline_from_its_first_byte() {
    let h = start();
    let (mut read, mut write) = tokio::io::split(h.client);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let _ = write.write_all(b"GET /ok HTTP/1.1\r\n").await;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if write.write_all(b"X").await.is_err() {
                return;
            }
        }
    });
    let mut buffer = [0_u8; 64];
    let n = read.read(&mut buffer).await.unwrap_or(0);
    assert_eq!(n, 0, "no response");
    assert_eq!(
        h.started.elapsed(),
        Duration::from_millis(500) + TIMEOUTS.header
    );
}

#[tokio::test(start_paused = true)]
async fn a_kept_alive_connection_is_closed_at_the_idle_deadline_only() {
    let mut h = start();
    h.client.write_all(GET_OK).await.unwrap();
    assert!(response(&mut h.client).await.starts_with("HTTP/1.1 200"));
    // Past the first-byte and head deadlines it still serves.
    tokio::time::sleep(Duration::from_secs(3)).await;
    h.client.write_all(GET_OK).await.unwrap();
    assert!(response(&mut h.client).await.starts_with("HTTP/1.1 200"));
    let answered = Instant::now();
    assert_eq!(closed_after(&mut h.client, answered).await, TIMEOUTS.idle);
}

#[tokio::test(start_paused = true)]
async fn a_request_in_flight_is_under_no_connection_deadline() {
    let mut h = start();
    h.client
        .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(response(&mut h.client).await.starts_with("HTTP/1.1 200"));
    assert_eq!(h.started.elapsed(), Duration::from_secs(30));
    let answered = Instant::now();
    assert_eq!(closed_after(&mut h.client, answered).await, TIMEOUTS.idle);
}

#[tokio::test(start_paused = true)]
async fn a_response_body_still_streaming_is_in_flight() {
    let mut h = start();
    h.client
        .write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let text = response(&mut h.client).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert_eq!(h.started.elapsed(), Duration::from_secs(10));
    let answered = Instant::now();
    assert_eq!(closed_after(&mut h.client, answered).await, TIMEOUTS.idle);
}

#[tokio::test(start_paused = true)]
async fn draining_closes_an_idle_connection_at_once_and_lets_a_busy_one_finish() {
    let mut idle = start();
    idle.phase.send_replace(Phase::Drain);
    assert_eq!(
        closed_after(&mut idle.client, idle.started).await,
        Duration::ZERO
    );

    let mut busy = start();
    busy.client
        .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    busy.phase.send_replace(Phase::Drain);
    let text = response(&mut busy.client).await;
    assert!(text.contains("connection: close"), "{text}");
    assert_eq!(
        closed_after(&mut busy.client, busy.started).await,
        Duration::from_secs(30)
    );
}

#[tokio::test(start_paused = true)]
async fn aborting_closes_a_busy_connection_at_once() {
    let mut busy = start();
    busy.client
        .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    busy.phase.send_replace(Phase::Abort);
    assert_eq!(
        closed_after(&mut busy.client, busy.started).await,
        Duration::from_secs(1)
    );
}

#[tokio::test(start_paused = true)]
async fn an_upgraded_socket_keeps_its_permit_until_it_closes() {
    let h = start();
    let (mut socket, _) = tokio_tungstenite::client_async("ws://x/ws", h.client)
        .await
        .expect("upgrade");
    h.task.await.unwrap();
    // Well past every deadline: the socket is the handler's, not hyper's.
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(h.permits.available_permits(), 0, "the websocket holds it");
    socket
        .send(tokio_tungstenite::tungstenite::Message::Ping(
            Default::default(),
        ))
        .await
        .unwrap();
    assert!(matches!(
        socket.next().await,
        Some(Ok(tokio_tungstenite::tungstenite::Message::Pong(_)))
    ));
    socket.close(None).await.unwrap();
    while socket.next().await.is_some() {}
    let released = tokio::time::timeout(Duration::from_secs(1), h.permits.acquire())
        .await
        .expect("released once closed");
    drop(released);
}

#[tokio::test(start_paused = true)]
async fn repeated_events_are_logged_at_most_once_a_second() {
    let mut throttle = Throttle::new();
    assert_eq!(throttle.hit(), Some(0));
    for _ in 0..99 {
        assert_eq!(throttle.hit(), None);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(throttle.hit(), Some(99));
}

#[test]
fn options_default_and_bound() {
    let options = ServeOptions::default();
    assert_eq!(options.timeouts().first_byte, Duration::from_secs(10));
    assert_eq!(options.timeouts().idle, Duration::from_secs(60));
    assert!(options.connection_bound() >= 1);
    assert_eq!(options.max_connections(0).connection_bound(), 1);
}
