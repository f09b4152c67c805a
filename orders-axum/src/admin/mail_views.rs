//! The view models and template of the email page.

use askama::Template;
use orders_core::mail::Mail;
use orders_core::webhook::DeliveryStatus;

use super::views::{Layout, date};

/// One mail as listed.
pub(crate) struct MailRow {
    pub(crate) id: String,
    pub(crate) recipient: String,
    pub(crate) kind: &'static str,
    pub(crate) order: String,
    pub(crate) attempts: u32,
    pub(crate) next: String,
    pub(crate) error: String,
}

impl MailRow {
    /// `mail`, sent to `recipient` (the order's email, or empty when the
    /// order is gone).
    pub(crate) fn new(mail: &Mail, recipient: String) -> Self {
        Self {
            id: mail.id.as_str().to_owned(),
            recipient,
            kind: mail.kind.as_str(),
            order: mail.order_id.as_str().to_owned(),
            attempts: mail.attempts,
            next: match mail.status {
                DeliveryStatus::Pending => date(&mail.next_attempt_at),
                _ => String::new(),
            },
            error: mail.last_error.clone().unwrap_or_default(),
        }
    }
}

/// The pending and dead mails.
#[derive(Template)]
#[template(path = "admin/mails.html")]
pub(crate) struct MailsPage {
    pub(crate) layout: Layout,
    pub(crate) pending: Vec<MailRow>,
    pub(crate) dead: Vec<MailRow>,
    pub(crate) flash: Option<String>,
}
