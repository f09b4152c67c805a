//! The real `orders-server` binary, end to end: auth, graceful shutdown,
//! secrets kept out of the logs, concurrent checkouts on SQLite and
//! PostgreSQL, and events crossing two instances on one PostgreSQL.

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_register_login_logout_and_rate_limit() {
    let (url, _dir) = sqlite_url();
    let server = Server::start(&url);
    let email = format!("u{}@example.com", unique());
    let creds = json!({"email": email, "password": "password 123"});
    let (status, body) = server
        .call("POST", "/api/auth/register", None, Some(creds.clone()))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["user"]["email"], email.as_str());
    assert_eq!(body["user"]["is_staff"], false);
    let first = body["token"].as_str().unwrap().to_owned();
    assert!(first.len() >= 32, "at least 128 bits");

    let (status, body) = server
        .call("POST", "/api/auth/register", None, Some(creds.clone()))
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = server
        .call(
            "POST",
            "/api/auth/register",
            None,
            Some(json!({"email": "nope", "password": "short"})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["errors"]["email"].is_array() && body["errors"]["password"].is_array(),
        "{body}"
    );

    let (status, body) = server
        .call("POST", "/api/auth/login", None, Some(creds.clone()))
        .await;
    assert_eq!(status, 200, "{body}");
    let second = body["token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    let (status, _) = server.call("GET", "/api/orders", Some(&second), None).await;
    assert_eq!(status, 200);
    let (status, _) = server
        .call("POST", "/api/auth/logout", Some(&second), None)
        .await;
    assert_eq!(status, 204);
    let (status, body) = server.call("GET", "/api/orders", Some(&second), None).await;
    assert_eq!(status, 401, "a revoked token is refused: {body}");
    let (status, _) = server.call("GET", "/api/orders", Some(&first), None).await;
    assert_eq!(status, 200, "other tokens live on");

    let wrong = json!({"email": email, "password": "wrong password"});
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(
            server
                .call("POST", "/api/auth/login", None, Some(wrong.clone()))
                .await
                .0,
        );
    }
    // Five free failures per (email, address), then a backoff (1 s, 2 s, …).
    assert_eq!(&statuses[..5], &[401; 5]);
    assert_eq!(&statuses[5..], &[429; 7]);
    let (status, _) = server
        .call("POST", "/api/auth/login", None, Some(creds))
        .await;
    assert_eq!(status, 429, "the limit holds for the right password too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_websockets_with_1001_and_exits_0() {
    let (url, _dir) = sqlite_url();
    create_staff(&url);
    let mut server = Server::start(&url);
    let staff = server.staff().await;
    let ada = server.customer().await;
    let product = server.product(&staff, 5).await;
    let cart = server.cart(&ada, &product, 1).await;
    let (status, order) = server.checkout(&ada, &cart, CARD_OK).await;
    assert_eq!(status, 201, "{order}");
    let id = order["id"].as_str().unwrap();

    let track = server.ws_url(&format!("/api/orders/{id}/track?access_token={ada}"));
    let (mut socket, _) = tokio_tungstenite::connect_async(track)
        .await
        .expect("connect");
    let snapshot = next_json(&mut socket).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["order"]["status"], "paid");

    let status = tokio::task::spawn_blocking(move || {
        let status = server.terminate();
        (status, server)
    });
    let close = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await
    .expect("closed within 10 s");
    assert_eq!(
        close.map(|f| f.code),
        Some(CloseCode::Away),
        "1001 going away"
    );
    let _ = socket.close(None).await;
    let (status, server) = status.await.unwrap();
    assert_eq!(status.code(), Some(0), "{}", server.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_logs_never_hold_card_numbers_passwords_or_tokens() {
    let (url, _dir) = sqlite_url();
    create_staff(&url);
    let mut server = Server::start(&url);
    let staff = server.staff().await;
    let ada = server.customer().await;
    let product = server.product(&staff, 5).await;
    let cart = server.cart(&ada, &product, 1).await;
    let (status, body) = server.checkout(&ada, &cart, CARD_DECLINED).await;
    assert_eq!(status, 422, "{body}");
    let (status, order) = server.checkout(&ada, &cart, CARD_OK).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["payment"]["last4"], "4242");
    assert!(
        !order.to_string().contains(CARD_OK),
        "the order keeps last4 only"
    );
    let id = order["id"].as_str().unwrap();
    let _ = server
        .call(
            "GET",
            &format!("/api/orders/{id}/track?access_token={ada}"),
            None,
            None,
        )
        .await;
    // A second order with a distinctive CVC and the number typed with
    // spaces, after a refused form (a bad check digit) carrying the same.
    const CVC: &str = "8531";
    const SPACED: &str = "4242 4242 4242 4242";
    const BAD_NUMBER: &str = "4242424242424241";
    let cart = server.cart(&ada, &product, 1).await;
    let mut body = checkout_body(BAD_NUMBER);
    body["payment"]["card"]["cvc"] = CVC.into();
    let (status, refused) = server
        .call(
            "POST",
            &format!("/api/carts/{cart}/checkout"),
            Some(&ada),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert!(!refused.to_string().contains(CVC) && !refused.to_string().contains(BAD_NUMBER));
    body["payment"]["card"]["number"] = SPACED.into();
    let (status, second) = server
        .call(
            "POST",
            &format!("/api/carts/{cart}/checkout"),
            Some(&ada),
            Some(body),
        )
        .await;
    assert_eq!(status, 201, "{second}");
    assert!(!second.to_string().contains(CVC), "the order keeps no CVC");
    server.terminate();
    let logs = server.logs();
    assert!(logs.contains("listening on"), "{logs}");
    assert!(
        logs.contains("/checkout"),
        "requests are logged at all: {logs}"
    );
    // A bare CVC could be any four digits of a timestamp; quoted, or after
    // its name, it is the CVC.
    for cvc in [
        format!("\"{CVC}\""),
        format!("'{CVC}'"),
        format!("cvc: {CVC}"),
        format!("cvc={CVC}"),
        format!("\"cvc\":\"{CVC}"),
        format!("cvc\":\"{CVC}"),
    ] {
        assert!(
            !logs.contains(&cvc),
            "the CVC reached the logs as {cvc}:\n{logs}"
        );
    }
    for secret in [
        CARD_OK,
        CARD_DECLINED,
        BAD_NUMBER,
        SPACED,
        STAFF_PASSWORD,
        "password 123",
        ada.as_str(),
        staff.as_str(),
    ] {
        assert!(
            !logs.contains(secret),
            "{secret:?} reached the logs:\n{logs}"
        );
    }
}

async fn forty_concurrent_checkouts(url: &str) {
    create_staff(url);
    let server = Server::start(url);
    let staff = server.staff().await;
    let product = server.product(&staff, 50).await;
    let mut carts = Vec::new();
    for _ in 0..40 {
        let token = server.customer().await;
        let cart = server.cart(&token, &product, 2).await;
        carts.push((token, cart));
    }
    let results = futures_util::future::join_all(
        carts
            .iter()
            .map(|(token, cart)| server.checkout(token, cart, CARD_OK)),
    )
    .await;
    let placed = results.iter().filter(|(status, _)| *status == 201).count();
    for (status, body) in &results {
        assert!(
            *status == 201 || (*status == 409 && body["code"] == "insufficient_stock"),
            "{status} {body}"
        );
    }
    assert_eq!(placed, 25, "50 units sell as 25 orders of 2");
    let (_, product) = server
        .call("GET", &format!("/api/products/{product}"), None, None)
        .await;
    assert_eq!(product["stock"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_concurrent_checkouts_never_oversell_on_sqlite() {
    let (url, _dir) = sqlite_url();
    forty_concurrent_checkouts(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_concurrent_checkouts_never_oversell_on_postgres() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    forty_concurrent_checkouts(&db.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_instance_reaches_a_tracker_on_another() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    create_staff(&db.url);
    let a = Server::start(&db.url);
    let b = Server::start(&db.url);
    let staff = a.staff().await;
    let ada = a.customer().await;
    let product = a.product(&staff, 5).await;
    let cart = a.cart(&ada, &product, 1).await;
    let (status, order) = a.checkout(&ada, &cart, CARD_OK).await;
    assert_eq!(status, 201, "{order}");
    let id = order["id"].as_str().unwrap();

    // A token issued by A works on B.
    let (status, seen) = b
        .call("GET", &format!("/api/orders/{id}"), Some(&ada), None)
        .await;
    assert_eq!(status, 200, "{seen}");
    let (mut socket, _) = tokio_tungstenite::connect_async(
        b.ws_url(&format!("/api/orders/{id}/track?access_token={ada}")),
    )
    .await
    .expect("connect to B");
    assert_eq!(next_json(&mut socket).await["type"], "snapshot");

    let (status, body) = a.transition(&staff, id, "processing").await;
    assert_eq!(status, 200, "{body}");
    let started = std::time::Instant::now();
    let event = next_json(&mut socket).await;
    assert_eq!(event["type"], "event");
    assert_eq!(event["event"]["from"], "paid");
    assert_eq!(event["event"]["to"], "processing");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "arrived in {:?}",
        started.elapsed()
    );
    let _ = socket.close(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_file_sets_currency_limits_and_cors() {
    let (url, dir) = sqlite_url();
    let config = dir.path().join("shop.toml");
    std::fs::write(
        &config,
        r#"
        currency = "EUR"
        country = "DE"
        body_limit = 2048
        cors_origins = ["https://shop.example"]
        "#,
    )
    .unwrap();
    let server = Server::start_with(&url, &["--config", config.to_str().unwrap()]);
    let ada = server.customer().await;
    let (status, cart) = server
        .call("POST", "/api/carts", Some(&ada), Some(json!({})))
        .await;
    assert_eq!(status, 201, "{cart}");
    assert_eq!(cart["currency"], "EUR");

    let big = json!({"email": "x".repeat(4000), "password": "password 123"});
    let (status, body) = server
        .call("POST", "/api/auth/register", None, Some(big))
        .await;
    assert_eq!(status, 413, "{body}");

    let preflight = server
        .client
        .request(reqwest::Method::OPTIONS, server.url("/api/products"))
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    let allowed = preflight
        .headers()
        .get("access-control-allow-origin")
        .and_then(|v| v.to_str().ok());
    assert_eq!(allowed, Some("https://shop.example"));
    let other = server
        .client
        .get(server.url("/api/products"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[test]
fn a_bad_configuration_file_stops_the_server_with_a_clear_message() {
    let (url, dir) = sqlite_url();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "currency = \"XXX\"\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_orders-server"))
        .args([
            "--database-url",
            &url,
            "--config",
            config.to_str().unwrap(),
            "migrate",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad.toml") && stderr.contains("currency"),
        "{stderr}"
    );
}
