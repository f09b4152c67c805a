//! The engine's configuration from a file (feature `serde`).
//!
//! [`OrdersConfig`] implements `Deserialize` from this shape, in any
//! serde format (TOML, JSON, YAML...). Currencies and countries are codes,
//! money and tax rates are strings (never floats), durations are seconds
//! or text such as `"5m"`:
//!
//! ```toml
//! currency = "GBP"                  # of carts created without one (required)
//! country = "GB"                    # carts are priced for it before checkout (required)
//! tax_shipping_as = "standard"      # omit to leave shipping untaxed
//! idempotency_lease = "5m"          # or 300 (seconds); default 5 minutes
//! max_retries = 8                   # of a lost compare-and-set; default 8
//! capture_policy = "on_checkout"    # or "on_shipment"; default on_checkout
//! payment_hold = "15m"              # stock held for a customer's 3-D Secure; default 15 minutes
//! return_window = "30d"             # returns accepted after the last delivery; default 30 days
//!
//! [[tax]]
//! country = "GB"
//! class = "standard"
//! rate = "20"                       # percent
//!
//! [[shipping]]                      # the first priced in a cart's currency is its default
//! code = "standard"
//! name = "Standard"
//! prices = [{ currency = "GBP", price = "4.99", free_above = "50" }]
//! ```
//!
//! The same in JSON:
//!
//! ```
//! use orders_core::OrdersConfig;
//! use orders_core::money::Currency;
//!
//! let config: OrdersConfig = serde_json::from_str(r#"{
//!     "currency": "GBP", "country": "GB", "idempotency_lease": 300,
//!     "tax": [{"country": "GB", "class": "standard", "rate": "20"}],
//!     "shipping": [{"code": "standard", "name": "Standard",
//!                   "prices": [{"currency": "GBP", "price": "4.99", "free_above": "50"}]}]
//! }"#).unwrap();
//! assert_eq!(config.default_currency, Currency::GBP);
//! assert_eq!(config.shipping_codes(Currency::GBP), ["standard"]);
//!
//! let error = serde_json::from_str::<OrdersConfig>(r#"{"currency": "GBP", "country": "GB",
//!     "shipping": [{"code": "standard", "name": "Standard",
//!                   "prices": [{"currency": "GBP", "price": "-1"}]}]}"#).unwrap_err();
//! assert!(error.to_string().starts_with("shipping[0].prices[0].price: "), "{error}");
//! ```
//!
//! Unknown keys are refused (by name). A value that does not parse is
//! reported with its key's path (`tax[0].rate: …`), and the default
//! currency must have a shipping method. [`ConfigFile`] is the shape
//! itself, for a host whose file has keys of its own or whose left-out
//! keys keep a base configuration ([`ConfigFile::over`]).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::OrdersConfig;
use crate::catalogue::TaxClass;
use crate::checkout::Country;
use crate::money::{Currency, Money};
use crate::pricing::{ShippingMethod, ShippingMethodCode, ShippingRate, TaxRate, TaxTable};

/// The configuration file's shape, every key optional. See the module
/// documentation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    currency: Option<String>,
    country: Option<String>,
    tax_shipping_as: Option<String>,
    idempotency_lease: Option<DurationValue>,
    max_retries: Option<u32>,
    capture_policy: Option<String>,
    payment_hold: Option<DurationValue>,
    return_window: Option<DurationValue>,
    #[serde(default)]
    tax: Vec<TaxRule>,
    #[serde(default)]
    shipping: Vec<Shipping>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaxRule {
    country: String,
    class: String,
    rate: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Shipping {
    code: String,
    name: String,
    prices: Vec<ShippingPrice>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShippingPrice {
    currency: String,
    price: String,
    free_above: Option<String>,
}

/// Seconds, or text with a unit.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum DurationValue {
    Seconds(u64),
    Text(String),
}

/// A bad entry of a configuration file: its key's path and what is wrong.
/// Displayed as `key: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    key: String,
    message: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, message: impl fmt::Display) -> Self {
        Self {
            key: key.into(),
            message: message.to_string(),
        }
    }

    /// The path of the bad key: `currency`, `tax[0].rate`,
    /// `shipping[1].prices[0].free_above`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// What is wrong with it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl ConfigFile {
    /// The configuration the file describes on its own: `currency` and
    /// `country` are required; no tax and no shipping method unless given.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first bad or missing key.
    pub fn to_config(&self) -> Result<OrdersConfig, ConfigError> {
        let required = |key: &str| ConfigError::new(key, "required");
        let currency = self.currency.as_ref().ok_or_else(|| required("currency"))?;
        let country = self.country.as_ref().ok_or_else(|| required("country"))?;
        let base = OrdersConfig::new(parse_currency(currency)?, parse_country(country)?);
        self.over(base)
    }

    /// `base` with what the file gives in its place: each key given
    /// replaces the base's value (`tax` and `tax_shipping_as` together
    /// replace its whole tax table, `shipping` all its methods; an empty
    /// list counts as left out), and each key left out keeps it.
    ///
    /// ```
    /// use orders_core::OrdersConfig;
    /// use orders_core::config::ConfigFile;
    /// use orders_core::money::Currency;
    ///
    /// let file: ConfigFile = serde_json::from_str(r#"{"currency": "EUR"}"#).unwrap();
    /// let config = file.over(OrdersConfig::demo()).unwrap();
    /// assert_eq!(config.default_currency, Currency::EUR);
    /// assert_eq!(config.shipping_codes(Currency::EUR), ["standard", "express"]);
    /// ```
    ///
    /// # Errors
    /// [`ConfigError`] naming the first bad key; `shipping` when no
    /// method is priced in the default currency.
    pub fn over(&self, base: OrdersConfig) -> Result<OrdersConfig, ConfigError> {
        let mut config = base;
        if let Some(code) = &self.currency {
            config.default_currency = parse_currency(code)?;
        }
        if let Some(code) = &self.country {
            config.default_country = parse_country(code)?;
        }
        if !self.tax.is_empty() || self.tax_shipping_as.is_some() {
            config.tax = self.tax_table()?;
        }
        if !self.shipping.is_empty() {
            config.shipping_methods = self.shipping_methods()?;
        }
        if let Some(lease) = &self.idempotency_lease {
            let lease = lease
                .to_duration()
                .map_err(|e| ConfigError::new("idempotency_lease", e))?;
            config.idempotency_lease = chrono::Duration::from_std(lease)
                .map_err(|e| ConfigError::new("idempotency_lease", e))?;
        }
        if let Some(retries) = self.max_retries {
            config.max_retries = retries;
        }
        if let Some(policy) = &self.capture_policy {
            config.capture_policy = policy
                .parse()
                .map_err(|e: String| ConfigError::new("capture_policy", e))?;
        }
        if let Some(hold) = &self.payment_hold {
            let hold = hold
                .to_duration()
                .map_err(|e| ConfigError::new("payment_hold", e))?;
            config.payment_hold = chrono::Duration::from_std(hold)
                .ok()
                .filter(|d| *d >= chrono::Duration::seconds(1))
                .ok_or_else(|| ConfigError::new("payment_hold", "must be at least 1 second"))?;
        }
        if let Some(window) = &self.return_window {
            let window = window
                .to_duration()
                .map_err(|e| ConfigError::new("return_window", e))?;
            config.return_window = chrono::Duration::from_std(window)
                .map_err(|_| ConfigError::new("return_window", "too long"))?;
        }
        let currency = config.default_currency;
        if config.default_shipping_method(currency).is_none() {
            return Err(ConfigError::new(
                "shipping",
                format!("no shipping method is priced in the default currency {currency}"),
            ));
        }
        Ok(config)
    }

    fn tax_table(&self) -> Result<TaxTable, ConfigError> {
        let mut tax = TaxTable::new();
        for (i, rule) in self.tax.iter().enumerate() {
            let at = |key: &str| format!("tax[{i}].{key}");
            let country =
                Country::parse(&rule.country).map_err(|e| ConfigError::new(at("country"), e))?;
            let class =
                TaxClass::parse(&rule.class).map_err(|e| ConfigError::new(at("class"), e))?;
            let rate = TaxRate::percent(&rule.rate).map_err(|e| ConfigError::new(at("rate"), e))?;
            tax = tax.with_rate(country, class, rate);
        }
        if let Some(class) = &self.tax_shipping_as {
            let class =
                TaxClass::parse(class).map_err(|e| ConfigError::new("tax_shipping_as", e))?;
            tax = tax.with_shipping_taxed_as(class);
        }
        Ok(tax)
    }

    fn shipping_methods(&self) -> Result<Vec<ShippingMethod>, ConfigError> {
        let mut methods = Vec::with_capacity(self.shipping.len());
        for (i, method) in self.shipping.iter().enumerate() {
            let code = ShippingMethodCode::parse(&method.code)
                .map_err(|e| ConfigError::new(format!("shipping[{i}].code"), e))?;
            let mut built = ShippingMethod::new(code, method.name.clone());
            for (j, price) in method.prices.iter().enumerate() {
                let at = |key: &str| format!("shipping[{i}].prices[{j}].{key}");
                let currency = Currency::parse(&price.currency)
                    .map_err(|e| ConfigError::new(at("currency"), e))?;
                let money = |key: &str, text: &str| {
                    Money::parse_price(text, currency).map_err(|e| ConfigError::new(at(key), e))
                };
                let mut rate = ShippingRate::new(money("price", &price.price)?);
                if let Some(threshold) = &price.free_above {
                    rate = rate.free_above(money("free_above", threshold)?);
                }
                built = built.with_rate(rate);
            }
            methods.push(built);
        }
        Ok(methods)
    }
}

fn parse_currency(code: &str) -> Result<Currency, ConfigError> {
    Currency::parse(code).map_err(|e| ConfigError::new("currency", e))
}

fn parse_country(code: &str) -> Result<Country, ConfigError> {
    Country::parse(code).map_err(|e| ConfigError::new("country", e))
}

impl<'de> Deserialize<'de> for OrdersConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        ConfigFile::deserialize(deserializer)?
            .to_config()
            .map_err(serde::de::Error::custom)
    }
}

impl DurationValue {
    fn to_duration(&self) -> Result<Duration, InvalidDuration> {
        match self {
            Self::Seconds(seconds) => parse_duration(&seconds.to_string()),
            Self::Text(text) => parse_duration(text),
        }
    }
}

/// A duration that is not one of `30d`, `12h`, `15m`, `90s` or a number
/// of seconds, between one second and ten years.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a duration between 1s and 3650d (e.g. 30d, 12h, 90s)")]
pub struct InvalidDuration(String);

/// `30d`, `12h`, `15m`, `90s` or a plain number of seconds (fractions
/// allowed: `1.5h`); between one second and ten years.
///
/// ```
/// use std::time::Duration;
/// use orders_core::config::parse_duration;
///
/// assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
/// assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
/// assert!(parse_duration("0s").is_err() && parse_duration("1y").is_err());
/// ```
///
/// # Errors
/// [`InvalidDuration`] for anything else.
pub fn parse_duration(text: &str) -> Result<Duration, InvalidDuration> {
    let invalid = || InvalidDuration(text.to_owned());
    let trimmed = text.trim();
    let (number, unit) = match trimmed.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&trimmed[..i], c),
        _ => (trimmed, 's'),
    };
    let scale = match unit {
        's' => 1.0,
        'm' => 60.0,
        'h' => 3600.0,
        'd' => 86_400.0,
        _ => return Err(invalid()),
    };
    match number.trim().parse::<f64>() {
        Ok(n) if (1.0..=3650.0 * 86_400.0).contains(&(n * scale)) => {
            Ok(Duration::from_secs_f64(n * scale))
        }
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> Result<OrdersConfig, String> {
        serde_json::from_str::<OrdersConfig>(json).map_err(|e| e.to_string())
    }

    const GBP_STANDARD: &str = r#""shipping": [{"code": "standard", "name": "Standard",
        "prices": [{"currency": "GBP", "price": "4.99", "free_above": "50"}]}]"#;

    #[test]
    fn a_full_file() {
        let o = config(&format!(
            r#"{{"currency": "GBP", "country": "GB", "tax_shipping_as": "standard",
                "idempotency_lease": "2m", "max_retries": 3,
                "tax": [{{"country": "GB", "class": "standard", "rate": "20"}}], {GBP_STANDARD}}}"#
        ))
        .unwrap();
        assert_eq!(o.default_currency, Currency::GBP);
        assert_eq!(o.default_country, Country::parse("GB").unwrap());
        assert_eq!(o.shipping_codes(Currency::GBP), ["standard"]);
        let method = o.shipping_method("standard", Currency::GBP).unwrap();
        let price = method.price_for(Currency::GBP).unwrap();
        assert_eq!(price, Money::parse_price("4.99", Currency::GBP).unwrap());
        let free = method.free_above_for(Currency::GBP).unwrap();
        assert_eq!(free, Money::parse_price("50", Currency::GBP).unwrap());
        assert_eq!(
            o.tax
                .rate(Country::parse("GB").unwrap(), &TaxClass::standard())
                .to_string(),
            "0.20"
        );
        assert!(o.tax.shipping_class().is_some());
        assert_eq!(o.idempotency_lease, chrono::Duration::minutes(2));
        assert_eq!(o.max_retries, 3);
    }

    #[test]
    fn defaults_of_the_optional_keys() {
        let o = config(&format!(
            r#"{{"currency": "GBP", "country": "GB", {GBP_STANDARD}}}"#
        ))
        .unwrap();
        let new = OrdersConfig::new(Currency::GBP, Country::parse("GB").unwrap());
        assert_eq!(o.idempotency_lease, new.idempotency_lease);
        assert_eq!(o.max_retries, new.max_retries);
        assert!(o.tax.shipping_class().is_none());
        let lease = config(&format!(
            r#"{{"currency": "GBP", "country": "GB", "idempotency_lease": 90, {GBP_STANDARD}}}"#
        ))
        .unwrap()
        .idempotency_lease;
        assert_eq!(lease, chrono::Duration::seconds(90));
    }

    #[test]
    fn bad_entries_are_named_by_their_path() {
        let base = r#""currency": "GBP", "country": "GB""#;
        for (json, expected) in [
            (
                format!(r#"{{"country": "GB", {GBP_STANDARD}}}"#),
                "currency: required",
            ),
            (
                format!(r#"{{"currency": "GBP", {GBP_STANDARD}}}"#),
                "country: required",
            ),
            (
                r#"{"currency": "XXX", "country": "GB"}"#.to_owned(),
                "currency: ",
            ),
            (
                r#"{"currency": "GBP", "country": "G"}"#.to_owned(),
                "country: ",
            ),
            (
                format!(
                    r#"{{{base}, "tax": [{{"country": "GB", "class": "standard", "rate": "120"}}]}}"#
                ),
                "tax[0].rate: ",
            ),
            (
                format!(r#"{{{base}, "tax": [{{"country": "GB", "class": "", "rate": "1"}}]}}"#),
                "tax[0].class: ",
            ),
            (
                format!(r#"{{{base}, "tax_shipping_as": ""}}"#),
                "tax_shipping_as: ",
            ),
            (
                format!(r#"{{{base}, "shipping": [{{"code": "X", "name": "X", "prices": []}}]}}"#),
                "shipping[0].code: ",
            ),
            (
                format!(
                    r#"{{{base}, "shipping": [{{"code": "x", "name": "X", "prices": [{{"currency": "GBP", "price": "1", "free_above": "ten"}}]}}]}}"#
                ),
                "shipping[0].prices[0].free_above: ",
            ),
            (
                format!(
                    r#"{{{base}, "shipping": [{{"code": "x", "name": "X", "prices": [{{"currency": "EUR", "price": "1"}}]}}]}}"#
                ),
                "shipping: no shipping method is priced in the default currency GBP",
            ),
            (format!(r#"{{{base}}}"#), "shipping: no shipping method"),
            (
                format!(r#"{{{base}, "idempotency_lease": "forever", {GBP_STANDARD}}}"#),
                "idempotency_lease: ",
            ),
            (
                format!(r#"{{{base}, "idempotency_lease": 0, {GBP_STANDARD}}}"#),
                "idempotency_lease: ",
            ),
            (
                format!(r#"{{{base}, "colour": "red"}}"#),
                "unknown field `colour`",
            ),
        ] {
            let error = config(&json).unwrap_err();
            assert!(error.starts_with(expected), "{json}: {error}");
        }
    }

    #[test]
    fn a_file_over_a_base_keeps_what_it_leaves_out() {
        let demo = OrdersConfig::demo();
        let file: ConfigFile = serde_json::from_str(r#"{"max_retries": 2}"#).unwrap();
        let o = file.over(demo.clone()).unwrap();
        assert_eq!(o.max_retries, 2);
        assert_eq!(o.default_currency, demo.default_currency);
        assert_eq!(o.shipping_methods, demo.shipping_methods);
        let gb = Country::parse("GB").unwrap();
        assert_eq!(
            o.tax.rate(gb, &TaxClass::standard()),
            demo.tax.rate(gb, &TaxClass::standard())
        );
        // A tax key replaces the whole table.
        let file: ConfigFile = serde_json::from_str(r#"{"tax_shipping_as": "standard"}"#).unwrap();
        let o = file.over(demo).unwrap();
        assert!(o.tax.rate(gb, &TaxClass::standard()).is_zero());
        assert!(o.tax.shipping_class().is_some());
        // A file alone needs its currency and country.
        let error = ConfigFile::default().to_config().unwrap_err();
        assert_eq!((error.key(), error.message()), ("currency", "required"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration(" 12h "), Ok(Duration::from_secs(12 * 3600)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        for bad in ["", "0s", "1y", "-1d", "4000d", "d", "NaNs"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
