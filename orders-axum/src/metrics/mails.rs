//! Customer emails: attempts by outcome, counted as the mail worker makes
//! them, and the backlog and dead mails as the worker last read them from
//! the store.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::DeliveryOutcome;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// The mail attempts counter and the two gauges.
#[derive(Clone, Debug, Default)]
pub(super) struct MailFamilies {
    attempts: Family<OutcomeLabel, Counter>,
    backlog: Gauge,
    dead: Gauge,
}

impl MailFamilies {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let families = Self::default();
        registry.register(
            "mail_attempts",
            "Customer email attempts made by this process, by outcome",
            families.attempts.clone(),
        );
        registry.register(
            "mail_backlog",
            "Customer emails pending (due or not), as last read",
            families.backlog.clone(),
        );
        registry.register(
            "mails_dead",
            "Dead customer emails waiting for a retry by hand, as last read",
            families.dead.clone(),
        );
        families
    }

    pub(super) fn attempt(&self, outcome: DeliveryOutcome) {
        self.attempts
            .get_or_create(&OutcomeLabel {
                outcome: outcome.as_str(),
            })
            .inc();
    }

    pub(super) fn set_counts(&self, pending: u64, dead: u64) {
        self.backlog.set(i64::try_from(pending).unwrap_or(i64::MAX));
        self.dead.set(i64::try_from(dead).unwrap_or(i64::MAX));
    }
}
