//! The store's connection pools, read at every scrape from a callback the
//! host gives ([`super::Metrics::pools`]): the engine knows no database.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use super::callback::Callback;

/// What one connection pool holds now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolUse {
    /// The pool's name (`writer`, `reader`, `main`…): the `pool` label.
    pub pool: String,
    /// Connections open, in use or idle.
    pub open: u32,
    /// Open connections waiting for work.
    pub idle: u32,
    /// The most the pool opens.
    pub max: u32,
}

/// Asks the host's callback, if it gave one, at every scrape.
pub(super) type PoolCollector = Callback<Vec<PoolUse>>;

impl Collector for Callback<Vec<PoolUse>> {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let Some(pools) = self.read() else {
            return Ok(());
        };
        // Fresh families each scrape: a pool that went away leaves no series.
        let connections = Family::<[(&str, String); 2], Gauge>::default();
        let max = Family::<[(&str, String); 1], Gauge>::default();
        for pool in pools {
            let in_use = pool.open.saturating_sub(pool.idle);
            for (state, value) in [("in_use", in_use), ("idle", pool.idle)] {
                connections
                    .get_or_create(&[("pool", pool.pool.clone()), ("state", state.to_owned())])
                    .set(i64::from(value));
            }
            max.get_or_create(&[("pool", pool.pool.clone())])
                .set(i64::from(pool.max));
        }
        let described = encoder.encode_descriptor(
            "db_pool_connections",
            "Connections of the store's pools, by pool and state.",
            None,
            MetricType::Gauge,
        )?;
        connections.encode(described)?;
        let described = encoder.encode_descriptor(
            "db_pool_max_connections",
            "The most connections each of the store's pools opens.",
            None,
            MetricType::Gauge,
        )?;
        max.encode(described)
    }
}
