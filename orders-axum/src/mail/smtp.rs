//! [`SmtpMailer`]: the mail port over SMTP, with lettre.

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::MessageId;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use orders_core::mail::Email;
use orders_core::ports::{MailError, Mailer};

/// How the connection to the mail server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain SMTP, then `STARTTLS`, which the server must offer (port 587).
    StartTls,
    /// TLS from the first byte ("SMTPS", port 465).
    Tls,
    /// No encryption at all: only for a server on the same host or in tests.
    None,
}

impl TlsMode {
    /// The mode of its configuration name: `starttls`, `tls` or `none`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "starttls" => Some(Self::StartTls),
            "tls" => Some(Self::Tls),
            "none" => Some(Self::None),
            _ => None,
        }
    }
}

/// Where and as whom to send.
#[derive(Clone)]
pub struct SmtpConfig {
    /// The server's host name (checked against its certificate).
    pub host: String,
    /// Its port (587 for STARTTLS, 465 for TLS, 25 without).
    pub port: u16,
    /// How the connection is secured.
    pub tls: TlsMode,
    /// The sender, e.g. `Shop <orders@shop.example>`.
    pub from: String,
    /// User name and password, if the server wants them.
    pub credentials: Option<(String, String)>,
    /// The longest one exchange with the server may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("from", &self.from)
            .field("credentials", &self.credentials.as_ref().map(|_| "…"))
            .finish_non_exhaustive()
    }
}

/// The configuration is not usable.
#[derive(Debug, thiserror::Error)]
#[error("invalid mail configuration: {0}")]
pub struct InvalidSmtpConfig(String);

/// Sends each message over its own SMTP connection.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    domain: String,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for `config`.
    ///
    /// # Errors
    /// [`InvalidSmtpConfig`] for a sender that is not an address, or TLS
    /// parameters that cannot be built for the host.
    pub fn new(config: &SmtpConfig) -> Result<Self, InvalidSmtpConfig> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| InvalidSmtpConfig(format!("from: {e}")))?;
        let tls = match config.tls {
            TlsMode::None => Tls::None,
            mode => {
                let params = TlsParameters::new(config.host.clone())
                    .map_err(|e| InvalidSmtpConfig(format!("tls: {e}")))?;
                if mode == TlsMode::Tls {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .tls(tls)
            .timeout(Some(config.timeout));
        if let Some((user, password)) = &config.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        let domain = from.email.domain().to_owned();
        Ok(Self {
            transport: builder.build(),
            from,
            domain,
        })
    }

    /// The message lettre sends for `email`.
    fn message(&self, email: &Email) -> Result<Message, MailError> {
        let to: Mailbox = email
            .to
            .as_str()
            .parse()
            .map_err(|e| MailError::Permanent(format!("recipient: {e}")))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .header(MessageId::from(format!("<{}@{}>", email.id, self.domain)))
            .multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                email.html.clone(),
            ))
            .map_err(|e| MailError::Permanent(format!("message: {e}")))
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let message = self.message(email)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(MailError::Permanent(describe(&e))),
            Err(e) => Err(MailError::Retryable(describe(&e))),
        }
    }
}

/// An SMTP error in a few words (lettre's text already names its cause).
fn describe(error: &lettre::transport::smtp::Error) -> String {
    error.to_string()
}
