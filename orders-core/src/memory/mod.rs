//! In-memory implementations of every port: [`MemoryStore`] and
//! [`MemoryNotifier`] (the payment and clock ports have theirs in
//! [`crate::ports`]: [`crate::ports::TestGateway`], [`crate::ports::ManualClock`]).

mod deliveries;
mod mails;
mod notifier;
mod store;

pub use notifier::{DEFAULT_CAPACITY, MemoryNotifier, ORDER_CAPACITY};
pub use store::MemoryStore;
