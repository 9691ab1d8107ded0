//! STUB: the public API of the core, being implemented.
#![allow(unused_variables, dead_code)]
use crate::*;

/// One Raft node's consensus state machine.
pub struct Raft {}

impl Raft {
    /// Starts a node from its configuration and what it recovered from storage.
    pub fn new(config: Config, recovered: RecoveredState) -> Result<Raft, ConfigError> {
        unimplemented!()
    }
    /// Advances logical time by one tick.
    pub fn tick(&mut self) {
        unimplemented!()
    }
    /// Handles one incoming message; invalid or stale messages are ignored.
    pub fn step(&mut self, message: Message) {
        unimplemented!()
    }
    /// Proposes a command; returns its (term, index).
    pub fn propose(&mut self, data: Vec<u8>) -> Result<EntryId, ProposeError> {
        unimplemented!()
    }
    /// Starts a linearizable read; its ReadState comes in a later Ready.
    pub fn read_index(&mut self, request_id: u64) -> Result<(), ReadIndexError> {
        unimplemented!()
    }
    /// Hands leadership to `to` once it is caught up.
    pub fn transfer_leadership(&mut self, to: NodeId) -> Result<(), TransferError> {
        unimplemented!()
    }
    /// The application's snapshot of its state through `index`; compacts the log.
    pub fn snapshot(&mut self, index: Index, data: Vec<u8>) -> Result<(), SnapshotError> {
        unimplemented!()
    }
    /// The transport could not reach `to`.
    pub fn report_unreachable(&mut self, to: NodeId) {
        unimplemented!()
    }
    /// True if `ready()` would return work.
    pub fn has_ready(&self) -> bool {
        unimplemented!()
    }
    /// Takes the pending work.
    pub fn ready(&mut self) -> Ready {
        unimplemented!()
    }
    /// Acknowledges that persist request `id` (and all before it) is durable.
    pub fn on_persisted(&mut self, id: PersistId) {
        unimplemented!()
    }
    /// This node's state.
    pub fn status(&self) -> Status {
        unimplemented!()
    }
    /// This node's id.
    pub fn id(&self) -> NodeId {
        unimplemented!()
    }
    /// Current term.
    pub fn term(&self) -> Term {
        unimplemented!()
    }
    /// Current role.
    pub fn role(&self) -> Role {
        unimplemented!()
    }
    /// True if leader.
    pub fn is_leader(&self) -> bool {
        unimplemented!()
    }
    /// The id of the entry at `index`, if the log holds it (or it is the snapshot's last).
    pub fn entry_id_at(&self, index: Index) -> Option<EntryId> {
        unimplemented!()
    }
    /// Checks internal invariants; Err describes the first violation.
    pub fn check_invariants(&self) -> Result<(), String> {
        unimplemented!()
    }
}
