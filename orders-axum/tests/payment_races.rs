//! The customer's return and the provider's webhook at the same moment,
//! over HTTP, many times, on the in-memory store, a SQLite file and (with
//! `ORDERS_TEST_PG_URL` or `ORDERS_REQUIRE_PG=1`) a fresh PostgreSQL
//! database: whichever wins, both answer 200, the order is paid once, its
//! payment captured once, and it has exactly three events (placed,
//! authorised, captured).

mod common;
#[path = "common/postgres.rs"]
mod postgres;

use std::sync::Arc;

use common::shop::*;
use common::*;
use orders_core::memory::MemoryStore;
use orders_core::ports::{Store, TestGateway};

const ROUNDS: usize = 20;

async fn race(shop: &Shop) {
    for round in 0..ROUNDS {
        let (resp, _) = shop.checkout(TestGateway::TOKEN_REQUIRES_ACTION).await;
        let id = resp.ok(201)["id"].as_str().unwrap().to_owned();
        let reference = shop.reference(&id).await;
        let (signature, body) = shop.signed(&format!("evt_race_{round}"), &id).await;
        // The provider has it authorised as the customer comes back.
        shop.gateway.authenticate(&reference).unwrap();
        let (confirmed, hooked) = tokio::join!(
            shop.confirm(&id, ADA),
            shop.webhook(Some(&signature), &body)
        );
        assert_eq!(confirmed.ok(200)["status"], "paid", "round {round}");
        assert_eq!(hooked.ok(200)["outcome"], "applied", "round {round}");
        let events = shop.events(&id).await;
        let kinds: Vec<_> = events
            .iter()
            .map(|e| (e["from"].clone(), e["to"].clone(), e["type"].clone()))
            .collect();
        assert_eq!(
            kinds,
            [
                (
                    json_null(),
                    "awaiting_payment".into(),
                    "status_changed".into()
                ),
                (
                    "awaiting_payment".into(),
                    "paid".into(),
                    "payment_updated".into()
                ),
                ("paid".into(), "paid".into(), "payment_updated".into()),
            ],
            "round {round}"
        );
        assert_eq!(shop.gateway.payment(&reference).unwrap().captures, 1);
        assert_eq!(shop.order(&id).await["payment"]["status"], "captured");
    }
}

fn json_null() -> serde_json::Value {
    serde_json::Value::Null
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_memory_store() {
    race(&shop_on(Arc::new(MemoryStore::new())).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shop.db").display());
    let store = orders_sqlx::SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    race(&shop_on(Arc::new(store) as Arc<dyn Store>).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres() {
    let Some(db) = postgres::Database::create("payment_races").await else {
        return;
    };
    let store = orders_sqlx::PgStore::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    race(&shop_on(Arc::new(store) as Arc<dyn Store>).await).await;
}
