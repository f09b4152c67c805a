//! A shop's own tables beside the store's in one database: the host has
//! its own sqlx migrations with its own `products` (a UNIQUE sku) and
//! `orders` (a primary key, a foreign key), created before the store's
//! tables on one database and after them on another, on SQLite and
//! PostgreSQL, each restarted twice; every start, both sides write rows of
//! their own and read back all of theirs. The store is opened on the
//! host's own pool ([`Storage::from_pool`]) on some starts and from a URL on
//! the others.
#![cfg(all(feature = "sqlite", feature = "postgres"))]

mod common;

use std::str::FromStr;
use std::time::Duration;

use futures_util::StreamExt;
use orders_core::catalogue::{NewProduct, ProductName, Sku};
use orders_core::ids::{CustomerId, ProductId};
use orders_core::money::{Currency, Money};
use orders_core::order::{Actor, OrderStatus, Transition};
use orders_core::testkit::{cart_with, form};
use orders_core::{Access, Orders};
use orders_sqlx::{OpenError, Storage};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool};

/// The host's migrations on SQLite: its own `products` and `orders`.
fn sqlite_host() -> Migrator {
    orders_sqlx::embedded_migrator(&[
        (
            1,
            "shop catalogue",
            "CREATE TABLE products (id INTEGER PRIMARY KEY, sku TEXT NOT NULL UNIQUE, name TEXT NOT NULL)",
        ),
        (
            2,
            "shop orders",
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL REFERENCES products (id), quantity INTEGER NOT NULL);
             CREATE INDEX orders_product ON orders (product_id)",
        ),
    ])
}

/// The host's migrations on PostgreSQL, whose implicit names
/// (`products_pkey`, `products_sku_key`, `products_id_seq`, `orders_pkey`,
/// `orders_product_id_fkey`) were the store's own before it prefixed them.
fn postgres_host() -> Migrator {
    orders_sqlx::embedded_migrator(&[
        (
            1,
            "shop catalogue",
            "CREATE TABLE products (id BIGSERIAL PRIMARY KEY, sku TEXT NOT NULL UNIQUE, name TEXT NOT NULL)",
        ),
        (
            2,
            "shop orders",
            "CREATE TABLE orders (id BIGSERIAL PRIMARY KEY, product_id BIGINT NOT NULL REFERENCES products (id), quantity INT NOT NULL);
             CREATE INDEX orders_product ON orders (product_id)",
        ),
    ])
}

/// The host's own statements, the same text on both backends.
const HOST_PRODUCT: &str = "INSERT INTO products (sku, name) VALUES ($1, 'Host tea') RETURNING id";
const HOST_ORDER: &str = "INSERT INTO orders (product_id, quantity) VALUES ($1, 2)";
const HOST_COUNTS: &str = "SELECT (SELECT count(*) FROM products), (SELECT count(*) FROM orders), \
     (SELECT count(*) FROM orders o JOIN products p ON p.id = o.product_id WHERE p.sku LIKE 'TEA-%')";

/// The SKU both sides give their product of round `round`.
fn sku(round: usize) -> String {
    format!("TEA-{round}")
}

fn engine(storage: &Storage) -> Orders {
    storage.engine().demo().build()
}

/// The store's side of a start: a product with the host's SKU of this
/// round, a checkout of it, and a status change; then every product and
/// order of the earlier starts read back.
async fn store_round(storage: &Storage, round: usize, products: &mut Vec<ProductId>) {
    let orders = engine(storage);
    let usd = Money::parse_price("4.50", Currency::USD).unwrap();
    let new = NewProduct::new(
        Sku::parse(&sku(round)).unwrap(),
        ProductName::parse("Store tea").unwrap(),
        usd,
        10,
    );
    let product = orders
        .create_product(new)
        .await
        .expect("the store's product");
    let duplicate = NewProduct::new(
        Sku::parse(&sku(round)).unwrap(),
        ProductName::parse("Again").unwrap(),
        usd,
        1,
    );
    assert!(
        matches!(
            orders.create_product(duplicate).await,
            Err(orders_core::Error::Duplicate("sku"))
        ),
        "the store's own SKUs stay unique"
    );
    products.push(product.id().clone());
    let who = CustomerId::parse("host-user-1").unwrap();
    let cart = cart_with(&orders, &who, &[(product.id(), 1)]).await;
    let order = orders
        .checkout(&who, &cart, form(None), None)
        .await
        .expect("checkout beside the host's tables")
        .order;
    orders
        .transition(
            Actor::system(),
            order.id(),
            Transition::to(OrderStatus::Paid),
        )
        .await
        .expect("a status change");
    for id in products.iter() {
        orders
            .product(id)
            .await
            .expect("an earlier start's product");
    }
    let history = orders
        .list_orders(
            Access::Owner(&who),
            &Default::default(),
            &Default::default(),
        )
        .await
        .expect("history");
    assert_eq!(history.items.len(), round + 1, "the store's orders");
}

/// Who migrates first on the first start.
#[derive(Clone, Copy, Debug)]
enum First {
    Host,
    Store,
}

async fn sqlite_story(first: First) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shop.db");
    let host_options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal);
    let mut products = Vec::new();
    for round in 0..3 {
        let host = SqlitePool::connect_with(host_options.clone())
            .await
            .unwrap();
        let host_first = round > 0 || matches!(first, First::Host);
        if host_first {
            sqlite_host()
                .run(&host)
                .await
                .expect("the host's migrations");
        }
        let storage = if round % 2 == 0 {
            Storage::from_pool(host.clone())
                .await
                .expect("the host's pool")
        } else {
            Storage::open(&format!("sqlite://{}", path.display()))
                .await
                .unwrap()
        };
        storage.migrate().await.expect("the store's migrations");
        sqlite_host()
            .run(&host)
            .await
            .expect("the host's migrations");

        let id: i64 = sqlx::query_scalar(HOST_PRODUCT)
            .bind(sku(round))
            .fetch_one(&host)
            .await
            .expect("the host's product");
        sqlx::query(HOST_ORDER)
            .bind(id)
            .execute(&host)
            .await
            .unwrap();
        store_round(&storage, round, &mut products).await;

        let counts: (i64, i64, i64) = sqlx::query_as(HOST_COUNTS).fetch_one(&host).await.unwrap();
        let n = round as i64 + 1;
        assert_eq!(
            counts,
            (n, n, n),
            "the host's rows, start {round} ({first:?} first)"
        );
        storage.close().await;
        host.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_host_tables_made_before_the_stores() {
    sqlite_story(First::Host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_host_tables_made_after_the_stores() {
    sqlite_story(First::Store).await;
}

async fn postgres_story(first: First) {
    let Some(db) = common::PgDatabase::create().await else {
        return;
    };
    let mut products = Vec::new();
    for round in 0..3 {
        let host = sqlx::PgPool::connect(&db.url).await.unwrap();
        let host_first = round > 0 || matches!(first, First::Host);
        if host_first {
            postgres_host()
                .run(&host)
                .await
                .expect("the host's migrations");
        }
        let storage = if round % 2 == 0 {
            Storage::from_pool(host.clone())
                .await
                .expect("the host's pool")
        } else {
            Storage::open(&db.url).await.unwrap()
        };
        storage.migrate().await.expect("the store's migrations");
        postgres_host()
            .run(&host)
            .await
            .expect("the host's migrations");

        let id: i64 = sqlx::query_scalar(HOST_PRODUCT)
            .bind(sku(round))
            .fetch_one(&host)
            .await
            .expect("the host's product");
        sqlx::query(HOST_ORDER)
            .bind(id)
            .execute(&host)
            .await
            .unwrap();
        store_round(&storage, round, &mut products).await;

        let counts: (i64, i64, i64) = sqlx::query_as(HOST_COUNTS).fetch_one(&host).await.unwrap();
        let n = round as i64 + 1;
        assert_eq!(
            counts,
            (n, n, n),
            "the host's rows, start {round} ({first:?} first)"
        );
        storage.close().await;
        host.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_host_tables_made_before_the_stores() {
    postgres_story(First::Host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_host_tables_made_after_the_stores() {
    postgres_story(First::Store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_pool_the_store_cannot_share_is_refused_with_the_setting_to_change() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteConnectOptions::new()
        .filename(dir.path().join("shop.db"))
        .create_if_missing(true);
    let rollback =
        SqlitePool::connect_with(options.clone().journal_mode(SqliteJournalMode::Delete))
            .await
            .unwrap();
    let err = Storage::from_pool(rollback.clone()).await.unwrap_err();
    assert!(matches!(err, OpenError::HostPool(_)), "{err}");
    assert!(
        err.to_string()
            .contains("journal_mode(SqliteJournalMode::Wal)"),
        "{err}"
    );
    let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_master")
        .fetch_one(&rollback)
        .await
        .unwrap();
    assert_eq!(tables, 0, "nothing written");
    rollback.close().await;

    let impatient = SqlitePool::connect_with(
        options
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::ZERO),
    )
    .await
    .unwrap();
    let err = Storage::from_pool(impatient).await.unwrap_err();
    assert!(err.to_string().contains("busy_timeout"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_on_a_hosts_postgres_pool_runs_there_and_listens_on_its_own() {
    let Some(db) = common::PgDatabase::create().await else {
        return;
    };
    let options = sqlx::postgres::PgConnectOptions::from_str(&db.url)
        .unwrap()
        .application_name("host-app");
    let pool = |size| {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(size)
            .connect_with(options.clone())
    };
    let (host_a, host_b) = (pool(4).await.unwrap(), pool(4).await.unwrap());
    let a = Storage::from_pool(host_a.clone()).await.unwrap();
    a.migrate().await.unwrap();
    let b = Storage::from_pool(host_b.clone()).await.unwrap();
    let (orders_a, orders_b) = (engine(&a), engine(&b));

    let product = orders_core::testkit::product(&orders_a, "3.00", 5).await;
    let who = CustomerId::parse("pool-user").unwrap();
    let cart = cart_with(&orders_a, &who, &[(product.id(), 1)]).await;
    let order = orders_a
        .checkout(&who, &cart, form(None), None)
        .await
        .unwrap()
        .order;
    let (_, mut sub) = orders_b
        .track(Access::Staff, order.id(), None)
        .await
        .expect("B tracks A's order");
    orders_a
        .transition(
            Actor::system(),
            order.id(),
            Transition::to(OrderStatus::Paid),
        )
        .await
        .unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let event = sub.next().await.expect("stream open").expect("an event");
            if event.to == OrderStatus::Paid {
                break event;
            }
        }
    })
    .await
    .expect("B's listener hears A's change");
    assert_eq!(&heard.order_id, order.id());

    // The store's statements ran on the host's pools (their connections
    // carry the host's application name), and each listener is a
    // connection of its own, made with the pool's options.
    let names: Vec<(String, i64)> = sqlx::query_as(
        "SELECT application_name, count(*) FROM pg_stat_activity \
         WHERE datname = current_database() GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&host_a)
    .await
    .unwrap();
    let count = |name: &str| names.iter().find(|(n, _)| n == name).map_or(0, |(_, c)| *c);
    assert!(count("host-app") >= 2, "{names:?}");
    assert_eq!(
        count(orders_sqlx::LISTENER_APPLICATION_NAME),
        2,
        "{names:?}"
    );
    assert!(host_a.size() >= 1 && host_a.size() <= 4);
}
