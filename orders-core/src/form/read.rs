//! Permissive reading of a submitted JSON object into a form.
//!
//! serde stops at the first error; a form wants every error at once. So a
//! body is first read against its [`Description`]: a field of the wrong
//! JSON type becomes a field error (by dotted path) and is treated as
//! absent, `null` is absent, unknown fields are dropped; what is left
//! deserialises into the form without fail. Validation then runs on the
//! form, and [`Submitted::validate`] puts both kinds of errors into one
//! answer (a field gets one error: its type error wins).

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::field::{Description, Kind, integer};
use crate::validation::ValidationErrors;

/// A form as submitted, with the type errors found reading it.
#[derive(Debug, Clone, Default)]
pub struct Submitted<F> {
    /// The form, with every mistyped field absent.
    pub form: F,
    /// Fields of the wrong JSON type, by dotted path.
    pub type_errors: ValidationErrors,
}

impl<F> From<F> for Submitted<F> {
    /// A form built in code: no type errors.
    fn from(form: F) -> Self {
        Self {
            form,
            type_errors: ValidationErrors::new(),
        }
    }
}

impl<F> Submitted<F> {
    /// Validates the form with `validate` and reports its value errors
    /// together with the type errors, one error list per field (a type
    /// error wins over what validation said of the then absent field).
    ///
    /// # Errors
    /// Every type and value error, when there is any.
    pub fn validate<T>(
        self,
        validate: impl FnOnce(F) -> Result<T, ValidationErrors>,
    ) -> Result<T, ValidationErrors> {
        let mut errors = self.type_errors;
        match validate(self.form) {
            Ok(value) => errors.into_result(value),
            Err(values) => {
                errors.merge_missing(values);
                Err(errors)
            }
        }
    }
}

/// Reads `object` as the form `F` described by `description`.
pub(super) fn read<F: DeserializeOwned + Default>(
    description: &Description,
    object: &Map<String, Value>,
) -> Submitted<F> {
    let mut type_errors = ValidationErrors::new();
    let kept = keep(description, object, "", &mut type_errors);
    let form = match serde_json::from_value(Value::Object(kept)) {
        Ok(form) => form,
        Err(_) => {
            // Cannot happen for a description that matches its form (a
            // test reads every form's fields); say so rather than panic.
            type_errors.add("body", "invalid value");
            F::default()
        }
    };
    Submitted { form, type_errors }
}

/// The fields of `object` of the described types; each other one is
/// recorded in `errors` under `prefix` + its name.
fn keep(
    description: &Description,
    object: &Map<String, Value>,
    prefix: &str,
    errors: &mut ValidationErrors,
) -> Map<String, Value> {
    let mut kept = Map::new();
    for field in description.fields {
        let Some(value) = object.get(field.name) else {
            continue;
        };
        if value.is_null() {
            continue;
        }
        let path = format!("{prefix}{}", field.name);
        let ty = field.kind.json_type();
        if !ty.matches(value) {
            errors.add(path, ty.message());
            continue;
        }
        let value = match (field.kind, value) {
            (Kind::Object(nested), Value::Object(inner)) => {
                Value::Object(keep(nested, inner, &format!("{path}."), errors))
            }
            (Kind::ObjectList { form, .. }, Value::Array(items)) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let inner = item.as_object().cloned().unwrap_or_default();
                        Value::Object(keep(form, &inner, &format!("{path}.{i}."), errors))
                    })
                    .collect(),
            ),
            (Kind::Integer { .. }, _) => integer(value).map_or(Value::Null, Value::from),
            _ => value.clone(),
        };
        kept.insert(field.name.to_owned(), value);
    }
    kept
}
