//! A new product as submitted ([`NewProductForm`], the JSON `POST` body and
//! the admin panel's form alike), validated into a [`NewProduct`] with
//! every bad field reported at once.

use serde::Deserialize;

use super::edit::{fields, stock_count};
use super::{Description, NewProduct, ProductName, Sku, TaxClass, WholeNumber};
use crate::checkout::REQUIRED;
use crate::form::{self, Field, Form};
use crate::money::{Currency, Money};
use crate::validation::ValidationErrors;

/// A new product as submitted. Missing fields deserialise as `None`;
/// [`validate`](Self::validate) checks every field.
///
/// ```
/// use orders_core::catalogue::NewProductForm;
///
/// let errors = NewProductForm {
///     sku: Some("bad sku".into()),
///     price: Some("-1".into()),
///     stock: Some("many".into()),
///     ..Default::default()
/// }
/// .validate()
/// .unwrap_err();
/// let fields: Vec<&str> = errors.iter().map(|(path, _)| path).collect();
/// assert_eq!(fields, ["currency", "name", "price", "sku", "stock"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct NewProductForm {
    /// Its SKU. Required.
    pub sku: Option<String>,
    /// Its name. Required.
    pub name: Option<String>,
    /// Its description; none is empty.
    pub description: Option<String>,
    /// Its price, a decimal in `currency`. Required.
    pub price: Option<String>,
    /// ISO 4217 code. Required.
    pub currency: Option<String>,
    /// Units in stock. Required.
    pub stock: Option<WholeNumber>,
    /// Whether it is on sale; default `true`.
    pub active: Option<bool>,
    /// Its tax class; default `standard`.
    pub tax_class: Option<String>,
}

impl Form for NewProductForm {
    const DESCRIPTION: &'static form::Description = &form::Description {
        name: "CreateProduct",
        doc: "A new product (`POST /admin/products`).",
        fields: &[
            Field::text("sku", "Letters, digits, `-`, `_`, `.`; unique.")
                .required()
                .chars(1, Sku::MAX_CHARS)
                .pattern(Sku::PATTERN)
                .example("MUG-1"),
            fields::NAME.required(),
            fields::DESCRIPTION,
            Field::text("price", "A decimal string in `currency`, not negative.")
                .required()
                .pattern(Money::PRICE_PATTERN)
                .example("12.00"),
            fields::currency("ISO 4217.").required(),
            fields::STOCK.required(),
            Field::boolean("active", "Whether it is on sale; default `true`."),
            fields::TAX_CLASS,
        ],
    };
}

/// Parses a required field; missing records `"required"`.
fn required<T, E: std::fmt::Display>(
    errors: &mut ValidationErrors,
    path: &str,
    value: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Option<T> {
    match value {
        Some(text) => errors.check(path, parse(text)),
        None => {
            errors.add(path, REQUIRED);
            None
        }
    }
}

impl NewProductForm {
    /// Validates every field, collecting every error.
    ///
    /// # Errors
    /// [`ValidationErrors`] keyed by field name.
    pub fn validate(self) -> Result<NewProduct, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let sku = required(&mut errors, "sku", self.sku.as_deref(), Sku::parse);
        let name = required(
            &mut errors,
            "name",
            self.name.as_deref(),
            ProductName::parse,
        );
        let description = match &self.description {
            Some(text) => errors.check("description", Description::parse(text)),
            None => Some(Description::default()),
        };
        let currency = required(
            &mut errors,
            "currency",
            self.currency.as_deref(),
            Currency::parse,
        );
        // With an unknown currency, still report a malformed price.
        let price = required(&mut errors, "price", self.price.as_deref(), |text| {
            Money::parse_price(text, currency.unwrap_or(Currency::USD))
        });
        let stock = match &self.stock {
            Some(value) if !value.is_blank() => stock_count(&mut errors, value),
            _ => {
                errors.add("stock", REQUIRED);
                None
            }
        };
        let tax_class = match &self.tax_class {
            Some(text) => errors.check("tax_class", TaxClass::parse(text)),
            None => Some(TaxClass::standard()),
        };
        let (Some(sku), Some(name), Some(description), Some(price), Some(stock), Some(tax_class)) =
            (sku, name, description, price, stock, tax_class)
        else {
            return Err(errors);
        };
        let product = NewProduct::new(sku, name, price, stock)
            .description(description)
            .active(self.active.unwrap_or(true))
            .tax_class(tax_class);
        errors.into_result(product)
    }
}
