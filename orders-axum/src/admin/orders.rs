//! Orders: the list (filter, search, pages, live), one order's page, and
//! its status moves. The legal moves are the core's table.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use orders_core::Access;
use orders_core::ids::OrderId;
use orders_core::order::{Actor, OrderStatus, TransitionForm};
use orders_core::ports::{Cursor, OrderFilter, PageRequest};
use orders_core::validation::ValidationErrors;

use super::PanelState;
use super::aftersale::CONFIRMED;
use super::aftersale_views::{Actors, AftersaleView};
use super::error::{FormFailure, PageError, on_form};
use super::form::Form;
use super::session::Staff;
use super::views::{
    self, ConfirmPage, EventView, MoveView, OrderPage, OrderRow, OrderView, OrdersPage, RowFragment,
};
use crate::query::Params;

/// A query string of the non-empty pairs.
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        serializer.append_pair(key, value);
    }
    let text = serializer.finish();
    if text.is_empty() {
        text
    } else {
        format!("?{text}")
    }
}

pub(crate) fn order_id(text: &str) -> Result<OrderId, PageError> {
    text.parse().map_err(|_| PageError::not_found())
}

/// `GET /` and `GET /orders`: `?status=`, `?q=` (number or email),
/// `?cursor=`; newest first.
pub(crate) async fn list(
    State(state): State<PanelState>,
    staff: Staff,
    params: Params,
) -> Result<Response, PageError> {
    let mut errors = ValidationErrors::new();
    let status = params.status(&mut errors);
    let search = params.search("q", &mut errors);
    if !errors.is_empty() {
        return Err(PageError::invalid(&errors));
    }
    let q = search
        .map(|q| q.as_str().trim_start_matches('#').trim().to_owned())
        .unwrap_or_default();
    let cursor = params.get("cursor").map(str::to_owned);
    let filter = OrderFilter {
        customer_id: None,
        status,
        email: None,
        search: Some(q.clone()).filter(|q| !q.is_empty()),
    };
    let page = PageRequest::first(state.page_size).after(cursor.clone().map(Cursor));
    let result = state
        .orders
        .list_orders(Access::Staff, &filter, &page)
        .await?;
    let status_text = status.map(OrderStatus::as_str).unwrap_or("");
    let here = state.url("/orders");
    let next = result.next_cursor.map(|c| {
        format!(
            "{here}{}",
            query(&[("status", status_text), ("q", &q), ("cursor", &c.0)])
        )
    });
    let first = cursor
        .is_some()
        .then(|| format!("{here}{}", query(&[("status", status_text), ("q", &q)])));
    let (layout, cookie) = staff.layout(&state, "orders");
    let page = OrdersPage {
        rows: result
            .items
            .iter()
            .map(|o| OrderRow::new(o, &state.base))
            .collect(),
        statuses: OrderStatus::ALL
            .iter()
            .map(|s| (s.as_str(), Some(*s) == status))
            .collect(),
        status: status_text.to_owned(),
        live_insert: cursor.is_none() && q.is_empty(),
        q,
        next,
        first,
        layout,
    };
    Ok(views::render(StatusCode::OK, &page, cookie))
}

/// `GET /orders/{id}/row`: one row of the table, for the live list.
pub(crate) async fn row(
    State(state): State<PanelState>,
    _staff: Staff,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let order = state.orders.order(Access::Staff, &order_id(&id)?).await?;
    let fragment = RowFragment {
        row: OrderRow::new(&order, &state.base),
    };
    Ok(views::render(StatusCode::OK, &fragment, None))
}

/// What a failed form shows on the page again.
pub(crate) struct Tried {
    to: String,
    note: String,
    tracking: String,
    failure: FormFailure,
}

impl Tried {
    /// A failed after-sale form: its reason, above the page.
    pub(crate) fn form(failure: FormFailure) -> Self {
        Self {
            to: String::new(),
            note: String::new(),
            tracking: String::new(),
            failure,
        }
    }
}

/// What `?done=` says at the top of the page after an after-sale form.
fn done_flash(done: &str) -> Option<String> {
    let text = match done {
        "shipped" => "Fulfilment shipped.",
        "delivered" => "Fulfilment marked delivered.",
        "approved" => "Return approved.",
        "rejected" => "Return rejected.",
        "received" => "Return received.",
        "refunded" => "Refund made.",
        "noted" => "Note added.",
        _ => return None,
    };
    Some(text.to_owned())
}

pub(crate) async fn order_page(
    state: &PanelState,
    staff: &Staff,
    id: &OrderId,
    tried: Option<Tried>,
    flash: Option<String>,
) -> Result<Response, PageError> {
    let order = state.orders.order(Access::Staff, id).await?;
    let events = state.orders.order_events(Access::Staff, id).await?;
    let actors = Actors::of(
        state,
        events
            .iter()
            .map(|e| &e.actor)
            .chain(order.notes().iter().map(|n| &n.author)),
    )
    .await;
    // Only the payment moves an order from awaiting_payment to paid (the
    // customer's return, the provider's webhook): staff may only cancel.
    // Partly shipping is the fulfilment form's, with the units chosen.
    let mut moves: Vec<MoveView> = order
        .status()
        .next()
        .iter()
        .filter(|to| !(order.status() == OrderStatus::AwaitingPayment && **to == OrderStatus::Paid))
        .filter(|to| **to != OrderStatus::PartiallyShipped)
        .map(|s| MoveView::new(*s))
        .collect();
    let mut status = StatusCode::OK;
    let mut message = None;
    if let Some(tried) = tried {
        status = tried.failure.status;
        let errors = &tried.failure.errors;
        message = tried.failure.message.clone();
        match moves.iter_mut().find(|m| m.to == tried.to) {
            Some(mv) => {
                mv.note = tried.note;
                mv.tracking = tried.tracking;
                mv.tracking_error = errors.get("tracking_number").map(|m| m.join("; "));
                mv.error = errors
                    .get("note")
                    .map(|m| format!("Note: {}", m.join("; ")));
            }
            None if message.is_none() => {
                message = Some(match errors.get("to") {
                    Some(m) => format!("Status: {}", m.join("; ")),
                    None => errors.to_string(),
                });
            }
            None => {}
        }
    }
    let (layout, cookie) = staff.layout(state, "orders");
    let page = OrderPage {
        layout,
        order: OrderView::new(&order),
        events: events.iter().map(|e| EventView::new(e, &actors)).collect(),
        moves,
        after: AftersaleView::new(&order, &actors),
        message,
        flash,
    };
    Ok(views::render(status, &page, cookie))
}

/// `GET /orders/{id}`.
pub(crate) async fn show(
    State(state): State<PanelState>,
    staff: Staff,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, PageError> {
    let id = order_id(&id)?;
    let flash = params
        .get("moved")
        .and_then(|s| s.parse::<OrderStatus>().ok())
        .map(|s| format!("Marked {s}."))
        .or_else(|| params.get("done").and_then(done_flash));
    order_page(&state, &staff, &id, None, flash).await
}

/// `POST /orders/{id}/transition`: `to`, `note`, `tracking_number`.
pub(crate) async fn transition(
    State(state): State<PanelState>,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, PageError> {
    let staff = Staff::of(&state, &form.parts).await?;
    let id = order_id(&id)?;
    let body = TransitionForm {
        to: form.opt("to"),
        note: form.opt("note"),
        tracking_number: form.opt("tracking_number"),
    };
    let tried = |failure| Tried {
        to: form.get("to").to_owned(),
        note: form.get("note").to_owned(),
        tracking: form.get("tracking_number").to_owned(),
        failure,
    };
    let transition = match body.validate() {
        Ok(t) => t,
        Err(errors) => {
            return order_page(
                &state,
                &staff,
                &id,
                Some(tried(FormFailure::fields(errors))),
                None,
            )
            .await;
        }
    };
    let to = transition.to;
    let irreversible = matches!(to, OrderStatus::Cancelled | OrderStatus::Refunded);
    if irreversible && form.get("confirmed") != CONFIRMED {
        let (title, question) = match to {
            OrderStatus::Cancelled => (
                "Cancel this order?",
                "Its stock goes back, and a card payment is refunded or released. This cannot be undone.",
            ),
            _ => (
                "Refund this whole order?",
                "Everything left to refund goes back to the customer's payment. This cannot be undone.",
            ),
        };
        let page = ConfirmPage::new(
            staff.layout(&state, "orders").0,
            title,
            question.to_owned(),
            state.url(&format!("/orders/{}/transition", id.as_str())),
            &form,
            &format!("Yes, mark {to}"),
            state.url(&format!("/orders/{}", id.as_str())),
        );
        return Ok(views::render(StatusCode::OK, &page, None));
    }
    match state
        .orders
        .transition(Actor::staff(&staff.caller.id), &id, transition)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!(
            "{}{}",
            state.url(&format!("/orders/{}", id.as_str())),
            query(&[("moved", to.as_str())])
        ))
        .into_response()),
        Err(error) => {
            let failure = on_form(error)?;
            order_page(&state, &staff, &id, Some(tried(failure)), None).await
        }
    }
}
