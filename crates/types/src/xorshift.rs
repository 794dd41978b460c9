//! A small deterministic generator for benches and load runs, so that a
//! run repeats from its seed. Not for keys, nonces or anything an attacker
//! may guess: those come from the operating system's generator.

/// xorshift64 (Marsaglia, shifts 13, 7, 17).
///
/// # Panics
/// [`XorShift64::new`] panics on a zero seed: zero is xorshift's fixed
/// point, and a generator stuck at it is a broken bench.
#[derive(Debug, Clone)]
pub struct XorShift64(u64);

impl XorShift64 {
    /// A generator starting from `seed`, which must not be zero.
    pub fn new(seed: u64) -> Self {
        assert!(seed != 0, "xorshift64 needs a non-zero seed");
        Self(seed)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value in `0..n` (`n` > 0; the slight modulo bias does not matter
    /// to a bench).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// An index in `0..len` (`len` > 0).
    pub fn below_usize(&mut self, len: usize) -> usize {
        (self.next_u64() % len as u64) as usize
    }

    /// A value in `lo..=hi` (`hi` ≥ `lo`).
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_repeats_from_its_seed() {
        // The first value of xorshift64 from 1 is 1082269761 (Marsaglia 2003).
        assert_eq!(XorShift64::new(1).next_u64(), 1_082_269_761);
        let mut a = XorShift64::new(0x9E37_79B9_7F4A_7C15);
        let mut b = XorShift64::new(0x9E37_79B9_7F4A_7C15);
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn draws_stay_in_their_range() {
        let mut r = XorShift64::new(0x2545_F491_4F6C_DD1D);
        for _ in 0..1000 {
            assert!(r.below(7) < 7);
            assert!(r.below_usize(3) < 3);
            assert!((10..=12).contains(&r.between(10, 12)));
            assert_eq!(r.between(5, 5), 5);
        }
    }
}
