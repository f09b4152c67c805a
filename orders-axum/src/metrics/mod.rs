//! Prometheus metrics (feature `metrics`): what the API did, in the
//! Prometheus text format (version 0.0.4), for a host to serve at
//! `/metrics`.
//!
//! [`Metrics`] holds a `prometheus-client` registry with the engine's
//! families, all named `orders_…`:
//!
//! | family | type | labels | what |
//! | --- | --- | --- | --- |
//! | `orders_http_requests_total` | counter | `method`, `route`, `status` | requests answered |
//! | `orders_http_request_duration_seconds` | histogram | `method`, `route`, `status` | time to the response's head |
//! | `orders_websockets_open` | gauge | `feed` (`track`, `admin_stream`) | upgraded sockets now open |
//! | `orders_checkouts_total` | counter | `outcome` ([`CheckoutOutcome`]) | checkout requests by how they ended |
//! | `orders_db_pool_connections` | gauge | `pool`, `state` (`in_use`, `idle`) | the store's pools, when the host tells them ([`Metrics::pools`]) |
//! | `orders_db_pool_max_connections` | gauge | `pool` | each pool's bound |
//! | `orders_db_write_batches_total` | counter | | transactions the store's single writer committed (SQLite's group commit), when the host tells them ([`Metrics::write_batches`]) |
//! | `orders_db_batched_writes_total` | counter | | writes in those transactions: divided by the batches, how many writes queue for the writer |
//! | `orders_delivery_attempts_total` | counter | `consumer`, `webhook`, `outcome` ([`DeliveryOutcome`]) | delivery attempts made by this process |
//! | `orders_delivery_backlog` | gauge | `consumer`, `webhook` | deliveries pending, as the worker last read them ([`Metrics::delivery_counts`]) |
//! | `orders_deliveries_dead` | gauge | `consumer`, `webhook` | dead deliveries, read with the backlog |
//! | `orders_mail_attempts_total` | counter | `outcome` ([`DeliveryOutcome`]) | customer email attempts made by this process |
//! | `orders_mail_backlog` | gauge | | emails pending, as the mail worker last read them ([`Metrics::mail_counts`]) |
//! | `orders_mails_dead` | gauge | | dead emails, read with the backlog |
//!
//! `route` is the route *template* the request matched (`/api/carts/{id}`),
//! never the path a client sent, so a scan of a million URLs adds no
//! series; whatever matched no route (a 404 of the fallback) is
//! `unmatched`. `method` is one of the standard methods, or `OTHER`.
//!
//! [`crate::Api::metrics`] records the API's requests, sockets and
//! checkouts. A host records its own routes with [`Metrics::layer`], adds
//! its own metrics to the same document ([`Metrics::with_registry`],
//! [`Metrics::register`]) and serves it with [`Metrics::endpoint`] (or
//! [`Metrics::response`] inside its own handler, behind its own access
//! rule: the document is for operators, not the public).

mod callback;
mod checkouts;
mod deliveries;
mod http;
mod mails;
mod pools;
mod sockets;
mod write_batches;

use std::sync::{Arc, PoisonError, RwLock};

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::registry::{Metric, Registry};

/// The `prometheus-client` this crate registers with, for a host's own
/// metrics ([`Metrics::register`], [`Metrics::with_registry`]).
pub use prometheus_client;

pub use checkouts::CheckoutOutcome;
pub(crate) use checkouts::record_checkout;
pub(crate) use checkouts::{PlacedAwaitingPayment, ProblemCode};
pub use deliveries::DeliveryOutcome;
pub use http::{HttpMetricsLayer, HttpMetricsService};
pub use pools::PoolUse;
pub(crate) use sockets::OpenSocket;
pub use write_batches::WriteBatchCounts;

use crate::meters::Feed;

/// The media type of the document: the Prometheus text format, 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The prefix of every family of the engine.
const PREFIX: &str = "orders";

/// The engine's metrics and the registry they are in. Cheap to clone:
/// clones share everything.
///
/// ```
/// use axum::Router;
/// use orders_axum::metrics::Metrics;
///
/// let metrics = Metrics::new();
/// // With the API: `Api::new(orders, host).metrics(&metrics)`.
/// let app: Router = Router::new().route("/metrics", metrics.endpoint());
/// assert!(metrics.render().contains("orders_checkouts_total"));
/// # let _ = app;
/// ```
#[derive(Clone)]
pub struct Metrics(Arc<Shared>);

struct Shared {
    registry: RwLock<Registry>,
    http: http::HttpFamilies,
    sockets: sockets::SocketFamily,
    checkouts: checkouts::CheckoutFamily,
    pools: pools::PoolCollector,
    write_batches: write_batches::WriteBatchCollector,
    deliveries: deliveries::DeliveryFamilies,
    mails: mails::MailFamilies,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// The engine's families in a registry of their own.
    pub fn new() -> Self {
        Self::with_registry(Registry::default())
    }

    /// The engine's families added to the host's `registry` (under
    /// `orders_`), so one document holds the host's metrics and the
    /// engine's.
    pub fn with_registry(mut registry: Registry) -> Self {
        let ours = registry.sub_registry_with_prefix(PREFIX);
        let http = http::HttpFamilies::register(ours);
        let sockets = sockets::register(ours);
        let checkouts = checkouts::register(ours);
        let pools = pools::PoolCollector::default();
        ours.register_collector(Box::new(pools.clone()));
        let write_batches = write_batches::WriteBatchCollector::default();
        ours.register_collector(Box::new(write_batches.clone()));
        let deliveries = deliveries::DeliveryFamilies::register(ours);
        let mails = mails::MailFamilies::register(ours);
        Self(Arc::new(Shared {
            registry: RwLock::new(registry),
            http,
            sockets,
            checkouts,
            pools,
            write_batches,
            deliveries,
            mails,
        }))
    }

    /// Adds one of the host's metrics to the document, under `name` as
    /// given (no prefix). Keep a clone of `metric` to update it.
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.registry_mut().register(name, help, metric);
    }

    /// Adds a collector, asked for its values at every scrape.
    pub fn register_collector(&self, collector: Box<dyn Collector>) {
        self.registry_mut().register_collector(collector);
    }

    /// Reports the store's connection pools at every scrape, as `read`
    /// tells them (`orders_db_pool_connections`,
    /// `orders_db_pool_max_connections`); a later call replaces `read`.
    pub fn pools(&self, read: impl Fn() -> Vec<PoolUse> + Send + Sync + 'static) {
        self.0.pools.set(read);
    }

    /// Reports how the store's single writer commits at every scrape, as
    /// `read` tells it (`orders_db_write_batches_total`,
    /// `orders_db_batched_writes_total`); `None` writes neither family (a
    /// store without a single writer). A later call replaces `read`.
    ///
    /// ```
    /// use orders_axum::metrics::{Metrics, WriteBatchCounts};
    ///
    /// let metrics = Metrics::new();
    /// metrics.write_batches(|| Some(WriteBatchCounts { batches: 4, writes: 10 }));
    /// assert!(metrics.render().contains("orders_db_batched_writes_total 10"));
    /// ```
    pub fn write_batches(
        &self,
        read: impl Fn() -> Option<WriteBatchCounts> + Send + Sync + 'static,
    ) {
        self.0.write_batches.set(read);
    }

    /// A layer recording the requests of the routes it wraps (apply it
    /// with `Router::layer`, so the route template is known). A request
    /// that an inner layer of any [`Metrics`] already recorded (the API's
    /// own, say) is not counted twice.
    pub fn layer(&self) -> HttpMetricsLayer {
        HttpMetricsLayer::new(self.clone())
    }

    /// The document now, in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        let registry = self
            .0
            .registry
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        // Writing to a String cannot fail; a collector that fails ends the
        // document early, which a scraper sees as missing series.
        let _ = prometheus_text::encode(&mut text, &registry);
        text
    }

    /// The document as a response, with its content type: for a host's own
    /// handler that checks who asks first.
    pub fn response(&self) -> Response {
        let mut response = self.render().into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        response
    }

    /// `GET` answering the document, to route where the host likes:
    /// `Router::new().route("/metrics", metrics.endpoint())`. It checks
    /// nothing: put it on an address only operators reach, or behind a
    /// middleware that checks the caller.
    pub fn endpoint<S: Clone + Send + Sync + 'static>(&self) -> MethodRouter<S> {
        let metrics = self.clone();
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move { metrics.response() }
        })
    }

    /// Counts a socket of `feed` open until the returned value is dropped.
    pub(crate) fn socket_opened(&self, feed: Feed) -> OpenSocket {
        OpenSocket::new(&self.0.sockets, feed)
    }

    /// Counts one checkout that ended as `outcome`: the API counts its
    /// own; a host counts those of its own checkout page here.
    pub fn record_checkout(&self, outcome: CheckoutOutcome) {
        self.0.checkouts.get_or_create(&outcome.into()).inc();
    }

    /// Counts one delivery attempt of `consumer` (the webhook consumer,
    /// say) to `webhook` that came to `outcome`: the delivery worker
    /// counts its own (`DeliveryWorker::metrics`).
    pub fn record_delivery_attempt(&self, consumer: &str, webhook: &str, outcome: DeliveryOutcome) {
        self.0.deliveries.attempt(consumer, webhook, outcome);
    }

    /// Reports `consumer`'s backlog and dead items per webhook, as just
    /// read from the store ([`orders_core::ports::DeliveryStore::delivery_counts`]);
    /// they replace what it reported before.
    pub fn delivery_counts(&self, consumer: &str, counts: Vec<orders_core::ports::DeliveryCounts>) {
        self.0.deliveries.set_counts(consumer, counts);
    }

    /// Counts one customer email attempt that came to `outcome`: the mail
    /// worker counts its own (`MailWorker::metrics`).
    pub fn record_mail_attempt(&self, outcome: DeliveryOutcome) {
        self.0.mails.attempt(outcome);
    }

    /// Reports the pending and dead customer emails, as just read from the
    /// store ([`orders_core::ports::MailStore::pending_mails`],
    /// [`orders_core::ports::MailStore::dead_mails`]).
    pub fn mail_counts(&self, pending: u64, dead: u64) {
        self.0.mails.set_counts(pending, dead);
    }

    fn registry_mut(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.0
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
