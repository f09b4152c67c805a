//! The order history and the order page. The order page's script follows
//! the order live through the API's tracking websocket
//! (`/api/orders/{id}/track`, authenticated by the session cookie).
//!
//! An order `awaiting_payment` (3-D Secure) shows a "Complete payment"
//! form posting to `/orders/{id}/payment/confirm`, which asks the provider
//! to finish the payment ([`Orders::confirm_payment`](orders_core::Orders::confirm_payment)):
//! the order is then paid, or cancelled if the action failed. With Stripe,
//! the page's script first runs the action through Stripe.js.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use orders_core::Access;
use orders_core::ids::{CustomerId, OrderId};
use orders_core::order::{NextAction, Order, OrderStatus};
use orders_core::ports::OrderFilter;
use serde::Deserialize;

use super::Storefront;
use super::aftersale_view::AftersaleView;
use super::catalogue::ListQuery;
use super::request::{Post, Visit, see_other};
use super::templates::{OrderPage, OrderRow, OrdersPage, PaymentAction, StripeAction};

/// Orders per page of the history.
const PAGE_SIZE: usize = 20;

/// `GET /orders`: the caller's orders, newest first.
pub(super) async fn history(
    State(shop): State<Storefront>,
    visit: Visit,
    Query(query): Query<ListQuery>,
) -> Response {
    let caller = match visit.require() {
        Ok(caller) => caller,
        Err(redirect) => return redirect,
    };
    match shop
        .orders()
        .list_orders(
            Access::Owner(&caller.id),
            &OrderFilter::default(),
            &query.page(PAGE_SIZE),
        )
        .await
    {
        Ok(page) => visit.render(
            StatusCode::OK,
            &OrdersPage {
                layout: visit.layout("Your orders"),
                orders: page.items.iter().map(OrderRow::of).collect(),
                next: page.next_cursor.map(|c| c.0),
            },
        ),
        Err(error) => visit.error(&error),
    }
}

/// `?placed=1` after a checkout; `?token=` for a guest's order.
#[derive(Debug, Default, Deserialize)]
pub(super) struct OrderQuery {
    placed: Option<String>,
    token: Option<String>,
}

/// `GET /orders/{id}`: one of the caller's orders, or with `?token=` a
/// guest's order in any browser (see [`super::guests`]); anyone else's is
/// 404, exactly as a missing one.
pub(super) async fn order(
    State(shop): State<Storefront>,
    visit: Visit,
    Path(id): Path<String>,
    Query(query): Query<OrderQuery>,
) -> Response {
    let Ok(id) = OrderId::parse(&id) else {
        return visit.not_found();
    };
    if let Some(token) = &query.token {
        return match super::guests::order_guest(&shop, &id, token).await {
            Ok(Some(guest)) => {
                show(&shop, &visit, &guest.id, &id, query.placed.is_some(), None).await
            }
            Ok(None) => visit.not_found(),
            Err(error) => visit.error(&error),
        };
    }
    let caller = match visit.require() {
        Ok(caller) => caller,
        Err(redirect) => return redirect,
    };
    show(&shop, &visit, &caller.id, &id, query.placed.is_some(), None).await
}

/// The order page of the caller's order `id`, with `problem` (why a
/// return request was refused) beside the return form, answered 422.
pub(super) async fn show(
    shop: &Storefront,
    visit: &Visit,
    customer: &CustomerId,
    id: &OrderId,
    placed_now: bool,
    problem: Option<String>,
) -> Response {
    let access = Access::Owner(customer);
    let order = match shop.orders().order(access, id).await {
        Ok(order) => order,
        Err(error) => return visit.error(&error),
    };
    let events = match shop.orders().order_events(access, id).await {
        Ok(events) => events,
        Err(error) => return visit.error(&error),
    };
    let title = format!("Order {}", order.number());
    let action = payment_action(shop, &order);
    let mut layout = visit.layout(title);
    if let (
        Some(stripe),
        Some(PaymentAction {
            stripe: Some(_), ..
        }),
    ) = (shop.stripe_js(), &action)
    {
        layout = layout.with_stripe(&stripe.js_url);
    }
    let status = match problem {
        Some(_) => StatusCode::UNPROCESSABLE_ENTITY,
        None => StatusCode::OK,
    };
    let mut page = OrderPage::new(layout, &order, &events, placed_now, action);
    page.after = AftersaleView::of(&order, problem);
    page.shipping_method = orders_core::words::shipping_method(
        shop.orders().config(),
        order.shipping_method().as_str(),
        order.currency(),
    );
    page.guest_link = super::guests::guest_link(shop, &order);
    visit.render(status, &page)
}

/// The "Complete payment" form of an order waiting for its customer's
/// action; `None` for any other order.
fn payment_action(shop: &Storefront, order: &Order) -> Option<PaymentAction> {
    if order.status() != OrderStatus::AwaitingPayment {
        return None;
    }
    let stripe = match (shop.stripe_js(), &order.payment().next_action) {
        (Some(stripe), Some(NextAction::UseSdk { client_secret })) => Some(StripeAction {
            key: stripe.publishable_key.clone(),
            client_secret: client_secret.clone(),
        }),
        _ => None,
    };
    Some(PaymentAction {
        confirm_url: format!("/orders/{}/payment/confirm", order.id()),
        stripe,
    })
}

/// `POST /orders/{id}/payment/confirm`: the customer is back from their
/// bank (or the test gateway's stand-in for it): asks the provider to
/// finish the payment, then shows the order, paid or cancelled. Calling it
/// again, or after the provider's webhook did the same, changes nothing.
pub(super) async fn confirm_payment(
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
    match shop.orders().confirm_payment(&caller.id, &id).await {
        Ok(order) => see_other(&format!("/orders/{}", order.id())),
        Err(error) => visit.error(&error),
    }
}
