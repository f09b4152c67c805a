//! Carts: what a customer means to buy, before it is priced.
//!
//! A cart holds product ids and quantities only; prices, names and taxes
//! are taken from the catalogue each time it is priced (see
//! [`crate::pricing`]), so a cart never shows a stale price.

mod claim;
pub(crate) mod forms;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalogue::Product;
use crate::discount::DiscountCode;
use crate::guest::{CartToken, TokenHash};
use crate::ids::{CartId, CustomerId, ProductId};
use crate::money::Currency;

pub use claim::{MergeWarning, MergeWarningReason};
pub use forms::{AddItemForm, ApplyDiscountForm, CreateCartForm, SetQuantityForm};

pub use quantity::{InvalidQuantity, Quantity};

mod quantity;

/// Most lines a cart holds.
pub const MAX_LINES: usize = 100;

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
///
/// Its fields are private: it changes only through its methods, which keep
/// its rules (at most [`MAX_LINES`] lines, one line per product, 1 to 999
/// of each, no change once checked out, the version rising on every
/// change). A store rebuilds one from its rows with [`Cart::restore`].
///
/// ```compile_fail,E0616
/// # use orders_core::{cart::*, ids::CustomerId, money::Currency};
/// let mut cart = Cart::new(CustomerId::parse("ada").unwrap(), Currency::USD, chrono::Utc::now());
/// cart.lines.clear(); // private: only `add`, `set_quantity` and `remove` change lines
/// ```
///
/// ```compile_fail,E0616
/// # use orders_core::{cart::*, ids::CustomerId, money::Currency};
/// # let mut cart = Cart::new(CustomerId::parse("ada").unwrap(), Currency::USD, chrono::Utc::now());
/// cart.status = CartStatus::Open; // a checked-out cart cannot be reopened
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cart {
    id: CartId,
    customer_id: CustomerId,
    currency: Currency,
    lines: Vec<CartLine>,
    discount_code: Option<DiscountCode>,
    status: CartStatus,
    version: u64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    #[serde(skip)]
    token_hash: Option<TokenHash>,
}

/// A cart as a store keeps it, field by field: what [`Cart::restore`]
/// checks and rebuilds a cart from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartParts {
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
    /// Its version, 1 or more.
    pub version: u64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// A guest cart's token hash ([`Cart::new_guest`]); `None` for a
    /// customer's cart.
    pub token_hash: Option<TokenHash>,
}

/// Why stored parts do not make a cart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidCart {
    /// More than [`MAX_LINES`] lines.
    #[error("{0} lines, more than 100")]
    TooManyLines(usize),
    /// Two lines of one product.
    #[error("product {0} has two lines")]
    RepeatedProduct(ProductId),
    /// Version 0: every cart starts at 1.
    #[error("version 0")]
    VersionZero,
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
            token_hash: None,
        }
    }

    /// A new guest cart: empty, open, owned by a new guest id
    /// ([`CustomerId::guest`]), opened by the token returned with it,
    /// which the cart keeps only as a hash.
    ///
    /// ```
    /// # use orders_core::{cart::*, money::Currency};
    /// let (cart, token) = Cart::new_guest(Currency::EUR, chrono::Utc::now());
    /// assert!(cart.customer_id().is_guest());
    /// assert!(cart.opens_with(token.as_str()));
    /// assert!(!cart.opens_with("a guess"));
    /// ```
    pub fn new_guest(currency: Currency, now: DateTime<Utc>) -> (Self, CartToken) {
        let token = CartToken::generate();
        let mut cart = Self::new(CustomerId::guest(), currency, now);
        cart.token_hash = Some(token.hash());
        (cart, token)
    }

    /// Whether `token` opens this cart: a guest cart's own token, compared
    /// in constant time. A customer's cart opens with no token.
    pub fn opens_with(&self, token: &str) -> bool {
        self.token_hash.is_some_and(|hash| hash.matches(token))
    }

    /// Whether this is a guest's cart (made by [`Cart::new_guest`] and
    /// not yet adopted).
    pub fn is_guest(&self) -> bool {
        self.token_hash.is_some()
    }

    /// A guest cart's token hash; `None` for a customer's cart.
    pub fn token_hash(&self) -> Option<&TokenHash> {
        self.token_hash.as_ref()
    }

    /// The cart a store kept, checked: parts that break a rule of a cart
    /// are refused rather than trusted.
    ///
    /// ```
    /// # use orders_core::{cart::*, ids::{CartId, CustomerId, ProductId}, money::Currency};
    /// # let now = chrono::Utc::now();
    /// let line = |n: usize| CartLine {
    ///     product_id: ProductId::parse(&format!("p{n}")).unwrap(),
    ///     quantity: Quantity::new(1).unwrap(),
    /// };
    /// let parts = |lines: usize| CartParts {
    ///     token_hash: None,
    ///     id: CartId::generate(),
    ///     customer_id: CustomerId::parse("ada").unwrap(),
    ///     currency: Currency::USD,
    ///     lines: (0..lines).map(line).collect(),
    ///     discount_code: None,
    ///     status: CartStatus::Open,
    ///     version: 7,
    ///     created_at: now,
    ///     updated_at: now,
    /// };
    /// assert_eq!(Cart::restore(parts(100)).unwrap().lines().len(), 100);
    /// assert_eq!(Cart::restore(parts(101)), Err(InvalidCart::TooManyLines(101)));
    /// ```
    ///
    /// # Errors
    /// [`InvalidCart`] for more than [`MAX_LINES`] lines, two lines of one
    /// product or version 0.
    pub fn restore(parts: CartParts) -> Result<Self, InvalidCart> {
        if parts.lines.len() > MAX_LINES {
            return Err(InvalidCart::TooManyLines(parts.lines.len()));
        }
        for (i, line) in parts.lines.iter().enumerate() {
            if parts.lines[..i]
                .iter()
                .any(|l| l.product_id == line.product_id)
            {
                return Err(InvalidCart::RepeatedProduct(line.product_id.clone()));
            }
        }
        if parts.version == 0 {
            return Err(InvalidCart::VersionZero);
        }
        Ok(Self {
            id: parts.id,
            customer_id: parts.customer_id,
            currency: parts.currency,
            lines: parts.lines,
            discount_code: parts.discount_code,
            status: parts.status,
            version: parts.version,
            created_at: parts.created_at,
            updated_at: parts.updated_at,
            token_hash: parts.token_hash,
        })
    }

    /// Its fields, as a store keeps them.
    pub fn into_parts(self) -> CartParts {
        CartParts {
            id: self.id,
            customer_id: self.customer_id,
            currency: self.currency,
            lines: self.lines,
            discount_code: self.discount_code,
            status: self.status,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
            token_hash: self.token_hash,
        }
    }

    /// Its id.
    pub fn id(&self) -> &CartId {
        &self.id
    }

    /// Whose it is.
    pub fn customer_id(&self) -> &CustomerId {
        &self.customer_id
    }

    /// The one currency of everything in it.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Lines in the order they were first added.
    pub fn lines(&self) -> &[CartLine] {
        &self.lines
    }

    /// The discount code applied, if any.
    pub fn discount_code(&self) -> Option<&DiscountCode> {
        self.discount_code.as_ref()
    }

    /// Open or checked out.
    pub fn status(&self) -> CartStatus {
        self.status
    }

    /// Rises by one on every change; stores compare-and-set on it.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// When it was created.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// When it last changed.
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
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
    /// assert_eq!(cart.lines().len(), 1);
    /// assert_eq!(cart.lines()[0].quantity.get(), 5);
    /// assert_eq!(cart.version(), 3);
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
        if !product.active() {
            return Err(CartError::ProductUnavailable(product.id().clone()));
        }
        if product.currency() != self.currency {
            return Err(CartError::CurrencyMismatch {
                cart: self.currency,
                product: product.currency(),
            });
        }
        if let Some(line) = self
            .lines
            .iter_mut()
            .find(|l| &l.product_id == product.id())
        {
            line.quantity = Quantity::new(line.quantity.get() + quantity.get())
                .map_err(|_| CartError::Quantity)?;
        } else {
            if self.lines.len() >= MAX_LINES {
                return Err(CartError::Full);
            }
            self.lines.push(CartLine {
                product_id: product.id().clone(),
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
mod tests;
