//! Products: the list, the new-product form and the edit form (price,
//! stock, active, name, description). Fields are parsed by the same
//! forms of the core as the JSON admin routes: [`NewProductForm`] and
//! [`ProductEditForm`].
//!
//! The edit form carries the version it was made from in a hidden field,
//! and every save says it ([`VersionPolicy::Always`]): a save from a page
//! opened before someone else's save, a sale or a cancellation is refused
//! and the form shown again with the current values. The stock is changed
//! by an adjustment ("+5", "-2") applied to the stock as stored, or set to
//! a count, which the version makes safe.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use orders_core::catalogue::{
    NewProductForm, Product, ProductEditForm, VersionPolicy, WholeNumber,
};
use orders_core::ids::ProductId;
use orders_core::ports::{Cursor, PageRequest};

use super::PanelState;
use super::error::{FormFailure, PageError, on_form};
use super::form::{Form, FormState};
use super::orders::query;
use super::session::Staff;
use super::views::{self, ProductFormPage, ProductInfo, ProductRow, ProductsPage};
use crate::query::Params;

pub(super) fn product_id(text: &str) -> Result<ProductId, PageError> {
    text.parse().map_err(|_| PageError::not_found())
}

/// `GET /products`: every product, active or not, newest first.
pub(crate) async fn list(
    State(state): State<PanelState>,
    staff: Staff,
    params: Params,
) -> Result<Response, PageError> {
    let cursor = params.get("cursor").map(str::to_owned);
    let page = PageRequest::first(state.page_size).after(cursor.clone().map(Cursor));
    let result = state.orders.list_products(false, &page).await?;
    let here = state.url("/products");
    let (layout, cookie) = staff.layout(&state, "products");
    let page = ProductsPage {
        layout,
        rows: result.items.iter().map(ProductRow::new).collect(),
        next: result
            .next_cursor
            .map(|c| format!("{here}{}", query(&[("cursor", &c.0)]))),
        first: cursor.map(|_| here.clone()),
    };
    Ok(views::render(StatusCode::OK, &page, cookie))
}

pub(super) fn form_page(
    state: &PanelState,
    staff: &Staff,
    status: StatusCode,
    form: FormState,
    product: Option<&Product>,
    message: Option<String>,
    flash: Option<String>,
) -> Response {
    let (layout, cookie) = staff.layout(state, "products");
    let page = ProductFormPage {
        layout,
        form,
        product: product.map(|p| ProductInfo {
            id: p.id().as_str().to_owned(),
            sku: p.sku().as_str().to_owned(),
            currency: p.currency().code().to_owned(),
            name: p.name().as_str().to_owned(),
            stock: p.stock(),
            image: p
                .image()
                .and_then(|image| image.variants().into_iter().next_back()),
            uploads: state.images.is_some(),
        }),
        message,
        flash,
    };
    views::render(status, &page, cookie)
}

/// `GET /products/new`.
pub(crate) async fn new(State(state): State<PanelState>, staff: Staff) -> Response {
    let form = FormState::with_values([
        (
            "currency",
            state.orders.config().default_currency.code().to_owned(),
        ),
        ("stock", "0".to_owned()),
        ("active", "on".to_owned()),
    ]);
    form_page(&state, &staff, StatusCode::OK, form, None, None, None)
}

/// `POST /products`: `sku`, `name`, `description`, `price`, `currency`,
/// `stock`, `active`.
pub(crate) async fn create(
    State(state): State<PanelState>,
    form: Form,
) -> Result<Response, PageError> {
    let staff = Staff::of(&state, &form.parts).await?;
    let submitted = NewProductForm {
        sku: Some(form.get("sku").trim().to_owned()),
        name: Some(form.get("name").trim().to_owned()),
        description: Some(form.get("description").to_owned()),
        price: Some(form.get("price").trim().to_owned()),
        currency: Some(form.get("currency").trim().to_uppercase()),
        stock: Some(WholeNumber::Text(form.get("stock").to_owned())),
        active: Some(form.checked("active")),
        tax_class: None,
    };
    let failure = match submitted.validate() {
        Ok(product) => match state.orders.create_product(product).await {
            Ok(product) => {
                let to = state.url(&format!(
                    "/products/{}?saved=created",
                    product.id().as_str()
                ));
                return Ok(Redirect::to(&to).into_response());
            }
            Err(error) => on_form(error)?,
        },
        Err(errors) => FormFailure::fields(errors),
    };
    let values = FormState::new(form.values(), failure.errors);
    Ok(form_page(
        &state,
        &staff,
        failure.status,
        values,
        None,
        failure.message,
        None,
    ))
}

/// The edit form's values for `product` as stored: its fields, its
/// version, and no stock change.
pub(super) fn edit_values(product: &Product) -> FormState {
    let mut values = vec![
        ("name", product.name().as_str().to_owned()),
        ("description", product.description().as_str().to_owned()),
        ("price", product.price().to_string()),
        ("version", product.version().to_string()),
    ];
    if product.active() {
        values.push(("active", "on".to_owned()));
    }
    FormState::with_values(values)
}

/// `GET /products/{id}`: the edit form.
pub(crate) async fn edit(
    State(state): State<PanelState>,
    staff: Staff,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, PageError> {
    let product = state.orders.product(&product_id(&id)?).await?;
    let flash = match params.get("saved") {
        Some("created") => Some("Product created.".to_owned()),
        Some("image") => Some("Picture uploaded.".to_owned()),
        Some(_) => Some("Changes saved.".to_owned()),
        None => None,
    };
    Ok(form_page(
        &state,
        &staff,
        StatusCode::OK,
        edit_values(&product),
        Some(&product),
        None,
        flash,
    ))
}

/// `POST /products/{id}`: `version` (hidden), `name`, `description`,
/// `price`, `stock_adjustment` or `stock`, `active`.
pub(crate) async fn update(
    State(state): State<PanelState>,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, PageError> {
    let staff = Staff::of(&state, &form.parts).await?;
    let product = state.orders.product(&product_id(&id)?).await?;
    let number = |name: &str| Some(WholeNumber::Text(form.get(name).to_owned()));
    let submitted = ProductEditForm {
        version: number("version"),
        name: Some(form.get("name").to_owned()),
        description: Some(form.get("description").to_owned()),
        price: Some(form.get("price").trim().to_owned()),
        stock: number("stock"),
        stock_adjustment: number("stock_adjustment"),
        active: Some(form.checked("active")),
        tax_class: None,
    };
    let edit = submitted
        .validate(product.currency(), VersionPolicy::Always)
        .map_err(FormFailure::fields);
    let failure = match edit {
        Ok(edit) => match state.orders.update_product(product.id(), edit).await {
            Ok(_) => {
                let to = state.url(&format!("/products/{}?saved=1", product.id().as_str()));
                return Ok(Redirect::to(&to).into_response());
            }
            Err(orders_core::Error::Stale(current)) => {
                // Shown again with the values as stored now, and their version.
                let failure = on_form(orders_core::Error::Stale(current.clone()))?;
                return Ok(form_page(
                    &state,
                    &staff,
                    failure.status,
                    edit_values(&current),
                    Some(&current),
                    failure.message,
                    None,
                ));
            }
            Err(error) => on_form(error)?,
        },
        Err(failure) => failure,
    };
    let values = FormState::new(form.values(), failure.errors);
    Ok(form_page(
        &state,
        &staff,
        failure.status,
        values,
        Some(&product),
        failure.message,
        None,
    ))
}
