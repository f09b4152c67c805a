//! The ports: what the engine needs from the outside world, as traits.
//!
//! Storage ([`Store`] and its parts, [`DeliveryStore`] for outbound
//! deliveries and [`MailStore`] for customer emails), mail ([`Mailer`]),
//! notification ([`Notifier`]), product images ([`ImageStore`]), payment
//! ([`PaymentGateway`]) and time ([`Clock`]). Each method's documentation
//! says what an implementation MUST do; [`crate::memory`] implements every
//! port in memory, `orders-sqlx` implements storage and notification on
//! SQLite and PostgreSQL, and the `testkit` feature checks any store
//! against these sentences.

mod clock;
mod deliveries;
mod images;
mod mailer;
mod mails;
mod notifier;
mod payment;
mod store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use deliveries::{
    AttemptRecord, ClaimLimits, ClaimedDelivery, DeliveryCounts, DeliveryStore, Lease, OutboxStore,
    RecordOutcome,
};
pub use images::{ImageStore, ImageStoreError};
pub use mailer::{MailError, Mailer};
pub use mails::{ClaimedMail, MailStore, MailboxStore};
pub use notifier::{Notifier, Subscription, SubscriptionError, Topic, replay_then_live};
pub use payment::{
    Authorize, PaymentError, PaymentGateway, PaymentSource, ProviderPayment, TestGateway,
    TestPayment, WebhookError, WebhookEvent,
};
pub use store::{
    CartClaim, CartStore, CatalogueStore, ClaimAndCart, Cursor, DiscountStore, EventLog,
    IdempotencyClaim, IdempotencyState, IdempotencyStore, OrderFilter, OrderPlacement, OrderStore,
    Page, PageRequest, Placed, Store, StoreError,
};
