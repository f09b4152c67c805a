//! When a failed delivery is tried again, and when it is given up.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use crate::ids::DeliveryId;

/// Exponential backoff with jitter: the n-th failure waits
/// `first_delay × 2^(n-1)`, at most `max_delay`, less up to a quarter of
/// it (the jitter, so receivers that come back are not hit by every
/// retry at once); a delivery still failing `give_up_after` after its
/// first attempt is dead.
///
/// The jitter is drawn from the delivery id and the attempt number, not
/// from a random source: the same delivery waits the same on every
/// instance and in every test, and different deliveries spread out.
///
/// ```
/// use chrono::Duration;
/// use orders_core::ids::DeliveryId;
/// use orders_core::webhook::RetryPolicy;
///
/// let policy = RetryPolicy::default();
/// let id = DeliveryId::parse("d1").unwrap();
/// let first = policy.delay(&id, 1);
/// assert!(first > Duration::milliseconds(750) && first <= Duration::seconds(1));
/// assert!(policy.delay(&id, 40) <= Duration::hours(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failure (default 1 s).
    pub first_delay: Duration,
    /// The longest wait (default 1 h).
    pub max_delay: Duration,
    /// How long after its first attempt a failing delivery is retried
    /// before it is dead (default 3 days).
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first_delay: Duration::seconds(1),
            max_delay: Duration::hours(1),
            give_up_after: Duration::days(3),
        }
    }
}

impl RetryPolicy {
    /// The wait after the `failures`-th failure in a row (1 for the first).
    pub fn delay(&self, id: &DeliveryId, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(40);
        let first = self.first_delay.num_milliseconds().max(1);
        let max = self.max_delay.num_milliseconds().max(first);
        let base = first.saturating_mul(1_i64 << exponent).min(max);
        let digest = Sha256::new()
            .chain_update(id.as_str().as_bytes())
            .chain_update(failures.to_be_bytes())
            .finalize();
        let draw = i64::from(u16::from_be_bytes([digest[0], digest[1]]));
        // Up to a quarter off, never the whole wait.
        let jitter = base / 4 * draw / 65_536;
        Duration::milliseconds(base - jitter)
    }

    /// When to try again after the `failures`-th failure at `now`, or
    /// `None` when the delivery, first tried at `since`, is to be dead.
    pub fn next_attempt(
        &self,
        id: &DeliveryId,
        failures: u32,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let next = now + self.delay(id, failures);
        (next <= since + self.give_up_after).then_some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_from_one_second_to_an_hour_with_jitter() {
        let policy = RetryPolicy::default();
        let id = DeliveryId::parse("delivery").expect("id");
        let mut jittered = 0;
        for failures in 1..=20 {
            let nominal = Duration::seconds(1_i64 << (failures - 1)).min(Duration::hours(1));
            let delay = policy.delay(&id, failures);
            assert!(delay <= nominal, "{failures}: {delay} > {nominal}");
            assert!(delay > nominal * 3 / 4, "{failures}: {delay} too short");
            jittered += usize::from(delay != nominal);
        }
        assert!(jittered > 10, "the jitter moves most waits");
        let other = DeliveryId::parse("another").expect("id");
        assert_ne!(policy.delay(&id, 12), policy.delay(&other, 12));
        assert_eq!(policy.delay(&id, 12), policy.delay(&id, 12));
    }

    #[test]
    fn gives_up_after_the_window() {
        let policy = RetryPolicy::default();
        let id = DeliveryId::parse("d").expect("id");
        let since: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("time");
        let early = policy.next_attempt(&id, 3, since, since + Duration::minutes(1));
        assert!(early.is_some());
        let late = policy.next_attempt(&id, 80, since, since + Duration::days(3));
        assert_eq!(late, None);
    }
}
