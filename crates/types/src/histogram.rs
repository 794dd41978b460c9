//! A lock-free histogram of durations, for the metrics of the hot paths
//! (an authorization's latency, a group commit's round).
//!
//! Observing is two relaxed atomic adds and a search of a short constant
//! table: no lock, no allocation. The buckets are fixed
//! ([`BUCKET_BOUNDS_MICROS`], 100 µs to 10 s), so every histogram of the
//! platform can be compared with every other. Reading takes a
//! [`HistogramSnapshot`], which the metrics endpoint writes in the
//! Prometheus text format.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How many finite buckets a [`DurationHistogram`] has.
pub const BUCKETS: usize = 16;

/// The buckets' upper bounds in microseconds, about 2.5 times apart: from
/// a tenth of a millisecond (a group commit of one small batch) to ten
/// seconds (well past any issuer's time limit).
pub const BUCKET_BOUNDS_MICROS: [u64; BUCKETS] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// Durations counted into [`BUCKET_BOUNDS_MICROS`].
#[derive(Debug)]
pub struct DurationHistogram {
    /// Observations per bucket (not cumulative); the last one counts those
    /// above every bound.
    counts: [AtomicU64; BUCKETS + 1],
    /// Every observation added up, in microseconds.
    sum_micros: AtomicU64,
}

impl Default for DurationHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl DurationHistogram {
    /// An empty histogram (usable in a `static`).
    pub const fn new() -> Self {
        DurationHistogram {
            counts: [const { AtomicU64::new(0) }; BUCKETS + 1],
            sum_micros: AtomicU64::new(0),
        }
    }

    /// Counts one duration.
    pub fn observe(&self, d: Duration) {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        // The first bucket whose bound is at least `micros` (or the one
        // above every bound).
        let bucket = BUCKET_BOUNDS_MICROS.partition_point(|&bound| bound < micros);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// What was counted so far. Taken while others observe, the count and
    /// the buckets agree with each other (the count is their sum); the sum
    /// may hold an observation more or less.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut per_bucket = [0u64; BUCKETS];
        for (slot, count) in per_bucket.iter_mut().zip(&self.counts) {
            *slot = count.load(Ordering::Relaxed);
        }
        let above = self.counts[BUCKETS].load(Ordering::Relaxed);
        let count = per_bucket.iter().fold(above, |n, c| n.saturating_add(*c));
        HistogramSnapshot {
            per_bucket,
            count,
            sum_micros: self.sum_micros.load(Ordering::Relaxed),
        }
    }
}

/// A [`DurationHistogram`]'s counts at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// Observations per finite bucket, not cumulative.
    pub per_bucket: [u64; BUCKETS],
    /// Every observation, those above the last bound included.
    pub count: u64,
    /// Every observation added up, in microseconds.
    pub sum_micros: u64,
}

impl HistogramSnapshot {
    /// The sum in seconds.
    pub fn sum_seconds(&self) -> f64 {
        // Exact below 2^53 µs (285 years of observations).
        self.sum_micros as f64 / 1e6
    }

    /// Each finite bucket as (upper bound in seconds, its own count), the
    /// shape the Prometheus encoders take (they add up the counts and add
    /// the `+Inf` bucket, which is [`HistogramSnapshot::count`]).
    pub fn buckets_seconds(&self) -> [(f64, u64); BUCKETS] {
        let mut out = [(0.0, 0); BUCKETS];
        for ((slot, bound), count) in out
            .iter_mut()
            .zip(BUCKET_BOUNDS_MICROS)
            .zip(self.per_bucket)
        {
            *slot = (bound as f64 / 1e6, count);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_counts_in_the_first_bucket_that_holds_it() {
        let h = DurationHistogram::new();
        h.observe(Duration::from_micros(100)); // on the first bound
        h.observe(Duration::from_micros(101)); // just above it
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(60)); // above every bound
        let s = h.snapshot();
        assert_eq!(s.count, 4);
        assert_eq!(s.per_bucket[0], 1);
        assert_eq!(s.per_bucket[1], 1);
        assert_eq!(s.per_bucket[5], 1, "3 ms is in the 5 ms bucket");
        assert_eq!(s.per_bucket.iter().sum::<u64>(), 3);
        assert_eq!(s.sum_micros, 100 + 101 + 3_000 + 60_000_000);
        assert!((s.sum_seconds() - 60.003201).abs() < 1e-9);
        let b = s.buckets_seconds();
        assert_eq!(b[0], (0.0001, 1));
        assert_eq!(b[BUCKETS - 1], (10.0, 0));
    }

    #[test]
    fn the_bounds_grow() {
        assert!(BUCKET_BOUNDS_MICROS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn an_empty_histogram_counts_nothing() {
        let s = DurationHistogram::default().snapshot();
        assert_eq!(s.count, 0);
        assert_eq!(s.sum_micros, 0);
    }
}
