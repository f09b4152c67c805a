//! The tracking websockets over real sockets with a real websocket client.

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

const WAIT: Duration = Duration::from_secs(1);

fn ws_url(app: &App, path: &str) -> String {
    format!("ws://{}{}", app.addr, path)
}

async fn connect(app: &App, path: &str) -> Socket {
    let (socket, response) = timeout(WAIT, connect_async(ws_url(app, path)))
        .await
        .expect("handshake in time")
        .expect("upgraded");
    assert_eq!(response.status().as_u16(), 101);
    socket
}

/// The refusal of a handshake: status and problem code.
async fn refused(app: &App, path: &str) -> (u16, Value) {
    match connect_async(ws_url(app, path)).await {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json"
            );
            let body: Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
            (response.status().as_u16(), body)
        }
        Ok(_) => panic!("{path} was upgraded"),
        Err(other) => panic!("{path}: {other}"),
    }
}

/// The next JSON text frame, within a second.
async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let message = timeout(WAIT, socket.next())
            .await
            .expect("a frame within a second")
            .expect("socket open")
            .expect("no socket error");
        match message {
            Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

async fn transition(app: &App, id: &str, to: &str) -> Value {
    app.post(
        &format!("/api/admin/orders/{id}/transition"),
        STAFF,
        json!({"to": to}),
    )
    .await
    .ok(200)
    .clone()
}

#[tokio::test]
async fn snapshot_then_live_events_then_replay_after_reconnect() {
    let app = spawn_app().await;
    let order = app.order(ADA, true).await;
    let id = order["id"].as_str().unwrap();

    let mut socket = connect(&app, &format!("/api/orders/{id}/track?access_token={ADA}")).await;
    let snapshot = next_json(&mut socket).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["order"]["id"], id);
    assert_eq!(snapshot["order"]["status"], "paid");

    transition(&app, id, "processing").await;
    let event = next_json(&mut socket).await;
    assert_eq!(event["type"], "event");
    assert_eq!(event["event"]["order_id"], id);
    assert_eq!(event["event"]["from"], "paid");
    assert_eq!(event["event"]["to"], "processing");
    let seen = event["event"]["id"].as_str().unwrap().to_owned();
    socket.close(None).await.unwrap();

    // Changes while disconnected are replayed, in order, after the snapshot.
    app.post(
        &format!("/api/admin/orders/{id}/transition"),
        STAFF,
        json!({"to": "shipped", "tracking_number": "1Z"}),
    )
    .await
    .ok(200);
    transition(&app, id, "delivered").await;
    let mut socket = connect(
        &app,
        &format!("/api/orders/{id}/track?access_token={ADA}&after={seen}"),
    )
    .await;
    let snapshot = next_json(&mut socket).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["order"]["status"], "delivered");
    let shipped = next_json(&mut socket).await;
    let delivered = next_json(&mut socket).await;
    assert_eq!(shipped["event"]["to"], "shipped");
    assert_eq!(delivered["event"]["to"], "delivered");
    assert!(shipped["event"]["id"].as_str().unwrap() > seen.as_str());
    // And live ones after that, none repeated.
    transition(&app, id, "refunded").await;
    let refunded = next_json(&mut socket).await;
    assert_eq!(refunded["event"]["to"], "refunded");
}

#[tokio::test]
async fn the_bearer_header_works_too_and_staff_may_track() {
    let app = spawn_app().await;
    let order = app.order(ADA, false).await;
    let id = order["id"].as_str().unwrap();
    let mut request = ws_url(&app, &format!("/api/orders/{id}/track"))
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {STAFF}").parse().unwrap());
    let (mut socket, _) = timeout(WAIT, connect_async(request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next_json(&mut socket).await["order"]["status"], "pending");
}

#[tokio::test]
async fn refusals_come_before_the_upgrade() {
    let app = spawn_app().await;
    let order = app.order(ADA, true).await;
    let id = order["id"].as_str().unwrap();
    let other = app.order(BOB, true).await;
    let other_id = other["id"].as_str().unwrap();
    let bob_event = app
        .get(&format!("/api/orders/{other_id}/events"), Some(BOB))
        .await
        .body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, body) = refused(&app, &format!("/api/orders/{id}/track")).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    let (status, _) = refused(&app, &format!("/api/orders/{id}/track?access_token=forged")).await;
    assert_eq!(status, 401);
    let (status, theirs) =
        refused(&app, &format!("/api/orders/{id}/track?access_token={BOB}")).await;
    assert_eq!(status, 404);
    let (_, missing) = refused(&app, &format!("/api/orders/nope/track?access_token={BOB}")).await;
    assert_eq!(theirs, missing);
    let (status, body) = refused(
        &app,
        &format!("/api/orders/{id}/track?access_token={ADA}&after=garbage"),
    )
    .await;
    assert_eq!(status, 422);
    assert!(body["errors"]["after"].is_array());
    // An event of another order.
    let (status, body) = refused(
        &app,
        &format!("/api/orders/{id}/track?access_token={ADA}&after={bob_event}"),
    )
    .await;
    assert_eq!(status, 422);
    assert!(body["errors"]["after"].is_array());
    let (status, _) = refused(&app, &format!("/api/admin/stream?access_token={ADA}")).await;
    assert_eq!(status, 403);
    let (status, _) = refused(&app, "/api/admin/stream").await;
    assert_eq!(status, 401);
    // A plain GET (no upgrade) after the checks is a problem too.
    let plain = app
        .get(&format!("/api/orders/{id}/track?access_token={ADA}"), None)
        .await;
    assert!(plain.status.is_client_error());
    assert_eq!(plain.content_type(), "application/problem+json");
}

#[tokio::test]
async fn the_admin_stream_sends_every_orders_events() {
    let app = spawn_app().await;
    let mut socket = connect(&app, &format!("/api/admin/stream?access_token={STAFF}")).await;
    let ada = app.order(ADA, true).await;
    let created = next_json(&mut socket).await;
    assert_eq!(created["type"], "event");
    assert_eq!(created["event"]["order_id"], ada["id"]);
    assert!(created["event"]["from"].is_null());
    let captured = next_json(&mut socket).await;
    assert_eq!(captured["event"]["order_id"], ada["id"]);
    assert_eq!(captured["event"]["type"], "payment_updated");
    let bob = app.order(BOB, false).await;
    transition(&app, bob["id"].as_str().unwrap(), "paid").await;
    let placed = next_json(&mut socket).await;
    let paid = next_json(&mut socket).await;
    assert_eq!(placed["event"]["order_id"], bob["id"]);
    assert_eq!(
        (&paid["event"]["from"], &paid["event"]["to"]),
        (&json!("pending"), &json!("paid"))
    );
}

#[tokio::test]
async fn shutdown_closes_sockets_with_1001() {
    let app = spawn_app().await;
    let order = app.order(ADA, true).await;
    let id = order["id"].as_str().unwrap();
    let mut socket = connect(&app, &format!("/api/orders/{id}/track?access_token={ADA}")).await;
    next_json(&mut socket).await;
    let mut stream = connect(&app, &format!("/api/admin/stream?access_token={STAFF}")).await;

    app.shutdown.shutdown();
    assert!(app.shutdown.is_shutdown());
    for socket in [&mut socket, &mut stream] {
        let frame = timeout(WAIT, socket.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        match frame {
            Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1001),
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_server_pings() {
    let app = spawn_with(|api| api.ping_interval(Duration::from_millis(50))).await;
    let mut stream = connect(&app, &format!("/api/admin/stream?access_token={STAFF}")).await;
    let frame = timeout(WAIT, stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(frame, Message::Ping(_)), "{frame:?}");
}

/// Whether a text frame arrives within `wait` (pings skipped).
async fn quiet_for(socket: &mut Socket, wait: Duration) -> bool {
    loop {
        match timeout(wait, socket.next()).await {
            Err(_) => return true,
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(other) => {
                eprintln!("unexpected: {other:?}");
                return false;
            }
        }
    }
}

#[tokio::test]
async fn an_orders_change_reaches_its_own_followers_only() {
    let app = spawn_app().await;
    let first = app.order(ADA, true).await;
    let second = app.order(ADA, true).await;
    let (a, b) = (
        first["id"].as_str().unwrap(),
        second["id"].as_str().unwrap(),
    );
    let mut of_a = Vec::new();
    let mut of_b = Vec::new();
    for _ in 0..3 {
        for (id, sockets) in [(a, &mut of_a), (b, &mut of_b)] {
            let mut socket =
                connect(&app, &format!("/api/orders/{id}/track?access_token={ADA}")).await;
            assert_eq!(next_json(&mut socket).await["type"], "snapshot");
            sockets.push(socket);
        }
    }
    transition(&app, a, "processing").await;
    for socket in &mut of_a {
        let event = next_json(socket).await;
        assert_eq!(event["event"]["order_id"], a);
        assert_eq!(event["event"]["to"], "processing");
    }
    for socket in &mut of_b {
        assert!(quiet_for(socket, Duration::from_millis(300)).await);
    }
    // B's followers still get B's events, and A's nothing of them.
    transition(&app, b, "processing").await;
    for socket in &mut of_b {
        assert_eq!(next_json(socket).await["event"]["order_id"], b);
    }
    for socket in &mut of_a {
        assert!(quiet_for(socket, Duration::from_millis(300)).await);
    }
    // A follower that leaves and comes back (a new feed, or the same one)
    // still gets the next change.
    for socket in of_a.drain(..) {
        drop(socket);
    }
    let mut again = connect(&app, &format!("/api/orders/{a}/track?access_token={ADA}")).await;
    assert_eq!(next_json(&mut again).await["type"], "snapshot");
    app.post(
        &format!("/api/admin/orders/{a}/transition"),
        STAFF,
        json!({"to": "shipped", "tracking_number": "1Z"}),
    )
    .await
    .ok(200);
    assert_eq!(next_json(&mut again).await["event"]["to"], "shipped");
}
