//! A Bloom filter of keys a service has written, so that the common case
//! of an idempotency check, "this key is new", is answered in memory
//! instead of by a database read.
//!
//! [`KeyFilter::may_contain`] never says "no" for a key that was
//! [`KeyFilter::insert`]ed; it says "maybe" for about 1 % of keys that were
//! not (then the caller reads the database, as it would without a filter).
//! The filter grows in layers, each twice the size of the one before
//! (a scalable Bloom filter), so it needs no size up front and is never
//! rebuilt. A service fills it at start from the keys already stored, and
//! adds each key before the row that holds it is written.

use std::hash::{BuildHasher, Hasher};
use std::sync::RwLock;

/// Bits per key and hash functions for about 1 % false positives per layer.
const BITS_PER_KEY: usize = 10;
const HASHES: u64 = 7;
const FIRST_LAYER_KEYS: usize = 1 << 16;

struct Layer {
    bits: Vec<u64>,
    capacity: usize,
    len: usize,
}

impl Layer {
    fn new(capacity: usize) -> Layer {
        let words = (capacity * BITS_PER_KEY).div_ceil(64).max(1);
        Layer {
            bits: vec![0; words],
            capacity,
            len: 0,
        }
    }

    /// The bit positions of a key's hashes (double hashing over the layer's bits).
    fn positions(&self, (h1, h2): (u64, u64)) -> impl Iterator<Item = usize> + use<> {
        let m = (self.bits.len() * 64) as u64;
        (0..HASHES).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % m) as usize)
    }

    fn insert(&mut self, h: (u64, u64)) {
        for p in self.positions(h) {
            if let Some(w) = self.bits.get_mut(p / 64) {
                *w |= 1 << (p % 64);
            }
        }
        self.len += 1;
    }

    fn contains(&self, h: (u64, u64)) -> bool {
        self.positions(h).all(|p| {
            self.bits
                .get(p / 64)
                .is_some_and(|w| w & (1 << (p % 64)) != 0)
        })
    }
}

/// A growing Bloom filter of strings. Thread-safe.
pub struct KeyFilter {
    layers: RwLock<Vec<Layer>>,
    hasher: std::hash::RandomState,
}

impl Default for KeyFilter {
    fn default() -> Self {
        KeyFilter::new()
    }
}

impl KeyFilter {
    pub fn new() -> KeyFilter {
        KeyFilter {
            layers: RwLock::new(vec![Layer::new(FIRST_LAYER_KEYS)]),
            hasher: std::hash::RandomState::new(),
        }
    }

    fn hashes(&self, key: &str) -> (u64, u64) {
        let mut a = self.hasher.build_hasher();
        a.write(key.as_bytes());
        a.write_u8(0xff);
        let h1 = a.finish();
        let mut b = self.hasher.build_hasher();
        b.write_u8(0x5a);
        b.write(key.as_bytes());
        // Odd, so the probe sequence visits distinct positions.
        let h2 = b.finish() | 1;
        (h1, h2)
    }

    /// Records `key`.
    pub fn insert(&self, key: &str) {
        let h = self.hashes(key);
        let mut layers = paytap_types::sync::write(&self.layers, "key filter");
        let full = layers.last().is_none_or(|l| l.len >= l.capacity);
        if full {
            let next = layers.last().map_or(FIRST_LAYER_KEYS, |l| l.capacity * 2);
            layers.push(Layer::new(next));
        }
        if let Some(l) = layers.last_mut() {
            l.insert(h);
        }
    }

    /// `false`: `key` was never inserted. `true`: it may have been.
    pub fn may_contain(&self, key: &str) -> bool {
        let h = self.hashes(key);
        let layers = paytap_types::sync::read(&self.layers, "key filter");
        layers.iter().any(|l| l.contains(h))
    }

    /// Keys inserted so far.
    pub fn len(&self) -> usize {
        let layers = paytap_types::sync::read(&self.layers, "key filter");
        layers.iter().map(|l| l.len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_forgets_and_rarely_imagines() {
        let f = KeyFilter::new();
        assert!(f.is_empty());
        // Enough keys for three layers.
        let n = FIRST_LAYER_KEYS * 5;
        for i in 0..n {
            f.insert(&format!("rrn:{i:012}"));
        }
        assert_eq!(f.len(), n);
        for i in 0..n {
            assert!(f.may_contain(&format!("rrn:{i:012}")), "lost key {i}");
        }
        let trials = 100_000;
        let false_positives = (0..trials)
            .filter(|i| f.may_contain(&format!("other:{i}")))
            .count();
        // About 1 % per layer, three layers.
        assert!(
            false_positives < trials * 5 / 100,
            "{false_positives} false positives in {trials}"
        );
    }
}
