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

/// A code limited to `per_customer` uses per customer, unlimited in all.
async fn per_customer_code(orders: &crate::Orders, per_customer: u32) -> DiscountCode {
    let code = DiscountCode::parse(&unique("MINE")).expect("code");
    let discount = Discount::new(
        code.clone(),
        DiscountKind::fixed("2", Currency::USD).expect("fixed"),
        chrono::Utc::now(),
    )
    .with_max_uses_per_customer(NonZeroU32::new(per_customer).expect("positive"));
    let stored = orders.create_discount(discount).await.expect("create");
    assert_eq!(stored.max_uses_per_customer(), Some(per_customer));
    code
}

/// A cart of `who` holding one unit of `product`, with `code` applied.
async fn discounted_cart(
    orders: &crate::Orders,
    who: &crate::ids::CustomerId,
    product: &crate::ids::ProductId,
    code: &DiscountCode,
) -> crate::ids::CartId {
    let cart = cart_with(orders, who, &[(product, 1)]).await;
    orders
        .apply_discount(who, &cart, code.as_str())
        .await
        .expect("apply");
    cart
}

/// The checkout form, paying on delivery, with `email`.
fn form_for(email: &str) -> crate::checkout::CheckoutForm {
    let mut form = form(None);
    form.email = Some(email.to_owned());
    form
}

pub(super) async fn per_customer_limit_one_of_two_concurrent_checkouts(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let p = product(&orders, "20.00", 100).await;
    let code = per_customer_code(&orders, 1).await;
    let who = customer();
    let first = discounted_cart(&orders, &who, p.id(), &code).await;
    let second = discounted_cart(&orders, &who, p.id(), &code).await;
    let results = join_all(
        [&first, &second]
            .into_iter()
            .map(|cart| orders.checkout(&who, cart, form(None), None)),
    )
    .await;
    let placed: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(placed.len(), 1, "{results:?}");
    let refusal = results
        .iter()
        .find_map(|r| r.as_ref().err())
        .expect("one refused");
    assert_eq!(refusal.code(), "discount_unavailable");
    assert!(
        refusal.to_string().contains("already used"),
        "the refusal says the customer used it up: {refusal}"
    );
    // The refused checkout changed nothing: one unit taken, one use counted,
    // its cart still open, and no order number taken.
    assert_eq!(stock(&orders, p.id()).await, 99);
    let read = store.discount(&code).await.expect("read").expect("exists");
    assert_eq!(read.uses(), 1);
    let refused_cart = if results[0].is_ok() { &second } else { &first };
    let cart = store.cart(refused_cart).await.expect("read").expect("cart");
    assert!(cart.is_open(), "the refused cart stays open");
    let other = customer();
    let cart = cart_with(&orders, &other, &[(p.id(), 1)]).await;
    let next = orders
        .checkout(&other, &cart, form(None), None)
        .await
        .expect("another customer's checkout");
    assert_eq!(
        next.order.number().get(),
        placed[0].order.number().get() + 1,
        "the refusal took no order number"
    );
}

pub(super) async fn per_customer_limit_counts_customers_and_guests_by_email(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let p = product(&orders, "20.00", 100).await;
    let code = per_customer_code(&orders, 2).await;
    let checkout = |who: crate::ids::CustomerId, email: &'static str| {
        let orders = orders.clone();
        let code = code.clone();
        let product = p.id().clone();
        async move {
            let cart = discounted_cart(&orders, &who, &product, &code).await;
            orders.checkout(&who, &cart, form_for(email), None).await
        }
    };
    let ada = customer();
    for _ in 0..2 {
        let order = checkout(ada.clone(), "ada@example.com")
            .await
            .expect("within the limit");
        assert_eq!(order.order.totals().discount, usd("2.00"));
    }
    let third = checkout(ada.clone(), "ada@example.com").await.unwrap_err();
    assert_eq!(third.code(), "discount_unavailable");
    // Another customer is not blocked, even with the same email.
    checkout(customer(), "ada@example.com")
        .await
        .expect("another customer");
    // Guests are counted by the order's email, in any case.
    let guest = |n: &str| crate::ids::CustomerId::parse(&unique(&format!("guest:{n}")));
    for (n, email) in [("a", "Grace@Example.com"), ("b", "grace@example.COM")] {
        checkout(guest(n).expect("id"), email)
            .await
            .expect("a guest within the limit");
    }
    let refused = checkout(guest("c").expect("id"), "GRACE@example.com")
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "discount_unavailable", "{refused}");
    checkout(guest("d").expect("id"), "someone.else@example.com")
        .await
        .expect("another guest email");
    let read = store.discount(&code).await.expect("read").expect("exists");
    assert_eq!(read.uses(), 6, "refused checkouts count no use");
    assert_eq!(stock(&orders, p.id()).await, 94);
}

pub(super) async fn disabled_codes_are_refused_until_enabled(store: Arc<dyn Store>) {
    let (orders, _) = engine(store.clone());
    let p = product(&orders, "20.00", 100).await;
    let code = DiscountCode::parse(&unique("PAUSE")).expect("code");
    orders
        .create_discount(Discount::new(
            code.clone(),
            DiscountKind::percent("10").expect("pct"),
            chrono::Utc::now(),
        ))
        .await
        .expect("create");
    let who = customer();
    let applied = discounted_cart(&orders, &who, p.id(), &code).await;
    let disabled = orders
        .set_discount_active(&code.as_str().to_lowercase(), false)
        .await
        .expect("disable");
    assert!(!disabled.active());
    assert!(
        !store
            .discount(&code)
            .await
            .expect("read")
            .expect("exists")
            .active()
    );
    // Refused at checkout, changing nothing.
    let error = orders
        .checkout(&who, &applied, form(None), None)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "discount_unavailable");
    assert_eq!(stock(&orders, p.id()).await, 100);
    // Refused when applied.
    let cart = cart_with(&orders, &who, &[(p.id(), 1)]).await;
    match orders.apply_discount(&who, &cart, code.as_str()).await {
        Err(Error::Validation(errors)) => assert!(errors.contains("code"), "{errors}"),
        other => panic!("a disabled code applied: {other:?}"),
    }
    // Enabled again, the same cart checks out with it.
    let enabled = orders
        .set_discount_active(code.as_str(), true)
        .await
        .expect("enable");
    assert!(enabled.active());
    let order = orders
        .checkout(&who, &applied, form(None), None)
        .await
        .expect("checkout");
    assert_eq!(order.order.totals().discount, usd("2.00"));
    assert_eq!(
        store
            .discount(&code)
            .await
            .expect("read")
            .expect("exists")
            .uses(),
        1
    );
    for unknown in [unique("NOPE"), "not a code".to_owned()] {
        assert!(matches!(
            orders.set_discount_active(&unknown, false).await,
            Err(Error::NotFound(_))
        ));
    }
}
