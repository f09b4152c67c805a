//! The guest routes of a signed-in customer: the current cart, and
//! claiming a guest cart. (A guest's own calls go through the cart and
//! order routes with their token: see [`crate::guests`].)

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use orders_core::ids::CartId;
use orders_core::{ClaimedCart, PricedCart};

use super::{AppState, path_id};
use crate::ApiError;
use crate::guests::CART_TOKEN_HEADER;
use crate::identify::Customer;

/// The caller's open cart (the one changed last): it survives sign-out
/// and sign-in.
#[utoipa::path(
    get, path = "/carts/current", tag = "carts", security(("bearer" = [])),
    responses(
        (status = 200, description = "The open cart, priced for the default destination", body = crate::docs::Cart),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No open cart", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn current_cart(
    State(state): State<AppState>,
    Customer(caller): Customer,
) -> Result<Json<PricedCart>, ApiError> {
    Ok(Json(state.orders.current_cart(&caller.id).await?))
}

/// Claims a guest cart (its token in `X-Cart-Token`): merges it into the
/// caller's open cart of its currency (quantities added, capped at 999 a
/// line; what could not be merged is listed in `merge_warnings`) and
/// closes it, or adopts it when the caller has no such cart.
#[utoipa::path(
    post, path = "/carts/{id}/claim", tag = "carts",
    security(("bearer" = [], "cart_token" = [])),
    params(("id" = String, Path, description = "The guest cart's id")),
    responses(
        (status = 200, description = "The caller's cart now", body = crate::docs::ClaimedCart),
        (status = 401, description = "No or bad bearer token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown cart, or a missing or wrong cart token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`cart_closed`: the guest cart was checked out or claimed already; `concurrent_update`", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn claim_cart(
    State(state): State<AppState>,
    Customer(caller): Customer,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<ClaimedCart>, ApiError> {
    let id: CartId = path_id(&id)?;
    let token = headers
        .get(CART_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        // The same 404 as a missing cart's.
        .ok_or_else(|| ApiError::from(orders_core::Error::NotFound("cart")))?;
    Ok(Json(state.orders.claim_cart(&caller.id, &id, token).await?))
}
