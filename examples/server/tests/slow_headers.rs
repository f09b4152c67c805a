//! A client that sends its request headers slowly, or keeps a connection
//! open without sending the next request, is cut off after the server's
//! `--header-timeout` and `--idle-timeout` (the flags of the accept loop,
//! `orders_axum::serve`), while other clients are served meanwhile.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::Server;

/// Seconds the server gives a request's headers, and an idle connection.
const TIMEOUT: &str = "1";

/// Waits until the server closes `stream` (read returns 0 or fails), and
/// returns how long after `started` that was; panics past `limit`.
fn closed_after(mut stream: TcpStream, started: Instant, limit: Duration) -> Duration {
    stream.set_read_timeout(Some(limit)).expect("read timeout");
    let mut buffer = [0_u8; 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) if started.elapsed() < limit => return started.elapsed(),
            Ok(0) | Err(_) => panic!("still open after {limit:?}"),
            Ok(_) => {} // a response (the kept-alive case), then the close
        }
    }
}

fn address(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_idle_connections_are_cut_off() {
    let (url, _dir) = common::sqlite_url();
    let server = Server::start_with(
        &url,
        &[
            "--request-timeout",
            TIMEOUT,
            "--header-timeout",
            TIMEOUT,
            "--idle-timeout",
            TIMEOUT,
        ],
    );
    let addr = address(&server);

    let started = Instant::now();
    // Half a request's headers, then nothing.
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // One whole request, then an idle kept-alive connection.
    let mut idle = TcpStream::connect(&addr).unwrap();
    idle.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();

    // Others are served meanwhile.
    let (status, body) = server.call("GET", "/api/products", None, None).await;
    assert_eq!(status, 200, "{body}");

    let limit = Duration::from_secs(5);
    let (slow_took, idle_took) = tokio::task::spawn_blocking(move || {
        (
            closed_after(slow, started, limit),
            closed_after(idle, started, limit),
        )
    })
    .await
    .unwrap();
    eprintln!("slow headers cut after {slow_took:?}; idle connection closed after {idle_took:?}");
    assert!(slow_took >= Duration::from_millis(900), "{slow_took:?}");
    assert!(idle_took >= Duration::from_millis(900), "{idle_took:?}");
    // A new connection: the client's pooled one has been idle as long as
    // the server allows, and may be closing at this very moment.
    let fresh = reqwest::Client::new()
        .get(server.url("/api/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 200, "the server still serves");
}
