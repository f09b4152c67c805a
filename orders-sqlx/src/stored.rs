//! The JSON kept in database columns, in shapes of its own.
//!
//! Two columns hold JSON: `orders_carts.lines` and `orders_orders.shipping_address`. Their
//! shapes are written out here as private serde types, apart from the core's
//! serde derives (which are the public API's JSON): renaming a field of the
//! API leaves the rows on disk as they are, and a change to what is stored
//! is a change to this file, whose tests pin the text written.
//!
//! Reading goes through the core's public constructors and parsers, so a
//! stored value that no longer parses (a postal code a newer rule refuses,
//! a control character, an unknown version) is a [`StoreError::Backend`]
//! (a corrupt row) saying which value and why, never a panic.
//!
//! # Versions
//!
//! - **Address** (`orders_orders.shipping_address`): an object tagged with its
//!   version `"v"`. Version 1 is
//!   `{"v":1,"full_name","line1","line2","city","region","postal_code","country","phone"}`,
//!   text fields as the core normalised them, absent optionals `null`.
//!   Release 0.1.0 wrote version 1's fields without `"v"`: an object
//!   without `"v"` is read as version 1.
//! - **Cart lines** (`orders_carts.lines`): version 1 is a JSON array of
//!   `{"product_id","quantity"}` objects, in line order (what release 0.1.0
//!   writes too). The statements of `cart_with_products` on both backends
//!   (`sqlite.rs`, and `cart_product_ids` in `postgres`) read `product_id`
//!   from each element in SQL, so that shape stays while they do. A later version is an object `{"v":2,...}`: the first
//!   character tells an array (version 1) from a tagged object.
//!
//! A version this release does not know is refused on reading, never
//! guessed at, so a row written by a newer release is not silently cut.

use orders_core::cart::{CartLine, Quantity};
use orders_core::checkout::{Address, AddressForm};
use orders_core::ids::ProductId;
use orders_core::ports::StoreError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::codec::bad;

/// The version of the address shape this release writes.
const ADDRESS_VERSION: u32 = 1;

/// An address as stored, version 1 (see the module docs).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredAddress {
    /// `Some(1)` as written; `None` in rows of release 0.1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    v: Option<u32>,
    full_name: String,
    line1: String,
    line2: Option<String>,
    city: String,
    region: Option<String>,
    postal_code: String,
    country: String,
    phone: Option<String>,
}

/// One cart line as stored, version 1 (see the module docs).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredCartLine {
    product_id: String,
    quantity: i64,
}

fn to_json(what: &str, value: &impl Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("{what}: {e}")))
}

/// The `shipping_address` column's text for `address`.
pub(crate) fn write_address(address: &Address) -> Result<String, StoreError> {
    let stored = StoredAddress {
        v: Some(ADDRESS_VERSION),
        full_name: address.full_name().as_str().to_owned(),
        line1: address.line1().as_str().to_owned(),
        line2: address.line2().map(|l| l.as_str().to_owned()),
        city: address.city().as_str().to_owned(),
        region: address.region().map(|r| r.as_str().to_owned()),
        postal_code: address.postal_code().as_str().to_owned(),
        country: address.country().code().to_owned(),
        phone: address.phone().map(|p| p.as_str().to_owned()),
    };
    to_json("address", &stored)
}

/// The address a `shipping_address` column holds, validated again by the
/// core's address form.
///
/// # Errors
/// [`StoreError::Backend`] for text that is not a stored address of a known
/// version, or whose fields the core refuses.
pub(crate) fn read_address(text: &str) -> Result<Address, StoreError> {
    let what = "address";
    let object: Map<String, Value> = serde_json::from_str(text).map_err(|e| bad(what, e))?;
    match object.get("v") {
        None => {}
        Some(v) if v.as_u64() == Some(u64::from(ADDRESS_VERSION)) => {}
        Some(other) => return Err(bad(what, format!("unknown version {other}"))),
    }
    let stored: StoredAddress =
        serde_json::from_value(Value::Object(object)).map_err(|e| bad(what, e))?;
    AddressForm {
        full_name: Some(stored.full_name),
        line1: Some(stored.line1),
        line2: stored.line2,
        city: Some(stored.city),
        region: stored.region,
        postal_code: Some(stored.postal_code),
        country: Some(stored.country),
        phone: stored.phone,
    }
    .validate()
    .map_err(|e| bad(what, e))
}

/// The `lines` column's text for a cart's `lines`.
pub(crate) fn write_cart_lines(lines: &[CartLine]) -> Result<String, StoreError> {
    let stored: Vec<StoredCartLine> = lines
        .iter()
        .map(|l| StoredCartLine {
            product_id: l.product_id.as_str().to_owned(),
            quantity: i64::from(l.quantity.get()),
        })
        .collect();
    to_json("cart lines", &stored)
}

/// The cart lines a `lines` column holds, each parsed by the core.
///
/// # Errors
/// [`StoreError::Backend`] for text that is not stored cart lines of a
/// known version, or a product id or quantity the core refuses.
pub(crate) fn read_cart_lines(text: &str) -> Result<Vec<CartLine>, StoreError> {
    let what = "cart lines";
    if !text.trim_start().starts_with('[') {
        let object: Map<String, Value> = serde_json::from_str(text).map_err(|e| bad(what, e))?;
        let version = object
            .get("v")
            .map_or_else(|| "none".to_owned(), Value::to_string);
        return Err(bad(what, format!("unknown version {version}")));
    }
    let stored: Vec<StoredCartLine> = serde_json::from_str(text).map_err(|e| bad(what, e))?;
    stored
        .into_iter()
        .map(|l| {
            Ok(CartLine {
                product_id: ProductId::parse(&l.product_id).map_err(|e| bad(what, e))?,
                quantity: Quantity::from_i64(l.quantity).map_err(|e| bad(what, e))?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The address of the release fixture's shipped order, as release 0.1.0
    /// wrote it (no `"v"`).
    const RELEASE_0_1_ADDRESS: &str = r#"{"full_name":"Ada Lovelace","line1":"12 St James's Square","line2":"Flat 3","city":"London","region":"Greater London","postal_code":"SW1Y 4JH","country":"GB","phone":"+44 20 7946 0958"}"#;
    const RELEASE_0_1_BARE_ADDRESS: &str = r#"{"full_name":"Ada Lovelace","line1":"Unter den Linden 1","line2":null,"city":"Berlin","region":null,"postal_code":"10117","country":"DE","phone":null}"#;
    const RELEASE_0_1_LINES: &str = r#"[{"product_id":"01a24b523d9970eead9c889c50223ca5","quantity":2},{"product_id":"01a24b523d9a7170addade821b4028f5","quantity":1}]"#;

    fn full_address() -> Address {
        AddressForm {
            full_name: Some("Ada Lovelace".into()),
            line1: Some("12 St James's Square".into()),
            line2: Some("Flat 3".into()),
            city: Some("London".into()),
            region: Some("Greater London".into()),
            postal_code: Some("sw1y4jh".into()),
            country: Some("gb".into()),
            phone: Some("+44 20 7946 0958".into()),
        }
        .validate()
        .unwrap()
    }

    fn bare_address() -> Address {
        AddressForm {
            full_name: Some("Ada Lovelace".into()),
            line1: Some("Unter den Linden 1".into()),
            city: Some("Berlin".into()),
            postal_code: Some("10117".into()),
            country: Some("DE".into()),
            ..AddressForm::default()
        }
        .validate()
        .unwrap()
    }

    fn lines() -> Vec<CartLine> {
        vec![
            CartLine {
                product_id: ProductId::parse("01a24b523d9970eead9c889c50223ca5").unwrap(),
                quantity: Quantity::new(2).unwrap(),
            },
            CartLine {
                product_id: ProductId::parse("01a24b523d9a7170addade821b4028f5").unwrap(),
                quantity: Quantity::new(1).unwrap(),
            },
        ]
    }

    fn backend_message(error: StoreError) -> String {
        match error {
            StoreError::Backend(message) => message,
            other => panic!("not a corrupt row: {other:?}"),
        }
    }

    /// The text written is pinned: a change to it is a change to the
    /// stored format, to be made on purpose (a new version, read beside
    /// the old).
    #[test]
    fn written_text_is_pinned() {
        assert_eq!(
            write_address(&full_address()).unwrap(),
            r#"{"v":1,"full_name":"Ada Lovelace","line1":"12 St James's Square","line2":"Flat 3","city":"London","region":"Greater London","postal_code":"SW1Y 4JH","country":"GB","phone":"+44 20 7946 0958"}"#
        );
        assert_eq!(
            write_address(&bare_address()).unwrap(),
            r#"{"v":1,"full_name":"Ada Lovelace","line1":"Unter den Linden 1","line2":null,"city":"Berlin","region":null,"postal_code":"10117","country":"DE","phone":null}"#
        );
        assert_eq!(
            write_cart_lines(&lines()).unwrap(),
            r#"[{"product_id":"01a24b523d9970eead9c889c50223ca5","quantity":2},{"product_id":"01a24b523d9a7170addade821b4028f5","quantity":1}]"#
        );
        assert_eq!(write_cart_lines(&[]).unwrap(), "[]");
    }

    #[test]
    fn each_shape_round_trips() {
        for address in [full_address(), bare_address()] {
            assert_eq!(
                read_address(&write_address(&address).unwrap()).unwrap(),
                address
            );
        }
        assert_eq!(
            read_cart_lines(&write_cart_lines(&lines()).unwrap()).unwrap(),
            lines()
        );
        assert_eq!(read_cart_lines("[]").unwrap(), Vec::new());
    }

    #[test]
    fn rows_of_release_0_1_read_as_the_current_shape() {
        assert_eq!(read_address(RELEASE_0_1_ADDRESS).unwrap(), full_address());
        assert_eq!(
            read_address(RELEASE_0_1_ADDRESS).unwrap(),
            read_address(&write_address(&full_address()).unwrap()).unwrap()
        );
        assert_eq!(
            read_address(RELEASE_0_1_BARE_ADDRESS).unwrap(),
            bare_address()
        );
        assert_eq!(read_cart_lines(RELEASE_0_1_LINES).unwrap(), lines());
        // Release 0.1.0's cart lines are version 1 as it stands.
        assert_eq!(write_cart_lines(&lines()).unwrap(), RELEASE_0_1_LINES);
    }

    #[test]
    fn a_stored_address_the_core_refuses_is_a_corrupt_row() {
        let v1 = write_address(&full_address()).unwrap();
        let cases = [
            // A postal code the GB format refuses.
            (v1.replace("SW1Y 4JH", "12345"), "postal_code"),
            // Control characters, escaped in JSON.
            (
                v1.replace("Ada Lovelace", "Ada\\u0000Lovelace"),
                "full_name",
            ),
            (v1.replace("London\"", "Lon\\u202Edon\""), "city"),
            (v1.replace("\"GB\"", "\"XX\""), "country"),
            (v1.replace("+44 20 7946 0958", "call me"), "phone"),
            (v1.replace("\"Ada Lovelace\"", "\"  \""), "full_name"),
            (
                RELEASE_0_1_ADDRESS.replace("SW1Y 4JH", "12345"),
                "postal_code",
            ),
        ];
        for (text, field) in cases {
            let message = backend_message(read_address(&text).unwrap_err());
            assert!(
                message.starts_with("stored address does not parse: ") && message.contains(field),
                "{text}: {message}"
            );
        }
    }

    #[test]
    fn a_stored_address_of_another_shape_is_a_corrupt_row() {
        let v1 = write_address(&full_address()).unwrap();
        for text in [
            v1.replace("\"v\":1", "\"v\":2"),
            v1.replace("\"v\":1", "\"v\":\"1\""),
            v1.replace("\"v\":1", "\"v\":null"),
            v1.replace("\"v\":1", "\"v\":0"),
            v1.replace("\"line1\"", "\"street\""),
            v1.replace(",\"city\":\"London\"", ""),
            v1.replace("\"Ada Lovelace\"", "7"),
            v1.replace('}', ",\"extra\":1}"),
            "[]".to_owned(),
            "null".to_owned(),
            String::new(),
            v1[..v1.len() - 1].to_owned(),
        ] {
            let message = backend_message(read_address(&text).unwrap_err());
            assert!(
                message.starts_with("stored address does not parse: "),
                "{text}: {message}"
            );
        }
        let message = backend_message(read_address(&v1.replace("\"v\":1", "\"v\":2")).unwrap_err());
        assert!(message.ends_with("unknown version 2"), "{message}");
    }

    #[test]
    fn stored_cart_lines_the_core_refuses_are_a_corrupt_row() {
        let v1 = write_cart_lines(&lines()).unwrap();
        for text in [
            v1.replace("\"quantity\":2", "\"quantity\":0"),
            v1.replace("\"quantity\":2", "\"quantity\":1000"),
            v1.replace("\"quantity\":2", "\"quantity\":-1"),
            v1.replace("\"quantity\":2", "\"quantity\":2.5"),
            v1.replace("\"quantity\":2", "\"quantity\":\"2\""),
            v1.replace("01a24b523d9970eead9c889c50223ca5", "not an id"),
            v1.replace("01a24b523d9970eead9c889c50223ca5", ""),
            v1.replace("01a24b523d9970eead9c889c50223ca5", "a\\u0000b"),
            v1.replace("\"product_id\"", "\"product\""),
            v1.replace("},{", ",\"x\":1},{"),
            r#"{"v":2,"lines":[]}"#.to_owned(),
            "{}".to_owned(),
            "null".to_owned(),
            String::new(),
            "[".to_owned(),
            "[1]".to_owned(),
        ] {
            let message = backend_message(read_cart_lines(&text).unwrap_err());
            assert!(
                message.starts_with("stored cart lines does not parse: "),
                "{text}: {message}"
            );
        }
        let message = backend_message(read_cart_lines(r#"{"v":2,"lines":[]}"#).unwrap_err());
        assert!(message.ends_with("unknown version 2"), "{message}");
    }
}
