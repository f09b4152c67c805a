//! The mail port: hands one message to a mail server.

use async_trait::async_trait;

use crate::mail::Email;

/// Why a message was not sent, sorted by what the sender should do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// Try again later: the server is unreachable, busy or answered with a
    /// transient (4xx) reply.
    #[error("temporary mail failure: {0}")]
    Retryable(String),
    /// Trying again will not help: the server refused the message or its
    /// recipient for good (a 5xx reply), or the message cannot be built.
    #[error("permanent mail failure: {0}")]
    Permanent(String),
}

/// Sends mail: an SMTP adapter, or a test double.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends `email` once.
    ///
    /// MUST return `Ok` only once the server has accepted the message for
    /// delivery, and sort every failure into [`MailError::Retryable`] or
    /// [`MailError::Permanent`]. The message's `id` SHOULD travel as its
    /// `Message-ID`, so a repeat (at-least-once) is recognisable.
    async fn send(&self, email: &Email) -> Result<(), MailError>;
}
