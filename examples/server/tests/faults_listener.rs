//! The server's PostgreSQL notification connection (`LISTEN`, application
//! name `orders-listener`) is killed again and again with
//! `pg_terminate_backend` while staff move orders through their statuses:
//! every order's tracking websocket and the staff dashboard stream must
//! still receive every event, in order, none missing and none twice.
//!
//! `cargo test -p orders-server --test faults_listener -- --nocapture`
//! prints the figures.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use common::{PgDatabase, Server, create_staff};

/// Orders tracked, each moved through four transitions.
const ORDERS: usize = 16;
/// The statuses a card order (which starts `paid`) is moved through.
const WALK: [&str; 4] = ["processing", "shipped", "delivered", "refunded"];
/// How long every socket has to receive every event after the last change.
const DELIVERY_DEADLINE: Duration = Duration::from_secs(30);

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Reads text frames until `want` events have come (or the deadline),
/// returning the snapshot (if any) and the events' JSON. Events with an id
/// up to `after` committed before the socket was opened (a live stream may
/// still pass on one whose notification came late) and are not counted.
fn collect(
    mut socket: Socket,
    want: usize,
    snapshot: bool,
    after: Option<String>,
) -> tokio::task::JoinHandle<(Option<Value>, Vec<Value>)> {
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + DELIVERY_DEADLINE + Duration::from_secs(30);
        let mut first = None;
        let mut events = Vec::new();
        while events.len() < want {
            let frame = match tokio::time::timeout_at(deadline, socket.next()).await {
                Ok(Some(Ok(frame))) => frame,
                _ => break,
            };
            let Message::Text(text) = frame else {
                continue;
            };
            let value: Value = serde_json::from_str(&text).expect("JSON frame");
            match value["type"].as_str() {
                Some("snapshot") if snapshot && first.is_none() && events.is_empty() => {
                    first = Some(value);
                }
                Some("event") => {
                    let id = value["event"]["id"].as_str().unwrap_or_default();
                    if after.as_deref().is_none_or(|after| id > after) {
                        events.push(value["event"].clone());
                    }
                }
                other => panic!("unexpected frame {other:?}: {value}"),
            }
        }
        (first, events)
    })
}

async fn connect(url: String) -> Socket {
    tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket upgrade")
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_listener_connection_loses_no_websocket_event() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    create_staff(&db.url);
    let server = Server::start(&db.url);
    let staff = server.staff().await;
    let product = server.product(&staff, 10_000).await;
    let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
    let listeners = "SELECT count(*) FROM pg_stat_activity \
                     WHERE application_name = $1 AND datname = current_database()";
    let kill = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                WHERE application_name = $1 AND datname = current_database()";
    let name = orders_sqlx::LISTENER_APPLICATION_NAME;
    let (count,): (i64,) = sqlx::query_as(listeners)
        .bind(name)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 1, "the server should hold one listening connection");

    // Arrange: orders, each with its owner's tracking socket, and the
    // staff dashboard stream.
    let mut orders = Vec::new();
    let mut tracks = Vec::new();
    for _ in 0..ORDERS {
        let token = server.customer().await;
        let cart = server.cart(&token, &product, 1).await;
        let (status, order) = server.checkout(&token, &cart, common::CARD_OK).await;
        assert_eq!(status, 201, "{order}");
        let id = order["id"].as_str().unwrap().to_owned();
        let socket =
            connect(server.ws_url(&format!("/api/orders/{id}/track?access_token={token}"))).await;
        tracks.push(collect(socket, WALK.len(), true, None));
        orders.push(id);
    }
    // The newest event so far: the last checkout's (ids are one sequence,
    // zero-padded, so they compare as text).
    let last = orders.last().expect("orders");
    let (status, log) = server
        .call(
            "GET",
            &format!("/api/orders/{last}/events"),
            Some(&staff),
            None,
        )
        .await;
    assert_eq!(status, 200, "{log}");
    let newest = log["items"]
        .as_array()
        .and_then(|items| items.last())
        .expect("events")["id"]
        .as_str()
        .expect("event id")
        .to_owned();
    let dashboard =
        connect(server.ws_url(&format!("/api/admin/stream?access_token={staff}"))).await;
    let dashboard = collect(dashboard, ORDERS * WALK.len(), false, Some(newest));

    // Act: staff walk every order through its statuses while the listener
    // connection is killed whenever it is back.
    let started = Instant::now();
    let walker = {
        let (base, staff, orders) = (server.base.clone(), staff.clone(), orders.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for to in WALK {
                for id in &orders {
                    let mut body = json!({"to": to, "note": "faults_listener"});
                    if to == "shipped" {
                        body["tracking_number"] = json!(format!("TRK-{id}"));
                    }
                    let response = client
                        .post(format!("{base}/api/admin/orders/{id}/transition"))
                        .bearer_auth(&staff)
                        .json(&body)
                        .send()
                        .await
                        .expect("transition");
                    assert_eq!(response.status().as_u16(), 200, "transition to {to}");
                    // Pacing, so the kills fall between and during changes.
                    tokio::time::sleep(Duration::from_millis(40)).await;
                }
            }
        })
    };
    let mut kills = 0;
    // Bounded: the walk takes a few seconds.
    for _ in 0..1_000 {
        if walker.is_finished() {
            break;
        }
        let (killed,): (i64,) = sqlx::query_as(kill)
            .bind(name)
            .fetch_one(&pool)
            .await
            .unwrap();
        kills += killed;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    walker.await.expect("the transitions failed");
    let walked = started.elapsed();

    // Assert: every socket got exactly its order's events, in order.
    let delivery_started = Instant::now();
    let mut received = 0;
    for (id, track) in orders.iter().zip(tracks) {
        let (snapshot, events) = track.await.expect("track reader");
        let snapshot = snapshot.expect("no snapshot");
        assert_eq!(snapshot["order"]["id"], json!(id));
        let (status, log) = server
            .call(
                "GET",
                &format!("/api/orders/{id}/events"),
                Some(&staff),
                None,
            )
            .await;
        assert_eq!(status, 200, "{log}");
        // The snapshot stands for the order's first `version` events (its
        // placement and, for a card, the capture); the socket sends the rest.
        let seen = usize::try_from(snapshot["order"]["version"].as_u64().unwrap()).unwrap();
        let expected: Vec<Value> = log["items"].as_array().unwrap()[seen..].to_vec();
        let ids = |events: &[Value]| -> Vec<String> {
            events
                .iter()
                .map(|e| e["id"].as_str().unwrap_or_default().to_owned())
                .collect()
        };
        assert_eq!(
            ids(&events),
            ids(&expected),
            "order {id}: events received differ from its log (missing, repeated or out of order)"
        );
        let statuses: Vec<&str> = events.iter().map(|e| e["to"].as_str().unwrap()).collect();
        assert_eq!(statuses, WALK, "order {id}");
        received += events.len();
    }
    let (_, stream) = dashboard.await.expect("dashboard reader");
    let mut per_order: HashMap<String, Vec<String>> = HashMap::new();
    for event in &stream {
        per_order
            .entry(event["order_id"].as_str().unwrap().to_owned())
            .or_default()
            .push(event["to"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        stream.len(),
        ORDERS * WALK.len(),
        "dashboard events: {per_order:?}"
    );
    for id in &orders {
        assert_eq!(per_order[id], WALK, "dashboard, order {id}");
    }
    let mut stream_ids: Vec<&str> = stream.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let before = stream_ids.clone();
    stream_ids.sort_unstable();
    stream_ids.dedup();
    assert_eq!(
        stream_ids.len(),
        before.len(),
        "dashboard got an event twice"
    );

    assert!(
        kills >= 3,
        "the listener was killed only {kills} times during the walk"
    );
    let (count,): (i64,) = sqlx::query_as(listeners)
        .bind(name)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 1, "the listener did not come back");
    println!(
        "faults_listener: {} transitions over {walked:?}, listener killed {kills} times; \
         {received} events on {ORDERS} tracking sockets and {} on the dashboard, none missing, \
         none twice, in order; all delivered {:?} after the last change",
        ORDERS * WALK.len(),
        stream.len(),
        delivery_started.elapsed()
    );
    pool.close().await;
}
