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

/// The configurations that share one combined hash: (offset of the set's words in the
/// arena, state).
type Bucket<S> = Vec<(usize, S)>;

/// The configurations seen so far, bucketed by a combined hash of set and state. The
/// sets' words live in one arena, so the cache costs few allocations and drops fast.
///
/// Invariant: `bytes` approximates the memory held; nothing is stored once it would
/// exceed `max_bytes` (the search stays correct, it only prunes less).
pub(crate) struct Cache<S> {
    buckets: HashMap<u64, Bucket<S>, BuildHasherDefault<IdentityHasher>>,
    /// The words of every stored set, back to back.
    arena: Vec<u64>,
    /// Approximate bytes held: arena, bucket entries and the states' heap.
    bytes: usize,
    /// The most bytes the cache may hold.
    max_bytes: usize,
}

impl<S: Clone + Eq + Hash> Cache<S> {
    /// An empty cache that holds at most about `max_bytes`.
    pub fn new(max_bytes: usize) -> Self {
        Cache {
            buckets: HashMap::default(),
            arena: Vec::new(),
            bytes: 0,
            max_bytes,
        }
    }

    /// Records (`set`, `state`), whose state owns `state_heap_bytes` on the heap; `false`
    /// if it was already there (the search can prune). Clones only when the configuration
    /// is new; once full, reports everything as new without storing it.
    pub fn insert(&mut self, set: &Bitset, state: &S, state_heap_bytes: usize) -> bool {
        let mut hasher = FxHasher::default();
        state.hash(&mut hasher);
        let key = set.hash() ^ hasher.finish().rotate_left(17);
        let words = set.words();
        let arena = &self.arena;
        let seen = self.buckets.get(&key).is_some_and(|bucket| {
            bucket
                .iter()
                .any(|(at, s)| arena[*at..*at + words.len()] == *words && s == state)
        });
        let entry_bytes =
            std::mem::size_of_val(words) + std::mem::size_of::<(usize, S)>() + state_heap_bytes;
        if !seen && self.bytes + entry_bytes <= self.max_bytes {
            self.bytes += entry_bytes;
            let at = self.arena.len();
            self.arena.extend_from_slice(words);
            self.buckets
                .entry(key)
                .or_default()
                .push((at, state.clone()));
        }
        !seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_reports_new_configurations_only() {
        let mut cache = Cache::new(usize::MAX);
        let mut set = Bitset::new(10);
        assert!(cache.insert(&set, &"a", 0));
        assert!(!cache.insert(&set, &"a", 0));
        assert!(cache.insert(&set, &"b", 0));
        set.insert(4);
        assert!(cache.insert(&set, &"a", 0));
        assert!(!cache.insert(&set, &"a", 0));
    }

    #[test]
    fn a_full_cache_stores_nothing_more_but_stays_truthful_about_hits() {
        let entry = 8 + std::mem::size_of::<(usize, &str)>();
        let mut cache = Cache::new(entry + 3);
        let set = Bitset::new(10);
        assert!(cache.insert(&set, &"a", 3));
        assert!(!cache.insert(&set, &"a", 3));
        assert!(cache.insert(&set, &"b", 0));
        assert!(
            cache.insert(&set, &"b", 0),
            "not stored: still reported new"
        );
    }
}
