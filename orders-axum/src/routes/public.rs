//! Routes anyone may call: health, the OpenAPI document, the catalogue.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use orders_core::catalogue::Product;
use orders_core::ids::ProductId;
use orders_core::ports::Page;
use serde_json::{Value, json};

use super::{AppState, path_id};
use crate::ApiError;
use crate::query::Params;

/// Whether the database answers.
#[utoipa::path(
    get, path = "/health", tag = "public",
    responses(
        (status = 200, description = "The database answers", body = crate::docs::Health),
        (status = 503, description = "The database is unreachable (`Retry-After` is set)",
            body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn health(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    match state.orders.health().await {
        Ok(()) => Ok(Json(json!({"status": "ok"}))),
        Err(error) => Err(ApiError::unavailable().with_internal(error.to_string())),
    }
}

/// This document.
#[utoipa::path(
    get, path = "/openapi.json", tag = "public",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
pub(crate) async fn openapi_json(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi.as_str().to_owned(),
    )
}

/// Active products, newest first.
///
/// With `q`, only those whose name, SKU or description contains it.
#[utoipa::path(
    get, path = "/products", tag = "public",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1 to 100, default 20"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("q" = Option<String>, Query, max_length = 100, description = "Search: products whose name, SKU or description contains this text, ignoring case in every script; `%` and `_` match themselves. Blank: no search"),
    ),
    responses(
        (status = 200, description = "A page of active products", body = crate::docs::ProductList),
        (status = 422, description = "Bad `limit`, `cursor` or `q`", body = crate::docs::Problem,
            content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_products(
    State(state): State<AppState>,
    params: Params,
) -> Result<Json<Page<Product>>, ApiError> {
    let (query, page) = params.product_search()?;
    Ok(Json(
        state
            .orders
            .search_products(query.as_ref(), true, &page)
            .await?,
    ))
}

/// One active product.
#[utoipa::path(
    get, path = "/products/{id}", tag = "public",
    params(("id" = String, Path, description = "Product id")),
    responses(
        (status = 200, description = "The product", body = crate::docs::Product),
        (status = 404, description = "Unknown or not on sale", body = crate::docs::Problem,
            content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_product(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Product>, ApiError> {
    let id: ProductId = path_id(&id)?;
    Ok(Json(state.orders.active_product(&id).await?))
}
