//! Outbound webhooks in the panel: the list with each one's backlog and
//! dead deliveries, the create form (the signing secret shown once, on
//! the page that answers it), delete, and one webhook's deliveries with a
//! retry for the dead ones. The same store calls and checks as the JSON
//! routes under `/admin/webhooks` ([`WebhookAdmin`]); without
//! [`Admin::webhooks`](super::Admin::webhooks) every page is a 404.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use orders_core::ids::{DeliveryId, WebhookId};
use orders_core::ports::{Cursor, DeliveryCounts, PageRequest, StoreError};
use orders_core::validation::ValidationErrors;
use orders_core::webhook::{Webhook, WebhookForm};

use super::PanelState;
use super::error::{FormFailure, PageError};
use super::form::{Form, FormState};
use super::orders::query;
use super::session::Staff;
use super::views;
use super::webhook_views::{DeliveriesPage, DeliveryRow, WebhookRow, WebhooksPage};
use crate::query::Params;
use crate::routes::webhooks::{WebhookAdmin, store_error};

fn enabled(state: &PanelState) -> Result<&WebhookAdmin, PageError> {
    state.webhooks.as_ref().ok_or_else(PageError::not_found)
}

fn store(error: StoreError) -> PageError {
    store_error(error).into()
}

fn webhook_id(text: &str) -> Result<WebhookId, PageError> {
    text.parse().map_err(|_| PageError::not_found())
}

/// What the list shows besides the rows.
#[derive(Default)]
struct Shown {
    form: FormState,
    message: Option<String>,
    flash: Option<String>,
    /// The webhook just made, and its secret: this once.
    created: Option<(String, String)>,
}

async fn list_page(
    state: &PanelState,
    staff: &Staff,
    status: StatusCode,
    shown: Shown,
) -> Result<Response, PageError> {
    let admin = enabled(state)?;
    let hooks = admin.store.webhooks().await.map_err(store)?;
    let counts = admin.store.delivery_counts().await.map_err(store)?;
    let count_of = |hook: &Webhook| {
        counts
            .iter()
            .find(|c| c.webhook_id == hook.id)
            .map_or((0, 0), |c: &DeliveryCounts| (c.pending, c.dead))
    };
    let (layout, cookie) = staff.layout(state, "webhooks");
    let form = if shown.form.value("events").is_empty() {
        FormState::new(
            [("events".to_owned(), "*".to_owned())].into(),
            ValidationErrors::new(),
        )
    } else {
        shown.form
    };
    let page = WebhooksPage {
        layout,
        rows: hooks
            .iter()
            .map(|h| WebhookRow::new(h, count_of(h), &state.base))
            .collect(),
        form,
        message: shown.message,
        flash: shown.flash,
        created: shown.created,
    };
    Ok(views::render(status, &page, cookie))
}

/// `GET /webhooks`.
pub(crate) async fn list(
    State(state): State<PanelState>,
    staff: Staff,
    params: Params,
) -> Result<Response, PageError> {
    let flash = params
        .get("deleted")
        .map(|id| format!("Webhook {id} deleted, with its deliveries."));
    let shown = Shown {
        flash,
        ..Shown::default()
    };
    list_page(&state, &staff, StatusCode::OK, shown).await
}

/// `POST /webhooks`: `url`, `events` (names separated by commas or
/// spaces, `*` for all). Answers the list with the new secret, once.
pub(crate) async fn create(
    State(state): State<PanelState>,
    form: Form,
) -> Result<Response, PageError> {
    let staff = Staff::of(&state, &form.parts).await?;
    let admin = enabled(&state)?;
    let events = form.opt("events").map(|text| {
        text.split([',', ' ', '\n', '\t'])
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().to_owned())
            .collect()
    });
    let parsed = WebhookForm {
        url: form.opt("url"),
        events,
    }
    .validate();
    let failure = match parsed {
        Ok(request) => match admin.add(request).await? {
            Ok(hook) => {
                let shown = Shown {
                    created: Some((hook.id.as_str().to_owned(), hook.secret.expose().to_owned())),
                    ..Shown::default()
                };
                return list_page(&state, &staff, StatusCode::CREATED, shown).await;
            }
            Err(refused) => {
                FormFailure::fields(ValidationErrors::single("url", refused.to_string()))
            }
        },
        Err(errors) => FormFailure::fields(errors),
    };
    let shown = Shown {
        form: FormState::new(form.values(), failure.errors),
        message: failure.message,
        ..Shown::default()
    };
    list_page(&state, &staff, failure.status, shown).await
}

/// `POST /webhooks/{id}/delete`.
pub(crate) async fn delete(
    State(state): State<PanelState>,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, PageError> {
    Staff::of(&state, &form.parts).await?;
    let admin = enabled(&state)?;
    let id = webhook_id(&id)?;
    admin.store.delete_webhook(&id).await.map_err(store)?;
    let to = format!(
        "{}{}",
        state.url("/webhooks"),
        query(&[("deleted", id.as_str())])
    );
    Ok(Redirect::to(&to).into_response())
}

/// `GET /webhooks/{id}`: its deliveries, newest event first (`?cursor=`).
pub(crate) async fn show(
    State(state): State<PanelState>,
    staff: Staff,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, PageError> {
    let admin = enabled(&state)?;
    let id = webhook_id(&id)?;
    let Some(hook) = admin.store.webhook(&id).await.map_err(store)? else {
        return Err(PageError::not_found());
    };
    let cursor = params.get("cursor").map(str::to_owned);
    let request = PageRequest::first(state.page_size).after(cursor.clone().map(Cursor));
    let page = match admin.store.deliveries(&id, &request).await {
        Err(StoreError::InvalidCursor) => {
            return Err(PageError::invalid(&ValidationErrors::single(
                "cursor",
                "invalid cursor",
            )));
        }
        other => other.map_err(store)?,
    };
    let counts = admin.store.delivery_counts().await.map_err(store)?;
    let here = state.url(&format!("/webhooks/{}", id.as_str()));
    let flash = params
        .get("retried")
        .map(|d| format!("Delivery {d} will be tried again."));
    let (layout, cookie) = staff.layout(&state, "webhooks");
    let counts = counts
        .iter()
        .find(|c| c.webhook_id == id)
        .map_or((0, 0), |c| (c.pending, c.dead));
    let view = DeliveriesPage {
        layout,
        webhook: WebhookRow::new(&hook, counts, &state.base),
        rows: page.items.iter().map(DeliveryRow::new).collect(),
        next: page
            .next_cursor
            .map(|c| format!("{here}{}", query(&[("cursor", &c.0)]))),
        first: cursor.map(|_| here.clone()),
        flash,
    };
    Ok(views::render(StatusCode::OK, &view, cookie))
}

/// `POST /webhooks/{id}/deliveries/{delivery}/retry`: a dead delivery
/// pending again, due now.
pub(crate) async fn retry(
    State(state): State<PanelState>,
    Path((id, delivery)): Path<(String, String)>,
    form: Form,
) -> Result<Response, PageError> {
    Staff::of(&state, &form.parts).await?;
    let admin = enabled(&state)?;
    let id = webhook_id(&id)?;
    let delivery: DeliveryId = delivery.parse().map_err(|_| PageError::not_found())?;
    let now = state.orders.clock().now();
    match admin.store.retry_delivery(&id, &delivery, now).await {
        Ok(_) => {}
        Err(StoreError::Conflict) => {
            return Err(PageError::new(
                StatusCode::CONFLICT,
                "Not dead",
                Some("Only a dead delivery can be retried.".to_owned()),
            ));
        }
        Err(error) => return Err(store(error)),
    }
    let to = format!(
        "{}{}",
        state.url(&format!("/webhooks/{}", id.as_str())),
        query(&[("retried", delivery.as_str())])
    );
    Ok(Redirect::to(&to).into_response())
}
