//! The websocket scenario: N idle tracking sockets, the server's memory with
//! them open, and how long one order change takes to reach all of them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Deserialize;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::api::{Api, Failed, Recorder};
use crate::load::{prepare_catalogue, run_tag};
use crate::procfs::{self, CpuMark};
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

/// What happened to one socket.
enum Arrival {
    /// The event frame arrived at this instant.
    Event(Instant),
    /// Something else: a wrong frame, an error, the socket closed.
    Failed(String),
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
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<Result<Duration, String>>();
    let (arrival_tx, mut arrival_rx) = mpsc::unbounded_channel::<Arrival>();
    let (stop_tx, stop_rx) = watch::channel(false);
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
        let (gate, ready_tx, arrival_tx) =
            (Arc::clone(&gate), ready_tx.clone(), arrival_tx.clone());
        let target = target.clone();
        let mut stop = stop_rx.clone();
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
            let mut ws = match tokio::time::timeout(connect_timeout, opened).await {
                Ok(Ok((ws, took))) => {
                    let _ = ready_tx.send(Ok(took));
                    ws
                }
                Ok(Err(e)) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
                Err(_) => {
                    let _ = ready_tx.send(Err("timed out opening".into()));
                    return;
                }
            };
            drop(ready_tx);
            tokio::select! {
                frame = next_text(&mut ws) => {
                    let arrival = match frame {
                        Ok((at, text)) => match kind_of(&text) {
                            "event" => Arrival::Event(at),
                            other => Arrival::Failed(format!("a {other:?} frame instead of the event")),
                        },
                        Err(e) => Arrival::Failed(e),
                    };
                    let _ = arrival_tx.send(arrival);
                }
                _ = stop.changed() => return,
            }
            // Stay connected until every socket is measured.
            let _ = stop.changed().await;
            let _ = ws.close(None).await;
        }));
    }
    drop((ready_tx, arrival_tx));

    let mut connect_times = Samples::default();
    let mut open_failures: Vec<String> = Vec::new();
    let open_deadline = tokio::time::Instant::now() + plan.connect_timeout + Duration::from_secs(5);
    while connect_times.len() + open_failures.len() < plan.sockets {
        match tokio::time::timeout_at(open_deadline, ready_rx.recv()).await {
            Ok(Some(Ok(took))) => connect_times.push(took),
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
        let _ = stop_tx.send(true);
        return Err("no websocket opened".into());
    }

    // Let the server settle, then read its memory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss("server RSS with the sockets open")?;
    let own_rss = procfs::rss_kib(std::process::id()).ok();

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
            (rec, result)
        }));
    }
    for change in changes {
        let (rec, result) = change.await.map_err(|e| e.to_string())?;
        posts.absorb(rec);
        if let Err(Failed(e)) = result {
            let _ = stop_tx.send(true);
            return Err(format!("the transition failed: {e}"));
        }
    }
    let post_took = t0.elapsed();

    let mut fan_out = Samples::default();
    let mut missed: Vec<String> = Vec::new();
    let event_deadline = tokio::time::Instant::now() + plan.event_timeout;
    while fan_out.len() + missed.len() < opened {
        match tokio::time::timeout_at(event_deadline, arrival_rx.recv()).await {
            Ok(Some(Arrival::Event(at))) => fan_out.push(at.saturating_duration_since(t0)),
            Ok(Some(Arrival::Failed(e))) => missed.push(e),
            Ok(None) | Err(_) => break,
        }
    }
    let fan_out_wall = t0.elapsed();
    let cpu = cpu_start.shares(&CpuMark::now(plan.server_pid), fan_out_wall);
    let timed_out = opened - fan_out.len() - missed.len();
    let _ = stop_tx.send(true);
    // Close politely, but never wait long for it.
    let closing = futures_util::future::join_all(tasks);
    let _ = tokio::time::timeout(Duration::from_secs(20), closing).await;

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
