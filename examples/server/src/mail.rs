//! Customer emails: the `[mail]` table, and the worker that sends them
//! beside the server. Without the table no worker runs and no mail is
//! recorded; switched on later, the mailer passes the older history
//! without writing (an event more than three days old sends nothing).
//!
//! ```toml
//! [mail]
//! host = "smtp.example.com"         # or smtp_url = "smtps://smtp.example.com:465"
//! port = 587                        # default: 587 (starttls), 465 (tls), 25 (none)
//! tls = "starttls"                  # starttls (default for smtp://), tls, or none
//! from = "Shop <orders@shop.example>"
//! shop_url = "https://shop.example" # links in emails (password reset);
//!                                   # default: the address the server listens on
//! ```
//!
//! The user name and password come from the environment only
//! (`ORDERS_SMTP_USERNAME`, `ORDERS_SMTP_PASSWORD`), never from the file
//! or a URL. Retries follow the webhooks' backoff flags
//! (`--webhook-first-retry`, `--webhook-max-retry`,
//! `--webhook-dead-after-hours`).

use std::sync::Arc;
use std::time::Duration;

use orders_axum::mail::{MailWorker, MailWorkerConfig, SmtpConfig, SmtpMailer, TlsMode};
use orders_core::webhook::RetryPolicy;
use orders_sqlx::Storage;
use serde::Deserialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The `[mail]` table of the configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MailFile {
    smtp_url: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    tls: Option<String>,
    from: Option<String>,
    shop_url: Option<String>,
}

/// Where the shop's mail goes, as configured (credentials aside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSettings {
    /// The SMTP server.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// How the connection is secured.
    pub tls: TlsMode,
    /// The sender.
    pub from: String,
    /// The shop's public address (`https://shop.example`), for the links
    /// in emails (password reset); `None`: the address the server listens
    /// on.
    pub shop_url: Option<String>,
}

impl MailSettings {
    /// The settings of a `[mail]` table.
    ///
    /// # Errors
    /// A message naming the bad key.
    pub(crate) fn from_file(file: &MailFile) -> Result<Self, String> {
        let named = file
            .tls
            .as_deref()
            .map(|t| {
                TlsMode::parse(t).ok_or(format!("mail.tls: {t:?} is not starttls, tls or none"))
            })
            .transpose()?;
        let (host, url_port, tls) = match (&file.smtp_url, &file.host) {
            (Some(_), Some(_)) => return Err("mail: give smtp_url or host, not both".into()),
            (None, None) => return Err("mail: host (or smtp_url) is required".into()),
            (None, Some(host)) => (host.clone(), None, named.unwrap_or(TlsMode::StartTls)),
            (Some(url), None) => {
                let (scheme, rest) = url
                    .split_once("://")
                    .ok_or("mail.smtp_url: not smtp://HOST[:PORT] or smtps://HOST[:PORT]")?;
                let tls = match scheme {
                    "smtp" => named.unwrap_or(TlsMode::StartTls),
                    "smtps" => TlsMode::Tls,
                    _ => return Err(format!("mail.smtp_url: unknown scheme {scheme:?}")),
                };
                let rest = rest.trim_end_matches('/');
                if rest.contains('@') || rest.contains('/') || rest.contains('?') {
                    return Err("mail.smtp_url: only a host and a port (credentials come from ORDERS_SMTP_USERNAME and ORDERS_SMTP_PASSWORD)".into());
                }
                let (host, port) = match rest.rsplit_once(':') {
                    Some((host, port)) => (
                        host.to_owned(),
                        Some(
                            port.parse()
                                .map_err(|_| format!("mail.smtp_url: bad port {port:?}"))?,
                        ),
                    ),
                    None => (rest.to_owned(), None),
                };
                (host, port, tls)
            }
        };
        if host.is_empty() {
            return Err("mail.host: must not be empty".into());
        }
        let port = file.port.or(url_port).unwrap_or(match tls {
            TlsMode::StartTls => 587,
            TlsMode::Tls => 465,
            TlsMode::None => 25,
        });
        let from = file
            .from
            .clone()
            .ok_or("mail.from: the sender is required")?;
        SmtpMailer::new(&SmtpConfig {
            host: host.clone(),
            port,
            tls,
            from: from.clone(),
            credentials: None,
            timeout: Duration::from_secs(30),
        })
        .map_err(|e| format!("mail: {e}"))?;
        let shop_url = match &file.shop_url {
            Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
                if url.contains(char::is_whitespace) || url.contains(['?', '#', '"', '<', '>']) {
                    return Err("mail.shop_url: only a scheme, a host and a path".into());
                }
                Some(url.trim_end_matches('/').to_owned())
            }
            Some(_) => return Err("mail.shop_url: must start with https:// or http://".into()),
            None => None,
        };
        Ok(Self {
            host,
            port,
            tls,
            from,
            shop_url,
        })
    }

    /// The mailer, with the credentials of the environment.
    ///
    /// # Errors
    /// A message when only one of the two variables is set, or the
    /// mailer cannot be built.
    pub fn mailer(&self) -> Result<SmtpMailer, String> {
        let user = std::env::var("ORDERS_SMTP_USERNAME").ok();
        let password = std::env::var("ORDERS_SMTP_PASSWORD").ok();
        let credentials = match (user, password) {
            (Some(user), Some(password)) => Some((user, password)),
            (None, None) => None,
            _ => {
                return Err(
                    "set both ORDERS_SMTP_USERNAME and ORDERS_SMTP_PASSWORD, or neither".into(),
                );
            }
        };
        SmtpMailer::new(&SmtpConfig {
            host: self.host.clone(),
            port: self.port,
            tls: self.tls,
            from: self.from.clone(),
            credentials,
            timeout: Duration::from_secs(30),
        })
        .map_err(|e| format!("mail: {e}"))
    }
}

/// The running mail worker. It stops when the channel it was started with
/// says so; [`MailTask::finish_by`] waits for it.
#[derive(Debug)]
pub struct MailTask {
    task: JoinHandle<()>,
}

impl MailTask {
    /// Starts the worker over `storage` when mail is configured, reporting
    /// to `metrics`, each email linking to its order with `order_link`,
    /// until `stop` turns `true`.
    ///
    /// # Errors
    /// The mailer's, when the credentials are half given.
    pub fn start(
        storage: &Storage,
        settings: Option<&MailSettings>,
        policy: RetryPolicy,
        metrics: &orders_axum::metrics::Metrics,
        order_link: orders_axum::mail::OrderLink,
        stop: watch::Receiver<bool>,
    ) -> Result<Option<Self>, String> {
        let Some(settings) = settings else {
            return Ok(None);
        };
        let mailer = settings.mailer()?;
        let worker = MailWorker::new(
            storage.mailbox(),
            Arc::new(mailer),
            Arc::new(orders_core::ports::SystemClock),
            MailWorkerConfig {
                policy,
                ..MailWorkerConfig::default()
            },
        )
        .metrics(metrics)
        .order_link(order_link);
        Ok(Some(Self {
            task: tokio::spawn(worker.run(stop)),
        }))
    }

    /// Waits, once the worker was told to stop, for its round to end, but
    /// not past `deadline`; answers whether it ended. Mails of a round cut
    /// short stay leased, and are sent again when their lease runs out.
    pub async fn finish_by(self, deadline: tokio::time::Instant) -> bool {
        tokio::time::timeout_at(deadline, self.task).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> Result<MailSettings, String> {
        let file: MailFile = toml::from_str(text).map_err(|e| e.to_string())?;
        MailSettings::from_file(&file)
    }

    #[test]
    fn a_host_or_a_url_with_defaults_by_tls_mode() {
        let s =
            settings("host = \"smtp.example.com\"\nfrom = \"Shop <shop@example.com>\"").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.tls),
            ("smtp.example.com", 587, TlsMode::StartTls)
        );
        let s = settings("smtp_url = \"smtps://mail.example.com\"\nfrom = \"shop@example.com\"")
            .unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.tls),
            ("mail.example.com", 465, TlsMode::Tls)
        );
        let s = settings(
            "smtp_url = \"smtp://127.0.0.1:2525\"\ntls = \"none\"\nfrom = \"a@example.com\"",
        )
        .unwrap();
        assert_eq!((s.port, s.tls), (2525, TlsMode::None));
        assert_eq!(s.shop_url, None);
        let s = settings(
            "host = \"h\"\nfrom = \"a@example.com\"\nshop_url = \"https://shop.example/\"",
        )
        .unwrap();
        assert_eq!(s.shop_url.as_deref(), Some("https://shop.example"));
    }

    #[test]
    fn bad_entries_are_named() {
        for (text, expected) in [
            (
                "host = \"h\"\nfrom = \"a@example.com\"\ntls = \"ssl\"",
                "mail.tls",
            ),
            ("from = \"a@example.com\"", "host"),
            ("host = \"h\"", "mail.from"),
            ("host = \"h\"\nfrom = \"not an address\"", "from"),
            (
                "smtp_url = \"smtp://u:p@h\"\nfrom = \"a@example.com\"",
                "ORDERS_SMTP_USERNAME",
            ),
            (
                "smtp_url = \"http://h\"\nfrom = \"a@example.com\"",
                "scheme",
            ),
            (
                "host = \"h\"\nfrom = \"a@example.com\"\nshop_url = \"javascript:x\"",
                "mail.shop_url",
            ),
            (
                "host = \"h\"\nsmtp_url = \"smtp://h\"\nfrom = \"a@example.com\"",
                "not both",
            ),
        ] {
            let error = settings(text).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }
}
