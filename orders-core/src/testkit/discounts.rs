//! Discounts: unique codes, and uses counted atomically under concurrent
//! checkouts.

use std::num::NonZeroU32;
use std::sync::Arc;

use futures_util::future::join_all;

use super::{cart_with, customer, engine, form, product, stock, unique, usd};
use crate::Error;
use crate::discount::{Discount, DiscountCode, DiscountKind};
use crate::money::Currency;
use crate::ports::Store;

pub(super) async fn discounts_unique_code(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let code = DiscountCode::parse(&unique("D")).expect("code");
    let discount = Discount::new(
        code.clone(),
        DiscountKind::percent("12.5").expect("pct"),
        chrono::Utc::now(),
    )
    .with_max_uses(NonZeroU32::new(3).expect("3"))
    .with_min_subtotal(usd("10"));
    orders
        .create_discount(discount.clone())
        .await
        .expect("create");
    assert_eq!(
        orders.create_discount(discount.clone()).await.unwrap_err(),
        Error::Duplicate("code")
    );
    let read = store.discount(&code).await.expect("read").expect("exists");
    assert_eq!(
        (
            read.kind(),
            read.max_uses(),
            read.min_subtotal(),
            read.uses()
        ),
        (discount.kind(), Some(3), Some(usd("10")), 0)
    );
    assert!(
        store
            .discount(&DiscountCode::parse(&unique("NONE")).expect("code"))
            .await
            .expect("read")
            .is_none()
    );
}

pub(super) async fn discount_uses_are_counted_atomically(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let p = product(&orders, "20.00", 100).await;
    let code = DiscountCode::parse(&unique("ONCE")).expect("code");
    let discount = Discount::new(
        code.clone(),
        DiscountKind::fixed("5", Currency::USD).expect("fixed"),
        chrono::Utc::now(),
    )
    .with_max_uses(NonZeroU32::MIN);
    orders.create_discount(discount).await.expect("create");
    let mut carts = Vec::new();
    for _ in 0..4 {
        let who = customer();
        let cart = cart_with(&orders, &who, &[(p.id(), 1)]).await;
        let priced = orders
            .apply_discount(&who, &cart, code.as_str())
            .await
            .expect("apply");
        assert_eq!(priced.totals.discount, usd("5.00"));
        carts.push((who, cart));
    }
    let results = join_all(
        carts
            .iter()
            .map(|(who, cart)| orders.checkout(who, cart, form(None), None)),
    )
    .await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1, "{results:?}");
    for result in &results {
        if let Err(error) = result {
            assert_eq!(error.code(), "discount_unavailable");
        }
    }
    assert_eq!(stock(&orders, p.id()).await, 99);
    assert_eq!(
        store
            .discount(&code)
            .await
            .expect("read")
            .expect("exists")
            .uses(),
        1
    );
}
