//! Connection-level abuse against the real binary on real sockets: silent
//! connections, a trickled request head, idle kept-alive connections, the
//! HTTP/2 preface, a connection flood under a low open-files limit, and
//! SIGTERM with a client that never finishes its request.
//!
//! The deadlines are set through their environment variables (the flags'
//! twins); `slow_headers.rs` sets them with the flags.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const HEALTH: &[u8] = b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n";

fn address(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// How a read that waited for the server's close ended.
#[derive(Debug)]
enum Ended {
    /// Closed (end of stream or reset) this long after the start, with
    /// the bytes received before.
    Closed(Duration, Vec<u8>),
    /// Still open at the limit.
    Open(Vec<u8>),
}

/// Reads `stream` until the server closes it or `limit` after `started`.
fn wait_close(mut stream: TcpStream, started: Instant, limit: Duration) -> Ended {
    let mut received = Vec::new();
    let mut buffer = [0_u8; 4096];
    loop {
        let left = limit.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Ended::Open(received);
        }
        stream.set_read_timeout(Some(left)).expect("read timeout");
        match stream.read(&mut buffer) {
            Ok(0) => return Ended::Closed(started.elapsed(), received),
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Ended::Open(received);
            }
            Err(_) => return Ended::Closed(started.elapsed(), received),
        }
    }
}

fn closed_within(stream: TcpStream, started: Instant, limit: Duration) -> Duration {
    match wait_close(stream, started, limit) {
        Ended::Closed(after, _) => after,
        Ended::Open(received) => panic!(
            "still open after {limit:?} (received {:?})",
            String::from_utf8_lossy(&received)
        ),
    }
}

/// Reads one response (head, then a `Content-Length` body) and returns its
/// status; panics if it does not come within `limit`.
fn read_response(stream: &mut TcpStream, limit: Duration) -> u16 {
    stream.set_read_timeout(Some(limit)).expect("read timeout");
    let mut received = Vec::new();
    let mut buffer = [0_u8; 4096];
    loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&received[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse::<usize>().expect("length"));
            if received.len() >= end + 4 + length {
                return head[9..12].parse().expect("status");
            }
        }
        let n = stream.read(&mut buffer).expect("a response");
        assert!(n > 0, "closed before the response ended");
        received.extend_from_slice(&buffer[..n]);
    }
}

/// `GET /api/health` on `stream`; its status.
fn health_on(stream: &mut TcpStream) -> u16 {
    stream.write_all(HEALTH).expect("send");
    read_response(stream, Duration::from_secs(5))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_are_closed_at_the_first_byte_deadline() {
    let (url, _dir) = sqlite_url();
    let server = Server::start_limited(&url, &[], &[("ORDERS_FIRST_BYTE_TIMEOUT", "1")], None);
    let addr = address(&server);
    let started = Instant::now();
    let waiters: Vec<_> = (0..20)
        .map(|_| {
            let stream = TcpStream::connect(&addr).expect("connect");
            std::thread::spawn(move || wait_close(stream, started, Duration::from_secs(5)))
        })
        .collect();
    // Others are served meanwhile.
    let mut health = Vec::new();
    while started.elapsed() < Duration::from_millis(1500) {
        let asked = Instant::now();
        let (status, body) = server.call("GET", "/api/health", None, None).await;
        assert_eq!(status, 200, "{body}");
        health.push(asked.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let closed: Vec<Duration> = waiters
        .into_iter()
        .map(|w| match w.join().unwrap() {
            Ended::Closed(after, received) => {
                assert!(received.is_empty(), "no answer to silence");
                after
            }
            Ended::Open(_) => panic!("a silent connection was still open after 5 s"),
        })
        .collect();
    let first = closed.iter().min().unwrap();
    let last = closed.iter().max().unwrap();
    eprintln!(
        "20 silent connections closed after {first:?}..{last:?}; /api/health meanwhile: {} calls, slowest {:?}",
        health.len(),
        health.iter().max().unwrap()
    );
    assert!(*first >= Duration::from_millis(900), "{first:?}");
    assert!(*last <= Duration::from_secs(3), "{last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_head_is_cut_at_the_head_deadline() {
    let (url, _dir) = sqlite_url();
    let server = Server::start_limited(
        &url,
        &[],
        &[
            ("ORDERS_FIRST_BYTE_TIMEOUT", "1"),
            ("ORDERS_HEADER_TIMEOUT", "2"),
        ],
        None,
    );
    let stream = TcpStream::connect(address(&server)).expect("connect");
    let started = Instant::now();
    let mut writer = stream.try_clone().expect("clone");
    let head = format!(
        "GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: {}",
        "a".repeat(200)
    );
    std::thread::spawn(move || {
        for byte in head.bytes() {
            if writer.write_all(&[byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let (status, _) = server.call("GET", "/api/health", None, None).await;
    assert_eq!(status, 200, "others are served meanwhile");
    let ended =
        tokio::task::spawn_blocking(move || wait_close(stream, started, Duration::from_secs(6)))
            .await
            .unwrap();
    let Ended::Closed(after, received) = ended else {
        panic!("the trickled head was still open after 6 s: {ended:?}")
    };
    eprintln!(
        "a head trickled a byte every 200 ms was cut {after:?} after its first byte (head deadline 2 s, first-byte 1 s)"
    );
    assert!(received.is_empty(), "no response to half a head");
    assert!(after >= Duration::from_millis(1900), "{after:?}");
    assert!(after <= Duration::from_millis(3500), "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_is_closed_at_the_idle_deadline() {
    let (url, _dir) = sqlite_url();
    let server = Server::start_limited(
        &url,
        &[],
        &[
            ("ORDERS_FIRST_BYTE_TIMEOUT", "1"),
            ("ORDERS_HEADER_TIMEOUT", "1"),
            ("ORDERS_IDLE_TIMEOUT", "2"),
        ],
        None,
    );
    let addr = address(&server);
    let (survived, closed) = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(&addr).expect("connect");
        assert_eq!(health_on(&mut stream), 200);
        // Idle longer than the first-byte and head deadlines.
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(health_on(&mut stream), 200, "still open after 1.5 s idle");
        let answered = Instant::now();
        let closed = closed_within(stream, answered, Duration::from_secs(5));
        (Duration::from_millis(1500), closed)
    })
    .await
    .unwrap();
    eprintln!(
        "kept-alive connection: served after {survived:?} idle; closed {closed:?} after its last response (idle deadline 2 s)"
    );
    assert!(closed >= Duration::from_millis(1900), "{closed:?}");
    assert!(closed <= Duration::from_secs(3), "{closed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http2_preface_gets_the_connection_closed() {
    let (url, _dir) = sqlite_url();
    let server = Server::start(&url);
    let mut stream = TcpStream::connect(address(&server)).expect("connect");
    let started = Instant::now();
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .unwrap();
    // An empty SETTINGS frame: length 0, type 4, flags 0, stream 0.
    stream.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap();
    let ended = wait_close(stream, started, Duration::from_secs(3));
    let Ended::Closed(after, received) = ended else {
        panic!("an HTTP/2 connection stayed open: {ended:?}")
    };
    eprintln!(
        "HTTP/2 preface: closed after {after:?}, {} bytes back",
        received.len()
    );
    let is_h2_frame = received.len() >= 9 && received[3] == 4;
    assert!(!is_h2_frame, "an HTTP/2 SETTINGS frame came back");
    assert!(
        received.is_empty() || received.starts_with(b"HTTP/1.1 "),
        "{received:?}"
    );
    assert!(after <= Duration::from_secs(1), "{after:?}");
}

/// `text` without its ANSI colour codes.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The connection bound the server logged on start.
fn logged_bound(server: &Server) -> usize {
    let waited = Instant::now();
    loop {
        let logs = plain(&server.logs());
        let bound = logs
            .lines()
            .filter(|l| l.contains(" serving "))
            .find_map(|l| l.split("max_connections=").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok());
        if let Some(bound) = bound {
            return bound;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(5),
            "no connection bound logged: {logs}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_flood_under_a_low_open_files_limit() {
    let (url, _dir) = sqlite_url();
    let server = Server::start_limited(&url, &[], &[], Some(200));
    let addr = address(&server);
    let bound = logged_bound(&server);
    assert!(bound < 200, "the bound keeps a reserve: {bound}");

    let figures = tokio::task::spawn_blocking(move || {
        let mut kept = TcpStream::connect(&addr).expect("connect");
        assert_eq!(health_on(&mut kept), 200);
        let flood_started = Instant::now();
        let mut refused = 0;
        let flood: Vec<TcpStream> = (0..250)
            .filter_map(|_| {
                let stream =
                    TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(2));
                if stream.is_err() {
                    refused += 1;
                }
                stream.ok()
            })
            .collect();
        let flooded = flood_started.elapsed();
        let asked = Instant::now();
        assert_eq!(health_on(&mut kept), 200, "the kept connection answers");
        let kept_health = asked.elapsed();
        // Beyond the bound, connections are closed at once.
        let deadline = Instant::now() + Duration::from_secs(5);
        let open = loop {
            let open = flood
                .iter()
                .filter(|s| {
                    s.set_nonblocking(true).unwrap();
                    let mut byte = [0_u8; 1];
                    matches!(s.peek(&mut byte), Err(e) if e.kind() == ErrorKind::WouldBlock)
                })
                .count();
            if open < bound || Instant::now() > deadline {
                break open;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        drop(flood);
        let freed = Instant::now();
        let mut attempts = 0;
        let fresh = loop {
            attempts += 1;
            let answered = TcpStream::connect(&addr).ok().and_then(|mut s| {
                s.write_all(HEALTH).ok()?;
                std::panic::catch_unwind(move || read_response(&mut s, Duration::from_secs(2))).ok()
            });
            if answered == Some(200) {
                break freed.elapsed();
            }
            assert!(
                freed.elapsed() < Duration::from_secs(10) && attempts < 100,
                "no answer on a new connection after the flood"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        (refused, flooded, kept_health, open, fresh)
    })
    .await
    .unwrap();
    let (refused, flooded, kept_health, open, fresh) = figures;
    let logs = server.logs();
    let emfile = logs
        .lines()
        .filter(|l| l.to_ascii_lowercase().contains("too many open files") || l.contains("EMFILE"))
        .count();
    let limit_lines = logs
        .lines()
        .filter(|l| l.contains("connection limit reached"))
        .count();
    eprintln!(
        "ulimit -Sn 200: bound {bound}; 250 connections opened in {flooded:?} ({refused} refused by the kernel); \
         /api/health on the kept connection {kept_health:?}; flood sockets still open {open} (the rest closed at once); \
         'too many open files' log lines {emfile}; 'connection limit reached' lines {limit_lines}; \
         /api/health on a new connection {fresh:?} after the flood was dropped"
    );
    assert!(open < bound, "at most the bound is held: {open} of {bound}");
    assert!(emfile <= 2, "{emfile} lines:\n{logs}");
    assert!(
        limit_lines <= 5,
        "the refusals are throttled: {limit_lines}"
    );
    assert!(fresh < Duration::from_secs(5), "{fresh:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_within_the_shutdown_deadline_despite_a_stubborn_client() {
    let (url, _dir) = sqlite_url();
    create_staff(&url);
    let mut server = Server::start_with(
        &url,
        &["--shutdown-timeout", "2", "--request-timeout", "30"],
    );
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
    assert_eq!(next_json(&mut socket).await["type"], "snapshot");

    // A login whose body never comes: its request is in flight.
    let mut stubborn = TcpStream::connect(address(&server)).expect("connect");
    stubborn
        .write_all(
            b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 1000\r\n\r\n{\"email\": ",
        )
        .unwrap();
    // In flight once the server has started it and not finished it (the
    // staff login before it finished).
    let logins = |what: &str| {
        server
            .logs()
            .lines()
            .filter(|l| l.contains(what) && l.contains("/auth/login"))
            .count()
    };
    let waited = Instant::now();
    while logins("started processing request") <= logins("finished processing request") {
        assert!(
            waited.elapsed() < Duration::from_secs(5),
            "the request never started:\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The websocket is not read until the process has exited.
    let (status, took, server) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let status = server.terminate();
        (status, started.elapsed(), server)
    })
    .await
    .unwrap();
    let stubborn_ended = wait_close(stubborn, Instant::now(), Duration::from_secs(1));
    let close = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await
    .expect("the close frame is there");
    eprintln!(
        "SIGTERM with a login body withheld and an unread websocket (--shutdown-timeout 2): exited {status} after {took:?}; websocket close {close:?}; the stubborn client {stubborn_ended:?}"
    );
    assert_eq!(status.code(), Some(0), "{}", server.logs());
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(
        took >= Duration::from_millis(1900),
        "the request in flight was given its deadline: {took:?}"
    );
    assert_eq!(close, Some(CloseCode::Away), "1001 going away");
    assert!(
        matches!(stubborn_ended, Ended::Closed(..)),
        "{stubborn_ended:?}"
    );
}
