//! Per-card spend windows for the daily limit and velocity checks, kept in
//! memory after the first authorization of a card (loaded from
//! `issuer_auths`), so the hot path does not re-sum the day's
//! authorizations. Entries are appended only after the authorization is
//! durable; a reversal or an advice invalidates the card's window, which is
//! then reloaded from the database.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Approved amounts by time, per card.
#[derive(Default)]
pub(crate) struct Windows {
    cards: Mutex<HashMap<String, VecDeque<(i64, i64)>>>,
}

impl Windows {
    /// `(sum since day_start, count since velocity_start)` if the card is
    /// cached; prunes what is older than both.
    pub(crate) fn totals(
        &self,
        card_id: &str,
        day_start: i64,
        velocity_start: i64,
    ) -> Option<(i64, i64)> {
        let mut map = self.cards.lock().ok()?;
        let q = map.get_mut(card_id)?;
        let keep_from = day_start.min(velocity_start);
        while q.front().is_some_and(|(at, _)| *at < keep_from) {
            q.pop_front();
        }
        let mut day = 0i64;
        let mut recent = 0i64;
        for (at, amount) in q.iter() {
            if *at >= day_start {
                day = day.saturating_add(*amount);
            }
            if *at >= velocity_start {
                recent += 1;
            }
        }
        Some((day, recent))
    }

    pub(crate) fn load(&self, card_id: &str, mut entries: Vec<(i64, i64)>) {
        entries.sort_unstable();
        if let Ok(mut map) = self.cards.lock() {
            map.insert(card_id.to_owned(), entries.into());
        }
    }

    pub(crate) fn push(&self, card_id: &str, at: i64, amount: i64) {
        if let Ok(mut map) = self.cards.lock()
            && let Some(q) = map.get_mut(card_id)
        {
            q.push_back((at, amount));
        }
    }

    pub(crate) fn invalidate(&self, card_id: &str) {
        if let Ok(mut map) = self.cards.lock() {
            map.remove(card_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_prunes_and_invalidates() {
        let w = Windows::default();
        assert_eq!(w.totals("c", 100, 150), None);
        w.load("c", vec![(160, 5), (90, 7), (120, 3)]);
        assert_eq!(w.totals("c", 100, 150), Some((8, 1)));
        w.push("c", 170, 2);
        assert_eq!(w.totals("c", 100, 150), Some((10, 2)));
        // A later day drops everything before it.
        assert_eq!(w.totals("c", 165, 165), Some((2, 1)));
        w.invalidate("c");
        assert_eq!(w.totals("c", 0, 0), None);
        w.push("c", 1, 1);
        assert_eq!(w.totals("c", 0, 0), None);
    }
}
