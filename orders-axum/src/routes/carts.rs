//! The caller's carts and checkout.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use orders_core::cart::{AddItemForm, ApplyDiscountForm, CreateCartForm, SetQuantityForm};
use orders_core::checkout::{CheckoutForm, Country};
use orders_core::ids::{CartId, ProductId};
use orders_core::validation::ValidationErrors;
use orders_core::{PricedCart, PricingOptions};

use super::{AppState, path_id};
use crate::body::{JsonBody, OptionalJsonBody};
use crate::guests::{CartCaller, CartMaker};
use crate::query::{Params, finish};
use crate::{ApiError, IDEMPOTENCY_KEY};

/// Creates an empty cart: the caller's, or without credentials a guest's,
/// whose `cart_token` the answer carries (at most 30 guest carts per
/// client address and minute unless the host sets another limit).
#[utoipa::path(
    post, path = "/carts", tag = "carts", security(("bearer" = []), ()),
    responses(
        (status = 201, description = "The new cart; a guest's with its `cart_token`", body = crate::docs::NewCart),
        (status = 400, description = "Not a JSON object", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown or unsold currency", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many guest carts from this address", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_cart(
    State(state): State<AppState>,
    maker: CartMaker,
    OptionalJsonBody(body): OptionalJsonBody<CreateCartForm>,
) -> Result<(StatusCode, Json<NewCart>), ApiError> {
    let currency = body
        .validate(CreateCartForm::validate)
        .map_err(ApiError::validation)?;
    let (cart, cart_token) = match maker {
        CartMaker::Customer(caller) => {
            (state.orders.create_cart(&caller.id, currency).await?, None)
        }
        CartMaker::Guest => {
            let (cart, token) = state.orders.create_guest_cart(currency).await?;
            (cart, Some(token.as_str().to_owned()))
        }
    };
    Ok((StatusCode::CREATED, Json(NewCart { cart, cart_token })))
}

/// A new cart, with its token when it is a guest's.
#[derive(Debug, serde::Serialize)]
pub(crate) struct NewCart {
    #[serde(flatten)]
    cart: PricedCart,
    #[serde(skip_serializing_if = "Option::is_none")]
    cart_token: Option<String>,
}

/// The cart, priced for the default destination or `?country=&shipping_method=`.
#[utoipa::path(
    get, path = "/carts/{id}", tag = "carts", security(("bearer" = []), ("cart_token" = [])),
    params(
        ("id" = String, Path, description = "Cart id"),
        ("country" = Option<crate::docs::CountryCode>, Query, description = "ISO 3166-1 alpha-2 destination"),
        ("shipping_method" = Option<String>, Query, description = "e.g. `standard`, `express`"),
    ),
    responses(
        (status = 200, description = "The cart", body = crate::docs::Cart),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown or not yours", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown country or shipping method", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_cart(
    State(state): State<AppState>,
    CartCaller(caller): CartCaller,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<PricedCart>, ApiError> {
    let id: CartId = path_id(&id)?;
    let mut errors = ValidationErrors::new();
    let country = params
        .get("country")
        .and_then(|c| errors.check("country", Country::parse(c)));
    let options = PricingOptions {
        country,
        shipping_method: params.get("shipping_method").map(str::to_owned),
    };
    let options = finish(errors, options)?;
    Ok(Json(state.orders.cart(&caller.id, &id, &options).await?))
}

/// Adds a product, merging into its line.
#[utoipa::path(
    post, path = "/carts/{id}/items", tag = "carts", security(("bearer" = []), ("cart_token" = [])),
    params(("id" = String, Path, description = "Cart id")),
    responses(
        (status = 200, description = "The cart", body = crate::docs::Cart),
        (status = 400, description = "Not a JSON object", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown or not your cart", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`cart_closed` or `currency_mismatch`", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad `quantity`, unknown `product_id`, or `cart_full`", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn add_item(
    State(state): State<AppState>,
    CartCaller(caller): CartCaller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AddItemForm>,
) -> Result<Json<PricedCart>, ApiError> {
    let id: CartId = path_id(&id)?;
    let (product, quantity) = body
        .validate(AddItemForm::validate)
        .map_err(ApiError::validation)?;
    Ok(Json(
        state
            .orders
            .add_to_cart(&caller.id, &id, &product, quantity)
            .await?,
    ))
}

/// Sets a line's quantity; 0 removes it.
#[utoipa::path(
    patch, path = "/carts/{id}/items/{product_id}", tag = "carts", security(("bearer" = []), ("cart_token" = [])),
    params(
        ("id" = String, Path, description = "Cart id"),
        ("product_id" = String, Path, description = "The line's product"),
    ),
    responses(
        (status = 200, description = "The cart", body = crate::docs::Cart),
        (status = 400, description = "Not a JSON object", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown cart or line", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`cart_closed`", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad `quantity`", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn set_item(
    State(state): State<AppState>,
    CartCaller(caller): CartCaller,
    Path((id, product)): Path<(String, String)>,
    JsonBody(body): JsonBody<SetQuantityForm>,
) -> Result<Json<PricedCart>, ApiError> {
    let id: CartId = path_id(&id)?;
    let product: ProductId = path_id(&product)?;
    let quantity = body
        .validate(SetQuantityForm::validate)
        .map_err(ApiError::validation)?;
    Ok(Json(
        state
            .orders
            .set_cart_quantity(&caller.id, &id, &product, quantity)
            .await?,
    ))
}

/// Removes a line.
#[utoipa::path(
    delete, path = "/carts/{id}/items/{product_id}", tag = "carts", security(("bearer" = []), ("cart_token" = [])),
    params(
        ("id" = String, Path, description = "Cart id"),
        ("product_id" = String, Path, description = "The line's product"),
    ),
    responses(
        (status = 200, description = "The cart", body = crate::docs::Cart),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown cart or line", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`cart_closed`", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn remove_item(
    State(state): State<AppState>,
    CartCaller(caller): CartCaller,
    Path((id, product)): Path<(String, String)>,
) -> Result<Json<PricedCart>, ApiError> {
    let id: CartId = path_id(&id)?;
    let product: ProductId = path_id(&product)?;
    Ok(Json(
        state
            .orders
            .remove_from_cart(&caller.id, &id, &product)
            .await?,
    ))
}

/// Applies a discount code.
#[utoipa::path(
    post, path = "/carts/{id}/discount", tag = "carts", security(("bearer" = []), ("cart_token" = [])),
    params(("id" = String, Path, description = "Cart id")),
    responses(
        (status = 200, description = "The cart", body = crate::docs::Cart),
        (status = 400, description = "Not a JSON object", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown or not your cart", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`cart_closed`", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown, expired or used-up code, or minimum not met (on `code`)", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn apply_discount(
    State(state): State<AppState>,
    CartCaller(caller): CartCaller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ApplyDiscountForm>,
) -> Result<Json<PricedCart>, ApiError> {
    let id: CartId = path_id(&id)?;
    let code = body
        .validate(ApplyDiscountForm::validate)
        .map_err(ApiError::validation)?;
    Ok(Json(
        state
            .orders
            .apply_discount(&caller.id, &id, code.as_str())
            .await?,
    ))
}

/// Removes the discount code.
#[utoipa::path(
    delete, path = "/carts/{id}/discount", tag = "carts", security(("bearer" = []), ("cart_token" = [])),
    params(("id" = String, Path, description = "Cart id")),
    responses(
        (status = 200, description = "The cart", body = crate::docs::Cart),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown or not your cart", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`cart_closed`", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn remove_discount(
    State(state): State<AppState>,
    CartCaller(caller): CartCaller,
    Path(id): Path<String>,
) -> Result<Json<PricedCart>, ApiError> {
    let id: CartId = path_id(&id)?;
    Ok(Json(state.orders.remove_discount(&caller.id, &id).await?))
}

/// An order placed, with its token when it is a guest's.
#[derive(Debug, serde::Serialize)]
struct PlacedOrder {
    #[serde(flatten)]
    order: orders_core::order::Order,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_token: Option<String>,
}

/// Places an order from the cart. Idempotent under `Idempotency-Key`. A
/// guest (`X-Cart-Token`) gives an `email`, and the order placed carries
/// its `order_token`.
#[utoipa::path(
    post, path = "/carts/{id}/checkout", tag = "carts", security(("bearer" = []), ("cart_token" = [])),
    params(
        ("id" = String, Path, description = "Cart id"),
        ("Idempotency-Key" = Option<crate::docs::IdempotencyKey>, Header, description = "Up to 255 characters; a retry with the same key and body returns the same order"),
    ),
    responses(
        (status = 201, body = crate::docs::Order, description = "The order placed (a guest's with its `order_token`): `paid` for a card (its payment `captured` under the `on_checkout` capture policy, `authorized` under `on_shipment`), `pending` for cash on delivery, or `awaiting_payment` (holding its stock) when the customer must act first: then `payment.next_action` says what, and `POST /orders/{id}/payment/confirm` completes it"),
        (status = 200, description = "The order an earlier request with this key placed", body = crate::docs::Order),
        (status = 400, description = "Not a JSON object", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown or not your cart", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`insufficient_stock` (with `product_ids`), `cart_closed`, `cart_empty`, `discount_unavailable`, `price_changed` (with `total`), `product_unavailable`, `idempotency_mismatch`, `idempotency_in_progress`", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Every invalid field, a declined card (`payment_declined`, on `payment.token`, or `payment.card.number` for a test card), a card number where the provider takes tokens only (on `payment.card`), or a bad `Idempotency-Key`", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 502, description = "`payment_unavailable`: the payment provider failed or did not answer; no order was placed, and a retry with the same `Idempotency-Key` authorises at most once", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn checkout(
    State(state): State<AppState>,
    CartCaller(caller): CartCaller,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(form): JsonBody<CheckoutForm>,
) -> Result<Response, ApiError> {
    let id: CartId = path_id(&id)?;
    let key = match headers.get(IDEMPOTENCY_KEY) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                // Its length is the core's rule (checked in `checkout`).
                .map_err(|_| {
                    ApiError::field(IDEMPOTENCY_KEY, "must be 1 to 255 visible ASCII characters")
                })?,
        ),
    };
    let outcome = state.orders.checkout(&caller.id, &id, form, key).await?;
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    #[cfg(feature = "metrics")]
    let awaiting = outcome.order.status() == orders_core::order::OrderStatus::AwaitingPayment;
    let order_token = caller
        .id
        .is_guest()
        .then(|| state.guests.order_tokens.sign(outcome.order.id()));
    let placed = PlacedOrder {
        order: outcome.order,
        order_token,
    };
    #[allow(unused_mut)] // Marked for the checkout metrics only.
    let mut response = (status, Json(placed)).into_response();
    #[cfg(feature = "metrics")]
    if awaiting {
        response
            .extensions_mut()
            .insert(crate::metrics::PlacedAwaitingPayment);
    }
    Ok(response)
}
