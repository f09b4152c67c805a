//! `kill -9` in the middle of batched checkouts on a SQLite file.
//!
//! A child process (this test binary, running the ignored test `child`)
//! places checkouts from 32 tasks at once and prints `ACK <order id>` the
//! moment the store answers each one, and from time to time how its writes
//! were batched. The parent kills it with SIGKILL after some hundreds of
//! answers, then opens the file: every acknowledged order is there with
//! its lines and first event, the stock taken equals the units ordered,
//! order numbers run without gaps, every checked-out cart made one order,
//! and the file is intact. Three rounds on the same file; the writes must
//! have shared batches.
#![cfg(feature = "sqlite")]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use orders_core::ids::{CustomerId, ProductId};
use orders_core::ports::Store;
use orders_core::testkit::{cart_with, engine, form, product};
use orders_sqlx::SqliteStore;

const ROUNDS: usize = 3;
const TASKS: usize = 32;
/// Answers the parent waits for before the kill.
const ACKS_BEFORE_KILL: usize = 300;
const STOCK: u32 = 1_000_000;

const DB_VAR: &str = "ORDERS_KILL_CHILD_DB";
const PRODUCTS_VAR: &str = "ORDERS_KILL_CHILD_PRODUCTS";

/// The child: checkouts until killed. Does nothing unless started by the
/// parent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by killed_mid_batch_loses_no_acknowledged_write"]
async fn child() {
    let (Ok(path), Ok(products)) = (std::env::var(DB_VAR), std::env::var(PRODUCTS_VAR)) else {
        return;
    };
    let products: Vec<ProductId> = products
        .split(',')
        .map(|p| ProductId::parse(p).expect("product id"))
        .collect();
    let store = Arc::new(
        SqliteStore::connect(&format!("sqlite://{path}"))
            .await
            .expect("open"),
    );
    let dyn_store: Arc<dyn Store> = store.clone();
    let (orders, _) = engine(dyn_store);
    let pid = std::process::id();
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let (orders, store, products) = (orders.clone(), store.clone(), products.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0.. {
                let who = CustomerId::parse(&format!("kill-{pid}-{task}-{n}")).expect("id");
                let a = &products[n % products.len()];
                let b = &products[(n + task) % products.len()];
                let cart = cart_with(&orders, &who, &[(a, 1), (b, 2)]).await;
                let placed = orders
                    .checkout(&who, &cart, form(None), None)
                    .await
                    .expect("checkout");
                println!("ACK {}", placed.order.id());
                if n % 8 == 0 {
                    let b = store.write_batches();
                    println!("BATCHES {} {}", b.batches, b.writes);
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
}

/// What the file holds after a kill.
async fn audit(path: &str, products: &[ProductId], acked: &[String]) -> usize {
    let store = SqliteStore::connect(&format!("sqlite://{path}"))
        .await
        .expect("reopen");
    let pool = store.pool();
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(pool)
        .await
        .expect("integrity");
    assert_eq!(check, "ok");
    for p in products {
        let stock: i64 = sqlx::query_scalar("SELECT stock FROM orders_products WHERE id = ?")
            .bind(p.as_str())
            .fetch_one(pool)
            .await
            .expect("stock");
        let sold: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(quantity), 0) FROM orders_order_lines WHERE product_id = ?",
        )
        .bind(p.as_str())
        .fetch_one(pool)
        .await
        .expect("sold");
        assert_eq!(stock + sold, i64::from(STOCK), "stock of {p} is exact");
    }
    let acked_json = serde_json::to_string(acked).expect("json");
    let found: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM orders_orders WHERE id IN (SELECT value FROM json_each(?))",
    )
    .bind(&acked_json)
    .fetch_one(pool)
    .await
    .expect("acked");
    assert_eq!(
        found as usize,
        acked.len(),
        "every acknowledged order exists"
    );
    let (orders, max): (i64, Option<i64>) =
        sqlx::query_as("SELECT count(*), max(number) FROM orders_orders")
            .fetch_one(pool)
            .await
            .expect("numbers");
    assert_eq!(max.unwrap_or(0), orders, "numbers without gaps");
    let incomplete: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM orders_orders o
         WHERE NOT EXISTS (SELECT 1 FROM orders_order_lines l WHERE l.order_id = o.id)
            OR NOT EXISTS (SELECT 1 FROM orders_order_events e WHERE e.order_id = o.id)",
    )
    .fetch_one(pool)
    .await
    .expect("incomplete");
    assert_eq!(incomplete, 0, "every order has its lines and first event");
    let checked_out: i64 =
        sqlx::query_scalar("SELECT count(*) FROM orders_carts WHERE status = 'checked_out'")
            .fetch_one(pool)
            .await
            .expect("carts");
    assert_eq!(checked_out, orders, "every checked-out cart made one order");
    store.close().await;
    usize::try_from(orders).expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_batch_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("orders.db").display().to_string();
    let products = {
        let store = SqliteStore::connect(&format!("sqlite://{path}"))
            .await
            .expect("open");
        store.migrate().await.expect("migrate");
        let (orders, _) = engine(Arc::new(store.clone()));
        let mut products = Vec::new();
        for _ in 0..4 {
            products.push(product(&orders, "2.50", STOCK).await.id().clone());
        }
        store.close().await;
        products
    };
    let list = products
        .iter()
        .map(ProductId::as_str)
        .collect::<Vec<_>>()
        .join(",");
    let mut acked = Vec::new();
    for round in 1..=ROUNDS {
        let exe = std::env::current_exe().expect("test binary");
        let mut child = Command::new(exe)
            .args([
                "child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DB_VAR, &path)
            .env(PRODUCTS_VAR, &list)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the child");
        let stdout = child.stdout.take().expect("stdout");
        let (mut round_acks, mut batches) = (0, (0_u64, 0_u64));
        let reader = tokio::task::spawn_blocking(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let ack = line.starts_with("ACK ");
                lines.push(line);
                if ack && lines.iter().filter(|l| l.starts_with("ACK ")).count() >= ACKS_BEFORE_KILL
                {
                    break;
                }
            }
            lines
        });
        let lines = tokio::time::timeout(std::time::Duration::from_secs(120), reader)
            .await
            .expect("the child answers")
            .expect("reader");
        // SIGKILL: no chance to finish anything.
        child.kill().expect("kill -9");
        child.wait().expect("wait");
        for line in lines {
            if let Some(id) = line.strip_prefix("ACK ") {
                acked.push(id.to_owned());
                round_acks += 1;
            } else if let Some(figures) = line.strip_prefix("BATCHES ") {
                let mut it = figures
                    .split(' ')
                    .map(|f| f.parse::<u64>().expect("figure"));
                batches = (it.next().expect("batches"), it.next().expect("writes"));
            }
        }
        assert_eq!(round_acks, ACKS_BEFORE_KILL, "round {round}");
        let orders = audit(&path, &products, &acked).await;
        assert!(orders >= acked.len());
        assert!(
            batches.1 > batches.0,
            "round {round}: {} writes in {} batches: none shared a batch",
            batches.1,
            batches.0
        );
        println!(
            "round {round}: {} acknowledged, {orders} orders stored; child wrote {} writes in {} batches",
            acked.len(),
            batches.1,
            batches.0
        );
    }
}
