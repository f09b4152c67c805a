//! In-memory implementations of every port: [`MemoryStore`],
//! [`MemoryImages`] and [`MemoryNotifier`] (the payment and clock ports have theirs in
//! [`crate::ports`]: [`crate::ports::TestGateway`], [`crate::ports::ManualClock`]).

mod deliveries;
mod images;
mod mails;
mod notifier;
mod store;

pub use images::MemoryImages;
pub use notifier::{DEFAULT_CAPACITY, MemoryNotifier, ORDER_CAPACITY};
pub use store::MemoryStore;
