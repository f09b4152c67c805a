//! The order history and the order page. The order page's script follows
//! the order live through the API's tracking websocket
//! (`/api/orders/{id}/track`, authenticated by the session cookie).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use orders_core::Access;
use orders_core::ids::OrderId;
use orders_core::ports::OrderFilter;
use serde::Deserialize;

use super::Storefront;
use super::catalogue::ListQuery;
use super::request::Visit;
use super::templates::{OrderPage, OrderRow, OrdersPage};

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

/// `?placed=1` after a checkout.
#[derive(Debug, Default, Deserialize)]
pub(super) struct OrderQuery {
    placed: Option<String>,
}

/// `GET /orders/{id}`: one of the caller's orders; anyone else's is 404,
/// exactly as a missing one.
pub(super) async fn order(
    State(shop): State<Storefront>,
    visit: Visit,
    Path(id): Path<String>,
    Query(query): Query<OrderQuery>,
) -> Response {
    let caller = match visit.require() {
        Ok(caller) => caller,
        Err(redirect) => return redirect,
    };
    let Ok(id) = OrderId::parse(&id) else {
        return visit.not_found();
    };
    let access = Access::Owner(&caller.id);
    let order = match shop.orders().order(access, &id).await {
        Ok(order) => order,
        Err(error) => return visit.error(&error),
    };
    let events = match shop.orders().order_events(access, &id).await {
        Ok(events) => events,
        Err(error) => return visit.error(&error),
    };
    let title = format!("Order {}", order.number());
    let page = OrderPage::new(visit.layout(title), &order, &events, query.placed.is_some());
    visit.render(StatusCode::OK, &page)
}
