//! Carts: what a customer means to buy, before it is priced.
//!
//! A cart holds product ids and quantities only; prices, names and taxes
//! are taken from the catalogue each time it is priced (see
//! [`crate::pricing`]), so a cart never shows a stale price.

pub(crate) mod forms;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalogue::Product;
use crate::discount::DiscountCode;
use crate::ids::{CartId, CustomerId, ProductId};
use crate::money::Currency;

pub use forms::{AddItemForm, ApplyDiscountForm, CreateCartForm, SetQuantityForm};

/// Most lines a cart holds.
pub const MAX_LINES: usize = 100;

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

/// One product and how many of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine {
    /// The product.
    pub product_id: ProductId,
    /// How many.
    pub quantity: Quantity,
}

/// Whether a cart can still change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CartStatus {
    /// Open for changes and checkout.
    Open,
    /// Checked out: an order was placed from it; it refuses every change.
    CheckedOut,
}

/// Why a cart refused a change. Every refusal leaves the cart as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CartError {
    /// The cart was checked out.
    #[error("the cart is closed")]
    Closed,
    /// The product is inactive (or unknown).
    #[error("product {0} is not available")]
    ProductUnavailable(ProductId),
    /// The product is priced in another currency than the cart.
    #[error("product is priced in {product}, the cart in {cart}")]
    CurrencyMismatch {
        /// The cart's currency.
        cart: Currency,
        /// The product's currency.
        product: Currency,
    },
    /// A quantity outside 1 to 999, or an add that would take a line past 999.
    #[error("quantity must be between 1 and 999 per line")]
    Quantity,
    /// A new line would make more than [`MAX_LINES`].
    #[error("a cart holds at most 100 lines")]
    Full,
    /// The product is not in the cart.
    #[error("product {0} is not in the cart")]
    LineNotFound(ProductId),
}

/// A customer's cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    /// Its id.
    pub id: CartId,
    /// Whose it is.
    pub customer_id: CustomerId,
    /// The one currency of everything in it.
    pub currency: Currency,
    /// Lines in the order they were first added.
    pub lines: Vec<CartLine>,
    /// The discount code applied, if any.
    pub discount_code: Option<DiscountCode>,
    /// Open or checked out.
    pub status: CartStatus,
    /// Rises by one on every change; stores compare-and-set on it.
    pub version: u64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl Cart {
    /// A new, empty, open cart at version 1.
    pub fn new(customer_id: CustomerId, currency: Currency, now: DateTime<Utc>) -> Self {
        Self {
            id: CartId::generate(),
            customer_id,
            currency,
            lines: Vec::new(),
            discount_code: None,
            status: CartStatus::Open,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    /// Whether it can still change.
    pub fn is_open(&self) -> bool {
        self.status == CartStatus::Open
    }

    fn ensure_open(&self) -> Result<(), CartError> {
        if self.is_open() {
            Ok(())
        } else {
            Err(CartError::Closed)
        }
    }

    fn touch(&mut self, now: DateTime<Utc>) {
        self.version += 1;
        self.updated_at = now;
    }

    /// The line of `product_id`, if in the cart.
    pub fn line(&self, product_id: &ProductId) -> Option<&CartLine> {
        self.lines.iter().find(|l| &l.product_id == product_id)
    }

    /// Adds `quantity` of `product`, merging into its line if it has one.
    ///
    /// ```
    /// # use orders_core::{cart::*, catalogue::*, ids::CustomerId, money::*};
    /// # let now = chrono::Utc::now();
    /// # let product = NewProduct::new(Sku::parse("TEA").unwrap(), ProductName::parse("Tea").unwrap(),
    /// #     Money::parse_price("4.50", Currency::USD).unwrap(), 10).into_product(now);
    /// let mut cart = Cart::new(CustomerId::parse("ada").unwrap(), Currency::USD, now);
    /// cart.add(&product, Quantity::new(2).unwrap(), now).unwrap();
    /// cart.add(&product, Quantity::new(3).unwrap(), now).unwrap();
    /// assert_eq!(cart.lines.len(), 1);
    /// assert_eq!(cart.lines[0].quantity.get(), 5);
    /// assert_eq!(cart.version, 3);
    /// ```
    ///
    /// # Errors
    /// [`CartError::Closed`], [`CartError::ProductUnavailable`],
    /// [`CartError::CurrencyMismatch`], [`CartError::Quantity`] (the line
    /// would pass 999) or [`CartError::Full`].
    pub fn add(
        &mut self,
        product: &Product,
        quantity: Quantity,
        now: DateTime<Utc>,
    ) -> Result<(), CartError> {
        self.ensure_open()?;
        if !product.active {
            return Err(CartError::ProductUnavailable(product.id.clone()));
        }
        if product.currency != self.currency {
            return Err(CartError::CurrencyMismatch {
                cart: self.currency,
                product: product.currency,
            });
        }
        if let Some(line) = self.lines.iter_mut().find(|l| l.product_id == product.id) {
            line.quantity = Quantity::new(line.quantity.get() + quantity.get())
                .map_err(|_| CartError::Quantity)?;
        } else {
            if self.lines.len() >= MAX_LINES {
                return Err(CartError::Full);
            }
            self.lines.push(CartLine {
                product_id: product.id.clone(),
                quantity,
            });
        }
        self.touch(now);
        Ok(())
    }

    /// Sets the quantity of a line; 0 removes it.
    ///
    /// # Errors
    /// [`CartError::Closed`], [`CartError::Quantity`] above 999,
    /// [`CartError::LineNotFound`].
    pub fn set_quantity(
        &mut self,
        product_id: &ProductId,
        quantity: u32,
        now: DateTime<Utc>,
    ) -> Result<(), CartError> {
        self.ensure_open()?;
        let index = self
            .lines
            .iter()
            .position(|l| &l.product_id == product_id)
            .ok_or_else(|| CartError::LineNotFound(product_id.clone()))?;
        if quantity == 0 {
            self.lines.remove(index);
        } else {
            self.lines[index].quantity =
                Quantity::new(quantity).map_err(|_| CartError::Quantity)?;
        }
        self.touch(now);
        Ok(())
    }

    /// Removes a line.
    ///
    /// # Errors
    /// [`CartError::Closed`], [`CartError::LineNotFound`].
    pub fn remove(&mut self, product_id: &ProductId, now: DateTime<Utc>) -> Result<(), CartError> {
        self.set_quantity(product_id, 0, now)
    }

    /// Applies a discount code (replacing any other). Whether the code
    /// qualifies is the caller's check ([`crate::discount::Discount::check`]).
    ///
    /// # Errors
    /// [`CartError::Closed`].
    pub fn apply_discount(
        &mut self,
        code: DiscountCode,
        now: DateTime<Utc>,
    ) -> Result<(), CartError> {
        self.ensure_open()?;
        self.discount_code = Some(code);
        self.touch(now);
        Ok(())
    }

    /// Removes the discount code.
    ///
    /// # Errors
    /// [`CartError::Closed`].
    pub fn remove_discount(&mut self, now: DateTime<Utc>) -> Result<(), CartError> {
        self.ensure_open()?;
        self.discount_code = None;
        self.touch(now);
        Ok(())
    }

    /// Closes the cart after checkout.
    ///
    /// # Errors
    /// [`CartError::Closed`] if it already was.
    pub fn close(&mut self, now: DateTime<Utc>) -> Result<(), CartError> {
        self.ensure_open()?;
        self.status = CartStatus::CheckedOut;
        self.touch(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{NewProduct, ProductName, Sku};
    use crate::money::Money;

    fn product(n: usize, currency: Currency) -> Product {
        NewProduct::new(
            Sku::parse(&format!("P{n}")).unwrap(),
            ProductName::parse("P").unwrap(),
            Money::parse_price("1", currency).unwrap(),
            5,
        )
        .into_product(Utc::now())
    }

    fn cart() -> Cart {
        Cart::new(CustomerId::parse("c").unwrap(), Currency::USD, Utc::now())
    }

    fn q(n: u32) -> Quantity {
        Quantity::new(n).unwrap()
    }

    #[test]
    fn merging_past_999_is_refused_and_changes_nothing() {
        let now = Utc::now();
        let p = product(1, Currency::USD);
        let mut c = cart();
        c.add(&p, q(998), now).unwrap();
        let before = c.clone();
        assert_eq!(c.add(&p, q(2), now), Err(CartError::Quantity));
        assert_eq!(c, before);
        c.add(&p, q(1), now).unwrap();
        assert_eq!(c.lines[0].quantity.get(), 999);
    }

    #[test]
    fn a_hundred_lines_at_most() {
        let now = Utc::now();
        let mut c = cart();
        for n in 0..MAX_LINES {
            c.add(&product(n, Currency::USD), q(1), now).unwrap();
        }
        assert_eq!(
            c.add(&product(1000, Currency::USD), q(1), now),
            Err(CartError::Full)
        );
        // An existing line still merges.
        let first = c.lines[0].product_id.clone();
        let mut again = product(0, Currency::USD);
        again.id = first;
        c.add(&again, q(1), now).unwrap();
    }

    #[test]
    fn refuses_inactive_foreign_and_closed() {
        let now = Utc::now();
        let mut c = cart();
        let mut p = product(1, Currency::USD);
        p.active = false;
        assert!(matches!(
            c.add(&p, q(1), now),
            Err(CartError::ProductUnavailable(_))
        ));
        let eur = product(2, Currency::EUR);
        assert!(matches!(
            c.add(&eur, q(1), now),
            Err(CartError::CurrencyMismatch { .. })
        ));
        let p = product(3, Currency::USD);
        c.add(&p, q(1), now).unwrap();
        c.close(now).unwrap();
        let version = c.version;
        assert_eq!(c.add(&p, q(1), now), Err(CartError::Closed));
        assert_eq!(c.set_quantity(&p.id, 2, now), Err(CartError::Closed));
        assert_eq!(c.remove(&p.id, now), Err(CartError::Closed));
        assert_eq!(c.remove_discount(now), Err(CartError::Closed));
        assert_eq!(c.close(now), Err(CartError::Closed));
        assert_eq!(c.version, version);
    }

    #[test]
    fn set_quantity_zero_removes_and_version_rises() {
        let now = Utc::now();
        let mut c = cart();
        let p = product(1, Currency::USD);
        c.add(&p, q(2), now).unwrap();
        c.set_quantity(&p.id, 7, now).unwrap();
        assert_eq!(c.lines[0].quantity.get(), 7);
        assert_eq!(c.set_quantity(&p.id, 1000, now), Err(CartError::Quantity));
        c.set_quantity(&p.id, 0, now).unwrap();
        assert!(c.lines.is_empty());
        assert_eq!(c.version, 4);
        assert!(matches!(
            c.set_quantity(&p.id, 1, now),
            Err(CartError::LineNotFound(_))
        ));
    }
}
