//! Products: the list, the new-product form and the edit form (price,
//! stock, active, name, description). Fields are parsed by the same
//! functions as the JSON admin routes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use orders_core::catalogue::Product;
use orders_core::ids::ProductId;
use orders_core::ports::{Cursor, PageRequest};
use orders_core::validation::ValidationErrors;

use super::PanelState;
use super::error::{FormFailure, PageError, on_form};
use super::form::{Form, FormState};
use super::orders::query;
use super::session::Staff;
use super::views::{self, ProductFormPage, ProductInfo, ProductRow, ProductsPage};
use crate::query::Params;
use crate::routes::admin::{CreateProduct, PatchProduct, new_product, product_patch};

fn product_id(text: &str) -> Result<ProductId, PageError> {
    text.parse().map_err(|_| PageError::not_found())
}

/// A whole number typed in a form field; the range is the core's to check.
fn integer(errors: &mut ValidationErrors, field: &str, text: &str) -> Option<i64> {
    match text.trim().parse::<i64>() {
        Ok(n) => Some(n),
        Err(_) if text.trim().is_empty() => {
            errors.add(field, "required");
            None
        }
        Err(_) => {
            errors.add(field, "must be a whole number");
            None
        }
    }
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

fn form_page(
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
            id: p.id.as_str().to_owned(),
            sku: p.sku.as_str().to_owned(),
            currency: p.currency.code().to_owned(),
            name: p.name.as_str().to_owned(),
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
    let staff = Staff::of(&state, &form.headers).await?;
    let mut errors = ValidationErrors::new();
    let stock = integer(&mut errors, "stock", form.get("stock"));
    let body = CreateProduct {
        sku: form.get("sku").trim().to_owned(),
        name: form.get("name").trim().to_owned(),
        description: Some(form.get("description").to_owned()),
        price: form.get("price").trim().to_owned(),
        currency: form.get("currency").trim().to_uppercase(),
        stock: stock.unwrap_or(0),
        active: Some(form.checked("active")),
        tax_class: None,
    };
    let parsed = new_product(&body);
    let failure = match FormFailure::checked(parsed, errors) {
        Ok(product) => match state.orders.create_product(product).await {
            Ok(product) => {
                let to = state.url(&format!("/products/{}?saved=created", product.id.as_str()));
                return Ok(Redirect::to(&to).into_response());
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
        None,
        failure.message,
        None,
    ))
}

/// `GET /products/{id}`: the edit form.
pub(crate) async fn edit(
    State(state): State<PanelState>,
    staff: Staff,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, PageError> {
    let product = state.orders.product(&product_id(&id)?).await?;
    let mut values = vec![
        ("name", product.name.as_str().to_owned()),
        ("description", product.description.as_str().to_owned()),
        ("price", product.price.to_string()),
        ("stock", product.stock.to_string()),
    ];
    if product.active {
        values.push(("active", "on".to_owned()));
    }
    let flash = match params.get("saved") {
        Some("created") => Some("Product created.".to_owned()),
        Some(_) => Some("Changes saved.".to_owned()),
        None => None,
    };
    let form = FormState::with_values(values);
    Ok(form_page(
        &state,
        &staff,
        StatusCode::OK,
        form,
        Some(&product),
        None,
        flash,
    ))
}

/// `POST /products/{id}`: `name`, `description`, `price`, `stock`, `active`.
pub(crate) async fn update(
    State(state): State<PanelState>,
    Path(id): Path<String>,
    form: Form,
) -> Result<Response, PageError> {
    let staff = Staff::of(&state, &form.headers).await?;
    let product = state.orders.product(&product_id(&id)?).await?;
    let mut errors = ValidationErrors::new();
    let stock = integer(&mut errors, "stock", form.get("stock"));
    let body = PatchProduct {
        name: Some(form.get("name").trim().to_owned()),
        description: Some(form.get("description").to_owned()),
        price: Some(form.get("price").trim().to_owned()),
        stock,
        active: Some(form.checked("active")),
        tax_class: None,
    };
    let failure = match FormFailure::checked(product_patch(&body, product.currency), errors) {
        Ok(patch) => match state.orders.update_product(&product.id, patch).await {
            Ok(_) => {
                let to = state.url(&format!("/products/{}?saved=1", product.id.as_str()));
                return Ok(Redirect::to(&to).into_response());
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
