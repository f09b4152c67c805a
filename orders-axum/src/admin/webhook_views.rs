//! The view models and templates of the webhook pages.

use askama::Template;
use orders_core::webhook::{Delivery, DeliveryStatus, Webhook};

use super::form::FormState;
use super::views::{Layout, date};

/// One webhook as listed, with its backlog and dead deliveries.
pub(crate) struct WebhookRow {
    pub(crate) id: String,
    pub(crate) url: String,
    pub(crate) events: String,
    pub(crate) created: String,
    pub(crate) pending: u64,
    pub(crate) dead: u64,
    pub(crate) href: String,
}

impl WebhookRow {
    pub(crate) fn new(hook: &Webhook, (pending, dead): (u64, u64), base: &str) -> Self {
        Self {
            id: hook.id.as_str().to_owned(),
            url: hook.url.as_str().to_owned(),
            events: hook.events.names().join(", "),
            created: date(&hook.created_at),
            pending,
            dead,
            href: format!("{base}/webhooks/{}", hook.id.as_str()),
        }
    }
}

/// One delivery as listed.
pub(crate) struct DeliveryRow {
    pub(crate) id: String,
    pub(crate) event: String,
    pub(crate) order: String,
    pub(crate) status: &'static str,
    pub(crate) attempts: u32,
    pub(crate) next: String,
    pub(crate) error: String,
    pub(crate) dead: bool,
}

impl DeliveryRow {
    pub(crate) fn new(d: &Delivery) -> Self {
        Self {
            id: d.id.as_str().to_owned(),
            event: d.event_id.get().to_string(),
            order: d.order_id.as_str().to_owned(),
            status: d.status.as_str(),
            attempts: d.attempts,
            next: match d.status {
                DeliveryStatus::Pending => date(&d.next_attempt_at),
                DeliveryStatus::Delivered => d.delivered_at.as_ref().map(date).unwrap_or_default(),
                DeliveryStatus::Dead => String::new(),
            },
            error: d.last_error.clone().unwrap_or_default(),
            dead: d.status == DeliveryStatus::Dead,
        }
    }
}

/// The webhooks with the create form, and a new one's secret, once.
#[derive(Template)]
#[template(path = "admin/webhooks.html")]
pub(crate) struct WebhooksPage {
    pub(crate) layout: Layout,
    pub(crate) rows: Vec<WebhookRow>,
    pub(crate) form: FormState,
    pub(crate) message: Option<String>,
    pub(crate) flash: Option<String>,
    /// `(id, secret)` of the webhook just made.
    pub(crate) created: Option<(String, String)>,
}

/// One webhook's deliveries.
#[derive(Template)]
#[template(path = "admin/webhook.html")]
pub(crate) struct DeliveriesPage {
    pub(crate) layout: Layout,
    pub(crate) webhook: WebhookRow,
    pub(crate) rows: Vec<DeliveryRow>,
    pub(crate) next: Option<String>,
    pub(crate) first: Option<String>,
    pub(crate) flash: Option<String>,
}
