//! Seeded randomness. Every random choice of a simulation comes from one `u64` seed,
//! split into independent streams so that, for example, an extra network draw does not
//! shift the tester's decisions.

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Which consumer a random stream belongs to. Each gets its own ChaCha stream of the
/// same seed, so consumers never perturb each other's sequences.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Network latency, drops and reordering.
    Network = 1,
    /// fsync latencies.
    Disk = 2,
    /// Tick phase offsets of the nodes.
    Ticks = 3,
    /// Decisions of the test scenario and its client tasks.
    Tester = 4,
    /// Seeds handed to the Raft cores.
    Raft = 5,
    /// The KV clerks' links and choices.
    Clients = 6,
}

/// A deterministic PRNG for one stream of one seed.
#[derive(Clone, Debug)]
pub struct SimRng(ChaCha8Rng);

impl SimRng {
    /// The stream `stream` of `seed`.
    pub fn new(seed: u64, stream: Stream) -> SimRng {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream as u64);
        SimRng(rng)
    }

    /// A uniformly random `u64`.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Go's `rand.Int()`: a non-negative 63-bit integer.
    pub fn int63(&mut self) -> u64 {
        self.0.next_u64() >> 1
    }

    /// Uniform in `0..n`; 0 when `n` is 0 (mirrors `rand.Int() % n` without the panic).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.0.gen_range(0..n)
        }
    }

    /// Uniform in `lo..=hi`.
    pub fn range_inclusive(&mut self, lo: u64, hi: u64) -> u64 {
        self.0.gen_range(lo..=hi)
    }

    /// True with probability `per_mille / 1000` (the lab's `rand.Int() % 1000 < p`).
    pub fn chance_per_mille(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    /// Shuffles `items` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// Mixes two words into a well-distributed one (splitmix64 finaliser). Used to derive
/// per-node seeds and chain hashes.
pub fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(31);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_independent() {
        let mut a = SimRng::new(7, Stream::Network);
        let mut b = SimRng::new(7, Stream::Network);
        let mut c = SimRng::new(7, Stream::Disk);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }
}
