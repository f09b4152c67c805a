//! How the store's single writer commits, read at every scrape from a
//! callback the host gives ([`super::Metrics::write_batches`]): SQLite's
//! group commit, where one transaction holds the writes that waited.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;

use super::callback::Callback;

/// The writer's commits so far: how many batches, holding how many writes.
/// Writes per batch near 1 mean the writer is rarely contended; well above
/// 1, writes queue for it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteBatchCounts {
    /// Batches committed.
    pub batches: u64,
    /// Writes in them, refused ones included.
    pub writes: u64,
}

/// Asks the host's callback, if it gave one, at every scrape; a callback
/// that answers `None` (a store without a single writer) writes nothing.
pub(super) type WriteBatchCollector = Callback<Option<WriteBatchCounts>>;

impl Collector for Callback<Option<WriteBatchCounts>> {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let Some(counts) = self.read().flatten() else {
            return Ok(());
        };
        let described = encoder.encode_descriptor(
            "db_write_batches",
            "Transactions the store's single writer committed, each holding the writes that waited for it.",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(counts.batches).encode(described)?;
        let described = encoder.encode_descriptor(
            "db_batched_writes",
            "Writes in the store's write batches, refused ones included.",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(counts.writes).encode(described)
    }
}
