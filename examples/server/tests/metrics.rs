//! `GET /metrics` of the real binary: the series move with real requests,
//! and only the clients the configuration allows (loopback by default,
//! whatever a forwarded header says) get the document.

mod common;

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use common::*;
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The samples of a scrape, keyed by name and labels as written.
struct Scrape(HashMap<String, f64>);

impl Scrape {
    fn parse(text: &str) -> Self {
        let samples = text
            .lines()
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').expect("`series value`");
                (series.to_owned(), value.parse::<f64>().expect("a number"))
            })
            .collect();
        Self(samples)
    }

    fn get(&self, series: &str) -> f64 {
        self.0.get(series).copied().unwrap_or(0.0)
    }

    /// The sum of the series whose text contains every one of `parts`.
    fn sum(&self, parts: &[&str]) -> f64 {
        self.0
            .iter()
            .filter(|(series, _)| parts.iter().all(|part| series.contains(part)))
            .map(|(_, value)| value)
            .sum()
    }
}

/// A client whose connections leave from `source`.
fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source.parse::<IpAddr>().unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// `GET url` from `source`, with `X-Forwarded-For: forwarded` when given:
/// the status.
async fn status_from(source: &str, url: &str, forwarded: Option<&str>) -> u16 {
    let mut request = client_from(source).get(url);
    if let Some(forwarded) = forwarded {
        request = request.header("x-forwarded-for", forwarded);
    }
    request.send().await.unwrap().status().as_u16()
}

async fn scrape(url: &str) -> Scrape {
    let response = client_from("127.0.0.1").get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], PROMETHEUS_TEXT);
    Scrape::parse(&response.text().await.unwrap())
}

fn requests(method: &str, route: &str, status: u16) -> String {
    format!(
        "orders_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}}"
    )
}

#[tokio::test]
async fn the_series_move_with_requests_checkouts_and_sockets() {
    let (url, _dir) = sqlite_url();
    let server = Server::start(&url);
    let metrics = server.url("/metrics");
    let token = server.customer().await;
    let (_, products) = server.call("GET", "/api/products", None, None).await;
    let product = products["items"][0]["id"].as_str().unwrap().to_owned();
    let paid = server.cart(&token, &product, 1).await;
    let declined = server.cart(&token, &product, 1).await;
    let before = scrape(&metrics).await;

    assert_eq!(server.call("GET", "/api/products", None, None).await.0, 200);
    assert_eq!(
        server.call("GET", "/api/no/such/route", None, None).await.0,
        404
    );
    let page = server.client.get(server.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let (status, order) = server.checkout(&token, &paid, CARD_OK).await;
    assert_eq!(status, 201, "{order}");
    let (status, body) = server.checkout(&token, &declined, CARD_DECLINED).await;
    assert_eq!(status, 422, "{body}");
    let id = order["id"].as_str().unwrap();
    let track = server.ws_url(&format!("/api/orders/{id}/track?access_token={token}"));
    let (mut socket, _) = tokio_tungstenite::connect_async(track).await.unwrap();
    // The snapshot: the socket's task runs, so it is counted.
    assert_eq!(next_json(&mut socket).await["type"], "snapshot");
    let open = scrape(&metrics).await;
    assert_eq!(open.get("orders_websockets_open{feed=\"track\"}"), 1.0);
    socket.send(Message::Close(None)).await.unwrap();
    let mut after = scrape(&metrics).await;
    for _ in 0..100 {
        if after.get("orders_websockets_open{feed=\"track\"}") == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        after = scrape(&metrics).await;
    }

    let moved = |series: &str| after.get(series) - before.get(series);
    // SQLite's writer: the paid checkout alone wrote its order and its
    // capture; batches hold one write or more.
    let writes = moved("orders_db_batched_writes_total");
    let batches = moved("orders_db_write_batches_total");
    assert!(writes >= 2.0, "{writes} writes");
    assert!(batches >= 1.0 && batches <= writes, "{batches} batches");
    assert_eq!(after.get("orders_websockets_open{feed=\"track\"}"), 0.0);
    assert_eq!(moved(&requests("GET", "/api/products", 200)), 1.0);
    assert_eq!(moved(&requests("GET", "unmatched", 404)), 1.0);
    assert_eq!(moved(&requests("GET", "/", 200)), 1.0);
    let checkout = "/api/carts/{id}/checkout";
    assert_eq!(moved(&requests("POST", checkout, 201)), 1.0);
    assert_eq!(moved(&requests("POST", checkout, 422)), 1.0);
    assert_eq!(
        moved(
            "orders_http_request_duration_seconds_count{method=\"POST\",route=\"/api/carts/{id}/checkout\",status=\"201\"}"
        ),
        1.0
    );
    assert_eq!(moved("orders_checkouts_total{outcome=\"placed\"}"), 1.0);
    assert_eq!(moved("orders_checkouts_total{outcome=\"declined\"}"), 1.0);
    assert_eq!(moved(&requests("GET", "/api/orders/{id}/track", 101)), 1.0);
    assert!(!after.0.keys().any(|series| series.contains("no/such")));
    // The staff panel's pages by their template under /admin.
    let login = server
        .client
        .get(server.url("/admin/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let panel = scrape(&metrics).await;
    assert_eq!(
        panel.sum(&["orders_http_requests_total", "route=\"/admin/login\""]),
        1.0,
        "{:?}",
        panel
            .0
            .keys()
            .filter(|k| k.contains("admin"))
            .collect::<Vec<_>>()
    );
    // The SQLite pools: one writer, several readers.
    assert_eq!(
        panel.get("orders_db_pool_max_connections{pool=\"writer\"}"),
        1.0
    );
    assert!(panel.get("orders_db_pool_max_connections{pool=\"readers\"}") > 1.0);
}

#[tokio::test]
async fn loopback_is_127_slash_8_and_an_allow_rule_narrows_it() {
    let (url, _dir) = sqlite_url();
    // On 127.0.0.2, from 127.0.0.2: a loopback client, allowed by default.
    let server = Server::start_with(&url, &["--bind", "127.0.0.2:0"]);
    let metrics = server.url("/metrics");
    assert_eq!(status_from("127.0.0.2", &metrics, None).await, 200);
    drop(server);
    // Only 127.0.0.1 allowed: 127.0.0.2 stands for any other client.
    let server = Server::start_with(
        &url,
        &["--bind", "127.0.0.2:0", "--metrics-allow", "127.0.0.1"],
    );
    let metrics = server.url("/metrics");
    assert_eq!(status_from("127.0.0.2", &metrics, None).await, 403);
    assert_eq!(status_from("127.0.0.1", &metrics, None).await, 200);
}

#[tokio::test]
async fn a_forwarded_header_does_not_make_a_client_local() {
    let (url, _dir) = sqlite_url();
    // Two local reverse proxies are trusted; only 127.0.0.1 may scrape.
    let server = Server::start_with(
        &url,
        &[
            "--trusted-proxy",
            "127.0.0.1,127.0.0.2",
            "--metrics-allow",
            "127.0.0.1",
        ],
    );
    let metrics = server.url("/metrics");
    assert_eq!(status_from("127.0.0.1", &metrics, None).await, 200);
    // A remote client behind the local proxy is not local...
    let remote = Some("203.0.113.9");
    assert_eq!(status_from("127.0.0.1", &metrics, remote).await, 403);
    // ...even when it claims to be: the proxy appends what it saw.
    let spoof = Some("127.0.0.1, 203.0.113.9");
    assert_eq!(status_from("127.0.0.1", &metrics, spoof).await, 403);
    // A peer the rule does not allow stays refused, whatever it forwards.
    let local = Some("127.0.0.1");
    assert_eq!(status_from("127.0.0.2", &metrics, local).await, 403);
    // The API still answers everyone.
    let products = server.url("/api/products");
    assert_eq!(status_from("127.0.0.2", &products, None).await, 200);
}

#[tokio::test]
async fn an_address_of_its_own() {
    let (url, _dir) = sqlite_url();
    let server = Server::start_with(&url, &["--metrics-bind", "127.0.0.1:0"]);
    let logs = server.logs();
    let apart = logs
        .lines()
        .find_map(|line| line.strip_prefix("metrics on "))
        .unwrap_or_else(|| panic!("no `metrics on` line:\n{logs}"))
        .to_owned();
    // Not on the server's address any more.
    assert_eq!(
        status_from("127.0.0.1", &server.url("/metrics"), None).await,
        404
    );
    let (status, _) = server.call("GET", "/api/products", None, None).await;
    assert_eq!(status, 200);
    let scrape = scrape(&apart).await;
    assert_eq!(scrape.get(&requests("GET", "/api/products", 200)), 1.0);
    assert_eq!(status_from("127.0.0.2", &apart, None).await, 200);
    // The main address's checks are unchanged by the move.
    let (status, _) = server.call("GET", "/api/orders", None, None).await;
    assert_eq!(status, 401);
}
