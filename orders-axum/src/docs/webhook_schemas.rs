//! The schemas of the outbound webhooks' routes (`/admin/webhooks`).

use utoipa::ToSchema;

/// A webhook endpoint, without its secret.
#[derive(ToSchema)]
pub(crate) struct WebhookInfo {
    id: String,
    url: String,
    /// Event type names (`order.created`, ...) or `["*"]`. A payment
    /// update that moved the order's status (`awaiting_payment` to `paid`
    /// or `cancelled`) is delivered once, as `order.payment_updated`, to
    /// webhooks of `order.payment_updated` and of `order.status_changed`.
    events: Vec<String>,
    #[schema(format = DateTime)]
    created_at: String,
}

/// A webhook just created, with its signing secret (shown this once).
#[derive(ToSchema)]
pub(crate) struct CreatedWebhook {
    id: String,
    url: String,
    events: Vec<String>,
    #[schema(format = DateTime)]
    created_at: String,
    /// Signs every delivery: `Orders-Signature: t=UNIX_SECONDS,v1=HEX(HMAC_SHA256(secret, "t.body"))`.
    secret: String,
}

/// The webhooks, newest first.
#[derive(ToSchema)]
pub(crate) struct WebhookList {
    items: Vec<WebhookInfo>,
    next_cursor: Option<String>,
}

/// Where a delivery stands.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum DeliveryStatus {
    Pending,
    Delivered,
    Dead,
}

/// One event's delivery to one webhook.
#[derive(ToSchema)]
pub(crate) struct WebhookDelivery {
    /// Stable over every attempt: the body's `id`.
    id: String,
    webhook_id: String,
    event_id: String,
    order_id: String,
    status: DeliveryStatus,
    attempts: u32,
    /// Failures in a row in the current retry window.
    failures: u32,
    /// When it is due (pending), or was last tried.
    #[schema(format = DateTime)]
    next_attempt_at: String,
    /// When its retry window opened.
    #[schema(format = DateTime)]
    since: String,
    last_error: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    delivered_at: Option<String>,
}

/// A page of deliveries, newest event first.
#[derive(ToSchema)]
pub(crate) struct DeliveryList {
    items: Vec<WebhookDelivery>,
    next_cursor: Option<String>,
}
