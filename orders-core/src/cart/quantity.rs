//! The quantity of a cart line.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A quantity of one product in a cart line: 1 to 999.
///
/// ```
/// use orders_core::cart::Quantity;
/// assert_eq!(Quantity::new(3).unwrap().get(), 3);
/// assert!(Quantity::new(0).is_err());
/// assert!(Quantity::new(1000).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Quantity(u16);

/// The quantity is outside 1 to 999.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be between 1 and 999")]
pub struct InvalidQuantity;

impl Quantity {
    /// The smallest quantity of a line.
    pub const MIN: u32 = 1;

    /// The largest quantity of a line.
    pub const MAX: u32 = 999;

    /// A quantity of 1 to 999.
    ///
    /// # Errors
    /// [`InvalidQuantity`] otherwise.
    pub fn new(n: u32) -> Result<Self, InvalidQuantity> {
        if (Self::MIN..=Self::MAX).contains(&n) {
            Ok(Self(n as u16))
        } else {
            Err(InvalidQuantity)
        }
    }

    /// A quantity from any integer (as JSON brings it).
    ///
    /// # Errors
    /// [`InvalidQuantity`] outside 1 to 999.
    pub fn from_i64(n: i64) -> Result<Self, InvalidQuantity> {
        u32::try_from(n)
            .map_err(|_| InvalidQuantity)
            .and_then(Self::new)
    }

    /// The number.
    pub fn get(self) -> u32 {
        u32::from(self.0)
    }
}

impl TryFrom<u32> for Quantity {
    type Error = InvalidQuantity;
    fn try_from(value: u32) -> Result<Self, InvalidQuantity> {
        Self::new(value)
    }
}

impl From<Quantity> for u32 {
    fn from(value: Quantity) -> Self {
        value.get()
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
