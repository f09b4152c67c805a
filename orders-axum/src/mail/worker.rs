//! [`MailWorker`]: moves the mailer along the event log and sends the
//! mails it records.
//!
//! Every round fans the log out ([`MailStore::fan_out_mail`]), claims the
//! due mails under a lease longer than a send may take, renders each from
//! its event and the order as stored, sends them at once (at most
//! [`MailWorkerConfig::batch`] in flight) and records each attempt under
//! the lease. A mail server that is down fails every attempt retryably:
//! the mails wait with the backoff of the [`RetryPolicy`] and go out when
//! it is back. Any number of workers, in one process or on many instances
//! sharing one database, may run at once: the store hands each mail to
//! one claim at a time.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use orders_core::mail::render_with_link;
use orders_core::ports::{ClaimedMail, Clock, Lease, MailError, MailboxStore, Mailer, StoreError};
use orders_core::webhook::RetryPolicy;
use tokio::sync::watch;

/// How the worker sends.
#[derive(Debug, Clone)]
pub struct MailWorkerConfig {
    /// Backoff and when to give up (1 s doubling to 1 h, 3 days).
    pub policy: RetryPolicy,
    /// The longest one send may take before it counts as failed (30 s).
    pub timeout: Duration,
    /// The pause between rounds that found nothing to do (250 ms).
    pub poll: Duration,
    /// The most mails claimed and sent in one round (16).
    pub batch: usize,
}

impl Default for MailWorkerConfig {
    fn default() -> Self {
        Self {
            policy: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
            poll: Duration::from_millis(250),
            batch: 16,
        }
    }
}

/// Sends customer emails; see the module docs.
#[derive(Clone)]
pub struct MailWorker {
    store: Arc<dyn MailboxStore>,
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
    config: MailWorkerConfig,
    order_link: Option<OrderLink>,
    #[cfg(feature = "metrics")]
    meter: Option<Meter>,
}

/// Makes the link an email shows to open its order (see
/// [`MailWorker::order_link`]).
pub type OrderLink = Arc<dyn Fn(&orders_core::order::Order) -> Option<String> + Send + Sync>;

/// Where the worker reports (feature `metrics`): its attempts, and the
/// store's counts read at most once per [`COUNTS_EVERY`].
#[cfg(feature = "metrics")]
#[derive(Clone)]
struct Meter {
    metrics: crate::metrics::Metrics,
    counted_at: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

/// How often a worker with metrics reads the backlog and dead counts.
#[cfg(feature = "metrics")]
const COUNTS_EVERY: Duration = Duration::from_secs(1);

impl std::fmt::Debug for MailWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailWorker")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl MailWorker {
    /// A worker over `store`, sending with `mailer`, telling time by `clock`.
    pub fn new(
        store: Arc<dyn MailboxStore>,
        mailer: Arc<dyn Mailer>,
        clock: Arc<dyn Clock>,
        config: MailWorkerConfig,
    ) -> Self {
        Self {
            store,
            mailer,
            clock,
            config,
            order_link: None,
            #[cfg(feature = "metrics")]
            meter: None,
        }
    }

    /// Shows in every email the link `link` makes for its order (`None`:
    /// no link), such as the shop's order page, with the order's token for
    /// a guest's order (`orders_core::guest::OrderTokens`).
    #[must_use]
    pub fn order_link(mut self, link: OrderLink) -> Self {
        self.order_link = Some(link);
        self
    }

    /// Reports to `metrics` (feature `metrics`): every attempt
    /// (`orders_mail_attempts_total`) and, at most once a second, the
    /// pending and dead mails read from the store (`orders_mail_backlog`,
    /// `orders_mails_dead`).
    #[cfg(feature = "metrics")]
    #[must_use]
    pub fn metrics(mut self, metrics: &crate::metrics::Metrics) -> Self {
        self.meter = Some(Meter {
            metrics: metrics.clone(),
            counted_at: Arc::default(),
        });
        self
    }

    /// Reads the counts for the metrics, unless read less than
    /// [`COUNTS_EVERY`] ago (or there are no metrics).
    async fn count(&self) -> Result<(), StoreError> {
        #[cfg(feature = "metrics")]
        if let Some(meter) = &self.meter {
            {
                let mut at = meter
                    .counted_at
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if at.is_some_and(|t| t.elapsed() < COUNTS_EVERY) {
                    return Ok(());
                }
                *at = Some(std::time::Instant::now());
            }
            let pending = self.store.pending_mails().await?;
            let dead = self.store.dead_mails().await?;
            meter.metrics.mail_counts(pending, dead);
        }
        Ok(())
    }

    /// Runs rounds until `shutdown` turns true; a round under way finishes
    /// first (its sends are bounded by the timeout).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            let pause = match self.round().await {
                Ok(0) => self.config.poll,
                Ok(_) => Duration::ZERO,
                Err(error) => {
                    tracing::warn!(%error, "mail round failed");
                    self.config.poll
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// One round: fans out, claims what is due and sends it. Returns how
    /// many mails it attempted.
    ///
    /// # Errors
    /// The store's, when it cannot fan out or claim.
    pub async fn round(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        while self.store.fan_out_mail(500, now).await? > 0 {}
        self.count().await?;
        let lease = Lease {
            token: random_token(),
            until: now
                + chrono::Duration::from_std(self.config.timeout * 2 + Duration::from_secs(10))
                    .unwrap_or(chrono::Duration::minutes(2)),
        };
        let claimed = self
            .store
            .claim_mails(now, &lease, self.config.batch.max(1))
            .await?;
        let n = claimed.len();
        join_all(
            claimed
                .into_iter()
                .map(|item| self.send(item, &lease.token)),
        )
        .await;
        Ok(n)
    }

    /// Renders, sends and records one mail.
    async fn send(&self, item: ClaimedMail, token: &str) {
        let result = self.attempt(&item).await;
        if let Err(error) = &result {
            tracing::info!(mail = %item.mail.id, %error, "mail not sent");
        }
        let next = item
            .mail
            .after_attempt(&result, self.clock.now(), &self.config.policy);
        if let Err(error) = self.store.record_mail_attempt(&next, token).await {
            tracing::warn!(%error, mail = %next.id, "mail attempt not recorded");
        }
        #[cfg(feature = "metrics")]
        if let Some(meter) = &self.meter {
            use crate::metrics::DeliveryOutcome;
            use orders_core::webhook::DeliveryStatus;
            meter.metrics.record_mail_attempt(match next.status {
                DeliveryStatus::Delivered => DeliveryOutcome::Delivered,
                DeliveryStatus::Dead => DeliveryOutcome::Dead,
                DeliveryStatus::Pending => DeliveryOutcome::Failed,
            });
        }
    }

    async fn attempt(&self, item: &ClaimedMail) -> Result<(), MailError> {
        let order = match self.store.order(&item.mail.order_id).await {
            Ok(Some(order)) => order,
            Ok(None) => return Err(MailError::Permanent("the order is gone".into())),
            Err(e) => return Err(MailError::Retryable(format!("reading the order: {e}"))),
        };
        let link = self.order_link.as_ref().and_then(|link| link(&order));
        let email = render_with_link(&item.mail, &item.event, &order, link.as_deref());
        match tokio::time::timeout(self.config.timeout, self.mailer.send(&email)).await {
            Ok(result) => result,
            Err(_) => Err(MailError::Retryable(format!(
                "no answer within {} s",
                self.config.timeout.as_secs_f64()
            ))),
        }
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the system's random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
