//! The sweeper: every `sweep_interval`, the orders whose 3-D Secure hold
//! expired are cancelled and their stock returned
//! ([`Orders::sweep_payments`]). Safe with several servers on one database:
//! each cancellation is a compare-and-set in the core.

use std::time::Duration;

use orders_core::Orders;
use tokio::sync::watch;
use tracing::{debug, info, warn};

/// Orders looked at in one sweep; more wait for the next tick.
pub const SWEEP_BATCH: usize = 100;

/// Sweeps every `every` until `stop` turns `true` (or its sender is
/// dropped). The first sweep runs at once: holds that expired while the
/// server was down are released at start.
pub async fn sweep_every(orders: Orders, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return;
                }
                continue;
            }
        }
        match orders.sweep_payments(SWEEP_BATCH).await {
            Ok(report) => {
                debug!(
                    cancelled = report.cancelled.len(),
                    paid = report.paid.len(),
                    skipped = report.skipped.len(),
                    "payment sweep"
                );
                if !(report.cancelled.is_empty()
                    && report.paid.is_empty()
                    && report.skipped.is_empty())
                {
                    info!(
                        cancelled = report.cancelled.len(),
                        paid = report.paid.len(),
                        skipped = report.skipped.len(),
                        "payment holds swept"
                    );
                }
            }
            Err(error) => warn!(%error, "payment sweep failed; retried at the next tick"),
        }
    }
}
