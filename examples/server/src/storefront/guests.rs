//! Guests in the storefront: shopping without an account, the link that
//! opens a guest's order later, and the guest cart claimed at sign-in.
//!
//! - A guest's cart lives in the [`CART_COOKIE`](super::CART_COOKIE) as
//!   `CART_ID.TOKEN` (HttpOnly, SameSite=Lax, Secure over https): the
//!   token is the cart's own ([`orders_core::Orders::create_guest_cart`]),
//!   so the cookie opens that cart and nothing else. A customer's cookie
//!   holds the cart id alone.
//! - A guest's order opens at `/orders/{id}?token=TOKEN` in any browser,
//!   signed in or not: the token is the order's HMAC under the key the API
//!   checks too ([`orders_core::guest::OrderTokens`]), so the page's live
//!   updates use it as `?order_token=`. The confirmation page and the
//!   order emails carry that link.
//! - Signing in or registering claims the guest cart
//!   ([`orders_core::Orders::claim_cart`]): merged into the customer's open
//!   cart, or adopted. Lines that could not be merged whole are named on
//!   the cart page, where the sign-in then leads (`/cart?merge=…`).

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue};
use orders_axum::Caller;
use orders_axum::web::session;
use orders_core::cart::{MergeWarning, MergeWarningReason};
use orders_core::guest::OrderTokens;
use orders_core::ids::{CartId, CustomerId, OrderId, ProductId};
use orders_core::{Error, Orders};

use super::request::{Visit, cart_cookie};
use super::{CART_COOKIE, Storefront};

/// The cart id and, for a guest cart, the token of the cart cookie.
pub(super) fn read_cart_cookie(headers: &HeaderMap) -> (Option<CartId>, Option<String>) {
    let Some(value) = session::cookie(headers, CART_COOKIE) else {
        return (None, None);
    };
    let (id, token) = match value.rsplit_once('.') {
        Some((id, token)) if !token.is_empty() => (id, Some(token.to_owned())),
        _ => (value, None),
    };
    match CartId::parse(id) {
        Ok(id) => (Some(id), token),
        Err(_) => (None, None),
    }
}

/// The cookie holding guest cart `id` and its `token`.
pub(super) fn guest_cart_cookie(id: &CartId, token: &str, secure: bool) -> HeaderValue {
    session::set_cookie(
        CART_COOKIE,
        &format!("{id}.{token}"),
        Some(session::SESSION_MAX_AGE_SECS),
        secure,
    )
}

/// The guest whose cart `id` the cookie's `token` opens, or `None` (a
/// wrong token, or no such cart).
///
/// # Errors
/// Storage errors.
pub(super) async fn guest(
    shop: &Storefront,
    id: &CartId,
    token: &str,
) -> Result<Option<Caller>, Error> {
    match shop.orders().guest_cart_owner(id, token).await {
        Ok(owner) => Ok(Some(guest_caller(owner))),
        Err(Error::NotFound(_)) => Ok(None),
        Err(error) => Err(error),
    }
}

/// The caller a guest is to the pages: their guest id, no email, no staff.
pub(super) fn guest_caller(id: CustomerId) -> Caller {
    Caller {
        id,
        email: String::new(),
        is_staff: false,
    }
}

/// The path of order `id` of `customer`: a guest's carries its token.
fn order_path(tokens: &OrderTokens, id: &OrderId, customer: &CustomerId) -> String {
    if customer.is_guest() {
        format!("/orders/{id}?token={}", tokens.sign(id))
    } else {
        format!("/orders/{id}")
    }
}

/// Where a checkout leads: the order page with its thank-you, and for a
/// guest the order's token (the link that opens it later).
pub(super) fn placed_path(shop: &Storefront, order: &orders_core::order::Order) -> String {
    let path = order_path(&shop.inner.order_tokens, order.id(), order.customer_id());
    let joiner = if path.contains('?') { '&' } else { '?' };
    format!("{path}{joiner}placed=1")
}

/// A guest order's own link (its page with its token), to show on it.
pub(super) fn guest_link(shop: &Storefront, order: &orders_core::order::Order) -> Option<String> {
    order
        .customer_id()
        .is_guest()
        .then(|| order_path(&shop.inner.order_tokens, order.id(), order.customer_id()))
}

/// The link every order email shows: the order page under `base` (the
/// shop's public address, e.g. `https://shop.example`, without a trailing
/// slash), a guest's with the order's token.
pub fn order_link(tokens: OrderTokens, base: String) -> orders_axum::mail::OrderLink {
    Arc::new(move |order: &orders_core::order::Order| {
        Some(format!(
            "{base}{}",
            order_path(&tokens, order.id(), order.customer_id())
        ))
    })
}

/// The guest who may see order `id` with `token`: the order's owner when
/// it is a guest order and the token is the order's.
pub(super) async fn order_guest(
    shop: &Storefront,
    id: &OrderId,
    token: &str,
) -> Result<Option<Caller>, Error> {
    if !shop.inner.order_tokens.verify(id, token) {
        return Ok(None);
    }
    match shop.orders().order(orders_core::Access::Staff, id).await {
        Ok(order) if order.customer_id().is_guest() => {
            Ok(Some(guest_caller(order.customer_id().clone())))
        }
        Ok(_) | Err(Error::NotFound(_)) => Ok(None),
        Err(error) => Err(error),
    }
}

/// What signing in did to the cart: the cart cookie to set, and where to
/// go instead of `next` (the cart, naming what could not be merged).
pub(super) struct SignedInCart {
    pub cookie: HeaderValue,
    pub instead: Option<String>,
}

/// Claims the visit's guest cart for the customer of session `token`, or
/// else finds the customer's open cart, so that the cart cookie names it.
pub(super) async fn after_sign_in(shop: &Storefront, visit: &Visit, token: &str) -> SignedInCart {
    let keep = || SignedInCart {
        cookie: cart_cookie(visit.cart_id.as_ref(), visit.secure),
        instead: None,
    };
    let caller = match shop.inner.identify.identify(token).await {
        Ok(Some(caller)) => caller,
        _ => return keep(),
    };
    let orders = shop.orders();
    if let (Some(id), Some(cart_token)) = (&visit.cart_id, &visit.cart_token) {
        match orders.claim_cart(&caller.id, id, cart_token).await {
            Ok(claimed) => {
                return SignedInCart {
                    cookie: cart_cookie(Some(&claimed.cart.id), visit.secure),
                    instead: (!claimed.merge_warnings.is_empty())
                        .then(|| merge_query(&claimed.merge_warnings)),
                };
            }
            Err(Error::CartClosed | Error::NotFound(_)) => {}
            Err(error) => tracing::warn!(%error, "storefront: the guest cart was not claimed"),
        }
    }
    match orders.current_cart(&caller.id).await {
        Ok(cart) => SignedInCart {
            cookie: cart_cookie(Some(&cart.id), visit.secure),
            instead: None,
        },
        Err(_) => SignedInCart {
            cookie: cart_cookie(None, visit.secure),
            instead: None,
        },
    }
}

fn reason_code(reason: MergeWarningReason) -> &'static str {
    match reason {
        MergeWarningReason::Capped => "capped",
        MergeWarningReason::Unavailable => "unavailable",
        _ => "full",
    }
}

/// `/cart?merge=REASON.QUANTITY.MERGED.PRODUCT&…`: what the cart page
/// names after a claim.
fn merge_query(warnings: &[MergeWarning]) -> String {
    let pairs: Vec<String> = warnings
        .iter()
        .map(|w| {
            let value = format!(
                "{}.{}.{}.{}",
                reason_code(w.reason),
                w.quantity,
                w.merged,
                w.product_id
            );
            let value: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
            format!("merge={value}")
        })
        .collect();
    format!("/cart?{}", pairs.join("&"))
}

/// The cart page's message for the `merge` parameters of `query`: each
/// guest line that could not be merged whole, by product name.
pub(super) async fn merge_notice(orders: &Orders, query: Option<&str>) -> Option<String> {
    let query = query?;
    let mut parts = Vec::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if key != "merge" || parts.len() >= 100 {
            continue;
        }
        let mut fields = value.splitn(4, '.');
        let (Some(reason), Some(quantity), Some(merged), Some(product)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let (Ok(quantity), Ok(merged), Ok(product)) = (
            quantity.parse::<u32>(),
            merged.parse::<u32>(),
            ProductId::parse(product),
        ) else {
            continue;
        };
        let name = match orders.product(&product).await {
            Ok(p) => p.name().to_string(),
            Err(_) => continue,
        };
        let what = match reason {
            "capped" => format!(
                "{name}: only {merged} of {quantity} added (at most {} of one item per order)",
                orders_core::cart::Quantity::MAX
            ),
            "unavailable" => format!("{name}: no longer available, not added"),
            "full" => format!("{name}: your cart is full, not added"),
            _ => continue,
        };
        parts.push(what);
    }
    (!parts.is_empty()).then(|| {
        format!(
            "Your guest cart was added to your account's cart, except: {}.",
            parts.join("; ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cart_cookie_holds_an_id_and_maybe_a_token() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "cookie",
            HeaderValue::from_static("orders_cart=abc.tok-_en"),
        );
        let (id, token) = read_cart_cookie(&headers);
        assert_eq!(id.unwrap().as_str(), "abc");
        assert_eq!(token.as_deref(), Some("tok-_en"));
        headers.insert("cookie", HeaderValue::from_static("orders_cart=abc"));
        assert_eq!(read_cart_cookie(&headers).1, None);
        let cookie = guest_cart_cookie(&CartId::parse("c1").unwrap(), "t", true);
        let text = cookie.to_str().unwrap();
        for part in ["orders_cart=c1.t", "HttpOnly", "SameSite=Lax", "Secure"] {
            assert!(text.contains(part), "{text}");
        }
    }

    #[test]
    fn merge_queries_are_links_on_this_site() {
        let query = merge_query(&[MergeWarning {
            product_id: ProductId::parse("p&1").unwrap(),
            quantity: 5,
            merged: 1,
            reason: MergeWarningReason::Capped,
        }]);
        assert_eq!(query, "/cart?merge=capped.5.1.p%261");
    }
}
