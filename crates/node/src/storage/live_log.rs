//! What the storage remembers of the log it has written, without the payloads: the term
//! and encoded size of each entry after the snapshot. Enough to validate requests, decide
//! whether a snapshot keeps the log, and report the log's size in bytes.

use super::wal::record::entry_encoded_len;
use raft::{Entry, EntryId, Index, Term};
use std::collections::VecDeque;

/// Terms and sizes of the entries after the snapshot.
///
/// Invariant: `entries[k]` describes index `snapshot.index + 1 + k`, and
/// `bytes == sum of entries[..].1`.
#[derive(Clone, Debug, Default)]
pub(crate) struct LiveLog {
    snapshot: EntryId,
    entries: VecDeque<(Term, u32)>,
    bytes: u64,
}

impl LiveLog {
    /// The log after `snapshot` holding `entries` (contiguous from `snapshot.index + 1`).
    pub fn new(snapshot: EntryId, entries: &[Entry]) -> LiveLog {
        let mut log = LiveLog {
            snapshot,
            ..LiveLog::default()
        };
        log.append(entries);
        log
    }

    /// The snapshot's last included entry.
    pub fn snapshot(&self) -> EntryId {
        self.snapshot
    }

    /// The index of the last entry (the snapshot's if the log is empty).
    pub fn last_index(&self) -> Index {
        Index(self.snapshot.index.0 + self.entries.len() as u64)
    }

    /// Encoded bytes of the entries after the snapshot.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// True if the log holds the entry `id` (the test of `PersistRequest::snapshot`).
    pub fn holds(&self, id: EntryId) -> bool {
        id.index > self.snapshot.index
            && id.index <= self.last_index()
            && self.entries[(id.index.0 - self.snapshot.index.0 - 1) as usize].0 == id.term
    }

    /// Installs a snapshot: drops the entries it covers if `keep_log`, else all of them.
    pub fn install_snapshot(&mut self, id: EntryId, keep_log: bool) {
        if keep_log {
            for _ in 0..(id.index.0 - self.snapshot.index.0) {
                let (_, size) = self.entries.pop_front().expect("holds() checked the range");
                self.bytes -= u64::from(size);
            }
        } else {
            self.entries.clear();
            self.bytes = 0;
        }
        self.snapshot = id;
    }

    /// Drops the entries at and after `index`.
    pub fn truncate_from(&mut self, index: Index) {
        let keep = index.0.saturating_sub(self.snapshot.index.0 + 1) as usize;
        while self.entries.len() > keep {
            let (_, size) = self.entries.pop_back().expect("len > keep");
            self.bytes -= u64::from(size);
        }
    }

    /// Appends entries that continue the log.
    pub fn append(&mut self, entries: &[Entry]) {
        for entry in entries {
            debug_assert_eq!(entry.index, self.last_index().next());
            let size = entry_encoded_len(entry);
            self.entries.push_back((entry.term, size));
            self.bytes += u64::from(size);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_bytes_through_truncation_and_snapshots() {
        let entries: Vec<Entry> = (1..=5)
            .map(|i| Entry::command(Term(1), Index(i), vec![0u8; 10]))
            .collect();
        let mut log = LiveLog::new(EntryId::default(), &entries);
        let each = u64::from(entry_encoded_len(&entries[0]));
        assert_eq!(log.bytes(), 5 * each);
        log.truncate_from(Index(4));
        assert_eq!((log.last_index(), log.bytes()), (Index(3), 3 * each));
        assert!(log.holds(EntryId::new(1, 2)));
        assert!(!log.holds(EntryId::new(2, 2)));
        log.install_snapshot(EntryId::new(1, 2), true);
        assert_eq!((log.last_index(), log.bytes()), (Index(3), each));
        log.install_snapshot(EntryId::new(3, 9), false);
        assert_eq!((log.last_index(), log.bytes()), (Index(9), 0));
    }
}
