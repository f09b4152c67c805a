//! Checkout throughput through the engine's facade, with 3-line carts
//! prepared beforehand, at 8 and 32 concurrent tasks, on SQLite (a
//! temporary file) and PostgreSQL (a fresh database, dropped afterwards).
//!
//! ```text
//! cargo run --release -p orders-sqlx --all-features --example checkout_throughput [CHECKOUTS]
//! ```
//!
//! PostgreSQL comes from `ORDERS_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); it is skipped if
//! unreachable. Its pool has `2 × cores + 2` connections unless
//! `BENCH_PG_POOL` says otherwise. `BENCH_ONLY=sqlite` or
//! `BENCH_ONLY=postgres` runs one backend.
//!
//! Prints checkouts/s, p50/p99 latency and the CPU time spent per checkout
//! by this process (`app`, which includes SQLite) and by the PostgreSQL
//! server's processes of the database (`db`, read from `/proc`: a server on
//! this machine), per configuration. `benches/sqlx-checkout.sh` runs it
//! beside `pgbench` and prints the table of `BENCHMARKS.md`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use orders_core::ids::{CartId, CustomerId};
use orders_core::ports::Store;
use orders_core::testkit::{cart_with, engine, form, product};
use orders_sqlx::{PgStore, SqliteStore};
use sqlx::postgres::PgPool;
use sqlx::{Connection, PgConnection};

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let checkouts: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = Arc::new(SqliteStore::connect(&url).await.expect("sqlite"));
    store.migrate().await.expect("migrate");
    let sqlite: Arc<dyn Store> = store.clone();
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    for tasks in [8, 32] {
        if only.is_empty() || only == "sqlite" {
            let before = store.write_batches();
            run("sqlite", sqlite.clone(), None, tasks, checkouts).await;
            let after = store.write_batches();
            let (writes, batches) = (after.writes - before.writes, after.batches - before.batches);
            println!(
                "  sqlite tasks={tasks:>2}: {writes} writes (set-up included) in {batches} batches, {:.1} a batch",
                writes as f64 / batches.max(1) as f64
            );
        }
    }
    if only == "sqlite" {
        return;
    }

    let admin_url = std::env::var("ORDERS_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let Ok(mut admin) = PgConnection::connect(&admin_url).await else {
        println!("postgres: skipped (unreachable at {admin_url})");
        return;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let name = format!("orders_test_{now}_bench_{}", std::process::id());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await
        .expect("create");
    let db_url = match admin_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => admin_url.clone(),
    };
    {
        let options = db_url.parse().expect("url");
        // Sized to the machine the server runs on (here, the same one): two
        // connections per core working, plus the two the store leaves free
        // for calls outside its kept connections. More connections than
        // cores can run only add lock waits and context switches.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
        let connections = std::env::var("BENCH_PG_POOL")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(2 * cores + 2);
        let pool = PgStore::default_pool_options().max_connections(connections);
        println!("postgres: pool of {connections} connections");
        let pg = PgStore::connect_with(options, pool)
            .await
            .expect("postgres");
        pg.migrate().await.expect("migrate");
        let pg = Arc::new(pg);
        for tasks in [8, 32] {
            run("postgres", pg.clone(), Some(pg.pool()), tasks, checkouts).await;
        }
        pg.close().await;
    }
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .expect("drop");
}

/// Checks out `checkouts` prepared carts with `tasks` concurrent tasks and
/// prints throughput, latency and the CPU time spent per checkout by this
/// process and (PostgreSQL) by the server's backends of `server`'s database.
async fn run(
    backend: &str,
    store: Arc<dyn Store>,
    server: Option<&PgPool>,
    tasks: usize,
    checkouts: usize,
) {
    let (orders, _) = engine(store);
    let mut products = Vec::new();
    for _ in 0..30 {
        products.push(product(&orders, "3.50", 1_000_000).await.id().clone());
    }
    let mut carts: Vec<(CustomerId, CartId)> = Vec::with_capacity(checkouts);
    for n in 0..checkouts {
        let who = CustomerId::parse(&format!("bench-{tasks}-{n}-{}", products[0])).expect("id");
        let lines = [
            (&products[n % 30], 1),
            (&products[(n + 7) % 30], 2),
            (&products[(n + 19) % 30], 1),
        ];
        carts.push((who.clone(), cart_with(&orders, &who, &lines).await));
    }
    let carts = Arc::new(carts);
    let next = Arc::new(AtomicUsize::new(0));
    let app_before = cpu_ticks("self");
    let db_before = match server {
        Some(pool) => backend_ticks(pool).await,
        None => HashMap::new(),
    };
    let started = Instant::now();
    let workers: Vec<_> = (0..tasks)
        .map(|_| {
            let (orders, carts, next) = (orders.clone(), carts.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((who, cart)) = carts.get(i) else {
                        break;
                    };
                    let t = Instant::now();
                    orders
                        .checkout(who, cart, form(Some("4242424242424242")), None)
                        .await
                        .expect("checkout");
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = Vec::with_capacity(checkouts);
    for worker in workers {
        latencies.extend(worker.await.expect("worker"));
    }
    let elapsed = started.elapsed();
    let app = cpu_ticks("self").zip(app_before).map(|(b, a)| b - a);
    let db: u64 = match server {
        Some(pool) => backend_ticks(pool)
            .await
            .iter()
            .map(|(pid, after)| after - db_before.get(pid).copied().unwrap_or(0))
            .sum(),
        None => 0,
    };
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "{backend:>8} tasks={tasks:>2} checkouts={:>5} {:>8.0} checkouts/s  p50={:>7.2} ms  p99={:>7.2} ms  \
         cpu/checkout: app={} db={}",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        per_checkout(app, checkouts),
        per_checkout(server.map(|_| db), checkouts),
    );
}

/// Clock ticks (1/100 s on Linux) of CPU a process has used, user and
/// system, from `/proc/<pid>/stat`; `None` where there is no `/proc`.
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces), from field 3.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// CPU ticks of each server process serving `pool`'s database (a server on
/// this machine).
async fn backend_ticks(pool: &PgPool) -> HashMap<i32, u64> {
    let pids: Vec<i32> =
        sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            .fetch_all(pool)
            .await
            .unwrap_or_default();
    pids.into_iter()
        .filter_map(|pid| Some((pid, cpu_ticks(&pid.to_string())?)))
        .collect()
}

fn per_checkout(ticks: Option<u64>, checkouts: usize) -> String {
    match ticks {
        Some(t) => format!("{:.0}µs", t as f64 * 10_000.0 / checkouts as f64),
        None => "n/a".to_owned(),
    }
}
