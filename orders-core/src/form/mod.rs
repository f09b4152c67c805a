//! One description per command: each form states its shape once.
//!
//! A form (the checkout, a new product, an item for a cart, ...) is a
//! struct of `Option` fields that [`Form::read`] fills from a submitted
//! JSON object, permissively, and that its own `validate` turns into
//! parsed values with every bad field at once. Its [`Form::DESCRIPTION`]
//! says, for every field, its name, JSON type, whether it is required and
//! the constraints a JSON Schema can state, with the numbers of the
//! parsers' own constants. From that one description come:
//!
//! - the type checking of a submitted body ([`Form::read`]): a field of
//!   the wrong type is a field error, treated as absent, and validation
//!   still runs, so type and value errors come in one answer
//!   ([`Submitted::validate`]);
//! - the JSON Schema of the body ([`json_schema`]), which an adapter puts
//!   into its OpenAPI document;
//! - the fields a page shows (by dotted path, [`Description::leaves`]).
//!
//! What no schema can state (a product must exist, a card's Luhn digit,
//! the decimals of a price in its currency) stays in `validate` alone.

/// The names (`as_str`) of every value of a `const ALL: [T; N]`, as a
/// `[&str; N]` constant: a field's `enum` from the type it parses into.
macro_rules! names_of {
    ($all:expr) => {{
        let mut names = [""; $all.len()];
        let mut i = 0;
        while i < names.len() {
            names[i] = $all[i].as_str();
            i += 1;
        }
        names
    }};
}
pub(crate) use names_of;

mod field;
mod read;
mod schema;

pub use field::{Description, Field, JsonType, Kind, Text};
pub use read::Submitted;
pub use schema::json_schema;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A command's input: deserialisable from what [`Form::read`] keeps, and
/// described once.
pub trait Form: DeserializeOwned + Default {
    /// The form's shape.
    const DESCRIPTION: &'static Description;

    /// Reads a submitted JSON object: every field of the wrong JSON type
    /// is a type error and absent, `null` is absent, unknown members are
    /// ignored.
    ///
    /// ```
    /// use orders_core::cart::AddItemForm;
    /// use orders_core::form::Form;
    ///
    /// let body = serde_json::json!({"product_id": 7, "quantity": 1000});
    /// let errors = AddItemForm::read(body.as_object().unwrap())
    ///     .validate(AddItemForm::validate)
    ///     .unwrap_err();
    /// assert_eq!(errors.get("product_id"), Some(&["must be a string".to_owned()][..]));
    /// assert_eq!(errors.get("quantity"), Some(&["must be between 1 and 999".to_owned()][..]));
    /// ```
    fn read(object: &Map<String, Value>) -> Submitted<Self> {
        read::read(Self::DESCRIPTION, object)
    }
}

#[cfg(test)]
mod tests;
