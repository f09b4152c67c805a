//! The mail section of the conformance kit on SQLite (a file and
//! `:memory:`) and on PostgreSQL (a fresh database).
#![cfg(all(feature = "sqlite", feature = "postgres"))]

mod common;

use std::sync::Arc;

use orders_core::ports::MailboxStore;
use orders_sqlx::SqliteStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_keeps_mails_as_the_port_says() {
    let (store, _dir) = common::sqlite().await;
    orders_core::testkit::run_mails(|| {
        let store = store.clone();
        async move { store as Arc<dyn MailboxStore> }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_in_memory_keeps_mails_as_the_port_says() {
    let store = SqliteStore::connect("sqlite::memory:").await.expect("open");
    store.migrate().await.expect("migrate");
    let store = Arc::new(store);
    orders_core::testkit::run_mails(|| {
        let store = store.clone();
        async move { store as Arc<dyn MailboxStore> }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_mails_as_the_port_says() {
    let Some(db) = common::PgDatabase::create().await else {
        return;
    };
    let store = db.store().await;
    orders_core::testkit::run_mails(|| {
        let store = store.clone();
        async move { store as Arc<dyn MailboxStore> }
    })
    .await;
}

/// PostgreSQL: while a writer holds an event uncommitted, the mailer's
/// fan-out still passes the events settled before it (it takes no lock on
/// the log that would have to wait for the writer), but neither that event
/// nor a later one that committed first; once the writer commits, both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_mail_fan_out_passes_settled_events_around_a_slow_writer() {
    use std::time::Duration;

    use chrono::Utc;
    use orders_core::ports::{MailStore, OrderStore, Store};
    use orders_core::testkit::{cart_with, engine, form, product};
    use sqlx::Connection;

    let Some(db) = common::PgDatabase::create().await else {
        return;
    };
    let store = db.store().await;
    let (orders, _) = engine(store.clone() as Arc<dyn Store>);
    let p = product(&orders, "2.00", 10).await;
    let who = orders_core::ids::CustomerId::parse("slow-mail-writer").unwrap();
    let cart = cart_with(&orders, &who, &[(p.id(), 1)]).await;
    let order = orders
        .checkout(&who, &cart, form(None), None)
        .await
        .unwrap()
        .order;
    let placed = store.order_events(order.id()).await.unwrap()[0].id.get() as i64;

    // A writer takes an event id and has not committed yet, while a later
    // id commits.
    let insert = "INSERT INTO orders_order_events (order_id, from_status, to_status, at, actor) \
                  VALUES ($1, 'pending', 'shipped', $2, 'system') RETURNING id";
    let mut slow = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut slow).await.unwrap();
    let early: i64 = sqlx::query_scalar(insert)
        .bind(order.id().as_str())
        .bind(Utc::now().to_rfc3339())
        .fetch_one(&mut slow)
        .await
        .unwrap();
    let mut quick = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let late: i64 = sqlx::query_scalar(insert)
        .bind(order.id().as_str())
        .bind(Utc::now().to_rfc3339())
        .fetch_one(&mut quick)
        .await
        .unwrap();
    assert!(placed < early && early < late);

    let fan_out_all = || async {
        tokio::time::timeout(Duration::from_secs(10), async {
            while store.fan_out_mail(100, Utc::now()).await.unwrap() > 0 {}
        })
        .await
        .expect("the fan-out waits for no writer");
    };
    let mailed = || async {
        let mut ids: Vec<i64> = store
            .order_mails(order.id())
            .await
            .unwrap()
            .iter()
            .map(|m| m.event_id.get() as i64)
            .collect();
        ids.sort_unstable();
        ids
    };
    fan_out_all().await;
    assert_eq!(
        mailed().await,
        [placed],
        "the settled event passed, the unfinished one and the later one not"
    );
    sqlx::query("COMMIT").execute(&mut slow).await.unwrap();
    fan_out_all().await;
    assert_eq!(
        mailed().await,
        [placed, early, late],
        "both, however they committed"
    );
}
