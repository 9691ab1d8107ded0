//! Key expiry deadlines and the store's clock, both driven by the log only.
//!
//! Every replica must expire the same keys at the same log position, so no replica's
//! own clock is read here. Each write request carries the wall-clock time (ms since the
//! Unix epoch) of the server that proposed it; applying it moves the store's clock to
//! `max(clock, stamp)`. A key whose deadline is at or before the clock is expired: it
//! is absent to every operation, and purged when an operation touches it or when a
//! bounded sweep per applied request reaches it.

use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};

/// Deadlines (absolute ms) of the keys that have one, and the log-driven clock.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Expiries {
    /// Deadline of each key that has one.
    deadlines: BTreeMap<Bytes, u64>,
    /// `(deadline, key)` for every entry of `deadlines`: the sweep order.
    /// Invariant: exactly the pairs of `deadlines`.
    by_deadline: BTreeSet<(u64, Bytes)>,
    /// The largest request stamp applied (ms since the Unix epoch); 0 before any.
    clock_ms: u64,
}

impl Expiries {
    /// The store's clock.
    pub(crate) fn clock_ms(&self) -> u64 {
        self.clock_ms
    }

    /// Moves the clock forward to `stamp_ms` (never backward: stamps from servers whose
    /// clocks lag must not revive expired keys).
    pub(crate) fn advance_clock(&mut self, stamp_ms: u64) {
        self.clock_ms = self.clock_ms.max(stamp_ms);
    }

    /// Restores the clock from a snapshot.
    pub(crate) fn set_clock(&mut self, clock_ms: u64) {
        self.clock_ms = clock_ms;
    }

    /// The deadline of `key`, if it has one.
    pub(crate) fn deadline(&self, key: &[u8]) -> Option<u64> {
        self.deadlines.get(key).copied()
    }

    /// True if `key` has a deadline at or before `max(clock, now_ms)`.
    pub(crate) fn is_expired(&self, key: &[u8], now_ms: u64) -> bool {
        self.deadline(key)
            .is_some_and(|deadline| deadline <= self.clock_ms.max(now_ms))
    }

    /// Gives `key` a deadline (replacing any).
    pub(crate) fn set(&mut self, key: Bytes, deadline_ms: u64) {
        self.clear(&key);
        self.by_deadline.insert((deadline_ms, key.clone()));
        self.deadlines.insert(key, deadline_ms);
    }

    /// Removes `key`'s deadline; returns it.
    pub(crate) fn clear(&mut self, key: &[u8]) -> Option<u64> {
        let (key, deadline) = self.deadlines.remove_entry(key)?;
        self.by_deadline.remove(&(deadline, key));
        Some(deadline)
    }

    /// Up to `limit` keys expired by the clock, earliest deadline first (their
    /// deadlines stay until the caller purges them).
    pub(crate) fn due(&self, limit: usize) -> Vec<Bytes> {
        self.by_deadline
            .iter()
            .take_while(|(deadline, _)| *deadline <= self.clock_ms)
            .take(limit)
            .map(|(_, key)| key.clone())
            .collect()
    }

    /// Number of keys with a deadline.
    pub(crate) fn len(&self) -> usize {
        self.deadlines.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_only_moves_forward_and_decides_expiry() {
        let mut e = Expiries::default();
        e.set(Bytes::from("a"), 100);
        e.set(Bytes::from("b"), 50);
        e.set(Bytes::from("a"), 200); // replaces 100
        assert_eq!(e.len(), 2);
        e.advance_clock(120);
        e.advance_clock(10);
        assert_eq!(e.clock_ms(), 120);
        assert!(e.is_expired(b"b", 0));
        assert!(!e.is_expired(b"a", 0));
        // A reader whose wall clock is ahead sees `a` expired already.
        assert!(e.is_expired(b"a", 200));
        assert_eq!(e.due(10), vec![Bytes::from("b")]);
        assert_eq!(e.clear(b"b"), Some(50));
        assert_eq!(e.due(10), Vec::<Bytes>::new());
        assert_eq!(e.clear(b"missing"), None);
    }
}
