//! The in-memory replicated log: a snapshot standing in for the compacted prefix, the
//! entries after it, and the indexes that say how far each is committed, handed to the
//! application, and durable.

mod conflict;

use crate::entry::{Entry, Snapshot};
use crate::ready::Apply;
use crate::storage::PersistId;
use crate::types::{EntryId, Index, Term};
use std::collections::VecDeque;

/// The log of one node.
///
/// Invariants: entries are contiguous from `snapshot index + 1` with non-decreasing
/// terms; `snapshot index <= applied <= commit <= last_index`;
/// `persisted <= last_index`; `unstable_from <= last_index + 1`.
#[derive(Clone, Debug)]
pub struct RaftLog {
    /// The latest snapshot; its last included entry precedes `entries`.
    snapshot: Snapshot,
    /// Entries after the snapshot, in index order.
    entries: VecDeque<Entry>,
    /// Highest index known committed.
    pub commit: Index,
    /// Highest index handed to the application.
    pub applied: Index,
    /// Highest index known durable on this node's own storage.
    pub persisted: Index,
    /// First index not yet included in a persist request.
    unstable_from: Index,
    /// The snapshot must be included in the next persist request.
    snapshot_unpersisted: bool,
    /// A snapshot to hand to the application before further entries.
    snapshot_to_apply: Option<Snapshot>,
    /// Persist requests issued and not acknowledged, with the last log index each makes
    /// durable (capped when a later truncation makes part of it moot).
    persists_in_flight: VecDeque<(PersistId, Index)>,
    /// Entries removed by compaction, not yet freed; see [`RaftLog::free_compacted`].
    compacted: Compacted,
}

/// Entries a compaction removed, freed a chunk at a time: freeing a snapshot's worth at
/// once (hundreds of thousands of entries) held the consensus loop for 25-30 ms.
#[derive(Clone, Default)]
struct Compacted(VecDeque<Entry>);

impl std::fmt::Debug for Compacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} entries", self.0.len())
    }
}

/// Compacted entries freed per [`RaftLog::free_compacted`] call (about half a
/// millisecond of work).
const FREE_PER_CALL: usize = 4096;

impl RaftLog {
    /// A log recovered from storage: everything in it is durable; entries up to
    /// `commit` may be applied again (the application restarts from the snapshot).
    pub fn recovered(snapshot: Snapshot, entries: Vec<Entry>, commit: Index) -> RaftLog {
        let snapshot_index = snapshot.meta.last_included.index;
        let mut log = RaftLog {
            snapshot,
            entries: entries.into(),
            commit: Index::ZERO,
            applied: snapshot_index,
            persisted: Index::ZERO,
            unstable_from: Index::ZERO,
            snapshot_unpersisted: false,
            snapshot_to_apply: None,
            persists_in_flight: VecDeque::new(),
            compacted: Compacted::default(),
        };
        log.persisted = log.last_index();
        log.unstable_from = log.last_index().next();
        log.commit = commit.clamp(snapshot_index, log.last_index());
        log
    }

    /// The snapshot standing in for the compacted prefix.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Index of the last entry the snapshot covers.
    pub fn snapshot_index(&self) -> Index {
        self.snapshot.meta.last_included.index
    }

    /// First index held as an entry.
    pub fn first_index(&self) -> Index {
        self.snapshot_index().next()
    }

    /// Index of the last entry (the snapshot's if there are no entries).
    pub fn last_index(&self) -> Index {
        Index(self.snapshot_index().0 + self.entries.len() as u64)
    }

    /// Id of the last entry.
    pub fn last_entry_id(&self) -> EntryId {
        let index = self.last_index();
        EntryId {
            term: self.term_at(index).unwrap_or_default(),
            index,
        }
    }

    /// The term of the entry at `index`: the snapshot's term at its index, None if
    /// compacted below or beyond the end.
    pub fn term_at(&self, index: Index) -> Option<Term> {
        if index == self.snapshot_index() {
            return Some(self.snapshot.meta.last_included.term);
        }
        self.entry(index).map(|entry| entry.term)
    }

    /// The id of the entry at `index`, if known.
    pub fn entry_id_at(&self, index: Index) -> Option<EntryId> {
        self.term_at(index).map(|term| EntryId { term, index })
    }

    /// The entry at `index`, if held.
    pub fn entry(&self, index: Index) -> Option<&Entry> {
        let offset = index.0.checked_sub(self.first_index().0)?;
        self.entries.get(offset as usize)
    }

    /// True if the log holds `id` (the AppendEntries consistency check, §5.3).
    pub fn matches(&self, id: EntryId) -> bool {
        self.term_at(id.index) == Some(id.term)
    }

    /// Appends entries that directly follow the last one.
    pub fn append(&mut self, new_entries: impl IntoIterator<Item = Entry>) {
        for entry in new_entries {
            assert_eq!(
                entry.index,
                self.last_index().next(),
                "appended entries must be contiguous"
            );
            self.entries.push_back(entry);
        }
    }

    /// Removes every entry at or after `index`. Committed entries are never removed.
    pub fn truncate_from(&mut self, index: Index) {
        assert!(
            index > self.commit,
            "truncating committed entry {index} (commit {})",
            self.commit
        );
        let keep = index.0.saturating_sub(self.first_index().0) as usize;
        self.entries.truncate(keep);
        let last = self.last_index();
        self.unstable_from = self.unstable_from.min(last.next());
        self.persisted = self.persisted.min(last);
        for (_, durable_up_to) in self.persists_in_flight.iter_mut() {
            *durable_up_to = (*durable_up_to).min(last);
        }
    }

    /// Entries from `from` on, at most `max_bytes` of them but always at least one if
    /// any exist. Empty if `from` is compacted or beyond the end.
    pub fn entries_from(&self, from: Index, max_bytes: usize) -> Vec<Entry> {
        let Some(offset) = from.0.checked_sub(self.first_index().0) else {
            return Vec::new();
        };
        let offset = offset as usize;
        let count = self.count_within(offset, max_bytes, usize::MAX);
        let mut batch = Vec::with_capacity(count);
        batch.extend(self.entries.range(offset..offset + count).cloned());
        batch
    }

    /// How many entries from position `offset` of `entries` fit in `max_bytes` (at least
    /// one if any exist), taking at most `limit`.
    fn count_within(&self, offset: usize, max_bytes: usize, limit: usize) -> usize {
        let mut bytes = 0;
        self.entries
            .iter()
            .skip(offset)
            .take(limit)
            .enumerate()
            .take_while(|(taken, entry)| {
                bytes += entry.size_bytes();
                *taken == 0 || bytes <= max_bytes
            })
            .count()
    }

    /// Bytes of the entries after `index`.
    pub fn bytes_after(&self, index: Index) -> usize {
        let skip = index.0.saturating_sub(self.snapshot_index().0) as usize;
        self.entries.iter().skip(skip).map(Entry::size_bytes).sum()
    }

    /// Raises the commit index (never lowers it).
    pub fn commit_to(&mut self, index: Index) {
        if index > self.commit {
            assert!(
                index <= self.last_index(),
                "commit {index} beyond last index {}",
                self.last_index()
            );
            self.commit = index;
        }
    }

    /// Replaces the whole log with a snapshot received from the leader (§7).
    pub fn install_snapshot(&mut self, snapshot: Snapshot) {
        let index = snapshot.meta.last_included.index;
        self.entries.clear();
        self.commit = index;
        self.applied = index;
        self.persisted = self.persisted.min(index);
        self.unstable_from = index.next();
        for (_, durable_up_to) in self.persists_in_flight.iter_mut() {
            *durable_up_to = Index::ZERO;
        }
        self.snapshot = snapshot.clone();
        self.snapshot_unpersisted = true;
        self.snapshot_to_apply = Some(snapshot);
    }

    /// Drops the prefix covered by an application snapshot through `index`.
    pub fn compact(&mut self, snapshot: Snapshot) {
        let index = snapshot.meta.last_included.index;
        assert!(index <= self.applied && index > self.snapshot_index());
        let drop = (index.0 - self.snapshot_index().0) as usize;
        // Keep the removed prefix (moving the short suffix out instead) and free it later,
        // a chunk per call of `free_compacted`.
        let kept = self.entries.split_off(drop);
        let removed = std::mem::replace(&mut self.entries, kept);
        if self.compacted.0.is_empty() {
            self.compacted.0 = removed;
        } else {
            self.compacted.0.extend(removed);
        }
        self.snapshot = snapshot;
        self.snapshot_unpersisted = true;
    }

    /// Frees up to [`FREE_PER_CALL`] of the entries compaction removed; call regularly
    /// (the node calls it on every tick).
    pub fn free_compacted(&mut self) {
        let count = self.compacted.0.len().min(FREE_PER_CALL);
        self.compacted.0.drain(..count);
        if self.compacted.0.is_empty() && self.compacted.0.capacity() > 0 {
            self.compacted.0 = VecDeque::new();
        }
    }

    /// Entries removed by compaction and not freed yet.
    pub fn compacted_len(&self) -> usize {
        self.compacted.0.len()
    }

    /// Takes what must be written next: the snapshot (if new) and the entries not yet
    /// handed out, recording `id` as the request that will make them durable.
    pub fn take_unpersisted(&mut self, id: PersistId) -> (Option<Snapshot>, Vec<Entry>) {
        let snapshot =
            std::mem::take(&mut self.snapshot_unpersisted).then(|| self.snapshot.clone());
        let entries = self.entries_from(self.unstable_from.max(self.first_index()), usize::MAX);
        self.unstable_from = self.last_index().next();
        self.persists_in_flight.push_back((id, self.last_index()));
        (snapshot, entries)
    }

    /// True if a snapshot or entries wait to be handed to a persist request.
    pub fn has_unpersisted(&self) -> bool {
        self.snapshot_unpersisted || self.unstable_from <= self.last_index()
    }

    /// Marks persist request `id` and every earlier one durable.
    pub fn on_persisted(&mut self, id: PersistId) {
        while let Some(&(issued, durable_up_to)) = self.persists_in_flight.front() {
            if issued > id {
                break;
            }
            self.persists_in_flight.pop_front();
            self.persisted = self.persisted.max(durable_up_to);
        }
    }

    /// True if the application has something to take: an installed snapshot or
    /// committed, durable entries.
    pub fn has_applicable(&self) -> bool {
        self.snapshot_to_apply.is_some() || self.applied < self.applicable_up_to()
    }

    /// Entries may be applied once committed and durable locally.
    fn applicable_up_to(&self) -> Index {
        self.commit.min(self.persisted)
    }

    /// Takes what the application must do next: the snapshot to install (if any), then
    /// committed entries, at most `max_bytes` of them (at least one), advancing
    /// `applied`.
    pub fn take_applicable(&mut self, max_bytes: usize) -> Vec<Apply> {
        let up_to = self.applicable_up_to();
        let offset = self.applied.0.saturating_sub(self.snapshot_index().0) as usize;
        let limit = up_to.0.saturating_sub(self.applied.0) as usize;
        let count = if limit == 0 {
            0
        } else {
            self.count_within(offset, max_bytes, limit)
        };
        let mut batch = Vec::with_capacity(count + 1);
        batch.extend(self.snapshot_to_apply.take().map(Apply::Snapshot));
        batch.extend(
            self.entries
                .range(offset..offset + count)
                .cloned()
                .map(Apply::Entry),
        );
        self.applied = Index(self.applied.0 + count as u64);
        batch
    }

    /// Checks the invariants listed on the type.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut expected = self.first_index();
        let mut previous_term = self.snapshot.meta.last_included.term;
        for entry in &self.entries {
            if entry.index != expected {
                return Err(format!(
                    "entry {} found where {expected} expected",
                    entry.index
                ));
            }
            if entry.term < previous_term {
                return Err(format!(
                    "entry {} has term {} below {previous_term}",
                    entry.index, entry.term
                ));
            }
            previous_term = entry.term;
            expected = expected.next();
        }
        let order = [
            self.snapshot_index(),
            self.applied,
            self.commit,
            self.last_index(),
        ];
        if order.windows(2).any(|pair| pair[0] > pair[1]) {
            return Err(format!(
                "snapshot <= applied <= commit <= last violated: {order:?}"
            ));
        }
        if self.persisted > self.last_index() {
            return Err(format!(
                "persisted {} beyond last {}",
                self.persisted,
                self.last_index()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::SnapshotMeta;

    #[test]
    fn compaction_frees_the_removed_entries_a_chunk_per_call() {
        let count = FREE_PER_CALL as u64 * 2 + 10;
        let entries = (1..=count + 5)
            .map(|i| Entry::command(Term(1), Index(i), vec![0u8; 8]))
            .collect();
        let mut log = RaftLog::recovered(Snapshot::default(), entries, Index(count + 5));
        log.applied = Index(count + 5);
        log.compact(Snapshot {
            meta: SnapshotMeta {
                last_included: EntryId {
                    term: Term(1),
                    index: Index(count),
                },
            },
            data: Default::default(),
        });
        // The log itself is compacted at once; only the freeing is spread out.
        assert_eq!(log.first_index(), Index(count + 1));
        assert_eq!(log.last_index(), Index(count + 5));
        assert_eq!(log.term_at(Index(count + 3)), Some(Term(1)));
        assert_eq!(log.compacted_len(), count as usize);
        log.free_compacted();
        assert_eq!(log.compacted_len(), count as usize - FREE_PER_CALL);
        log.free_compacted();
        log.free_compacted();
        assert_eq!(log.compacted_len(), 0);
        log.free_compacted();
        assert_eq!(log.compacted_len(), 0);
        assert_eq!(format!("{:?}", log.compacted), "0 entries");
    }
}
