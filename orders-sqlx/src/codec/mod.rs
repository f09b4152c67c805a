//! Rows to domain values and back, shared by both backends.
//!
//! Both schemas use the same column names and the same representations
//! (integer minor units, RFC 3339 text instants, JSON text for cart lines
//! and addresses in the shapes of [`crate::stored`]), so one decoder serves
//! both; [`Get`] hides the row type. This module holds the row access and
//! the value parsers; one module per aggregate decodes it:
//! [`catalogue`] products, [`carts`] carts (and a cart read with its
//! products), [`discounts`] discounts, [`orders`] orders, their lines and
//! events.
//!
//! Every decoder parses through the domain's public constructors and
//! rebuilds an aggregate with its `restore`, so a row that does not parse
//! back, or breaks a rule of its aggregate, is a [`StoreError::Backend`],
//! never a panic.

mod carts;
mod catalogue;
mod discounts;
mod orders;

use chrono::{DateTime, SecondsFormat, Utc};
use orders_core::money::{Currency, Money};
use orders_core::ports::{Cursor, StoreError};

#[cfg(feature = "postgres")]
pub(crate) use carts::cart_with_products_parts;
pub(crate) use carts::{
    CART_COLUMNS, cart, cart_lines, cart_status, cart_with_products, cart_with_products_sql,
};
pub(crate) use catalogue::{PRODUCT_COLUMNS, product};
pub(crate) use discounts::{DISCOUNT_COLUMNS, discount, discount_row};
pub(crate) use orders::{
    EVENT_COLUMNS, LINE_COLUMNS, ORDER_COLUMNS, address, event, event_data, line, needed,
    next_action, order, restock_json, short_in_line_order,
};

/// Reads typed columns by name from a row of either backend.
pub(crate) trait Get {
    fn text(&self, col: &str) -> Result<String, StoreError>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, col: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError>;
    fn flag(&self, col: &str) -> Result<bool, StoreError>;
}

macro_rules! impl_get {
    ($row:ty) => {
        impl crate::codec::Get for $row {
            fn text(&self, col: &str) -> Result<String, StoreError> {
                sqlx::Row::try_get(self, col).map_err(crate::error::decode)
            }
            fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
                sqlx::Row::try_get(self, col).map_err(crate::error::decode)
            }
            fn int(&self, col: &str) -> Result<i64, StoreError> {
                sqlx::Row::try_get(self, col).map_err(crate::error::decode)
            }
            fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
                sqlx::Row::try_get(self, col).map_err(crate::error::decode)
            }
            fn flag(&self, col: &str) -> Result<bool, StoreError> {
                sqlx::Row::try_get(self, col).map_err(crate::error::decode)
            }
        }
    };
}
pub(crate) use impl_get;

/// A row read through column names with a prefix (`cart_id` for `id`): for
/// a join of two tables whose column names clash, one side aliased.
pub(crate) struct Prefixed<'r, R> {
    pub(crate) row: &'r R,
    pub(crate) prefix: &'static str,
}

impl<R: Get> Prefixed<'_, R> {
    fn col(&self, col: &str) -> String {
        format!("{}{col}", self.prefix)
    }
}

impl<R: Get> Get for Prefixed<'_, R> {
    fn text(&self, col: &str) -> Result<String, StoreError> {
        self.row.text(&self.col(col))
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        self.row.opt_text(&self.col(col))
    }
    fn int(&self, col: &str) -> Result<i64, StoreError> {
        self.row.int(&self.col(col))
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        self.row.opt_int(&self.col(col))
    }
    fn flag(&self, col: &str) -> Result<bool, StoreError> {
        self.row.flag(&self.col(col))
    }
}

/// `columns` (a `*_COLUMNS` list) each as `{table}.{column}`, or with
/// `alias_prefix` as `{column} AS {alias_prefix}{column}`.
pub(crate) fn qualified(columns: &str, table: &str, alias_prefix: Option<&str>) -> String {
    columns
        .split(", ")
        .map(|c| match alias_prefix {
            Some(prefix) => format!("{table}.{c} AS {prefix}{c}"),
            None => format!("{table}.{c}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A stored value that does not parse back: a corrupt row.
pub(crate) fn bad(what: &str, value: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("stored {what} does not parse: {value}"))
}

/// Parses a stored value with a domain parser.
pub(crate) fn parse<T, E: std::fmt::Display>(
    what: &str,
    result: Result<T, E>,
) -> Result<T, StoreError> {
    result.map_err(|e| bad(what, e))
}

/// An instant as stored: RFC 3339, UTC, nine fractional digits, `Z`.
pub(crate) fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(crate) fn parse_ts(what: &str, text: &str) -> Result<DateTime<Utc>, StoreError> {
    parse(what, DateTime::parse_from_rfc3339(text)).map(|t| t.with_timezone(&Utc))
}

pub(crate) fn money(units: i64, currency: Currency) -> Result<Money, StoreError> {
    parse("amount", Money::from_minor(units, currency))
}

pub(crate) fn currency(text: &str) -> Result<Currency, StoreError> {
    parse("currency", Currency::parse(text))
}

pub(crate) fn to_u32(what: &str, n: i64) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| bad(what, n))
}

pub(crate) fn to_u64(what: &str, n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| bad(what, n))
}

/// A `u64` (version, number, id) as the `BIGINT` it is stored as.
pub(crate) fn to_i64(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Backend(format!("{n} does not fit a BIGINT")))
}

/// A cursor from a `seq` or `number` column.
pub(crate) fn cursor(n: i64) -> Cursor {
    Cursor(n.to_string())
}

/// The position a cursor made by [`cursor`] names.
///
/// # Errors
/// [`StoreError::InvalidCursor`] for anything else.
pub(crate) fn cursor_position(cursor: Option<&Cursor>) -> Result<i64, StoreError> {
    match cursor {
        None => Ok(i64::MAX),
        Some(c) => {
            let digits =
                !c.0.is_empty() && c.0.len() <= 19 && c.0.bytes().all(|b| b.is_ascii_digit());
            let n = if digits {
                c.0.parse::<i64>().ok()
            } else {
                None
            };
            n.filter(|n| *n > 0).ok_or(StoreError::InvalidCursor)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_round_trip_to_the_nanosecond_and_sort_as_text() {
        let a = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(ts(a), "2026-01-02T03:04:05.123456789Z");
        assert_eq!(parse_ts("t", &ts(a)).unwrap(), a);
        let b = a + chrono::Duration::nanoseconds(1);
        assert!(ts(a) < ts(b));
        let whole = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(ts(whole).len(), ts(a).len());
    }

    #[test]
    fn cursors_are_positive_integers() {
        assert_eq!(cursor_position(None), Ok(i64::MAX));
        assert_eq!(cursor_position(Some(&cursor(42))), Ok(42));
        for bad in [
            "",
            "0",
            "-1",
            "+1",
            "1.0",
            "abc",
            "99999999999999999999",
            " 1",
        ] {
            assert_eq!(
                cursor_position(Some(&Cursor(bad.into()))),
                Err(StoreError::InvalidCursor),
                "{bad:?}"
            );
        }
    }
}
