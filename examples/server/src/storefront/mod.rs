//! The storefront: the shop's customer pages at `/`, server-rendered with
//! askama (templates under `examples/server/templates/storefront/`).
//!
//! Product list and page, cart (quantities, removal, discount code),
//! checkout, order history and a live order page, sign-in and registration.
//! The pages are this host's code but hold no rule of their own: every
//! change goes through the core's [`Orders`] facade, exactly as the JSON API
//! does, and the checkout form goes through the API's own body parsing
//! ([`orders_axum::parse_body`]) into the core's
//! [`CheckoutForm`](orders_core::checkout::CheckoutForm), so each field
//! error carries the same dotted path on the page as in the API.
//!
//! Sessions: the `orders_session` cookie holds the host's token (set with
//! [`orders_axum::web::session::sign_in_cookie`]), looked up through the
//! host's [`Identify`]; the open cart's id lives in the [`CART_COOKIE`]
//! cookie (the core refuses another customer's cart, so a stale or foreign
//! id only means a new cart). Every state-changing form carries a CSRF
//! token, checked before anything else ([`request::Post`]); every response
//! carries the security headers of [`orders_axum::web::security_headers`].

// Helpers answer `Result<T, Response>`: the error is the page to send, and
// it is sent at once, so boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

mod account_pages;
mod aftersale;
mod aftersale_view;
mod assets;
mod cart;
mod catalogue;
mod catalogue_views;
mod checkout;
mod guests;
mod orders;
mod posted;
mod quote;
mod request;
mod stock;
mod templates;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use orders_axum::Identify;
use orders_axum::metrics::{CheckoutOutcome, Metrics};
use orders_axum::web::{Csrf, SignIn};
use orders_core::Orders;

use crate::payments::{StripeSettings, stripe_content_security_policy};
use crate::sign_in::Host;

/// The cookie holding the id of the customer's open cart.
pub const CART_COOKIE: &str = "orders_cart";

pub use guests::order_link;

/// The largest form body the pages accept.
pub const FORM_LIMIT: usize = 64 * 1024;

/// The storefront's state: the engine, who callers are, how they sign in,
/// the CSRF key, and Stripe.js when Stripe takes the payments.
#[derive(Clone)]
pub struct Storefront {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    orders: Orders,
    identify: Arc<dyn Identify>,
    host: Host,
    csrf: Csrf,
    /// Where the checkout page counts its checkouts' outcomes.
    metrics: Option<Metrics>,
    /// Stripe.js on the checkout and order pages; `None`: the test
    /// gateway's card fields.
    stripe: Option<StripeJs>,
    /// Password resets and the account page; `None`: those pages are 404.
    accounts: Option<crate::password_reset::Accounts>,
    /// Signs the links that open a guest's order.
    order_tokens: orders_core::guest::OrderTokens,
}

/// What the pages need of Stripe: where Stripe.js is, the publishable key,
/// and the Content-Security-Policy that lets Stripe.js run.
#[derive(Clone)]
pub(crate) struct StripeJs {
    /// Stripe.js's URL.
    pub js_url: String,
    /// The publishable key (`pk_…`).
    pub publishable_key: String,
    /// The pages' policy, with Stripe.js's origin allowed.
    csp: HeaderValue,
}

impl Storefront {
    /// Pages over `orders`, identifying callers through `identify` (the
    /// same [`Identify`] the API uses, so a token is one caller everywhere)
    /// and signing them in and registering them through `host`. CSRF
    /// tokens use a fresh random key (see [`Storefront::csrf`]).
    pub fn new(orders: Orders, identify: impl Identify, host: Host) -> Self {
        Self {
            inner: Arc::new(Inner {
                orders,
                identify: Arc::new(identify),
                host,
                csrf: Csrf::random(),
                metrics: None,
                stripe: None,
                accounts: None,
                order_tokens: orders_core::guest::OrderTokens::random(),
            }),
        }
    }

    fn with(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = (*self.inner).clone();
        change(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Uses `csrf` for the forms' tokens: instances behind one address must
    /// share one key, or a form served by one is refused by another.
    #[must_use]
    pub fn csrf(self, csrf: Csrf) -> Self {
        self.with(|inner| inner.csrf = csrf)
    }

    /// Counts the checkout page's checkouts in `metrics`, by outcome, as
    /// the API counts its own.
    #[must_use]
    pub fn metrics(self, metrics: &Metrics) -> Self {
        self.with(|inner| inner.metrics = Some(metrics.clone()))
    }

    /// With `Some`, card payments go through Stripe.js: the checkout page
    /// shows Stripe's card fields (the card number never reaches this
    /// server), the order page runs 3-D Secure through Stripe.js, and the
    /// pages' Content-Security-Policy allows Stripe.js's origin. With
    /// `None` (the default), the test gateway's plain card fields.
    #[must_use]
    pub fn stripe(self, stripe: Option<&StripeSettings>) -> Self {
        let page = stripe.map(|settings| StripeJs {
            js_url: settings.js_url.clone(),
            publishable_key: settings.publishable_key.clone(),
            csp: HeaderValue::from_str(&stripe_content_security_policy(&settings.js_origin()))
                .unwrap_or_else(|_| {
                    HeaderValue::from_static(orders_axum::web::CONTENT_SECURITY_POLICY)
                }),
        });
        self.with(|inner| inner.stripe = page)
    }

    /// Serves "Forgot password?", the reset page its mailed link opens, and
    /// the account page (change email and password) through `accounts`.
    #[must_use]
    pub fn accounts(self, accounts: crate::password_reset::Accounts) -> Self {
        self.with(|inner| inner.accounts = Some(accounts))
    }

    /// Signs guests' order links with `tokens`: the same the API checks
    /// (`orders_axum::Api::order_tokens`), so a link opens the order page
    /// and its live updates alike.
    #[must_use]
    pub fn order_tokens(self, tokens: orders_core::guest::OrderTokens) -> Self {
        self.with(|inner| inner.order_tokens = tokens)
    }

    /// Stripe.js's settings, when Stripe takes the payments.
    fn stripe_js(&self) -> Option<&StripeJs> {
        self.inner.stripe.as_ref()
    }

    /// Counts one checkout of the page that ended as `outcome`.
    fn record_checkout(&self, outcome: CheckoutOutcome) {
        if let Some(metrics) = &self.inner.metrics {
            metrics.record_checkout(outcome);
        }
    }

    fn orders(&self) -> &Orders {
        &self.inner.orders
    }

    fn signer(&self) -> &dyn SignIn {
        &self.inner.host
    }

    /// The pages, to be mounted at `/` (merged beside `/api`). Unknown
    /// paths get the storefront's HTML 404 page; the API's own fallback
    /// still answers under `/api`.
    pub fn router(self) -> Router {
        let csp = self.stripe_js().map(|stripe| stripe.csp.clone());
        let pages = Router::new()
            .route("/", get(catalogue::index))
            .route("/products/{id}", get(catalogue::product))
            .route("/cart", get(cart::show))
            .route("/cart/items", post(cart::add))
            .route("/cart/items/{product_id}", post(cart::set_quantity))
            .route("/cart/items/{product_id}/remove", post(cart::remove))
            .route("/cart/discount", post(cart::apply_discount))
            .route("/cart/discount/remove", post(cart::remove_discount))
            .route("/checkout", get(checkout::show).post(checkout::submit))
            .route("/checkout/quote", get(quote::show))
            .route("/orders", get(orders::history))
            .route("/orders/{id}", get(orders::order))
            .route(
                "/orders/{id}/payment/confirm",
                post(orders::confirm_payment),
            )
            .route("/orders/{id}/cancel", post(aftersale::cancel))
            .route("/orders/{id}/returns", post(aftersale::request_return))
            .route("/login", get(users::login_page).post(users::login))
            .route("/register", get(users::register_page).post(users::register))
            .route("/logout", post(users::logout))
            .route(
                "/password/forgot",
                get(account_pages::forgot).post(account_pages::request_reset),
            )
            .route(
                "/password/reset",
                get(account_pages::reset).post(account_pages::complete_reset),
            )
            .route("/password/reset/done", get(account_pages::reset_done))
            .route("/account", get(account_pages::account))
            .route("/account/email", post(account_pages::change_email))
            .route("/account/password", post(account_pages::change_password))
            .route("/assets/{name}", get(assets::serve))
            .fallback(catalogue::not_found)
            .with_state(self)
            .layer(DefaultBodyLimit::max(FORM_LIMIT));
        // Set inside the security headers, which keep a policy already set.
        let pages = match csp {
            Some(policy) => pages.layer(axum::middleware::from_fn_with_state(
                policy,
                content_security_policy,
            )),
            None => pages,
        };
        pages.layer(axum::middleware::from_fn(
            orders_axum::web::security_headers,
        ))
    }
}

/// Sets the pages' Content-Security-Policy to `policy` (Stripe's).
async fn content_security_policy(
    State(policy): State<HeaderValue>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, policy);
    response
}
