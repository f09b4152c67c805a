//! Latency samples and their percentiles.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Latencies in microseconds, in the order they were recorded.
#[derive(Debug, Default, Clone)]
pub(crate) struct Samples {
    micros: Vec<u64>,
}

impl Samples {
    /// Records one latency.
    pub(crate) fn push(&mut self, latency: Duration) {
        self.micros
            .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    }

    /// Moves every sample of `other` into `self`.
    pub(crate) fn absorb(&mut self, other: Samples) {
        self.micros.extend(other.micros);
    }

    /// How many samples there are.
    pub(crate) fn len(&self) -> usize {
        self.micros.len()
    }

    /// The count, percentiles, mean and maximum; `None` without samples.
    pub(crate) fn summary(&self) -> Option<Summary> {
        let mut sorted = self.micros.clone();
        sorted.sort_unstable();
        let total: u128 = sorted.iter().map(|&m| u128::from(m)).sum();
        let count = sorted.len();
        Some(Summary {
            count,
            p50: micros(percentile(&sorted, 50.0)?),
            p99: micros(percentile(&sorted, 99.0)?),
            max: micros(*sorted.last()?),
            mean: micros(u64::try_from(total / count as u128).unwrap_or(u64::MAX)),
        })
    }
}

fn micros(m: u64) -> Duration {
    Duration::from_micros(m)
}

/// The nearest-rank percentile `p` (0–100) of `sorted` (ascending): the
/// smallest sample such that at least `p` % of the samples are at or below
/// it. `None` when there are no samples.
pub(crate) fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let p = p.clamp(0.0, 100.0);
    // ceil(p/100 * n), computed in integers to avoid 0.29 * 100 style errors.
    let per_mille = (p * 1000.0).round() as u128; // p in thousandths of a percent
    let rank = (per_mille * n as u128).div_ceil(100_000);
    let index = usize::try_from(rank).unwrap_or(n).clamp(1, n) - 1;
    Some(sorted[index])
}

/// What a set of samples comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Summary {
    /// How many samples.
    pub(crate) count: usize,
    /// The median.
    pub(crate) p50: Duration,
    /// The 99th percentile.
    pub(crate) p99: Duration,
    /// The largest sample.
    pub(crate) max: Duration,
    /// The arithmetic mean.
    pub(crate) mean: Duration,
}

/// Milliseconds with a precision that suits their size.
pub(crate) struct Ms(pub(crate) Duration);

impl fmt::Display for Ms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_secs_f64() * 1000.0;
        if ms < 10.0 {
            write!(f, "{ms:.2}")
        } else if ms < 100.0 {
            write!(f, "{ms:.1}")
        } else {
            write!(f, "{ms:.0}")
        }
    }
}

/// Failures counted by a short description (`"checkout 409"`), plus the
/// first message seen for each.
#[derive(Debug, Default)]
pub(crate) struct Failures {
    counts: BTreeMap<String, (u64, String)>,
}

impl Failures {
    /// Counts one failure of kind `key`.
    pub(crate) fn add(&mut self, key: String, message: impl FnOnce() -> String) {
        self.counts.entry(key).or_insert_with(|| (0, message())).0 += 1;
    }

    /// Moves `other`'s counts into `self`.
    pub(crate) fn absorb(&mut self, other: Failures) {
        for (key, (count, message)) in other.counts {
            self.counts.entry(key).or_insert((0, message)).0 += count;
        }
    }

    /// The number of failures of every kind.
    pub(crate) fn total(&self) -> u64 {
        self.counts.values().map(|(c, _)| c).sum()
    }

    /// `(kind, count, first message)`, by kind.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, u64, &str)> {
        self.counts
            .iter()
            .map(|(k, (c, m))| (k.as_str(), *c, m.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_of_one_to_a_hundred() {
        let sorted: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&sorted, 50.0), Some(50));
        assert_eq!(percentile(&sorted, 99.0), Some(99));
        assert_eq!(percentile(&sorted, 100.0), Some(100));
        assert_eq!(percentile(&sorted, 0.0), Some(1));
        assert_eq!(percentile(&sorted, 99.5), Some(100));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn p99_of_a_thousand_is_the_990th_and_a_single_sample_is_every_percentile() {
        let sorted: Vec<u64> = (1..=1000).map(|x| x * 10).collect();
        assert_eq!(percentile(&sorted, 99.0), Some(9900));
        assert_eq!(percentile(&sorted, 50.0), Some(5000));
        assert_eq!(percentile(&[7], 1.0), Some(7));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        // Rank 29 of 100, not 30 as a float 0.29 * 100 would round up to.
        assert_eq!(percentile(&(1..=100).collect::<Vec<u64>>(), 29.0), Some(29));
    }

    #[test]
    fn summary_sorts_unordered_samples_and_merges() {
        let mut a = Samples::default();
        for ms in [30, 10, 20] {
            a.push(Duration::from_millis(ms));
        }
        let mut b = Samples::default();
        b.push(Duration::from_millis(40));
        a.absorb(b);
        let s = a.summary().expect("samples");
        assert_eq!(s.count, 4);
        assert_eq!(s.p50, Duration::from_millis(20));
        assert_eq!(s.p99, Duration::from_millis(40));
        assert_eq!(s.max, Duration::from_millis(40));
        assert_eq!(s.mean, Duration::from_millis(25));
        assert_eq!(Samples::default().summary(), None);
    }

    #[test]
    fn failures_count_by_kind() {
        let mut a = Failures::default();
        a.add("checkout 409".into(), || "first".into());
        a.add("checkout 409".into(), || "second".into());
        let mut b = Failures::default();
        b.add("checkout 409".into(), || "third".into());
        b.add("add_item 422".into(), || "x".into());
        a.absorb(b);
        assert_eq!(a.total(), 4);
        let kinds: Vec<_> = a.iter().collect();
        assert_eq!(
            kinds,
            vec![("add_item 422", 1, "x"), ("checkout 409", 3, "first")]
        );
    }
}
