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
//! unreachable. Prints checkouts/s and p50/p99 latency per configuration.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use orders_core::ids::{CartId, CustomerId};
use orders_core::ports::Store;
use orders_core::testkit::{cart_with, engine, form, product};
use orders_sqlx::{PgStore, SqliteStore};
use sqlx::{Connection, PgConnection};

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let checkouts: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let sqlite = SqliteStore::connect(&url).await.expect("sqlite");
    sqlite.migrate().await.expect("migrate");
    let sqlite: Arc<dyn Store> = Arc::new(sqlite);
    for tasks in [8, 32] {
        run("sqlite", sqlite.clone(), tasks, checkouts).await;
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
        let pool = sqlx::postgres::PgPoolOptions::new().max_connections(32);
        let pg = PgStore::connect_with(options, pool)
            .await
            .expect("postgres");
        pg.migrate().await.expect("migrate");
        let pg = Arc::new(pg);
        for tasks in [8, 32] {
            run("postgres", pg.clone(), tasks, checkouts).await;
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

async fn run(backend: &str, store: Arc<dyn Store>, tasks: usize, checkouts: usize) {
    let (orders, _) = engine(store);
    let mut products = Vec::new();
    for _ in 0..30 {
        products.push(product(&orders, "3.50", 1_000_000).await.id);
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
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "{backend:>8} tasks={tasks:>2} checkouts={:>5} {:>8.0} checkouts/s  p50={:>7.2} ms  p99={:>7.2} ms",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
    );
}
