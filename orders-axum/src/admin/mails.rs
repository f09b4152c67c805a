//! Customer emails in the panel: the pending mails (with their attempts,
//! last error and next attempt) and the dead ones with a retry. Without
//! [`Admin::mails`](super::Admin::mails) the page is a 404.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use orders_core::ids::DeliveryId;
use orders_core::mail::Mail;
use orders_core::ports::{MailboxStore, StoreError};
use orders_core::webhook::DeliveryStatus;

use super::PanelState;
use super::error::PageError;
use super::form::Form;
use super::mail_views::{MailRow, MailsPage};
use super::orders::query;
use super::session::Staff;
use super::views;
use crate::query::Params;
use crate::routes::webhooks::store_error;

fn enabled(state: &PanelState) -> Result<&Arc<dyn MailboxStore>, PageError> {
    state.mails.as_ref().ok_or_else(PageError::not_found)
}

fn store(error: StoreError) -> PageError {
    store_error(error).into()
}

/// The rows of `mails`, each with its order's email.
async fn rows(mailbox: &Arc<dyn MailboxStore>, mails: &[Mail]) -> Result<Vec<MailRow>, PageError> {
    let mut rows = Vec::with_capacity(mails.len());
    for mail in mails {
        let order = mailbox.order(&mail.order_id).await.map_err(store)?;
        let recipient = order.map(|o| o.email().to_string()).unwrap_or_default();
        rows.push(MailRow::new(mail, recipient));
    }
    Ok(rows)
}

/// `GET /emails`: the pending mails, then the dead ones, oldest event
/// first (a page of each).
pub(crate) async fn list(
    State(state): State<PanelState>,
    staff: Staff,
    params: Params,
) -> Result<Response, PageError> {
    let mails = enabled(&state)?;
    let limit = state.page_size.max(1);
    let pending = mails
        .mails_in_status(DeliveryStatus::Pending, limit)
        .await
        .map_err(store)?;
    let dead = mails
        .mails_in_status(DeliveryStatus::Dead, limit)
        .await
        .map_err(store)?;
    let flash = params
        .get("retried")
        .map(|id| format!("Email {id} will be tried again."));
    let (layout, cookie) = staff.layout(&state, "emails");
    let page = MailsPage {
        layout,
        pending: rows(mails, &pending).await?,
        dead: rows(mails, &dead).await?,
        flash,
    };
    Ok(views::render(StatusCode::OK, &page, cookie))
}

/// `POST /emails/{id}/retry`: a dead mail pending again, due now.
pub(crate) async fn retry(
    State(state): State<PanelState>,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, PageError> {
    Staff::of(&state, &form.parts).await?;
    let mails = enabled(&state)?;
    let id: DeliveryId = id.parse().map_err(|_| PageError::not_found())?;
    let now = state.orders.clock().now();
    match mails.retry_mail(&id, now).await {
        Ok(_) => {}
        Err(StoreError::Conflict) => {
            return Err(PageError::new(
                StatusCode::CONFLICT,
                "Not dead",
                Some("Only a dead email can be retried.".to_owned()),
            ));
        }
        Err(error) => return Err(store(error)),
    }
    let to = format!(
        "{}{}",
        state.url("/emails"),
        query(&[("retried", id.as_str())])
    );
    Ok(Redirect::to(&to).into_response())
}
