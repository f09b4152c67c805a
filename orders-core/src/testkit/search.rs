//! Catalogue search: folded, case-insensitive in every script, with the
//! customer's `%`, `_` and `\` taken literally, paged newest first.
//!
//! The store is shared with the other checks, so every product here
//! carries a token of its own and every query names it.

use std::sync::Arc;

use super::{engine, unique, usd};
use crate::Orders;
use crate::catalogue::{Description, NewProduct, ProductName, ProductPatch, ProductQuery, Sku};
use crate::ids::ProductId;
use crate::ports::{Cursor, PageRequest, Store, StoreError};

async fn make(orders: &Orders, name: &str, sku: &str, description: &str) -> ProductId {
    let new = NewProduct::new(
        Sku::parse(sku).expect("valid sku"),
        ProductName::parse(name).expect("valid name"),
        usd("2.00"),
        5,
    )
    .description(Description::parse(description).expect("valid description"));
    orders
        .create_product(new)
        .await
        .expect("create product")
        .id()
        .clone()
}

/// Every id the store finds for `text`, walking all pages of `size`.
async fn found(
    store: &Arc<dyn Store>,
    text: &str,
    active_only: bool,
    size: usize,
) -> Vec<ProductId> {
    let query = ProductQuery::parse(text)
        .expect("valid")
        .expect("not blank");
    let mut ids = Vec::new();
    let mut page = PageRequest::first(size);
    loop {
        let result = store
            .search_products(&query, active_only, &page)
            .await
            .expect("search");
        assert!(result.items.len() <= size, "a page over its limit");
        for product in &result.items {
            assert!(
                query.matches(product),
                "{:?} does not match {text:?}",
                product.name()
            );
            assert!(
                product.active() || !active_only,
                "an inactive product listed"
            );
        }
        ids.extend(result.items.iter().map(|p| p.id().clone()));
        match result.next_cursor {
            Some(cursor) => page = PageRequest::first(size).after(Some(cursor)),
            None => return ids,
        }
    }
}

pub(super) async fn search_matches_name_sku_description_in_any_case(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let token = unique("tok").to_lowercase().replace('-', "");
    let upper = token.to_uppercase();
    let straße = make(&orders, &format!("Große Ürn {token}"), &unique("URN"), "").await;
    let sku_text = format!("FIND-{upper}-01");
    let by_sku = make(&orders, "Plain mug", &sku_text, &format!("x {token}")).await;
    let by_description = make(
        &orders,
        &format!("Pot {token}"),
        &unique("POT"),
        "Hand-thrown ÉTÉ stoneware",
    )
    .await;

    assert_eq!(
        found(&store, &upper, true, 10).await,
        vec![by_description.clone(), by_sku.clone(), straße.clone()]
    );
    assert_eq!(
        found(&store, &format!("GROSSE ürn {token}"), true, 10).await,
        Vec::<ProductId>::new()
    );
    assert_eq!(
        found(&store, &format!("GROẞE ÜRN {upper}"), true, 10).await,
        vec![straße.clone()],
        "Unicode capitals fold"
    );
    assert_eq!(
        found(&store, &format!("große u\u{308}rn {token}"), true, 10).await,
        vec![straße.clone()],
        "a decomposed ü folds to the composed one"
    );
    assert_eq!(
        found(&store, &sku_text.to_lowercase(), true, 10).await,
        vec![by_sku.clone()],
        "the SKU is searched"
    );
    let pot = found(&store, "été stoneware", true, 100).await;
    assert!(pot.contains(&by_description), "the description is searched");

    orders
        .update_product(
            &by_sku,
            ProductPatch {
                active: Some(false),
                ..Default::default()
            },
        )
        .await
        .expect("deactivate");
    assert_eq!(
        found(&store, &token, true, 10).await,
        vec![by_description.clone(), straße.clone()]
    );
    assert_eq!(
        found(&store, &token, false, 10).await,
        vec![by_description.clone(), by_sku, straße.clone()]
    );
    orders
        .update_product(
            &straße,
            ProductPatch {
                name: Some(ProductName::parse(&format!("Small urn {token}")).expect("name")),
                ..Default::default()
            },
        )
        .await
        .expect("rename");
    assert_eq!(
        found(&store, &format!("große ürn {token}"), false, 10).await,
        Vec::<ProductId>::new(),
        "an edit refreshes what is searched"
    );
    assert_eq!(
        found(&store, &format!("small URN {token}"), false, 10).await,
        vec![straße]
    );
}

pub(super) async fn search_takes_wildcards_literally(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let token = unique("w").to_lowercase().replace('-', "");
    let percent = make(&orders, &format!("100% {token}"), &unique("P"), "").await;
    let thousand = make(&orders, &format!("1000 {token}"), &unique("P"), "").await;
    let underscore = make(&orders, &format!("a_b {token}"), &unique("P"), "").await;
    let letter = make(&orders, &format!("axb {token}"), &unique("P"), "").await;
    let backslash = make(&orders, &format!(r"c\d {token}"), &unique("P"), "").await;
    let plain = make(&orders, &format!("cd {token}"), &unique("P"), "").await;

    assert_eq!(
        found(&store, &format!("100% {token}"), true, 10).await,
        vec![percent]
    );
    assert_eq!(
        found(&store, &format!("a_b {token}"), true, 10).await,
        vec![underscore]
    );
    assert_eq!(
        found(&store, &format!(r"c\d {token}"), true, 10).await,
        vec![backslash]
    );
    assert_eq!(
        found(&store, &format!("cd {token}"), true, 10).await,
        vec![plain]
    );
    assert!(!found(&store, "%", true, 100).await.contains(&thousand));
    assert!(!found(&store, "_", true, 100).await.contains(&letter));
}

pub(super) async fn search_pages_newest_first(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let token = unique("pg").to_lowercase().replace('-', "");
    let mut mine = Vec::new();
    for n in 0..5 {
        mine.push(make(&orders, &format!("Cup {n} {token}"), &unique("CUP"), "").await);
    }
    make(&orders, "Cup without the token", &unique("CUP"), "").await;
    mine.reverse();
    assert_eq!(
        found(&store, &token, true, 2).await,
        mine,
        "every page, newest first, once"
    );
    assert_eq!(found(&store, &token, true, 5).await, mine);
    let query = ProductQuery::parse(&token)
        .expect("valid")
        .expect("not blank");
    let bad = PageRequest::first(2).after(Some(Cursor("not a cursor".into())));
    assert_eq!(
        store.search_products(&query, true, &bad).await.unwrap_err(),
        StoreError::InvalidCursor
    );
}
