//! A small write-through cache for rows this process owns. Loads are
//! guarded by an epoch: a value read from the database before an
//! invalidation is never inserted after it, so a cached row is never older
//! than the last change made through this process.

use std::collections::HashMap;
use std::sync::Mutex;

pub struct Cache<V> {
    inner: Mutex<(u64, HashMap<String, V>)>,
    /// Most entries held; inserting one more drops an arbitrary one.
    capacity: usize,
}

impl<V> Default for Cache<V> {
    fn default() -> Self {
        Cache::with_capacity(usize::MAX)
    }
}

impl<V> Cache<V> {
    /// A cache that holds at most `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Self {
        Cache {
            inner: Mutex::new((0, HashMap::new())),
            capacity: capacity.max(1),
        }
    }
}

impl<V: Clone> Cache<V> {
    pub fn get(&self, key: &str) -> Option<V> {
        paytap_types::sync::lock(&self.inner, "cache")
            .1
            .get(key)
            .cloned()
    }

    /// The epoch to pass to [`Cache::insert_if`] (read it before loading).
    pub fn epoch(&self) -> u64 {
        paytap_types::sync::lock(&self.inner, "cache").0
    }

    /// Inserts unless something was invalidated since `epoch`.
    pub fn insert_if(&self, epoch: u64, key: &str, value: V) {
        let mut g = paytap_types::sync::lock(&self.inner, "cache");
        if g.0 == epoch {
            if g.1.len() >= self.capacity
                && !g.1.contains_key(key)
                && let Some(victim) = g.1.keys().next().cloned()
            {
                g.1.remove(&victim);
            }
            g.1.insert(key.to_owned(), value);
        }
    }

    pub fn invalidate(&self, key: &str) {
        let mut g = paytap_types::sync::lock(&self.inner, "cache");
        g.0 = g.0.wrapping_add(1);
        g.1.remove(key);
    }

    pub fn update(&self, key: &str, f: impl FnOnce(&mut V)) {
        if let Some(v) = paytap_types::sync::lock(&self.inner, "cache")
            .1
            .get_mut(key)
        {
            f(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_that_raced_an_invalidation_is_dropped() {
        let c: Cache<u32> = Cache::default();
        let e = c.epoch();
        c.insert_if(e, "a", 1);
        assert_eq!(c.get("a"), Some(1));
        let stale = c.epoch();
        c.invalidate("a");
        c.insert_if(stale, "a", 1);
        assert_eq!(c.get("a"), None);
        c.insert_if(c.epoch(), "a", 2);
        c.update("a", |v| *v += 1);
        assert_eq!(c.get("a"), Some(3));
        c.update("b", |v| *v += 1);
        assert_eq!(c.get("b"), None);
    }

    #[test]
    fn holds_at_most_its_capacity() {
        let c: Cache<u32> = Cache::with_capacity(2);
        for (i, k) in ["a", "b", "c", "d"].iter().enumerate() {
            c.insert_if(c.epoch(), k, i as u32);
        }
        let held = ["a", "b", "c", "d"]
            .iter()
            .filter(|k| c.get(k).is_some())
            .count();
        assert_eq!(held, 2);
        assert_eq!(c.get("d"), Some(3));
    }
}
