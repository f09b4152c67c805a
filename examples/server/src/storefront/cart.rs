//! The cart page and its forms: add a product, change a quantity, remove a
//! line, apply or remove a discount code. Each form is a POST answered with
//! a 303 back to `/cart`, or with the page again (422) showing why not.
//! A visitor who is not signed in shops as a guest ([`super::guests`]).

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use orders_axum::Caller;
use orders_core::cart::{AddItemForm, CartStatus, SetQuantityForm};
use orders_core::ids::{CartId, ProductId};
use orders_core::validation::ValidationErrors;
use orders_core::{Error, PricedCart, PricingOptions};

use super::Storefront;
use super::catalogue::product_page;
use super::request::{Post, Visit, cart_cookie, see_other, with_cookie};
use super::templates::{CartPage, CartView};
use super::{guests, posted};

/// The caller's open cart named by the cart cookie, if there is one: a
/// cart that is unknown, another customer's or checked out is no cart.
/// Without one, a signed-in customer's open cart (the one changed last),
/// so a cart survives signing out and in.
///
/// # Errors
/// Storage errors.
pub(super) async fn open_cart(
    shop: &Storefront,
    caller: &Caller,
    visit: &Visit,
) -> Result<Option<PricedCart>, Error> {
    if let Some(id) = &visit.cart_id {
        match shop
            .orders()
            .cart(&caller.id, id, &PricingOptions::default())
            .await
        {
            Ok(cart) if cart.status == CartStatus::Open => return Ok(Some(cart)),
            Ok(_) | Err(Error::NotFound(_)) => {}
            Err(error) => return Err(error),
        }
    }
    if caller.id.is_guest() {
        return Ok(None);
    }
    match shop.orders().current_cart(&caller.id).await {
        Ok(cart) => Ok(Some(cart)),
        Err(Error::NotFound(_)) => Ok(None),
        Err(error) => Err(error),
    }
}

/// The message of the first error on `path`.
fn first(errors: &ValidationErrors, path: &str) -> Option<String> {
    errors.get(path).map(|messages| messages.join("; "))
}

/// Everything but one path's errors, joined (for a notice).
fn all(errors: &ValidationErrors) -> String {
    errors
        .iter()
        .map(|(_, messages)| messages.join("; "))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The cart page with `status`, the code typed and the errors to show.
async fn page(
    shop: &Storefront,
    visit: &Visit,
    status: StatusCode,
    code: String,
    code_error: Option<String>,
    notice: Option<String>,
) -> Response {
    let cart = match visit.shopper() {
        Some(caller) => match open_cart(shop, caller, visit).await {
            Ok(cart) => cart,
            Err(error) => return visit.error(&error),
        },
        None => None,
    };
    let cart = cart.filter(|c| !c.lines.is_empty());
    let page = CartPage {
        layout: visit.layout("Your cart"),
        cart: cart.as_ref().map(CartView::of),
        code,
        code_error,
        notice,
    };
    visit.render(status, &page)
}

/// `GET /cart`; after a sign-in that claimed a guest cart, `?merge=…`
/// names the lines that could not be merged whole.
pub(super) async fn show(
    State(shop): State<Storefront>,
    visit: Visit,
    RawQuery(query): RawQuery,
) -> Response {
    let notice = guests::merge_notice(shop.orders(), query.as_deref()).await;
    page(&shop, &visit, StatusCode::OK, String::new(), None, notice).await
}

/// `POST /cart/items` (`product_id`, `quantity`): adds to the open cart,
/// starting one when there is none (a guest cart, in the cart cookie, for
/// a visitor who is not signed in), then 303 to `/cart`.
pub(super) async fn add(State(shop): State<Storefront>, post: Post) -> Response {
    let visit = &post.visit;
    let product_id = post.get("product_id").unwrap_or_default().to_owned();
    let Ok(id) = ProductId::parse(&product_id) else {
        return visit.not_found();
    };
    let product = match shop.orders().active_product(&id).await {
        Ok(product) => product,
        Err(error) => return visit.error(&error),
    };
    let typed = post.get("quantity").unwrap_or_default().trim().to_owned();
    let form = posted::read::<AddItemForm>(&post.fields);
    let refused = |quantity_error: Option<String>, product_error: Option<String>| {
        let mut page = product_page(visit, &product);
        page.quantity = typed.clone();
        page.quantity_error = quantity_error;
        page.product_error = product_error;
        visit.render(StatusCode::UNPROCESSABLE_ENTITY, &page)
    };
    let quantity = match form.validate(AddItemForm::validate) {
        Ok((_, quantity)) => quantity,
        Err(errors) => return refused(first(&errors, "quantity"), None),
    };
    let existing = match visit.shopper() {
        Some(caller) => match open_cart(&shop, caller, visit).await {
            Ok(cart) => cart.map(|c| (caller.clone(), c.id)),
            Err(error) => return visit.error(&error),
        },
        None => None,
    };
    let (caller, cart_id, cookie) = match (existing, &visit.caller) {
        (Some((caller, id)), _) => {
            // A cart found without the cookie (signed out and in) gets it back.
            let cookie =
                (visit.cart_id.as_ref() != Some(&id)).then(|| cart_cookie(Some(&id), visit.secure));
            (caller, id, cookie)
        }
        (None, Some(caller)) => match shop
            .orders()
            .create_cart(&caller.id, Some(product.currency()))
            .await
        {
            Ok(cart) => {
                let cookie = cart_cookie(Some(&cart.id), visit.secure);
                (caller.clone(), cart.id, Some(cookie))
            }
            Err(error) => return visit.error(&error),
        },
        (None, None) => match shop
            .orders()
            .create_guest_cart(Some(product.currency()))
            .await
        {
            Ok((cart, token)) => {
                let owner = match shop
                    .orders()
                    .guest_cart_owner(&cart.id, token.as_str())
                    .await
                {
                    Ok(owner) => owner,
                    Err(error) => return visit.error(&error),
                };
                let cookie = guests::guest_cart_cookie(&cart.id, token.as_str(), visit.secure);
                (guests::guest_caller(owner), cart.id, Some(cookie))
            }
            Err(error) => return visit.error(&error),
        },
    };
    match shop
        .orders()
        .add_to_cart_within_stock(&caller.id, &cart_id, &id, quantity)
        .await
    {
        Ok(_) => {
            let done = see_other("/cart");
            match cookie {
                Some(cookie) => with_cookie(done, cookie),
                None => done,
            }
        }
        Err(error) => match error.field_errors() {
            Some(errors) => refused(
                first(&errors, "quantity"),
                first(&errors, "product_id")
                    .or_else(|| (!errors.contains("quantity")).then(|| all(&errors))),
            ),
            None => visit.error(&error),
        },
    }
}

/// The caller and the open cart a cart form acts on, or the answer when
/// there is none (sign in first; no cart: back to the cart page).
async fn target(shop: &Storefront, visit: &Visit) -> Result<(Caller, CartId), Response> {
    let caller = visit.shopper().ok_or_else(|| see_other("/cart"))?.clone();
    match open_cart(shop, &caller, visit).await {
        Ok(Some(cart)) => Ok((caller, cart.id)),
        Ok(None) => Err(see_other("/cart")),
        Err(error) => Err(visit.error(&error)),
    }
}

/// What a cart change came to: 303 to the cart, or the cart page with the
/// errors.
async fn finish(
    shop: &Storefront,
    visit: &Visit,
    result: Result<PricedCart, Error>,
    code: String,
) -> Response {
    match result {
        Ok(_) => see_other("/cart"),
        Err(error) => match error.field_errors() {
            Some(errors) => {
                let code_error = first(&errors, "code");
                let notice = (code_error.is_none()).then(|| all(&errors));
                page(
                    shop,
                    visit,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    code,
                    code_error,
                    notice,
                )
                .await
            }
            None => visit.error(&error),
        },
    }
}

/// `POST /cart/items/{product_id}` (`quantity`): sets a line's quantity;
/// 0 removes the line.
pub(super) async fn set_quantity(
    State(shop): State<Storefront>,
    Path(product): Path<String>,
    post: Post,
) -> Response {
    let visit = &post.visit;
    let (caller, cart) = match target(&shop, visit).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(product) = ProductId::parse(&product) else {
        return visit.not_found();
    };
    let typed = post.get("quantity").unwrap_or_default().trim();
    let form = posted::read::<SetQuantityForm>(&post.fields);
    let quantity = match form.validate(SetQuantityForm::validate) {
        Ok(quantity) => quantity,
        Err(errors) => {
            let notice = format!("Quantity {typed:?}: {}", all(&errors));
            return page(
                &shop,
                visit,
                StatusCode::UNPROCESSABLE_ENTITY,
                String::new(),
                None,
                Some(notice),
            )
            .await;
        }
    };
    let result = shop
        .orders()
        .set_cart_quantity_within_stock(&caller.id, &cart, &product, quantity)
        .await;
    finish(&shop, visit, result, String::new()).await
}

/// `POST /cart/items/{product_id}/remove`: removes a line.
pub(super) async fn remove(
    State(shop): State<Storefront>,
    Path(product): Path<String>,
    post: Post,
) -> Response {
    let visit = &post.visit;
    let (caller, cart) = match target(&shop, visit).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(product) = ProductId::parse(&product) else {
        return visit.not_found();
    };
    let result = shop
        .orders()
        .remove_from_cart(&caller.id, &cart, &product)
        .await;
    finish(&shop, visit, result, String::new()).await
}

/// `POST /cart/discount` (`code`): applies a discount code; a code the
/// core refuses is shown beside the field (`#error-code`).
pub(super) async fn apply_discount(State(shop): State<Storefront>, post: Post) -> Response {
    let visit = &post.visit;
    let (caller, cart) = match target(&shop, visit).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let code = post.get("code").unwrap_or_default().to_owned();
    let result = shop.orders().apply_discount(&caller.id, &cart, &code).await;
    finish(&shop, visit, result, code).await
}

/// `POST /cart/discount/remove`: removes the discount code.
pub(super) async fn remove_discount(State(shop): State<Storefront>, post: Post) -> Response {
    let visit = &post.visit;
    let (caller, cart) = match target(&shop, visit).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let result = shop.orders().remove_discount(&caller.id, &cart).await;
    finish(&shop, visit, result, String::new()).await
}
