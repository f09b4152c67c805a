//! Internal notes never reach the customer, through any route: the order,
//! the order list, the events, a cancellation's answer, the tracking
//! websocket (snapshot, replay and live). Notes visible to the customer
//! reach them everywhere; staff see both.

mod common;

use std::time::Duration;

use common::shop::*;
use common::*;
use futures_util::StreamExt;
use serde_json::Value;
use tokio::time::timeout;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "INTERNAL: customer was rude on the phone";
const VISIBLE: &str = "Your parcel leaves tomorrow";

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn track(shop: &Shop, id: &str, token: &str, after: Option<&str>) -> Socket {
    let mut url = format!(
        "ws://{}/api/orders/{id}/track?access_token={token}",
        shop.app.addr
    );
    if let Some(after) = after {
        url.push_str(&format!("&after={after}"));
    }
    connect_async(url).await.expect("upgraded").0
}

/// The next JSON frame, or `None` after `wait` without one.
async fn next_frame(socket: &mut Socket, wait: Duration) -> Option<Value> {
    loop {
        let message = timeout(wait, socket.next()).await.ok()??.ok()?;
        if let Message::Text(text) = message {
            return Some(serde_json::from_str(text.as_str()).unwrap());
        }
    }
}

#[track_caller]
fn hides_the_secret(what: &str, value: &Value) {
    assert!(
        !value.to_string().contains(SECRET),
        "{what} shows the internal note: {value:#}"
    );
}

#[tokio::test]
async fn the_customer_never_sees_an_internal_note_on_any_route() {
    let shop = shop().await;
    let sold = shop.sold().await;
    shop.note(&sold.id, SECRET, false).await.ok(201);
    shop.note(&sold.id, VISIBLE, true).await.ok(201);

    let order = shop.order(&sold.id).await;
    hides_the_secret("GET /orders/{id}", &order);
    let notes: Vec<&Value> = order["notes"].as_array().unwrap().iter().collect();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["text"], VISIBLE);
    let list = shop.app.get("/api/orders", Some(ADA)).await;
    hides_the_secret("GET /orders", list.ok(200));
    let events = shop.events(&sold.id).await;
    hides_the_secret("GET /orders/{id}/events", &Value::Array(events.clone()));
    let kinds: Vec<&Value> = events.iter().map(|e| &e["type"]).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "note_added").count(), 1);

    // Staff see both, on their routes and on the customer routes alike.
    let staff = shop.staff_order(&sold.id).await;
    assert_eq!(staff["notes"].as_array().unwrap().len(), 2);
    let path = format!("/api/admin/orders/{}/events", sold.id);
    let staff_events = shop.app.get(&path, Some(STAFF)).await;
    assert!(staff_events.ok(200).to_string().contains(SECRET));

    // A cancellation answers with the order as the customer sees it.
    let cancelled = shop
        .app
        .post(
            &format!("/api/orders/{}/cancel", sold.id),
            ADA,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(cancelled.ok(200)["status"], "cancelled");
    hides_the_secret("POST /orders/{id}/cancel", &cancelled.body);
}

#[tokio::test]
async fn the_tracking_websocket_skips_internal_notes_live_and_on_replay() {
    let shop = shop().await;
    let sold = shop.sold().await;
    let first = shop.events(&sold.id).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    shop.note(&sold.id, SECRET, false).await.ok(201);
    let mut live = track(&shop, &sold.id, ADA, None).await;
    let mut staff = track(&shop, &sold.id, STAFF, None).await;
    let wait = Duration::from_secs(2);

    let snapshot = next_frame(&mut live, wait).await.expect("a snapshot");
    assert_eq!(snapshot["type"], "snapshot");
    hides_the_secret("the snapshot", &snapshot);
    next_frame(&mut staff, wait).await.expect("a snapshot");

    shop.note(&sold.id, SECRET, false).await.ok(201);
    shop.note(&sold.id, VISIBLE, true).await.ok(201);

    // The customer's next frame is the visible note: the internal one
    // before it was skipped.
    let frame = next_frame(&mut live, wait).await.expect("the visible note");
    assert_eq!(frame["event"]["type"], "note_added");
    assert_eq!(frame["event"]["data"]["text"], VISIBLE);
    let more = next_frame(&mut live, Duration::from_millis(300)).await;
    assert!(more.is_none(), "{more:?}");
    // Staff get both.
    let staff_frame = next_frame(&mut staff, wait).await.unwrap();
    assert_eq!(staff_frame["event"]["data"]["text"], SECRET);

    // A reconnecting customer replays without them either.
    let mut replay = track(&shop, &sold.id, ADA, Some(&first)).await;
    let mut frames = Vec::new();
    while let Some(frame) = next_frame(&mut replay, Duration::from_millis(300)).await {
        frames.push(frame);
    }
    hides_the_secret("the replay", &Value::Array(frames.clone()));
    let texts: Vec<&Value> = frames.iter().map(|f| &f["event"]["data"]["text"]).collect();
    assert!(texts.contains(&&Value::from(VISIBLE)), "{frames:#?}");
}
