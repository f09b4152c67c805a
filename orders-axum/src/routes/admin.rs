//! Staff routes: the catalogue, every order, transitions, discount codes.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use orders_core::Access;
use orders_core::catalogue::{NewProductForm, Product, ProductEditForm, VersionPolicy};
use orders_core::discount::{Discount, DiscountSwitchForm, NewDiscountForm};
use orders_core::ids::{OrderId, ProductId};
use orders_core::money::Currency;
use orders_core::order::{Actor, Order, TransitionForm};
use orders_core::ports::{OrderFilter, Page};
use orders_core::validation::ValidationErrors;

use super::orders::Events;
use super::{AppState, path_id};
use crate::ApiError;
use crate::body::JsonBody;
use crate::identify::Staff;
use crate::query::{Params, finish};

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
    let product = body
        .validate(NewProductForm::validate)
        .map_err(ApiError::validation)?;
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
    let currency = if body.form.price.is_some() {
        // The price is in the product's own currency.
        state.orders.product(&id).await?.currency()
    } else {
        Currency::USD
    };
    let edit = body
        .validate(|form| form.validate(currency, VersionPolicy::ForStockCount))
        .map_err(ApiError::validation)?;
    Ok(Json(state.orders.update_product(&id, edit).await?))
}

/// Every order, newest first, filtered.
#[utoipa::path(
    get, path = "/admin/orders", operation_id = "admin_list_orders", tag = "admin", security(("bearer" = [])),
    params(
        ("status" = Option<crate::docs::StatusFilter>, Query, description = "Only orders in this status"),
        ("email" = Option<crate::docs::SearchQuery>, Query, description = "Only orders with this email (exact, case-insensitive)"),
        ("q" = Option<crate::docs::SearchQuery>, Query, description = "Order number, or part of an email"),
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

/// Moves an order through the status table.
#[utoipa::path(
    post, path = "/admin/orders/{id}/transition", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Order id")),
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
    JsonBody(body): JsonBody<TransitionForm>,
) -> Result<Json<Order>, ApiError> {
    let id: OrderId = path_id(&id)?;
    let transition = body
        .validate(TransitionForm::validate)
        .map_err(ApiError::validation)?;
    let order = state
        .orders
        .transition(Actor::staff(&caller.id), &id, transition)
        .await?;
    Ok(Json(order))
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

/// Creates a discount code.
#[utoipa::path(
    post, path = "/admin/discounts", tag = "admin", security(("bearer" = [])),
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
    JsonBody(body): JsonBody<NewDiscountForm>,
) -> Result<(StatusCode, Json<Discount>), ApiError> {
    let (currency, now) = (
        state.orders.config().default_currency,
        state.orders.clock().now(),
    );
    let discount = body
        .validate(|form| form.validate(currency, now))
        .map_err(ApiError::validation)?;
    let discount = state.orders.create_discount(discount).await?;
    Ok((StatusCode::CREATED, Json(discount)))
}

/// Disables or enables again a discount code.
///
/// `{"active": false}`: the code is refused when applied and at checkout,
/// its uses kept; `{"active": true}`: it applies again.
#[utoipa::path(
    patch, path = "/admin/discounts/{code}", tag = "admin", security(("bearer" = [])),
    params(("code" = String, Path, description = "The code, any case")),
    responses(
        (status = 200, description = "The discount", body = crate::docs::Discount),
        (status = 400, description = "Not a JSON object", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such code", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`active` missing or not a boolean", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn switch_discount(
    State(state): State<AppState>,
    _staff: Staff,
    Path(code): Path<String>,
    JsonBody(body): JsonBody<DiscountSwitchForm>,
) -> Result<Json<Discount>, ApiError> {
    let active = body
        .validate(DiscountSwitchForm::validate)
        .map_err(ApiError::validation)?;
    Ok(Json(state.orders.set_discount_active(&code, active).await?))
}
