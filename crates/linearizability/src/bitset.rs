//! The set of linearized operations, with an incrementally maintained hash.

/// A fixed-size set of operation indices stored as `u64` words, with a Zobrist hash
/// (XOR of one random word per member) updated in O(1) on every insert and remove.
///
/// Invariant: `hash` is the XOR of `zobrist(i)` over every member `i`.
#[derive(Clone, Debug)]
pub(crate) struct Bitset {
    /// The members, bit `i % 64` of word `i / 64`.
    words: Vec<u64>,
    /// XOR of `zobrist(i)` over the members.
    hash: u64,
}

/// A pseudo-random word for member `i` (SplitMix64 of `i`).
fn zobrist(i: usize) -> u64 {
    let mut z = (i as u64)
        .wrapping_add(1)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Bitset {
    /// An empty set able to hold `0..len`.
    pub fn new(len: usize) -> Self {
        Bitset {
            words: vec![0; len.div_ceil(64)],
            hash: 0,
        }
    }

    /// Adds `i`, which must not be a member.
    pub fn insert(&mut self, i: usize) {
        debug_assert!(!self.contains(i), "{i} is already a member");
        self.words[i / 64] |= 1 << (i % 64);
        self.hash ^= zobrist(i);
    }

    /// Removes `i`, which must be a member.
    pub fn remove(&mut self, i: usize) {
        debug_assert!(self.contains(i), "{i} is not a member");
        self.words[i / 64] &= !(1 << (i % 64));
        self.hash ^= zobrist(i);
    }

    /// Whether `i` is a member.
    pub fn contains(&self, i: usize) -> bool {
        self.words[i / 64] & (1 << (i % 64)) != 0
    }

    /// The Zobrist hash of the members.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// The members as words, for equality checks and copies.
    pub fn words(&self) -> &[u64] {
        &self.words
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_depends_only_on_members() {
        let mut a = Bitset::new(130);
        let mut b = Bitset::new(130);
        a.insert(3);
        a.insert(129);
        b.insert(129);
        b.insert(64);
        b.insert(3);
        b.remove(64);
        assert_eq!(a.hash(), b.hash());
        assert_eq!(a.words(), b.words());
        assert!(a.contains(129) && !a.contains(64));
        a.remove(3);
        assert_ne!(a.hash(), b.hash());
    }
}
