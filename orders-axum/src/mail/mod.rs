//! Customer emails: the [`MailWorker`] that moves the mailer along the
//! event log and sends what it records, and [`SmtpMailer`], the
//! [`orders_core::ports::Mailer`] over SMTP (lettre).
//!
//! The rules (which events, the templates, backoff, dead) are the core's
//! ([`orders_core::mail`]); the rows are the store's
//! ([`orders_core::ports::MailStore`]); this module only sends.

mod smtp;
mod worker;

pub use smtp::{InvalidSmtpConfig, SmtpConfig, SmtpMailer, TlsMode};
pub use worker::{MailWorker, MailWorkerConfig, OrderLink};
