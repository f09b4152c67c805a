//! Two requests at the same moment on each after-sale route, over HTTP,
//! on the in-memory store, a SQLite file and (with `ORDERS_TEST_PG_URL` or
//! `ORDERS_REQUIRE_PG=1`) a fresh PostgreSQL database: one wins, the
//! other is refused (409 or 422) and changes nothing. Above all, two staff
//! refunding the same order at once never refund twice at the provider.

mod common;
#[path = "common/postgres.rs"]
mod postgres;

use std::sync::Arc;

use common::shop::*;
use common::*;
use orders_core::memory::MemoryStore;
use orders_core::ports::Store;
use serde_json::json;

const ROUNDS: usize = 5;

/// The two statuses, sorted.
fn statuses(a: &Resp, b: &Resp) -> [u16; 2] {
    let mut both = [a.status.as_u16(), b.status.as_u16()];
    both.sort_unstable();
    both
}

/// One winner (`won`), and a refusal among `refused`.
#[track_caller]
fn one_wins(a: &Resp, b: &Resp, won: u16, refused: &[u16], what: &str) {
    let [low, high] = statuses(a, b);
    let ok = (low == won && refused.contains(&high)) || (high == won && refused.contains(&low));
    assert!(ok, "{what}: {low} and {high}: {:#} {:#}", a.body, b.body);
}

/// Two staff refund 60 % of the total at once: one refund, once.
async fn two_staff_refund_at_once(shop: &Shop) {
    for round in 0..ROUNDS {
        let sold = shop.delivered().await;
        // 25.00 + shipping; 15.00 fits once, not twice.
        let body = json!({"amount": "15.00"});
        let (a, b) = tokio::join!(
            shop.refund(&sold.id, body.clone()),
            shop.refund(&sold.id, body)
        );
        one_wins(&a, &b, 201, &[409, 422], &format!("refund, round {round}"));
        let (count, refunded) = shop.provider_refunds(&sold.id).await;
        assert_eq!((count, refunded.as_str()), (1, "15.00"), "round {round}");
        let order = shop.staff_order(&sold.id).await;
        assert_eq!(order["refunded_total"], "15.00", "round {round}");
        assert_eq!(
            order["refunds"].as_array().unwrap().len(),
            1,
            "round {round}"
        );
    }
}

/// Two staff ship the same last units at once: one fulfilment.
async fn two_staff_ship_at_once(shop: &Shop) {
    for round in 0..ROUNDS {
        let sold = shop.sold().await;
        let what = [(&sold.a, 2), (&sold.b, 1)];
        let (a, b) = tokio::join!(
            shop.ship(&sold.id, &what, "TRK-A"),
            shop.ship(&sold.id, &what, "TRK-B")
        );
        one_wins(&a, &b, 201, &[409, 422], &format!("ship, round {round}"));
        let order = shop.staff_order(&sold.id).await;
        assert_eq!(order["fulfilments"].as_array().unwrap().len(), 1);
        assert_eq!(order["status"], "shipped");
    }
}

/// A fulfilment delivered twice at once, a return asked twice at once,
/// approved and rejected at once, received twice at once (its unit back
/// in stock once), two notes at once (both kept).
async fn the_rest_at_once(shop: &Shop) {
    for round in 0..ROUNDS {
        let sold = shop.sold().await;
        let shipped = shop
            .ship(&sold.id, &[(&sold.a, 2), (&sold.b, 1)], "T")
            .await;
        let fulfilment = shipped.ok(201)["id"].as_str().unwrap().to_owned();
        let (a, b) = tokio::join!(shop.deliver(&fulfilment), shop.deliver(&fulfilment));
        one_wins(&a, &b, 200, &[409], &format!("deliver, round {round}"));
        assert_eq!(shop.staff_order(&sold.id).await["status"], "delivered");

        let what = [(&sold.a, 2)];
        let (a, b) = tokio::join!(
            shop.ask_return(ADA, &sold.id, &what),
            shop.ask_return(ADA, &sold.id, &what)
        );
        one_wins(&a, &b, 201, &[409, 422], &format!("return, round {round}"));
        let ret = if a.status == 201 { &a } else { &b };
        let ret = ret.body["id"].as_str().unwrap().to_owned();

        let reject = json!({"note": "Worn"});
        let (a, b) = tokio::join!(
            shop.move_return(&ret, "approve", None),
            shop.move_return(&ret, "reject", Some(reject))
        );
        one_wins(
            &a,
            &b,
            200,
            &[409],
            &format!("approve/reject, round {round}"),
        );
        if a.status == 200 {
            let stock = shop.app.stock(&sold.a).await;
            let restock = json!({"restock": true});
            let (a, b) = tokio::join!(
                shop.move_return(&ret, "receive", Some(restock.clone())),
                shop.move_return(&ret, "receive", Some(restock))
            );
            one_wins(&a, &b, 200, &[409], &format!("receive, round {round}"));
            assert_eq!(shop.app.stock(&sold.a).await, stock + 2, "round {round}");
        }

        let (a, b) = tokio::join!(
            shop.note(&sold.id, "first", false),
            shop.note(&sold.id, "second", true)
        );
        assert_eq!(statuses(&a, &b), [201, 201], "notes, round {round}");
        let order = shop.staff_order(&sold.id).await;
        assert_eq!(order["notes"].as_array().unwrap().len(), 2, "round {round}");
    }
}

async fn every_race(shop: &Shop) {
    two_staff_refund_at_once(shop).await;
    two_staff_ship_at_once(shop).await;
    the_rest_at_once(shop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_memory_store() {
    every_race(&shop_on(Arc::new(MemoryStore::new())).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shop.db").display());
    let store = orders_sqlx::SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    every_race(&shop_on(Arc::new(store) as Arc<dyn Store>).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres() {
    let Some(db) = postgres::Database::create("aftersale_races").await else {
        return;
    };
    let store = orders_sqlx::PgStore::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    every_race(&shop_on(Arc::new(store) as Arc<dyn Store>).await).await;
}
