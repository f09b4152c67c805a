//! Product versions: an edit made from an old version is refused, every
//! change (a sale and a cancellation included) moves the version on, and
//! stock adjustments apply to the stock as stored.

use std::sync::Arc;

use futures_util::future::join_all;

use super::{cart_with, customer, engine, form, product, stock};
use crate::Error;
use crate::catalogue::{Product, ProductEdit, ProductName, ProductPatch, StockChange};
use crate::ids::ProductId;
use crate::ports::{Store, StoreError};

fn rename(name: &str) -> ProductPatch {
    ProductPatch {
        name: Some(ProductName::parse(name).expect("name")),
        ..Default::default()
    }
}

fn adjust(delta: i64) -> ProductPatch {
    ProductPatch {
        stock: Some(StockChange::Adjust(delta)),
        ..Default::default()
    }
}

fn at(patch: ProductPatch, version: u64) -> ProductEdit {
    ProductEdit {
        patch,
        expected_version: Some(version),
    }
}

async fn stored(store: &Arc<dyn Store>, id: &ProductId) -> Product {
    store.product(id).await.expect("read").expect("product")
}

/// `update_product` with an expected version is a compare-and-set: one
/// winner among concurrent edits of one version, the rest refused with
/// `Conflict` and nothing written.
pub(super) async fn product_edits_compare_and_set_on_version(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let p = product(&orders, "5.00", 3).await;
    assert_eq!(p.version(), 1, "a new product is at version 1");
    assert_eq!(stored(&store, p.id()).await.version(), 1);

    let now = chrono::Utc::now();
    let renamed = store
        .update_product(p.id(), &rename("First"), Some(1), now)
        .await
        .expect("edit at the stored version");
    assert_eq!((renamed.version(), renamed.name().as_str()), (2, "First"));
    assert_eq!(stored(&store, p.id()).await, renamed);

    let stale = ProductPatch {
        stock: Some(StockChange::Set(99)),
        ..rename("Stale")
    };
    assert_eq!(
        store.update_product(p.id(), &stale, Some(1), now).await,
        Err(StoreError::Conflict),
        "an edit made from version 1 after version 2 was written"
    );
    assert_eq!(stored(&store, p.id()).await, renamed, "nothing written");
    assert_eq!(
        store
            .update_product(&ProductId::generate(), &stale, Some(1), now)
            .await,
        Err(StoreError::NotFound)
    );

    // Without a version the patch applies to whatever is stored.
    let blind = store
        .update_product(p.id(), &rename("Second"), None, now)
        .await
        .expect("edit without version");
    assert_eq!(blind.version(), 3);

    // The engine answers a stale edit with the product as stored now.
    match orders.update_product(p.id(), at(rename("Late"), 2)).await {
        Err(Error::Stale(current)) => assert_eq!(*current, blind),
        other => panic!("expected Stale, got {other:?}"),
    }

    // Eight edits of version 3 at once: exactly one lands.
    let results = join_all((0..8).map(|i| {
        let store = store.clone();
        let id = p.id().clone();
        async move {
            store
                .update_product(&id, &rename(&format!("Racer {i}")), Some(3), now)
                .await
        }
    }))
    .await;
    let won: Vec<&Product> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| r.is_ok() || r == &Err(StoreError::Conflict)),
        "{results:?}"
    );
    let last = stored(&store, p.id()).await;
    assert_eq!(&last, won[0]);
    assert_eq!(last.version(), 4);
}

/// Stock taken by a checkout and returned by a cancellation moves the
/// version on, so an edit opened before either is refused and the stock
/// stays as the sale left it.
pub(super) async fn sales_and_cancellations_make_older_edits_stale(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let who = customer();
    let p = product(&orders, "8.00", 10).await;
    let opened = stored(&store, p.id()).await;

    let cart = cart_with(&orders, &who, &[(p.id(), 3)]).await;
    let order = orders
        .checkout(&who, &cart, form(None), None)
        .await
        .expect("checkout")
        .order;
    let sold = stored(&store, p.id()).await;
    assert_eq!(sold.stock(), 7);
    assert!(
        sold.version() > opened.version(),
        "a sale moves the version on"
    );

    // The form opened before the sale re-sends the stock it loaded.
    let resave = ProductPatch {
        stock: Some(StockChange::Set(opened.stock())),
        ..rename("Renamed")
    };
    match orders
        .update_product(p.id(), at(resave.clone(), opened.version()))
        .await
    {
        Err(Error::Stale(current)) => {
            assert_eq!((current.stock(), current.version()), (7, sold.version()))
        }
        other => panic!("expected Stale, got {other:?}"),
    }
    assert_eq!(stored(&store, p.id()).await, sold, "nothing written");

    // With the fresh version the rename lands and the stock stays 7.
    let fresh = orders
        .update_product(p.id(), at(rename("Renamed"), sold.version()))
        .await
        .expect("fresh edit");
    assert_eq!((fresh.name().as_str(), fresh.stock()), ("Renamed", 7));

    // A cancellation returns the stock and moves the version on too.
    orders.cancel(&who, order.id(), None).await.expect("cancel");
    let returned = stored(&store, p.id()).await;
    assert_eq!(returned.stock(), 10);
    assert!(
        returned.version() > fresh.version(),
        "a cancellation moves it on"
    );
    assert!(matches!(
        orders
            .update_product(p.id(), at(rename("Too late"), fresh.version()))
            .await,
        Err(Error::Stale(_))
    ));
    assert_eq!(stock(&orders, p.id()).await, 10);
}

/// Adjustments add to the stock as stored (concurrent ones all count),
/// and one that would take it below zero is refused and writes nothing.
pub(super) async fn stock_adjustments_apply_to_the_stored_stock(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let p = product(&orders, "2.00", 10).await;

    let plus = orders
        .update_product(p.id(), adjust(5))
        .await
        .expect("adjust without a version");
    assert_eq!((plus.stock(), plus.version()), (15, 2));

    let before = stored(&store, p.id()).await;
    assert_eq!(
        store
            .update_product(p.id(), &adjust(-16), None, chrono::Utc::now())
            .await,
        Err(StoreError::StockOutOfRange)
    );
    match orders.update_product(p.id(), adjust(-16)).await {
        Err(Error::Validation(errors)) => assert!(errors.contains("stock_adjustment")),
        other => panic!("expected a validation error, got {other:?}"),
    }
    assert_eq!(stored(&store, p.id()).await, before, "nothing written");

    // An absolute count needs a version; an adjustment with a stale one
    // is refused like any stale edit.
    let count = ProductPatch {
        stock: Some(StockChange::Set(1)),
        ..Default::default()
    };
    match orders.update_product(p.id(), count).await {
        Err(Error::Validation(errors)) => assert!(errors.contains("version")),
        other => panic!("expected a validation error, got {other:?}"),
    }
    assert!(matches!(
        orders.update_product(p.id(), at(adjust(1), 1)).await,
        Err(Error::Stale(_))
    ));
    assert_eq!(stored(&store, p.id()).await, before, "nothing written");

    // Twenty +1 and ten -1 at once: no adjustment is lost.
    let deltas = (0..30).map(|i| if i % 3 == 2 { -1 } else { 1 });
    let results = join_all(deltas.map(|delta| {
        let orders = orders.clone();
        let id = p.id().clone();
        async move { orders.update_product(&id, adjust(delta)).await }
    }))
    .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let after = stored(&store, p.id()).await;
    assert_eq!(after.stock(), 15 + 20 - 10);
    assert_eq!(after.version(), before.version() + 30);
}
