//! A product as stored, and what it takes to create one.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Description, ProductImage, ProductName, Sku, Stock, StockOutOfRange, TaxClass};
use crate::ids::ProductId;
use crate::money::{Currency, Money};

/// A product of the catalogue, as stored.
///
/// Its fields are private: the price keeps its currency, the stock never
/// goes below zero and every change bumps the version, because only its
/// methods ([`ProductPatch::applied_to`], [`Product::take_stock`],
/// [`Product::return_stock`]) change it. A new one comes from
/// [`NewProduct::into_product`], a stored one from [`Product::restore`].
///
/// ```compile_fail,E0616
/// # use orders_core::{catalogue::*, money::*};
/// let mut tea = NewProduct::new(Sku::parse("TEA").unwrap(), ProductName::parse("Tea").unwrap(),
///     Money::parse_price("4.50", Currency::USD).unwrap(), 10).into_product(chrono::Utc::now());
/// tea.stock = 1_000; // private: stock changes through a patch or a sale, with the version
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Product {
    pub(super) id: ProductId,
    pub(super) sku: Sku,
    pub(super) name: ProductName,
    pub(super) description: Description,
    pub(super) price: Money,
    /// Repeated from the price so the JSON matches API.md.
    pub(super) currency: Currency,
    pub(super) stock: Stock,
    pub(super) active: bool,
    pub(super) tax_class: TaxClass,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
    pub(super) version: u64,
    /// Its picture, if staff gave it one (JSON: `null` or the image with
    /// its URLs).
    pub(super) image: Option<ProductImage>,
}

/// A product as a store keeps it, field by field: what [`Product::restore`]
/// checks and rebuilds a product from. The currency is the price's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductParts {
    /// Its id.
    pub id: ProductId,
    /// Its SKU.
    pub sku: Sku,
    /// Display name.
    pub name: ProductName,
    /// Description, possibly empty.
    pub description: Description,
    /// Unit price, tax exclusive.
    pub price: Money,
    /// Units available to sell.
    pub stock: Stock,
    /// Whether it is on sale.
    pub active: bool,
    /// Which tax rate applies.
    pub tax_class: TaxClass,
    /// Its picture, if any.
    pub image: Option<ProductImage>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When staff last changed it.
    pub updated_at: DateTime<Utc>,
    /// Its version, 1 or more.
    pub version: u64,
}

/// Why stored parts do not make a product.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidProduct {
    /// A negative price.
    #[error("a negative price")]
    NegativePrice,
    /// Version 0: every product starts at 1.
    #[error("version 0")]
    VersionZero,
}

impl Product {
    /// The product a store kept, checked.
    ///
    /// # Errors
    /// [`InvalidProduct`] for a negative price or version 0.
    pub fn restore(parts: ProductParts) -> Result<Self, InvalidProduct> {
        if parts.price.is_negative() {
            return Err(InvalidProduct::NegativePrice);
        }
        if parts.version == 0 {
            return Err(InvalidProduct::VersionZero);
        }
        Ok(Self {
            id: parts.id,
            sku: parts.sku,
            name: parts.name,
            description: parts.description,
            currency: parts.price.currency(),
            price: parts.price,
            stock: parts.stock,
            active: parts.active,
            tax_class: parts.tax_class,
            image: parts.image,
            created_at: parts.created_at,
            updated_at: parts.updated_at,
            version: parts.version,
        })
    }

    /// Its id.
    pub fn id(&self) -> &ProductId {
        &self.id
    }

    /// Its SKU, unique in the catalogue.
    pub fn sku(&self) -> &Sku {
        &self.sku
    }

    /// Display name.
    pub fn name(&self) -> &ProductName {
        &self.name
    }

    /// Description, possibly empty.
    pub fn description(&self) -> &Description {
        &self.description
    }

    /// Unit price, tax exclusive, never negative.
    pub fn price(&self) -> Money {
        self.price
    }

    /// The price's currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Units available to sell.
    pub fn stock(&self) -> Stock {
        self.stock
    }

    /// Whether it can be added to carts and bought.
    pub fn active(&self) -> bool {
        self.active
    }

    /// Which tax rate applies.
    pub fn tax_class(&self) -> &TaxClass {
        &self.tax_class
    }

    /// Its picture, if staff gave it one.
    pub fn image(&self) -> Option<&ProductImage> {
        self.image.as_ref()
    }

    /// When it was created.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// When staff last changed it (a sale or a cancellation bumps
    /// `version`, not this).
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }

    /// 1 when created, then + 1 on every change: a staff edit, stock taken
    /// by a checkout, stock returned by a cancellation.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Takes `quantity` units sold by a checkout, bumping the version.
    ///
    /// # Errors
    /// [`StockOutOfRange`] when fewer are in stock; nothing changes then.
    pub fn take_stock(&mut self, quantity: Stock) -> Result<(), StockOutOfRange> {
        self.stock = self.stock.checked_sub(quantity).ok_or(StockOutOfRange)?;
        self.version += 1;
        Ok(())
    }

    /// Puts back `quantity` units of a cancelled order (at most up to
    /// [`Stock::MAX`]), bumping the version.
    pub fn return_stock(&mut self, quantity: Stock) {
        self.stock = self.stock.saturating_add(quantity);
        self.version += 1;
    }
}

/// What it takes to create a product; the store assigns nothing but
/// timestamps (the id is chosen here, so callers can know it up front).
///
/// ```
/// # use orders_core::{catalogue::*, ids::ProductId, money::*};
/// let mug = NewProduct::new(
///     Sku::parse("MUG-1").unwrap(),
///     ProductName::parse("Mug").unwrap(),
///     Money::parse_price("12.00", Currency::USD).unwrap(),
///     5,
/// )
/// .description(Description::parse("Stoneware").unwrap())
/// .tax_class(TaxClass::parse("reduced").unwrap())
/// .active(false)
/// .into_product(chrono::Utc::now());
/// assert_eq!(mug.tax_class().as_str(), "reduced");
/// assert!(!mug.active());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    id: ProductId,
    sku: Sku,
    name: ProductName,
    description: Description,
    price: Money,
    stock: Stock,
    active: bool,
    tax_class: TaxClass,
}

impl NewProduct {
    /// A new active product of the standard tax class with a fresh id
    /// ([`ProductId::generate`]) and no description. `price` is not
    /// negative (see [`Money::parse_price`]).
    pub fn new(sku: Sku, name: ProductName, price: Money, stock: Stock) -> Self {
        Self {
            id: ProductId::generate(),
            sku,
            name,
            description: Description::default(),
            price,
            stock,
            active: true,
            tax_class: TaxClass::standard(),
        }
    }

    /// With the host's own id instead of a generated one.
    #[must_use]
    pub fn id(mut self, id: ProductId) -> Self {
        self.id = id;
        self
    }

    /// With a description.
    #[must_use]
    pub fn description(mut self, description: Description) -> Self {
        self.description = description;
        self
    }

    /// On sale (`true`, the default) or not.
    #[must_use]
    pub fn active(mut self, active: bool) -> Self {
        self.active = active;
        self
    }

    /// With a tax class other than `standard`.
    #[must_use]
    pub fn tax_class(mut self, tax_class: TaxClass) -> Self {
        self.tax_class = tax_class;
        self
    }

    /// The id it will have.
    pub fn product_id(&self) -> &ProductId {
        &self.id
    }

    /// Its unit price.
    pub fn price(&self) -> Money {
        self.price
    }

    /// The product this becomes when stored at `now`.
    pub fn into_product(self, now: DateTime<Utc>) -> Product {
        Product {
            id: self.id,
            sku: self.sku,
            name: self.name,
            description: self.description,
            currency: self.price.currency(),
            price: self.price,
            stock: self.stock,
            active: self.active,
            tax_class: self.tax_class,
            image: None,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }
}
