//! Replaying records into the state they describe, with the semantics of
//! `raft::storage::apply_persist_request`, and the consistency checks that turn a missing
//! or replaced segment into an error.

use super::record::{CheckpointRecord, EntryRecord, RequestRecord, SnapshotMarker};
use raft::{Entry, EntryId, HardState, Index};

/// The log as replayed so far.
///
/// Invariant: `entries[k].index == base + 1 + k`, and `base >= snapshot.index`. Entries in
/// `(snapshot.index, base]` were written in segments already deleted; replay is valid only
/// if a later snapshot covers them (checked by [`ReplayedLog::finish`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ReplayedLog {
    /// The latest hard state.
    pub hard_state: HardState,
    /// The latest snapshot's last included entry.
    pub snapshot: EntryId,
    base: u64,
    entries: Vec<Entry>,
}

/// The state a replay ends in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ReplayOutcome {
    /// The latest hard state.
    pub hard_state: HardState,
    /// The latest snapshot's last included entry (index 0: none).
    pub snapshot: EntryId,
    /// The entries after the snapshot, contiguous.
    pub entries: Vec<Entry>,
}

fn marker_id(marker: Option<SnapshotMarker>) -> EntryId {
    marker.map_or(EntryId::default(), |m| EntryId::new(m.term, m.index))
}

impl ReplayedLog {
    /// Starts from the checkpoint at the head of the oldest segment.
    pub fn from_checkpoint(checkpoint: &CheckpointRecord) -> ReplayedLog {
        let snapshot = marker_id(checkpoint.snapshot);
        ReplayedLog {
            hard_state: checkpoint.hard_state.map(Into::into).unwrap_or_default(),
            snapshot,
            base: checkpoint.last_index.max(snapshot.index.0),
            entries: Vec::new(),
        }
    }

    /// The checkpoint describing the current state (written at the head of a new segment).
    pub fn checkpoint(
        hard_state: HardState,
        snapshot: EntryId,
        last_index: Index,
    ) -> CheckpointRecord {
        CheckpointRecord {
            hard_state: Some(hard_state.into()),
            snapshot: Some(SnapshotMarker {
                index: snapshot.index.0,
                term: snapshot.term.0,
                keep_log: false,
            }),
            last_index: last_index.0,
        }
    }

    /// The index of the last entry.
    pub fn last_index(&self) -> u64 {
        self.base + self.entries.len() as u64
    }

    /// Checks that a later segment's checkpoint continues exactly where replay stands.
    pub fn check_checkpoint(&self, checkpoint: &CheckpointRecord) -> Result<(), String> {
        let hard_state: HardState = checkpoint.hard_state.map(Into::into).unwrap_or_default();
        let snapshot = marker_id(checkpoint.snapshot);
        if hard_state != self.hard_state
            || snapshot != self.snapshot
            || checkpoint.last_index != self.last_index()
        {
            return Err(format!(
                "segment checkpoint (hard state {hard_state:?}, snapshot {snapshot}, last index \
                 {}) does not continue the previous segment (hard state {:?}, snapshot {}, last \
                 index {}): a segment is missing or was replaced",
                checkpoint.last_index,
                self.hard_state,
                self.snapshot,
                self.last_index()
            ));
        }
        Ok(())
    }

    /// Applies one request record: snapshot, then entries, then hard state.
    pub fn apply(&mut self, record: RequestRecord) -> Result<(), String> {
        if let Some(marker) = record.snapshot {
            self.install_snapshot(marker)?;
        }
        if !record.entries.is_empty() {
            self.append(record.first_index, record.truncate_from, record.entries)?;
        }
        if let Some(hard_state) = record.hard_state {
            self.hard_state = hard_state.into();
        }
        Ok(())
    }

    fn install_snapshot(&mut self, marker: SnapshotMarker) -> Result<(), String> {
        if marker.keep_log {
            if marker.index > self.last_index() || marker.index <= self.snapshot.index.0 {
                return Err(format!(
                    "snapshot at {} keeps the log, but the log spans ({}, {}]",
                    marker.index,
                    self.snapshot.index,
                    self.last_index()
                ));
            }
            if marker.index > self.base {
                let position = (marker.index - self.base - 1) as usize;
                if self.entries[position].term.0 != marker.term {
                    return Err(format!(
                        "snapshot {}/{} keeps the log, but entry {} has term {}",
                        marker.term, marker.index, marker.index, self.entries[position].term
                    ));
                }
                self.entries.drain(..=position);
                self.base = marker.index;
            }
        } else {
            self.entries.clear();
            self.base = marker.index;
        }
        self.snapshot = EntryId::new(marker.term, marker.index);
        Ok(())
    }

    fn append(
        &mut self,
        first: u64,
        truncate_from: Option<u64>,
        entries: Vec<EntryRecord>,
    ) -> Result<(), String> {
        let last = self.last_index();
        if first <= self.snapshot.index.0 || first > last + 1 {
            return Err(format!(
                "entries from {first} do not fit a log spanning ({}, {last}]",
                self.snapshot.index
            ));
        }
        let overlaps = first <= last;
        if truncate_from != overlaps.then_some(first) {
            return Err(format!(
                "entries from {first} overlap the log up to {last} but the record declares \
                 truncation from {truncate_from:?}"
            ));
        }
        if first <= self.base {
            self.entries.clear();
            self.base = first - 1;
        } else {
            self.entries.truncate((first - self.base - 1) as usize);
        }
        let indexes = first..;
        self.entries.extend(
            entries
                .into_iter()
                .zip(indexes)
                .map(|(record, index)| record.into_entry(index)),
        );
        Ok(())
    }

    /// Ends the replay: every entry after the snapshot must have been found.
    pub fn finish(self) -> Result<ReplayOutcome, String> {
        if self.base != self.snapshot.index.0 {
            return Err(format!(
                "log entries {}..={} are missing (the snapshot covers up to {}): the segment \
                 holding them is gone",
                self.snapshot.index.0 + 1,
                self.base,
                self.snapshot.index
            ));
        }
        Ok(ReplayOutcome {
            hard_state: self.hard_state,
            snapshot: self.snapshot,
            entries: self.entries,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(terms: &[u64]) -> Vec<EntryRecord> {
        terms
            .iter()
            .map(|&t| EntryRecord {
                term: t,
                data: None,
            })
            .collect()
    }

    fn request(first: u64, truncate: bool, terms: &[u64]) -> RequestRecord {
        RequestRecord {
            request_id: 0,
            snapshot: None,
            truncate_from: truncate.then_some(first),
            first_index: first,
            entries: entries(terms),
            hard_state: None,
        }
    }

    #[test]
    fn truncation_must_be_declared() {
        let mut log = ReplayedLog::from_checkpoint(&CheckpointRecord::default());
        log.apply(request(1, false, &[1, 1, 1])).unwrap();
        assert!(log.clone().apply(request(2, false, &[2])).is_err());
        log.apply(request(2, true, &[2])).unwrap();
        assert_eq!(log.last_index(), 2);
        assert!(log.clone().apply(request(4, false, &[2])).is_err(), "gap");
    }

    #[test]
    fn a_checkpoint_beyond_the_snapshot_needs_a_later_snapshot() {
        let checkpoint =
            ReplayedLog::checkpoint(HardState::default(), EntryId::new(1, 5), Index(9));
        let log = ReplayedLog::from_checkpoint(&checkpoint);
        assert!(log
            .clone()
            .finish()
            .unwrap_err()
            .contains("6..=9 are missing"));
        let mut covered = log;
        covered
            .apply(RequestRecord {
                snapshot: Some(SnapshotMarker {
                    index: 9,
                    term: 1,
                    keep_log: false,
                }),
                ..request(0, false, &[])
            })
            .unwrap();
        assert!(covered.finish().unwrap().entries.is_empty());
    }
}
