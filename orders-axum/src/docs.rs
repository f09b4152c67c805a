//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! attributes and the schemas below.
//!
//! Request bodies are the core's forms, documented from their one
//! description ([`crate::form_bodies`]). The core's response types
//! serialise themselves (money as strings, ids as strings) and do not
//! depend on utoipa, so their JSON shapes are described here by mirror
//! structs. The integration tests serialise real responses
//! and validate them against these schemas, so a field added to a core
//! type and not here fails a test.

#![allow(dead_code)] // Mirror structs exist only for their schemas.

use std::collections::BTreeMap;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::routes::{admin, aftersale, carts, guests, orders, payments, public, webhooks, ws};

mod aftersale_schemas;
mod guest_schemas;
mod params;
mod webhook_schemas;

pub(crate) use aftersale_schemas::{
    EventData, Fulfilment, FulfilmentState, FulfilmentStatus, ItemLine, OrderNote, Refund,
    RefundStatus, Return, ReturnStatus,
};

pub(crate) use guest_schemas::{ClaimedCart, MergeWarning, MergeWarningReason, NewCart};
pub(crate) use params::{CountryCode, IdempotencyKey, ProviderEvent, SearchQuery, StatusFilter};
pub(crate) use webhook_schemas::{
    CreatedWebhook, DeliveryList, WebhookDelivery, WebhookInfo, WebhookList,
};

/// An order status.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OrderStatus {
    Pending,
    /// Holding its stock while the customer completes the payment (3-D
    /// Secure); the payment moves it to `paid` or `cancelled`.
    AwaitingPayment,
    Paid,
    Processing,
    Shipped,
    Delivered,
    Cancelled,
    Refunded,
    /// Some of its lines shipped, not all.
    PartiallyShipped,
}

/// A cart's state.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CartStatus {
    Open,
    CheckedOut,
}

/// A product of the catalogue.
#[derive(ToSchema)]
pub(crate) struct Product {
    id: String,
    sku: String,
    name: String,
    description: String,
    #[schema(example = "19.90")]
    price: String,
    #[schema(example = "USD")]
    currency: String,
    #[schema(minimum = 0)]
    stock: u32,
    active: bool,
    #[schema(example = "standard")]
    tax_class: String,
    #[schema(format = DateTime)]
    created_at: String,
    /// When staff last changed it.
    #[schema(format = DateTime)]
    updated_at: String,
    /// 1 when created, then + 1 on every change (a staff edit, stock taken
    /// by a checkout, stock returned by a cancellation); send it back with
    /// an edit (`PATCH /admin/products/{id}`) to have a stale edit refused.
    #[schema(minimum = 1)]
    version: u64,
    /// Its picture, if staff gave it one: copies at a few widths, served
    /// by the host under `/images/` (`null` when it has none).
    image: Option<ProductImage>,
}

/// A product's picture and its resized copies (never enlarged, aspect
/// kept), for `srcset`, `width` and `height`.
#[derive(ToSchema)]
pub(crate) struct ProductImage {
    /// The picture's width in pixels, as stored.
    #[schema(minimum = 1)]
    width: u32,
    /// Its height in pixels.
    #[schema(minimum = 1)]
    height: u32,
    /// The widest copy's URL.
    #[schema(example = "/images/ba7816bf8f01cfea414140de5dae2223-800.jpg")]
    url: String,
    /// Every copy, narrowest first.
    variants: Vec<ImageVariant>,
}

/// One resized copy of a product's picture.
#[derive(ToSchema)]
pub(crate) struct ImageVariant {
    #[schema(minimum = 1)]
    width: u32,
    #[schema(minimum = 1)]
    height: u32,
    /// Where it is served (root-relative; `Cache-Control: immutable`).
    #[schema(example = "/images/ba7816bf8f01cfea414140de5dae2223-320.jpg")]
    url: String,
}

/// A priced line of a cart or an order:
/// `line_total = line_subtotal - line_discount + line_tax`.
#[derive(ToSchema)]
pub(crate) struct Line {
    product_id: String,
    sku: String,
    name: String,
    #[schema(minimum = 1, maximum = 999)]
    quantity: u32,
    unit_price: String,
    line_subtotal: String,
    line_discount: String,
    line_tax: String,
    line_total: String,
}

/// The totals of a priced cart or an order, at the level of its other
/// fields: `total = subtotal - discount_total + shipping_total + tax_total`.
#[derive(ToSchema)]
pub(crate) struct Totals {
    /// Sum of the line subtotals.
    #[schema(example = "20.00")]
    subtotal: String,
    /// Sum of the line discounts.
    discount_total: String,
    /// Shipping, tax exclusive.
    shipping_total: String,
    /// All tax, shipping's included.
    tax_total: String,
    /// What the customer pays.
    total: String,
}

/// A cart, priced at current prices.
#[derive(ToSchema)]
pub(crate) struct Cart {
    id: String,
    currency: String,
    lines: Vec<Line>,
    discount_code: Option<String>,
    #[serde(flatten)]
    totals: Totals,
    status: CartStatus,
    version: u64,
}

/// A shipping address as an order keeps it.
#[derive(ToSchema)]
pub(crate) struct Address {
    full_name: String,
    line1: String,
    line2: Option<String>,
    city: String,
    region: Option<String>,
    postal_code: String,
    #[schema(example = "GB")]
    country: String,
    phone: Option<String>,
}

/// How an order is paid.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PaymentMethod {
    Card,
    CashOnDelivery,
}

/// A card network.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CardBrand {
    Visa,
    Mastercard,
    Amex,
    Discover,
    Jcb,
    DinersClub,
    UnionPay,
    Unknown,
}

/// Where the money is.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PaymentStatus {
    /// Nothing taken yet (cash on delivery).
    Pending,
    /// The customer must act (`next_action`) before it is authorised.
    RequiresAction,
    /// Held, not yet taken.
    Authorized,
    /// Taken (all or part of what was authorised).
    Captured,
    /// Part of what was captured was given back.
    PartiallyRefunded,
    /// Everything captured was given back.
    Refunded,
    /// The authorisation was released; nothing was taken.
    Voided,
    /// The authorisation or the customer's action failed.
    Failed,
}

/// What the customer must do before the payment can be authorised.
#[derive(ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum NextAction {
    /// Send the customer's browser to `url` (their bank's page).
    Redirect {
        /// Where to send the customer.
        url: String,
    },
    /// Let the provider's client library complete it with `client_secret`.
    UseSdk {
        /// For the provider's client library in the customer's browser.
        client_secret: String,
    },
}

/// An order's payment: never the card number, only brand and last four
/// digits. Amounts are money strings in the order's currency.
#[derive(ToSchema)]
pub(crate) struct Payment {
    method: PaymentMethod,
    brand: Option<CardBrand>,
    last4: Option<String>,
    status: PaymentStatus,
    /// How much is authorised (held, or since taken).
    #[schema(example = "24.99")]
    authorized: String,
    /// How much was taken.
    #[schema(example = "24.99")]
    captured: String,
    /// How much was given back.
    #[schema(example = "0.00")]
    refunded: String,
    /// While `status` is `requires_action`: what the customer must do
    /// (then `POST /orders/{id}/payment/confirm`); otherwise `null`.
    next_action: Option<NextAction>,
}

/// An order: a snapshot of the cart, prices and address at checkout.
#[derive(ToSchema)]
pub(crate) struct Order {
    id: String,
    /// The human-facing number, as a string.
    number: String,
    status: OrderStatus,
    currency: String,
    email: String,
    lines: Vec<Line>,
    #[serde(flatten)]
    totals: Totals,
    discount_code: Option<String>,
    shipping_address: Address,
    shipping_method: String,
    payment: Payment,
    /// The last fulfilment's tracking number.
    tracking_number: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    version: u64,
    /// Its fulfilments, oldest first.
    fulfilments: Vec<Fulfilment>,
    /// Its returns, oldest first.
    returns: Vec<Return>,
    /// Its refunds (pending and succeeded), oldest first.
    refunds: Vec<Refund>,
    /// Its notes, oldest first: all of them for staff, only those
    /// `visible_to_customer` for the customer.
    notes: Vec<OrderNote>,
    fulfilment_status: FulfilmentState,
    /// What its succeeded refunds add up to.
    #[schema(example = "0.00")]
    refunded_total: String,
    /// Only in the answer to a guest's checkout, shown that once: send it
    /// as `X-Order-Token` (websocket: `?order_token=`) to open the order.
    order_token: Option<String>,
}

/// What an event records.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum EventKind {
    /// The order was placed (`from` is `null`) or its status moved.
    StatusChanged,
    /// The payment changed (`data` is the payment); `from` and `to` differ
    /// when that moved the order too (`awaiting_payment` to `paid`).
    PaymentUpdated,
    /// Units were handed to a carrier (`data` is the fulfilment).
    FulfilmentCreated,
    /// A fulfilment was delivered (`data` is the fulfilment).
    FulfilmentDelivered,
    /// A return was requested or moved on (`data` is the return).
    ReturnUpdated,
    /// A refund was asked for (`data` is the refund, `pending`).
    RefundCreated,
    /// A refund went through (`succeeded`) or the provider refused it
    /// (`failed`; `data` is the refund).
    RefundUpdated,
    /// A note was added (`data` is the note); customers get only those of
    /// notes `visible_to_customer`.
    NoteAdded,
}

/// One change of an order: its status, its payment, a fulfilment, a
/// return, a refund, a note. Ids sort as strings in event order.
#[derive(ToSchema)]
pub(crate) struct OrderEvent {
    #[schema(example = "00000000000000000001")]
    id: String,
    order_id: String,
    #[serde(rename = "type")]
    kind: EventKind,
    /// `null` for the order's creation.
    from: Option<OrderStatus>,
    to: OrderStatus,
    #[schema(format = DateTime)]
    at: String,
    /// `customer:ID`, `staff:ID` or `system`.
    actor: String,
    note: Option<String>,
    /// The record the change made or moved, by `type`; `null` for a plain
    /// status change.
    data: Option<EventData>,
}

/// What the engine did with a provider's webhook.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WebhookOutcome {
    /// Acted on: the order is as the provider has the payment now.
    Applied,
    /// This event id was acted on before: nothing was done.
    Duplicate,
    /// About no order of this shop, or an event not followed.
    Ignored,
}

/// The answer to a provider's webhook.
#[derive(ToSchema)]
pub(crate) struct WebhookReceipt {
    outcome: WebhookOutcome,
}

/// What a discount takes off.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DiscountKind {
    Percent,
    Fixed,
}

/// A discount code.
#[derive(ToSchema)]
pub(crate) struct Discount {
    code: String,
    kind: DiscountKind,
    /// A percentage (`"10"`) or an amount (`"5.00"`).
    value: String,
    min_subtotal: Option<String>,
    max_uses: Option<u32>,
    uses: u32,
    /// How many orders of one customer may use it (a guest counted by the
    /// order's email); null is unlimited.
    max_uses_per_customer: Option<u32>,
    /// `false` while staff have disabled it: refused when applied and at
    /// checkout.
    active: bool,
    #[schema(format = DateTime)]
    expires_at: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
}

/// A page of products, newest first.
#[derive(ToSchema)]
pub(crate) struct ProductList {
    items: Vec<Product>,
    next_cursor: Option<String>,
}

/// A page of orders, newest first.
#[derive(ToSchema)]
pub(crate) struct OrderList {
    items: Vec<Order>,
    next_cursor: Option<String>,
}

/// A page of discount codes, newest first.
#[derive(ToSchema)]
pub(crate) struct DiscountList {
    items: Vec<Discount>,
    next_cursor: Option<String>,
}

/// An order's events, oldest first.
#[derive(ToSchema)]
pub(crate) struct EventList {
    items: Vec<OrderEvent>,
}

/// The health check.
#[derive(ToSchema)]
pub(crate) struct Health {
    #[schema(example = "ok")]
    status: String,
}

/// An RFC 9457 problem document (`application/problem+json`). Extension
/// members may follow: `product_ids` (insufficient stock), `total` and
/// `currency` (price changed), `field` (duplicate), `current` (stale).
#[derive(ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    kind: String,
    title: String,
    status: u16,
    detail: Option<String>,
    /// Stable and machine-readable: `validation`, `insufficient_stock`, ...
    code: String,
    /// On 422: dotted field path to messages.
    errors: Option<BTreeMap<String, Vec<String>>>,
    /// `insufficient_stock`, `product_unavailable`: the products concerned.
    product_ids: Option<Vec<String>>,
    /// `price_changed`: the new total, and its currency.
    total: Option<String>,
    currency: Option<String>,
    /// `duplicate`: which unique value is taken (`sku`, `code`).
    field: Option<String>,
    /// `currency_mismatch`: the cart's and the product's currencies.
    cart_currency: Option<String>,
    product_currency: Option<String>,
    /// `stale`: the product as stored now, with its current `version`.
    current: Option<Product>,
}

/// A frame of a tracking websocket: a snapshot (first, order feeds only),
/// then one event per change.
#[derive(ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum TrackMessage {
    /// The order as it is now.
    Snapshot {
        /// The order.
        order: Box<Order>,
    },
    /// A later change.
    Event {
        /// The event.
        event: Box<OrderEvent>,
    },
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "cart_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Cart-Token",
                "A guest cart's token, from `POST /carts` without credentials",
            ))),
        );
        components.add_security_scheme(
            "order_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Order-Token",
                "A guest order's token, from its checkout",
            ))),
        );
    }
}

/// The library's routes, relative to where the router is mounted.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "orders",
        description = "Products, carts, checkout and the order lifecycle, with live tracking."
    ),
    paths(
        public::health,
        public::openapi_json,
        public::list_products,
        public::get_product,
        carts::create_cart,
        guests::current_cart,
        carts::get_cart,
        carts::add_item,
        carts::set_item,
        carts::remove_item,
        carts::apply_discount,
        carts::remove_discount,
        carts::checkout,
        guests::claim_cart,
        orders::list_orders,
        orders::get_order,
        orders::order_events,
        orders::cancel,
        payments::confirm_payment,
        payments::payment_webhook,
        ws::track,
        admin::list_products,
        admin::create_product,
        admin::get_product,
        admin::patch_product,
        admin::list_orders,
        admin::get_order,
        admin::order_events,
        admin::transition,
        aftersale::create_fulfilment,
        aftersale::fulfilment_delivered,
        aftersale::request_return,
        aftersale::approve_return,
        aftersale::reject_return,
        aftersale::receive_return,
        aftersale::create_refund,
        aftersale::add_note,
        admin::list_discounts,
        admin::create_discount,
        admin::switch_discount,
        webhooks::create_webhook,
        webhooks::list_webhooks,
        webhooks::delete_webhook,
        webhooks::list_deliveries,
        webhooks::retry_delivery,
        ws::stream,
    ),
    components(schemas(
        Problem, Health, Product, ProductImage, ImageVariant, ProductList, Cart, Line, Totals, Order, OrderList, OrderEvent, EventList,
        Discount, DiscountList, TrackMessage, Payment, NextAction, EventKind, WebhookReceipt, StatusFilter, CountryCode, SearchQuery, IdempotencyKey,
        WebhookInfo, CreatedWebhook, WebhookList, WebhookDelivery, DeliveryList,
        NewCart, ClaimedCart, MergeWarning, MergeWarningReason,
        ItemLine, Fulfilment, FulfilmentStatus, FulfilmentState, Return, ReturnStatus, Refund, RefundStatus, OrderNote, EventData,
    )),
    modifiers(&Security),
    tags(
        (name = "public", description = "No token needed"),
        (name = "carts", description = "The caller's carts and checkout; a guest's with `X-Cart-Token`"),
        (name = "orders", description = "The caller's orders; a guest's with `X-Order-Token`"),
        (name = "admin", description = "Staff only"),
        (name = "payments", description = "The payment provider's webhooks (no token: signed by the provider)"),
    )
)]
pub(crate) struct ApiDoc;
