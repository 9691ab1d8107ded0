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

/// The configurations that share one combined hash: (offset in the arena of the fixed
/// set's words followed by the free set's words, state).
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

    /// Records a configuration: the linearized operations (`fixed`, plus the pending
    /// operations that match any outcome, `free`) and the state, which owns
    /// `state_heap_bytes` on the heap. `false` if it is dominated by one already seen: same
    /// `fixed` and state, and a subset of `free` (a free operation left out can always be
    /// linearized at the end, so fewer of them never hurts). Clones only when recording;
    /// once full, records nothing more and reports only what it holds.
    pub fn insert(
        &mut self,
        fixed: &Bitset,
        free: &Bitset,
        state: &S,
        state_heap_bytes: usize,
    ) -> bool {
        let mut hasher = FxHasher::default();
        state.hash(&mut hasher);
        let key = fixed.hash() ^ hasher.finish().rotate_left(17);
        let (fixed_words, free_words) = (fixed.words(), free.words());
        let arena = &self.arena;
        let dominated = |at: usize| {
            let free_at = at + fixed_words.len();
            arena[at..free_at] == *fixed_words
                && arena[free_at..free_at + free_words.len()]
                    .iter()
                    .zip(free_words)
                    .all(|(seen, now)| seen & !now == 0)
        };
        let seen = self
            .buckets
            .get(&key)
            .is_some_and(|bucket| bucket.iter().any(|(at, s)| s == state && dominated(*at)));
        let words = fixed_words.len() + free_words.len();
        let entry_bytes = 8 * words + std::mem::size_of::<(usize, S)>() + state_heap_bytes;
        if !seen && self.bytes + entry_bytes <= self.max_bytes {
            self.bytes += entry_bytes;
            let at = self.arena.len();
            self.arena.extend_from_slice(fixed_words);
            self.arena.extend_from_slice(free_words);
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
        let none = Bitset::new(0);
        assert!(cache.insert(&set, &none, &"a", 0));
        assert!(!cache.insert(&set, &none, &"a", 0));
        assert!(cache.insert(&set, &none, &"b", 0));
        set.insert(4);
        assert!(cache.insert(&set, &none, &"a", 0));
        assert!(!cache.insert(&set, &none, &"a", 0));
    }

    #[test]
    fn more_free_operations_are_dominated_by_fewer() {
        let mut cache = Cache::new(usize::MAX);
        let set = Bitset::new(10);
        let mut free = Bitset::new(3);
        free.insert(1);
        assert!(cache.insert(&set, &free, &"a", 0));
        free.insert(2);
        assert!(
            !cache.insert(&set, &free, &"a", 0),
            "superset of a seen free set"
        );
        free.remove(1);
        assert!(cache.insert(&set, &free, &"a", 0), "not a superset");
        free.remove(2);
        assert!(cache.insert(&set, &free, &"a", 0), "the empty set is new");
        free.insert(1);
        assert!(!cache.insert(&set, &free, &"a", 0));
    }

    #[test]
    fn a_full_cache_stores_nothing_more_but_stays_truthful_about_hits() {
        let entry = 8 + std::mem::size_of::<(usize, &str)>();
        let mut cache = Cache::new(entry + 3);
        let (set, none) = (Bitset::new(10), Bitset::new(0));
        assert!(cache.insert(&set, &none, &"a", 3));
        assert!(!cache.insert(&set, &none, &"a", 3));
        assert!(cache.insert(&set, &none, &"b", 0));
        assert!(
            cache.insert(&set, &none, &"b", 0),
            "not stored: still reported new"
        );
    }
}
