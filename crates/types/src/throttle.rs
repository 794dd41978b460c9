//! Failed sign-ins buy waits: the one rule the account holders' sign-in
//! (`paytap_wallet::throttle`, counters in memory) and the operators'
//! (`paytap_console`, counters in its database) both apply.
//!
//! A [`Failures`] count per key (a login, an address, a pair) under a
//! [`Backoff`] policy: the first [`Backoff::free`] failures cost nothing;
//! the one that spends the last of them starts a wait of
//! [`Backoff::first_delay`], and every further failure doubles it, up to
//! [`Backoff::max_delay`]. While a wait runs, an attempt is refused before
//! its password is checked, so a right password is refused too. A count
//! with no failure for [`Backoff::forget_after`] is forgotten; a success
//! is the caller's to clear. Sans-IO: the caller passes the instant (Unix
//! milliseconds) and keeps the counts where it needs them.

use std::time::Duration;

/// How failures turn into waits (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Failures that cost nothing; the one that spends the last starts a
    /// wait.
    pub free: u32,
    /// The first wait; it doubles per further failure.
    pub first_delay: Duration,
    /// The longest wait.
    pub max_delay: Duration,
    /// A count with no failure for this long starts again from zero.
    pub forget_after: Duration,
}

/// One key's failures: how many, and when the last was (Unix ms).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Failures {
    /// Failures counted since the count was last cleared or forgotten.
    pub count: u32,
    /// When the last of them was, Unix ms.
    pub last_ms: i64,
}

/// Milliseconds of a duration, saturating.
fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Backoff {
    /// The wait after `count` failures: none within the free allowance,
    /// then the first delay doubled per failure beyond it, capped.
    pub fn delay_ms(&self, count: u32) -> Option<i64> {
        if count < self.free {
            return None;
        }
        let doublings = (count - self.free).min(30);
        Some(
            ms(self.first_delay)
                .saturating_mul(1 << doublings)
                .min(ms(self.max_delay)),
        )
    }
}

impl Failures {
    /// The count as it stands at `now`: forgotten (zero) once
    /// `forget_after` has passed since the last failure.
    pub fn at(self, policy: &Backoff, now: i64) -> Failures {
        if now.saturating_sub(self.last_ms) < ms(policy.forget_after) {
            self
        } else {
            Failures::default()
        }
    }

    /// Milliseconds still to wait at `now` before another attempt, if any.
    pub fn wait_ms(&self, policy: &Backoff, now: i64) -> Option<i64> {
        let current = self.at(policy, now);
        let until = current
            .last_ms
            .saturating_add(policy.delay_ms(current.count)?);
        (until > now).then_some(until - now)
    }

    /// The count after one more failure at `now`, and whether it is the
    /// one that spent the last free failure (a wait begins).
    pub fn fail(self, policy: &Backoff, now: i64) -> (Failures, bool) {
        let count = self.at(policy, now).count.saturating_add(1);
        (
            Failures {
                count,
                last_ms: now,
            },
            count == policy.free,
        )
    }
}

/// Whole seconds from a wait in milliseconds, rounded up, at least 1: what
/// a `Retry-After` header says.
pub fn wait_secs(wait_ms: i64) -> u64 {
    u64::try_from((wait_ms.max(1) + 999) / 1000).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_000_000_000;
    const POLICY: Backoff = Backoff {
        free: 3,
        first_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(60),
        forget_after: Duration::from_secs(3600),
    };

    #[test]
    fn free_failures_cost_nothing_then_waits_double_up_to_the_cap() {
        let mut f = Failures::default();
        for i in 0..POLICY.free {
            assert_eq!(f.wait_ms(&POLICY, T0), None);
            let (next, begins) = f.fail(&POLICY, T0);
            assert_eq!(begins, i + 1 == POLICY.free);
            f = next;
        }
        assert_eq!(f.wait_ms(&POLICY, T0), Some(1000));
        assert_eq!(f.wait_ms(&POLICY, T0 + 400), Some(600));
        assert_eq!(f.wait_ms(&POLICY, T0 + 1000), None);
        let (f, begins) = f.fail(&POLICY, T0 + 1000);
        assert!(!begins);
        assert_eq!(f.wait_ms(&POLICY, T0 + 1000), Some(2000));
        let mut f = f;
        for _ in 0..40 {
            f = f.fail(&POLICY, T0 + 2000).0;
        }
        assert_eq!(f.wait_ms(&POLICY, T0 + 2000), Some(60_000));
    }

    #[test]
    fn a_count_is_forgotten_after_its_window() {
        let mut f = Failures::default();
        for _ in 0..10 {
            f = f.fail(&POLICY, T0).0;
        }
        let later = T0 + 3_600_000;
        assert_eq!(f.at(&POLICY, later), Failures::default());
        assert_eq!(f.wait_ms(&POLICY, later), None);
        let (again, _) = f.fail(&POLICY, later);
        assert_eq!(
            again,
            Failures {
                count: 1,
                last_ms: later
            }
        );
    }

    #[test]
    fn waits_in_whole_seconds() {
        assert_eq!(wait_secs(0), 1);
        assert_eq!(wait_secs(1), 1);
        assert_eq!(wait_secs(1000), 1);
        assert_eq!(wait_secs(1001), 2);
    }
}
