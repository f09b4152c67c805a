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
    /// When not 0: this many sockets follow the first order, the only one
    /// changed; the others follow the other orders (round robin), are not
    /// timed, and must receive nothing.
    pub(crate) followers: usize,
    /// Connections being opened at the same time.
    pub(crate) connect_concurrency: usize,
    /// Source addresses 127.0.0.1 … 127.0.0.N to spread the sockets over
    /// (more ephemeral ports); 1 leaves the choice to the kernel.
    pub(crate) source_ips: u8,
    /// How long the sockets may take to open, all together.
    pub(crate) connect_timeout: Duration,
    /// How long to wait for the event after each change.
    pub(crate) event_timeout: Duration,
    /// Changes to make one after the other, each timed on its own (1 to
    /// [`MAX_ROUNDS`]).
    pub(crate) rounds: usize,
    /// Staff credentials (needed for the transition).
    pub(crate) staff: (String, String),
    /// The server's process id, for its memory.
    pub(crate) server_pid: Option<u32>,
    /// Another server on the same database to make the changes through, so
    /// that every event crosses from one instance to the other; `None`:
    /// the sockets' server.
    pub(crate) change_via: Option<Target>,
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

/// The changes of the rounds, in order from a paid order: each is legal
/// after the one before (API.md's lifecycle table).
const TRANSITIONS: [(&str, Option<&str>); 4] = [
    ("processing", None),
    ("shipped", Some("LOADGEN-TRACKING-1")),
    ("delivered", None),
    ("refunded", None),
];

/// The most rounds one run can make.
pub(crate) const MAX_ROUNDS: usize = TRANSITIONS.len();

/// One change of every tracked order, and how it reached the sockets.
struct Round {
    to: &'static str,
    summary: Option<crate::stats::Summary>,
    got: usize,
    missed: Vec<String>,
    /// Sockets with no frame: timed out, or out since an earlier round.
    without: usize,
    post_took: Duration,
    wall: Duration,
    cpu: procfs::CpuShares,
}

impl Round {
    /// A CPU share of the round's wall time, in milliseconds.
    fn cpu_ms(&self, share: Option<f64>) -> String {
        share.map_or("?".to_owned(), |s| {
            format!("{:.0} ms", s * self.wall.as_secs_f64() * 1000.0)
        })
    }
}

/// Moves every order to `to` and times its event's arrival on every
/// socket, the receiver polling in a thread of its own meanwhile.
async fn fan_out_round(
    mut receiver: Receiver,
    staff: &Api,
    orders: &[String],
    to: &'static str,
    tracking: Option<&'static str>,
    plan: &WsPlan,
    posts: &mut Recorder,
) -> Result<(Round, Receiver), String> {
    // Whatever is already there (a ping) is handled before the clock starts.
    receiver
        .poll_now()
        .map_err(|e| format!("cannot poll the sockets: {e}"))?;
    let event_timeout = plan.event_timeout;
    let receiving = tokio::task::spawn_blocking(move || {
        let outcome = receiver.run_until(Instant::now() + event_timeout);
        (outcome, receiver)
    });

    // The change, timed from just before the request.
    let cpu_start = CpuMark::now(plan.server_pid);
    let t0 = Instant::now();
    let mut changes = Vec::new();
    for order in orders {
        let staff = staff.clone();
        let order = order.clone();
        changes.push(tokio::spawn(async move {
            let mut rec = Recorder::default();
            let result = staff.transition(&order, to, tracking, &mut rec).await;
            (rec, result, Instant::now())
        }));
    }

    let (outcome, mut receiver) = receiving.await.map_err(|e| e.to_string())?;
    outcome.map_err(|e| format!("polling the sockets failed: {e}"))?;
    let wall = t0.elapsed();
    let cpu = cpu_start.shares(&CpuMark::now(plan.server_pid), wall);
    let mut fan_out = Samples::default();
    let mut missed: Vec<String> = Vec::new();
    let mut without = 0;
    for arrival in receiver.take_round() {
        match arrival {
            Some((at, Ok(text))) => match kind_of(&String::from_utf8_lossy(&text)) {
                "event" => fan_out.push(at.saturating_duration_since(t0)),
                other => missed.push(format!("a {other:?} frame instead of the event")),
            },
            Some((_, Err(e))) => missed.push(e),
            None => without += 1,
        }
    }

    let mut post_took = Duration::ZERO;
    for change in changes {
        let (rec, result, done) = change.await.map_err(|e| e.to_string())?;
        posts.absorb(rec);
        post_took = post_took.max(done.saturating_duration_since(t0));
        if let Err(Failed(e)) = result {
            return Err(format!("the transition to {to} failed: {e}"));
        }
    }
    let round = Round {
        to,
        summary: fan_out.summary(),
        got: fan_out.len(),
        missed,
        without,
        post_took,
        wall,
        cpu,
    };
    Ok((round, receiver))
}

/// The index in the orders of the order socket `i` follows.
fn order_of(i: usize, plan: &WsPlan) -> usize {
    match plan.followers {
        0 => i % plan.orders,
        hot if i < hot => 0,
        hot => 1 + (i - hot) % (plan.orders - 1).max(1),
    }
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
    let mut staff = Api::new(plan.change_via.as_ref().unwrap_or(target))?;
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
        mpsc::unbounded_channel::<Result<(usize, Duration, TcpStream), String>>();
    let opening = Instant::now();
    let mut tasks = Vec::with_capacity(plan.sockets);
    for i in 0..plan.sockets {
        let url = target.ws(&format!(
            "/api/orders/{}/track?access_token={token}",
            orders[order_of(i, plan)]
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
                Ok(Ok((ws, took))) => Ok((i, took, ws.into_inner())),
                Ok(Err(e)) => Err(e),
                Err(_) => Err("timed out opening".into()),
            });
        }));
    }
    drop(ready_tx);

    let mut streams = Vec::with_capacity(plan.sockets);
    // The sockets following orders that do not change (with --followers).
    let mut bystanders = Vec::new();
    let mut connect_times = Samples::default();
    let mut open_failures: Vec<String> = Vec::new();
    let open_deadline = tokio::time::Instant::now() + plan.connect_timeout + Duration::from_secs(5);
    while connect_times.len() + open_failures.len() < plan.sockets {
        match tokio::time::timeout_at(open_deadline, ready_rx.recv()).await {
            Ok(Some(Ok((i, took, stream)))) => {
                connect_times.push(took);
                if plan.followers > 0 && i >= plan.followers {
                    bystanders.push(stream);
                } else {
                    streams.push(stream);
                }
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
    let off_runtime = |streams: Vec<TcpStream>| {
        streams
            .into_iter()
            .map(|stream| stream.into_std())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("cannot take a socket off the runtime: {e}"))
    };
    let timed = streams.len();
    let mut receiver = Receiver::new(off_runtime(streams)?)
        .map_err(|e| format!("cannot poll the sockets: {e}"))?;
    // The bystanders are polled only after the rounds (their pings wait in
    // the kernel meanwhile): whatever text frame they got then is a miss.
    let mut bystanders = Receiver::new(off_runtime(bystanders)?)
        .map_err(|e| format!("cannot poll the sockets: {e}"))?;
    receiver
        .poll_now()
        .map_err(|e| format!("cannot poll the sockets: {e}"))?;
    let mut posts = Recorder::default();
    let mut rounds: Vec<Round> = Vec::with_capacity(plan.rounds);
    let changed = if plan.followers > 0 {
        &orders[..1]
    } else {
        &orders[..]
    };
    for &(to, tracking) in TRANSITIONS.iter().take(plan.rounds) {
        let (round, back) =
            fan_out_round(receiver, &staff, changed, to, tracking, plan, &mut posts).await?;
        receiver = back;
        rounds.push(round);
    }
    receiver.close();
    bystanders
        .poll_now()
        .map_err(|e| format!("cannot poll the sockets: {e}"))?;
    let bystander_frames = bystanders
        .take_round()
        .into_iter()
        .filter(|arrival| matches!(arrival, Some((_, Ok(_)))))
        .count();
    let bystanders_open = opened - timed;
    bystanders.close();
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
    if plan.followers > 0 {
        println!(
            "  {timed} sockets follow the changed order; {bystanders_open} follow {} others and got {bystander_frames} text frames (expected 0)",
            plan.orders - 1
        );
    }
    if let Some(own) = own_rss {
        println!("  load generator RSS {}", mib(own));
    }
    for (i, r) in rounds.iter().enumerate() {
        println!(
            "  round {} (to {}): POST answered in {} ms; event reached {} of {opened} sockets ({} failed, {} without a frame)",
            i + 1,
            r.to,
            Ms(r.post_took),
            r.got,
            r.missed.len(),
            r.without,
        );
        if let Some(first) = r.missed.first() {
            println!("    first miss: {first}");
        }
        if let Some(s) = r.summary {
            println!(
                "    fan-out (from just before the POST to each socket's frame): p50 {} ms, p99 {} ms, max {} ms",
                Ms(s.p50),
                Ms(s.p99),
                Ms(s.max)
            );
        }
        println!(
            "    CPU used from the POST to the last frame ({:.0} ms): server {}, load generator {}",
            r.wall.as_secs_f64() * 1000.0,
            r.cpu_ms(r.cpu.server),
            r.cpu_ms(r.cpu.own)
        );
    }
    for (kind, count, message) in setup.failures.iter().chain(posts.failures.iter()) {
        println!("  failed: {kind} ×{count} (first: {message})");
    }
    // The row shows the round of median p99 (the machine is shared and
    // noisy; one event is one sample), and every round's p99.
    let mut by_p99: Vec<&Round> = rounds.iter().collect();
    by_p99.sort_by_key(|r| r.summary.map(|s| s.p99));
    let median = by_p99.get(by_p99.len() / 2).copied();
    let summary = median.and_then(|r| r.summary);
    let p99s = rounds
        .iter()
        .map(|r| r.summary.map_or("—".to_owned(), |s| Ms(s.p99).to_string()))
        .collect::<Vec<_>>()
        .join(", ");
    let cpu_text = median.map_or("?".to_owned(), |r| {
        format!(
            "server {}, loadgen {}",
            r.cpu_ms(r.cpu.server),
            r.cpu_ms(r.cpu.own)
        )
    });
    let errors: usize = open_failures.len()
        + bystander_frames
        + rounds
            .iter()
            .map(|r| r.missed.len() + r.without)
            .sum::<usize>();
    let connect = connect_times.summary();
    println!(
        "ROW| {label} | websockets: {} open, {} changes, fan-out (median round) | {timed} | {} got it | — | {} | {} | p99 of each round {p99s}; open+snapshot {}/{}, all open in {:.1} s; transition POST {} | {rss_text}; CPU during the median round's fan-out: {cpu_text} | {errors} |",
        opened,
        rounds.len(),
        median.map_or(0, |r| r.got),
        summary.map_or("—".to_owned(), |s| Ms(s.p50).to_string()),
        summary.map_or("—".to_owned(), |s| Ms(s.p99).to_string()),
        connect.map_or("—".to_owned(), |s| Ms(s.p50).to_string()),
        connect.map_or("—".to_owned(), |s| Ms(s.p99).to_string()),
        open_time.as_secs_f64(),
        median.map_or("—".to_owned(), |r| Ms(r.post_took).to_string()),
    );
    Ok(())
}
