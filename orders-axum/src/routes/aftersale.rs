//! After the sale: fulfilments, returns, refunds and notes (API.md's
//! "Fulfilments", "Returns and refunds" and "Notes"). Each handler reads
//! the core's form, calls one method of [`orders_core::Orders`] and
//! answers with the record it made or moved; the order it belongs to
//! carries it too (`GET /orders/{id}`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use orders_core::Access;
use orders_core::ids::{FulfilmentId, OrderId, ReturnId};
use orders_core::order::{
    Actor, Fulfilment, FulfilmentForm, NoteForm, OrderNote, ReceiveForm, Refund, RefundForm,
    RejectForm, Return, ReturnForm, ReturnMove,
};

use super::{AppState, path_id};
use crate::ApiError;
use crate::body::JsonBody;
use crate::identify::{Customer, Staff};

/// Ships some units of an order.
#[utoipa::path(
    post, path = "/admin/orders/{id}/fulfilments", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Order id")),
    responses(
        (status = 201, description = "The fulfilment; the order is now `partially_shipped` or `shipped`", body = crate::docs::Fulfilment),
        (status = 400, description = "Not a JSON object", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition` (not `paid`, `processing` or `partially_shipped`), `transition_refused` or `concurrent_update`", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields; on `lines`: a product not in the order, or more than is left unshipped", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_fulfilment(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<FulfilmentForm>,
) -> Result<(StatusCode, Json<Fulfilment>), ApiError> {
    let id: OrderId = path_id(&id)?;
    let request = body
        .validate(FulfilmentForm::validate)
        .map_err(ApiError::validation)?;
    let (_, fulfilment) = state
        .orders
        .create_fulfilment(Actor::staff(&caller.id), &id, request)
        .await?;
    Ok((StatusCode::CREATED, Json(fulfilment)))
}

/// Marks a fulfilment delivered.
#[utoipa::path(
    post, path = "/admin/fulfilments/{id}/delivered", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Fulfilment id")),
    responses(
        (status = 200, description = "The fulfilment; the order is `delivered` once all are", body = crate::docs::Fulfilment),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition` (delivered already) or `concurrent_update`", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn fulfilment_delivered(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path(id): Path<String>,
) -> Result<Json<Fulfilment>, ApiError> {
    let id: FulfilmentId = path_id(&id)?;
    let (_, fulfilment) = state
        .orders
        .mark_delivered(Actor::staff(&caller.id), &id)
        .await?;
    Ok(Json(fulfilment))
}

/// Asks to return delivered units of the caller's order.
#[utoipa::path(
    post, path = "/orders/{id}/returns", tag = "orders", security(("bearer" = [])),
    params(("id" = String, Path, description = "Order id")),
    responses(
        (status = 201, description = "The return, `requested`", body = crate::docs::Return),
        (status = 400, description = "Not a JSON object", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown or not yours", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition` (the order is not `delivered`) or `concurrent_update`", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields; on `lines`: more than was delivered and not returned yet, or the return window closed", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn request_return(
    State(state): State<AppState>,
    Customer(caller): Customer,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReturnForm>,
) -> Result<(StatusCode, Json<Return>), ApiError> {
    let id: OrderId = path_id(&id)?;
    let request = body
        .validate(ReturnForm::validate)
        .map_err(ApiError::validation)?;
    let (_, ret) = state
        .orders
        .request_return(&caller.id, &id, request)
        .await?;
    Ok((StatusCode::CREATED, Json(ret)))
}

/// Moves a return on; the three staff routes share it.
async fn move_return(
    state: &AppState,
    caller: &crate::Caller,
    id: &str,
    action: ReturnMove,
) -> Result<Json<Return>, ApiError> {
    let id: ReturnId = path_id(id)?;
    let (_, ret) = state
        .orders
        .move_return(Actor::staff(&caller.id), &id, action)
        .await?;
    Ok(Json(ret))
}

/// Approves a requested return.
#[utoipa::path(
    post, path = "/admin/returns/{id}/approve", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Return id")),
    responses(
        (status = 200, description = "The return, `approved`", body = crate::docs::Return),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition` (not `requested`) or `concurrent_update`", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn approve_return(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path(id): Path<String>,
) -> Result<Json<Return>, ApiError> {
    move_return(&state, &caller, &id, ReturnMove::Approve).await
}

/// Rejects a requested return, saying why.
#[utoipa::path(
    post, path = "/admin/returns/{id}/reject", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Return id")),
    responses(
        (status = 200, description = "The return, `rejected`", body = crate::docs::Return),
        (status = 400, description = "Not a JSON object", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition` (not `requested`) or `concurrent_update`", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`note` missing or invalid", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn reject_return(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RejectForm>,
) -> Result<Json<Return>, ApiError> {
    let note = body
        .validate(RejectForm::validate)
        .map_err(ApiError::validation)?;
    move_return(&state, &caller, &id, ReturnMove::Reject(note)).await
}

/// Receives an approved return, its units back to stock or not.
#[utoipa::path(
    post, path = "/admin/returns/{id}/receive", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Return id")),
    responses(
        (status = 200, description = "The return, `received`", body = crate::docs::Return),
        (status = 400, description = "Not a JSON object", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition` (not `approved`) or `concurrent_update`", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`restock` missing or not a boolean", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn receive_return(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReceiveForm>,
) -> Result<Json<Return>, ApiError> {
    let restock = body
        .validate(ReceiveForm::validate)
        .map_err(ApiError::validation)?;
    move_return(&state, &caller, &id, ReturnMove::Receive { restock }).await
}

/// Refunds part or all of an order through the payment provider.
#[utoipa::path(
    post, path = "/admin/orders/{id}/refunds", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Order id")),
    responses(
        (status = 201, description = "The refund", body = crate::docs::Refund),
        (status = 400, description = "Not a JSON object", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`concurrent_update`: the order changed while the refund was being reserved (another refund, say); nothing was refunded: read it again", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields; more than is left to refund (on `lines`, `shipping` or `amount`)", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 502, description = "The payment provider refused or failed the refund", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_refund(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RefundForm>,
) -> Result<(StatusCode, Json<Refund>), ApiError> {
    let id: OrderId = path_id(&id)?;
    // An amount is money of the order's own currency.
    let currency = state.orders.order(Access::Staff, &id).await?.currency();
    let request = body
        .validate(|form| form.validate(currency))
        .map_err(ApiError::validation)?;
    let (_, refund) = state
        .orders
        .refund(Actor::staff(&caller.id), &id, request)
        .await?;
    Ok((StatusCode::CREATED, Json(refund)))
}

/// Adds a note, internal or visible to the customer.
#[utoipa::path(
    post, path = "/admin/orders/{id}/notes", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Order id")),
    responses(
        (status = 201, description = "The note", body = crate::docs::OrderNote),
        (status = 400, description = "Not a JSON object", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`concurrent_update`", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`text` missing or invalid; `visible_to_customer` missing (never assumed)", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn add_note(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NoteForm>,
) -> Result<(StatusCode, Json<OrderNote>), ApiError> {
    let id: OrderId = path_id(&id)?;
    let note = body
        .validate(NoteForm::validate)
        .map_err(ApiError::validation)?;
    let (_, note) = state
        .orders
        .add_note(Actor::staff(&caller.id), &id, note)
        .await?;
    Ok((StatusCode::CREATED, Json(note)))
}
