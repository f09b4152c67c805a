//! # orders-core
//!
//! The ordering domain of `orders`: money, the catalogue, carts, pricing
//! (discounts, tax, shipping), checkout validation, orders and their
//! lifecycle, and the ports through which the engine reaches storage,
//! notification, payment and time.
//!
//! It knows nothing of HTTP, SQL or an async runtime: every port is an
//! `async` trait any runtime can drive, and [`memory`] implements each of
//! them in memory, so the engine runs (and is tested) on its own.
//!
//! The facade applications call is [`Orders`]:
//!
//! ```
//! use std::sync::Arc;
//! use orders_core::{Orders, OrdersConfig, catalogue::*, cart::Quantity, checkout::CheckoutForm,
//!     ids::CustomerId, memory::MemoryStore, money::{Currency, Money}, order::OrderStatus};
//!
//! # futures_executor::block_on(async {
//! let orders = Orders::builder(Arc::new(MemoryStore::new()))
//!     .config(OrdersConfig::demo())
//!     .payments(Arc::new(orders_core::ports::TestGateway::new()))
//!     .build();
//! let tea = orders
//!     .create_product(NewProduct::new(
//!         Sku::parse("TEA-1").unwrap(),
//!         ProductName::parse("Earl Grey").unwrap(),
//!         Money::parse_price("4.50", Currency::USD).unwrap(),
//!         10,
//!     ))
//!     .await
//!     .unwrap();
//!
//! let ada = CustomerId::parse("ada").unwrap();
//! let cart = orders.create_cart(&ada, None).await.unwrap();
//! orders.add_to_cart(&ada, &cart.id, tea.id(), Quantity::new(2).unwrap()).await.unwrap();
//!
//! let form: CheckoutForm = serde_json::from_str(r#"{
//!     "email": "ada@example.com",
//!     "shipping_address": {"full_name": "Ada Lovelace", "line1": "1 Main St", "city": "Springfield",
//!                          "postal_code": "12345", "country": "US"},
//!     "shipping_method": "standard",
//!     "payment": {"method": "card", "card": {"number": "4242424242424242", "exp_month": 12,
//!                 "exp_year": 2040, "cvc": "123", "holder": "Ada Lovelace"}}
//! }"#).unwrap();
//! let placed = orders.checkout(&ada, &cart.id, form, Some("key-1")).await.unwrap();
//! assert_eq!(placed.order.status(), OrderStatus::Paid);
//! assert_eq!(placed.order.totals().total.to_string(), "13.99"); // 9.00 + 4.99 shipping, no US tax
//! assert_eq!(orders.product(tea.id()).await.unwrap().stock(), 8);
//! # });
//! ```
//!
//! ## Cargo features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `testkit` | no | `testkit`: the store conformance kit, async checks every store implementation runs against itself |
//! | `serde` | no | `config`: `OrdersConfig` deserialises from a file (TOML, JSON...), with errors naming the bad key |
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod cart;
pub mod catalogue;
pub mod checkout;
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub mod config;
pub mod discount;
mod error;
pub mod form;
pub mod guest;
pub mod ids;
pub mod mail;
pub mod memory;
pub mod money;
pub mod order;
pub mod ports;
pub mod pricing;
mod service;
pub use service::MAX_IDEMPOTENCY_KEY;
#[cfg(feature = "testkit")]
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
pub mod testkit;
pub mod text;
pub mod validation;
pub mod webhook;
pub mod words;

pub use error::Error;
pub use service::{
    Access, CheckoutOutcome, ClaimedCart, Orders, OrdersBuilder, OrdersConfig, PricedCart,
    PricingOptions, SweepReport, Unset, WebhookOutcome, customer_view,
};

/// The code blocks of the crate's README, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The types that will grow are `#[non_exhaustive]`: outside this crate a
/// match needs a wildcard arm and the configuration cannot be a struct
/// literal. Each block below must fail to compile.
///
/// ```compile_fail,E0004
/// fn code(e: orders_core::Error) -> u8 {
///     use orders_core::Error as E;
///     match e {
///         E::Validation(_) | E::NotFound(_) | E::InsufficientStock(_) | E::ProductUnavailable(_)
///         | E::Transition(_) | E::CartFull | E::PaymentDeclined { .. } | E::CartClosed
///         | E::CartEmpty | E::CurrencyMismatch { .. } | E::DiscountUnavailable(_)
///         | E::PriceChanged { .. } | E::IdempotencyMismatch | E::IdempotencyInProgress
///         | E::ConcurrentUpdate | E::Stale(_) | E::Duplicate(_) | E::PaymentUnavailable
///         | E::PaymentRefused(_) | E::WebhookRejected(_) | E::Unavailable | E::Storage(_) => 0,
///     }
/// }
/// ```
///
/// ```compile_fail,E0004
/// use orders_core::order::OrderStatus as S;
/// fn open(s: S) -> bool {
///     match s {
///         S::Pending | S::AwaitingPayment | S::Paid | S::Processing | S::Shipped => true,
///         S::Delivered | S::Cancelled | S::Refunded => false,
///     }
/// }
/// ```
///
/// ```compile_fail,E0004
/// use orders_core::order::PaymentStatus as S;
/// fn settled(s: S) -> bool {
///     match s {
///         S::Pending | S::RequiresAction | S::Authorized => false,
///         S::Captured | S::PartiallyRefunded | S::Refunded | S::Voided | S::Failed => true,
///     }
/// }
/// ```
///
/// ```compile_fail,E0639
/// let demo = orders_core::OrdersConfig::demo();
/// let copy = orders_core::OrdersConfig { ..demo };
/// ```
#[cfg(doctest)]
pub struct NonExhaustive;
