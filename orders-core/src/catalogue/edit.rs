//! A staff edit of a product: the changes and the version they were made
//! from, as submitted ([`ProductEditForm`], the JSON `PATCH` body and the
//! admin panel's form alike) and as validated ([`ProductEdit`]).
//!
//! The rule that keeps a stale edit from undoing a sale lives here: an
//! absolute stock count needs the version it was read at; without one, the
//! stock changes only by an adjustment (`+5`, `-2`) applied to the stock as
//! stored.

use serde::Deserialize;

use super::{Description, ProductName, ProductPatch, Stock, StockChange, TaxClass};
use crate::checkout::REQUIRED;
use crate::form::{self, Field, Form};
use crate::money::{Currency, Money};
use crate::validation::ValidationErrors;

/// The message on `version` for an absolute stock sent without one.
pub const VERSION_FOR_STOCK: &str = "required to set stock to a count: send the version you read the product at, or change the stock with stock_adjustment";

/// A whole number as submitted: a JSON integer, or the text of an HTML
/// form field (`"7"`, `"+5"`, `"-2"`; blank counts as absent).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum WholeNumber {
    /// A JSON integer.
    Integer(i64),
    /// Form text.
    Text(String),
}

impl WholeNumber {
    /// The number; `Ok(None)` for blank text.
    pub(crate) fn value(&self) -> Result<Option<i64>, &'static str> {
        match self {
            Self::Integer(n) => Ok(Some(*n)),
            Self::Text(text) if text.trim().is_empty() => Ok(None),
            Self::Text(text) => text
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| "must be a whole number"),
        }
    }
}

impl WholeNumber {
    /// Whether it is form text with nothing but whitespace.
    pub fn is_blank(&self) -> bool {
        matches!(self, Self::Text(text) if text.trim().is_empty())
    }
}

impl From<i64> for WholeNumber {
    fn from(n: i64) -> Self {
        Self::Integer(n)
    }
}

impl From<&str> for WholeNumber {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

/// Which edits must say the version they were made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionPolicy {
    /// Every edit: a form that re-sends every field it loaded (the admin
    /// panel's) would otherwise overwrite any change made since.
    Always,
    /// Only an absolute stock count: a partial edit (the JSON `PATCH`) that
    /// renames or reprices cannot undo a sale, and an adjustment applies to
    /// the stock as stored.
    ForStockCount,
}

/// A product edit as submitted. Missing fields deserialise as `None`;
/// [`validate`](Self::validate) checks every field and reports every bad
/// one at once, by field name.
///
/// ```
/// use orders_core::catalogue::{ProductEditForm, StockChange, VersionPolicy};
/// use orders_core::money::Currency;
///
/// // An absolute count without the version it was read at is refused.
/// let errors = ProductEditForm { stock: Some(7.into()), ..Default::default() }
///     .validate(Currency::USD, VersionPolicy::ForStockCount)
///     .unwrap_err();
/// assert!(errors.contains("version"));
///
/// // An adjustment needs none.
/// let edit = ProductEditForm { stock_adjustment: Some("+5".into()), ..Default::default() }
///     .validate(Currency::USD, VersionPolicy::ForStockCount)
///     .unwrap();
/// assert_eq!(edit.patch.stock, Some(StockChange::Adjust(5)));
/// assert_eq!(edit.expected_version, None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ProductEditForm {
    /// The product's `version` when the edit was begun.
    pub version: Option<WholeNumber>,
    /// New name.
    pub name: Option<String>,
    /// New description (may be empty).
    pub description: Option<String>,
    /// New price, a decimal in the product's currency.
    pub price: Option<String>,
    /// A new stock count: needs `version`.
    pub stock: Option<WholeNumber>,
    /// Units to add (positive) or remove (negative).
    pub stock_adjustment: Option<WholeNumber>,
    /// Whether it is on sale.
    pub active: Option<bool>,
    /// New tax class.
    pub tax_class: Option<String>,
}

impl Form for ProductEditForm {
    const DESCRIPTION: &'static form::Description = &form::Description {
        name: "PatchProduct",
        doc: "Changes to a product (`PATCH /admin/products/{id}`): any of the fields.",
        fields: &[
            Field::integer(
                "version",
                "The product's `version` when the edit was begun: when sent, the edit is refused with 409 `stale` if the product has changed since. Required with `stock`.",
                Some(0),
                Some(i64::MAX),
            ),
            fields::NAME,
            fields::DESCRIPTION,
            Field::text("price", "In the product's currency, not negative.")
                .pattern(Money::PRICE_PATTERN)
                .example("12.00"),
            fields::STOCK,
            Field::integer(
                "stock_adjustment",
                "Units to add (positive) or remove (negative), applied to the stock as stored; 422 if it would go below zero. Not with `stock`.",
                Some(-(Stock::MAX as i64)),
                Some(Stock::MAX as i64),
            ),
            Field::boolean("active", "Whether it is on sale."),
            fields::TAX_CLASS,
        ],
    };
}

/// The fields a new product and an edit share.
pub(crate) mod fields {
    use super::super::{Description, ProductName, Stock, TaxClass};
    use crate::form::Field;
    use crate::text::{LINE_PATTERN, MULTILINE_PATTERN};

    /// `name`.
    pub(crate) const NAME: Field = Field::text("name", "Its display name.")
        .chars(1, ProductName::MAX_CHARS)
        .pattern(LINE_PATTERN);

    /// `description`.
    pub(crate) const DESCRIPTION: Field =
        Field::text("description", "Its description; may be empty.")
            .chars(0, Description::MAX_CHARS)
            .pattern(MULTILINE_PATTERN);

    /// `stock`.
    pub(crate) const STOCK: Field = Field::integer(
        "stock",
        "Units in stock (an edit's count needs `version`).",
        Some(0),
        Some(Stock::MAX as i64),
    );

    /// `tax_class`.
    pub(crate) const TAX_CLASS: Field =
        Field::text("tax_class", "Its tax class; default `standard`.")
            .chars(1, TaxClass::MAX_CHARS)
            .pattern(TaxClass::PATTERN)
            .example("standard");

    /// A currency code field.
    pub(crate) const fn currency(doc: &'static str) -> Field {
        Field::text("currency", doc)
            .one_of(&crate::money::CURRENCY_CODES)
            .example("USD")
    }
}

/// A validated product edit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductEdit {
    /// The changes.
    pub patch: ProductPatch,
    /// The version they were made from: the store refuses them if the
    /// product has moved on. `None` applies them to whatever is stored.
    pub expected_version: Option<u64>,
}

impl ProductEdit {
    /// The rule of versions: every bad field of this edit under `policy`
    /// (`version` missing where needed).
    ///
    /// # Errors
    /// [`ValidationErrors`] on `version`.
    pub fn check(&self, policy: VersionPolicy) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.expected_version.is_none() {
            if policy == VersionPolicy::Always {
                errors.add("version", REQUIRED);
            } else if matches!(self.patch.stock, Some(StockChange::Set(_))) {
                errors.add("version", VERSION_FOR_STOCK);
            }
        }
        errors.into_result(())
    }
}

/// An edit without a version: applied to whatever is stored. Refused by
/// the engine if it sets an absolute stock count.
impl From<ProductPatch> for ProductEdit {
    fn from(patch: ProductPatch) -> Self {
        Self {
            patch,
            expected_version: None,
        }
    }
}

/// A stock count on `stock`: a whole number from 0 to [`Stock::MAX`];
/// `None` (and no error) for blank text.
pub(super) fn stock_count(errors: &mut ValidationErrors, value: &WholeNumber) -> Option<Stock> {
    let n = errors.check("stock", value.value())??;
    let count = Stock::try_from(n).map_err(|_| {
        if n < 0 {
            "must not be negative"
        } else {
            "too large"
        }
    });
    errors.check("stock", count)
}

fn adjustment(errors: &mut ValidationErrors, value: &WholeNumber) -> Option<i64> {
    let n = errors.check("stock_adjustment", value.value())??;
    let bound = i64::from(Stock::MAX);
    let n = errors.check(
        "stock_adjustment",
        if (-bound..=bound).contains(&n) {
            Ok(n)
        } else {
            Err(format!("must be between -{bound} and +{bound}"))
        },
    )?;
    (n != 0).then_some(n)
}

impl ProductEditForm {
    /// Validates every field (`price` in `currency`, the product's),
    /// collecting every error: a bad value, `stock` together with
    /// `stock_adjustment`, and `version` where `policy` needs one.
    ///
    /// # Errors
    /// [`ValidationErrors`] keyed by field name.
    pub fn validate(
        self,
        currency: Currency,
        policy: VersionPolicy,
    ) -> Result<ProductEdit, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let version = self.version.as_ref().and_then(|v| {
            let n = errors.check("version", v.value())??;
            errors.check(
                "version",
                u64::try_from(n).map_err(|_| "must be a version the product was read at"),
            )
        });
        let count = self
            .stock
            .as_ref()
            .and_then(|s| stock_count(&mut errors, s));
        let delta = self
            .stock_adjustment
            .as_ref()
            .and_then(|s| adjustment(&mut errors, s));
        let stock = match (count, delta) {
            (Some(_), Some(_)) => {
                errors.add(
                    "stock_adjustment",
                    "send either stock (a count) or stock_adjustment, not both",
                );
                None
            }
            (Some(count), None) => Some(StockChange::Set(count)),
            (None, Some(delta)) => Some(StockChange::Adjust(delta)),
            (None, None) => None,
        };
        let patch = ProductPatch {
            name: self
                .name
                .as_deref()
                .and_then(|t| errors.check("name", ProductName::parse(t))),
            description: self
                .description
                .as_deref()
                .and_then(|t| errors.check("description", Description::parse(t))),
            price: self
                .price
                .as_deref()
                .and_then(|t| errors.check("price", Money::parse_price(t, currency))),
            stock,
            active: self.active,
            tax_class: self
                .tax_class
                .as_deref()
                .and_then(|t| errors.check("tax_class", TaxClass::parse(t))),
            image: None,
        };
        // The rule of versions, on what was sent: a count sent together
        // with an adjustment still needs its version. A version sent but
        // malformed is already reported.
        if !errors.contains("version") {
            let sent = ProductEdit {
                patch: ProductPatch {
                    stock: count.map(StockChange::Set).or(stock),
                    ..ProductPatch::default()
                },
                expected_version: version,
            };
            if let Err(more) = sent.check(policy) {
                errors.merge("", more);
            }
        }
        let edit = ProductEdit {
            patch,
            expected_version: version,
        };
        errors.into_result(edit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> ProductEditForm {
        ProductEditForm::default()
    }

    fn usd(form: ProductEditForm, policy: VersionPolicy) -> Result<ProductEdit, ValidationErrors> {
        form.validate(Currency::USD, policy)
    }

    #[test]
    fn an_absolute_count_needs_the_version_it_was_read_at() {
        let errors = usd(
            ProductEditForm {
                stock: Some(7.into()),
                ..form()
            },
            VersionPolicy::ForStockCount,
        )
        .unwrap_err();
        assert_eq!(
            errors.get("version"),
            Some(&[VERSION_FOR_STOCK.to_owned()][..])
        );
        let edit = usd(
            ProductEditForm {
                stock: Some(7.into()),
                version: Some(3.into()),
                ..form()
            },
            VersionPolicy::ForStockCount,
        )
        .unwrap();
        assert_eq!(edit.patch.stock, Some(StockChange::Set(7)));
        assert_eq!(edit.expected_version, Some(3));
    }

    #[test]
    fn renames_and_adjustments_need_no_version_unless_the_policy_says() {
        let rename = ProductEditForm {
            name: Some("Mug".into()),
            stock_adjustment: Some("-2".into()),
            ..form()
        };
        let edit = usd(rename.clone(), VersionPolicy::ForStockCount).unwrap();
        assert_eq!(edit.patch.stock, Some(StockChange::Adjust(-2)));
        let errors = usd(rename, VersionPolicy::Always).unwrap_err();
        assert_eq!(errors.get("version"), Some(&[REQUIRED.to_owned()][..]));
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let errors = usd(
            ProductEditForm {
                version: Some("x".into()),
                name: Some(" ".into()),
                price: Some("-1".into()),
                stock: Some((-1).into()),
                stock_adjustment: Some("lots".into()),
                tax_class: Some("Bad".into()),
                ..form()
            },
            VersionPolicy::Always,
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|(path, _)| path).collect();
        assert_eq!(
            fields,
            [
                "name",
                "price",
                "stock",
                "stock_adjustment",
                "tax_class",
                "version"
            ]
        );
    }

    #[test]
    fn count_and_adjustment_together_are_refused_and_bounds_hold() {
        let errors = usd(
            ProductEditForm {
                version: Some(1.into()),
                stock: Some(1.into()),
                stock_adjustment: Some(1.into()),
                ..form()
            },
            VersionPolicy::Always,
        )
        .unwrap_err();
        assert!(errors.contains("stock_adjustment"));
        for bad in [i64::from(Stock::MAX) + 1, -i64::from(Stock::MAX) - 1] {
            let errors = usd(
                ProductEditForm {
                    stock_adjustment: Some(bad.into()),
                    ..form()
                },
                VersionPolicy::ForStockCount,
            )
            .unwrap_err();
            assert!(errors.contains("stock_adjustment"), "{bad}");
        }
        // Blank form fields are absent; "+0" changes nothing.
        let edit = usd(
            ProductEditForm {
                version: Some("4".into()),
                stock: Some(" ".into()),
                stock_adjustment: Some("+0".into()),
                ..form()
            },
            VersionPolicy::Always,
        )
        .unwrap();
        assert_eq!(edit.patch.stock, None);
        assert_eq!(edit.expected_version, Some(4));
    }
}
