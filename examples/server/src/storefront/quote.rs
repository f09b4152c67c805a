//! The checkout's price for the chosen destination and shipping method.
//!
//! The checkout page shows the exact total the customer will be charged:
//! the cart priced by the core ([`Orders::cart`](orders_core::Orders::cart)
//! with the chosen country and method, the same pricing checkout uses),
//! and beside each shipping method its price for this cart. The page
//! submits that total as `expected_total`, so a total that changed in
//! between is refused (409 `price_changed`) instead of charged.
//!
//! `GET /checkout/quote?country=GB&shipping_method=express` answers the
//! same figures as JSON for the page's script, which keeps the summary
//! current as the customer changes the country or the method. It uses the
//! page's session (the API's own `GET /api/carts/{id}?country=&shipping_method=`
//! prices a cart the same way but takes a Bearer token, which the page's
//! script never sees). Without scripts, the page's "Review total" button
//! asks the server for the same page priced for the form's choices.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use orders_axum::Caller;
use orders_core::checkout::Country;
use orders_core::ids::CartId;
use orders_core::{Error, PricedCart, PricingOptions, words};
use serde::{Deserialize, Serialize};

use super::Storefront;
use super::request::Visit;
use super::templates::money;

/// The cart priced for the checkout's choices, and each method's shipping.
pub(super) struct Quote {
    /// The cart priced for `country` and `method`.
    pub cart: PricedCart,
    /// The country it is priced for.
    pub country: Country,
    /// The shipping method's code it is priced for.
    pub method: String,
    /// Each shipping method's code and its shipping price for this cart
    /// and country (free above a threshold, say), in the shop's order.
    pub shipping: Vec<(String, orders_core::money::Money)>,
}

impl Quote {
    /// The total to send back as `expected_total`: the amount alone
    /// (`133.79`), as the API takes it.
    pub(super) fn expected_total(&self) -> String {
        self.cart.totals.total.to_string()
    }

    /// What the total is for: `Shipping to United Kingdom by Express
    /// shipping (next day), tax included.`
    pub(super) fn due_for(&self, shop: &Storefront) -> String {
        let config = shop.orders().config();
        format!(
            "Shipping to {} by {}, tax included.",
            words::country_name(self.country),
            words::shipping_method(config, &self.method, self.cart.currency)
        )
    }
}

/// Prices `cart_id` for `country` and `method` as typed in the form: a
/// country or method that is not one (blank, unknown) prices for the
/// shop's default, as the form will refuse it anyway.
///
/// # Errors
/// Those of [`Orders::cart`](orders_core::Orders::cart).
pub(super) async fn quote(
    shop: &Storefront,
    caller: &Caller,
    cart_id: &CartId,
    country: Option<&str>,
    method: Option<&str>,
) -> Result<Quote, Error> {
    let orders = shop.orders();
    let config = orders.config();
    let country = country
        .and_then(|c| Country::parse(c).ok())
        .unwrap_or(config.default_country);
    let base = orders
        .cart(&caller.id, cart_id, &PricingOptions::default())
        .await?;
    let codes: Vec<String> = config
        .shipping_codes(base.currency)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let chosen = method
        .filter(|m| codes.iter().any(|c| c == m))
        .map(str::to_owned)
        .or_else(|| codes.first().cloned())
        .unwrap_or_default();
    let mut shipping = Vec::with_capacity(codes.len());
    let mut priced = None;
    for code in codes {
        let options = PricingOptions {
            country: Some(country),
            shipping_method: Some(code.clone()),
        };
        let cart = orders.cart(&caller.id, cart_id, &options).await?;
        shipping.push((code.clone(), cart.totals.shipping));
        if code == chosen {
            priced = Some(cart);
        }
    }
    Ok(Quote {
        cart: priced.unwrap_or(base),
        country,
        method: chosen,
        shipping,
    })
}

/// `?country=&shipping_method=` of the quote.
#[derive(Debug, Default, Deserialize)]
pub(super) struct QuoteQuery {
    country: Option<String>,
    shipping_method: Option<String>,
}

/// The figures the page shows, formatted as on the page (`133.79 USD`).
#[derive(Debug, Serialize)]
struct QuoteBody {
    subtotal: String,
    discount: String,
    shipping: String,
    tax: String,
    total: String,
    /// The amount alone, for the form's `expected_total`.
    expected_total: String,
    /// What the total is for, in words.
    due_for: String,
    country: &'static str,
    shipping_method: String,
    /// Each method's shipping price, by code.
    methods: BTreeMap<String, String>,
}

/// `GET /checkout/quote`: the open cart priced for the query's country and
/// shipping method (see the module docs); 404 without a cart or a shopper
/// (a signed-in customer, or a guest with the cart cookie).
pub(super) async fn show(
    State(shop): State<Storefront>,
    visit: Visit,
    Query(query): Query<QuoteQuery>,
) -> Response {
    let (Some(caller), Some(cart_id)) = (visit.shopper(), &visit.cart_id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match quote(
        &shop,
        caller,
        cart_id,
        query.country.as_deref(),
        query.shipping_method.as_deref(),
    )
    .await
    {
        Ok(quote) => {
            let t = &quote.cart.totals;
            let body = QuoteBody {
                subtotal: money(t.subtotal),
                discount: money(t.discount),
                shipping: money(t.shipping),
                tax: money(t.tax),
                total: money(t.total),
                expected_total: quote.expected_total(),
                due_for: quote.due_for(&shop),
                country: quote.country.code(),
                shipping_method: quote.method.clone(),
                methods: quote
                    .shipping
                    .iter()
                    .map(|(code, price)| (code.clone(), shipping_price(*price)))
                    .collect(),
            };
            (
                [(axum::http::header::CACHE_CONTROL, "no-store")],
                Json(body),
            )
                .into_response()
        }
        Err(Error::NotFound(_)) => StatusCode::NOT_FOUND.into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// A method's price beside it: `4.99 USD`, or `Free`.
pub(super) fn shipping_price(price: orders_core::money::Money) -> String {
    if price.is_zero() {
        "Free".to_owned()
    } else {
        money(price)
    }
}
