//! Identifiers: one newtype each, so a cart id can never be passed where an
//! order id is meant.
//!
//! Product, cart, order and customer ids are opaque strings. Ids this crate
//! makes are UUIDv7 (time-ordered, so a newer id sorts after an older one
//! made in the same process), but any string of 1 to 64 printable ASCII
//! characters is accepted, so a host can bring its own customer ids.
//!
//! Event ids are different: they are a sequence assigned by the store, and
//! they must sort as strings in the order of the events. [`EventId`] is a
//! `u64` written as 20 zero-padded digits, so `"00000000000000000009"` sorts
//! before `"00000000000000000010"`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The most characters of a product, cart, order or customer id.
pub const MAX_ID_CHARS: usize = 64;

/// The JSON Schema pattern of such an id: printable ASCII, no space.
pub const ID_PATTERN: &str = "^[!-~]+$";

/// The id text is empty, too long or not printable ASCII.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to 64 printable ASCII characters")]
pub struct InvalidId;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// A new, unique, time-ordered id (UUIDv7).
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7().simple().to_string())
            }

            /// Accepts any id of 1 to 64 printable ASCII characters.
            ///
            /// # Errors
            /// [`InvalidId`] otherwise.
            pub fn parse(text: &str) -> Result<Self, InvalidId> {
                if (1..=MAX_ID_CHARS).contains(&text.len())
                    && text.bytes().all(|b| b.is_ascii_graphic())
                {
                    Ok(Self(text.to_owned()))
                } else {
                    Err(InvalidId)
                }
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_id!(
    /// Identifies a product in the catalogue.
    ProductId
);
string_id!(
    /// Identifies a cart.
    CartId
);
string_id!(
    /// Identifies an order.
    OrderId
);
string_id!(
    /// Identifies an outbound webhook endpoint.
    WebhookId
);
string_id!(
    /// Identifies one delivery of one event to one webhook: the same for
    /// every attempt, so a receiver can drop a repeat
    /// ([`crate::webhook::Delivery::id_for`] makes it).
    DeliveryId
);
string_id!(
    /// Identifies a fulfilment: some units of an order handed to a carrier.
    FulfilmentId
);
string_id!(
    /// Identifies a customer's return request.
    ReturnId
);
string_id!(
    /// Identifies a refund: its idempotency key with the payment provider too.
    RefundId
);
string_id!(
    /// Identifies a note on an order.
    NoteId
);
string_id!(
    /// Identifies a customer. The host application owns customers; this
    /// crate only keeps the id to decide whose cart or order something is.
    CustomerId
);

/// What every guest's customer id starts with: the prefix is reserved for
/// guests, and a host's own ids never start with it.
pub const GUEST_PREFIX: &str = "guest:";

impl CustomerId {
    /// A new guest's id: [`GUEST_PREFIX`] and 32 lowercase hex characters
    /// (128 random bits), so two guests never share one and no one guesses
    /// another's.
    ///
    /// ```
    /// use orders_core::ids::CustomerId;
    ///
    /// let guest = CustomerId::guest();
    /// assert!(guest.is_guest());
    /// assert_eq!(guest.as_str().len(), 38);
    /// assert_ne!(guest, CustomerId::guest());
    /// assert!(!CustomerId::parse("ada").unwrap().is_guest());
    /// ```
    pub fn guest() -> Self {
        let bytes = crate::guest::random_bytes::<16>();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Self(format!("{GUEST_PREFIX}{hex}"))
    }

    /// Whether this is a guest's id (it starts with [`GUEST_PREFIX`]).
    pub fn is_guest(&self) -> bool {
        self.0.starts_with(GUEST_PREFIX)
    }
}

/// The position of an order event in the store's single, ever-increasing
/// event sequence. Displayed and serialised as 20 zero-padded digits so the
/// string order is the event order.
///
/// ```
/// use orders_core::ids::EventId;
///
/// let nine = EventId::new(9);
/// let ten = EventId::new(10);
/// assert!(nine.to_string() < ten.to_string());
/// assert_eq!(nine.to_string().parse::<EventId>().unwrap(), nine);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(u64);

impl EventId {
    /// The event id with sequence number `n`.
    pub const fn new(n: u64) -> Self {
        Self(n)
    }

    /// The sequence number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// The text is not 1 to 20 ASCII digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an event id")]
pub struct InvalidEventId;

impl FromStr for EventId {
    type Err = InvalidEventId;
    fn from_str(s: &str) -> Result<Self, InvalidEventId> {
        if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidEventId);
        }
        s.parse::<u64>().map(Self).map_err(|_| InvalidEventId)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:020}", self.0)
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({})", self.0)
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_ids_are_unique_and_valid() {
        let a = OrderId::generate();
        let b = OrderId::generate();
        assert_ne!(a, b);
        assert_eq!(OrderId::parse(a.as_str()), Ok(a));
    }

    #[test]
    fn refuses_empty_long_and_unprintable_ids() {
        assert_eq!(CartId::parse(""), Err(InvalidId));
        assert_eq!(CartId::parse(&"a".repeat(65)), Err(InvalidId));
        assert_eq!(CartId::parse("a b"), Err(InvalidId));
        assert_eq!(CartId::parse("é"), Err(InvalidId));
        assert!(CartId::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn event_ids_refuse_non_digits_and_overflow() {
        assert!("".parse::<EventId>().is_err());
        assert!("-1".parse::<EventId>().is_err());
        assert!("+1".parse::<EventId>().is_err());
        assert!("18446744073709551616".parse::<EventId>().is_err());
        assert_eq!(
            "18446744073709551615".parse::<EventId>(),
            Ok(EventId::new(u64::MAX))
        );
        assert_eq!(
            serde_json::to_string(&EventId::new(3)).unwrap(),
            "\"00000000000000000003\""
        );
    }

    proptest! {
        #[test]
        fn event_id_string_order_is_numeric_order(a: u64, b: u64) {
            prop_assert_eq!(EventId::new(a).to_string().cmp(&EventId::new(b).to_string()), a.cmp(&b));
        }
    }
}
