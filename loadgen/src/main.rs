//! `orders-loadgen`: drives the customer journey of `orders-server`'s JSON
//! API (`shared/API.md`) with N concurrent customers and reports
//! journeys per second and p50/p99 latencies, of whole journeys and of each
//! request type; or opens N idle tracking websockets and measures the
//! server's memory and the fan-out time of one order change.
//!
//! It is bounded: every loop stops by a count or a duration (at most an
//! hour), and it talks to one loopback `http://` URL, refusing any other.
//!
//! ```sh
//! orders-loadgen --url http://127.0.0.1:8080 --staff-email s@example.com \
//!     --staff-password secret123 a --clients 32 --duration 10
//! orders-loadgen --url http://127.0.0.1:8080 --server-pid 1234 \
//!     --staff-email s@example.com --staff-password secret123 websockets --sockets 10000
//! ```
//!
//! Each customer registers its own account first (setup, not timed). With a
//! staff account the products are restocked before the run, since the demo
//! catalogue's stock would run out within seconds.
#![forbid(unsafe_code)]

mod api;
mod load;
mod procfs;
mod receive;
mod stats;
mod target;
mod ws;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::load::{Plan, Scenario};
use crate::target::Target;
use crate::ws::WsPlan;

/// The longest any run may last.
const MAX_SECONDS: f64 = 3600.0;

/// Load generator for orders-server (loopback targets only).
#[derive(Debug, Parser)]
#[command(name = "orders-loadgen", version, about)]
struct Cli {
    /// The server's base URL; must be a loopback address (127.0.0.0/8, ::1, localhost).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The server's process id: its CPU share (and, for websockets, its RSS) is reported.
    #[arg(long)]
    server_pid: Option<u32>,
    /// A staff account's email: used to restock products and to make the transition.
    #[arg(long, env = "ORDERS_LOADGEN_STAFF_EMAIL")]
    staff_email: Option<String>,
    /// The staff account's password.
    #[arg(long, env = "ORDERS_LOADGEN_STAFF_PASSWORD", hide_env_values = true)]
    staff_password: Option<String>,
    /// A label for the first column of the `ROW|` line (e.g. the backend).
    #[arg(long, default_value = "")]
    label: String,
    /// The scenario.
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Journey A: create a cart, add one product with quantity 2, check out by card.
    A(LoadArgs),
    /// Journey B: create a cart, add three products, check out by card.
    B(LoadArgs),
    /// Reads: GET /api/products, then GET /api/orders/{id} of one's own order.
    Reads(LoadArgs),
    /// Open N idle tracking websockets, read the server's RSS, change one order
    /// and time the event's arrival on every socket.
    Websockets(WsArgs),
}

#[derive(Debug, Args)]
struct LoadArgs {
    /// Concurrent customers (1 to 1000), each with its own account and connection.
    #[arg(long, default_value_t = 1)]
    clients: usize,
    /// Seconds after which no journey starts (default 10 unless --count is given; at most 3600).
    #[arg(long)]
    duration: Option<f64>,
    /// Stop after this many journeys over all customers (still at most 3600 s).
    #[arg(long)]
    count: Option<u64>,
    /// With a staff account, raise each product's stock to this before the run.
    #[arg(long, default_value_t = 100_000_000)]
    restock: u64,
}

#[derive(Debug, Args)]
struct WsArgs {
    /// Idle tracking websockets to open (1 to 200000; more than about 28,000
    /// need --source-ips, and both processes need the open-files limit).
    #[arg(long, default_value_t = 1000)]
    sockets: usize,
    /// Orders the sockets track (socket i tracks order i mod N); all of them change at once.
    #[arg(long, default_value_t = 1)]
    orders: usize,
    /// When not 0: this many sockets follow the first order, the only one
    /// changed, and the others follow the other `--orders` (at least 2
    /// then) and must receive nothing.
    #[arg(long, default_value_t = 0)]
    followers: usize,
    /// Sockets being opened at the same time.
    #[arg(long, default_value_t = 200)]
    connect_concurrency: usize,
    /// Spread the sockets over source addresses 127.0.0.1 … 127.0.0.N (IPv4 only).
    #[arg(long, default_value_t = 1)]
    source_ips: u8,
    /// Seconds the sockets may take to open, all together.
    #[arg(long, default_value_t = 300.0)]
    connect_timeout: f64,
    /// Seconds to wait for the event after the change.
    #[arg(long, default_value_t = 30.0)]
    event_timeout: f64,
    /// Changes to time one after the other (processing, shipped, delivered,
    /// refunded): 1 to 4; the report's row shows the round of median p99.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Make the changes through this server instead (another instance on
    /// the same database, loopback only), so every event crosses instances.
    #[arg(long)]
    change_url: Option<String>,
}

fn seconds(value: f64, what: &str) -> Result<Duration, String> {
    if !(value > 0.0 && value <= MAX_SECONDS) {
        return Err(format!(
            "{what} must be between 0 and {MAX_SECONDS} seconds"
        ));
    }
    Ok(Duration::from_secs_f64(value))
}

fn staff(cli: &Cli) -> Option<(String, String)> {
    Some((cli.staff_email.clone()?, cli.staff_password.clone()?))
}

async fn run(cli: Cli) -> Result<(), String> {
    let target = Target::parse(&cli.url)?;
    let (scenario, args) = match &cli.command {
        Command::A(args) => (Scenario::A, args),
        Command::B(args) => (Scenario::B, args),
        Command::Reads(args) => (Scenario::Reads, args),
        Command::Websockets(args) => {
            if !(1..=200_000).contains(&args.sockets) || !(1..=1000).contains(&args.orders) {
                return Err("--sockets must be 1 to 200000 and --orders 1 to 1000".into());
            }
            if args.followers > args.sockets
                || (args.followers > 0 && args.followers < args.sockets && args.orders < 2)
            {
                return Err(
                    "--followers must be at most --sockets, and the others need --orders 2 or more"
                        .into(),
                );
            }
            if !(1..=ws::MAX_ROUNDS).contains(&args.rounds) {
                return Err(format!("--rounds must be 1 to {}", ws::MAX_ROUNDS));
            }
            let plan = WsPlan {
                sockets: args.sockets,
                orders: args.orders,
                followers: args.followers,
                connect_concurrency: args.connect_concurrency,
                source_ips: args.source_ips.max(1),
                connect_timeout: seconds(args.connect_timeout, "--connect-timeout")?,
                event_timeout: seconds(args.event_timeout, "--event-timeout")?,
                rounds: args.rounds,
                staff: staff(&cli).ok_or("websockets need --staff-email and --staff-password")?,
                server_pid: cli.server_pid,
                change_via: args.change_url.as_deref().map(Target::parse).transpose()?,
            };
            return ws::run(&target, &plan, &cli.label).await;
        }
    };
    if !(1..=1000).contains(&args.clients) {
        return Err("--clients must be 1 to 1000".into());
    }
    let duration = match (args.duration, args.count) {
        (Some(d), _) => seconds(d, "--duration")?,
        (None, Some(_)) => Duration::from_secs_f64(MAX_SECONDS),
        (None, None) => Duration::from_secs(10),
    };
    let plan = Plan {
        clients: args.clients,
        duration,
        count: args.count,
        restock: args.restock,
        staff: staff(&cli),
        server_pid: cli.server_pid,
    };
    let outcome = load::run(&target, scenario, &plan).await?;
    load::print(&outcome, &cli.label);
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // Do not wait for stragglers (sockets still closing) at exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
