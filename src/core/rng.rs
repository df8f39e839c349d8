//! A small deterministic random number generator.
//!
//! Every random choice in multitrust (unrelated-image pairing, synthetic data, the random baseline,
//! bootstrap resampling, retry jitter) comes from this generator, seeded from the run seed and a
//! key that names the choice. It is our own code on purpose: the same seed must give the same
//! samples and the same numbers in every future version, which a dependency's generator does not
//! promise across releases.

/// SplitMix64: a fast generator with a 64-bit state and good statistical quality.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator seeded by `seed` and a list of key parts that name what it is used for.
    pub fn keyed(seed: u64, parts: &[&str]) -> Rng {
        let mut hash = 0xcbf2_9ce4_8422_2325_u64 ^ seed;
        for part in parts {
            for byte in part.bytes().chain([0xff]) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        let mut rng = Rng { state: hash };
        rng.next_u64();
        rng
    }

    /// A generator seeded by a plain number.
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform integer in `0..n` (without modulo bias). `n` must be positive.
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "Rng::below needs a positive bound");
        let n = n as u64;
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.next_u64();
            if x < zone {
                return (x % n) as usize;
            }
        }
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// One element chosen uniformly, or `None` for an empty slice.
    pub fn choose<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() { None } else { Some(&items[self.below(items.len())]) }
    }

    /// `k` distinct indices of `0..n`, in the order drawn (`k` is capped at `n`).
    pub fn sample_indices(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut pool: Vec<usize> = (0..n).collect();
        let k = k.min(n);
        for i in 0..k {
            let j = i + self.below(n - i);
            pool.swap(i, j);
        }
        pool.truncate(k);
        pool
    }

    /// Shuffles a slice in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_key_same_stream_and_different_keys_differ() {
        let a: Vec<u64> = (0..4).map(|_| Rng::keyed(7, &["x", "y"]).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut b = Rng::keyed(7, &["x", "y"]);
        let mut c = Rng::keyed(7, &["xy"]);
        let mut d = Rng::keyed(8, &["x", "y"]);
        let first = b.next_u64();
        assert_ne!(first, c.next_u64(), "key parts are separated");
        assert_ne!(first, d.next_u64(), "the seed matters");
    }

    #[test]
    fn below_is_in_range_and_covers_it() {
        let mut rng = Rng::new(1);
        let mut seen = [0usize; 5];
        for _ in 0..5000 {
            seen[rng.below(5)] += 1;
        }
        assert!(seen.iter().all(|&n| n > 800 && n < 1200), "{seen:?}");
    }

    #[test]
    fn sample_indices_are_distinct() {
        let mut rng = Rng::new(3);
        let mut picked = rng.sample_indices(10, 3);
        assert_eq!(picked.len(), 3);
        picked.sort();
        picked.dedup();
        assert_eq!(picked.len(), 3);
        assert_eq!(rng.sample_indices(2, 5).len(), 2);
    }
}
