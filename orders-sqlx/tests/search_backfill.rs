//! Products stored before the search text existed (migration: SQLite 10,
//! PostgreSQL 14) are folded by `migrate()` in Rust, so a search finds them
//! in any case and script, which neither database's `lower()` would do the
//! same way.
#![cfg(all(feature = "sqlite", feature = "postgres"))]

mod common;

use std::sync::Arc;

use orders_core::Orders;
use orders_core::catalogue::{NewProduct, ProductName, ProductQuery, Sku};
use orders_core::money::{Currency, Money};
use orders_core::ports::{PageRequest, Store};

/// Stores a product, blanks its search text as an older build left it,
/// migrates again and searches for it in other capitals.
async fn older_rows_are_folded(
    store: Arc<dyn Store>,
    blank: impl AsyncFnOnce(),
    migrate: impl AsyncFnOnce(),
) {
    let orders = Orders::builder(store.clone()).demo().build();
    let product = orders
        .create_product(NewProduct::new(
            Sku::parse("ECLAIR-1").unwrap(),
            ProductName::parse("Éclair à l'ÉTÉ Ürn").unwrap(),
            Money::parse_price("3.00", Currency::EUR).unwrap(),
            4,
        ))
        .await
        .unwrap();
    blank().await;
    let query = ProductQuery::parse("éclair à l'été ÜRN").unwrap().unwrap();
    let page = PageRequest::first(10);
    let before = store.search_products(&query, true, &page).await.unwrap();
    assert!(
        before.items.is_empty(),
        "the blanked row is not searchable yet"
    );
    migrate().await;
    let after = store.search_products(&query, true, &page).await.unwrap();
    let found: Vec<_> = after.items.iter().map(|p| p.id().clone()).collect();
    assert_eq!(found, vec![product.id().clone()]);
}

const BLANK: &str = "UPDATE orders_products SET search_text = NULL";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_folds_the_search_text_of_older_rows() {
    let (sqlite, _dir) = common::sqlite().await;
    older_rows_are_folded(
        sqlite.clone(),
        async || {
            sqlx::query(BLANK).execute(sqlite.pool()).await.unwrap();
        },
        async || sqlite.migrate().await.unwrap(),
    )
    .await;

    let Some(db) = common::PgDatabase::create().await else {
        return;
    };
    let pg = db.store().await;
    older_rows_are_folded(
        pg.clone(),
        async || {
            sqlx::query(BLANK).execute(pg.pool()).await.unwrap();
        },
        async || pg.migrate().await.unwrap(),
    )
    .await;
}
