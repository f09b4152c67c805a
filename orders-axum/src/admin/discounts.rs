//! Discount codes: the list and the create form, parsed by the core's
//! [`NewDiscountForm`], as the JSON admin route does, and the buttons that
//! disable and re-enable a code.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDateTime;
use orders_core::catalogue::WholeNumber;
use orders_core::discount::NewDiscountForm;
use orders_core::ports::{Cursor, PageRequest};

use super::PanelState;
use super::error::{FormFailure, PageError, on_form};
use super::form::{Form, FormState};
use super::orders::query;
use super::session::Staff;
use super::views::{self, DiscountRow, DiscountsPage};
use crate::query::Params;

/// A browser's `datetime-local` value (`2026-12-31T23:59`), taken as UTC,
/// as RFC 3339; anything else is passed on for the shared parser to judge.
fn rfc3339(text: &str) -> String {
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map_or_else(|| text.to_owned(), |at| at.and_utc().to_rfc3339())
}

async fn page(
    state: &PanelState,
    staff: &Staff,
    params: &Params,
    status: StatusCode,
    form: FormState,
    message: Option<String>,
) -> Result<Response, PageError> {
    let cursor = params.get("cursor").map(str::to_owned);
    let request = PageRequest::first(state.page_size).after(cursor.clone().map(Cursor));
    let result = state.orders.list_discounts(&request).await?;
    let here = state.url("/discounts");
    let flash = params
        .get("created")
        .map(|code| format!("Code {code} created."))
        .or_else(|| {
            params
                .get("disabled")
                .map(|code| format!("Code {code} disabled."))
        })
        .or_else(|| {
            params
                .get("enabled")
                .map(|code| format!("Code {code} enabled."))
        });
    let (layout, cookie) = staff.layout(state, "discounts");
    let page = DiscountsPage {
        layout,
        rows: result.items.iter().map(DiscountRow::new).collect(),
        next: result
            .next_cursor
            .map(|c| format!("{here}{}", query(&[("cursor", &c.0)]))),
        first: cursor.map(|_| here.clone()),
        form,
        message,
        flash,
    };
    Ok(views::render(status, &page, cookie))
}

/// `GET /discounts`.
pub(crate) async fn list(
    State(state): State<PanelState>,
    staff: Staff,
    params: Params,
) -> Result<Response, PageError> {
    let form = FormState::with_values([("kind", "percent".to_owned())]);
    page(&state, &staff, &params, StatusCode::OK, form, None).await
}

/// `POST /discounts`: `code`, `kind`, `value`, `min_subtotal`, `max_uses`,
/// `max_uses_per_customer`, `expires_at`.
pub(crate) async fn create(
    State(state): State<PanelState>,
    form: Form,
) -> Result<Response, PageError> {
    let staff = Staff::of(&state, &form.parts).await?;
    let parsed = NewDiscountForm {
        code: form.opt("code"),
        kind: form.opt("kind"),
        value: form.opt("value"),
        currency: None,
        min_subtotal: form.opt("min_subtotal"),
        max_uses: form.opt("max_uses").map(WholeNumber::Text),
        max_uses_per_customer: form.opt("max_uses_per_customer").map(WholeNumber::Text),
        expires_at: form.opt("expires_at").map(|t| rfc3339(&t)),
    }
    .validate(
        state.orders.config().default_currency,
        state.orders.clock().now(),
    );
    let failure = match parsed.map_err(FormFailure::fields) {
        Ok(discount) => {
            let code = discount.code().as_str().to_owned();
            match state.orders.create_discount(discount).await {
                Ok(_) => {
                    let to = format!(
                        "{}{}",
                        state.url("/discounts"),
                        query(&[("created", &code)])
                    );
                    return Ok(Redirect::to(&to).into_response());
                }
                Err(error) => on_form(error)?,
            }
        }
        Err(failure) => failure,
    };
    let values = FormState::new(form.values(), failure.errors);
    page(
        &state,
        &staff,
        &Params::default(),
        failure.status,
        values,
        failure.message,
    )
    .await
}

/// `POST /discounts/{code}/disable` and `/enable`: a disabled code is
/// refused when applied and at checkout until it is enabled again.
pub(crate) async fn set_active(
    State(state): State<PanelState>,
    Path((code, action)): Path<(String, String)>,
    form: Form,
) -> Result<Response, PageError> {
    Staff::of(&state, &form.parts).await?;
    let active = match action.as_str() {
        "enable" => true,
        "disable" => false,
        _ => return Err(PageError::not_found()),
    };
    let discount = match state.orders.set_discount_active(&code, active).await {
        Ok(discount) => discount,
        Err(orders_core::Error::NotFound(_)) => return Err(PageError::not_found()),
        Err(error) => return Err(error.into()),
    };
    let done = if active { "enabled" } else { "disabled" };
    let to = format!(
        "{}{}",
        state.url("/discounts"),
        query(&[(done, discount.code().as_str())])
    );
    Ok(Redirect::to(&to).into_response())
}
