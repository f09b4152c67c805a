//! The product list and product pages, and the 404 page.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use orders_core::catalogue::Product;
use orders_core::ids::ProductId;
use orders_core::ports::{Cursor, PageRequest};
use serde::Deserialize;

use super::Storefront;
use super::catalogue_views::{ImageView, ListRequest};
use super::request::Visit;
use super::templates::{Index, ProductPage, ProductView, money};

/// Products per page of the list.
const PAGE_SIZE: usize = 24;

/// `?cursor=` of a list (and `?q=`, the search, on the product list).
#[derive(Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    /// Where the previous page ended.
    pub cursor: Option<String>,
    /// What the customer searched for.
    #[serde(default)]
    pub q: Option<String>,
}

impl ListQuery {
    pub(super) fn page(self, limit: usize) -> PageRequest {
        PageRequest {
            cursor: self.cursor.filter(|c| !c.is_empty()).map(Cursor),
            ..PageRequest::first(limit)
        }
    }
}

impl ProductView {
    pub(super) fn of(product: &Product) -> Self {
        Self {
            id: product.id().to_string(),
            name: product.name().to_string(),
            description: product.description().as_str().to_owned(),
            price: money(product.price()),
            stock: product.stock(),
            image: product.image().and_then(ImageView::of),
        }
    }
}

/// `GET /`: the active products, newest first; with `?q=`, those that match
/// the search (name, SKU or description), the search kept in the links to
/// the next pages.
pub(super) async fn index(
    State(shop): State<Storefront>,
    visit: Visit,
    Query(query): Query<ListQuery>,
) -> Response {
    let list = ListRequest::read(query.q, query.cursor);
    let page = PageRequest::first(PAGE_SIZE).after(list.cursor.clone().map(Cursor));
    match shop
        .orders()
        .search_products(list.query.as_ref(), true, &page)
        .await
    {
        Ok(page) => {
            let title = match &list.query {
                Some(_) => format!("Search: {}", list.search.text.trim()),
                None => "Shop".to_owned(),
            };
            let pager = list.pager(page.next_cursor.map(|c| c.0));
            visit.render(
                StatusCode::OK,
                &Index {
                    layout: visit.layout(title),
                    products: page.items.iter().map(ProductView::of).collect(),
                    searching: list.query.is_some(),
                    search: list.search,
                    pager,
                },
            )
        }
        Err(error) => visit.error(&error),
    }
}

/// `GET /products/{id}`: an active product, with the add-to-cart form.
pub(super) async fn product(
    State(shop): State<Storefront>,
    visit: Visit,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = ProductId::parse(&id) else {
        return visit.not_found();
    };
    match shop.orders().active_product(&id).await {
        Ok(product) => visit.render(StatusCode::OK, &product_page(&visit, &product)),
        Err(error) => visit.error(&error),
    }
}

/// The product page with an empty form.
pub(super) fn product_page(visit: &Visit, product: &Product) -> ProductPage {
    ProductPage {
        layout: visit.layout(product.name().to_string()),
        product: ProductView::of(product),
        availability: super::stock::availability(product.stock()),
        quantity: "1".to_owned(),
        quantity_error: None,
        product_error: None,
    }
}

/// Any other path: the 404 page.
pub(super) async fn not_found(visit: Visit) -> Response {
    visit.not_found()
}
