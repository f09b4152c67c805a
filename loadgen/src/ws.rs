//! The websocket scenario: N idle tracking sockets, the server's memory with
//! them open, and how long one order change takes to reach all of them.
//!
//! Sockets are opened (handshake and snapshot) with tungstenite, one task
//! each. For the measurement itself every socket goes back to being a plain
//! TCP stream, and all of them are read by one thread on one poll
//! ([`crate::receive`]), since the server and the load generator share the
//! machine's two cores.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Deserialize;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::api::{Api, Failed, Recorder};
use crate::load::{prepare_catalogue, run_tag};
use crate::procfs::{self, CpuMark};
use crate::receive::Receiver;
use crate::stats::{Ms, Samples};
use crate::target::Target;

/// The websocket test's parameters.
#[derive(Debug, Clone)]
pub(crate) struct WsPlan {
    /// Sockets to open.
    pub(crate) sockets: usize,
    /// Orders they track (socket i tracks order i mod orders); every one of
    /// them is moved to `processing` at once.
    pub(crate) orders: usize,
    /// Connections being opened at the same time.
    pub(crate) connect_concurrency: usize,
    /// Source addresses 127.0.0.1 … 127.0.0.N to spread the sockets over
    /// (more ephemeral ports); 1 leaves the choice to the kernel.
    pub(crate) source_ips: u8,
    /// How long the sockets may take to open, all together.
    pub(crate) connect_timeout: Duration,
    /// How long to wait for the event after the change.
    pub(crate) event_timeout: Duration,
    /// Staff credentials (needed for the transition).
    pub(crate) staff: (String, String),
    /// The server's process id, for its memory.
    pub(crate) server_pid: Option<u32>,
}

/// The one field of a frame the load generator reads; the rest is
/// skipped without allocating, so measuring 10,000 sockets costs the
/// machine (which the server shares) as little as possible.
#[derive(Debug, Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
}

async fn connect(
    target: &Target,
    url: &str,
    source: Option<IpAddr>,
) -> Result<WebSocketStream<TcpStream>, String> {
    let stream = match source {
        Some(ip) => {
            let socket = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
            socket
                .bind(SocketAddr::new(ip, 0))
                .map_err(|e| format!("bind {ip}: {e}"))?;
            socket
                .connect(target.addr)
                .await
                .map_err(|e| format!("connect: {e}"))?
        }
        None => TcpStream::connect(target.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?,
    };
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    // tungstenite's default 128 KiB read buffer is zero-filled on the first
    // read: 1.3 GB for 10,000 sockets. Frames here are a few KiB at most.
    let config = WebSocketConfig::default().read_buffer_size(8 * 1024);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    Ok(ws)
}

/// The next text frame (pings and pongs are skipped).
async fn next_text(
    ws: &mut WebSocketStream<TcpStream>,
) -> Result<(Instant, tokio_tungstenite::tungstenite::Utf8Bytes), String> {
    while let Some(message) = ws.next().await {
        let at = Instant::now();
        match message {
            Ok(Message::Text(text)) => return Ok((at, text)),
            Ok(Message::Close(frame)) => return Err(format!("closed by the server: {frame:?}")),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Err("connection ended".into())
}

fn kind_of(text: &str) -> &str {
    serde_json::from_str::<Frame<'_>>(text).map_or("unparsable", |f| f.kind)
}

/// The soft limit on open files of this process, from `/proc/self/limits`.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Runs the websocket test and prints its report and `ROW|` line.
pub(crate) async fn run(target: &Target, plan: &WsPlan, label: &str) -> Result<(), String> {
    if let Some(limit) = open_files_limit()
        && limit < plan.sockets as u64 + 64
    {
        return Err(format!(
            "{} sockets need more open files than the limit of {limit}: raise it (ulimit -n 65536)",
            plan.sockets
        ));
    }
    let mut setup = Recorder::default();
    let (email, password) = &plan.staff;
    let mut staff = Api::new(target)?;
    staff
        .login(email, password, &mut setup)
        .await
        .map_err(|Failed(e)| format!("staff login failed: {e}"))?;
    let (products, currency) =
        prepare_catalogue(target, Some(&plan.staff), 1_000_000, &mut setup).await?;

    // One customer places the orders that every socket tracks.
    let tag = run_tag();
    let mut customer = Api::new(target)?;
    let customer_email = format!("loadgen-ws-{tag}@example.com");
    customer
        .register(&customer_email, "loadgen-password-1", &mut setup)
        .await
        .map_err(|Failed(e)| format!("cannot register: {e}"))?;
    let mut orders = Vec::with_capacity(plan.orders);
    for i in 0..plan.orders {
        let fail = |Failed(e)| format!("cannot place order {i}: {e}");
        let cart = customer
            .create_cart(&currency, &mut setup)
            .await
            .map_err(fail)?;
        customer
            .add_item(&cart, &products[i % products.len()].id, 1, &mut setup)
            .await
            .map_err(fail)?;
        let key = format!("lg-ws-{tag}-{i}");
        orders.push(
            customer
                .checkout(&cart, &customer_email, &key, &mut setup)
                .await
                .map_err(fail)?,
        );
    }
    let token = customer
        .token()
        .ok_or("no token after registration")?
        .to_owned();

    let rss = |what: &str| {
        plan.server_pid
            .map(|pid| procfs::rss_kib(pid).map_err(|e| format!("{what}: {e}")))
            .transpose()
    };
    let rss_before = rss("server RSS before")?;

    // Open the sockets, a bounded number at a time.
    let gate = Arc::new(Semaphore::new(plan.connect_concurrency.max(1)));
    let (ready_tx, mut ready_rx) =
        mpsc::unbounded_channel::<Result<(Duration, TcpStream), String>>();
    let opening = Instant::now();
    let mut tasks = Vec::with_capacity(plan.sockets);
    for i in 0..plan.sockets {
        let url = target.ws(&format!(
            "/api/orders/{}/track?access_token={token}",
            orders[i % orders.len()]
        ));
        let source = (plan.source_ips > 1 && target.addr.is_ipv4()).then(|| {
            IpAddr::V4(Ipv4Addr::new(
                127,
                0,
                0,
                1 + u8::try_from(i % usize::from(plan.source_ips)).unwrap_or(0),
            ))
        });
        let (gate, ready_tx) = (Arc::clone(&gate), ready_tx.clone());
        let target = target.clone();
        let connect_timeout = plan.connect_timeout;
        tasks.push(tokio::spawn(async move {
            let opened = async {
                let _permit = gate.acquire().await.map_err(|e| e.to_string())?;
                let t = Instant::now();
                let mut ws = connect(&target, &url, source).await?;
                let (_, first) = next_text(&mut ws).await?;
                let kind = kind_of(&first);
                if kind != "snapshot" {
                    return Err(format!("first frame was {kind:?}, not a snapshot"));
                }
                Ok((ws, t.elapsed()))
            };
            let _ = ready_tx.send(match tokio::time::timeout(connect_timeout, opened).await {
                // Nothing but the snapshot has been sent yet, so tungstenite
                // holds no unread bytes: the raw stream is at a frame boundary.
                Ok(Ok((ws, took))) => Ok((took, ws.into_inner())),
                Ok(Err(e)) => Err(e),
                Err(_) => Err("timed out opening".into()),
            });
        }));
    }
    drop(ready_tx);

    let mut streams = Vec::with_capacity(plan.sockets);
    let mut connect_times = Samples::default();
    let mut open_failures: Vec<String> = Vec::new();
    let open_deadline = tokio::time::Instant::now() + plan.connect_timeout + Duration::from_secs(5);
    while connect_times.len() + open_failures.len() < plan.sockets {
        match tokio::time::timeout_at(open_deadline, ready_rx.recv()).await {
            Ok(Some(Ok((took, stream)))) => {
                connect_times.push(took);
                streams.push(stream);
            }
            Ok(Some(Err(e))) => open_failures.push(e),
            Ok(None) | Err(_) => break,
        }
    }
    let opened = connect_times.len();
    let open_time = opening.elapsed();
    println!(
        "websockets: {opened} of {} open with their snapshot in {:.2} s ({} failed)",
        plan.sockets,
        open_time.as_secs_f64(),
        open_failures.len()
    );
    if let Some(first) = open_failures.first() {
        println!("  first failure: {first}");
    }
    if let Some(s) = connect_times.summary() {
        println!(
            "  open + snapshot: p50 {} ms, p99 {} ms, max {} ms",
            Ms(s.p50),
            Ms(s.p99),
            Ms(s.max)
        );
    }
    if opened == 0 {
        return Err("no websocket opened".into());
    }

    // Let the server settle, then read its memory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss("server RSS with the sockets open")?;
    let own_rss = procfs::rss_kib(std::process::id()).ok();

    // Every socket waits for its next frame on one poll, in a thread of its
    // own; whatever is already there (a ping) is handled before the clock
    // starts.
    let std_streams = streams
        .into_iter()
        .map(|stream| stream.into_std())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot take a socket off the runtime: {e}"))?;
    let mut receiver =
        Receiver::new(std_streams).map_err(|e| format!("cannot poll the sockets: {e}"))?;
    receiver
        .poll_now()
        .map_err(|e| format!("cannot poll the sockets: {e}"))?;
    let event_timeout = plan.event_timeout;
    let receiving = tokio::task::spawn_blocking(move || {
        let outcome = receiver.run_until(Instant::now() + event_timeout);
        (outcome, receiver)
    });

    // The change, timed from just before the request.
    let mut posts = Recorder::default();
    let cpu_start = CpuMark::now(plan.server_pid);
    let t0 = Instant::now();
    let mut changes = Vec::new();
    for order in &orders {
        let staff = staff.clone();
        let order = order.clone();
        changes.push(tokio::spawn(async move {
            let mut rec = Recorder::default();
            let result = staff.transition(&order, "processing", &mut rec).await;
            (rec, result, Instant::now())
        }));
    }

    let (outcome, receiver) = receiving.await.map_err(|e| e.to_string())?;
    outcome.map_err(|e| format!("polling the sockets failed: {e}"))?;
    let fan_out_wall = t0.elapsed();
    let cpu = cpu_start.shares(&CpuMark::now(plan.server_pid), fan_out_wall);
    let mut fan_out = Samples::default();
    let mut missed: Vec<String> = Vec::new();
    for (at, frame) in receiver.finish().into_iter().flatten() {
        match frame {
            Ok(text) => match kind_of(&String::from_utf8_lossy(&text)) {
                "event" => fan_out.push(at.saturating_duration_since(t0)),
                other => missed.push(format!("a {other:?} frame instead of the event")),
            },
            Err(e) => missed.push(e),
        }
    }
    let timed_out = opened - fan_out.len() - missed.len();

    let mut post_took = Duration::ZERO;
    for change in changes {
        let (rec, result, done) = change.await.map_err(|e| e.to_string())?;
        posts.absorb(rec);
        post_took = post_took.max(done.saturating_duration_since(t0));
        if let Err(Failed(e)) = result {
            return Err(format!("the transition failed: {e}"));
        }
    }

    drop(tasks);

    let per_socket = match (rss_before, rss_after) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b) as f64 / opened as f64),
        _ => None,
    };
    let rss_text = match (rss_before, rss_after) {
        (Some(b), Some(a)) => format!(
            "server RSS {} with {opened} sockets ({} before, {:.1} KiB per socket)",
            mib(a),
            mib(b),
            per_socket.unwrap_or(0.0)
        ),
        _ => "server RSS not read (no --server-pid)".to_owned(),
    };
    println!("  {rss_text}");
    if let Some(own) = own_rss {
        println!("  load generator RSS {}", mib(own));
    }
    println!(
        "  transition POST answered in {} ms; event reached {} of {opened} sockets ({} failed, {timed_out} timed out)",
        Ms(post_took),
        fan_out.len(),
        missed.len(),
    );
    if let Some(first) = missed.first() {
        println!("  first miss: {first}");
    }
    let summary = fan_out.summary();
    if let Some(s) = summary {
        println!(
            "  fan-out (from just before the POST to each socket's frame): p50 {} ms, p99 {} ms, max {} ms",
            Ms(s.p50),
            Ms(s.p99),
            Ms(s.max)
        );
    }
    let cpu_ms = |share: Option<f64>| {
        share.map_or("?".to_owned(), |s| {
            format!("{:.0} ms", s * fan_out_wall.as_secs_f64() * 1000.0)
        })
    };
    println!(
        "  CPU used from the POST to the last frame ({:.0} ms): server {}, load generator {}",
        fan_out_wall.as_secs_f64() * 1000.0,
        cpu_ms(cpu.server),
        cpu_ms(cpu.own)
    );
    for (kind, count, message) in setup.failures.iter().chain(posts.failures.iter()) {
        println!("  failed: {kind} ×{count} (first: {message})");
    }
    let connect = connect_times.summary();
    println!(
        "ROW| {label} | websockets: {} idle, 1 change, fan-out | {} | {} got it | — | {} | {} | open+snapshot {}/{}, all open in {:.1} s; transition POST {} | {rss_text}; CPU during the fan-out: server {}, loadgen {} | {} |",
        plan.sockets,
        plan.sockets,
        fan_out.len(),
        summary.map_or("—".to_owned(), |s| Ms(s.p50).to_string()),
        summary.map_or("—".to_owned(), |s| Ms(s.p99).to_string()),
        connect.map_or("—".to_owned(), |s| Ms(s.p50).to_string()),
        connect.map_or("—".to_owned(), |s| Ms(s.p99).to_string()),
        open_time.as_secs_f64(),
        Ms(post_took),
        cpu_ms(cpu.server),
        cpu_ms(cpu.own),
        open_failures.len() + missed.len() + timed_out,
    );
    Ok(())
}
