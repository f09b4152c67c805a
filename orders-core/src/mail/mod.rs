//! Customer emails: what the order events say to the customer, and the
//! durable records that carry each message to the mail server.
//!
//! The mailer is a durable consumer of the order event log like the
//! webhooks ([`crate::webhook`]): a named cursor ([`MAIL_CONSUMER`]) that
//! [`crate::ports::MailStore::fan_out_mail`] moves along the log,
//! recording one [`Mail`] per event that concerns the customer
//! ([`MailKind::of`]) in the same write as the cursor move. Each mail is
//! then claimed under a lease, rendered from its event and the order
//! ([`render`]), handed to a [`crate::ports::Mailer`], and retried with
//! the webhooks' [`crate::webhook::RetryPolicy`] until it is sent or dead.
//! The rules live here; stores keep the rows; the runtime that sends lives
//! in an adapter (`orders-axum`'s feature `mail`).

mod message;
mod record;
mod templates;

pub use message::{Email, escape_html};
pub use record::{MAX_MAIL_AGE, Mail, MailKind};
pub use templates::{PasswordReset, Shipment, password_reset, render, render_with_link};

/// The name of the consumer whose cursor the mail fan-out moves.
pub const MAIL_CONSUMER: &str = "mailer";
