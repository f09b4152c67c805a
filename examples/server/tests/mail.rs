//! Customer emails through the real binary: with a `[mail]` table the
//! server's worker sends the order's messages to a real SMTP server
//! (aiosmtpd from the virtual environment `.ci/run` installs, on a free
//! port), to the order's address, with the tracking number, counted on
//! `/metrics`; the worker stops with the server.

mod common;

use std::time::{Duration, Instant};

use common::smtp::{messages, smtp};
use common::{CARD_OK, Server, create_staff, sqlite_url};
use serde_json::{Value, json};

/// A config file in `dir` whose `[mail]` table sends through the SMTP
/// server on `port`, without TLS, from `orders@shop.example`.
fn mail_config(dir: &std::path::Path, port: u16) -> std::path::PathBuf {
    let config = dir.join("shop.toml");
    std::fs::write(
        &config,
        format!(
            "[mail]\nsmtp_url = \"smtp://127.0.0.1:{port}\"\ntls = \"none\"\nfrom = \"Shop <orders@shop.example>\"\n"
        ),
    )
    .unwrap();
    config
}

async fn wait_for(dir: &std::path::Path, n: usize) -> Vec<Value> {
    for _ in 0..400 {
        if messages(dir).len() >= n {
            tokio::time::sleep(Duration::from_millis(300)).await;
            return messages(dir);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} of {n} messages", messages(dir).len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_mails_the_customer_when_mail_is_configured() {
    let inbox = tempfile::tempdir().unwrap();
    let Some((_sink, port)) = smtp(inbox.path()) else {
        return;
    };
    let (url, dir) = sqlite_url();
    create_staff(&url);
    let config = mail_config(dir.path(), port);
    let mut server = Server::start_with(&url, &["--config", config.to_str().unwrap()]);
    let staff = server.staff().await;
    let customer = server.customer().await;
    let product = server.product(&staff, 10).await;
    let cart = server.cart(&customer, &product, 1).await;
    let (status, order) = server.checkout(&customer, &cart, CARD_OK).await;
    assert_eq!(status, 201, "{order}");
    let id = order["id"].as_str().unwrap();
    let (status, moved) = server.transition(&staff, id, "processing").await;
    assert_eq!(status, 200, "{moved}");
    let (status, shipped) = server
        .call(
            "POST",
            &format!("/api/admin/orders/{id}/transition"),
            Some(&staff),
            Some(
                json!({"to": "shipped", "tracking_number": "TRK-7", "note": "staff only: fragile"}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{shipped}");

    let got = wait_for(inbox.path(), 2).await;
    assert_eq!(got.len(), 2, "{got:#?}");
    let number = match &order["number"] {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let mut subjects: Vec<&str> = got.iter().map(|m| m["subject"].as_str().unwrap()).collect();
    subjects.sort_unstable();
    assert_eq!(
        subjects,
        [
            format!("Order {number} confirmed"),
            format!("Order {number} has shipped")
        ]
    );
    for m in &got {
        assert_eq!(m["envelope_to"], json!(["ada@example.com"]));
        assert_eq!(m["envelope_from"], "orders@shop.example");
        assert!(
            !m["text"].as_str().unwrap().contains("fragile"),
            "no staff note"
        );
    }
    let ship = got
        .iter()
        .find(|m| m["subject"].as_str().unwrap().ends_with("shipped"))
        .unwrap();
    assert!(ship["text"].as_str().unwrap().contains("TRK-7"), "{ship}");
    // The worker reports to the server's `/metrics`.
    let metrics = server.url("/metrics");
    let sent = "orders_mail_attempts_total{outcome=\"delivered\"} 2";
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
        if text.contains(sent) && text.contains("orders_mail_backlog 0") {
            break;
        }
        assert!(Instant::now() < deadline, "no {sent}: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = server.terminate();
    assert!(
        status.success(),
        "stops cleanly with its mail worker: {status:?}"
    );
}

/// A mail server that takes the connection and never says a word cannot
/// hold the shutdown past `--shutdown-timeout`: the mail worker is told to
/// stop at the signal, and its round (each mail bounded by the SMTP
/// timeout, 30 s) is waited for only until the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_server_that_never_answers_cannot_hold_the_shutdown() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let connected = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = connected.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(socket);
        }
    });
    let (url, dir) = sqlite_url();
    create_staff(&url);
    let config = mail_config(dir.path(), port);
    let mut server = Server::start_with(
        &url,
        &[
            "--config",
            config.to_str().unwrap(),
            "--shutdown-timeout",
            "2",
        ],
    );
    let staff = server.staff().await;
    let customer = server.customer().await;
    let product = server.product(&staff, 10).await;
    let cart = server.cart(&customer, &product, 1).await;
    let (status, order) = server.checkout(&customer, &cart, CARD_OK).await;
    assert_eq!(status, 201, "{order}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while connected.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the worker never connected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let asked = Instant::now();
    let exited = server.terminate();
    let took = asked.elapsed();
    assert!(exited.success(), "{exited}");
    assert!(took < Duration::from_secs(5), "exited after {took:?}");
    assert!(
        server
            .logs()
            .contains("mails still being sent at the shutdown deadline"),
        "{}",
        server.logs()
    );
}
