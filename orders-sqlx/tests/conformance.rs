//! The store conformance kit of `orders-core`, on SQLite (a temporary file
//! and `:memory:`) and on PostgreSQL (a fresh database).
#![cfg(all(feature = "sqlite", feature = "postgres"))]

mod common;

use std::sync::Arc;

use orders_core::ports::Store;
use orders_sqlx::{SqliteStore, Storage};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_passes_the_conformance_kit() {
    let (store, _dir) = common::sqlite().await;
    orders_core::testkit::run_all(|| {
        let store = store.clone();
        async move { store as Arc<dyn Store> }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_in_memory_passes_the_conformance_kit() {
    let store = SqliteStore::connect("sqlite::memory:").await.expect("open");
    store.migrate().await.expect("migrate");
    let store = Arc::new(store);
    orders_core::testkit::run_all(|| {
        let store = store.clone();
        async move { store as Arc<dyn Store> }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_conformance_kit() {
    let Some(db) = common::PgDatabase::create().await else {
        return;
    };
    let store = db.store().await;
    orders_core::testkit::run_all(|| {
        let store = store.clone();
        async move { store as Arc<dyn Store> }
    })
    .await;
}

/// Migrating twice is a no-op, on both backends, through the public
/// URL-based API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_twice_are_a_no_op() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("twice.db").display());
    let storage = Storage::open(&url).await.expect("open");
    storage.migrate().await.expect("first");
    storage.migrate().await.expect("second");
    storage.close().await;
    // A new process on the same file: still a no-op.
    let again = Storage::open(&url).await.expect("reopen");
    again.migrate().await.expect("third");
    again.store().ping().await.expect("ping");

    let Some(db) = common::PgDatabase::create().await else {
        return;
    };
    let storage = db.storage().await;
    storage.migrate().await.expect("second");
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _orders_migrations")
        .fetch_one(&sqlx::PgPool::connect(&db.url).await.expect("pool"))
        .await
        .expect("count");
    let embedded = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .expect("migrations folder")
        .count();
    assert_eq!(applied as usize, embedded, "each migration recorded once");
    storage.close().await;
}

/// The schema itself refuses what the rules forbid, whoever writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_constraints_back_the_rules() {
    let (store, _dir) = common::sqlite().await;
    check_constraints_sqlite(store.pool()).await;
    let Some(db) = common::PgDatabase::create().await else {
        return;
    };
    let store = db.store().await;
    let pool = store.pool();
    let insert = "INSERT INTO orders_products (id, sku, name, description, price_minor, currency, stock, active, tax_class, created_at, updated_at)
                  VALUES ($1, $2, 'n', '', 100, 'USD', 1, true, 'standard', 't', 't')";
    sqlx::query(insert)
        .bind("p1")
        .bind("SKU1")
        .execute(pool)
        .await
        .expect("insert");
    let dup = sqlx::query(insert)
        .bind("p2")
        .bind("SKU1")
        .execute(pool)
        .await
        .unwrap_err();
    assert_eq!(
        dup.as_database_error().and_then(|e| e.constraint()),
        Some("orders_products_sku_key")
    );
    let negative = sqlx::query("UPDATE orders_products SET stock = stock - 2 WHERE id = 'p1'")
        .execute(pool)
        .await;
    assert!(
        negative
            .unwrap_err()
            .as_database_error()
            .is_some_and(|e| e.is_check_violation())
    );
    let orphan = sqlx::query(
        "INSERT INTO orders_order_events (order_id, to_status, at, actor) VALUES ('nope', 'paid', 't', 'system')",
    )
    .execute(pool)
    .await;
    assert!(
        orphan
            .unwrap_err()
            .as_database_error()
            .is_some_and(|e| e.is_foreign_key_violation())
    );
}

async fn check_constraints_sqlite(pool: &sqlx::SqlitePool) {
    let insert = "INSERT INTO orders_products (id, sku, name, description, price_minor, currency, stock, active, tax_class, created_at, updated_at)
                  VALUES (?, ?, 'n', '', 100, 'USD', 1, 1, 'standard', 't', 't')";
    sqlx::query(insert)
        .bind("p1")
        .bind("SKU1")
        .execute(pool)
        .await
        .expect("insert");
    let dup = sqlx::query(insert)
        .bind("p2")
        .bind("SKU1")
        .execute(pool)
        .await
        .unwrap_err();
    assert!(
        dup.as_database_error()
            .is_some_and(|e| e.is_unique_violation())
    );
    let negative = sqlx::query("UPDATE orders_products SET stock = stock - 2 WHERE id = 'p1'")
        .execute(pool)
        .await;
    assert!(
        negative
            .unwrap_err()
            .as_database_error()
            .is_some_and(|e| e.is_check_violation())
    );
    let orphan = sqlx::query(
        "INSERT INTO orders_order_events (order_id, to_status, at, actor) VALUES ('nope', 'paid', 't', 'system')",
    )
    .execute(pool)
    .await;
    assert!(
        orphan
            .unwrap_err()
            .as_database_error()
            .is_some_and(|e| e.is_foreign_key_violation())
    );
}

/// Runs `$sql` (one `$1`, the order id) on `$pool`: `Ok(rows)` or the
/// database's error.
macro_rules! update_order {
    ($pool:expr, $id:expr, $sql:expr) => {
        sqlx::query($sql)
            .bind($id)
            .execute($pool)
            .await
            .map(|done| done.rows_affected())
    };
}

/// On `$pool` (an order `$id` in it): the schema takes every order status
/// and payment status of the domain, and refuses others and negative
/// payment amounts.
macro_rules! check_payment_columns {
    ($pool:expr, $id:expr) => {{
        use orders_core::order::{OrderStatus, PaymentStatus};
        for status in OrderStatus::ALL {
            let sql = format!("UPDATE orders_orders SET status = '{status}' WHERE id = $1");
            assert_eq!(
                update_order!($pool, $id, sqlx::AssertSqlSafe(sql)).expect("a status"),
                1
            );
        }
        for status in PaymentStatus::ALL {
            let sql = format!("UPDATE orders_orders SET payment_status = '{status}' WHERE id = $1");
            assert_eq!(
                update_order!($pool, $id, sqlx::AssertSqlSafe(sql)).expect("a payment status"),
                1
            );
        }
        for refused in [
            "UPDATE orders_orders SET status = 'awaiting' WHERE id = $1",
            "UPDATE orders_orders SET payment_status = 'paid' WHERE id = $1",
            "UPDATE orders_orders SET payment_authorized_minor = -1 WHERE id = $1",
            "UPDATE orders_orders SET payment_captured_minor = -1 WHERE id = $1",
            "UPDATE orders_orders SET payment_refunded_minor = -1 WHERE id = $1",
        ] {
            let error = update_order!($pool, $id, refused).expect_err(refused);
            assert!(
                error
                    .as_database_error()
                    .is_some_and(|e| e.is_check_violation()),
                "{refused}: {error}"
            );
        }
    }};
}

/// The payment columns are checked by the schema too, on both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_checks_the_payment_columns() {
    let place = |store: Arc<dyn Store>| async move {
        let (orders, _) = orders_core::testkit::engine(store);
        let who = orders_core::ids::CustomerId::parse("payer").expect("id");
        let p = orders_core::testkit::product(&orders, "3.00", 1).await;
        let cart = orders_core::testkit::cart_with(&orders, &who, &[(p.id(), 1)]).await;
        let form = orders_core::testkit::token_form("test_requires_action");
        let order = orders
            .checkout(&who, &cart, form, None)
            .await
            .expect("checkout")
            .order;
        order.id().as_str().to_owned()
    };
    let (store, _dir) = common::sqlite().await;
    let id = place(store.clone()).await;
    check_payment_columns!(store.pool(), id.as_str());

    let Some(db) = common::PgDatabase::create().await else {
        return;
    };
    let store = db.store().await;
    let id = place(store.clone()).await;
    check_payment_columns!(store.pool(), id.as_str());
}
