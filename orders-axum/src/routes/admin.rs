//! Staff routes: the catalogue, every order, transitions, discount codes.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use orders_core::Access;
use orders_core::catalogue::{NewProductForm, Product, ProductEditForm, VersionPolicy};
use orders_core::discount::{Discount, DiscountCode, DiscountKind};
use orders_core::ids::{OrderId, ProductId};
use orders_core::money::{Currency, Money};
use orders_core::order::{Actor, Note, Order, OrderStatus, TrackingNumber, Transition};
use orders_core::ports::{OrderFilter, Page};
use orders_core::validation::ValidationErrors;
use serde::Deserialize;
use utoipa::ToSchema;

use super::orders::Events;
use super::{AppState, path_id};
use crate::ApiError;
use crate::body::{FieldSpec, JsonBody, JsonType, RequestBody};
use crate::identify::Staff;
use crate::query::{Params, finish};

impl RequestBody for NewProductForm {
    const FIELDS: &'static [FieldSpec] = &[
        FieldSpec::required("sku", JsonType::String),
        FieldSpec::required("name", JsonType::String),
        FieldSpec::optional("description", JsonType::String),
        FieldSpec::required("price", JsonType::String),
        FieldSpec::required("currency", JsonType::String),
        FieldSpec::required("stock", JsonType::Integer),
        FieldSpec::optional("active", JsonType::Boolean),
        FieldSpec::optional("tax_class", JsonType::String),
    ];
}

impl RequestBody for ProductEditForm {
    const FIELDS: &'static [FieldSpec] = &[
        FieldSpec::optional("version", JsonType::Integer),
        FieldSpec::optional("name", JsonType::String),
        FieldSpec::optional("description", JsonType::String),
        FieldSpec::optional("price", JsonType::String),
        FieldSpec::optional("stock", JsonType::Integer),
        FieldSpec::optional("stock_adjustment", JsonType::Integer),
        FieldSpec::optional("active", JsonType::Boolean),
        FieldSpec::optional("tax_class", JsonType::String),
    ];
}

/// `POST /admin/orders/{id}/transition`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct TransitionOrder {
    #[schema(value_type = crate::docs::OrderStatus)]
    pub(crate) to: String,
    pub(crate) note: Option<String>,
    /// Required to ship.
    pub(crate) tracking_number: Option<String>,
}

impl RequestBody for TransitionOrder {
    const FIELDS: &'static [FieldSpec] = &[
        FieldSpec::required("to", JsonType::String),
        FieldSpec::optional("note", JsonType::String),
        FieldSpec::optional("tracking_number", JsonType::String),
    ];
}

/// `POST /admin/discounts`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct CreateDiscount {
    #[schema(example = "WELCOME10")]
    pub(crate) code: String,
    #[schema(value_type = crate::docs::DiscountKind)]
    pub(crate) kind: String,
    /// `"10"` with `percent` is 10 %; an amount with `fixed`.
    #[schema(example = "10")]
    pub(crate) value: String,
    /// The currency of `value` (fixed) and `min_subtotal`; default: the store's.
    pub(crate) currency: Option<String>,
    pub(crate) min_subtotal: Option<String>,
    #[schema(minimum = 1)]
    pub(crate) max_uses: Option<i64>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub(crate) expires_at: Option<String>,
}

impl RequestBody for CreateDiscount {
    const FIELDS: &'static [FieldSpec] = &[
        FieldSpec::required("code", JsonType::String),
        FieldSpec::required("kind", JsonType::String),
        FieldSpec::required("value", JsonType::String),
        FieldSpec::optional("currency", JsonType::String),
        FieldSpec::optional("min_subtotal", JsonType::String),
        FieldSpec::optional("max_uses", JsonType::Integer),
        FieldSpec::optional("expires_at", JsonType::String),
    ];
}

/// Every product, active or not, newest first.
#[utoipa::path(
    get, path = "/admin/products", operation_id = "admin_list_products", tag = "admin", security(("bearer" = [])),
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1 to 100, default 20"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of products", body = crate::docs::ProductList),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad `limit` or `cursor`", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_products(
    State(state): State<AppState>,
    _staff: Staff,
    params: Params,
) -> Result<Json<Page<Product>>, ApiError> {
    let page = params.page_only()?;
    Ok(Json(state.orders.list_products(false, &page).await?))
}

/// Adds a product.
#[utoipa::path(
    post, path = "/admin/products", tag = "admin", security(("bearer" = [])),
    request_body = crate::docs::CreateProduct,
    responses(
        (status = 201, description = "The product", body = crate::docs::Product),
        (status = 400, description = "Not a JSON object", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`duplicate`: the SKU is taken", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (negative stock or price, bad SKU, ...)", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_product(
    State(state): State<AppState>,
    _staff: Staff,
    JsonBody(body): JsonBody<NewProductForm>,
) -> Result<(StatusCode, Json<Product>), ApiError> {
    let product = body.validate().map_err(ApiError::validation)?;
    let product = state.orders.create_product(product).await?;
    Ok((StatusCode::CREATED, Json(product)))
}

/// One product, active or not.
#[utoipa::path(
    get, path = "/admin/products/{id}", operation_id = "admin_get_product", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Product id")),
    responses(
        (status = 200, description = "The product", body = crate::docs::Product),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_product(
    State(state): State<AppState>,
    _staff: Staff,
    Path(id): Path<String>,
) -> Result<Json<Product>, ApiError> {
    let id: ProductId = path_id(&id)?;
    Ok(Json(state.orders.product(&id).await?))
}

/// Changes a product.
#[utoipa::path(
    patch, path = "/admin/products/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Product id")),
    request_body = crate::docs::PatchProduct,
    responses(
        (status = 200, description = "The product", body = crate::docs::Product),
        (status = 400, description = "Not a JSON object", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`stale`: the product changed since `version` (a staff edit, a sale, a cancellation); nothing was saved; `current` holds it as stored now", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields; `stock` without `version`; `stock` with `stock_adjustment`; an adjustment below zero stock", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn patch_product(
    State(state): State<AppState>,
    _staff: Staff,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ProductEditForm>,
) -> Result<Json<Product>, ApiError> {
    let id: ProductId = path_id(&id)?;
    let currency = if body.price.is_some() {
        // The price is in the product's own currency.
        state.orders.product(&id).await?.currency
    } else {
        Currency::USD
    };
    let edit = body
        .validate(currency, VersionPolicy::ForStockCount)
        .map_err(ApiError::validation)?;
    Ok(Json(state.orders.update_product(&id, edit).await?))
}

/// Every order, newest first, filtered.
#[utoipa::path(
    get, path = "/admin/orders", operation_id = "admin_list_orders", tag = "admin", security(("bearer" = [])),
    params(
        ("status" = Option<crate::docs::OrderStatus>, Query, description = "Only orders in this status"),
        ("email" = Option<String>, Query, description = "Only orders with this email (exact, case-insensitive)"),
        ("q" = Option<String>, Query, description = "Order number, or part of an email"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1 to 100, default 20"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of orders", body = crate::docs::OrderList),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad `status`, `limit`, `cursor`, `email` or `q` (a control character, over 200 characters)", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_orders(
    State(state): State<AppState>,
    _staff: Staff,
    params: Params,
) -> Result<Json<Page<Order>>, ApiError> {
    let mut errors = ValidationErrors::new();
    let filter = OrderFilter {
        customer_id: None,
        status: params.status(&mut errors),
        email: params.search("email", &mut errors).map(String::from),
        search: params.search("q", &mut errors).map(String::from),
    };
    let page = params.page(&mut errors);
    let (filter, page) = finish(errors, (filter, page))?;
    Ok(Json(
        state
            .orders
            .list_orders(Access::Staff, &filter, &page)
            .await?,
    ))
}

/// Any order.
#[utoipa::path(
    get, path = "/admin/orders/{id}", operation_id = "admin_get_order", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Order id")),
    responses(
        (status = 200, description = "The order", body = crate::docs::Order),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_order(
    State(state): State<AppState>,
    _staff: Staff,
    Path(id): Path<String>,
) -> Result<Json<Order>, ApiError> {
    let id: OrderId = path_id(&id)?;
    Ok(Json(state.orders.order(Access::Staff, &id).await?))
}

/// Any order's events, oldest first.
#[utoipa::path(
    get, path = "/admin/orders/{id}/events", operation_id = "admin_order_events", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Order id")),
    responses(
        (status = 200, description = "Its events", body = crate::docs::EventList),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn order_events(
    State(state): State<AppState>,
    _staff: Staff,
    Path(id): Path<String>,
) -> Result<Json<Events>, ApiError> {
    let id: OrderId = path_id(&id)?;
    let items = state.orders.order_events(Access::Staff, &id).await?;
    Ok(Json(Events { items }))
}

/// The move `body` asks for, or every bad field (an unknown `to`, a bad
/// note or tracking number; blank ones count as absent). Whether the move
/// is legal is the core's to say. Shared with the admin panel.
pub(crate) fn transition_of(body: TransitionOrder) -> Result<Transition, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let to = errors.check("to", body.to.parse::<OrderStatus>());
    let note = non_blank(body.note).and_then(|t| errors.check("note", Note::parse(&t)));
    let tracking_number = non_blank(body.tracking_number)
        .and_then(|t| errors.check("tracking_number", TrackingNumber::parse(&t)));
    match (errors.is_empty(), to) {
        (true, Some(to)) => Ok(Transition {
            to,
            note,
            tracking_number,
        }),
        _ => Err(errors),
    }
}

/// Moves an order through the status table.
#[utoipa::path(
    post, path = "/admin/orders/{id}/transition", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Order id")),
    request_body = TransitionOrder,
    responses(
        (status = 200, description = "The order", body = crate::docs::Order),
        (status = 400, description = "Not a JSON object", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition`, `transition_refused` or `concurrent_update`", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown `to`, bad `note`, or `tracking_number` missing to ship", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 502, description = "The refund failed at the payment provider", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn transition(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<TransitionOrder>,
) -> Result<Json<Order>, ApiError> {
    let id: OrderId = path_id(&id)?;
    let transition = transition_of(body).map_err(ApiError::validation)?;
    let order = state
        .orders
        .transition(Actor::staff(&caller.id), &id, transition)
        .await?;
    Ok(Json(order))
}

fn non_blank(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.trim().is_empty())
}

/// Discount codes, newest first.
#[utoipa::path(
    get, path = "/admin/discounts", tag = "admin", security(("bearer" = [])),
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1 to 100, default 20"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of discount codes", body = crate::docs::DiscountList),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad `limit` or `cursor`", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_discounts(
    State(state): State<AppState>,
    _staff: Staff,
    params: Params,
) -> Result<Json<Page<Discount>>, ApiError> {
    let page = params.page_only()?;
    Ok(Json(state.orders.list_discounts(&page).await?))
}

/// The discount `body` describes (amounts in `currency`, default
/// `default_currency`; created `now`), or every bad field. Shared with the
/// admin panel.
pub(crate) fn discount_of(
    body: &CreateDiscount,
    default_currency: Currency,
    now: DateTime<Utc>,
) -> Result<Discount, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let code = errors.check("code", DiscountCode::parse(&body.code));
    let currency = match &body.currency {
        Some(text) => errors.check("currency", Currency::parse(text)),
        None => Some(default_currency),
    };
    let currency_or_default = currency.unwrap_or(default_currency);
    let kind = match body.kind.as_str() {
        "percent" => errors.check("value", DiscountKind::percent(&body.value)),
        "fixed" => errors.check(
            "value",
            DiscountKind::fixed(&body.value, currency_or_default),
        ),
        _ => {
            errors.add("kind", "must be one of: percent, fixed");
            None
        }
    };
    let min_subtotal = body
        .min_subtotal
        .as_deref()
        .and_then(|t| errors.check("min_subtotal", Money::parse_price(t, currency_or_default)));
    let max_uses = body.max_uses.and_then(|n| {
        errors.check(
            "max_uses",
            u32::try_from(n)
                .ok()
                .filter(|n| *n >= 1)
                .ok_or("must be a positive integer"),
        )
    });
    let expires_at = body.expires_at.as_deref().and_then(|t| {
        errors.check(
            "expires_at",
            DateTime::parse_from_rfc3339(t)
                .map(|at| at.with_timezone(&Utc))
                .map_err(|_| "must be an RFC 3339 date-time"),
        )
    });
    if !errors.is_empty() {
        return Err(errors);
    }
    let (Some(code), Some(kind)) = (code, kind) else {
        return Err(ValidationErrors::single("", "checked fields missing"));
    };
    let mut discount = Discount::new(code, kind, now);
    discount.min_subtotal = min_subtotal;
    discount.max_uses = max_uses;
    discount.expires_at = expires_at;
    Ok(discount)
}

/// Creates a discount code.
#[utoipa::path(
    post, path = "/admin/discounts", tag = "admin", security(("bearer" = [])),
    request_body = CreateDiscount,
    responses(
        (status = 201, description = "The discount", body = crate::docs::Discount),
        (status = 400, description = "Not a JSON object", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`duplicate`: the code exists", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_discount(
    State(state): State<AppState>,
    _staff: Staff,
    JsonBody(body): JsonBody<CreateDiscount>,
) -> Result<(StatusCode, Json<Discount>), ApiError> {
    let discount = discount_of(
        &body,
        state.orders.config().default_currency,
        state.orders.clock().now(),
    )
    .map_err(ApiError::validation)?;
    let discount = state.orders.create_discount(discount).await?;
    Ok((StatusCode::CREATED, Json(discount)))
}
