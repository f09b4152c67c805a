//! The engine's error: one enum a host maps once (to HTTP, say), each
//! variant with a stable machine-readable [`Error::code`].

use crate::cart::CartError;
use crate::catalogue::Product;
use crate::discount::DiscountRejection;
use crate::ids::ProductId;
use crate::money::{Currency, Money, MoneyError};
use crate::order::TransitionError;
use crate::ports::{PaymentError, StoreError};
use crate::pricing::PricingError;
use crate::validation::ValidationErrors;

/// What went wrong in a call to [`crate::Orders`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input fields are invalid; every bad field is in the map.
    #[error("invalid input: {0}")]
    Validation(ValidationErrors),
    /// Unknown, or not the caller's.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Not enough stock for these products.
    #[error("insufficient stock")]
    InsufficientStock(Vec<ProductId>),
    /// Products that became unavailable since they were added to the cart.
    #[error("products no longer available")]
    ProductUnavailable(Vec<ProductId>),
    /// The move is not in the status table, or a guard refused it.
    #[error(transparent)]
    Transition(TransitionError),
    /// The cart was checked out.
    #[error("the cart is closed")]
    CartClosed,
    /// A 101st line (shown on `product_id`).
    #[error("a cart holds at most 100 lines")]
    CartFull,
    /// Checkout of an empty cart.
    #[error("the cart is empty")]
    CartEmpty,
    /// A product in another currency than the cart.
    #[error("the product is priced in {product}, the cart in {cart}")]
    CurrencyMismatch {
        /// The cart's currency.
        cart: Currency,
        /// The product's currency.
        product: Currency,
    },
    /// The cart's discount code stopped qualifying before checkout.
    #[error("the discount code is no longer available: {0}")]
    DiscountUnavailable(String),
    /// The total differs from what the customer saw.
    #[error("the total changed to {total}")]
    PriceChanged {
        /// The new total.
        total: Money,
    },
    /// The card was declined, shown on `field` (`payment.token`, or
    /// `payment.card.number` for a test card). No order, no stock taken.
    #[error("the card was declined")]
    PaymentDeclined {
        /// The field the customer corrects.
        field: &'static str,
    },
    /// The payment provider failed or timed out; no order was placed, and
    /// a retry with the same idempotency key charges at most once.
    #[error("the payment provider is unavailable")]
    PaymentUnavailable,
    /// The provider refused a request the engine made (a capture or
    /// refund it no longer allows); nothing was recorded.
    #[error("the payment provider refused: {0}")]
    PaymentRefused(String),
    /// A provider webhook with a bad or stale signature, or unreadable:
    /// nothing changed.
    #[error("webhook refused: {0}")]
    WebhookRejected(String),
    /// An idempotency key reused with another request.
    #[error("the idempotency key was used with a different request")]
    IdempotencyMismatch,
    /// Another request with the same idempotency key is still running.
    #[error("a request with this idempotency key is in progress")]
    IdempotencyInProgress,
    /// Someone else changed the same thing at the same moment.
    #[error("changed concurrently; reload and retry")]
    ConcurrentUpdate,
    /// A staff edit was made from a version of the product that has moved
    /// on (saved by someone else, or its stock moved by a sale or a
    /// cancellation); nothing was saved. Carries the product as stored now.
    #[error(
        "This product changed since you opened it (saved by someone else, or its stock moved by a sale or a cancellation). Nothing was saved: check the current values and make your change again."
    )]
    Stale(Box<Product>),
    /// A unique value is taken (`"sku"`, `"code"`).
    #[error("{0} already exists")]
    Duplicate(&'static str),
    /// The database is unreachable; retry later.
    #[error("storage unavailable")]
    Unavailable,
    /// A storage failure that is a bug or an outage (details logged, not shown).
    #[error("storage error: {0}")]
    Storage(String),
}

impl Error {
    /// The stable machine-readable code (the `code` of the HTTP API's problem documents).
    ///
    /// ```
    /// use orders_core::Error;
    /// assert_eq!(Error::CartClosed.code(), "cart_closed");
    /// assert_eq!(Error::InsufficientStock(vec![]).code(), "insufficient_stock");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "validation",
            Self::NotFound(_) => "not_found",
            Self::InsufficientStock(_) => "insufficient_stock",
            Self::ProductUnavailable(_) => "product_unavailable",
            Self::Transition(e) => e.code(),
            Self::CartClosed => "cart_closed",
            Self::CartEmpty => "cart_empty",
            Self::CartFull => "cart_full",
            Self::CurrencyMismatch { .. } => "currency_mismatch",
            Self::DiscountUnavailable(_) => "discount_unavailable",
            Self::PriceChanged { .. } => "price_changed",
            Self::PaymentDeclined { .. } => "payment_declined",
            Self::PaymentUnavailable => "payment_unavailable",
            Self::PaymentRefused(_) => "payment_refused",
            Self::WebhookRejected(_) => "webhook_rejected",
            Self::IdempotencyMismatch => "idempotency_mismatch",
            Self::IdempotencyInProgress => "idempotency_in_progress",
            Self::ConcurrentUpdate => "concurrent_update",
            Self::Stale(_) => "stale",
            Self::Duplicate(_) => "duplicate",
            Self::Unavailable => "storage_unavailable",
            Self::Storage(_) => "storage",
        }
    }

    /// The field errors to show, for errors that belong to fields
    /// (validation, a declined card, a shipping move without tracking
    /// number).
    pub fn field_errors(&self) -> Option<ValidationErrors> {
        match self {
            Self::Validation(errors) => Some(errors.clone()),
            Self::PaymentDeclined { field } => {
                Some(ValidationErrors::single(*field, "the card was declined"))
            }
            Self::CartFull => Some(ValidationErrors::single(
                "product_id",
                "a cart holds at most 100 lines",
            )),
            Self::Transition(TransitionError::TrackingNumberRequired) => Some(
                ValidationErrors::single("tracking_number", "required to ship"),
            ),
            _ => None,
        }
    }

    /// One error on one field.
    pub fn field(path: &str, message: impl Into<String>) -> Self {
        Self::Validation(ValidationErrors::single(path, message))
    }
}

impl From<ValidationErrors> for Error {
    fn from(errors: ValidationErrors) -> Self {
        Self::Validation(errors)
    }
}

impl From<TransitionError> for Error {
    fn from(error: TransitionError) -> Self {
        Self::Transition(error)
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound("resource"),
            StoreError::Conflict => Self::ConcurrentUpdate,
            StoreError::Duplicate(what) => Self::Duplicate(what),
            StoreError::InsufficientStock(ids) => Self::InsufficientStock(ids),
            StoreError::StockOutOfRange => {
                Self::field("stock_adjustment", "would take the stock below zero")
            }
            StoreError::CartClosed => Self::CartClosed,
            StoreError::DiscountUsedUpByCustomer => {
                Self::DiscountUnavailable(DiscountRejection::UsedUpByCustomer.to_string())
            }
            StoreError::DiscountUnavailable => {
                Self::DiscountUnavailable("this code has been used up".to_owned())
            }
            StoreError::IdempotencyKeyUsed => Self::IdempotencyInProgress,
            StoreError::InvalidCursor => Self::field("cursor", "invalid cursor"),
            StoreError::Unavailable(_) => Self::Unavailable,
            StoreError::Backend(message) => Self::Storage(message),
        }
    }
}

impl From<MoneyError> for Error {
    fn from(error: MoneyError) -> Self {
        match error {
            MoneyError::CurrencyMismatch(cart, product) => Self::CurrencyMismatch { cart, product },
            other => Self::field("quantity", other.to_string()),
        }
    }
}

impl From<PricingError> for Error {
    fn from(error: PricingError) -> Self {
        match error {
            PricingError::Currency {
                expected, found, ..
            } => Self::CurrencyMismatch {
                cart: expected,
                product: found,
            },
            PricingError::ShippingUnavailable(method, currency) => Self::field(
                "shipping_method",
                format!("{method} is not available in {currency}"),
            ),
            PricingError::Money(error) => error.into(),
        }
    }
}

impl From<PaymentError> for Error {
    fn from(error: PaymentError) -> Self {
        match error {
            PaymentError::Declined => Self::PaymentDeclined {
                field: "payment.token",
            },
            PaymentError::InvalidToken => {
                Self::field("payment.token", "not a payment method the provider knows")
            }
            PaymentError::Unavailable(_) | PaymentError::UnknownCharge => Self::PaymentUnavailable,
            PaymentError::Refused(reason) => Self::PaymentRefused(reason),
        }
    }
}

impl From<CartError> for Error {
    fn from(error: CartError) -> Self {
        match error {
            CartError::Closed => Self::CartClosed,
            CartError::ProductUnavailable(_) => {
                Self::field("product_id", "unknown or unavailable product")
            }
            CartError::CurrencyMismatch { cart, product } => {
                Self::CurrencyMismatch { cart, product }
            }
            CartError::Quantity => Self::field("quantity", "must be between 1 and 999 per line"),
            CartError::Full => Self::CartFull,
            CartError::LineNotFound(_) => Self::NotFound("cart line"),
        }
    }
}
