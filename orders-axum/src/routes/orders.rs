//! The caller's orders. Staff callers may read any order here (API.md's
//! tracking route is "owner or staff"); their history and cancellations
//! are their own.

use axum::Json;
use axum::extract::{Path, State};
use orders_core::Access;
use orders_core::ids::OrderId;
use orders_core::order::{CancelForm, Order, OrderEvent};
use orders_core::ports::{OrderFilter, Page};
use orders_core::validation::ValidationErrors;
use serde::Serialize;

use super::{AppState, path_id};
use crate::ApiError;
use crate::body::OptionalJsonBody;
use crate::guests::OrderCaller;
use crate::identify::{Caller, Customer};
use crate::query::{Params, finish};

/// `{"items": [...]}`, oldest first.
#[derive(Debug, Serialize)]
pub(crate) struct Events {
    pub(crate) items: Vec<OrderEvent>,
}

/// How `caller` may see orders on the customer routes.
pub(crate) fn access(caller: &Caller) -> Access<'_> {
    if caller.is_staff {
        Access::Staff
    } else {
        Access::Owner(&caller.id)
    }
}

/// The caller's order history, newest first.
#[utoipa::path(
    get, path = "/orders", tag = "orders", security(("bearer" = [])),
    params(
        ("status" = Option<crate::docs::StatusFilter>, Query, description = "Only orders in this status"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1 to 100, default 20"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of the caller's orders", body = crate::docs::OrderList),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad `status`, `limit` or `cursor`", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_orders(
    State(state): State<AppState>,
    Customer(caller): Customer,
    params: Params,
) -> Result<Json<Page<Order>>, ApiError> {
    let mut errors = ValidationErrors::new();
    let filter = OrderFilter {
        status: params.status(&mut errors),
        ..OrderFilter::default()
    };
    let page = params.page(&mut errors);
    let (filter, page) = finish(errors, (filter, page))?;
    // The caller's own history, staff included.
    let access = Access::Owner(&caller.id);
    Ok(Json(
        state.orders.list_orders(access, &filter, &page).await?,
    ))
}

/// One order.
#[utoipa::path(
    get, path = "/orders/{id}", tag = "orders", security(("bearer" = []), ("order_token" = [])),
    params(("id" = String, Path, description = "Order id")),
    responses(
        (status = 200, description = "The order", body = crate::docs::Order),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown or not yours", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_order(
    State(state): State<AppState>,
    OrderCaller(caller): OrderCaller,
    Path(id): Path<String>,
) -> Result<Json<Order>, ApiError> {
    let id: OrderId = path_id(&id)?;
    Ok(Json(state.orders.order(access(&caller), &id).await?))
}

/// The order's events, oldest first.
#[utoipa::path(
    get, path = "/orders/{id}/events", tag = "orders", security(("bearer" = []), ("order_token" = [])),
    params(("id" = String, Path, description = "Order id")),
    responses(
        (status = 200, description = "Its events", body = crate::docs::EventList),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown or not yours", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn order_events(
    State(state): State<AppState>,
    OrderCaller(caller): OrderCaller,
    Path(id): Path<String>,
) -> Result<Json<Events>, ApiError> {
    let id: OrderId = path_id(&id)?;
    let items = state.orders.order_events(access(&caller), &id).await?;
    Ok(Json(Events { items }))
}

/// Cancels the caller's order (from `pending`, `paid` or `processing`).
#[utoipa::path(
    post, path = "/orders/{id}/cancel", tag = "orders", security(("bearer" = []), ("order_token" = [])),
    params(("id" = String, Path, description = "Order id")),
    responses(
        (status = 200, description = "The cancelled order", body = crate::docs::Order),
        (status = 400, description = "Not a JSON object", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown or not yours", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition`: not cancellable from its status", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad `note`", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    OrderCaller(caller): OrderCaller,
    Path(id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<CancelForm>,
) -> Result<Json<Order>, ApiError> {
    let id: OrderId = path_id(&id)?;
    let note = body
        .validate(CancelForm::validate)
        .map_err(ApiError::validation)?;
    Ok(Json(state.orders.cancel(&caller.id, &id, note).await?))
}
