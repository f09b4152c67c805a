//! Idempotency keys: retries return the first order, and claims (alone or
//! with the cart) are taken, refused, completed and taken over as
//! documented.

use std::sync::Arc;

use futures_util::future::join_all;

use super::{cart_with, customer, engine, form, product, stock, unique};
use crate::cart::Quantity;
use crate::catalogue::Product;
use crate::ids::CartId;
use crate::ports::{IdempotencyClaim, IdempotencyState, OrderFilter, PageRequest, Store};
use crate::{Access, Error};

pub(super) async fn idempotent_retries(store: Arc<dyn Store>) {
    let (orders, gateway) = engine(store.clone());
    let who = customer();
    let p = product(&orders, "4.00", 10).await;
    let cart_id = cart_with(&orders, &who, &[(p.id(), 1)]).await;
    let key = unique("key");
    let first = orders
        .checkout(&who, &cart_id, form(Some("4242424242424242")), Some(&key))
        .await
        .expect("first");
    let again = orders
        .checkout(&who, &cart_id, form(Some("4242424242424242")), Some(&key))
        .await
        .expect("retry");
    assert!(first.created && !again.created);
    assert_eq!(first.order, again.order);
    assert_eq!(gateway.captured_count(), 1);
    assert_eq!(stock(&orders, p.id()).await, 9);
    assert_eq!(
        orders
            .checkout(&who, &cart_id, form(None), Some(&key))
            .await
            .unwrap_err(),
        Error::IdempotencyMismatch
    );
    // Keys belong to their customer: another customer's same key is theirs.
    let other = customer();
    let their_cart = cart_with(&orders, &other, &[(p.id(), 1)]).await;
    let theirs = orders
        .checkout(&other, &their_cart, form(None), Some(&key))
        .await
        .expect("other");
    assert_ne!(theirs.order.id(), first.order.id());

    // The same key at the same moment: one order, never two.
    let racer = customer();
    let race_cart = cart_with(&orders, &racer, &[(p.id(), 1)]).await;
    let race_key = unique("race");
    let results = join_all((0..4).map(|_| {
        orders.checkout(
            &racer,
            &race_cart,
            form(Some("4242424242424242")),
            Some(&race_key),
        )
    }))
    .await;
    let mut ids = Vec::new();
    for result in results {
        match result {
            Ok(outcome) => ids.push(outcome.order.id().clone()),
            Err(error) => assert_eq!(error, Error::IdempotencyInProgress),
        }
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "exactly one order for one key");
    let mine = OrderFilter {
        customer_id: Some(racer),
        ..Default::default()
    };
    assert_eq!(
        orders
            .list_orders(Access::Staff, &mine, &PageRequest::default())
            .await
            .expect("list")
            .items
            .len(),
        1
    );

    // A failed checkout frees its key.
    let failing = customer();
    let empty = cart_with(&orders, &failing, &[]).await;
    let key = unique("empty");
    assert_eq!(
        orders
            .checkout(&failing, &empty, form(None), Some(&key))
            .await
            .unwrap_err(),
        Error::CartEmpty
    );
    orders
        .add_to_cart(&failing, &empty, p.id(), Quantity::new(1).expect("q"))
        .await
        .expect("add");
    orders
        .checkout(&failing, &empty, form(None), Some(&key))
        .await
        .expect("key usable again");

    // Another customer's cart, or none, is not found with a key too, and
    // frees the key it claimed on the way.
    let stranger = customer();
    let key = unique("stranger");
    for cart in [&empty, &CartId::parse(&unique("cart")).expect("id")] {
        assert_eq!(
            orders
                .checkout(&stranger, cart, form(None), Some(&key))
                .await
                .unwrap_err(),
            Error::NotFound("cart")
        );
    }
    let own = cart_with(&orders, &stranger, &[(p.id(), 1)]).await;
    orders
        .checkout(&stranger, &own, form(None), Some(&key))
        .await
        .expect("the key was not left claimed");
}

pub(super) async fn idempotency_claims(store: Arc<dyn Store>) {
    let now = chrono::Utc::now();
    let claim = IdempotencyClaim {
        customer_id: customer(),
        key: unique("k"),
        fingerprint: "f1".into(),
    };
    let long_ago = now - chrono::Duration::hours(1);
    assert_eq!(
        store
            .begin_idempotent(&claim, now, long_ago)
            .await
            .expect("begin"),
        IdempotencyState::Claimed
    );
    assert_eq!(
        store
            .begin_idempotent(&claim, now, long_ago)
            .await
            .expect("begin"),
        IdempotencyState::InProgress {
            fingerprint: "f1".into()
        }
    );
    // A claim older than the lease is taken over.
    let later = now + chrono::Duration::minutes(10);
    let other = IdempotencyClaim {
        fingerprint: "f2".into(),
        ..claim.clone()
    };
    assert_eq!(
        store
            .begin_idempotent(&other, later, later - chrono::Duration::minutes(5))
            .await
            .expect("begin"),
        IdempotencyState::Claimed
    );
    store
        .release_idempotent(&claim.customer_id, &claim.key)
        .await
        .expect("release");
    assert_eq!(
        store
            .begin_idempotent(&claim, now, long_ago)
            .await
            .expect("begin"),
        IdempotencyState::Claimed
    );
    let concurrent = IdempotencyClaim {
        key: unique("k"),
        ..claim.clone()
    };
    let states = join_all((0..8).map(|_| store.begin_idempotent(&concurrent, now, long_ago))).await;
    let claimed = states
        .iter()
        .filter(|s| matches!(s, Ok(IdempotencyState::Claimed)))
        .count();
    assert_eq!(claimed, 1, "{states:?}");
}

/// `begin_idempotent_with_cart` claims as `begin_idempotent` does and reads
/// as `cart_with_products` does, together or apart.
pub(super) async fn idempotency_claims_with_the_cart(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let who = customer();
    let (a, b) = (
        product(&orders, "1.00", 5).await,
        product(&orders, "2.00", 5).await,
    );
    let cart_id = cart_with(&orders, &who, &[(a.id(), 2), (b.id(), 1)]).await;
    let now = chrono::Utc::now();
    let long_ago = now - chrono::Duration::hours(1);
    let claim = IdempotencyClaim {
        customer_id: who.clone(),
        key: unique("k"),
        fingerprint: "f1".into(),
    };
    let sorted = |mut products: Vec<Product>| {
        products.sort_by(|x, y| x.id().cmp(y.id()));
        products
    };
    let alone = store
        .cart_with_products(&cart_id, &[])
        .await
        .expect("read")
        .map(|(cart, products)| (cart, sorted(products)));
    assert!(alone.is_some(), "the cart exists");

    let first = store
        .begin_idempotent_with_cart(&claim, now, long_ago, &cart_id)
        .await
        .expect("begin");
    assert_eq!(first.claim, IdempotencyState::Claimed);
    let read = first.cart.map(|(cart, products)| (cart, sorted(products)));
    assert_eq!(read, alone, "the cart and its products, as read alone");
    let again = store
        .begin_idempotent_with_cart(&claim, now, long_ago, &cart_id)
        .await
        .expect("again");
    assert_eq!(
        again.claim,
        IdempotencyState::InProgress {
            fingerprint: "f1".into()
        }
    );
    assert!(again.cart.is_some());

    // No such cart: no cart, but the claim is made all the same.
    let nowhere = CartId::parse(&unique("cart")).expect("id");
    let other = IdempotencyClaim {
        key: unique("k"),
        ..claim.clone()
    };
    let missing = store
        .begin_idempotent_with_cart(&other, now, long_ago, &nowhere)
        .await
        .expect("begin");
    assert_eq!(
        (missing.claim, missing.cart),
        (IdempotencyState::Claimed, None)
    );
    assert_eq!(
        store
            .begin_idempotent(&other, now, long_ago)
            .await
            .expect("begin"),
        IdempotencyState::InProgress {
            fingerprint: "f1".into()
        },
        "the claim was recorded"
    );

    // Concurrent claims of one key: exactly one wins, all read the cart.
    let raced = IdempotencyClaim {
        key: unique("k"),
        ..claim.clone()
    };
    let results =
        join_all((0..8).map(|_| store.begin_idempotent_with_cart(&raced, now, long_ago, &cart_id)))
            .await;
    let claimed = results
        .iter()
        .filter(|r| matches!(r, Ok(found) if found.claim == IdempotencyState::Claimed))
        .count();
    assert_eq!(claimed, 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(found) if found.cart.is_some())),
        "{results:?}"
    );

    // A key that placed an order is completed, with that order.
    let key = unique("k");
    let placed = orders
        .checkout(&who, &cart_id, form(None), Some(&key))
        .await
        .expect("checkout");
    let done = store
        .begin_idempotent_with_cart(
            &IdempotencyClaim {
                key,
                ..claim.clone()
            },
            now,
            long_ago,
            &cart_id,
        )
        .await
        .expect("begin");
    assert!(
        matches!(&done.claim, IdempotencyState::Completed { order_id, .. } if order_id == placed.order.id()),
        "{:?}",
        done.claim
    );
    let (cart, _) = done.cart.expect("the cart");
    assert!(!cart.is_open(), "the cart as checked out");
}
