//! Outbound delivery (webhooks; emails later), per consumer and webhook:
//! attempts by outcome, counted as the worker makes them, and the backlog
//! and dead items as the worker last read them from the store (a collector
//! writes that snapshot at every scrape, so a deleted webhook leaves no
//! series).

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use orders_core::ports::DeliveryCounts;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// What one delivery attempt came to: the `outcome` label of
/// `orders_delivery_attempts_total`.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The receiver acknowledged it.
    Delivered,
    /// It failed and will be tried again.
    Failed,
    /// It failed and the retry policy gave up: the delivery is dead.
    Dead,
}

impl DeliveryOutcome {
    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Dead => "dead",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    consumer: String,
    webhook: String,
    outcome: &'static str,
}

/// The attempts counter and the last counts each consumer reported.
#[derive(Clone, Default)]
pub(super) struct DeliveryFamilies {
    attempts: Family<AttemptLabels, Counter>,
    counts: Arc<RwLock<BTreeMap<String, Vec<DeliveryCounts>>>>,
}

impl std::fmt::Debug for DeliveryFamilies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryFamilies").finish_non_exhaustive()
    }
}

impl DeliveryFamilies {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let families = Self::default();
        registry.register(
            "delivery_attempts",
            "Delivery attempts, by consumer, webhook and outcome",
            families.attempts.clone(),
        );
        registry.register_collector(Box::new(CountsCollector(families.counts.clone())));
        families
    }

    pub(super) fn attempt(&self, consumer: &str, webhook: &str, outcome: DeliveryOutcome) {
        self.attempts
            .get_or_create(&AttemptLabels {
                consumer: consumer.to_owned(),
                webhook: webhook.to_owned(),
                outcome: outcome.as_str(),
            })
            .inc();
    }

    pub(super) fn set_counts(&self, consumer: &str, counts: Vec<DeliveryCounts>) {
        let mut all = self.counts.write().unwrap_or_else(PoisonError::into_inner);
        all.insert(consumer.to_owned(), counts);
    }
}

#[derive(Debug)]
struct CountsCollector(Arc<RwLock<BTreeMap<String, Vec<DeliveryCounts>>>>);

impl Collector for CountsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let all = self.0.read().unwrap_or_else(PoisonError::into_inner);
        if all.is_empty() {
            return Ok(());
        }
        let backlog = Family::<[(&str, String); 2], Gauge>::default();
        let dead = Family::<[(&str, String); 2], Gauge>::default();
        for (consumer, counts) in all.iter() {
            for c in counts {
                let labels = [
                    ("consumer", consumer.clone()),
                    ("webhook", c.webhook_id.as_str().to_owned()),
                ];
                backlog
                    .get_or_create(&labels)
                    .set(i64::try_from(c.pending).unwrap_or(i64::MAX));
                dead.get_or_create(&labels)
                    .set(i64::try_from(c.dead).unwrap_or(i64::MAX));
            }
        }
        let described = encoder.encode_descriptor(
            "delivery_backlog",
            "Deliveries pending (due or not), by consumer and webhook, as last read",
            None,
            MetricType::Gauge,
        )?;
        backlog.encode(described)?;
        let described = encoder.encode_descriptor(
            "deliveries_dead",
            "Dead deliveries waiting for a retry by hand, by consumer and webhook, as last read",
            None,
            MetricType::Gauge,
        )?;
        dead.encode(described)
    }
}
