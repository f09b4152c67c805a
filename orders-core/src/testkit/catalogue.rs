//! Products: unique SKUs, patches, and the newest-first catalogue list.

use std::sync::Arc;

use super::{engine, product, usd};
use crate::Error;
use crate::catalogue::{NewProduct, ProductEdit, ProductPatch, StockChange};
use crate::ids::ProductId;
use crate::ports::{Cursor, PageRequest, Store, StoreError};

pub(super) async fn products_unique_sku_and_patch(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let p = product(&orders, "5.00", 3).await;
    let twin =
        NewProduct::new(p.sku().clone(), p.name().clone(), usd("1"), 1).id(ProductId::generate());
    assert_eq!(
        orders.create_product(twin.clone()).await.unwrap_err(),
        Error::Duplicate("sku")
    );
    assert!(
        store
            .product(twin.product_id())
            .await
            .expect("read")
            .is_none(),
        "duplicate stored"
    );

    let patch = ProductPatch {
        price: Some(usd("7.25")),
        stock: Some(StockChange::Set(9)),
        active: Some(false),
        ..Default::default()
    };
    let edit = ProductEdit {
        patch: patch.clone(),
        expected_version: Some(p.version()),
    };
    let updated = orders.update_product(p.id(), edit).await.expect("update");
    assert_eq!(
        (updated.price(), updated.stock(), updated.active()),
        (usd("7.25"), 9, false)
    );
    let read = store.product(p.id()).await.expect("read").expect("exists");
    assert_eq!(read, updated, "the store returns what it stored");
    assert_eq!(
        store
            .update_product(&ProductId::generate(), &patch, None, chrono::Utc::now())
            .await,
        Err(StoreError::NotFound)
    );
    let both = store
        .products(&[p.id().clone(), ProductId::generate()])
        .await
        .expect("read");
    assert_eq!(both.len(), 1);
}

pub(super) async fn products_list_newest_first(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let mut mine = Vec::new();
    for _ in 0..5 {
        mine.push(product(&orders, "1.00", 1).await.id().clone());
    }
    orders
        .update_product(
            &mine[2],
            ProductPatch {
                active: Some(false),
                ..Default::default()
            },
        )
        .await
        .expect("deactivate");
    // Walk every page of active products; ours appear newest first, once.
    let mut seen = Vec::new();
    let mut page = PageRequest::first(2);
    loop {
        let result = store.list_products(true, &page).await.expect("list");
        assert!(result.items.len() <= 2);
        assert!(result.items.iter().all(|p| p.active()));
        seen.extend(
            result
                .items
                .into_iter()
                .map(|p| p.id().clone())
                .filter(|id| mine.contains(id)),
        );
        match result.next_cursor {
            Some(cursor) => page = PageRequest::first(2).after(Some(cursor)),
            None => break,
        }
    }
    let expected: Vec<_> = mine
        .iter()
        .rev()
        .filter(|id| **id != mine[2])
        .cloned()
        .collect();
    assert_eq!(seen, expected);
    let bad = PageRequest::first(2).after(Some(Cursor("not a cursor".into())));
    assert_eq!(
        store.list_products(true, &bad).await.unwrap_err(),
        StoreError::InvalidCursor
    );
}
