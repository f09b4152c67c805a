//! The shop's configuration: an optional TOML file, with flags and
//! environment variables on top.
//!
//! ```toml
//! currency = "GBP"                  # of carts created without one
//! country = "GB"                    # carts are priced for it before checkout
//! tax_shipping_as = "standard"      # omit to leave shipping untaxed
//! body_limit = 65536                # bytes
//! cors_origins = ["https://shop.example"]
//!
//! [[tax]]
//! country = "GB"
//! class = "standard"
//! rate = "20"                       # percent
//!
//! [[shipping]]
//! code = "standard"
//! name = "Standard"
//! prices = [{ currency = "GBP", price = "4.99", free_above = "50" }]
//! ```
//!
//! Without a file the demo configuration applies (USD, EUR and GBP;
//! standard and express shipping; VAT for GB, DE and FR).

use std::path::Path;

use orders_core::OrdersConfig;
use orders_core::catalogue::TaxClass;
use orders_core::checkout::Country;
use orders_core::money::{Currency, Money};
use orders_core::pricing::{ShippingMethod, ShippingMethodCode, ShippingRate, TaxRate, TaxTable};
use serde::Deserialize;

/// The default request body limit: 64 KiB.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// The file's shape.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    currency: Option<String>,
    country: Option<String>,
    tax_shipping_as: Option<String>,
    body_limit: Option<usize>,
    #[serde(default)]
    cors_origins: Vec<String>,
    #[serde(default)]
    tax: Vec<TaxRule>,
    #[serde(default)]
    shipping: Vec<Shipping>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaxRule {
    country: String,
    class: String,
    rate: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Shipping {
    code: String,
    name: String,
    prices: Vec<ShippingPrice>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShippingPrice {
    currency: String,
    price: String,
    free_above: Option<String>,
}

/// Everything the server is configured with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The engine's configuration.
    pub orders: OrdersConfig,
    /// The largest request body, in bytes.
    pub body_limit: usize,
    /// Origins allowed by CORS (none: same origin only).
    pub cors_origins: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            orders: OrdersConfig::demo(),
            body_limit: DEFAULT_BODY_LIMIT,
            cors_origins: Vec::new(),
        }
    }
}

/// Reads `path` (when given) into [`Settings`].
///
/// # Errors
/// A message naming the file and the bad entry.
pub fn load(path: Option<&Path>) -> Result<Settings, String> {
    let Some(path) = path else {
        return Ok(Settings::default());
    };
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses the TOML text of a configuration file.
///
/// # Errors
/// A message naming the bad entry.
pub fn parse(text: &str) -> Result<Settings, String> {
    let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
    let demo = OrdersConfig::demo();
    let currency = match &file.currency {
        Some(code) => Currency::parse(code).map_err(|e| format!("currency: {e}"))?,
        None => demo.default_currency,
    };
    let country = match &file.country {
        Some(code) => Country::parse(code).map_err(|e| format!("country: {e}"))?,
        None => demo.default_country,
    };
    let mut orders = OrdersConfig::new(currency, country);
    if file.tax.is_empty() && file.tax_shipping_as.is_none() {
        orders.tax = demo.tax.clone();
    } else {
        let mut tax = TaxTable::new();
        for (i, rule) in file.tax.iter().enumerate() {
            let country =
                Country::parse(&rule.country).map_err(|e| format!("tax[{i}].country: {e}"))?;
            let class = TaxClass::parse(&rule.class).map_err(|e| format!("tax[{i}].class: {e}"))?;
            let rate = TaxRate::percent(&rule.rate).map_err(|e| format!("tax[{i}].rate: {e}"))?;
            tax = tax.with_rate(country, class, rate);
        }
        if let Some(class) = &file.tax_shipping_as {
            tax = tax.with_shipping_taxed_as(
                TaxClass::parse(class).map_err(|e| format!("tax_shipping_as: {e}"))?,
            );
        }
        orders.tax = tax;
    }
    if file.shipping.is_empty() {
        orders.shipping_methods = demo.shipping_methods.clone();
    }
    for (i, method) in file.shipping.iter().enumerate() {
        let code = ShippingMethodCode::parse(&method.code)
            .map_err(|e| format!("shipping[{i}].code: {e}"))?;
        let mut built = ShippingMethod::new(code, method.name.clone());
        for (j, price) in method.prices.iter().enumerate() {
            let at = format!("shipping[{i}].prices[{j}]");
            let currency =
                Currency::parse(&price.currency).map_err(|e| format!("{at}.currency: {e}"))?;
            let amount = Money::parse_price(&price.price, currency)
                .map_err(|e| format!("{at}.price: {e}"))?;
            let mut rate = ShippingRate::new(amount);
            if let Some(threshold) = &price.free_above {
                rate = rate.free_above(
                    Money::parse_price(threshold, currency)
                        .map_err(|e| format!("{at}.free_above: {e}"))?,
                );
            }
            built = built.with_rate(rate);
        }
        orders = orders.with_shipping_method(built);
    }
    if orders.default_shipping_method(currency).is_none() {
        return Err(format!(
            "no shipping method is priced in the default currency {currency}"
        ));
    }
    let body_limit = file.body_limit.unwrap_or(DEFAULT_BODY_LIMIT);
    if !(1024..=16 * 1024 * 1024).contains(&body_limit) {
        return Err("body_limit: must be between 1024 and 16777216 bytes".to_owned());
    }
    Ok(Settings {
        orders,
        body_limit,
        cors_origins: file.cors_origins,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_the_demo() {
        let settings = parse("").unwrap();
        assert_eq!(settings.orders.default_currency, Currency::USD);
        assert_eq!(
            settings.orders.shipping_codes(Currency::USD),
            ["standard", "express"]
        );
        assert_eq!(settings.body_limit, DEFAULT_BODY_LIMIT);
    }

    #[test]
    fn a_full_file() {
        let settings = parse(
            r#"
            currency = "GBP"
            country = "GB"
            tax_shipping_as = "standard"
            body_limit = 2048
            cors_origins = ["https://shop.example"]
            [[tax]]
            country = "GB"
            class = "standard"
            rate = "20"
            [[shipping]]
            code = "royal-mail"
            name = "Royal Mail"
            prices = [{ currency = "GBP", price = "3.10", free_above = "40" }]
            "#,
        )
        .unwrap();
        let o = &settings.orders;
        assert_eq!(o.default_currency, Currency::GBP);
        assert_eq!(o.shipping_codes(Currency::GBP), ["royal-mail"]);
        assert_eq!(
            o.tax
                .rate(Country::parse("GB").unwrap(), &TaxClass::standard())
                .to_string(),
            "0.20"
        );
        assert!(o.tax.shipping_class().is_some());
        assert_eq!(settings.body_limit, 2048);
        assert_eq!(settings.cors_origins, ["https://shop.example"]);
    }

    #[test]
    fn bad_entries_are_named() {
        for (text, expected) in [
            ("currency = \"XXX\"", "currency"),
            (
                "[[tax]]\ncountry = \"GB\"\nclass = \"standard\"\nrate = \"120\"",
                "tax[0].rate",
            ),
            (
                "[[shipping]]\ncode = \"x\"\nname = \"X\"\nprices = [{ currency = \"USD\", price = \"-1\" }]",
                "shipping[0].prices[0].price",
            ),
            (
                "[[shipping]]\ncode = \"x\"\nname = \"X\"\nprices = [{ currency = \"EUR\", price = \"1\" }]",
                "default currency",
            ),
            ("body_limit = 10", "body_limit"),
            ("colour = \"red\"", "unknown field"),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }
}
