//! Field errors collected the way a web form reports them: every invalid
//! field at once, keyed by its dotted path (`shipping_address.postal_code`,
//! `payment.card.number`).
//!
//! Parsers in this crate return a typed error for one value; the form-level
//! code turns each into a message under the field's path and keeps going, so
//! the customer sees every mistake after one submit instead of one per submit.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// Every invalid field of one request, keyed by dotted path, each with one or
/// more human-readable messages.
///
/// Paths are kept sorted so the map serialises the same way every time.
///
/// ```
/// use orders_core::validation::ValidationErrors;
///
/// let mut errors = ValidationErrors::new();
/// errors.add("shipping_address.postal_code", "required");
/// errors.add("payment.card.number", "invalid card number");
/// assert_eq!(errors.len(), 2);
/// assert_eq!(errors.get("payment.card.number"), Some(&["invalid card number".to_string()][..]));
/// assert!(errors.into_result(()).is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ValidationErrors {
    fields: BTreeMap<String, Vec<String>>,
}

impl ValidationErrors {
    /// An empty set of errors.
    pub fn new() -> Self {
        Self::default()
    }

    /// One error on one field.
    pub fn single(path: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(path, message);
        errors
    }

    /// Records `message` against the field at `path`.
    pub fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.fields
            .entry(path.into())
            .or_default()
            .push(message.into());
    }

    /// Runs `result`; on error records it under `path` and returns `None`.
    ///
    /// This is the building block of form validation: parse each field, keep
    /// the good values, collect every bad one.
    pub fn check<T, E: fmt::Display>(&mut self, path: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.add(path, error.to_string());
                None
            }
        }
    }

    /// Moves every error of `other` into `self`, prefixing each path with
    /// `prefix.` (or nothing when `prefix` is empty).
    pub fn merge(&mut self, prefix: &str, other: ValidationErrors) {
        for (path, messages) in other.fields {
            let path = if prefix.is_empty() {
                path
            } else {
                format!("{prefix}.{path}")
            };
            self.fields.entry(path).or_default().extend(messages);
        }
    }

    /// Moves the errors of `other` on paths that have none in `self`: the
    /// first report of a field wins.
    pub fn merge_missing(&mut self, other: ValidationErrors) {
        for (path, messages) in other.fields {
            self.fields.entry(path).or_insert(messages);
        }
    }

    /// Whether no field is in error.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// How many fields are in error.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// The messages recorded for `path`.
    pub fn get(&self, path: &str) -> Option<&[String]> {
        self.fields.get(path).map(Vec::as_slice)
    }

    /// Whether `path` has an error.
    pub fn contains(&self, path: &str) -> bool {
        self.fields.contains_key(path)
    }

    /// Iterates over `(path, messages)` in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.fields
            .iter()
            .map(|(path, messages)| (path.as_str(), messages.as_slice()))
    }

    /// `Ok(value)` when there are no errors, else `Err(self)`.
    ///
    /// # Errors
    /// Returns `self` when any field is in error.
    pub fn into_result<T>(self, value: T) -> Result<T, ValidationErrors> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (path, messages) in &self.fields {
            for message in messages {
                if !first {
                    f.write_str("; ")?;
                }
                first = false;
                write!(f, "{path}: {message}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_and_merges_with_prefix() {
        let mut inner = ValidationErrors::new();
        inner.add("postal_code", "required");
        inner.add("country", "unknown country");
        let mut outer = ValidationErrors::single("email", "invalid email");
        outer.merge("shipping_address", inner);
        let paths: Vec<_> = outer.iter().map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            [
                "email",
                "shipping_address.country",
                "shipping_address.postal_code"
            ]
        );
        assert_eq!(
            outer.to_string(),
            "email: invalid email; shipping_address.country: unknown country; shipping_address.postal_code: required"
        );
    }

    #[test]
    fn check_keeps_good_values_and_records_bad_ones() {
        let mut errors = ValidationErrors::new();
        let good: Option<u8> = errors.check("a", "7".parse::<u8>());
        let bad: Option<u8> = errors.check("b", "x".parse::<u8>());
        assert_eq!(good, Some(7));
        assert_eq!(bad, None);
        assert!(errors.contains("b") && !errors.contains("a"));
        assert_eq!(
            serde_json::to_value(&errors).unwrap()["b"][0],
            "invalid digit found in string"
        );
    }
}
