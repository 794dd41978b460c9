//! Per-card spend windows for the daily limit and velocity checks. They
//! live in memory: loaded once at start from `issuer_auths` (every held or
//! captured authorization of the last [`HORIZON_MILLIS`], which covers the
//! current UTC day and the longest velocity window a card may have), then
//! kept by the authorization path. An entry is appended only after its
//! authorization is durable; a reversal, or a recorded approval whose hold
//! the ledger refused, removes it. So the hot path never re-sums the day,
//! and `issuer_auths` needs no index by card.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

/// How far back the windows reach: one day. Also the longest velocity
/// window a card may have (see [`crate::Limits`]).
pub const HORIZON_MILLIS: i64 = 86_400_000;

/// Approved amounts by time, per card.
#[derive(Default)]
pub(crate) struct Windows {
    cards: Mutex<HashMap<String, Spend>>,
}

/// One card's approvals, sorted by `(time, amount)`, and their sum: the day's
/// total is then the sum less the few entries before the day's start (kept
/// only for a velocity window reaching back past midnight), and the
/// velocity count a binary search, however many approvals the card has
/// today.
#[derive(Default)]
struct Spend {
    entries: VecDeque<(i64, i64)>,
    sum: i128,
}

impl Spend {
    fn pop_front(&mut self) {
        if let Some((_, amount)) = self.entries.pop_front() {
            self.sum -= i128::from(amount);
        }
    }
}

impl Windows {
    /// Windows from recorded `(card_id, created_at, amount)` rows, in any
    /// order.
    pub(crate) fn from_rows(rows: impl IntoIterator<Item = (String, i64, i64)>) -> Windows {
        let mut cards: HashMap<String, Vec<(i64, i64)>> = HashMap::new();
        for (card, at, amount) in rows {
            cards.entry(card).or_default().push((at, amount));
        }
        let cards = cards
            .into_iter()
            .map(|(card, mut entries)| {
                entries.sort_unstable();
                let sum = entries.iter().map(|(_, a)| i128::from(*a)).sum();
                let entries = VecDeque::from(entries);
                (card, Spend { entries, sum })
            })
            .collect();
        Windows {
            cards: Mutex::new(cards),
        }
    }

    /// The map, also after a panic elsewhere while it was held (every
    /// change to it is one complete step).
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Spend>> {
        paytap_types::sync::lock(&self.cards, "issuer spend windows")
    }

    /// `(sum since day_start, count since velocity_start)`; prunes what is
    /// older than both. A card with no entry has spent nothing.
    pub(crate) fn totals(&self, card_id: &str, day_start: i64, velocity_start: i64) -> (i64, i64) {
        let mut map = self.lock();
        let Some(spend) = map.get_mut(card_id) else {
            return (0, 0);
        };
        let keep_from = day_start.min(velocity_start);
        while spend.entries.front().is_some_and(|(at, _)| *at < keep_from) {
            spend.pop_front();
        }
        let before_day: i128 = spend
            .entries
            .iter()
            .take_while(|(at, _)| *at < day_start)
            .map(|(_, a)| i128::from(*a))
            .sum();
        let day = i64::try_from(spend.sum - before_day).unwrap_or(i64::MAX);
        let older = spend
            .entries
            .partition_point(|(at, _)| *at < velocity_start);
        let recent = i64::try_from(spend.entries.len() - older).unwrap_or(i64::MAX);
        if spend.entries.is_empty() {
            map.remove(card_id);
        }
        (day, recent)
    }

    /// A durable approval of `amount` at `at`.
    pub(crate) fn push(&self, card_id: &str, at: i64, amount: i64) {
        let mut map = self.lock();
        let spend = map.entry(card_id.to_owned()).or_default();
        // Approvals are pushed as they become durable, which is nearly but
        // not exactly in time order: keep the queue sorted.
        let i = spend.entries.partition_point(|e| *e <= (at, amount));
        spend.entries.insert(i, (at, amount));
        spend.sum += i128::from(amount);
    }

    /// An approval no longer counts (reversed, or its hold refused).
    pub(crate) fn remove(&self, card_id: &str, at: i64, amount: i64) {
        let mut map = self.lock();
        if let Some(spend) = map.get_mut(card_id) {
            let i = spend.entries.partition_point(|e| *e < (at, amount));
            if spend.entries.get(i) == Some(&(at, amount)) {
                spend.entries.remove(i);
                spend.sum -= i128::from(amount);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_prunes_and_removes() {
        let w = Windows::default();
        assert_eq!(w.totals("c", 100, 150), (0, 0));
        let w = Windows::from_rows([
            ("c".to_owned(), 160, 5),
            ("c".to_owned(), 90, 7),
            ("d".to_owned(), 95, 1),
            ("c".to_owned(), 120, 3),
        ]);
        assert_eq!(w.totals("c", 100, 150), (8, 1));
        w.push("c", 170, 2);
        // Out of order: still counted by its own time.
        w.push("c", 140, 4);
        assert_eq!(w.totals("c", 100, 150), (14, 2));
        assert_eq!(w.totals("c", 145, 145), (7, 2));
        w.remove("c", 160, 5);
        assert_eq!(w.totals("c", 145, 145), (2, 1));
        // Removing what is not there changes nothing.
        w.remove("c", 160, 5);
        w.remove("e", 1, 1);
        assert_eq!(w.totals("c", 145, 145), (2, 1));
        // A velocity window reaching back before the day's start: counted
        // there, not in the day.
        w.push("c", 200, 6);
        assert_eq!(w.totals("c", 171, 160), (6, 2));
        // Two approvals of the same time and amount: one removal takes one.
        w.push("c", 200, 6);
        assert_eq!(w.totals("c", 171, 160), (12, 3));
        w.remove("c", 200, 6);
        assert_eq!(w.totals("c", 171, 160), (6, 2));
        // A later day drops everything before it.
        assert_eq!(w.totals("c", 201, 201), (0, 0));
        assert_eq!(w.totals("d", 0, 0), (1, 1));
    }
}
