//! Slow and stuck clients hold only their own, bounded, resources.
//!
//! - Clients that send a request body one byte a second are answered 408
//!   and cut off at the server's request timeout (`--request-timeout`,
//!   2 s here, 30 s by default).
//! - A websocket client that never reads, while the server publishes many
//!   events to it, is closed by the server, whose memory stays bounded.
//!
//! Meanwhile other customers keep checking out, and their latency is
//! measured against a baseline taken before the slow clients arrived.
//!
//! `cargo test -p orders-server --test faults_slow -- --nocapture` prints
//! the figures.

mod common;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

use common::faults::{CheckoutLoad, Sample, poll_until, quantile};
use common::{Server, create_staff, sqlite_url};

/// The request timeout the server runs with here.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// The slowest other clients may be while the slow ones are connected.
const OTHERS_P99_BOUND: Duration = Duration::from_secs(1);
/// The slowest any single request of the others may be meanwhile.
const OTHERS_MAX_BOUND: Duration = Duration::from_secs(2);

/// The server's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The kernel's code of an established TCP connection in `/proc/net/tcp`.
const ESTABLISHED: u8 = 0x01;

/// The state of the server's end of the connection `server_port` <->
/// `client_port` on 127.0.0.1, from `/proc/net/tcp`.
fn server_side_state(server_port: u16, client_port: u16) -> Option<u8> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let local = format!("0100007F:{server_port:04X}");
    let remote = format!("0100007F:{client_port:04X}");
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(1) == Some(&local.as_str()) && fields.get(2) == Some(&remote.as_str()))
            .then(|| u8::from_str_radix(fields.get(3)?, 16).ok())
            .flatten()
    })
}

/// Latencies of `samples` sent in `[from, to)`.
fn latencies(samples: &[Sample], from: Instant, to: Instant) -> Vec<Duration> {
    samples
        .iter()
        .filter(|s| s.started >= from && s.started < to)
        .map(|s| s.elapsed)
        .collect()
}

/// Places orders as `customer` and walks each through four transitions
/// with a 1000-character note, until `stop`; returns the events made.
async fn publish(
    base: String,
    staff: String,
    customer: String,
    product: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> u64 {
    let client = reqwest::Client::new();
    let note = "\u{1F4E6}".repeat(1000);
    let mut events = 0;
    // Bounded: the test stops it within a minute.
    for _ in 0..10_000 {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        let post = |path: String, token: &str, body: serde_json::Value| {
            client
                .post(format!("{base}{path}"))
                .bearer_auth(token)
                .json(&body)
                .send()
        };
        let cart: serde_json::Value = post("/api/carts".into(), &customer, serde_json::json!({}))
            .await
            .expect("cart")
            .json()
            .await
            .expect("cart json");
        let cart = cart["id"].as_str().expect("cart id").to_owned();
        let added = post(
            format!("/api/carts/{cart}/items"),
            &customer,
            serde_json::json!({"product_id": product, "quantity": 1}),
        )
        .await
        .expect("add");
        assert_eq!(added.status().as_u16(), 200);
        let order: serde_json::Value = post(
            format!("/api/carts/{cart}/checkout"),
            &customer,
            common::checkout_body(common::CARD_OK),
        )
        .await
        .expect("checkout")
        .json()
        .await
        .expect("order json");
        let id = order["id"].as_str().expect("order id").to_owned();
        events += 1;
        for to in ["processing", "shipped", "delivered", "refunded"] {
            let moved = post(
                format!("/api/admin/orders/{id}/transition"),
                &staff,
                if to == "shipped" {
                    serde_json::json!({"to": to, "note": note, "tracking_number": "TRK-1"})
                } else {
                    serde_json::json!({"to": to, "note": note})
                },
            )
            .await
            .expect("transition");
            assert_eq!(moved.status().as_u16(), 200, "transition to {to}");
            events += 1;
        }
    }
    events
}

/// A server with staff, a product and `clients` customers checking out.
async fn shop(clients: usize) -> (Server, String, String, CheckoutLoad, tempfile::TempDir) {
    let (url, dir) = sqlite_url();
    create_staff(&url);
    let timeout = REQUEST_TIMEOUT.as_secs_f64().to_string();
    let server = Server::start_with(&url, &["--request-timeout", &timeout]);
    let staff = server.staff().await;
    let product = server.product(&staff, 1_000_000).await;
    let mut tokens = Vec::new();
    for _ in 0..clients {
        tokens.push(server.customer().await);
    }
    let load = CheckoutLoad::start(&server.base, tokens, vec![product.clone()], false);
    (server, staff, product, load, dir)
}

/// Sends the headers of a login request announcing `length` bytes of body,
/// then one byte a second; returns how long until the server answered (or
/// closed) and the status line it sent.
async fn slow_body(address: String, length: usize) -> (Duration, String) {
    let stream = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST /api/auth/login HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\n\r\n"
    );
    let started = Instant::now();
    writer.write_all(head.as_bytes()).await.expect("headers");
    let trickle = tokio::spawn(async move {
        for _ in 0..length {
            if writer.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), reader.read_to_end(&mut answer)).await;
    let elapsed = started.elapsed();
    trickle.abort();
    assert!(
        read.is_ok(),
        "the server kept a slow client for 30 s without answering"
    );
    let text = String::from_utf8_lossy(&answer);
    (elapsed, text.lines().next().unwrap_or_default().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clients_sending_a_byte_a_second_are_cut_off_and_slow_nobody() {
    let (server, _staff, _product, load, _dir) = shop(4).await;
    let warm = poll_until(Duration::from_secs(30), || async { load.placed() >= 10 }).await;
    assert!(warm.is_some(), "no orders placed:\n{}", server.logs());
    let baseline_from = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await; // the baseline's length

    // Act: twenty clients trickle their bodies.
    let attack_from = Instant::now();
    let address = server.base.trim_start_matches("http://").to_owned();
    let slow: Vec<_> = (0..20)
        .map(|_| tokio::spawn(slow_body(address.clone(), 200)))
        .collect();
    let mut cut_after = Vec::new();
    for client in slow {
        let (elapsed, status_line) = client.await.expect("slow client");
        assert!(
            status_line.starts_with("HTTP/1.1 408"),
            "a slow client got {status_line:?}"
        );
        cut_after.push(elapsed);
    }
    let attack_to = Instant::now();
    let samples = load.finish().await;

    // Assert: each was cut off at the timeout, not before, not much after.
    let latest = *cut_after.iter().max().unwrap();
    let earliest = *cut_after.iter().min().unwrap();
    assert!(
        earliest >= REQUEST_TIMEOUT && latest <= REQUEST_TIMEOUT + Duration::from_millis(1500),
        "slow clients cut off after {earliest:?} to {latest:?} (timeout {REQUEST_TIMEOUT:?})"
    );
    let baseline = latencies(&samples, baseline_from, attack_from);
    let during = latencies(&samples, attack_from, attack_to);
    let failed: Vec<&Sample> = samples
        .iter()
        .filter(|s| !matches!(s.status, 200 | 201))
        .collect();
    assert!(failed.is_empty(), "other clients failed: {failed:#?}");
    let (p50, p99, max) = (
        quantile(during.clone(), 0.5),
        quantile(during.clone(), 0.99),
        quantile(during.clone(), 1.0),
    );
    assert!(
        !during.is_empty() && p99 <= OTHERS_P99_BOUND && max <= OTHERS_MAX_BOUND,
        "other clients slowed down: p99 {p99:?}, max {max:?} over {} requests",
        during.len()
    );
    println!(
        "faults_slow body: 20 clients at 1 byte/s answered 408 after {earliest:?}..{latest:?} \
         (timeout {REQUEST_TIMEOUT:?}); other clients: baseline p50 {:?} p99 {:?} ({} requests), \
         meanwhile p50 {p50:?} p99 {p99:?} max {max:?} ({} requests)",
        quantile(baseline.clone(), 0.5),
        quantile(baseline.clone(), 0.99),
        baseline.len(),
        during.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_websocket_that_never_reads_is_closed_and_slows_nobody() {
    let (server, staff, product, load, _dir) = shop(4).await;
    let pid = server.child.id();
    let warm = poll_until(Duration::from_secs(30), || async { load.placed() >= 10 }).await;
    assert!(warm.is_some(), "no orders placed:\n{}", server.logs());
    // Staff walk orders through their statuses with long notes (4 KB
    // frames), so the socket's kernel buffers fill in seconds.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut publishers = Vec::new();
    for _ in 0..4 {
        let customer = server.customer().await;
        let (base, staff, product, stop) = (
            server.base.clone(),
            staff.clone(),
            product.clone(),
            stop.clone(),
        );
        publishers.push(tokio::spawn(publish(base, staff, customer, product, stop)));
    }
    // The baseline, with the same load: its memory settles meanwhile.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let baseline_from = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await; // the baseline's length
    let rss_before = rss_kib(pid);

    // Act: a dashboard socket with a tiny receive buffer, never read while
    // every checkout of the load publishes an event to it.
    let address = server.base.trim_start_matches("http://").to_owned();
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let stream = socket
        .connect(address.parse().expect("address"))
        .await
        .expect("connect");
    let request = format!("ws://{address}/api/admin/stream?access_token={staff}");
    let (mut stuck, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .expect("websocket upgrade");
    let attack_from = Instant::now();
    let placed_at_start = load.placed();
    // The server drops a socket whose frame cannot be sent for 10 s; the
    // load publishes an event per order (and per cancellation).
    let client_port = stuck.get_ref().local_addr().expect("local address").port();
    let server_port: u16 = address.rsplit(':').next().unwrap().parse().unwrap();
    let mut rss_peak = rss_before;
    let mut closed_after = None;
    let deadline = Instant::now() + Duration::from_secs(40);
    while Instant::now() < deadline {
        rss_peak = rss_peak.max(rss_kib(pid));
        // The server has let go once its end is no longer established (a
        // FIN queued behind the data the client never read).
        if server_side_state(server_port, client_port) != Some(ESTABLISHED) {
            closed_after = Some(attack_from.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut events_published = load.placed() - placed_at_start;
    for publisher in publishers {
        events_published += publisher.await.expect("publisher");
    }
    let attack_to = Instant::now();

    // Now read what the socket holds: it must end (closed by the server)
    // well before every published event has arrived.
    let mut received = 0_u64;
    let mut ended = false;
    let read_deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    // Bounded by the deadline and by the stream's end.
    loop {
        match tokio::time::timeout_at(read_deadline, stuck.next()).await {
            Ok(Some(Ok(Message::Text(_)))) => received += 1,
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => {
                ended = true;
                break;
            }
            Ok(Some(Ok(_))) => {}
            Err(_) => break,
        }
    }
    let samples = load.finish().await;

    // Assert.
    let closed_after = closed_after.expect("the server kept the socket that never reads");
    assert!(
        ended,
        "the server never closed the socket that did not read ({received} frames read)"
    );
    assert!(
        received < events_published,
        "the stuck socket got all {events_published} events"
    );
    let growth_kib = rss_peak.saturating_sub(rss_before);
    assert!(
        growth_kib < 16 * 1024,
        "the server grew by {growth_kib} KiB while the socket was stuck"
    );
    let during = latencies(&samples, attack_from, attack_to);
    let baseline = latencies(&samples, baseline_from, attack_from);
    let failed: Vec<&Sample> = samples
        .iter()
        .filter(|s| !matches!(s.status, 200 | 201))
        .collect();
    assert!(failed.is_empty(), "other clients failed: {failed:#?}");
    let (p50, p99, max) = (
        quantile(during.clone(), 0.5),
        quantile(during.clone(), 0.99),
        quantile(during.clone(), 1.0),
    );
    assert!(
        !during.is_empty() && p99 <= OTHERS_P99_BOUND && max <= OTHERS_MAX_BOUND,
        "other clients slowed down: p99 {p99:?}, max {max:?} over {} requests",
        during.len()
    );
    println!(
        "faults_slow websocket: {events_published} events published in the test, the stuck socket read {received} \
         frames then ended (the server let go of it {closed_after:?} after it stopped reading); server RSS {rss_before} KiB \
         before, peak {rss_peak} KiB; other clients: baseline p50 {:?} p99 {:?} ({} requests), \
         meanwhile p50 {p50:?} p99 {p99:?} max {max:?} ({} requests)",
        quantile(baseline.clone(), 0.5),
        quantile(baseline.clone(), 0.99),
        baseline.len(),
        during.len()
    );
}
