//! Searching the catalogue: what a customer types into the search box,
//! matched against a product's name, SKU and description.
//!
//! A query matches a product when the product's folded text contains the
//! folded query. Folding ([`fold`]) is Unicode lower case then NFC, done
//! here in Rust and never by a database: SQLite's `lower()` and `LIKE` fold
//! ASCII only, and PostgreSQL's depend on the database's collation, so two
//! backends would answer the same query differently. A store therefore
//! keeps each product's folded text ([`Product::search_text`]) beside it,
//! written with every insert and edit, and compares it with
//! `LIKE pattern ESCAPE '\'` against [`ProductQuery::like_pattern`], in
//! which the customer's `%`, `_` and `\` are escaped and match themselves.

use unicode_normalization::UnicodeNormalization;

use super::Product;
use crate::text::{self, TextError};

/// Folds text for searching: lower case (all of Unicode, not only ASCII),
/// then NFC, so `"ÉTÉ"`, `"été"` and `"e\u{301}te\u{301}"` fold alike.
///
/// ```
/// use orders_core::catalogue::fold;
/// assert_eq!(fold("Straße ÉTÉ"), "straße été");
/// assert_eq!(fold("E\u{301}te\u{301}"), "été");
/// ```
pub fn fold(text: &str) -> String {
    text.to_lowercase().nfc().collect()
}

/// A search of the catalogue: the customer's text, trimmed and folded,
/// 1 to [`ProductQuery::MAX_CHARS`] characters on one line.
///
/// ```
/// use orders_core::catalogue::ProductQuery;
/// let query = ProductQuery::parse("  100%_Tea ").unwrap().unwrap();
/// assert_eq!(query.as_str(), "100%_tea");
/// assert_eq!(query.like_pattern(), r"%100\%\_tea%");
/// assert_eq!(ProductQuery::parse("   ").unwrap(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProductQuery(String);

impl ProductQuery {
    /// The most characters a query has.
    pub const MAX_CHARS: usize = 100;

    /// Parses what the customer typed: `None` when it is blank (no search).
    ///
    /// # Errors
    /// [`TextError`] when longer than [`ProductQuery::MAX_CHARS`] or with a
    /// control or direction-changing character.
    pub fn parse(text: &str) -> Result<Option<Self>, TextError> {
        match text::check_line(text, Self::MAX_CHARS) {
            Ok(text) => Ok(Some(Self(fold(&text)))),
            Err(TextError::Empty) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The folded query.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A `LIKE` pattern (escape character `\`) that matches text containing
    /// the query, each `%`, `_` and `\` of the query matching itself.
    pub fn like_pattern(&self) -> String {
        let mut pattern = String::with_capacity(self.0.len() + 8);
        pattern.push('%');
        for c in self.0.chars() {
            if matches!(c, '%' | '_' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        pattern
    }

    /// Whether `product` matches: what every store answers.
    pub fn matches(&self, product: &Product) -> bool {
        product.search_text().contains(&self.0)
    }
}

impl Product {
    /// The folded text a search looks in: name, SKU and description, one a
    /// line (so a single-line query never spans two of them).
    pub fn search_text(&self) -> String {
        fold(&format!(
            "{}\n{}\n{}",
            self.name.as_str(),
            self.sku.as_str(),
            self.description.as_str()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_fold_and_escape() {
        let q = ProductQuery::parse("ÜBER 50%").unwrap().unwrap();
        assert_eq!(q.as_str(), "über 50%");
        assert_eq!(q.like_pattern(), r"%über 50\%%");
        let q = ProductQuery::parse(r"a\b_").unwrap().unwrap();
        assert_eq!(q.like_pattern(), r"%a\\b\_%");
        assert_eq!(ProductQuery::parse("").unwrap(), None);
        assert!(ProductQuery::parse("tea\u{202E}").is_err());
        assert!(ProductQuery::parse("a\nb").is_err());
        assert!(ProductQuery::parse(&"x".repeat(101)).is_err());
        assert!(ProductQuery::parse(&"é".repeat(100)).is_ok());
    }
}
