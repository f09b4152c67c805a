//! The pages' templates (askama, checked at compile time) and the plain
//! view values they show. Values are text already formatted for people:
//! money with its currency (`19.90 USD`), dates in UTC. askama escapes every
//! value for HTML.

use askama::Template;
use chrono::{DateTime, Utc};
use orders_core::PricedCart;
use orders_core::money::Money;
use orders_core::order::{EventKind, Order, OrderEvent, OrderLine, OrderStatus, PaymentStatus};
use orders_core::words;

use super::aftersale_view::AftersaleView;
use super::assets;
use super::catalogue_views::{ImageView, Pager, SearchBox};
use super::request::Visit;

/// What the layout (`base.html`) needs: title, header, asset URLs.
pub(super) struct Layout {
    /// The page's title.
    pub title: String,
    /// The signed-in email, shown in `#whoami`.
    pub whoami: Option<String>,
    /// The CSRF token for the page's forms (the header's sign-out form too).
    pub csrf: String,
    /// The stylesheet's URL (content-hashed).
    pub css: &'static str,
    /// The script's URL (content-hashed).
    pub js: &'static str,
    /// The order a page shows, as `body[data-order-id]`.
    pub order_id: Option<String>,
    /// Stripe.js's URL, on a page that takes a card with Stripe.
    pub stripe_js: Option<String>,
    /// The payment script's URL (content-hashed), on a page that takes a
    /// card with Stripe.
    pub payment_js: Option<&'static str>,
}

impl Layout {
    pub(super) fn new(title: String, visit: &Visit) -> Self {
        Self {
            title,
            whoami: visit.caller.as_ref().map(|c| c.email.clone()),
            csrf: visit.csrf.clone(),
            css: assets::css_url(),
            js: assets::js_url(),
            order_id: None,
            stripe_js: None,
            payment_js: None,
        }
    }

    /// This layout, loading Stripe.js from `js_url` and the page's payment
    /// script.
    pub(super) fn with_stripe(self, js_url: &str) -> Self {
        Self {
            stripe_js: Some(js_url.to_owned()),
            payment_js: Some(assets::payment_js_url()),
            ..self
        }
    }
}

/// An amount with its currency: `19.90 USD`.
pub(super) fn money(amount: Money) -> String {
    format!("{amount} {}", amount.currency().code())
}

/// A time for people: `2026-12-02 12:30 UTC`.
pub(super) fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Every order and payment status's words by code, as JSON, for the order
/// page's script: `{"status": {"paid": "Paid", ...}, "payment": {...}}`.
fn words_json() -> String {
    let statuses: serde_json::Map<String, serde_json::Value> = OrderStatus::ALL
        .iter()
        .map(|s| (s.to_string(), words::order_status(*s).into()))
        .collect();
    let payments: serde_json::Map<String, serde_json::Value> = PaymentStatus::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), words::payment_status(*s).into()))
        .collect();
    serde_json::json!({"status": statuses, "payment": payments}).to_string()
}

/// A short page with a heading and one message (403, 404, errors).
#[derive(Template)]
#[template(path = "storefront/message.html")]
pub(super) struct Message {
    pub layout: Layout,
    pub heading: String,
    pub message: String,
}

/// A product as a card in the list, or on its page.
pub(super) struct ProductView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub price: String,
    pub stock: u32,
    /// Its picture, if it has one.
    pub image: Option<ImageView>,
}

/// `GET /`.
#[derive(Template)]
#[template(path = "storefront/index.html")]
pub(super) struct Index {
    pub layout: Layout,
    pub products: Vec<ProductView>,
    /// Whether the list is a search's results.
    pub searching: bool,
    /// The search box.
    pub search: SearchBox,
    /// Links to the next and first pages.
    pub pager: Pager,
}

/// `GET /products/{id}`.
#[derive(Template)]
#[template(path = "storefront/product.html")]
pub(super) struct ProductPage {
    pub layout: Layout,
    pub product: ProductView,
    /// "In stock", "Only 3 left", "Out of stock".
    pub availability: String,
    /// The quantity in the form.
    pub quantity: String,
    /// Its error, after a refused add.
    pub quantity_error: Option<String>,
    /// An error about the product itself.
    pub product_error: Option<String>,
}

/// `GET /login` and `GET /register`.
#[derive(Template)]
#[template(path = "storefront/auth.html")]
pub(super) struct AuthPage {
    pub layout: Layout,
    /// `login` or `register`: the form's id and action.
    pub kind: &'static str,
    pub heading: &'static str,
    pub button: &'static str,
    pub email: String,
    /// Where to go afterwards (a checked local path).
    pub next: String,
    pub email_error: Option<String>,
    pub password_error: Option<String>,
    /// An error of the whole form (wrong password, too many attempts).
    pub form_error: Option<String>,
}

/// One line of a cart or an order.
pub(super) struct LineView {
    pub product_id: String,
    pub name: String,
    pub sku: String,
    pub quantity: u32,
    pub unit_price: String,
    pub total: String,
}

impl LineView {
    fn of(line: &OrderLine) -> Self {
        Self {
            product_id: line.product_id.to_string(),
            name: line.name.to_string(),
            sku: line.sku.to_string(),
            quantity: line.quantity.get(),
            unit_price: money(line.unit_price),
            total: money(line.line_subtotal),
        }
    }
}

/// Totals of a cart or an order.
pub(super) struct Totals {
    pub subtotal: String,
    pub discount: String,
    pub has_discount: bool,
    pub shipping: String,
    pub tax: String,
    pub total: String,
}

impl Totals {
    fn of(totals: &orders_core::pricing::Totals) -> Self {
        Self {
            subtotal: money(totals.subtotal),
            discount: money(totals.discount),
            has_discount: !totals.discount.is_zero(),
            shipping: money(totals.shipping),
            tax: money(totals.tax),
            total: money(totals.total),
        }
    }
}

/// A priced cart.
pub(super) struct CartView {
    pub lines: Vec<LineView>,
    pub totals: Totals,
    pub discount_code: Option<String>,
}

impl CartView {
    pub(super) fn of(cart: &PricedCart) -> Self {
        Self {
            lines: cart.lines.iter().map(LineView::of).collect(),
            totals: Totals::of(&cart.totals),
            discount_code: cart.discount_code.as_ref().map(ToString::to_string),
        }
    }
}

/// `GET /cart`.
#[derive(Template)]
#[template(path = "storefront/cart.html")]
pub(super) struct CartPage {
    pub layout: Layout,
    /// `None`: no cart, or an empty one.
    pub cart: Option<CartView>,
    /// The discount code typed.
    pub code: String,
    pub code_error: Option<String>,
    /// An error about a line (bad quantity and the like).
    pub notice: Option<String>,
}

/// One field of the checkout form.
pub(super) struct Field {
    /// Its dotted path: the input's `name`.
    pub path: &'static str,
    /// `field-` + the path with dots as dashes.
    pub id: String,
    /// `error-` + the same.
    pub error_id: String,
    pub label: &'static str,
    /// `text`, `email`, `tel`.
    pub kind: &'static str,
    pub autocomplete: &'static str,
    /// `numeric` for digits-only fields, else empty.
    pub inputmode: &'static str,
    pub required: bool,
    /// What was typed (empty for the card number and CVC after a submit).
    pub value: String,
    /// Its error messages, joined.
    pub error: Option<String>,
}

/// A choice of a radio group.
pub(super) struct Choice {
    pub value: String,
    pub id: String,
    pub label: String,
    pub checked: bool,
    /// Shown beside the label (a shipping method's price), or empty.
    pub note: String,
}

/// A country of the country select: its code (the value) and name.
pub(super) struct CountryOption {
    pub code: &'static str,
    pub name: &'static str,
}

/// A radio group (`shipping_method`, `payment.method`).
pub(super) struct Radios {
    pub path: &'static str,
    pub error_id: String,
    pub legend: &'static str,
    pub choices: Vec<Choice>,
    pub error: Option<String>,
}

/// An error in the summary at the top of the form.
pub(super) struct ErrorItem {
    /// The field's id to link to, when the error is a field's.
    pub target: Option<String>,
    pub label: String,
    pub message: String,
}

/// `GET /checkout`, and its answer to a failed submit.
#[derive(Template)]
#[template(path = "storefront/checkout.html")]
pub(super) struct CheckoutPage {
    pub layout: Layout,
    pub contact: Vec<Field>,
    pub address: Vec<Field>,
    pub country: Field,
    pub countries: Vec<CountryOption>,
    pub shipping: Radios,
    pub payment: Radios,
    /// The test gateway's card fields (none with Stripe).
    pub card: Vec<Field>,
    /// With Stripe: the publishable key for Stripe.js's card fields.
    pub stripe_key: Option<String>,
    /// The `payment.token` field (Stripe's card fields): its error.
    pub token: Field,
    pub errors: Vec<ErrorItem>,
    /// The idempotency key of this rendering of the form.
    pub idempotency_key: String,
    /// The cart priced for the form's country and shipping method.
    pub summary: CartView,
    /// The total shown, posted back as `expected_total` (`133.79`).
    pub expected_total: String,
    /// The total shown above the button (`133.79 USD`).
    pub due: String,
    /// What the total is for (the country and the method, in words).
    pub due_for: String,
    /// Lines a checkout found short of stock.
    pub stock: Vec<super::stock::StockLine>,
    /// A note that is no error (after "Review total").
    pub notice: Option<String>,
    /// The checkout script's URL (content-hashed).
    pub checkout_js: &'static str,
}

/// A row of the order history.
pub(super) struct OrderRow {
    pub id: String,
    pub number: String,
    pub date: String,
    /// The status's code (for the class).
    pub status: String,
    /// The status in words.
    pub status_words: &'static str,
    pub total: String,
}

impl OrderRow {
    pub(super) fn of(order: &Order) -> Self {
        Self {
            id: order.id().to_string(),
            number: order.number().to_string(),
            date: when(order.created_at()),
            status: order.status().to_string(),
            status_words: words::order_status(order.status()),
            total: money(order.totals().total),
        }
    }
}

/// `GET /orders`.
#[derive(Template)]
#[template(path = "storefront/orders.html")]
pub(super) struct OrdersPage {
    pub layout: Layout,
    pub orders: Vec<OrderRow>,
    pub next: Option<String>,
}

/// One entry of an order's timeline.
pub(super) struct EventView {
    pub id: String,
    /// The event's type (`status_changed`, `payment_updated`).
    pub kind: &'static str,
    pub at: String,
    pub at_iso: String,
    /// The status's code (for the class).
    pub to: String,
    /// The status in words.
    pub to_words: &'static str,
    /// For a payment event: the payment's new status in words (`Paid`).
    pub payment: Option<String>,
    pub note: Option<String>,
}

impl EventView {
    pub(super) fn of(event: &OrderEvent) -> Self {
        let payment = match event.kind {
            EventKind::PaymentUpdated => event
                .data
                .as_ref()
                .and_then(|data| data.get("status"))
                .and_then(|status| status.as_str())
                .map(|code| {
                    code.parse::<PaymentStatus>()
                        .map_or_else(|_| code.to_owned(), |s| words::payment_status(s).to_owned())
                }),
            _ => None,
        };
        Self {
            id: event.id.to_string(),
            kind: event.kind.as_str(),
            at: when(event.at),
            at_iso: event.at.to_rfc3339(),
            to: event.to.to_string(),
            to_words: words::order_status(event.to),
            payment,
            note: event.note.as_ref().map(ToString::to_string),
        }
    }
}

/// `GET /orders/{id}`.
#[derive(Template)]
#[template(path = "storefront/order.html")]
pub(super) struct OrderPage {
    pub layout: Layout,
    pub number: String,
    /// The status's code (for the class and the script).
    pub status: String,
    /// The status in words.
    pub status_words: &'static str,
    /// Every status's words, as JSON (`{"paid": "Paid", ...}`), for the
    /// script that follows the order live.
    pub words_json: String,
    pub placed: String,
    pub tracking: Option<String>,
    pub lines: Vec<LineView>,
    pub totals: Totals,
    pub discount_code: Option<String>,
    /// The address, one line per entry.
    pub address: Vec<String>,
    pub shipping_method: String,
    pub payment: String,
    pub events: Vec<EventView>,
    /// Just placed (`?placed=1`): show a thank-you.
    pub placed_now: bool,
    /// While the order is `awaiting_payment`: the customer's action.
    pub action: Option<PaymentAction>,
    /// Shipments, returns, refunds, notes, and what the customer may do.
    pub after: AftersaleView,
    /// A guest's order: the link that opens it later, in any browser.
    pub guest_link: Option<String>,
}

/// The "Complete payment" form of an order `awaiting_payment`.
pub(super) struct PaymentAction {
    /// Where the form posts (the storefront's confirm route).
    pub confirm_url: String,
    /// With Stripe: what Stripe.js needs to run 3-D Secure.
    pub stripe: Option<StripeAction>,
}

/// What Stripe.js needs to run the customer's action on the order page.
pub(super) struct StripeAction {
    /// The publishable key.
    pub key: String,
    /// The PaymentIntent's client secret (the page is the owner's only).
    pub client_secret: String,
}

impl OrderPage {
    pub(super) fn new(
        layout: Layout,
        order: &Order,
        events: &[OrderEvent],
        placed_now: bool,
        action: Option<PaymentAction>,
    ) -> Self {
        let a = &order.shipping_address();
        let mut address = words::address_lines(a);
        address.extend(a.phone().map(|phone| format!("Phone: {phone}")));
        let payment = words::payment(order.payment());
        Self {
            layout: Layout {
                order_id: Some(order.id().to_string()),
                ..layout
            },
            number: order.number().to_string(),
            status: order.status().to_string(),
            status_words: words::order_status(order.status()),
            words_json: words_json(),
            placed: when(order.created_at()),
            tracking: order.tracking_number().as_ref().map(ToString::to_string),
            lines: order.lines().iter().map(LineView::of).collect(),
            totals: Totals::of(order.totals()),
            discount_code: order.discount_code().as_ref().map(ToString::to_string),
            address,
            shipping_method: order.shipping_method().to_string(),
            payment,
            events: events.iter().map(EventView::of).collect(),
            placed_now,
            action,
            after: AftersaleView::of(order, None),
            guest_link: None,
        }
    }
}
