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
/// fan-out moves the cursor past neither (the later transaction is not
/// older than the writer's); a cursor moved to the largest visible id
/// would lose the first.
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

/// PostgreSQL: checkouts never wait for the fan-out. A writer holds an
/// event uncommitted while the fan-out runs round after round (as a
/// worker does) and checkouts go on, on a database where a statement
/// waiting 50 ms for a lock fails: the fan-out that took
/// `LOCK TABLE orders_order_events IN SHARE MODE` queued them behind its
/// waiting lock, so they failed. The fan-out passes no event of a
/// transaction younger than the writer meanwhile, and every event once it
/// has committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_checkouts_do_not_wait_for_the_fan_out() {
    use std::sync::atomic::{AtomicBool, Ordering};

    use chrono::Utc;
    use orders_core::ids::{CustomerId, WebhookId};
    use orders_core::ports::{DeliveryStore, PageRequest, Store};
    use orders_core::testkit::{cart_with, engine, form, product};
    use orders_core::webhook::{EventFilter, NewWebhook, WebhookSecret, WebhookUrl};
    use sqlx::Connection;

    let Some(db) = common::PgDatabase::create().await else {
        return;
    };
    let mut admin = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let set = format!("ALTER DATABASE \"{}\" SET lock_timeout = '50ms'", db.name);
    sqlx::query(sqlx::AssertSqlSafe(set))
        .execute(&mut admin)
        .await
        .unwrap();
    let store = db.store().await;
    let (orders, _) = engine(store.clone() as Arc<dyn Store>);
    let p = product(&orders, "2.00", 100).await;
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
    let checkout = |name: String| {
        let orders = orders.clone();
        let p = p.id().clone();
        async move {
            let who = CustomerId::parse(&name).unwrap();
            let cart = cart_with(&orders, &who, &[(&p, 1)]).await;
            orders.checkout(&who, &cart, form(None), None).await
        }
    };
    let first = checkout("first".into()).await.unwrap().order;
    while store.fan_out("webhooks", 100, Utc::now()).await.unwrap() > 0 {}
    let before = store.consumer_position("webhooks").await.unwrap();
    assert!(before.is_some());

    // A writer holds an event uncommitted...
    let mut slow = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut slow).await.unwrap();
    sqlx::query(
        "INSERT INTO orders_order_events (order_id, from_status, to_status, at, actor) \
         VALUES ($1, 'pending', 'paid', $2, 'system')",
    )
    .bind(first.id().as_str())
    .bind(Utc::now().to_rfc3339())
    .execute(&mut slow)
    .await
    .unwrap();
    // ...while the fan-out runs without a pause...
    let stop = Arc::new(AtomicBool::new(false));
    let fanning = tokio::spawn({
        let (store, stop) = (store.clone(), stop.clone());
        async move {
            let mut rounds = 0;
            while !stop.load(Ordering::Relaxed) {
                store.fan_out("webhooks", 100, Utc::now()).await.unwrap();
                rounds += 1;
            }
            rounds
        }
    });
    // ...and checkouts go on, none waiting 50 ms for a lock.
    for n in 0..20 {
        let started = std::time::Instant::now();
        let placed = checkout(format!("buyer-{n}")).await;
        assert!(
            placed.is_ok(),
            "checkout {n} failed after {:?}: {placed:?}",
            started.elapsed()
        );
    }
    stop.store(true, Ordering::Relaxed);
    let rounds = fanning.await.unwrap();
    assert!(rounds > 1, "the fan-out ran meanwhile ({rounds} rounds)");
    let position = store.consumer_position("webhooks").await.unwrap();
    assert_eq!(position, before, "no event younger than the writer passed");

    sqlx::query("COMMIT").execute(&mut slow).await.unwrap();
    while store.fan_out("webhooks", 100, Utc::now()).await.unwrap() > 0 {}
    let delivered = store
        .deliveries(&hook.id, &PageRequest::first(100))
        .await
        .unwrap()
        .items
        .len();
    assert_eq!(
        delivered,
        1 + 1 + 20,
        "the first order, the writer's, 20 checkouts"
    );
}

/// PostgreSQL: a transaction left open in another database of the
/// cluster (it has written, so it has an id) does not hold this
/// database's fan-out back: only this database's writers can add events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_fan_out_ignores_transactions_of_other_databases() {
    use chrono::Utc;
    use orders_core::ids::CustomerId;
    use orders_core::ports::{DeliveryStore, Store};
    use orders_core::testkit::{cart_with, engine, form, product};
    use sqlx::Connection;

    let Some(db) = common::PgDatabase::create().await else {
        return;
    };
    let Some(other) = common::PgDatabase::create().await else {
        return;
    };
    let mut elsewhere = sqlx::PgConnection::connect(&other.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut elsewhere).await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut elsewhere)
        .await
        .unwrap();

    let store = db.store().await;
    let (orders, _) = engine(store.clone() as Arc<dyn Store>);
    let p = product(&orders, "2.00", 10).await;
    let who = CustomerId::parse("elsewhere").unwrap();
    let cart = cart_with(&orders, &who, &[(p.id(), 1)]).await;
    orders
        .checkout(&who, &cart, form(None), None)
        .await
        .unwrap();
    assert_eq!(store.fan_out("c", 100, Utc::now()).await.unwrap(), 1);
    assert!(store.consumer_position("c").await.unwrap().is_some());
    sqlx::query("ROLLBACK")
        .execute(&mut elsewhere)
        .await
        .unwrap();
}
