//! The time source services read, injectable so tests move time forward
//! instead of waiting.
//!
//! Protocol code never reads the clock: it takes the instant as an argument.
//! Services hold an `Arc<dyn Clock>`; the assembly gives them
//! [`SystemClock`], tests a [`ManualClock`] (or any `Fn() -> i64` closure).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Wall-clock time in Unix milliseconds (UTC).
pub trait Clock: Send + Sync + 'static {
    /// The current instant in Unix milliseconds.
    fn now_millis(&self) -> i64;
}

/// Any `Fn() -> i64` closure is a clock (tests that keep the instant in an
/// atomic they move themselves).
impl<F: Fn() -> i64 + Send + Sync + 'static> Clock for F {
    fn now_millis(&self) -> i64 {
        self()
    }
}

/// The operating system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        system_millis()
    }
}

/// Current system time in Unix milliseconds; 0 if the system clock reads
/// before 1970, `i64::MAX` past the year 292 million.
pub fn system_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A clock that moves only when told to (tests and simulations). Clones
/// share the same instant.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// Starts at the current system time.
    pub fn new() -> Self {
        ManualClock::starting_at(system_millis())
    }

    /// Starts at `millis`.
    pub fn starting_at(millis: i64) -> Self {
        ManualClock(Arc::new(AtomicI64::new(millis)))
    }

    /// Moves time forward by `by` (saturating at `i64::MAX` milliseconds).
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        // fetch_update with saturating_add: an advance never wraps into the past.
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
                Some(t.saturating_add(ms))
            });
    }

    /// Sets the instant.
    pub fn set(&self, millis: i64) {
        self.0.store(millis, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    enum Step {
        Advance(u64),
        Set(i64),
    }

    fn check(start: i64, steps: &[Step], expect: i64) {
        let clock = ManualClock::starting_at(start);
        let shared = clock.clone();
        for s in steps {
            match s {
                Step::Advance(ms) => clock.advance(Duration::from_millis(*ms)),
                Step::Set(ms) => clock.set(*ms),
            }
        }
        assert_eq!(shared.now_millis(), expect);
        let as_dyn: Arc<dyn Clock> = Arc::new(shared);
        assert_eq!(as_dyn.now_millis(), expect);
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        check(1_000, &[], 1_000);
        check(1_000, &[Step::Advance(500)], 1_500);
        check(1_000, &[Step::Advance(500), Step::Set(7)], 7);
        check(1_000, &[Step::Set(7), Step::Advance(3)], 10);
        check(i64::MAX - 1, &[Step::Advance(10)], i64::MAX);
    }

    #[test]
    fn closures_and_the_system_are_clocks() {
        let fixed: Arc<dyn Clock> = Arc::new(|| 42);
        assert_eq!(fixed.now_millis(), 42);
        // 2020-01-01T00:00:00Z: any real clock reads later.
        assert!(SystemClock.now_millis() > 1_577_836_800_000);
        assert!(ManualClock::new().now_millis() > 1_577_836_800_000);
    }
}
