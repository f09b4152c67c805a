//! Guests on the API: who a request without an account speaks for.
//!
//! - `X-Cart-Token: TOKEN` on a `/carts/{id}…` route speaks for the guest
//!   who owns that cart, if the token opens it
//!   ([`orders_core::Orders::guest_cart_owner`]); otherwise the answer is
//!   404, as for another customer's cart.
//! - `X-Order-Token: TOKEN` on `/orders/{id}`, `/events`, `/cancel` and
//!   (also as `?order_token=`) `/track` speaks for the guest who placed
//!   that order, if the token is the order's
//!   ([`orders_core::guest::OrderTokens`]: an HMAC of the order id under
//!   the key given to [`crate::Api::order_token_key`]); only guest orders
//!   open this way.
//!
//! Without either header those routes take the bearer token as before
//! (401 without one). Guest carts are made by `POST /carts` without
//! credentials, at most [`GuestCartLimit`]'s number per client address and
//! minute (429 past it), so a script cannot fill the database with carts.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::StatusCode;
use axum::http::request::Parts;
use orders_core::Access;
use orders_core::guest::OrderTokens;
use orders_core::ids::{CartId, CustomerId, OrderId};

use crate::ApiError;
use crate::identify::{Caller, Customer, SocketCaller};
use crate::routes::AppState;

/// The header a guest sends its cart token in.
pub const CART_TOKEN_HEADER: &str = "x-cart-token";
/// The header a guest sends its order token in.
pub const ORDER_TOKEN_HEADER: &str = "x-order-token";
/// The query parameter a guest's tracking websocket sends its order token
/// in (browsers cannot set headers on websockets).
pub const ORDER_TOKEN_QUERY: &str = "order_token";

/// What the API keeps for guests: the order-token key and the guest-cart
/// limit.
#[derive(Clone)]
pub(crate) struct Guests {
    pub(crate) order_tokens: OrderTokens,
    pub(crate) carts: Arc<GuestCartLimit>,
}

impl Default for Guests {
    fn default() -> Self {
        Self {
            order_tokens: OrderTokens::random(),
            carts: Arc::new(GuestCartLimit::new(
                GuestCartLimit::DEFAULT_PER_MINUTE,
                Duration::from_secs(60),
            )),
        }
    }
}

/// Guest carts per client address in a fixed window, kept in this
/// process. The table is emptied at each new window, so it holds at most
/// the addresses of one window. Requests with no known address (a host
/// serving without `ConnectInfo`) share one count.
#[derive(Debug)]
pub(crate) struct GuestCartLimit {
    max: u32,
    window: Duration,
    state: Mutex<(Instant, HashMap<Option<IpAddr>, u32>)>,
}

impl GuestCartLimit {
    /// Guest carts per address and minute unless the host says otherwise.
    pub(crate) const DEFAULT_PER_MINUTE: u32 = 30;

    pub(crate) fn new(max: u32, window: Duration) -> Self {
        Self {
            max,
            window,
            state: Mutex::new((Instant::now(), HashMap::new())),
        }
    }

    /// Counts one cart for `peer`: `Err` (429 with `Retry-After`) past the
    /// limit. A limit of 0 counts nothing.
    fn take(&self, peer: Option<IpAddr>) -> Result<(), ApiError> {
        if self.max == 0 {
            return Ok(());
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if now.duration_since(state.0) >= self.window {
            *state = (now, HashMap::new());
        }
        let count = state.1.entry(peer).or_insert(0);
        if *count >= self.max {
            let left = self.window.saturating_sub(now.duration_since(state.0));
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_guest_carts",
                "Too many new carts",
            )
            .with_detail("too many guest carts from this address; try again shortly")
            .with_retry_after(u32::try_from(left.as_secs().max(1)).unwrap_or(60)));
        }
        *count += 1;
        Ok(())
    }
}

/// The client address axum's `ConnectInfo` holds, if the host serves with it.
fn peer(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip())
}

/// A header's text, if present and visible ASCII.
fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The `id` path parameter of the route.
async fn path_param<T: std::str::FromStr>(
    parts: &mut Parts,
    state: &AppState,
) -> Result<T, ApiError> {
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|_| ApiError::not_found())?;
    params
        .iter()
        .find(|(name, _)| *name == "id")
        .and_then(|(_, value)| value.parse().ok())
        .ok_or_else(ApiError::not_found)
}

fn guest_caller(id: CustomerId) -> Caller {
    Caller {
        id,
        email: String::new(),
        is_staff: false,
    }
}

/// Whoever a `/carts/{id}…` route speaks for: the guest whose cart the
/// `X-Cart-Token` opens (else 404), or without that header the bearer's
/// customer (else 401).
#[derive(Debug, Clone)]
pub(crate) struct CartCaller(pub(crate) Caller);

impl FromRequestParts<AppState> for CartCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(token) = header(parts, CART_TOKEN_HEADER).map(str::to_owned) else {
            return Customer::from_request_parts(parts, state)
                .await
                .map(|Customer(caller)| Self(caller));
        };
        let cart: CartId = path_param(parts, state).await?;
        let owner = state.orders.guest_cart_owner(&cart, &token).await?;
        Ok(Self(guest_caller(owner)))
    }
}

/// The guest a valid order token speaks for: the owner of order `id`, a
/// guest order whose token `token` is; else 404.
async fn order_guest(state: &AppState, id: &OrderId, token: &str) -> Result<Caller, ApiError> {
    // The same 404 as a missing order's.
    let missing = || ApiError::from(orders_core::Error::NotFound("order"));
    if !state.guests.order_tokens.verify(id, token) {
        return Err(missing());
    }
    let order = state.orders.order(Access::Staff, id).await?;
    if !order.customer_id().is_guest() {
        return Err(missing());
    }
    Ok(guest_caller(order.customer_id().clone()))
}

/// Whoever an `/orders/{id}…` route speaks for: the guest whose order the
/// `X-Order-Token` opens (else 404), or without that header the bearer's
/// customer (else 401).
#[derive(Debug, Clone)]
pub(crate) struct OrderCaller(pub(crate) Caller);

impl FromRequestParts<AppState> for OrderCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(token) = header(parts, ORDER_TOKEN_HEADER).map(str::to_owned) else {
            return Customer::from_request_parts(parts, state)
                .await
                .map(|Customer(caller)| Self(caller));
        };
        let order: OrderId = path_param(parts, state).await?;
        order_guest(state, &order, &token).await.map(Self)
    }
}

/// The caller of the tracking websocket: a guest by `X-Order-Token` or
/// `?order_token=` (their socket holds no session token, so nothing
/// revokes it), or else as [`SocketCaller`].
#[derive(Debug, Clone)]
pub(crate) struct TrackCaller(pub(crate) Caller, pub(crate) String);

impl FromRequestParts<AppState> for TrackCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let from_query = parts.uri.query().and_then(|query| {
            crate::query::pairs(query)
                .into_iter()
                .find(|(key, _)| key == ORDER_TOKEN_QUERY)
                .map(|(_, value)| value)
        });
        let token = header(parts, ORDER_TOKEN_HEADER)
            .map(str::to_owned)
            .or(from_query);
        let Some(token) = token else {
            return SocketCaller::from_request_parts(parts, state)
                .await
                .map(|SocketCaller(caller, token)| Self(caller, token));
        };
        let order: OrderId = path_param(parts, state).await?;
        let caller = order_guest(state, &order, &token).await?;
        Ok(Self(caller, String::new()))
    }
}

/// Who `POST /carts` makes a cart for: the authenticated caller, or, with
/// no credentials at all, a new guest (counted against the limit). A bad
/// token is still 401.
pub(crate) enum CartMaker {
    Customer(Caller),
    Guest,
}

impl FromRequestParts<AppState> for CartMaker {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = crate::identify::bearer(parts).map(str::to_owned);
        let found = state
            .identify
            .identify_request(parts, token.as_deref())
            .await?;
        match (found, token) {
            (Some(caller), _) => Ok(Self::Customer(caller)),
            (None, Some(_)) => Err(ApiError::unauthorized()),
            (None, None)
                if parts
                    .headers
                    .contains_key(axum::http::header::AUTHORIZATION) =>
            {
                Err(ApiError::unauthorized())
            }
            (None, None) => {
                state.guests.carts.take(peer(parts))?;
                Ok(Self::Guest)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_counts_per_address_and_window() {
        let limit = GuestCartLimit::new(2, Duration::from_secs(60));
        let a = Some(IpAddr::from([10, 0, 0, 1]));
        let b = Some(IpAddr::from([10, 0, 0, 2]));
        assert!(limit.take(a).is_ok());
        assert!(limit.take(a).is_ok());
        let refused = limit.take(a).unwrap_err();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(limit.take(b).is_ok(), "another address has its own count");
        let none = GuestCartLimit::new(0, Duration::from_secs(60));
        for _ in 0..100 {
            assert!(none.take(a).is_ok());
        }
        let short = GuestCartLimit::new(1, Duration::ZERO);
        assert!(short.take(a).is_ok());
        assert!(short.take(a).is_ok(), "a new window starts afresh");
    }
}
