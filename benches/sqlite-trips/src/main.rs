//! The cost of one small SQLite write through sqlx's worker thread, against
//! rusqlite on a thread of its own: the question the performance issue asks
//! before the store's writer is rewritten ("consider rusqlite on a
//! dedicated thread if sqlx's worker stands in the way; measure both").
//!
//! Both writers work as the store's writer task does: they take the writes
//! queued, run them in one transaction (`BEGIN IMMEDIATE` … `COMMIT`), and
//! answer each after the commit. A write is one `UPDATE … RETURNING` on one
//! of 30 rows. T tasks (8 and 32) each wait for their answer before the
//! next write, on a runtime of two threads. WAL, `synchronous = NORMAL`,
//! a temporary file. Two rounds; each prints both writers' writes/s and
//! their ratio.
//!
//! `BUSY_US=N` has each task work N µs on the CPU before each write, as a
//! server's requests do around their writes (the example server spends
//! ~140 µs of CPU a write under journey A): the writer then competes for
//! the two cores with the runtime's threads, as it does in the server.
//!
//! `JOURNEY_DB=FILE` runs journey A's five real writes instead (see
//! `journey`), on copies of FILE, a database the server migrated:
//!
//! ```text
//! cargo run --release --manifest-path benches/sqlite-trips/Cargo.toml
//! BUSY_US=140 cargo run --release --manifest-path benches/sqlite-trips/Cargo.toml
//! orders-server --database-url sqlite:///tmp/schema.db create-superuser --email a@example.com --password password123
//! JOURNEY_DB=/tmp/schema.db BUSY_US=140 cargo run --release --manifest-path benches/sqlite-trips/Cargo.toml
//! ```
#![forbid(unsafe_code)]

mod journey;

use std::str::FromStr;
use std::time::Instant;

use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteSynchronous};
use tokio::sync::{mpsc, oneshot};

/// A write: the row to update, and where its new value goes.
type Write = (i64, oneshot::Sender<i64>);

const UPDATE: &str = "UPDATE t SET v = v + 1 WHERE id = ? RETURNING v";

/// The writer on sqlx: each statement a trip to the connection's thread.
async fn sqlx_writer(path: String, mut writes: mpsc::UnboundedReceiver<Write>) {
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
        .expect("a path")
        .synchronous(SqliteSynchronous::Normal);
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .expect("the database");
    while let Some(first) = writes.recv().await {
        sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut conn)
            .await
            .expect("begin");
        let mut batch = Vec::new();
        let mut next = Some(first);
        while let Some((id, answer)) = next.take() {
            let v: i64 = sqlx::query_scalar(UPDATE)
                .bind(id)
                .fetch_one(&mut conn)
                .await
                .expect("update");
            batch.push((answer, v));
            next = writes.try_recv().ok();
        }
        sqlx::raw_sql("COMMIT")
            .execute(&mut conn)
            .await
            .expect("commit");
        for (answer, v) in batch {
            let _ = answer.send(v);
        }
    }
}

/// The writer on rusqlite, on the calling (dedicated) thread.
fn rusqlite_writer(path: &str, mut writes: mpsc::UnboundedReceiver<Write>) {
    let conn = rusqlite::Connection::open(path).expect("the database");
    conn.pragma_update(None, "synchronous", "NORMAL")
        .expect("synchronous");
    while let Some(first) = writes.blocking_recv() {
        conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
        let mut batch = Vec::new();
        {
            let mut update = conn.prepare_cached(UPDATE).expect("prepare");
            let mut next = Some(first);
            while let Some((id, answer)) = next.take() {
                let v: i64 = update.query_row([id], |r| r.get(0)).expect("update");
                batch.push((answer, v));
                next = writes.try_recv().ok();
            }
        }
        conn.execute_batch("COMMIT").expect("commit");
        for (answer, v) in batch {
            let _ = answer.send(v);
        }
    }
}

/// Works `us` µs on the CPU.
pub(crate) fn busy(us: u64) {
    let until = Instant::now() + std::time::Duration::from_micros(us);
    let mut x = 0_u64;
    while Instant::now() < until {
        for i in 0..64 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
    }
}

/// `tasks` tasks making `each` writes one after another, each after
/// `busy_us` µs of work; writes/s.
async fn drive(
    writer: mpsc::UnboundedSender<Write>,
    tasks: usize,
    each: usize,
    busy_us: u64,
) -> f64 {
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let writer = writer.clone();
            tokio::spawn(async move {
                for i in 0..each {
                    busy(busy_us);
                    let (answer, answered) = oneshot::channel();
                    let row = ((t * each + i) % 30) as i64;
                    writer.send((row, answer)).expect("the writer");
                    answered.await.expect("an answer");
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.expect("a task");
    }
    (tasks * each) as f64 / started.elapsed().as_secs_f64()
}

/// A copy of the migrated database `schema` at `path`, with 5 products.
fn journey_database(schema: &str, path: &str) {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(format!("{path}-wal"));
    let _ = std::fs::remove_file(format!("{path}-shm"));
    std::fs::copy(schema, path).expect("a copy of the schema");
    let conn = rusqlite::Connection::open(path).expect("the database");
    conn.execute_batch("PRAGMA journal_mode = WAL")
        .expect("WAL");
    for p in 0..5 {
        conn.execute(
            "INSERT INTO orders_products (id, sku, name, description, price_minor, currency, stock, active,
             tax_class, created_at, updated_at, version, search_text, image)
             VALUES (?1, ?2, 'A product', '', 1990, 'EUR', 100000000, 1, 'standard', ?3, ?3, 1, 'a product', NULL)",
            rusqlite::params![format!("product-{p}"), format!("SKU-{p}"), "2026-12-07T09:00:00Z"],
        )
        .expect("a product");
    }
}

/// Journey A's writes through both writers (`JOURNEY_DB`: a database the
/// server migrated).
async fn journeys(schema: &str, busy_us: u64) {
    let dir = std::env::temp_dir().join(format!("sqlite-journeys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let path = dir.join("j.db").display().to_string();
    let journeys_total = if busy_us > 0 { 3_000 } else { 6_000 };
    for round in 1..=2 {
        for tasks in [8, 32] {
            journey_database(schema, &path);
            let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
                .expect("a path")
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true);
            let mut conn = SqliteConnection::connect_with(&options)
                .await
                .expect("the database");
            let (writer, writes) = mpsc::unbounded_channel();
            let task = tokio::spawn(async move {
                journey::sqlx_writer(&mut conn, writes).await;
                conn
            });
            let (on_sqlx, rows_sqlx) =
                journey::drive(writer, tasks, journeys_total / tasks, busy_us).await;
            drop(task.await.expect("the sqlx writer"));

            journey_database(schema, &path);
            let (writer, writes) = mpsc::unbounded_channel();
            let thread = {
                let path = path.clone();
                std::thread::spawn(move || {
                    let conn = rusqlite::Connection::open(&path).expect("the database");
                    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON")
                        .expect("pragmas");
                    journey::rusqlite_writer(&conn, writes);
                })
            };
            let (on_rusqlite, rows_rusqlite) =
                journey::drive(writer, tasks, journeys_total / tasks, busy_us).await;
            thread.join().expect("the rusqlite writer");
            let expected = (journeys_total / tasks) * tasks * 5;
            assert_eq!(rows_sqlx, expected, "the placements' rows on sqlx");
            assert_eq!(rows_rusqlite, expected, "the placements' rows on rusqlite");
            println!(
                "journeys, round {round}, {tasks:>2} tasks, {busy_us} µs of work a write: sqlx {on_sqlx:>7.0} writes/s, rusqlite thread {on_rusqlite:>7.0} writes/s: {:.2}x",
                on_rusqlite / on_sqlx
            );
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = std::env::temp_dir().join(format!("sqlite-trips-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let path = dir.join("t.db").display().to_string();
    {
        let conn = rusqlite::Connection::open(&path).expect("the database");
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL);",
        )
        .expect("the table");
        for id in 0..30 {
            conn.execute("INSERT INTO t VALUES (?, 0)", [id])
                .expect("a row");
        }
    }
    let busy_us: u64 = std::env::var("BUSY_US")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if let Ok(schema) = std::env::var("JOURNEY_DB") {
        journeys(&schema, busy_us).await;
        let _ = std::fs::remove_dir_all(dir);
        return;
    }
    let writes_total: usize = if busy_us > 0 { 20_000 } else { 40_000 };
    for round in 1..=2 {
        for tasks in [8, 32] {
            let (writer, writes) = mpsc::unbounded_channel();
            let task = tokio::spawn(sqlx_writer(path.clone(), writes));
            let on_sqlx = drive(writer, tasks, writes_total / tasks, busy_us).await;
            task.await.expect("the sqlx writer");

            let (writer, writes) = mpsc::unbounded_channel();
            let thread = {
                let path = path.clone();
                std::thread::spawn(move || rusqlite_writer(&path, writes))
            };
            let on_rusqlite = drive(writer, tasks, writes_total / tasks, busy_us).await;
            thread.join().expect("the rusqlite writer");
            println!(
                "round {round}, {tasks:>2} tasks, {busy_us} µs of work a write: sqlx {on_sqlx:>7.0} writes/s, rusqlite thread {on_rusqlite:>7.0} writes/s: {:.2}x",
                on_rusqlite / on_sqlx
            );
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}
