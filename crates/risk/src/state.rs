//! What the engine remembers per key (card, device, account, UPI id,
//! merchant), bounded: each key keeps at most [`MAX_EVENTS_PER_KEY`]
//! approved payments, and each kind at most its configured number of keys,
//! the least recently seen evicted first.
//!
//! A key's approved payments are kept in time order. When a key holds more
//! than [`MAX_EVENTS_PER_KEY`] inside its horizon, the oldest is dropped
//! and its instant remembered: a window that still reaches back past that
//! instant is *saturated* (it held more payments than are kept), and a
//! velocity rule treats a saturated window as breached. So the cap can make
//! the engine stricter, never laxer. An evicted key is forgotten whole: it
//! starts again with no history.

use paytap_types::{Currency, GeoPoint};
use std::collections::{HashMap, VecDeque};

/// Most approved payments one key remembers: above every velocity rule's
/// `max_count` ([`crate::config::MAX_VELOCITY_COUNT`]), so the cap never
/// hides a count breach.
pub const MAX_EVENTS_PER_KEY: usize = 512;
const _: () = assert!(crate::config::MAX_VELOCITY_COUNT as usize <= MAX_EVENTS_PER_KEY);
/// When a kind's table is full, this fraction (1/N) of its keys, the least
/// recently seen, is evicted at once, so eviction costs O(1) per insertion
/// amortised instead of a scan per insertion.
pub const EVICT_ONE_IN: usize = 8;
/// The weight of an account's amount history: the mean is over about the
/// last this many approved payments (older ones fade out).
pub const HISTORY_WEIGHT: u32 = 100;

/// One approved payment in a key's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// When, Unix ms.
    pub at_ms: i64,
    /// How much, minor units of `currency`.
    pub minor: i64,
    /// Its currency.
    pub currency: Currency,
}

/// A running mean of approved amounts in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    /// The currency of the amounts.
    pub currency: Currency,
    /// Payments in the mean (at most [`HISTORY_WEIGHT`]).
    pub count: u32,
    /// Their sum, minor units.
    pub sum: i128,
}

impl History {
    fn add(&mut self, minor: i64) {
        if self.count >= HISTORY_WEIGHT {
            self.sum -= self.sum / i128::from(self.count);
            self.count -= 1;
        }
        self.sum += i128::from(minor);
        self.count += 1;
    }

    /// The mean amount, minor units.
    pub fn mean(&self) -> i128 {
        if self.count == 0 {
            0
        } else {
            self.sum / i128::from(self.count)
        }
    }
}

/// Everything remembered about one key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyState {
    /// Approved payments inside the horizon, oldest first.
    pub events: VecDeque<Event>,
    /// The latest instant of an approved payment dropped by the per-key cap
    /// while still inside the horizon (`i64::MIN`: none).
    pub dropped_through_ms: i64,
    /// Declines since the last approval.
    pub declines_in_row: u32,
    /// The place and instant of the last approved payment that had a place.
    pub last_place: Option<(GeoPoint, i64)>,
    /// The running mean of approved amounts.
    pub history: Option<History>,
    /// When the key last paid (for eviction).
    pub last_seen_ms: i64,
}

impl KeyState {
    fn new(now: i64) -> KeyState {
        KeyState {
            events: VecDeque::new(),
            dropped_through_ms: i64::MIN,
            declines_in_row: 0,
            last_place: None,
            history: None,
            last_seen_ms: now,
        }
    }

    /// Count and sum (in `currency`) of approved payments in `(start, end]`,
    /// and whether the window is saturated (see the module docs).
    pub fn window(&self, start: i64, end: i64, currency: Currency) -> WindowTotals {
        let mut t = WindowTotals {
            count: 0,
            sum: 0,
            saturated: self.dropped_through_ms > start,
        };
        for e in self.events.iter().rev() {
            if e.at_ms <= start {
                break;
            }
            if e.at_ms > end {
                continue;
            }
            t.count += 1;
            if e.currency == currency {
                t.sum += i128::from(e.minor);
            }
        }
        t
    }

    /// Records an approved payment, keeping events in time order, dropping
    /// those older than `horizon_ms` before `now` and the oldest beyond the cap.
    fn approve(&mut self, e: Event, horizon_ms: i64, place: Option<GeoPoint>) {
        if horizon_ms > 0 {
            let pos = self
                .events
                .iter()
                .rposition(|x| x.at_ms <= e.at_ms)
                .map_or(0, |p| p + 1);
            self.events.insert(pos, e);
            let newest = self.events.back().map_or(e.at_ms, |x| x.at_ms);
            let cutoff = newest.saturating_sub(horizon_ms);
            while self.events.front().is_some_and(|x| x.at_ms <= cutoff) {
                self.events.pop_front();
            }
            while self.events.len() > MAX_EVENTS_PER_KEY {
                if let Some(x) = self.events.pop_front() {
                    self.dropped_through_ms = self.dropped_through_ms.max(x.at_ms);
                }
            }
        }
        self.declines_in_row = 0;
        if let Some(p) = place.filter(GeoPoint::is_valid)
            && self.last_place.is_none_or(|(_, at)| at <= e.at_ms)
        {
            self.last_place = Some((p, e.at_ms));
        }
        match &mut self.history {
            Some(h) if h.currency == e.currency => h.add(e.minor),
            Some(_) => {}
            None => {
                let mut h = History {
                    currency: e.currency,
                    count: 0,
                    sum: 0,
                };
                h.add(e.minor);
                self.history = Some(h);
            }
        }
    }
}

/// What a window holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowTotals {
    /// Approved payments in it.
    pub count: u32,
    /// Their sum in the asked currency, minor units.
    pub sum: i128,
    /// Whether it held more payments than a key keeps.
    pub saturated: bool,
}

/// One kind's keys, at most `capacity` of them.
#[derive(Debug, Clone)]
pub struct KeyTable {
    keys: HashMap<Box<str>, KeyState>,
    capacity: usize,
    /// Longest window any rule reads for this kind, ms (0: no events kept).
    horizon_ms: i64,
    evicted: u64,
}

impl KeyTable {
    /// An empty table.
    pub fn new(capacity: usize, horizon_ms: i64) -> KeyTable {
        KeyTable {
            keys: HashMap::new(),
            capacity: capacity.max(1),
            horizon_ms,
            evicted: 0,
        }
    }

    /// The state of `key`, if remembered.
    pub fn get(&self, key: &str) -> Option<&KeyState> {
        self.keys.get(key)
    }

    /// Keys remembered.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Keys evicted so far.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    fn entry(&mut self, key: &str, now: i64) -> &mut KeyState {
        if !self.keys.contains_key(key) && self.keys.len() >= self.capacity {
            self.evict_oldest();
        }
        let s = self
            .keys
            .entry(Box::from(key))
            .or_insert_with(|| KeyState::new(now));
        s.last_seen_ms = s.last_seen_ms.max(now);
        s
    }

    /// Evicts the least recently seen 1/[`EVICT_ONE_IN`] of the keys.
    fn evict_oldest(&mut self) {
        let n = (self.keys.len() / EVICT_ONE_IN).max(1);
        let mut seen: Vec<i64> = self.keys.values().map(|s| s.last_seen_ms).collect();
        let (_, cut, _) = seen.select_nth_unstable(n - 1);
        let cut = *cut;
        let before = self.keys.len();
        self.keys.retain(|_, s| s.last_seen_ms >= cut);
        let mut ties = n - (before - self.keys.len());
        self.keys.retain(|_, s| {
            if ties > 0 && s.last_seen_ms == cut {
                ties -= 1;
                false
            } else {
                true
            }
        });
        self.evicted += (before - self.keys.len()) as u64;
    }

    /// Records an approved payment for `key`.
    pub fn approve(&mut self, key: &str, e: Event, place: Option<GeoPoint>) {
        let horizon = self.horizon_ms;
        self.entry(key, e.at_ms).approve(e, horizon, place);
    }

    /// Records a declined payment for `key`.
    pub fn decline(&mut self, key: &str, now: i64) {
        let s = self.entry(key, now);
        s.declines_in_row = s.declines_in_row.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(at_ms: i64) -> Event {
        Event {
            at_ms,
            minor: 100,
            currency: Currency::CNY,
        }
    }

    #[test]
    fn a_full_table_evicts_the_least_recently_seen() {
        let mut t = KeyTable::new(16, 60_000);
        for i in 0..16 {
            t.approve(&format!("k{i}"), ev(i * 1000), None);
        }
        t.approve("k0", ev(100_000), None); // k0 seen again: now the newest.
        t.approve("new", ev(101_000), None);
        assert_eq!(t.len(), 16 - 2 + 1);
        assert!(t.get("k0").is_some() && t.get("new").is_some());
        assert!(t.get("k1").is_none() && t.get("k2").is_none());
        assert!(t.get("k3").is_some());
        assert_eq!(t.evicted(), 2);
    }

    #[test]
    fn the_per_key_cap_saturates_the_window_instead_of_hiding_payments() {
        let mut t = KeyTable::new(4, 3_600_000);
        for i in 0..(MAX_EVENTS_PER_KEY as i64 + 10) {
            t.approve("card", ev(i), None);
        }
        let s = t.get("card").unwrap();
        assert_eq!(s.events.len(), MAX_EVENTS_PER_KEY);
        let w = s.window(-1, 10_000, Currency::CNY);
        assert!(w.saturated);
        // A window that starts after the dropped payments is exact.
        let w = s.window(100, 10_000, Currency::CNY);
        assert!(!w.saturated);
        assert_eq!(w.count as i64, MAX_EVENTS_PER_KEY as i64 + 10 - 101);
    }

    #[test]
    fn history_is_a_fading_mean() {
        let mut h = History {
            currency: Currency::INR,
            count: 0,
            sum: 0,
        };
        for _ in 0..HISTORY_WEIGHT {
            h.add(1_000);
        }
        assert_eq!(h.mean(), 1_000);
        for _ in 0..(10 * HISTORY_WEIGHT) {
            h.add(5_000);
        }
        assert_eq!(h.count, HISTORY_WEIGHT);
        assert!((4_900..=5_000).contains(&h.mean()), "{}", h.mean());
    }
}
