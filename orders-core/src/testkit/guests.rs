//! Guest carts: the token kept as a hash, a customer's open cart, and
//! claims (merge, adopt, and two at once).

use std::sync::Arc;

use futures_util::future::join;

use super::{cart_with, customer, engine, product};
use crate::cart::{MergeWarningReason, Quantity};
use crate::catalogue::{ProductEdit, ProductPatch};
use crate::ids::{CartId, CustomerId, ProductId};
use crate::money::Currency;
use crate::ports::{CartClaim, Store, StoreError};
use crate::{Error, Orders};

fn q(n: u32) -> Quantity {
    Quantity::new(n).expect("quantity")
}

/// A guest cart holding each `(product, quantity)`, with its owner and
/// token.
async fn guest_cart_with(
    orders: &Orders,
    lines: &[(&ProductId, u32)],
) -> (CartId, CustomerId, String) {
    let (cart, token) = orders
        .create_guest_cart(Some(Currency::USD))
        .await
        .expect("guest cart");
    let guest = orders
        .guest_cart_owner(&cart.id, token.as_str())
        .await
        .expect("its token opens it");
    for (product, quantity) in lines {
        orders
            .add_to_cart(&guest, &cart.id, product, q(*quantity))
            .await
            .expect("add");
    }
    (cart.id, guest, token.as_str().to_owned())
}

pub(super) async fn guest_cart_opens_with_its_token_only(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let (a, guest, token) = guest_cart_with(&orders, &[]).await;
    let (b, _, other_token) = guest_cart_with(&orders, &[]).await;
    assert!(guest.is_guest(), "a guest id: {guest:?}");
    let stored = store.cart(&a).await.expect("read").expect("stored");
    assert!(stored.opens_with(&token), "the hash survives the store");
    assert_eq!(
        stored
            .token_hash()
            .map(|h| h.to_hex())
            .map(|h| h.contains(&token)),
        Some(false),
        "the store keeps a hash, not the token"
    );
    let not_found = Err(Error::NotFound("cart"));
    assert_eq!(orders.guest_cart_owner(&a, &other_token).await, not_found);
    assert_eq!(orders.guest_cart_owner(&b, &token).await, not_found);
    assert_eq!(orders.guest_cart_owner(&a, "").await, not_found);
    let who = customer();
    let mine = cart_with(&orders, &who, &[]).await;
    assert_eq!(orders.guest_cart_owner(&mine, &token).await, not_found);
    assert_eq!(
        orders
            .cart(&who, &a, &Default::default())
            .await
            .unwrap_err(),
        Error::NotFound("cart"),
        "a customer cannot open a guest cart by id"
    );
}

pub(super) async fn open_cart_is_the_newest_open_one(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let who = customer();
    assert_eq!(store.open_cart(&who, None).await, Ok(None));
    let p = product(&orders, "1.00", 5).await;
    let older = cart_with(&orders, &who, &[]).await;
    let newer = cart_with(&orders, &who, &[]).await;
    // Changing the older one makes it the newest.
    orders
        .add_to_cart(&who, &older, p.id(), q(1))
        .await
        .expect("add");
    let open = store.open_cart(&who, None).await.expect("read");
    assert_eq!(open.map(|c| c.id().clone()), Some(older.clone()));
    orders
        .checkout(&who, &older, super::form(None), None)
        .await
        .expect("checkout");
    let open = store.open_cart(&who, None).await.expect("read");
    assert_eq!(
        open.map(|c| c.id().clone()),
        Some(newer.clone()),
        "a closed cart is never current"
    );
    let in_eur = store
        .open_cart(&who, Some(Currency::EUR))
        .await
        .expect("read");
    assert_eq!(in_eur, None, "only carts of the currency asked for");
    assert_eq!(store.open_cart(&customer(), None).await, Ok(None));
    assert_eq!(
        orders.current_cart(&who).await.map(|c| c.id),
        Ok(newer),
        "the facade's current cart"
    );
}

pub(super) async fn claim_merges_caps_and_closes(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let who = customer();
    let (a, b, gone) = (
        product(&orders, "1.00", 5).await,
        product(&orders, "2.00", 5).await,
        product(&orders, "3.00", 5).await,
    );
    let mine = cart_with(&orders, &who, &[(a.id(), 998)]).await;
    let (guest_cart, _, token) =
        guest_cart_with(&orders, &[(a.id(), 5), (b.id(), 3), (gone.id(), 1)]).await;
    let off = ProductPatch {
        active: Some(false),
        ..Default::default()
    };
    orders
        .update_product(
            gone.id(),
            ProductEdit {
                patch: off,
                expected_version: None,
            },
        )
        .await
        .expect("deactivate");
    let claimed = orders
        .claim_cart(&who, &guest_cart, &token)
        .await
        .expect("claim");
    assert_eq!(claimed.cart.id, mine, "merged into the customer's cart");
    let quantities: Vec<(ProductId, u32)> = claimed
        .cart
        .lines
        .iter()
        .map(|l| (l.product_id.clone(), l.quantity.get()))
        .collect();
    assert_eq!(
        quantities,
        vec![(a.id().clone(), 999), (b.id().clone(), 3)],
        "added, capped at 999, the unavailable one left out"
    );
    let warnings: Vec<(ProductId, u32, MergeWarningReason)> = claimed
        .merge_warnings
        .iter()
        .map(|w| (w.product_id.clone(), w.merged, w.reason))
        .collect();
    assert_eq!(
        warnings,
        vec![
            (a.id().clone(), 1, MergeWarningReason::Capped),
            (gone.id().clone(), 0, MergeWarningReason::Unavailable),
        ]
    );
    let guest = store.cart(&guest_cart).await.expect("read").expect("kept");
    assert!(!guest.is_open(), "the guest cart is closed");
    assert_eq!(
        orders.claim_cart(&who, &guest_cart, &token).await,
        Err(Error::CartClosed),
        "a claimed cart cannot be claimed again"
    );
    assert_eq!(
        orders.claim_cart(&who, &guest_cart, "wrong").await,
        Err(Error::NotFound("cart"))
    );
}

pub(super) async fn claim_adopts_without_an_open_cart(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let who = customer();
    let p = product(&orders, "1.00", 5).await;
    let (guest_cart, _, token) = guest_cart_with(&orders, &[(p.id(), 2)]).await;
    let claimed = orders
        .claim_cart(&who, &guest_cart, &token)
        .await
        .expect("claim");
    assert_eq!(claimed.cart.id, guest_cart, "the guest cart itself");
    assert!(claimed.merge_warnings.is_empty());
    let stored = store.cart(&guest_cart).await.expect("read").expect("kept");
    assert_eq!(stored.customer_id(), &who, "now the customer's");
    assert!(stored.is_open());
    assert!(!stored.opens_with(&token), "its token no longer opens it");
    assert_eq!(
        orders.current_cart(&who).await.map(|c| c.id),
        Ok(guest_cart)
    );
}

/// Two claims of one guest cart at once: one wins, the guest's lines are
/// added once; the other is refused.
pub(super) async fn concurrent_claims_merge_once(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let p = product(&orders, "1.00", 5).await;
    for adopt in [false, true] {
        let who = customer();
        let other = if adopt { customer() } else { who.clone() };
        if !adopt {
            cart_with(&orders, &who, &[(p.id(), 1)]).await;
        }
        let (guest_cart, _, token) = guest_cart_with(&orders, &[(p.id(), 2)]).await;
        let (first, second) = join(
            orders.claim_cart(&who, &guest_cart, &token),
            orders.claim_cart(&other, &guest_cart, &token),
        )
        .await;
        let wins = [&first, &second].iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "adopt {adopt}: {first:?} / {second:?}");
        for result in [&first, &second] {
            if let Err(error) = result {
                assert!(
                    matches!(error, Error::CartClosed | Error::NotFound(_)),
                    "the loser is refused: {error:?}"
                );
            }
        }
        let won = first.or(second).expect("one won");
        let total: u32 = won.cart.lines.iter().map(|l| l.quantity.get()).sum();
        assert_eq!(total, if adopt { 2 } else { 3 }, "added once");
    }
}

/// The port itself: a claim made from a stale version writes nothing.
pub(super) async fn claim_cart_compare_and_sets_both(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let who = customer();
    let p = product(&orders, "1.00", 5).await;
    let mine = cart_with(&orders, &who, &[(p.id(), 1)]).await;
    let (guest_cart, _, _) = guest_cart_with(&orders, &[(p.id(), 2)]).await;
    let guest = store.cart(&guest_cart).await.expect("read").expect("guest");
    let into = store.cart(&mine).await.expect("read").expect("mine");
    let now = chrono::Utc::now();
    let mut closed = guest.clone();
    closed.close(now).expect("close");
    let mut merged = into.clone();
    merged.add(&p, q(2), now).expect("add");
    let stale = CartClaim {
        guest: closed.clone(),
        guest_version: guest.version(),
        into: Some((merged.clone(), into.version() - 1)),
    };
    assert_eq!(store.claim_cart(&stale).await, Err(StoreError::Conflict));
    assert_eq!(
        store.cart(&guest_cart).await.expect("read"),
        Some(guest.clone()),
        "the guest cart is untouched after a lost claim"
    );
    let ok = CartClaim {
        into: Some((merged.clone(), into.version())),
        ..stale
    };
    store.claim_cart(&ok).await.expect("claim");
    assert_eq!(store.cart(&guest_cart).await, Ok(Some(closed)));
    assert_eq!(store.cart(&mine).await, Ok(Some(merged)));
}
