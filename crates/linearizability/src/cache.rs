//! The memoization cache of (linearized set, state) configurations already explored.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use crate::bitset::Bitset;

/// A fast non-cryptographic hasher (the rustc "Fx" multiply-rotate scheme) for states.
#[derive(Default)]
pub(crate) struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let mut tail = [0u8; 8];
        let rest = chunks.remainder();
        tail[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(tail) ^ ((rest.len() as u64) << 56));
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

/// A hasher for keys that already are hashes.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys are hashed")
    }

    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The configurations that share one combined hash: (linearized set words, state).
type Bucket<S> = Vec<(Box<[u64]>, S)>;

/// The configurations seen so far, bucketed by a combined hash of set and state.
pub(crate) struct Cache<S> {
    buckets: HashMap<u64, Bucket<S>, BuildHasherDefault<IdentityHasher>>,
}

impl<S: Clone + Eq + Hash> Cache<S> {
    /// An empty cache.
    pub fn new() -> Self {
        Cache {
            buckets: HashMap::default(),
        }
    }

    /// Records (`set`, `state`); `false` if it was already there (the search can prune).
    /// Clones only when the configuration is new.
    pub fn insert(&mut self, set: &Bitset, state: &S) -> bool {
        let mut hasher = FxHasher::default();
        state.hash(&mut hasher);
        let key = set.hash() ^ hasher.finish().rotate_left(17);
        let bucket = self.buckets.entry(key).or_default();
        let seen = bucket
            .iter()
            .any(|(words, s)| **words == *set.words() && s == state);
        if !seen {
            bucket.push((set.words().into(), state.clone()));
        }
        !seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_reports_new_configurations_only() {
        let mut cache = Cache::new();
        let mut set = Bitset::new(10);
        assert!(cache.insert(&set, &"a"));
        assert!(!cache.insert(&set, &"a"));
        assert!(cache.insert(&set, &"b"));
        set.insert(4);
        assert!(cache.insert(&set, &"a"));
        assert!(!cache.insert(&set, &"a"));
    }
}
