//! The catalogue: products with their SKU, price, stock and tax class.
//!
//! A product carries a `version` that every change bumps, stock taken by a
//! checkout and returned by a cancellation included. Staff edits say the
//! version they were made from ([`ProductEdit`]), and a store refuses an
//! edit whose version has moved on, so an edit made before a sale cannot
//! undo it. Stock changes without a version are adjustments
//! ([`StockChange::Adjust`]), applied to the stock as stored.

mod create;
mod edit;
mod image;
mod product;
mod search;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::money::Money;
use crate::ports::StoreError;
use crate::text::{self, TextError};

pub use create::NewProductForm;
pub(crate) use edit::fields as edit_fields;
pub use edit::{ProductEdit, ProductEditForm, VERSION_FOR_STOCK, VersionPolicy, WholeNumber};
pub use image::{BlobKey, ImageFormat, ImageKey, ImageVariant, InvalidImage, ProductImage};
pub use product::{InvalidProduct, NewProduct, Product, ProductParts};
pub use search::{ProductQuery, fold};

/// Most units of one product a store can hold (about four billion): stock
/// is a `u32`, so it can never be negative.
pub type Stock = u32;

/// A stock keeping unit: 1 to 64 characters of ASCII letters, digits, `-`,
/// `_` and `.`, unique in the catalogue.
///
/// ```
/// use orders_core::catalogue::Sku;
/// assert!(Sku::parse("TEA-EARL-GREY-250").is_ok());
/// assert!(Sku::parse("tea earl grey").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sku(String);

/// The SKU text is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to 64 characters of letters, digits, '-', '_' or '.'")]
pub struct InvalidSku;

impl Sku {
    /// The most characters a SKU has.
    pub const MAX_CHARS: usize = 64;

    /// The JSON Schema pattern of a SKU's characters.
    pub const PATTERN: &'static str = "^[A-Za-z0-9._-]+$";

    /// Parses a SKU.
    ///
    /// # Errors
    /// [`InvalidSku`] when empty, longer than 64 or with another character.
    pub fn parse(text: &str) -> Result<Self, InvalidSku> {
        let ok = (1..=Self::MAX_CHARS).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(InvalidSku)
        }
    }

    /// The SKU text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Sku {
    type Error = InvalidSku;
    fn try_from(value: String) -> Result<Self, InvalidSku> {
        Self::parse(&value)
    }
}

impl From<Sku> for String {
    fn from(value: Sku) -> Self {
        value.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

text::text_type!(
    /// A product's display name: 1 to 200 characters, trimmed, no control
    /// or bidirectional formatting characters.
    ProductName,
    200
);

/// A product description: up to 10,000 characters, trimmed; may be empty.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Description(String);

impl Description {
    /// The most characters a description has.
    pub const MAX_CHARS: usize = 10_000;

    /// Parses a description.
    ///
    /// # Errors
    /// [`TextError`] when longer than 10,000 characters or carrying control
    /// characters other than newlines and tabs.
    pub fn parse(text: &str) -> Result<Self, TextError> {
        text::check_multiline(text, Self::MAX_CHARS).map(Self)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Description {
    type Error = TextError;
    fn try_from(value: String) -> Result<Self, TextError> {
        Self::parse(&value)
    }
}

impl From<Description> for String {
    fn from(value: Description) -> Self {
        value.0
    }
}

/// A tax class: which rate of a destination applies to a product
/// (`standard`, `reduced`, `zero`, or a host's own). 1 to 32 characters of
/// lower-case ASCII letters, digits and `_`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TaxClass(String);

/// The tax class text is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to 32 characters of a-z, 0-9 and '_'")]
pub struct InvalidTaxClass;

impl TaxClass {
    /// The most characters a tax class has.
    pub const MAX_CHARS: usize = 32;

    /// The JSON Schema pattern of a tax class's characters.
    pub const PATTERN: &'static str = "^[a-z0-9_]+$";

    /// Parses a tax class.
    ///
    /// # Errors
    /// [`InvalidTaxClass`].
    pub fn parse(text: &str) -> Result<Self, InvalidTaxClass> {
        let ok = (1..=Self::MAX_CHARS).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(InvalidTaxClass)
        }
    }

    /// The `standard` class, which products get unless told otherwise.
    pub fn standard() -> Self {
        Self("standard".to_owned())
    }

    /// The class name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TaxClass {
    fn default() -> Self {
        Self::standard()
    }
}

impl TryFrom<String> for TaxClass {
    type Error = InvalidTaxClass;
    fn try_from(value: String) -> Result<Self, InvalidTaxClass> {
        Self::parse(&value)
    }
}

impl From<TaxClass> for String {
    fn from(value: TaxClass) -> Self {
        value.0
    }
}

impl fmt::Display for TaxClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How an edit changes the stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockChange {
    /// Set it to this count. Only safe together with the version the count
    /// was read at: without one, a sale made since would be undone.
    Set(Stock),
    /// Add (positive) or remove (negative) units from the stock as stored
    /// when the edit is written, whatever the caller read.
    Adjust(i64),
}

impl StockChange {
    /// The stock after this change to `stock`.
    ///
    /// # Errors
    /// [`StockOutOfRange`] when an adjustment would take it below zero or
    /// above [`Stock::MAX`].
    pub fn applied_to(self, stock: Stock) -> Result<Stock, StockOutOfRange> {
        match self {
            Self::Set(count) => Ok(count),
            Self::Adjust(delta) => i64::from(stock)
                .checked_add(delta)
                .and_then(|n| Stock::try_from(n).ok())
                .ok_or(StockOutOfRange),
        }
    }
}

/// A stock adjustment would take the stock below zero (or above
/// [`Stock::MAX`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("would take the stock below zero")]
pub struct StockOutOfRange;

/// Why a patch cannot apply to a product.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The new price is in another currency than the product's.
    #[error(transparent)]
    Currency(crate::money::MoneyError),
    /// The stock adjustment would take the stock out of range.
    #[error(transparent)]
    Stock(StockOutOfRange),
}

/// A partial update of a product: each `Some` field replaces the stored one
/// (the stock as [`StockChange`] says). The price keeps the product's
/// currency (a store refuses another one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductPatch {
    /// New name.
    pub name: Option<ProductName>,
    /// New description.
    pub description: Option<Description>,
    /// New price, in the product's currency.
    pub price: Option<Money>,
    /// A new stock count, or an adjustment of the stored one.
    pub stock: Option<StockChange>,
    /// New active flag.
    pub active: Option<bool>,
    /// New tax class.
    pub tax_class: Option<TaxClass>,
    /// A new picture (`Some(None)` removes it).
    pub image: Option<Option<ProductImage>>,
}

impl ProductPatch {
    /// Applies the patch to `product` at `now` (fields and `updated_at`;
    /// the version is [`ProductPatch::applied_to`]'s).
    ///
    /// # Errors
    /// [`PatchError::Currency`] if the new price is in another currency,
    /// [`PatchError::Stock`] if a stock adjustment would take the stock
    /// out of range; `product` is then left as it was.
    pub fn apply(&self, product: &mut Product, now: DateTime<Utc>) -> Result<(), PatchError> {
        let stock = match self.stock {
            Some(change) => change
                .applied_to(product.stock)
                .map_err(PatchError::Stock)?,
            None => product.stock,
        };
        if let Some(price) = self.price {
            if price.currency() != product.currency {
                return Err(PatchError::Currency(
                    crate::money::MoneyError::CurrencyMismatch(product.currency, price.currency()),
                ));
            }
            product.price = price;
        }
        product.stock = stock;
        if let Some(name) = &self.name {
            product.name = name.clone();
        }
        if let Some(description) = &self.description {
            product.description = description.clone();
        }
        if let Some(active) = self.active {
            product.active = active;
        }
        if let Some(tax_class) = &self.tax_class {
            product.tax_class = tax_class.clone();
        }
        if let Some(image) = &self.image {
            product.image = image.clone();
        }
        product.updated_at = now;
        Ok(())
    }

    /// What a store writes for this patch on `stored`, the product as
    /// stored (read under the write's lock): the patched product with
    /// version + 1. Every store calls this, so they agree on the rules.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when `expected_version` is given and is
    /// not the stored version; [`StoreError::StockOutOfRange`] when a stock
    /// adjustment would take the stock out of range;
    /// [`StoreError::Backend`] for a price in another currency (the engine
    /// checks it before).
    pub fn applied_to(
        &self,
        stored: &Product,
        expected_version: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<Product, StoreError> {
        if expected_version.is_some_and(|v| v != stored.version) {
            return Err(StoreError::Conflict);
        }
        let mut product = stored.clone();
        self.apply(&mut product, now).map_err(|e| match e {
            PatchError::Stock(_) => StoreError::StockOutOfRange,
            PatchError::Currency(e) => StoreError::Backend(e.to_string()),
        })?;
        product.version = stored.version.saturating_add(1);
        Ok(product)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    #[test]
    fn sku_and_tax_class_parsing() {
        assert!(Sku::parse("A-1_b.2").is_ok());
        for bad in ["", "a b", "é", &"x".repeat(65)] {
            assert_eq!(Sku::parse(bad), Err(InvalidSku), "{bad:?}");
        }
        assert!(TaxClass::parse("reduced_5").is_ok());
        assert!(TaxClass::parse("Reduced").is_err());
        assert_eq!(TaxClass::default().as_str(), "standard");
    }

    #[test]
    fn patch_refuses_other_currency_and_changes_nothing() {
        let now = Utc::now();
        let usd = Money::parse_price("5.00", Currency::USD).unwrap();
        let mut product = NewProduct::new(
            Sku::parse("TEA").unwrap(),
            ProductName::parse("Tea").unwrap(),
            usd,
            3,
        )
        .into_product(now);
        let before = product.clone();
        let patch = ProductPatch {
            price: Some(Money::parse_price("1", Currency::EUR).unwrap()),
            stock: Some(StockChange::Set(9)),
            ..ProductPatch::default()
        };
        assert!(patch.apply(&mut product, now).is_err());
        assert_eq!(product, before);
        let patch = ProductPatch {
            stock: Some(StockChange::Set(9)),
            active: Some(false),
            ..ProductPatch::default()
        };
        patch.apply(&mut product, now).unwrap();
        assert_eq!((product.stock, product.active), (9, false));
    }

    #[test]
    fn stock_changes_stay_in_range_and_edits_compare_versions() {
        assert_eq!(StockChange::Adjust(5).applied_to(7), Ok(12));
        assert_eq!(StockChange::Adjust(-7).applied_to(7), Ok(0));
        assert_eq!(StockChange::Adjust(-8).applied_to(7), Err(StockOutOfRange));
        assert_eq!(
            StockChange::Adjust(1).applied_to(Stock::MAX),
            Err(StockOutOfRange)
        );
        assert_eq!(
            StockChange::Adjust(i64::MIN).applied_to(0),
            Err(StockOutOfRange)
        );
        assert_eq!(StockChange::Set(3).applied_to(7), Ok(3));

        let now = Utc::now();
        let product = NewProduct::new(
            Sku::parse("TEA").unwrap(),
            ProductName::parse("Tea").unwrap(),
            Money::parse_price("5", Currency::USD).unwrap(),
            3,
        )
        .into_product(now);
        let patch = ProductPatch {
            stock: Some(StockChange::Adjust(-4)),
            ..ProductPatch::default()
        };
        assert_eq!(
            patch.applied_to(&product, None, now),
            Err(StoreError::StockOutOfRange)
        );
        assert_eq!(
            ProductPatch::default().applied_to(&product, Some(2), now),
            Err(StoreError::Conflict)
        );
        let next = ProductPatch::default()
            .applied_to(&product, Some(1), now)
            .unwrap();
        assert_eq!(next.version, 2);
        assert_eq!(serde_json::to_value(&next).unwrap()["version"], 2);
    }

    #[test]
    fn stock_is_taken_and_returned_with_the_version_and_restore_checks() {
        let now = Utc::now();
        let mut product = NewProduct::new(
            Sku::parse("TEA").unwrap(),
            ProductName::parse("Tea").unwrap(),
            Money::parse_price("5", Currency::USD).unwrap(),
            3,
        )
        .into_product(now);
        assert_eq!(product.take_stock(4), Err(StockOutOfRange));
        assert_eq!((product.stock(), product.version()), (3, 1));
        product.take_stock(3).unwrap();
        product.return_stock(2);
        assert_eq!((product.stock(), product.version()), (2, 3));
        let parts = |price: &str, version: u64| ProductParts {
            id: product.id().clone(),
            sku: product.sku().clone(),
            name: product.name().clone(),
            description: product.description().clone(),
            price: Money::parse(price, Currency::EUR).unwrap(),
            stock: 7,
            active: false,
            tax_class: TaxClass::standard(),
            image: None,
            created_at: now,
            updated_at: now,
            version,
        };
        let restored = Product::restore(parts("2.50", 4)).unwrap();
        assert_eq!(restored.currency(), Currency::EUR);
        assert_eq!(
            Product::restore(parts("-1", 4)),
            Err(InvalidProduct::NegativePrice)
        );
        assert_eq!(
            Product::restore(parts("1", 0)),
            Err(InvalidProduct::VersionZero)
        );
    }

    #[test]
    fn product_serialises_like_the_api() {
        let product = NewProduct::new(
            Sku::parse("TEA").unwrap(),
            ProductName::parse("Tea").unwrap(),
            Money::parse_price("5", Currency::USD).unwrap(),
            3,
        )
        .into_product(Utc::now());
        let json = serde_json::to_value(&product).unwrap();
        assert_eq!(json["price"], "5.00");
        assert_eq!(json["currency"], "USD");
        assert_eq!(json["stock"], 3);
        assert_eq!(json["active"], true);
    }
}
