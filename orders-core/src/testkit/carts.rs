//! Carts: compare-and-set, concurrent changes, reading a cart with its
//! products, and a closed cart refusing every change.

use std::sync::Arc;

use futures_util::future::join_all;

use super::{cart_with, customer, engine, form, product, stock, unique};
use crate::Error;
use crate::cart::{Cart, CartParts, Quantity};
use crate::catalogue::Product;
use crate::ids::{CartId, ProductId};
use crate::ports::{Store, StoreError};

pub(super) async fn carts_compare_and_set(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let who = customer();
    let p = product(&orders, "2.00", 5).await;
    let cart_id = cart_with(&orders, &who, &[(p.id(), 1)]).await;
    let mut cart = store.cart(&cart_id).await.expect("read").expect("exists");
    let stale = cart.clone();
    let version = cart.version();
    cart.set_quantity(p.id(), 4, chrono::Utc::now())
        .expect("change");
    store
        .update_cart(&cart, version)
        .await
        .expect("first writer wins");
    let mut late = stale.clone();
    late.set_quantity(p.id(), 2, chrono::Utc::now())
        .expect("change");
    assert_eq!(
        store.update_cart(&late, version).await,
        Err(StoreError::Conflict)
    );
    let read = store.cart(&cart_id).await.expect("read").expect("exists");
    assert_eq!(read, cart);
    let ghost = Cart::restore(CartParts {
        id: CartId::generate(),
        ..cart.clone().into_parts()
    })
    .expect("a cart");
    assert_eq!(
        store.update_cart(&ghost, ghost.version()).await,
        Err(StoreError::NotFound)
    );
    // Another customer's cart is invisible through the facade.
    assert_eq!(
        orders
            .cart(&customer(), &cart_id, &Default::default())
            .await
            .unwrap_err(),
        Error::NotFound("cart")
    );
}

/// Many changes to one cart at the same moment: each lost
/// compare-and-set is retried by the facade, so every change lands once.
pub(super) async fn concurrent_cart_changes_all_land(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let who = customer();
    let cart_id = cart_with(&orders, &who, &[]).await;
    let mut products = Vec::new();
    for _ in 0..8 {
        products.push(product(&orders, "1.00", 5).await.id().clone());
    }
    let one = Quantity::new(1).expect("q");
    let results = join_all(
        products
            .iter()
            .map(|p| orders.add_to_cart(&who, &cart_id, p, one)),
    )
    .await;
    for result in &results {
        assert!(result.is_ok(), "{result:?}");
    }
    let cart = store.cart(&cart_id).await.expect("read").expect("cart");
    assert_eq!(cart.lines().len(), products.len(), "every line landed once");
    assert_eq!(
        cart.version(),
        1 + products.len() as u64,
        "one version per change"
    );
}

pub(super) async fn cart_with_products_reads_lines_and_extra(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let who = customer();
    let (a, b, c) = (
        product(&orders, "1.00", 5).await,
        product(&orders, "2.00", 5).await,
        product(&orders, "3.00", 5).await,
    );
    let ids = |found: &[Product]| {
        let mut ids: Vec<String> = found.iter().map(|p| p.id().to_string()).collect();
        ids.sort();
        ids
    };
    let sorted = |products: &[&Product]| {
        let mut ids: Vec<String> = products.iter().map(|p| p.id().to_string()).collect();
        ids.sort();
        ids
    };

    let empty = cart_with(&orders, &who, &[]).await;
    let (cart, found) = store
        .cart_with_products(&empty, &[])
        .await
        .expect("read")
        .expect("the cart");
    assert_eq!(cart.id(), &empty);
    assert!(found.is_empty(), "an empty cart has no products: {found:?}");

    let full = cart_with(&orders, &who, &[(a.id(), 1), (b.id(), 2)]).await;
    let (cart, found) = store
        .cart_with_products(&full, &[])
        .await
        .expect("read")
        .expect("the cart");
    assert_eq!(cart.lines().len(), 2);
    assert_eq!(cart.version(), 3, "the cart as stored");
    assert_eq!(ids(&found), sorted(&[&a, &b]), "the lines' products");
    let stored = found.iter().find(|p| p.id() == b.id()).expect("b");
    assert_eq!(
        (
            &stored.sku(),
            stored.price(),
            stored.stock(),
            stored.active()
        ),
        (&b.sku(), b.price(), b.stock(), b.active()),
        "each product whole, as stored"
    );

    let gone = ProductId::parse(&unique("gone")).expect("id");
    let (_, found) = store
        .cart_with_products(&full, &[c.id().clone(), a.id().clone(), gone])
        .await
        .expect("read")
        .expect("the cart");
    assert_eq!(
        ids(&found),
        sorted(&[&a, &b, &c]),
        "lines and extra, each once, unknown ones left out"
    );
    let (_, found) = store
        .cart_with_products(&empty, std::slice::from_ref(c.id()))
        .await
        .expect("read")
        .expect("the cart");
    assert_eq!(ids(&found), sorted(&[&c]), "extra alone");

    let unknown = CartId::parse(&unique("cart")).expect("id");
    assert!(
        store
            .cart_with_products(&unknown, std::slice::from_ref(a.id()))
            .await
            .expect("read")
            .is_none(),
        "an unknown cart is None"
    );
}

pub(super) async fn closed_cart_refuses_everything(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let who = customer();
    let p = product(&orders, "1.00", 5).await;
    let cart_id = cart_with(&orders, &who, &[(p.id(), 1)]).await;
    orders
        .checkout(&who, &cart_id, form(None), None)
        .await
        .expect("checkout");
    assert_eq!(
        orders
            .checkout(&who, &cart_id, form(None), None)
            .await
            .unwrap_err(),
        Error::CartClosed
    );
    let one = Quantity::new(1).expect("q");
    assert_eq!(
        orders
            .add_to_cart(&who, &cart_id, p.id(), one)
            .await
            .unwrap_err(),
        Error::CartClosed
    );
    assert_eq!(
        orders
            .set_cart_quantity(&who, &cart_id, p.id(), 3)
            .await
            .unwrap_err(),
        Error::CartClosed
    );
    assert_eq!(
        orders
            .remove_from_cart(&who, &cart_id, p.id())
            .await
            .unwrap_err(),
        Error::CartClosed
    );
    assert_eq!(stock(&orders, p.id()).await, 4);
}
