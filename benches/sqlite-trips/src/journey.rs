//! Journey A's five writes, as the example server makes them, through
//! both writers: a new cart, its line (a compare-and-set), the key claim,
//! the placement (six statements, each answering with a row, as the
//! store's batch does) and the capture (the change and its event). The
//! database is one the server migrated (`orders-server … create-superuser`
//! on a fresh file), copied for each run, with 5 products to sell.
//!
//! On sqlx, each write is one trip to the connection's thread, the
//! placement's six statements in one multi-statement query, as the store
//! sends them. On rusqlite, every statement runs on the writer's thread.

use std::time::Instant;

use sqlx::sqlite::SqliteConnection;
use tokio::sync::{mpsc, oneshot};

/// A bound value.
#[derive(Clone, Debug)]
pub enum V {
    T(String),
    I(i64),
}

/// One statement (plain `?` placeholders) and its values.
pub type Stmt = (String, Vec<V>);

/// A write: its statements, run in one trip on sqlx, and where its answer
/// (the rows the statements returned) goes.
pub type Write = (Vec<Stmt>, oneshot::Sender<usize>);

fn t(s: impl Into<String>) -> V {
    V::T(s.into())
}

const NOW: &str = "2026-12-07T10:00:00.000000Z";

/// The five writes of journey `j` of task `task`, in order.
pub fn journey(task: usize, j: usize) -> Vec<Vec<Stmt>> {
    let cart = format!("cart-{task}-{j}");
    let order = format!("order-{task}-{j}");
    let customer = format!("customer-{task}");
    let key = format!("key-{task}-{j}");
    let product = format!("product-{}", (task + j) % 5);
    let lines = format!(r#"[{{"product_id":"{product}","quantity":2}}]"#);
    let address = r#"{"name":"Ada Lovelace","line1":"1 Main St","line2":null,"city":"Paris","region":null,"postal_code":"75001","country":"FR"}"#;
    vec![
        vec![(
            "INSERT INTO orders_carts (id, customer_id, currency, lines, discount_code, status, version, created_at, updated_at, token_hash)
             VALUES (?, ?, 'EUR', '[]', NULL, 'open', 1, ?, ?, NULL)".into(),
            vec![t(&cart), t(&customer), t(NOW), t(NOW)],
        )],
        vec![(
            "UPDATE orders_carts SET customer_id = ?, currency = 'EUR', lines = ?, discount_code = NULL, status = 'open',
             version = 2, created_at = ?, updated_at = ?, token_hash = NULL WHERE id = ? AND version = 1".into(),
            vec![t(&customer), t(&lines), t(NOW), t(NOW), t(&cart)],
        )],
        vec![(
            "INSERT INTO orders_idempotency_keys (customer_id, key, fingerprint, started_at, order_id)
             VALUES (?, ?, ?, ?, NULL)
             ON CONFLICT (customer_id, key) DO UPDATE SET fingerprint = excluded.fingerprint,
             started_at = excluded.started_at
             WHERE orders_idempotency_keys.order_id IS NULL AND orders_idempotency_keys.started_at < ?
             RETURNING 1".into(),
            vec![t(&customer), t(&key), t("fingerprint"), t(NOW), t("2026-12-07T09:50:00.000000Z")],
        )],
        vec![
            (
                "UPDATE orders_carts SET status = 'checked_out', version = version + 1, updated_at = ?
                 WHERE id = ? AND status = 'open' RETURNING 'closed' AS what, NULL AS value".into(),
                vec![t(NOW), t(&cart)],
            ),
            (
                "UPDATE orders_products SET stock = stock - w.column2, version = version + 1 FROM (VALUES (?, ?)) AS w
                 WHERE orders_products.id = w.column1 AND orders_products.stock >= w.column2
                 RETURNING 'taken' AS what, orders_products.id AS value".into(),
                vec![t(&product), V::I(2)],
            ),
            (
                "INSERT INTO orders_orders (number, id, customer_id, status, currency, email, email_lower, subtotal_minor,
                 discount_minor, shipping_minor, tax_minor, total_minor, discount_code, shipping_address, shipping_method,
                 payment_method, card_brand, card_last4, payment_status, payment_reference, tracking_number, created_at,
                 updated_at, version, payment_authorized_minor, payment_captured_minor, payment_refunded_minor,
                 payment_next_action) VALUES ((SELECT COALESCE(MAX(number), 0) + 1 FROM orders_orders),
                 ?, ?, 'paid', 'EUR', ?, ?, 3980, 0, 490, 796, 5266, NULL, ?, 'standard', 'card', 'visa', '4242',
                 'authorized', ?, NULL, ?, ?, 1, 5266, 0, 0, NULL) RETURNING 'number' AS what, number AS value".into(),
                vec![
                    t(&order),
                    t(&customer),
                    t("ada@example.com"),
                    t("ada@example.com"),
                    t(address),
                    t(format!("ref-{order}")),
                    t(NOW),
                    t(NOW),
                ],
            ),
            (
                "INSERT INTO orders_order_lines (order_id, position, product_id, sku, name, quantity, unit_price_minor,
                 subtotal_minor, discount_minor, tax_minor, total_minor, tax_class)
                 VALUES (?, 0, ?, 'SKU-1', 'A product', 2, 1990, 3980, 0, 796, 4776, 'standard')".into(),
                vec![t(&order), t(&product)],
            ),
            (
                "INSERT INTO orders_order_events (order_id, from_status, to_status, at, actor, note)
                 VALUES (?, NULL, 'paid', ?, ?, NULL) RETURNING 'event' AS what, id AS value".into(),
                vec![t(&order), t(NOW), t(&customer)],
            ),
            (
                "INSERT INTO orders_idempotency_keys (customer_id, key, fingerprint, started_at, order_id) VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (customer_id, key) DO UPDATE SET fingerprint = excluded.fingerprint,
                 started_at = excluded.started_at, order_id = excluded.order_id
                 WHERE orders_idempotency_keys.order_id IS NULL RETURNING 'keyed' AS what, NULL AS value".into(),
                vec![t(&customer), t(&key), t("fingerprint"), t(NOW), t(&order)],
            ),
        ],
        vec![
            (
                "UPDATE orders_orders SET status = 'paid', tracking_number = COALESCE(NULL, tracking_number),
                 payment_status = 'captured', card_brand = 'visa', card_last4 = '4242', payment_reference = ?,
                 payment_authorized_minor = 5266, payment_captured_minor = 5266, payment_refunded_minor = 0,
                 payment_next_action = NULL, version = version + 1, updated_at = ?
                 WHERE id = ? AND version = 1 AND status IS NOT DISTINCT FROM 'paid'".into(),
                vec![t(format!("ref-{order}")), t(NOW), t(&order)],
            ),
            (
                "INSERT INTO orders_order_events (order_id, from_status, to_status, at, actor, note, kind, data)
                 SELECT ?, 'paid', 'paid', ?, 'system', NULL, 'payment_updated', NULL WHERE changes() = 1 RETURNING id".into(),
                vec![t(&order), t(NOW)],
            ),
        ],
    ]
}

/// The writer on sqlx: each write one trip, in batches as the store's.
pub async fn sqlx_writer(conn: &mut SqliteConnection, mut writes: mpsc::UnboundedReceiver<Write>) {
    while let Some(first) = writes.recv().await {
        sqlx::raw_sql("BEGIN IMMEDIATE; SAVEPOINT a")
            .execute(&mut *conn)
            .await
            .expect("begin");
        let mut batch = Vec::new();
        let mut next = Some(first);
        while let Some((stmts, answer)) = next.take() {
            let sql = stmts
                .iter()
                .map(|(s, _)| s.as_str())
                .collect::<Vec<_>>()
                .join(";\n");
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (_, values) in &stmts {
                for v in values {
                    q = match v {
                        V::T(s) => q.bind(s.clone()),
                        V::I(i) => q.bind(*i),
                    };
                }
            }
            let rows = q.fetch_all(&mut *conn).await.expect("a write");
            batch.push((answer, rows.len()));
            next = writes.try_recv().ok();
        }
        sqlx::raw_sql("COMMIT")
            .execute(&mut *conn)
            .await
            .expect("commit");
        for (answer, rows) in batch {
            let _ = answer.send(rows);
        }
    }
}

/// The writer on rusqlite, on the calling (dedicated) thread: every write
/// behind a savepoint of its own, as a port of the store's would be.
pub fn rusqlite_writer(conn: &rusqlite::Connection, mut writes: mpsc::UnboundedReceiver<Write>) {
    while let Some(first) = writes.blocking_recv() {
        conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
        let mut batch = Vec::new();
        let mut next = Some(first);
        while let Some((stmts, answer)) = next.take() {
            conn.execute_batch("SAVEPOINT w").expect("savepoint");
            let mut rows = 0;
            for (sql, values) in &stmts {
                let mut stmt = conn.prepare_cached(sql).expect("prepare");
                let params: Vec<rusqlite::types::Value> = values
                    .iter()
                    .map(|v| match v {
                        V::T(s) => rusqlite::types::Value::Text(s.clone()),
                        V::I(i) => rusqlite::types::Value::Integer(*i),
                    })
                    .collect();
                let mut found = stmt
                    .query(rusqlite::params_from_iter(params))
                    .expect("a statement");
                while found.next().expect("a row").is_some() {
                    rows += 1;
                }
            }
            conn.execute_batch("RELEASE w").expect("release");
            batch.push((answer, rows));
            next = writes.try_recv().ok();
        }
        conn.execute_batch("COMMIT").expect("commit");
        for (answer, rows) in batch {
            let _ = answer.send(rows);
        }
    }
}

/// `tasks` tasks making `journeys` journeys each, `busy_us` µs of work
/// before each write; writes/s, and the rows the placements returned (a
/// check that every statement did its work: 5 a placement).
pub async fn drive(
    writer: mpsc::UnboundedSender<Write>,
    tasks: usize,
    journeys: usize,
    busy_us: u64,
) -> (f64, usize) {
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let writer = writer.clone();
            tokio::spawn(async move {
                let mut placed_rows = 0;
                for j in 0..journeys {
                    for (n, write) in journey(task, j).into_iter().enumerate() {
                        crate::busy(busy_us);
                        let (answer, answered) = oneshot::channel();
                        writer.send((write, answer)).expect("the writer");
                        let rows = answered.await.expect("an answer");
                        if n == 3 {
                            placed_rows += rows;
                        }
                    }
                }
                placed_rows
            })
        })
        .collect();
    let mut placed_rows = 0;
    for handle in handles {
        placed_rows += handle.await.expect("a task");
    }
    (
        (tasks * journeys * 5) as f64 / started.elapsed().as_secs_f64(),
        placed_rows,
    )
}
