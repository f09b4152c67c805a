//! The pages' templates (askama, checked at compile time, HTML-escaped by
//! default) and the plain view models they show: every value is formatted
//! here (money with its currency, dates in UTC), so templates hold no logic
//! beyond loops and conditions.

use askama::Template;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use orders_core::catalogue::Product;
use orders_core::checkout::PaymentMethod;
use orders_core::discount::{Discount, DiscountKind};
use orders_core::money::Money;
use orders_core::order::{EventKind, Order, OrderEvent, OrderStatus};

use super::PanelState;
use super::aftersale::CONFIRMED;
use super::aftersale_views::{Actors, AftersaleView};
use super::form::{Form, FormState};
use crate::Caller;
use crate::web::session::is_tls;

/// What every page shares: paths, assets, the CSRF token of its forms and
/// who is signed in.
pub(crate) struct Layout {
    pub(crate) base: String,
    pub(crate) api: String,
    pub(crate) css: String,
    pub(crate) js: String,
    pub(crate) csrf: String,
    pub(crate) staff: Option<String>,
    pub(crate) nav: &'static str,
    /// Whether the webhook pages are there (a link in the menu).
    pub(crate) webhooks: bool,
    /// Whether the email page is there (a link in the menu).
    pub(crate) mails: bool,
}

impl Layout {
    /// The layout of a page answering `headers`, and the CSRF cookie to
    /// send with it when the browser has none yet.
    pub(crate) fn new(
        state: &PanelState,
        headers: &HeaderMap,
        staff: Option<&Caller>,
        nav: &'static str,
    ) -> (Self, Option<HeaderValue>) {
        let (csrf, cookie) = state.csrf.issue(headers, is_tls(headers));
        let layout = Self {
            base: state.base.clone(),
            api: state.api.clone(),
            css: state.url(&format!("/assets/{}", state.assets.css)),
            js: state.url(&format!("/assets/{}", state.assets.js)),
            csrf,
            staff: staff.map(|c| c.email.clone()),
            nav,
            webhooks: state.webhooks.is_some(),
            mails: state.mails.is_some(),
        };
        (layout, cookie)
    }
}

/// Renders `page` with `status`, sending `cookie` (the CSRF id) if any.
pub(crate) fn render(
    status: StatusCode,
    page: &impl Template,
    cookie: Option<HeaderValue>,
) -> Response {
    let html = match page.render() {
        Ok(html) => html,
        Err(error) => {
            tracing::error!(%error, "template failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Some(cookie) = cookie {
        headers.append(header::SET_COOKIE, cookie);
    }
    response
}

/// `19.90 USD`.
pub(crate) fn money(amount: &Money) -> String {
    format!("{amount} {}", amount.currency())
}

/// `diners_club` → `Diners club`.
fn title_case(word: &str) -> String {
    let text = word.replace('_', " ");
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// `2026-12-02 12:30 UTC`.
pub(crate) fn date(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

// ------------------------------------------------------------------ pages

/// The sign-in form.
#[derive(Template)]
#[template(path = "admin/login.html")]
pub(crate) struct LoginPage {
    pub(crate) layout: Layout,
    pub(crate) form: FormState,
    pub(crate) message: Option<String>,
}

/// An error page.
#[derive(Template)]
#[template(path = "admin/error.html")]
pub(crate) struct ErrorPage {
    pub(crate) layout: Layout,
    pub(crate) status: u16,
    pub(crate) title: String,
    pub(crate) detail: Option<String>,
}

/// One row of the orders table.
pub(crate) struct OrderRow {
    pub(crate) id: String,
    pub(crate) number: String,
    pub(crate) email: String,
    pub(crate) total: String,
    pub(crate) status: &'static str,
    pub(crate) created: String,
    pub(crate) base: String,
}

impl OrderRow {
    pub(crate) fn new(order: &Order, base: &str) -> Self {
        Self {
            id: order.id().as_str().to_owned(),
            number: order.number().to_string(),
            email: order.email().as_str().to_owned(),
            total: money(&order.totals().total),
            status: order.status().as_str(),
            created: date(&order.created_at()),
            base: base.to_owned(),
        }
    }
}

/// The orders list.
#[derive(Template)]
#[template(path = "admin/orders.html")]
pub(crate) struct OrdersPage {
    pub(crate) layout: Layout,
    pub(crate) rows: Vec<OrderRow>,
    /// Every status, and whether it is the filter's.
    pub(crate) statuses: Vec<(&'static str, bool)>,
    pub(crate) status: String,
    pub(crate) q: String,
    pub(crate) next: Option<String>,
    pub(crate) first: Option<String>,
    /// Whether new orders may be added live at the top (the first page,
    /// no search).
    pub(crate) live_insert: bool,
}

/// One row alone, for the live list (`GET /orders/{id}/row`).
#[derive(Template)]
#[template(path = "admin/order_row.html")]
pub(crate) struct RowFragment {
    pub(crate) row: OrderRow,
}

/// One line of an order.
pub(crate) struct LineView {
    pub(crate) sku: String,
    pub(crate) name: String,
    pub(crate) quantity: String,
    pub(crate) unit: String,
    pub(crate) discount: String,
    pub(crate) tax: String,
    pub(crate) total: String,
}

/// One event of the timeline.
pub(crate) struct EventView {
    pub(crate) id: String,
    pub(crate) from: Option<&'static str>,
    pub(crate) to: &'static str,
    /// What happened besides a status change (`note added`), or "".
    pub(crate) kind: String,
    pub(crate) at: String,
    /// Who: a staff member's label, "customer" or "system".
    pub(crate) actor: String,
    pub(crate) note: Option<String>,
}

impl EventView {
    pub(crate) fn new(event: &OrderEvent, actors: &Actors) -> Self {
        let kind = match event.kind {
            EventKind::StatusChanged => String::new(),
            other => other.as_str().replace('_', " "),
        };
        Self {
            id: event.id.to_string(),
            from: event.from.map(OrderStatus::as_str),
            to: event.to.as_str(),
            kind,
            at: date(&event.at),
            actor: actors.name(&event.actor),
            note: event.note.as_ref().map(|n| n.as_str().to_owned()),
        }
    }
}

/// A confirmation step for an irreversible action: the posted fields
/// again as hidden inputs, with `confirmed=yes`, so it works without
/// JavaScript.
#[derive(Template)]
#[template(path = "admin/confirm.html")]
pub(crate) struct ConfirmPage {
    pub(crate) layout: Layout,
    pub(crate) title: String,
    pub(crate) question: String,
    pub(crate) action: String,
    pub(crate) fields: Vec<(String, String)>,
    pub(crate) button: String,
    pub(crate) back: String,
}

impl ConfirmPage {
    pub(crate) fn new(
        layout: Layout,
        title: &str,
        question: String,
        action: String,
        form: &Form,
        button: &str,
        back: String,
    ) -> Self {
        let mut fields: Vec<(String, String)> = form
            .values()
            .into_iter()
            .filter(|(k, _)| k != "confirmed")
            .collect();
        fields.sort();
        fields.push(("confirmed".to_owned(), CONFIRMED.to_owned()));
        Self {
            layout,
            title: title.to_owned(),
            question,
            action,
            fields,
            button: button.to_owned(),
            back,
        }
    }
}

/// One legal next status, as a form.
pub(crate) struct MoveView {
    pub(crate) to: &'static str,
    pub(crate) label: String,
    pub(crate) ship: bool,
    pub(crate) danger: bool,
    pub(crate) note: String,
    pub(crate) tracking: String,
    pub(crate) error: Option<String>,
    pub(crate) tracking_error: Option<String>,
}

impl MoveView {
    pub(crate) fn new(to: OrderStatus) -> Self {
        Self {
            to: to.as_str(),
            label: format!("Mark {}", to.as_str()),
            ship: to == OrderStatus::Shipped,
            danger: matches!(to, OrderStatus::Cancelled | OrderStatus::Refunded),
            note: String::new(),
            tracking: String::new(),
            error: None,
            tracking_error: None,
        }
    }
}

/// An order, formatted.
pub(crate) struct OrderView {
    pub(crate) id: String,
    pub(crate) number: String,
    pub(crate) status: &'static str,
    pub(crate) email: String,
    pub(crate) lines: Vec<LineView>,
    pub(crate) subtotal: String,
    pub(crate) discount: String,
    pub(crate) discount_code: Option<String>,
    pub(crate) shipping: String,
    pub(crate) tax: String,
    pub(crate) total: String,
    pub(crate) address: Vec<String>,
    pub(crate) shipping_method: String,
    pub(crate) payment: String,
    pub(crate) payment_status: &'static str,
    pub(crate) tracking: String,
    pub(crate) created: String,
    pub(crate) updated: String,
}

impl OrderView {
    pub(crate) fn new(order: &Order) -> Self {
        let a = &order.shipping_address();
        let mut address = vec![
            a.full_name().as_str().to_owned(),
            a.line1().as_str().to_owned(),
        ];
        if let Some(line2) = a.line2() {
            address.push(line2.as_str().to_owned());
        }
        let mut city = format!("{} {}", a.postal_code().as_str(), a.city().as_str());
        if let Some(region) = a.region() {
            city.push_str(&format!(", {}", region.as_str()));
        }
        address.push(city);
        address.push(a.country().code().to_owned());
        if let Some(phone) = a.phone() {
            address.push(phone.as_str().to_owned());
        }
        let p = &order.payment();
        let payment = match (p.method, &p.brand, &p.last4) {
            (_, Some(brand), Some(last4)) => {
                format!("{} ending {last4}", title_case(brand.as_str()))
            }
            (PaymentMethod::CashOnDelivery, ..) => "Cash on delivery".to_owned(),
            (method, ..) => title_case(method.as_str()),
        };
        Self {
            id: order.id().as_str().to_owned(),
            number: order.number().to_string(),
            status: order.status().as_str(),
            email: order.email().as_str().to_owned(),
            lines: order
                .lines()
                .iter()
                .map(|l| LineView {
                    sku: l.sku.as_str().to_owned(),
                    name: l.name.as_str().to_owned(),
                    quantity: l.quantity.to_string(),
                    unit: money(&l.unit_price),
                    discount: money(&l.line_discount),
                    tax: money(&l.line_tax),
                    total: money(&l.line_total),
                })
                .collect(),
            subtotal: money(&order.totals().subtotal),
            discount: if order.totals().discount.amount().is_zero() {
                money(&order.totals().discount)
            } else {
                format!("−{}", money(&order.totals().discount))
            },
            discount_code: order
                .discount_code()
                .as_ref()
                .map(|c| c.as_str().to_owned()),
            shipping: money(&order.totals().shipping),
            tax: money(&order.totals().tax),
            total: money(&order.totals().total),
            address,
            shipping_method: order.shipping_method().as_str().to_owned(),
            payment,
            payment_status: p.status.as_str(),
            tracking: order
                .tracking_number()
                .as_ref()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
            created: date(&order.created_at()),
            updated: date(&order.updated_at()),
        }
    }
}

/// One order's page.
#[derive(Template)]
#[template(path = "admin/order.html")]
pub(crate) struct OrderPage {
    pub(crate) layout: Layout,
    pub(crate) order: OrderView,
    pub(crate) events: Vec<EventView>,
    pub(crate) moves: Vec<MoveView>,
    pub(crate) after: AftersaleView,
    pub(crate) message: Option<String>,
    pub(crate) flash: Option<String>,
}

/// One row of the products table.
pub(crate) struct ProductRow {
    pub(crate) id: String,
    pub(crate) sku: String,
    pub(crate) name: String,
    pub(crate) price: String,
    pub(crate) stock: u32,
    pub(crate) active: bool,
}

impl ProductRow {
    pub(crate) fn new(product: &Product) -> Self {
        Self {
            id: product.id().as_str().to_owned(),
            sku: product.sku().as_str().to_owned(),
            name: product.name().as_str().to_owned(),
            price: money(&product.price()),
            stock: product.stock(),
            active: product.active(),
        }
    }
}

/// The products list.
#[derive(Template)]
#[template(path = "admin/products.html")]
pub(crate) struct ProductsPage {
    pub(crate) layout: Layout,
    pub(crate) rows: Vec<ProductRow>,
    pub(crate) next: Option<String>,
    pub(crate) first: Option<String>,
}

/// The product being edited (none: a new one).
pub(crate) struct ProductInfo {
    pub(crate) id: String,
    pub(crate) sku: String,
    pub(crate) currency: String,
    pub(crate) name: String,
    /// The stock as stored when the page was made.
    pub(crate) stock: u32,
    /// Its picture's widest copy, if it has one.
    pub(crate) image: Option<orders_core::catalogue::ImageVariant>,
    /// Whether the panel takes pictures ([`Admin::images`](super::Admin::images)).
    pub(crate) uploads: bool,
}

/// The new-product and edit-product form.
#[derive(Template)]
#[template(path = "admin/product_form.html")]
pub(crate) struct ProductFormPage {
    pub(crate) layout: Layout,
    pub(crate) form: FormState,
    pub(crate) product: Option<ProductInfo>,
    pub(crate) message: Option<String>,
    pub(crate) flash: Option<String>,
}

/// One row of the discounts table.
pub(crate) struct DiscountRow {
    pub(crate) code: String,
    pub(crate) value: String,
    pub(crate) min_subtotal: String,
    pub(crate) uses: String,
    pub(crate) per_customer: String,
    pub(crate) expires: String,
    pub(crate) active: bool,
}

impl DiscountRow {
    pub(crate) fn new(discount: &Discount) -> Self {
        Self {
            code: discount.code().as_str().to_owned(),
            value: match &discount.kind() {
                DiscountKind::Percent(pct) => format!("{pct} %"),
                DiscountKind::Fixed(amount) => money(amount),
            },
            min_subtotal: discount
                .min_subtotal()
                .as_ref()
                .map(money)
                .unwrap_or_default(),
            uses: match discount.max_uses() {
                Some(max) => format!("{} / {max}", discount.uses()),
                None => discount.uses().to_string(),
            },
            per_customer: discount
                .max_uses_per_customer()
                .map(|max| max.to_string())
                .unwrap_or_default(),
            expires: discount.expires_at().as_ref().map(date).unwrap_or_default(),
            active: discount.active(),
        }
    }
}

/// The discounts list with the create form.
#[derive(Template)]
#[template(path = "admin/discounts.html")]
pub(crate) struct DiscountsPage {
    pub(crate) layout: Layout,
    pub(crate) rows: Vec<DiscountRow>,
    pub(crate) next: Option<String>,
    pub(crate) first: Option<String>,
    pub(crate) form: FormState,
    pub(crate) message: Option<String>,
    pub(crate) flash: Option<String>,
}
