//! [`DeliveryWorker`]: moves the webhook consumer along the event log and
//! makes the deliveries it records, each in a task of its own.
//!
//! Every round fans the log out ([`DeliveryStore::fan_out`]), claims the
//! due deliveries under a lease longer than a request's timeout, and
//! starts one task per delivery; the round does not wait for them, so a
//! receiver that answers slowly holds up only its own deliveries. No
//! webhook has more than [`WorkerConfig::per_webhook`] requests in flight:
//! the claim takes no more of a webhook than it has room for
//! ([`ClaimLimits`]; else a slow receiver's backlog, oldest first, would
//! fill every round). Any number of workers, in one process or on
//! many instances sharing one database, may run at once: the store hands
//! each delivery to one claim at a time.
//!
//! Finished attempts are recorded in batches ([`super::recorder`]): one
//! write for all the attempts that finish within a few milliseconds, not
//! one each. A request's slot is free again once its attempt is recorded,
//! and that wakes the next round at once (rather than at the next poll),
//! so the in-flight limits stay full under load.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use orders_core::ids::WebhookId;
use orders_core::ports::{
    AttemptRecord, ClaimLimits, ClaimedDelivery, Clock, Lease, OutboxStore, RecordOutcome,
    StoreError,
};
use orders_core::webhook::{AttemptOutcome, EventType, RetryPolicy, WEBHOOK_CONSUMER};
use tokio::sync::{Notify, Semaphore, watch};

use super::guard::{GuardedResolver, is_public};
use super::recorder::Recorder;
use super::sign::{SIGNATURE_HEADER, signature};

/// How the worker delivers.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Backoff and when to give up (1 s doubling to 1 h, 3 days).
    pub policy: RetryPolicy,
    /// The longest a receiver may take to answer (10 s).
    pub timeout: Duration,
    /// The pause between rounds that found nothing to do (250 ms).
    pub poll: Duration,
    /// The most deliveries claimed in one round (256), and in flight.
    pub batch: usize,
    /// The most requests in flight to one webhook (64; see
    /// [`DeliveryWorker::max_in_flight`]). Raising it keeps deliveries in
    /// order per order: the store never claims a later event of an order
    /// while a delivery of an earlier one to the same webhook is pending,
    /// in flight included.
    pub per_webhook: usize,
    /// Whether private, loopback and link-local targets may be called
    /// (`--allow-private-webhooks`; off by default).
    pub allow_private: bool,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            policy: RetryPolicy::default(),
            timeout: Duration::from_secs(10),
            poll: Duration::from_millis(250),
            batch: DEFAULT_BATCH,
            per_webhook: DEFAULT_MAX_IN_FLIGHT,
            allow_private: false,
        }
    }
}

/// The default of [`WorkerConfig::batch`]: the most deliveries claimed in
/// one round, and in flight in all.
pub const DEFAULT_BATCH: usize = 256;

/// The default of [`WorkerConfig::per_webhook`]: the most requests in flight
/// to one webhook.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;

/// The most events one fan-out passes.
const FAN_OUT: usize = 500;

/// How long a stopping worker waits, beyond a request's timeout, for the
/// attempts in flight to be recorded.
pub const DRAIN_RECORDS: Duration = Duration::from_secs(5);

/// Delivers webhooks; see the module docs.
#[derive(Clone)]
pub struct DeliveryWorker {
    store: Arc<dyn OutboxStore>,
    clock: Arc<dyn Clock>,
    config: WorkerConfig,
    client: reqwest::Client,
    busy: Arc<Mutex<HashMap<WebhookId, usize>>>,
    slots: Arc<Semaphore>,
    recorder: Arc<OnceLock<Recorder>>,
    wake: Arc<Notify>,
    #[cfg(feature = "metrics")]
    meter: Option<Meter>,
}

/// Where the worker reports (feature `metrics`): its attempts, and the
/// store's counts read at most once per [`COUNTS_EVERY`].
#[cfg(feature = "metrics")]
#[derive(Clone)]
struct Meter {
    metrics: crate::metrics::Metrics,
    counted_at: Arc<Mutex<Option<std::time::Instant>>>,
}

/// How often a worker with metrics reads the backlog and dead counts.
#[cfg(feature = "metrics")]
const COUNTS_EVERY: Duration = Duration::from_secs(1);

impl std::fmt::Debug for DeliveryWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryWorker")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl DeliveryWorker {
    /// A worker over `store`, telling time by `clock`.
    ///
    /// # Panics
    /// If the HTTP client cannot be built (no TLS backend can start).
    pub fn new(store: Arc<dyn OutboxStore>, clock: Arc<dyn Clock>, config: WorkerConfig) -> Self {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(
                GuardedResolver {
                    allow_private: config.allow_private,
                }
                .shared(),
            )
            .user_agent(concat!("orders-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client");
        let slots = Arc::new(Semaphore::new(config.batch.max(1)));
        Self {
            store,
            clock,
            config,
            client,
            busy: Arc::default(),
            slots,
            recorder: Arc::default(),
            wake: Arc::default(),
            #[cfg(feature = "metrics")]
            meter: None,
        }
    }

    /// Allows up to `limit` (at least 1) requests in flight to one webhook,
    /// and as many in all if [`WorkerConfig::batch`] was fewer (the claim
    /// of a round and the worker's slots grow with it).
    #[must_use]
    pub fn max_in_flight(mut self, limit: usize) -> Self {
        let limit = limit.max(1);
        self.config.per_webhook = limit;
        if self.config.batch < limit {
            let more = limit - self.config.batch.max(1);
            self.slots.add_permits(more);
            self.config.batch = limit;
        }
        self
    }

    /// Reports to `metrics` (feature `metrics`): every attempt
    /// (`orders_delivery_attempts_total`) and, at most once a second, the
    /// backlog and dead deliveries per webhook read from the store
    /// (`orders_delivery_backlog`, `orders_deliveries_dead`), all with
    /// `consumer="webhooks"`.
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
                    .unwrap_or_else(PoisonError::into_inner);
                if at.is_some_and(|t| t.elapsed() < COUNTS_EVERY) {
                    return Ok(());
                }
                *at = Some(std::time::Instant::now());
            }
            let counts = self.store.delivery_counts().await?;
            meter.metrics.delivery_counts(WEBHOOK_CONSUMER, counts);
        }
        Ok(())
    }

    /// Runs rounds until `shutdown` turns true, then waits for the
    /// requests in flight to finish and their attempts to be recorded, for
    /// at most [`WorkerConfig::timeout`] and [`DRAIN_RECORDS`] more. A
    /// delivery answered but not recorded when the process exits stays
    /// leased: its order's later events wait for the lease to run out, and
    /// then it is sent again.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            let pause = match self.round().await {
                Ok(0) => self.config.poll,
                Ok(_) => Duration::ZERO,
                Err(error) => {
                    tracing::warn!(%error, "webhook delivery round failed");
                    self.config.poll
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
                // A slot came free: claim again now.
                () = self.wake.notified() => {}
            }
        }
        // Every slot back means every attempt started has been recorded
        // (a delivery's task gives its slot back after its record).
        let all = u32::try_from(self.config.batch.max(1)).unwrap_or(u32::MAX);
        let drained = tokio::time::timeout(
            self.config.timeout + DRAIN_RECORDS,
            self.slots.acquire_many(all),
        )
        .await;
        if drained.is_err() {
            tracing::warn!(
                "webhook deliveries still in flight at shutdown; their leases will run out"
            );
        }
    }

    /// One round: fans out, claims what is due (as many as there are free
    /// slots) and starts their requests. Returns how many it started.
    ///
    /// # Errors
    /// The store's, when it cannot fan out or claim.
    pub async fn round(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        // A pass short of the limit found all there was.
        while self.store.fan_out(WEBHOOK_CONSUMER, FAN_OUT, now).await? == FAN_OUT {}
        self.count().await?;
        let free = self.slots.available_permits();
        if free == 0 {
            return Ok(0);
        }
        let lease = Lease {
            token: uuid_token(),
            until: now
                + chrono::Duration::from_std(self.config.timeout * 2 + Duration::from_secs(10))
                    .unwrap_or(chrono::Duration::minutes(1)),
        };
        let claimed = self
            .store
            .claim_deliveries(now, &lease, &self.limits(free))
            .await?;
        let mut started = 0;
        let mut handed_back = Vec::new();
        for item in claimed {
            if !self.take_webhook_slot(&item.webhook.id) {
                // Hand it back unchanged for a later round.
                handed_back.push(AttemptRecord {
                    delivery: item.delivery,
                    lease_token: lease.token.clone(),
                });
                continue;
            }
            let Ok(permit) = self.slots.clone().try_acquire_owned() else {
                self.release_webhook_slot(&item.webhook.id);
                handed_back.push(AttemptRecord {
                    delivery: item.delivery,
                    lease_token: lease.token.clone(),
                });
                continue;
            };
            started += 1;
            let worker = self.clone();
            let token = lease.token.clone();
            tokio::spawn(async move {
                let webhook = item.webhook.id.clone();
                worker.deliver(item, token).await;
                worker.release_webhook_slot(&webhook);
                drop(permit);
                worker.wake.notify_one();
            });
        }
        if !handed_back.is_empty() {
            self.store.record_attempts(&handed_back).await?;
        }
        Ok(started)
    }

    /// What a round with `free` slots may claim: no more to a webhook than
    /// it has room for, so a slow receiver's backlog never fills a round
    /// and nothing claimed is handed back.
    fn limits(&self, free: usize) -> ClaimLimits {
        let busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        ClaimLimits {
            total: free,
            per_webhook: self.config.per_webhook.max(1),
            in_flight: busy.iter().map(|(id, n)| (id.clone(), *n)).collect(),
        }
    }

    fn take_webhook_slot(&self, id: &WebhookId) -> bool {
        let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        let n = busy.entry(id.clone()).or_default();
        if *n >= self.config.per_webhook.max(1) {
            return false;
        }
        *n += 1;
        true
    }

    fn release_webhook_slot(&self, id: &WebhookId) {
        let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = busy.get_mut(id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                busy.remove(id);
            }
        }
    }

    /// The recorder of this worker and its clones, started on first use
    /// (on the runtime of the round that first needs it).
    fn recorder(&self) -> &Recorder {
        self.recorder.get_or_init(|| {
            let store: Arc<dyn orders_core::ports::DeliveryStore> = self.store.clone();
            Recorder::start(store)
        })
    }

    /// Makes one attempt and records it (with others: see the module docs).
    async fn deliver(&self, item: ClaimedDelivery, lease_token: String) {
        let outcome = self.attempt(&item).await;
        let next = item
            .delivery
            .after_attempt(&outcome, self.clock.now(), &self.config.policy);
        let recorded = self
            .recorder()
            .record(AttemptRecord {
                delivery: next.clone(),
                lease_token,
            })
            .await;
        match recorded {
            Ok(RecordOutcome::Recorded) => {}
            Ok(lost) => {
                tracing::warn!(delivery = %next.id, ?lost, "webhook attempt not recorded");
            }
            Err(error) => {
                tracing::warn!(%error, delivery = %next.id, "webhook attempt not recorded");
            }
        }
        #[cfg(feature = "metrics")]
        if let Some(meter) = &self.meter {
            use crate::metrics::DeliveryOutcome;
            use orders_core::webhook::DeliveryStatus;
            let outcome = match next.status {
                DeliveryStatus::Delivered => DeliveryOutcome::Delivered,
                DeliveryStatus::Dead => DeliveryOutcome::Dead,
                DeliveryStatus::Pending => DeliveryOutcome::Failed,
            };
            meter.metrics.record_delivery_attempt(
                WEBHOOK_CONSUMER,
                item.webhook.id.as_str(),
                outcome,
            );
        }
    }

    async fn attempt(&self, item: &ClaimedDelivery) -> AttemptOutcome {
        let url = &item.webhook.url;
        if let Ok(ip) = url.host().parse::<std::net::IpAddr>()
            && !self.config.allow_private
            && !is_public(ip)
        {
            return AttemptOutcome::Failed("refused: the target is a private address".into());
        }
        let body = payload(item);
        let sent_at = self.clock.now().timestamp();
        let response = self
            .client
            .post(url.as_str())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(
                SIGNATURE_HEADER,
                signature(item.webhook.secret.expose(), sent_at, &body),
            )
            .header("Orders-Delivery", item.delivery.id.as_str())
            .body(body)
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => AttemptOutcome::Delivered,
            Ok(r) => AttemptOutcome::Failed(format!("HTTP {}", r.status().as_u16())),
            Err(e) if e.is_timeout() => AttemptOutcome::Failed(format!(
                "no answer within {} s",
                self.config.timeout.as_secs_f64()
            )),
            Err(e) => AttemptOutcome::Failed(describe(&e)),
        }
    }
}

/// A failed request in a few words, with its causes, without the URL.
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The body of a delivery: `{id, type, created_at, data}`, `data` being the
/// event as the API shows it.
pub fn payload(item: &ClaimedDelivery) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "id": item.delivery.id,
        "type": EventType::of(&item.event).as_str(),
        "created_at": item.event.at,
        "data": item.event,
    }))
    .expect("an event serialises")
}

fn uuid_token() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the system's random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
