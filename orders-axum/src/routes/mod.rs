//! The handlers, one module per part of API.md. Each parses its input into
//! the core's types (collecting every field error), calls one method of
//! [`orders_core::Orders`], and maps the result; errors go through
//! [`crate::ApiError`]'s single `From<orders_core::Error>`.

pub(crate) mod admin;
pub(crate) mod aftersale;
pub(crate) mod carts;
pub(crate) mod guests;
pub(crate) mod orders;
pub(crate) mod payments;
pub(crate) mod public;
pub(crate) mod webhooks;
pub(crate) mod ws;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, patch, post};
use orders_core::Orders;
use tokio::sync::watch;

use crate::ApiError;
use crate::identify::{HasIdentify, Identify};

/// What every handler can reach.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) orders: Orders,
    pub(crate) identify: Arc<dyn Identify>,
    pub(crate) openapi: Arc<String>,
    pub(crate) sockets: ws::SocketConfig,
    /// The followed orders of the tracking sockets.
    pub(crate) followers: crate::followers::Followers,
    pub(crate) shutdown: Arc<watch::Sender<bool>>,
    pub(crate) revocations: crate::Revocations,
    /// See [`crate::Api::socket_session_cookie`].
    #[cfg_attr(not(feature = "web"), allow(dead_code))]
    pub(crate) socket_cookie: Option<Arc<str>>,
    /// What the routes record (feature `metrics`).
    pub(crate) meters: crate::meters::Meters,
    /// See [`crate::Api::webhooks`]; `None`: the webhook routes answer 404.
    pub(crate) webhooks: Option<webhooks::WebhookAdmin>,
    /// See [`crate::guests`].
    pub(crate) guests: crate::guests::Guests,
}

impl HasIdentify for AppState {
    fn identifier(&self) -> &dyn Identify {
        &*self.identify
    }

    fn socket_cookie(&self) -> Option<&str> {
        self.socket_cookie.as_deref()
    }
}

impl AppState {
    pub(crate) fn socket_config(&self) -> ws::SocketConfig {
        self.sockets
    }
}

/// Parses an id from a path: an id that cannot exist is simply not found.
pub(crate) fn path_id<T: FromStr>(text: &str) -> Result<T, ApiError> {
    text.parse().map_err(|_| ApiError::not_found())
}

/// Every route of the library, relative to the mount point.
pub(crate) fn routes(state: AppState) -> Router {
    Router::new()
        .route("/health", get(public::health))
        .route("/openapi.json", get(public::openapi_json))
        .route("/products", get(public::list_products))
        .route("/products/{id}", get(public::get_product))
        .route("/carts", post(carts::create_cart))
        .route("/carts/current", get(guests::current_cart))
        .route("/carts/{id}", get(carts::get_cart))
        .route("/carts/{id}/claim", post(guests::claim_cart))
        .route("/carts/{id}/items", post(carts::add_item))
        .route(
            "/carts/{id}/items/{product_id}",
            patch(carts::set_item).delete(carts::remove_item),
        )
        .route(
            "/carts/{id}/discount",
            post(carts::apply_discount).delete(carts::remove_discount),
        )
        .route(
            "/carts/{id}/checkout",
            state.meters.checkout_route(post(carts::checkout)),
        )
        .route("/orders", get(orders::list_orders))
        .route("/orders/{id}", get(orders::get_order))
        .route("/orders/{id}/events", get(orders::order_events))
        .route("/orders/{id}/cancel", post(orders::cancel))
        .route("/orders/{id}/track", get(ws::track))
        .route("/orders/{id}/returns", post(aftersale::request_return))
        .route(
            "/orders/{id}/payment/confirm",
            post(payments::confirm_payment),
        )
        .route(
            "/payments/webhooks/{provider}",
            post(payments::payment_webhook).layer(axum::extract::DefaultBodyLimit::max(
                payments::WEBHOOK_BODY_LIMIT,
            )),
        )
        .route(
            "/admin/products",
            get(admin::list_products).post(admin::create_product),
        )
        .route(
            "/admin/products/{id}",
            get(admin::get_product).patch(admin::patch_product),
        )
        .route("/admin/orders", get(admin::list_orders))
        .route("/admin/orders/{id}", get(admin::get_order))
        .route("/admin/orders/{id}/events", get(admin::order_events))
        .route("/admin/orders/{id}/transition", post(admin::transition))
        .route(
            "/admin/orders/{id}/fulfilments",
            post(aftersale::create_fulfilment),
        )
        .route(
            "/admin/fulfilments/{id}/delivered",
            post(aftersale::fulfilment_delivered),
        )
        .route("/admin/orders/{id}/refunds", post(aftersale::create_refund))
        .route("/admin/orders/{id}/notes", post(aftersale::add_note))
        .route(
            "/admin/returns/{id}/approve",
            post(aftersale::approve_return),
        )
        .route("/admin/returns/{id}/reject", post(aftersale::reject_return))
        .route(
            "/admin/returns/{id}/receive",
            post(aftersale::receive_return),
        )
        .route(
            "/admin/discounts",
            get(admin::list_discounts).post(admin::create_discount),
        )
        .route("/admin/discounts/{code}", patch(admin::switch_discount))
        .route(
            "/admin/webhooks",
            get(webhooks::list_webhooks).post(webhooks::create_webhook),
        )
        .route(
            "/admin/webhooks/{id}",
            axum::routing::delete(webhooks::delete_webhook),
        )
        .route(
            "/admin/webhooks/{id}/deliveries",
            get(webhooks::list_deliveries),
        )
        .route(
            "/admin/webhooks/{id}/deliveries/{delivery_id}/retry",
            post(webhooks::retry_delivery),
        )
        .route("/admin/stream", get(ws::stream))
        .with_state(state)
}

/// The default ping period of websockets (API.md: every 30 s).
pub(crate) const PING_INTERVAL: Duration = Duration::from_secs(30);
