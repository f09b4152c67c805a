//! The customer's own after-sale actions on the order page: cancel while
//! nothing has shipped, ask to return delivered units. Both go through
//! the engine as the API's routes do (`POST /api/orders/{id}/cancel`,
//! `/returns`), which decides whether they are allowed.

use axum::extract::{Path, State};
use axum::response::Response;
use orders_core::Access;
use orders_core::ids::OrderId;
use orders_core::order::{ItemLineForm, ReturnForm};

use super::Storefront;
use super::orders::show;
use super::request::{Post, see_other};

/// `POST /orders/{id}/cancel`.
pub(super) async fn cancel(
    State(shop): State<Storefront>,
    Path(id): Path<String>,
    post: Post,
) -> Response {
    let visit = &post.visit;
    let caller = match visit.require() {
        Ok(caller) => caller,
        Err(redirect) => return redirect,
    };
    let Ok(id) = OrderId::parse(&id) else {
        return visit.not_found();
    };
    match shop.orders().cancel(&caller.id, &id, None).await {
        Ok(order) => see_other(&format!("/orders/{}", order.id())),
        Err(error) => visit.error(&error),
    }
}

/// `POST /orders/{id}/returns`: `qty_<product_id>` for each delivered
/// line, `reason`. A refusal (too many units, the window closed, no
/// reason) shows the order page again with the reason beside the form.
pub(super) async fn request_return(
    State(shop): State<Storefront>,
    Path(id): Path<String>,
    post: Post,
) -> Response {
    let visit = &post.visit;
    let caller = match visit.require() {
        Ok(caller) => caller,
        Err(redirect) => return redirect,
    };
    let Ok(id) = OrderId::parse(&id) else {
        return visit.not_found();
    };
    let order = match shop.orders().order(Access::Owner(&caller.id), &id).await {
        Ok(order) => order,
        Err(error) => return visit.error(&error),
    };
    let lines: Vec<ItemLineForm> = order
        .lines()
        .iter()
        .filter_map(|line| {
            let field = format!("qty_{}", line.product_id);
            let text = post.get(&field).unwrap_or("").trim();
            (!text.is_empty() && text != "0").then(|| ItemLineForm {
                product_id: Some(line.product_id.to_string()),
                quantity: Some(text.parse().unwrap_or(-1)),
            })
        })
        .collect();
    let form = ReturnForm {
        lines: (!lines.is_empty()).then_some(lines),
        reason: post.get("reason").map(str::to_owned),
    };
    let problem = match form.validate() {
        Ok(request) => match shop.orders().request_return(&caller.id, &id, request).await {
            Ok(_) => return see_other(&format!("/orders/{id}")),
            Err(orders_core::Error::Validation(errors)) => errors.to_string(),
            Err(error) => return visit.error(&error),
        },
        Err(errors) => errors.to_string(),
    };
    show(&shop, visit, &caller.id, &id, false, Some(problem)).await
}
