//! The engine's configuration: currency, destination, tax, shipping.

use chrono::Duration;

use crate::catalogue::TaxClass;
use crate::checkout::Country;
use crate::money::{Currency, Money};
use crate::order::CapturePolicy;
use crate::pricing::{ShippingMethod, ShippingMethodCode, ShippingRate, TaxRate, TaxTable};

/// How the engine prices and checks out.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OrdersConfig {
    /// The currency of a cart created without one.
    pub default_currency: Currency,
    /// The destination a cart is priced for before checkout.
    pub default_country: Country,
    /// Tax rates by country and tax class.
    pub tax: TaxTable,
    /// Shipping methods; the first one priced in a cart's currency is its
    /// default.
    pub shipping_methods: Vec<ShippingMethod>,
    /// How long a checkout may hold an idempotency key before another
    /// request may take it over (the first one is presumed dead).
    pub idempotency_lease: Duration,
    /// How often a lost compare-and-set is retried before answering
    /// [`crate::Error::ConcurrentUpdate`].
    pub max_retries: u32,
    /// When card payments are captured: at checkout (default) or as the
    /// order ships.
    pub capture_policy: CapturePolicy,
    /// How long an order `awaiting_payment` holds its stock for the
    /// customer's action (3-D Secure) before the sweeper cancels it;
    /// default 15 minutes.
    pub payment_hold: Duration,
    /// How long after its last delivery a customer may ask to return an
    /// order's units; default 30 days.
    pub return_window: Duration,
}

impl OrdersConfig {
    /// A configuration with one currency, one destination, no tax and no
    /// shipping methods: add them with the `with_` methods.
    pub fn new(default_currency: Currency, default_country: Country) -> Self {
        Self {
            default_currency,
            default_country,
            tax: TaxTable::new(),
            shipping_methods: Vec::new(),
            idempotency_lease: Duration::minutes(5),
            max_retries: 8,
            capture_policy: CapturePolicy::OnCheckout,
            payment_hold: Duration::minutes(15),
            return_window: Duration::days(30),
        }
    }

    /// Sets the tax table.
    #[must_use]
    pub fn with_tax(mut self, tax: TaxTable) -> Self {
        self.tax = tax;
        self
    }

    /// Adds a shipping method.
    #[must_use]
    pub fn with_shipping_method(mut self, method: ShippingMethod) -> Self {
        self.shipping_methods.push(method);
        self
    }

    /// The method named `code` if it ships in `currency`.
    pub fn shipping_method(&self, code: &str, currency: Currency) -> Option<&ShippingMethod> {
        self.shipping_methods
            .iter()
            .find(|m| m.code.as_str() == code && m.price_for(currency).is_some())
    }

    /// The default method for `currency`: the first that ships in it.
    pub fn default_shipping_method(&self, currency: Currency) -> Option<&ShippingMethod> {
        self.shipping_methods
            .iter()
            .find(|m| m.price_for(currency).is_some())
    }

    /// The codes of every configured method, whatever its currencies.
    pub fn all_shipping_codes(&self) -> Vec<&str> {
        self.shipping_methods
            .iter()
            .map(|m| m.code.as_str())
            .collect()
    }

    /// The codes of the methods that ship in `currency`.
    pub fn shipping_codes(&self, currency: Currency) -> Vec<&str> {
        self.shipping_methods
            .iter()
            .filter(|m| m.price_for(currency).is_some())
            .map(|m| m.code.as_str())
            .collect()
    }

    /// The demo shop: USD, EUR and GBP; default destination US; standard
    /// shipping (free from 50) and express; VAT for GB (20 %, reduced 5 %),
    /// DE (19 %, reduced 7 %) and FR (20 %, reduced 5.5 %); no tax for US.
    pub fn demo() -> Self {
        let country =
            |c: &str| Country::parse(c).unwrap_or_else(|_| unreachable!("valid code {c}"));
        let rate = |p: &str| TaxRate::percent(p).unwrap_or_else(|_| unreachable!("valid rate {p}"));
        let reduced = TaxClass::parse("reduced").unwrap_or_else(|_| unreachable!());
        let money =
            |a: &str, c: Currency| Money::parse_price(a, c).unwrap_or_else(|_| unreachable!());
        let tax = TaxTable::new()
            .with_rate(country("GB"), TaxClass::standard(), rate("20"))
            .with_rate(country("GB"), reduced.clone(), rate("5"))
            .with_rate(country("DE"), TaxClass::standard(), rate("19"))
            .with_rate(country("DE"), reduced.clone(), rate("7"))
            .with_rate(country("FR"), TaxClass::standard(), rate("20"))
            .with_rate(country("FR"), reduced, rate("5.5"));
        let code = |c: &str| ShippingMethodCode::parse(c).unwrap_or_else(|_| unreachable!());
        let mut standard = ShippingMethod::new(code("standard"), "Standard (3–5 days)");
        let mut express = ShippingMethod::new(code("express"), "Express (next day)");
        for currency in [Currency::USD, Currency::EUR, Currency::GBP] {
            standard = standard.with_rate(
                ShippingRate::new(money("4.99", currency)).free_above(money("50", currency)),
            );
            express = express.with_rate(ShippingRate::new(money("14.99", currency)));
        }
        Self::new(Currency::USD, country("US"))
            .with_tax(tax)
            .with_shipping_method(standard)
            .with_shipping_method(express)
    }
}
