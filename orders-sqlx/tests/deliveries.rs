//! The delivery section of the conformance kit on SQLite (a file and
//! `:memory:`) and on PostgreSQL (a fresh database).
#![cfg(all(feature = "sqlite", feature = "postgres"))]

mod common;

use std::sync::Arc;

use orders_core::ports::OutboxStore;
use orders_sqlx::SqliteStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_keeps_deliveries_as_the_port_says() {
    let (store, _dir) = common::sqlite().await;
    orders_core::testkit::run_deliveries(|| {
        let store = store.clone();
        async move { store as Arc<dyn OutboxStore> }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_in_memory_keeps_deliveries_as_the_port_says() {
    let store = SqliteStore::connect("sqlite::memory:").await.expect("open");
    store.migrate().await.expect("migrate");
    let store = Arc::new(store);
    orders_core::testkit::run_deliveries(|| {
        let store = store.clone();
        async move { store as Arc<dyn OutboxStore> }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_deliveries_as_the_port_says() {
    let Some(db) = common::PgDatabase::create().await else {
        return;
    };
    let store = db.store().await;
    orders_core::testkit::run_deliveries(|| {
        let store = store.clone();
        async move { store as Arc<dyn OutboxStore> }
    })
    .await;
}

/// PostgreSQL: an event whose transaction took its id first but commits
/// after a later one is still fanned out. While the writer is at it the
/// fan-out (its SHARE lock refused within the lock timeout) moves the
/// cursor past neither; a cursor moved to the largest visible id would
/// lose the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_fan_out_never_passes_an_event_still_being_written() {
    use chrono::Utc;
    use orders_core::ids::WebhookId;
    use orders_core::ports::{DeliveryStore, PageRequest, Store};
    use orders_core::testkit::{cart_with, engine, form, product};
    use orders_core::webhook::{EventFilter, NewWebhook, WebhookSecret, WebhookUrl};
    use sqlx::Connection;

    let Some(db) = common::PgDatabase::create().await else {
        return;
    };
    let store = db.store().await;
    let (orders, _) = engine(store.clone() as Arc<dyn Store>);
    let p = product(&orders, "2.00", 10).await;
    let who = orders_core::ids::CustomerId::parse("slow-writer").unwrap();
    let cart = cart_with(&orders, &who, &[(p.id(), 1)]).await;
    let order = orders
        .checkout(&who, &cart, form(None), None)
        .await
        .unwrap()
        .order;
    let hook = store
        .insert_webhook(&NewWebhook {
            id: WebhookId::generate(),
            url: WebhookUrl::parse("https://hooks.example.com/").unwrap(),
            events: EventFilter::All,
            secret: WebhookSecret::from_random_bytes(&[1; 32]),
            created_at: Utc::now(),
        })
        .await
        .unwrap();

    // A writer takes an event id and has not committed yet...
    let mut slow = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut slow).await.unwrap();
    let insert = "INSERT INTO orders_order_events (order_id, from_status, to_status, at, actor) \
                  VALUES ($1, 'pending', 'paid', $2, 'system') RETURNING id";
    let early: i64 = sqlx::query_scalar(insert)
        .bind(order.id().as_str())
        .bind(Utc::now().to_rfc3339())
        .fetch_one(&mut slow)
        .await
        .unwrap();
    // ...while a later id commits.
    let mut quick = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let late: i64 = sqlx::query_scalar(insert)
        .bind(order.id().as_str())
        .bind(Utc::now().to_rfc3339())
        .fetch_one(&mut quick)
        .await
        .unwrap();
    assert!(early < late);

    // The fan-out does not pass the unfinished event (nor the later one).
    store
        .fan_out("slow-writer", 100, Utc::now())
        .await
        .expect("fan out");
    let position = store.consumer_position("slow-writer").await.unwrap();
    assert!(
        position.is_none_or(|p| (p.get() as i64) < early),
        "the cursor passed an event still being written: {position:?} >= {early}"
    );
    sqlx::query("COMMIT").execute(&mut slow).await.unwrap();
    while store.fan_out("slow-writer", 100, Utc::now()).await.unwrap() > 0 {}

    let events: Vec<i64> = store
        .deliveries(&hook.id, &PageRequest::first(10))
        .await
        .unwrap()
        .items
        .iter()
        .map(|d| d.event_id.get() as i64)
        .collect();
    assert_eq!(events, [late, early], "both, however they committed");
}
