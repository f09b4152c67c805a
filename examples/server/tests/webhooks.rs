//! Webhooks through the real binary: staff add one over the API (refused
//! for a loopback target unless the server runs with
//! `--allow-private-webhooks`), and the server's worker delivers every
//! order event to a real receiver, signed, surviving a restart (with
//! `--webhook-max-in-flight 2`; 0 is refused), and a receiver that never
//! answers cannot hold a shutdown past `--shutdown-timeout`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use common::{CARD_OK, Server, create_staff, sqlite_url};
use serde_json::{Value, json};

type Heard = Arc<Mutex<Vec<(String, Value, Bytes)>>>;

/// A receiver on a free port recording each body with its signature.
async fn receiver() -> (String, Heard) {
    let heard: Heard = Arc::default();
    let app = Router::new()
        .route(
            "/hook",
            post(
                |State(heard): State<Heard>, headers: HeaderMap, body: Bytes| async move {
                    let signature = headers
                        .get("orders-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    heard.lock().unwrap().push((
                        signature,
                        serde_json::from_slice(&body).unwrap(),
                        body,
                    ));
                    axum::http::StatusCode::OK
                },
            ),
        )
        .with_state(heard.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, heard)
}

async fn wait_for(heard: &Heard, n: usize) -> Vec<(String, Value, Bytes)> {
    for _ in 0..300 {
        if heard.lock().unwrap().len() >= n {
            return heard.lock().unwrap().clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} of {n} deliveries", heard.lock().unwrap().len());
}

/// The signature is the HMAC of `t.body` under the webhook's secret (the
/// library's own test checks the HMAC independently).
fn verify(secret: &str, signature: &str, body: &[u8]) {
    let t: i64 = signature
        .strip_prefix("t=")
        .and_then(|s| s.split_once(','))
        .and_then(|(t, _)| t.parse().ok())
        .expect("t=…,v1=…");
    assert_eq!(signature, orders_axum::webhooks::signature(secret, t, body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_delivers_order_events_to_a_webhook() {
    let (url, _dir) = sqlite_url();
    create_staff(&url);
    let (hook_url, heard) = receiver().await;

    // Without the flag a loopback target is refused on `url`.
    let mut server = Server::start(&url);
    let staff = server.staff().await;
    let body = json!({"url": hook_url, "events": ["order.created", "order.status_changed"]});
    let (status, refused) = server
        .call(
            "POST",
            "/api/admin/webhooks",
            Some(&staff),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert!(refused["errors"]["url"].is_array(), "{refused}");
    server.terminate();

    let mut server = Server::start_with(
        &url,
        &[
            "--allow-private-webhooks",
            "--webhook-first-retry",
            "0.2",
            "--webhook-max-in-flight",
            "2",
        ],
    );
    let staff = server.staff().await;
    let (status, created) = server
        .call("POST", "/api/admin/webhooks", Some(&staff), Some(body))
        .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    let customer = server.customer().await;
    let product = server.product(&staff, 10).await;
    let cart = server.cart(&customer, &product, 1).await;
    let (status, order) = server.checkout(&customer, &cart, CARD_OK).await;
    assert_eq!(status, 201, "{order}");
    let got = wait_for(&heard, 1).await;
    assert_eq!(got[0].1["type"], "order.created");
    assert_eq!(got[0].1["data"]["order_id"], order["id"]);
    verify(&secret, &got[0].0, &got[0].2);
    server.terminate();

    // A new process carries on from the recorded deliveries: the next event
    // goes out, the delivered one is not sent again.
    let mut server = Server::start_with(&url, &["--allow-private-webhooks"]);
    let staff = server.staff().await;
    let id = order["id"].as_str().unwrap();
    let (status, moved) = server.transition(&staff, id, "processing").await;
    assert_eq!(status, 200, "{moved}");
    let got = wait_for(&heard, 2).await;
    assert_eq!(got[1].1["type"], "order.status_changed");
    assert_eq!(got[1].1["data"]["to"], "processing");
    // The receiver hears a delivery a moment before its attempt is recorded
    // (attempts are recorded in batches), so the list may show it pending
    // for that moment.
    let hook = created["id"].as_str().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let statuses = loop {
        let (status, page) = server
            .call(
                "GET",
                &format!("/api/admin/webhooks/{hook}/deliveries"),
                Some(&staff),
                None,
            )
            .await;
        assert_eq!(status, 200);
        let statuses: Vec<String> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["status"].as_str().unwrap().to_owned())
            .collect();
        if statuses.iter().all(|s| s == "delivered") || std::time::Instant::now() > deadline {
            break statuses;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(statuses, ["delivered", "delivered"]);
    server.terminate();
    assert_eq!(heard.lock().unwrap().len(), 2, "each once");
}

#[test]
fn a_max_in_flight_of_zero_is_refused() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_orders-server"))
        .args(["serve", "--webhook-max-in-flight", "0"])
        .output()
        .expect("the binary runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("from 1 to 1024"), "{stderr}");
}

/// A receiver that never answers cannot hold the shutdown past
/// `--shutdown-timeout`: the worker's wait for its requests in flight
/// (up to the request timeout, 10 s, and 5 s more) is cut at the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_cannot_hold_the_shutdown() {
    let (url, _dir) = sqlite_url();
    create_staff(&url);
    let arrived = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let app = Router::new()
        .route(
            "/hook",
            post(
                |State(arrived): State<Arc<std::sync::atomic::AtomicUsize>>| async move {
                    arrived.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    axum::http::StatusCode::OK
                },
            ),
        )
        .with_state(arrived.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut server = Server::start_with(
        &url,
        &["--allow-private-webhooks", "--shutdown-timeout", "2"],
    );
    let staff = server.staff().await;
    let body = json!({"url": hook_url, "events": ["order.created"]});
    let (status, created) = server
        .call("POST", "/api/admin/webhooks", Some(&staff), Some(body))
        .await;
    assert_eq!(status, 201, "{created}");
    let customer = server.customer().await;
    let product = server.product(&staff, 10).await;
    let cart = server.cart(&customer, &product, 1).await;
    let (status, order) = server.checkout(&customer, &cart, CARD_OK).await;
    assert_eq!(status, 201, "{order}");
    for _ in 0..300 {
        if arrived.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        arrived.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "in flight"
    );
    let asked = std::time::Instant::now();
    let exited = server.terminate();
    let took = asked.elapsed();
    assert!(exited.success(), "{exited}");
    assert!(took < Duration::from_secs(5), "exited after {took:?}");
}
