//! Open websockets, by feed.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::meters::Feed;

impl EncodeLabelValue for Feed {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        let name = match self {
            Self::Track => "track",
            Self::AdminStream => "admin_stream",
        };
        std::fmt::Write::write_str(encoder, name)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct FeedLabels {
    feed: Feed,
}

pub(super) type SocketFamily = Family<FeedLabels, Gauge>;

pub(super) fn register(registry: &mut Registry) -> SocketFamily {
    let family = SocketFamily::default();
    registry.register(
        "websockets_open",
        "Upgraded websockets now open, by feed",
        family.clone(),
    );
    for feed in [Feed::Track, Feed::AdminStream] {
        // Both series exist from the start, at 0.
        drop(family.get_or_create(&FeedLabels { feed }));
    }
    family
}

/// One open socket, counted until dropped.
#[derive(Debug)]
pub(crate) struct OpenSocket(Gauge);

impl OpenSocket {
    pub(super) fn new(family: &SocketFamily, feed: Feed) -> Self {
        let gauge = family.get_or_create_owned(&FeedLabels { feed });
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for OpenSocket {
    fn drop(&mut self) {
        self.0.dec();
    }
}
