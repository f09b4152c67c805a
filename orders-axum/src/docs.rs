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

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::routes::{admin, carts, orders, public, webhooks, ws};

/// An order status.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OrderStatus {
    Pending,
    Paid,
    Processing,
    Shipped,
    Delivered,
    Cancelled,
    Refunded,
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
    Pending,
    Captured,
    Refunded,
}

/// An order's payment: never the card number, only brand and last four digits.
#[derive(ToSchema)]
pub(crate) struct Payment {
    method: PaymentMethod,
    brand: Option<CardBrand>,
    last4: Option<String>,
    status: PaymentStatus,
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
    tracking_number: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    version: u64,
}

/// One change of an order's status. Ids sort as strings in event order.
#[derive(ToSchema)]
pub(crate) struct OrderEvent {
    #[schema(example = "00000000000000000001")]
    id: String,
    order_id: String,
    /// `null` for the order's creation.
    from: Option<OrderStatus>,
    to: OrderStatus,
    #[schema(format = DateTime)]
    at: String,
    /// `customer:ID`, `staff:ID` or `system`.
    actor: String,
    note: Option<String>,
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

/// A webhook endpoint, without its secret.
#[derive(ToSchema)]
pub(crate) struct WebhookInfo {
    id: String,
    url: String,
    /// Event type names (`order.created`, ...) or `["*"]`.
    events: Vec<String>,
    #[schema(format = DateTime)]
    created_at: String,
}

/// A webhook just created, with its signing secret (shown this once).
#[derive(ToSchema)]
pub(crate) struct CreatedWebhook {
    id: String,
    url: String,
    events: Vec<String>,
    #[schema(format = DateTime)]
    created_at: String,
    /// Signs every delivery: `Orders-Signature: t=UNIX_SECONDS,v1=HEX(HMAC_SHA256(secret, "t.body"))`.
    secret: String,
}

/// The webhooks, newest first.
#[derive(ToSchema)]
pub(crate) struct WebhookList {
    items: Vec<WebhookInfo>,
    next_cursor: Option<String>,
}

/// Where a delivery stands.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum DeliveryStatus {
    Pending,
    Delivered,
    Dead,
}

/// One event's delivery to one webhook.
#[derive(ToSchema)]
pub(crate) struct WebhookDelivery {
    /// Stable over every attempt: the body's `id`.
    id: String,
    webhook_id: String,
    event_id: String,
    order_id: String,
    status: DeliveryStatus,
    attempts: u32,
    /// Failures in a row in the current retry window.
    failures: u32,
    /// When it is due (pending), or was last tried.
    #[schema(format = DateTime)]
    next_attempt_at: String,
    /// When its retry window opened.
    #[schema(format = DateTime)]
    since: String,
    last_error: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    delivered_at: Option<String>,
}

/// A page of deliveries, newest event first.
#[derive(ToSchema)]
pub(crate) struct DeliveryList {
    items: Vec<WebhookDelivery>,
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
        event: OrderEvent,
    },
}

/// A string schema of `values`, described by `description`.
fn string_enum<'a>(
    description: &str,
    values: impl IntoIterator<Item = &'a str>,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some(description))
        .enum_values(Some(values.into_iter().map(serde_json::Value::from)))
        .into()
}

/// `?status=`: an order status, or empty for every status (as the
/// panel's filter sends it).
pub(crate) struct StatusFilter;

impl utoipa::PartialSchema for StatusFilter {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        string_enum(
            "An order status; empty is every status.",
            std::iter::once("").chain(orders_core::order::OrderStatus::NAMES),
        )
    }
}

impl ToSchema for StatusFilter {}

/// `?country=`: an ISO 3166-1 alpha-2 code, or empty for the default.
pub(crate) struct CountryCode;

impl utoipa::PartialSchema for CountryCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let codes = orders_core::checkout::Country::all().map(orders_core::checkout::Country::code);
        string_enum(
            "An ISO 3166-1 alpha-2 country code; empty is the shop's default.",
            std::iter::once("").chain(codes),
        )
    }
}

impl ToSchema for CountryCode {}

/// `?email=` and `?q=`: search text; blank is no search.
pub(crate) struct SearchQuery;

impl utoipa::PartialSchema for SearchQuery {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use orders_core::text::{BLANK_LINE_PATTERN, SearchText};
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("Search text; blank is no search."))
            .max_length(Some(SearchText::MAX_CHARS))
            .pattern(Some(BLANK_LINE_PATTERN))
            .into()
    }
}

impl ToSchema for SearchQuery {}

/// The `Idempotency-Key` header: 1 to [`orders_core::MAX_IDEMPOTENCY_KEY`]
/// visible ASCII characters (what an HTTP header carries as text), not
/// only spaces.
pub(crate) struct IdempotencyKey;

impl utoipa::PartialSchema for IdempotencyKey {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("A client's key for one checkout."))
            .min_length(Some(1))
            .max_length(Some(orders_core::MAX_IDEMPOTENCY_KEY))
            .pattern(Some("^[ -~]*[!-~][ -~]*$"))
            .into()
    }
}

impl ToSchema for IdempotencyKey {}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
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
        carts::get_cart,
        carts::add_item,
        carts::set_item,
        carts::remove_item,
        carts::apply_discount,
        carts::remove_discount,
        carts::checkout,
        orders::list_orders,
        orders::get_order,
        orders::order_events,
        orders::cancel,
        ws::track,
        admin::list_products,
        admin::create_product,
        admin::get_product,
        admin::patch_product,
        admin::list_orders,
        admin::get_order,
        admin::order_events,
        admin::transition,
        admin::list_discounts,
        admin::create_discount,
        webhooks::create_webhook,
        webhooks::list_webhooks,
        webhooks::delete_webhook,
        webhooks::list_deliveries,
        webhooks::retry_delivery,
        ws::stream,
    ),
    components(schemas(
        Problem, Health, Product, ProductList, Cart, Line, Totals, Order, OrderList, OrderEvent, EventList,
        Discount, DiscountList, TrackMessage, StatusFilter, CountryCode, SearchQuery, IdempotencyKey,
        WebhookInfo, CreatedWebhook, WebhookList, WebhookDelivery, DeliveryList,
    )),
    modifiers(&Security),
    tags(
        (name = "public", description = "No token needed"),
        (name = "carts", description = "The caller's carts and checkout"),
        (name = "orders", description = "The caller's orders"),
        (name = "admin", description = "Staff only"),
    )
)]
pub(crate) struct ApiDoc;
