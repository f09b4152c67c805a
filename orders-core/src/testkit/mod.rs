//! The store conformance kit: every behaviour a [`Store`] MUST have, as
//! async checks any store runs against itself.
//!
//! A store's own tests run the whole kit with [`run_all`], handing it a
//! factory for the store (here the in-memory store, on a plain executor;
//! a database-backed store would open or reuse its database in an
//! `async` test of its runtime):
//!
//! ```
//! use std::sync::Arc;
//!
//! use orders_core::memory::MemoryStore;
//! use orders_core::ports::Store;
//!
//! futures_executor::block_on(orders_core::testkit::run_all(|| async {
//!     Arc::new(MemoryStore::new()) as Arc<dyn Store>
//! }));
//! ```
//!
//! The checks are grouped by area: the catalogue, product versions,
//! carts, discounts, checkout, idempotency keys, orders after checkout
//! (status changes, listing, events), guest carts and their claims, and payments (orders awaiting their
//! payment, payment-only changes, provider references and webhook
//! events). [`CHECKS`] names every one.
//!
//! Each check calls the factory for its store and creates its own
//! uniquely named data, so a factory may hand out the same database every
//! time. Checks need no particular runtime: concurrency comes from polling
//! many futures at once (`join_all`), which a store backed by a connection
//! pool turns into truly concurrent transactions.

mod aftersale;
mod carts;
mod catalogue;
mod checkout;
mod deliveries;
mod discounts;
mod guests;
mod idempotency;
mod known;
mod mails;
mod orders;
mod payments;
mod refunds;
mod search;
mod versions;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;

use crate::cart::Quantity;
use crate::catalogue::{NewProduct, Product, ProductName, Sku};
use crate::checkout::{AddressForm, CardForm, CheckoutForm, PaymentForm};
use crate::ids::{CartId, CustomerId, ProductId};
use crate::money::{Currency, Money};
use crate::ports::{Store, TestGateway};
use crate::{Orders, OrdersConfig};

pub use deliveries::{DELIVERY_CHECKS, run_deliveries};
pub use mails::{MAIL_CHECKS, run_mails};

type Check = fn(Arc<dyn Store>) -> futures_util::future::BoxFuture<'static, ()>;

/// Every check, by name.
pub const CHECKS: &[(&str, Check)] = &[
    ("products_unique_sku_and_patch", |s| {
        catalogue::products_unique_sku_and_patch(s).boxed()
    }),
    ("products_list_newest_first", |s| {
        catalogue::products_list_newest_first(s).boxed()
    }),
    ("search_matches_name_sku_description_in_any_case", |s| {
        search::search_matches_name_sku_description_in_any_case(s).boxed()
    }),
    ("search_takes_wildcards_literally", |s| {
        search::search_takes_wildcards_literally(s).boxed()
    }),
    ("search_pages_newest_first", |s| {
        search::search_pages_newest_first(s).boxed()
    }),
    ("product_edits_compare_and_set_on_version", |s| {
        versions::product_edits_compare_and_set_on_version(s).boxed()
    }),
    ("sales_and_cancellations_make_older_edits_stale", |s| {
        versions::sales_and_cancellations_make_older_edits_stale(s).boxed()
    }),
    ("stock_adjustments_apply_to_the_stored_stock", |s| {
        versions::stock_adjustments_apply_to_the_stored_stock(s).boxed()
    }),
    ("carts_compare_and_set", |s| {
        carts::carts_compare_and_set(s).boxed()
    }),
    ("concurrent_cart_changes_all_land", |s| {
        carts::concurrent_cart_changes_all_land(s).boxed()
    }),
    ("cart_with_products_reads_lines_and_extra", |s| {
        carts::cart_with_products_reads_lines_and_extra(s).boxed()
    }),
    ("discounts_unique_code", |s| {
        discounts::discounts_unique_code(s).boxed()
    }),
    ("checkout_places_a_snapshot", |s| {
        checkout::checkout_places_a_snapshot(s).boxed()
    }),
    ("checkout_stores_taxed_discounted_lines_exactly", |s| {
        checkout::checkout_stores_taxed_discounted_lines_exactly(s).boxed()
    }),
    ("checkout_short_stock_changes_nothing", |s| {
        checkout::checkout_short_stock_changes_nothing(s).boxed()
    }),
    (
        "adding_past_the_stock_names_the_product_and_what_is_left",
        |s| checkout::adding_past_the_stock_names_the_product_and_what_is_left(s).boxed(),
    ),
    ("concurrent_checkouts_never_oversell", |s| {
        checkout::concurrent_checkouts_never_oversell(s).boxed()
    }),
    ("idempotent_retries", |s| {
        idempotency::idempotent_retries(s).boxed()
    }),
    ("idempotency_claims", |s| {
        idempotency::idempotency_claims(s).boxed()
    }),
    ("idempotency_claims_with_the_cart", |s| {
        idempotency::idempotency_claims_with_the_cart(s).boxed()
    }),
    ("discount_uses_are_counted_atomically", |s| {
        discounts::discount_uses_are_counted_atomically(s).boxed()
    }),
    ("per_customer_limit_one_of_two_concurrent_checkouts", |s| {
        discounts::per_customer_limit_one_of_two_concurrent_checkouts(s).boxed()
    }),
    (
        "per_customer_limit_counts_customers_and_guests_by_email",
        |s| discounts::per_customer_limit_counts_customers_and_guests_by_email(s).boxed(),
    ),
    ("disabled_codes_are_refused_until_enabled", |s| {
        discounts::disabled_codes_are_refused_until_enabled(s).boxed()
    }),
    ("closed_cart_refuses_everything", |s| {
        carts::closed_cart_refuses_everything(s).boxed()
    }),
    ("status_changes_compare_and_set", |s| {
        orders::status_changes_compare_and_set(s).boxed()
    }),
    ("cancel_returns_stock_and_refunds", |s| {
        orders::cancel_returns_stock_and_refunds(s).boxed()
    }),
    ("orders_paginate_newest_first", |s| {
        orders::orders_paginate_newest_first(s).boxed()
    }),
    ("admin_filters", |s| orders::admin_filters(s).boxed()),
    ("events_replay_after_an_id", |s| {
        orders::events_replay_after_an_id(s).boxed()
    }),
    ("awaiting_payment_orders_round_trip", |s| {
        payments::awaiting_payment_orders_round_trip(s).boxed()
    }),
    ("payment_only_changes_round_trip", |s| {
        payments::payment_only_changes_round_trip(s).boxed()
    }),
    ("payment_changes_compare_and_set", |s| {
        payments::payment_changes_compare_and_set(s).boxed()
    }),
    ("status_change_of_a_known_order", |s| {
        known::status_change_of_a_known_order(s).boxed()
    }),
    ("awaiting_payment_lists_expired_holds", |s| {
        payments::awaiting_payment_lists_expired_holds(s).boxed()
    }),
    ("orders_found_by_payment_reference", |s| {
        payments::orders_found_by_payment_reference(s).boxed()
    }),
    ("provider_events_recorded_once", |s| {
        payments::provider_events_recorded_once(s).boxed()
    }),
    ("fulfilments_round_trip", |s| {
        aftersale::fulfilments_round_trip(s).boxed()
    }),
    ("returns_round_trip_and_restock_exact_units", |s| {
        aftersale::returns_round_trip_and_restock_exact_units(s).boxed()
    }),
    ("refunds_round_trip", |s| {
        refunds::refunds_round_trip(s).boxed()
    }),
    ("concurrent_refunds_never_double", |s| {
        refunds::concurrent_refunds_never_double(s).boxed()
    }),
    ("fulfilment_races_cancellation", |s| {
        aftersale::fulfilment_races_cancellation(s).boxed()
    }),
    ("internal_notes_never_reach_the_customer", |s| {
        aftersale::internal_notes_never_reach_the_customer(s).boxed()
    }),
    ("money_back_by_transition_is_a_refund", |s| {
        refunds::money_back_by_transition_is_a_refund(s).boxed()
    }),
    ("guest_cart_opens_with_its_token_only", |s| {
        guests::guest_cart_opens_with_its_token_only(s).boxed()
    }),
    ("open_cart_is_the_newest_open_one", |s| {
        guests::open_cart_is_the_newest_open_one(s).boxed()
    }),
    ("claim_merges_caps_and_closes", |s| {
        guests::claim_merges_caps_and_closes(s).boxed()
    }),
    ("claim_adopts_without_an_open_cart", |s| {
        guests::claim_adopts_without_an_open_cart(s).boxed()
    }),
    ("concurrent_claims_merge_once", |s| {
        guests::concurrent_claims_merge_once(s).boxed()
    }),
    ("claim_cart_compare_and_sets_both", |s| {
        guests::claim_cart_compare_and_sets_both(s).boxed()
    }),
];

/// Runs every check of [`CHECKS`], each on a store from `make_store`, and
/// panics listing the ones that failed.
pub async fn run_all<F, Fut>(make_store: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    let mut failed = Vec::new();
    for (name, check) in CHECKS {
        let store = make_store().await;
        if let Err(panic) = AssertUnwindSafe(check(store)).catch_unwind().await {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failed.push(format!("{name}: {message}"));
        }
    }
    assert!(
        failed.is_empty(),
        "conformance checks failed:\n{}",
        failed.join("\n")
    );
}

/// A name no other check or run uses.
fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", ProductId::generate())
}

fn customer() -> CustomerId {
    CustomerId::parse(&unique("cust")).expect("valid id")
}

fn usd(amount: &str) -> Money {
    Money::parse_price(amount, Currency::USD).expect("valid amount")
}

/// An engine over `store` with the demo configuration and a test gateway.
pub fn engine(store: Arc<dyn Store>) -> (Orders, Arc<TestGateway>) {
    let gateway = Arc::new(TestGateway::new());
    let orders = Orders::builder(store)
        .config(OrdersConfig::demo())
        .payments(gateway.clone())
        .build();
    (orders, gateway)
}

/// Creates an active USD product with `stock` units at `price`.
pub async fn product(orders: &Orders, price: &str, stock: u32) -> Product {
    let new = NewProduct::new(
        Sku::parse(&unique("SKU")).expect("valid sku"),
        ProductName::parse("Conformance product").expect("valid name"),
        usd(price),
        stock,
    );
    orders.create_product(new).await.expect("create product")
}

/// A cart of `customer` holding each `(product, quantity)`.
pub async fn cart_with(
    orders: &Orders,
    customer: &CustomerId,
    lines: &[(&ProductId, u32)],
) -> CartId {
    let cart = orders
        .create_cart(customer, Some(Currency::USD))
        .await
        .expect("create cart");
    for (product, quantity) in lines {
        let quantity = Quantity::new(*quantity).expect("valid quantity");
        orders
            .add_to_cart(customer, &cart.id, product, quantity)
            .await
            .expect("add to cart");
    }
    cart.id
}

/// A valid checkout form paying with `card` (or cash on delivery for `None`).
pub fn form(card: Option<&str>) -> CheckoutForm {
    let text = |s: &str| Some(s.to_owned());
    let payment = match card {
        Some(number) => PaymentForm {
            method: text("card"),
            token: None,
            card: Some(CardForm {
                number: text(number),
                exp_month: Some(12),
                exp_year: Some(2040),
                cvc: text("123"),
                holder: text("Ada Lovelace"),
            }),
        },
        None => PaymentForm {
            method: text("cash_on_delivery"),
            token: None,
            card: None,
        },
    };
    with_payment(payment)
}

/// A valid checkout form paying with the provider `token` (the
/// [`TestGateway`](crate::ports::TestGateway)'s `test_visa`, say).
pub fn token_form(token: &str) -> CheckoutForm {
    with_payment(PaymentForm {
        method: Some("card".to_owned()),
        token: Some(token.to_owned()),
        card: None,
    })
}

fn with_payment(payment: PaymentForm) -> CheckoutForm {
    let text = |s: &str| Some(s.to_owned());
    CheckoutForm {
        email: text("ada@example.com"),
        shipping_address: Some(AddressForm {
            full_name: text("Ada Lovelace"),
            line1: text("1 Main St"),
            city: text("Springfield"),
            postal_code: text("12345"),
            country: text("US"),
            ..AddressForm::default()
        }),
        shipping_method: text("standard"),
        payment: Some(payment),
        expected_total: None,
    }
}

async fn stock(orders: &Orders, id: &ProductId) -> u32 {
    orders.product(id).await.expect("product").stock()
}
