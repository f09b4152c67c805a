//! Feature `metrics`: the document a host serves at `/metrics`, scraped
//! over a real socket before and after real requests, parsed as the
//! Prometheus text format.
#![cfg(feature = "metrics")]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use orders_axum::metrics::{CONTENT_TYPE, Metrics, PoolUse, WriteBatchCounts};
use serde_json::json;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

/// A scrape: every sample, keyed by its name and labels as written
/// (`name{a="1",b="2"}`).
#[derive(Debug)]
struct Scrape(HashMap<String, f64>);

impl Scrape {
    /// Parses the text format: `# HELP`/`# TYPE` lines, then samples.
    fn parse(text: &str) -> Self {
        let mut samples = HashMap::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            if line.starts_with('#') {
                let mut words = line.split(' ');
                assert!(
                    matches!(words.nth(1), Some("HELP" | "TYPE")),
                    "unexpected comment {line:?}"
                );
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("a sample is `series value`");
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}"));
            let previous = samples.insert(series.to_owned(), value);
            assert!(previous.is_none(), "series {series} twice");
        }
        Self(samples)
    }

    /// A series' value (0 when absent).
    fn get(&self, series: &str) -> f64 {
        self.0.get(series).copied().unwrap_or(0.0)
    }
}

/// What changed between two scrapes.
#[track_caller]
fn assert_moved(before: &Scrape, after: &Scrape, series: &str, by: f64) {
    assert_eq!(
        after.get(series) - before.get(series),
        by,
        "{series}: before {}, after {}",
        before.get(series),
        after.get(series)
    );
}

fn requests(method: &str, route: &str, status: u16) -> String {
    format!(
        "orders_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}}"
    )
}

fn latencies(method: &str, route: &str, status: u16) -> String {
    format!(
        "orders_http_request_duration_seconds_count{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}}"
    )
}

fn checkouts(outcome: &str) -> String {
    format!("orders_checkouts_total{{outcome=\"{outcome}\"}}")
}

fn sockets(feed: &str) -> String {
    format!("orders_websockets_open{{feed=\"{feed}\"}}")
}

/// The API with `metrics`, and the host's `/metrics` route; the host also
/// records its own routes with the same metrics' layer, around the API.
async fn spawn_measured(metrics: &Metrics) -> App {
    let layer = metrics.layer();
    let endpoint = metrics.endpoint();
    let api_metrics = metrics.clone();
    spawn_host(
        |api| api.metrics(&api_metrics),
        |app| app.route("/metrics", endpoint).layer(layer),
    )
    .await
}

async fn scrape(app: &App) -> Scrape {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], CONTENT_TYPE);
    Scrape::parse(&response.text().await.unwrap())
}

/// Scrapes until `series` is `value`, for up to a second: a closed socket
/// is counted out when its task ends, just after the close.
async fn scrape_until(app: &App, series: &str, value: f64) -> Scrape {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    loop {
        let now = scrape(app).await;
        if now.get(series) == value || tokio::time::Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn requests_checkouts_and_sockets_move_their_series() {
    let metrics = Metrics::new();
    let app = spawn_measured(&metrics).await;
    let product = app.product("10.00", 1).await;
    let placed_cart = app.cart_with(ADA, &product, 1).await;
    let late_cart = app.cart_with(BOB, &product, 1).await;
    let declined_cart = app.cart_with(BOB, &product, 1).await;
    let before = scrape(&app).await;

    app.get("/api/products", None).await.ok(200);
    app.get("/api/nope", None).await.problem(404, "not_found");
    app.get("/api/carts/x/nope/y", None)
        .await
        .problem(404, "not_found");
    let order = app
        .checkout(ADA, &placed_cart, checkout_card(CARD_OK), Some("k1"))
        .await;
    order.ok(201);
    let order_id = order.body["id"].as_str().unwrap().to_owned();
    app.checkout(ADA, &placed_cart, checkout_card(CARD_OK), Some("k1"))
        .await
        .ok(200);
    app.checkout(BOB, &late_cart, checkout_cash(), None)
        .await
        .problem(409, "insufficient_stock");
    app.checkout(BOB, &declined_cart, checkout_card(CARD_DECLINED), None)
        .await
        .problem(422, "payment_declined");
    app.checkout(BOB, &declined_cart, json!({"email": "nope"}), None)
        .await
        .problem(422, "validation");

    let track = format!(
        "ws://{}/api/orders/{order_id}/track?access_token={ADA}",
        app.addr
    );
    let (mut tracker, _) = connect_async(&track).await.unwrap();
    tracker.next().await.unwrap().unwrap(); // the snapshot
    let stream = format!("ws://{}/api/admin/stream?access_token={STAFF}", app.addr);
    let (admin, _) = connect_async(&stream).await.unwrap();
    let open = scrape(&app).await;
    assert_moved(&before, &open, &sockets("track"), 1.0);
    assert_moved(&before, &open, &sockets("admin_stream"), 1.0);
    tracker.send(Message::Close(None)).await.unwrap();
    drop(admin);
    scrape_until(&app, &sockets("track"), 0.0).await;
    let after = scrape_until(&app, &sockets("admin_stream"), 0.0).await;

    assert_eq!(after.get(&sockets("track")), 0.0);
    assert_eq!(after.get(&sockets("admin_stream")), 0.0);
    assert_moved(&before, &after, &requests("GET", "/api/products", 200), 1.0);
    assert_moved(
        &before,
        &after,
        &latencies("GET", "/api/products", 200),
        1.0,
    );
    // Unknown paths share one series; none of their paths is a label.
    assert_moved(&before, &after, &requests("GET", "unmatched", 404), 2.0);
    assert!(!after.0.keys().any(|series| series.contains("nope")));
    let checkout = "/api/carts/{id}/checkout";
    assert_moved(&before, &after, &requests("POST", checkout, 201), 1.0);
    assert_moved(&before, &after, &requests("POST", checkout, 200), 1.0);
    assert_moved(&before, &after, &requests("POST", checkout, 409), 1.0);
    assert_moved(&before, &after, &requests("POST", checkout, 422), 2.0);
    assert_moved(&before, &after, &latencies("POST", checkout, 422), 2.0);
    assert!(!after.0.keys().any(|series| series.contains(&placed_cart)));
    let tracking = "/api/orders/{id}/track";
    assert_moved(&before, &after, &requests("GET", tracking, 101), 1.0);
    assert_moved(
        &before,
        &after,
        &requests("GET", "/api/admin/stream", 101),
        1.0,
    );
    for (outcome, by) in [
        ("placed", 1.0),
        ("replayed", 1.0),
        ("out_of_stock", 1.0),
        ("declined", 1.0),
        ("validation", 1.0),
        ("conflict", 0.0),
        ("error", 0.0),
    ] {
        assert_moved(&before, &after, &checkouts(outcome), by);
    }
    // The host's own route, recorded by the host's layer: the scrapes
    // before `after` (the API's requests were not counted twice above).
    let scrapes = after.get(&requests("GET", "/metrics", 200));
    assert!(scrapes >= 3.0, "{scrapes}");
    // The latency buckets are cumulative and end at +Inf = count.
    let inf = "orders_http_request_duration_seconds_bucket{le=\"+Inf\",method=\"GET\",route=\"/api/products\",status=\"200\"}";
    let le_inf = after.0.keys().find(|k| {
        k.starts_with("orders_http_request_duration_seconds_bucket")
            && k.contains("route=\"/api/products\"")
            && k.contains("le=\"+Inf\"")
    });
    assert!(le_inf.is_some(), "no +Inf bucket such as {inf}");
    assert_eq!(
        after.get(le_inf.unwrap()),
        after.get(&latencies("GET", "/api/products", 200))
    );
}

#[tokio::test]
async fn a_checkout_awaiting_the_customers_action_is_counted_as_such() {
    let metrics = Metrics::new();
    let app = spawn_measured(&metrics).await;
    let product = app.product("10.00", 5).await;
    let cart = app.cart_with(ADA, &product, 1).await;
    let before = scrape(&app).await;
    let token = orders_core::ports::TestGateway::TOKEN_REQUIRES_ACTION;
    let order = app.checkout(ADA, &cart, checkout_token(token), None).await;
    assert_eq!(order.ok(201)["status"], "awaiting_payment");
    let id = order.body["id"].as_str().unwrap();
    let confirm = format!("/api/orders/{id}/payment/confirm");
    app.send(reqwest::Method::POST, &confirm, Some(ADA), None)
        .await
        .ok(200);
    app.client
        .post(app.url("/api/payments/webhooks/test"))
        .body("{}")
        .send()
        .await
        .unwrap();
    let after = scrape(&app).await;
    assert_moved(&before, &after, &checkouts("awaiting_payment"), 1.0);
    assert_moved(&before, &after, &checkouts("placed"), 0.0);
    let confirm = "/api/orders/{id}/payment/confirm";
    assert_moved(&before, &after, &requests("POST", confirm, 200), 1.0);
    let webhook = "/api/payments/webhooks/{provider}";
    assert_moved(&before, &after, &requests("POST", webhook, 400), 1.0);
}

#[tokio::test]
async fn every_checkout_outcome_and_socket_feed_is_there_at_zero() {
    let metrics = Metrics::new();
    let scrape = Scrape::parse(&metrics.render());
    for outcome in orders_axum::metrics::CheckoutOutcome::ALL {
        let series = checkouts(outcome.as_str());
        assert_eq!(scrape.0.get(&series), Some(&0.0), "{series}");
    }
    for feed in ["track", "admin_stream"] {
        assert_eq!(scrape.0.get(&sockets(feed)), Some(&0.0), "{feed}");
    }
}

#[tokio::test]
async fn the_host_adds_its_pools_and_its_own_metrics() {
    use orders_axum::metrics::prometheus_client::metrics::counter::Counter;
    use orders_axum::metrics::prometheus_client::registry::Registry;

    let mut registry = Registry::default();
    let signups: Counter = Counter::default();
    registry.register("shop_signups", "Accounts made", signups.clone());
    let metrics = Metrics::with_registry(registry);
    let later: Counter = Counter::default();
    metrics.register("shop_logins", "Sign-ins", later.clone());
    let open = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(3));
    let reading = open.clone();
    metrics.pools(move || {
        vec![PoolUse {
            pool: "main".into(),
            open: reading.load(std::sync::atomic::Ordering::Relaxed),
            idle: 1,
            max: 10,
        }]
    });
    signups.inc();
    later.inc_by(2);
    let first = Scrape::parse(&metrics.render());
    assert_eq!(first.get("shop_signups_total"), 1.0);
    assert_eq!(first.get("shop_logins_total"), 2.0);
    let in_use = "orders_db_pool_connections{pool=\"main\",state=\"in_use\"}";
    assert_eq!(first.get(in_use), 2.0);
    assert_eq!(
        first.get("orders_db_pool_connections{pool=\"main\",state=\"idle\"}"),
        1.0
    );
    assert_eq!(
        first.get("orders_db_pool_max_connections{pool=\"main\"}"),
        10.0
    );
    open.store(7, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(Scrape::parse(&metrics.render()).get(in_use), 6.0);
    // A second callback replaces the first (a series written twice would
    // fail the parse).
    metrics.pools(|| {
        vec![PoolUse {
            pool: "main".into(),
            open: 1,
            idle: 1,
            max: 2,
        }]
    });
    assert_eq!(Scrape::parse(&metrics.render()).get(in_use), 0.0);
}

#[tokio::test]
async fn the_host_tells_its_write_batches_and_a_store_without_them_shows_none() {
    let metrics = Metrics::new();
    let batches = "orders_db_write_batches_total";
    let writes = "orders_db_batched_writes_total";
    // No callback, or one that answers `None` (PostgreSQL): no family.
    assert!(!Scrape::parse(&metrics.render()).0.contains_key(batches));
    metrics.write_batches(|| None);
    let none = Scrape::parse(&metrics.render());
    assert!(!none.0.contains_key(batches) && !none.0.contains_key(writes));
    let counts = std::sync::Arc::new(std::sync::Mutex::new(WriteBatchCounts {
        batches: 2,
        writes: 5,
    }));
    let reading = counts.clone();
    metrics.write_batches(move || Some(*reading.lock().unwrap()));
    let first = Scrape::parse(&metrics.render());
    assert_eq!(first.get(batches), 2.0);
    assert_eq!(first.get(writes), 5.0);
    *counts.lock().unwrap() = WriteBatchCounts {
        batches: 3,
        writes: 9,
    };
    let second = Scrape::parse(&metrics.render());
    assert_eq!(second.get(batches), 3.0);
    assert_eq!(second.get(writes), 9.0);
}
