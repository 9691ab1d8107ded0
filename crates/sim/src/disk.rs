//! One node's simulated disk: the durable image plus writes still in flight.
//!
//! Writes complete in issue order after a seeded fsync latency; a crash loses every
//! write not yet complete.

use crate::event_queue::Time;
use raft::storage::apply_persist_request;
use raft::{PersistRequest, RecoveredState};
use std::collections::VecDeque;

/// Bytes the lab's `RaftStateSize()` charges for the hard state.
pub const HARD_STATE_BYTES: usize = 24;

/// A node's disk.
#[derive(Default)]
pub struct Disk {
    durable: RecoveredState,
    pending: VecDeque<PersistRequest>,
    busy_until: Time,
    /// Writes completed since the simulation began.
    pub writes_completed: u64,
}

impl Disk {
    /// An empty disk.
    pub fn new() -> Disk {
        Disk::default()
    }

    /// Queues `request`; returns when it will be durable (after every earlier write,
    /// plus `latency`).
    pub fn submit(&mut self, request: PersistRequest, now: Time, latency: Time) -> Time {
        self.pending.push_back(request);
        self.busy_until = self.busy_until.max(now) + latency;
        self.busy_until
    }

    /// The oldest write in flight, which completes next.
    pub fn next_pending(&self) -> Option<&PersistRequest> {
        self.pending.front()
    }

    /// Makes the oldest write durable and returns it.
    pub fn complete_next(&mut self) -> Option<PersistRequest> {
        let request = self.pending.pop_front()?;
        apply_persist_request(&mut self.durable, &request);
        self.writes_completed += 1;
        Some(request)
    }

    /// Power loss: writes in flight are gone.
    pub fn crash(&mut self) {
        self.pending.clear();
        self.busy_until = 0;
    }

    /// What a restarting node reads back.
    pub fn recover(&self) -> RecoveredState {
        self.durable.clone()
    }

    /// The durable image.
    pub fn durable(&self) -> &RecoveredState {
        &self.durable
    }

    /// The lab's `RaftStateSize()`: hard state plus stored entries, snapshot excluded.
    pub fn raft_state_size(&self) -> usize {
        HARD_STATE_BYTES
            + self
                .durable
                .entries
                .iter()
                .map(raft::Entry::size_bytes)
                .sum::<usize>()
    }

    /// The lab's `SnapshotSize()`.
    pub fn snapshot_size(&self) -> usize {
        self.durable.snapshot.data.len()
    }

    /// Index of the last durable entry (or of the durable snapshot).
    pub fn durable_last_index(&self) -> u64 {
        self.durable.snapshot.meta.last_included.index.0 + self.durable.entries.len() as u64
    }
}
