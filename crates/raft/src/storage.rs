//! What the core asks its runtime to make durable, and the [`Storage`] trait a runtime
//! implements to do it and to recover after a crash.
//!
//! The core never calls storage itself: it hands out [`PersistRequest`]s in its `Ready`,
//! and the runtime acknowledges each one with `on_persisted(id)` once it is durable.

use crate::entry::{Entry, Snapshot};
use crate::error::StorageError;
use crate::types::{Index, NodeId, Term};

/// The state Raft must not forget across a crash (Figure 2, "persistent state").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HardState {
    /// The latest term this node has seen.
    pub term: Term,
    /// The candidate this node voted for in `term`, or `NodeId::NONE`.
    pub vote: NodeId,
    /// The highest index known committed. Persisting it is an optimisation (a restarted
    /// node can apply its committed prefix without waiting for a leader), not a safety need.
    pub commit: Index,
}

/// Identifies one [`PersistRequest`]. Requests complete in issue order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PersistId(pub u64);

/// One atomic batch of writes. A runtime applies its parts in this order: snapshot,
/// entries, hard state; and it acknowledges the request only once all of it is durable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PersistRequest {
    /// Acknowledge with `on_persisted(id)`.
    pub id: PersistId,
    /// A snapshot to store. Log entries at or below its index are dropped; if the stored
    /// log does not hold its last included entry, the whole stored log is dropped.
    pub snapshot: Option<Snapshot>,
    /// Entries to write. Any stored entry at or after `entries[0].index` is replaced
    /// (a follower overwriting a conflicting suffix, §5.3).
    pub entries: Vec<Entry>,
    /// A new hard state, if it changed.
    pub hard_state: Option<HardState>,
}

impl PersistRequest {
    /// True if there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.snapshot.is_none() && self.entries.is_empty() && self.hard_state.is_none()
    }
}

/// Everything a node persisted, read back on restart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveredState {
    /// The last durable hard state.
    pub hard_state: HardState,
    /// The last durable snapshot (empty if none).
    pub snapshot: Snapshot,
    /// The durable log entries after the snapshot, contiguous.
    pub entries: Vec<Entry>,
}

/// Durable storage for one node's Raft state.
pub trait Storage {
    /// Reads back everything persisted so far.
    fn recover(&self) -> Result<RecoveredState, StorageError>;
    /// Applies `request`; when this returns `Ok`, every part of it is durable.
    fn persist(&mut self, request: &PersistRequest) -> Result<(), StorageError>;
}

/// Applies a persist request to an in-memory image of the persisted state. Shared by
/// [`crate::MemStorage`] and any storage that keeps such an image (the simulator's disk).
pub fn apply_persist_request(state: &mut RecoveredState, request: &PersistRequest) {
    if let Some(snapshot) = &request.snapshot {
        install_snapshot_into(state, snapshot);
    }
    if let Some(first) = request.entries.first() {
        let keep = first
            .index
            .0
            .saturating_sub(state.snapshot.meta.last_included.index.0 + 1);
        state.entries.truncate(keep as usize);
        state.entries.extend(request.entries.iter().cloned());
    }
    if let Some(hard_state) = request.hard_state {
        state.hard_state = hard_state;
    }
}

fn install_snapshot_into(state: &mut RecoveredState, snapshot: &Snapshot) {
    let last = snapshot.meta.last_included;
    let old_first = state.snapshot.meta.last_included.index.0 + 1;
    let holds_last = last.index.0 >= old_first
        && state
            .entries
            .get((last.index.0 - old_first) as usize)
            .is_some_and(|entry| entry.term == last.term);
    if holds_last {
        state
            .entries
            .drain(..=((last.index.0 - old_first) as usize));
    } else {
        state.entries.clear();
    }
    state.snapshot = snapshot.clone();
}

/// Storage kept in memory: durable only as long as the process lives. For tests and the
/// simulator, and as the reference for what a disk-backed storage must do.
#[derive(Clone, Debug, Default)]
pub struct MemStorage {
    state: RecoveredState,
}

impl MemStorage {
    /// An empty storage: a node that has never run.
    pub fn new() -> MemStorage {
        MemStorage::default()
    }

    /// The image of what is stored.
    pub fn state(&self) -> &RecoveredState {
        &self.state
    }
}

impl Storage for MemStorage {
    fn recover(&self) -> Result<RecoveredState, StorageError> {
        Ok(self.state.clone())
    }

    fn persist(&mut self, request: &PersistRequest) -> Result<(), StorageError> {
        apply_persist_request(&mut self.state, request);
        Ok(())
    }
}
