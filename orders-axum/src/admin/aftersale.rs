//! The order page's after-sale forms: ship selected units, mark a
//! fulfilment delivered, decide and receive returns, refund, add notes.
//! Each reads the core's form from the posted fields and calls one method
//! of [`orders_core::Orders`]; a refusal shows the order page again with
//! the reason.
//!
//! Irreversible actions (a refund, a return's rejection, and in
//! `orders.rs` a cancellation or a full refund by transition) first answer
//! a confirmation page that repeats the posted fields as hidden inputs
//! with `confirmed=yes`, so confirming works without JavaScript; a refund's
//! page shows the exact amount the core computed before anything is sent
//! to the payment provider.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use orders_core::Access;
use orders_core::ids::{FulfilmentId, OrderId, ReturnId};
use orders_core::order::{
    Actor, FulfilmentForm, ItemLineForm, NoteForm, Order, Record, RefundForm, RejectForm,
    ReturnMove, plan_refund,
};

use super::PanelState;
use super::error::{FormFailure, PageError, on_form};
use super::form::Form;
use super::orders::{Tried, order_id, order_page, query};
use super::session::Staff;
use super::views::{self, ConfirmPage, money};

/// The value of a posted confirmation.
pub(crate) const CONFIRMED: &str = "yes";

/// `{product_id, quantity}` of every `qty_<product_id>` field above zero,
/// for the order's own lines (anything else posted is ignored).
fn posted_lines(order: &Order, form: &Form) -> Option<Vec<ItemLineForm>> {
    let lines: Vec<ItemLineForm> = order
        .lines()
        .iter()
        .filter_map(|line| {
            let id = line.product_id.as_str();
            let text = form.get(&format!("qty_{id}")).trim().to_owned();
            if text.is_empty() || text == "0" {
                return None;
            }
            Some(ItemLineForm {
                product_id: Some(id.to_owned()),
                // Not a number: a quantity the form refuses, on its field.
                quantity: Some(text.parse().unwrap_or(-1)),
            })
        })
        .collect();
    (!lines.is_empty()).then_some(lines)
}

/// Back to the order's page with `done` said at the top.
fn back(state: &PanelState, id: &OrderId, done: &str) -> Response {
    let path = state.url(&format!("/orders/{}", id.as_str()));
    Redirect::to(&format!("{path}{}", query(&[("done", done)]))).into_response()
}

/// The order's page again, saying why `failure` happened.
async fn refused(
    state: &PanelState,
    staff: &Staff,
    id: &OrderId,
    failure: FormFailure,
) -> Result<Response, PageError> {
    order_page(state, staff, id, Some(Tried::form(failure)), None).await
}

/// A core error shown on the order's page (or an error page).
async fn failed(
    state: &PanelState,
    staff: &Staff,
    id: &OrderId,
    error: orders_core::Error,
) -> Result<Response, PageError> {
    refused(state, staff, id, on_form(error)?).await
}

/// `POST /orders/{id}/fulfil`: `qty_<product_id>`, `carrier`,
/// `tracking_number`.
pub(crate) async fn fulfil(
    State(state): State<PanelState>,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, PageError> {
    let staff = Staff::of(&state, &form.parts).await?;
    let id = order_id(&id)?;
    let order = state.orders.order(Access::Staff, &id).await?;
    let body = FulfilmentForm {
        lines: posted_lines(&order, &form),
        carrier: form.opt("carrier"),
        tracking_number: form.opt("tracking_number"),
    };
    let request = match body.validate() {
        Ok(request) => request,
        Err(errors) => return refused(&state, &staff, &id, FormFailure::fields(errors)).await,
    };
    let actor = Actor::staff(&staff.caller.id);
    match state.orders.create_fulfilment(actor, &id, request).await {
        Ok(_) => Ok(back(&state, &id, "shipped")),
        Err(error) => failed(&state, &staff, &id, error).await,
    }
}

/// `POST /fulfilments/{id}/delivered` (`order`: the order's id).
pub(crate) async fn deliver(
    State(state): State<PanelState>,
    Path(fulfilment): Path<String>,
    form: Form,
) -> Result<Response, PageError> {
    let staff = Staff::of(&state, &form.parts).await?;
    let id = order_id(form.get("order"))?;
    let fulfilment: FulfilmentId = fulfilment.parse().map_err(|_| PageError::not_found())?;
    let actor = Actor::staff(&staff.caller.id);
    match state.orders.mark_delivered(actor, &fulfilment).await {
        Ok((order, _)) => Ok(back(&state, order.id(), "delivered")),
        Err(error) => failed(&state, &staff, &id, error).await,
    }
}

/// `POST /returns/{id}/{approve|reject|receive}` (`order`: the order's
/// id; `note` and `confirmed` to reject, `restock` to receive).
pub(crate) async fn move_return(
    State(state): State<PanelState>,
    Path((ret, action)): Path<(String, String)>,
    form: Form,
) -> Result<Response, PageError> {
    let staff = Staff::of(&state, &form.parts).await?;
    let id = order_id(form.get("order"))?;
    let ret: ReturnId = ret.parse().map_err(|_| PageError::not_found())?;
    let action = match action.as_str() {
        "approve" => ReturnMove::Approve,
        "receive" => ReturnMove::Receive {
            restock: form.checked("restock"),
        },
        "reject" => {
            let body = RejectForm {
                note: form.opt("note"),
            };
            let note = match body.validate() {
                Ok(note) => note,
                Err(errors) => {
                    return refused(&state, &staff, &id, FormFailure::fields(errors)).await;
                }
            };
            if form.get("confirmed") != CONFIRMED {
                let page = ConfirmPage::new(
                    staff.layout(&state, "orders").0,
                    "Reject this return?",
                    format!(
                        "The customer is told: “{}”. This cannot be undone.",
                        note.as_str()
                    ),
                    state.url(&format!("/returns/{}/reject", ret.as_str())),
                    &form,
                    "Reject the return",
                    state.url(&format!("/orders/{}", id.as_str())),
                );
                return Ok(views::render(StatusCode::OK, &page, None));
            }
            ReturnMove::Reject(note)
        }
        _ => return Err(PageError::not_found()),
    };
    let actor = Actor::staff(&staff.caller.id);
    match state.orders.move_return(actor, &ret, action).await {
        Ok((order, ret)) => Ok(back(&state, order.id(), ret.status.as_str())),
        Err(error) => failed(&state, &staff, &id, error).await,
    }
}

/// `POST /orders/{id}/refund`: `qty_<product_id>`, `shipping`, or
/// `amount`; `note`, `return_id`; `confirmed` once the amount was shown.
pub(crate) async fn refund(
    State(state): State<PanelState>,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, PageError> {
    let staff = Staff::of(&state, &form.parts).await?;
    let id = order_id(&id)?;
    let order = state.orders.order(Access::Staff, &id).await?;
    let body = RefundForm {
        lines: posted_lines(&order, &form),
        shipping: form.checked("shipping").then_some(true),
        amount: form.opt("amount"),
        note: form.opt("note"),
        return_id: form.opt("return_id"),
    };
    let request = match body.validate(order.currency()) {
        Ok(request) => request,
        Err(errors) => return refused(&state, &staff, &id, FormFailure::fields(errors)).await,
    };
    let actor = Actor::staff(&staff.caller.id);
    if form.get("confirmed") != CONFIRMED {
        // The amount as the core computes it, before anything is sent.
        let now = state.orders.clock().now();
        let planned = match plan_refund(&order, request, actor, now) {
            Ok(change) => change,
            Err(error) => return failed(&state, &staff, &id, error).await,
        };
        let Some(Record::Refund(planned)) = planned.records().first() else {
            return Err(PageError::not_found());
        };
        let page = ConfirmPage::new(
            staff.layout(&state, "orders").0,
            "Refund this amount?",
            format!(
                "{} goes back to the customer's payment for order #{}. This cannot be undone.",
                money(&planned.amount),
                order.number()
            ),
            state.url(&format!("/orders/{}/refund", id.as_str())),
            &form,
            &format!("Refund {}", money(&planned.amount)),
            state.url(&format!("/orders/{}", id.as_str())),
        );
        return Ok(views::render(StatusCode::OK, &page, None));
    }
    match state.orders.refund(actor, &id, request).await {
        Ok(_) => Ok(back(&state, &id, "refunded")),
        Err(error) => failed(&state, &staff, &id, error).await,
    }
}

/// `POST /orders/{id}/notes`: `text`, `visibility` (`internal` or
/// `customer`, chosen each time: nothing is assumed).
pub(crate) async fn note(
    State(state): State<PanelState>,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, PageError> {
    let staff = Staff::of(&state, &form.parts).await?;
    let id = order_id(&id)?;
    let body = NoteForm {
        text: form.opt("text"),
        visible_to_customer: match form.get("visibility") {
            "customer" => Some(true),
            "internal" => Some(false),
            _ => None,
        },
    };
    let note = match body.validate() {
        Ok(note) => note,
        Err(errors) => return refused(&state, &staff, &id, FormFailure::fields(errors)).await,
    };
    let actor = Actor::staff(&staff.caller.id);
    match state.orders.add_note(actor, &id, note).await {
        Ok(_) => Ok(back(&state, &id, "noted")),
        Err(error) => failed(&state, &staff, &id, error).await,
    }
}
