//! What reaches the logs: one line per request with its id, status and
//! latency, and never a card number, a token or an `Authorization` header.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use tracing_subscriber::fmt::MakeWriter;

/// A log sink the test can read back.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

#[tokio::test]
async fn secrets_never_reach_the_logs() {
    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let app = spawn_app().await;
    let order = app.order(ADA, true).await;
    let tea = app.product("1.00", 1).await;
    let cart = app.cart_with(ADA, &tea, 1).await;
    app.checkout(ADA, &cart, checkout_card(CARD_DECLINED), Some("secret-key"))
        .await
        .fields(&["payment.card.number"]);
    let id = order["id"].as_str().unwrap();
    // The token in a query string (websockets) stays out too.
    app.get(&format!("/api/orders/{id}/track?access_token={ADA}"), None)
        .await;

    // A client's request id is kept when it is short visible ASCII, and
    // replaced by a generated one otherwise: echoed, logged, bounded.
    let request_id = |value: String| {
        let client = app.client.clone();
        let url = app.url("/api/products");
        async move {
            let response = client
                .get(url)
                .header("x-request-id", value)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_owned()
        }
    };
    assert_eq!(request_id("trace-42".into()).await, "trace-42");
    let flood = "F".repeat(200_000);
    for unfit in [flood.clone(), "two words".into(), "x".repeat(65)] {
        let echoed = request_id(unfit.clone()).await;
        assert_ne!(echoed, unfit);
        assert!(
            (1..=orders_axum::MAX_REQUEST_ID_LEN).contains(&echoed.len()),
            "{echoed}"
        );
    }

    let text = logs.text();
    assert!(text.contains("request_id=\"trace-42\""), "{text}");
    assert!(!text.contains(&"F".repeat(100)), "the long id was logged");
    assert!(!text.contains("two words"), "the unfit id was logged");
    assert!(text.contains("request_id="), "{text}");
    assert!(text.contains("status=201"), "{text}");
    assert!(text.contains("latency="), "{text}");
    for secret in [CARD_OK, CARD_DECLINED, ADA, "Bearer", "access_token"] {
        assert!(!text.contains(secret), "{secret} was logged:\n{text}");
    }
}
