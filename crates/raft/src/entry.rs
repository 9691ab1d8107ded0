//! Log entries and the snapshot metadata that stands in for a compacted prefix.

use crate::types::{EntryId, Index, Term};
use bytes::Bytes;

/// What an entry carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryPayload {
    /// An empty entry a new leader appends to commit an entry of its own term
    /// (§5.4.2, §8); applications skip it.
    Empty,
    /// An application command, opaque to Raft. `Bytes` so that the copies the log hands
    /// to messages, persist requests and the application share one buffer.
    Command(Bytes),
}

/// One entry of the replicated log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The term of the leader that created it.
    pub term: Term,
    /// Its position in the log (1-based).
    pub index: Index,
    /// What it carries.
    pub payload: EntryPayload,
}

/// Bytes charged per entry beyond its payload when sizing messages and the log:
/// term, index and a length, as a compact encoding would write them.
pub const ENTRY_OVERHEAD_BYTES: usize = 24;

impl Entry {
    /// Builds an entry holding an application command.
    pub fn command(term: Term, index: Index, data: impl Into<Bytes>) -> Entry {
        Entry {
            term,
            index,
            payload: EntryPayload::Command(data.into()),
        }
    }

    /// Builds an empty (leader no-op) entry.
    pub fn empty(term: Term, index: Index) -> Entry {
        Entry {
            term,
            index,
            payload: EntryPayload::Empty,
        }
    }

    /// The entry's identity.
    pub fn id(&self) -> EntryId {
        EntryId {
            term: self.term,
            index: self.index,
        }
    }

    /// Size charged against byte limits: payload plus a fixed overhead.
    pub fn size_bytes(&self) -> usize {
        ENTRY_OVERHEAD_BYTES + self.payload_len()
    }

    /// Length of the command bytes (0 for an empty entry).
    pub fn payload_len(&self) -> usize {
        match &self.payload {
            EntryPayload::Empty => 0,
            EntryPayload::Command(data) => data.len(),
        }
    }
}

/// Describes the log prefix a snapshot replaces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnapshotMeta {
    /// The last entry the snapshot covers (its "last included" index and term).
    pub last_included: EntryId,
}

/// A snapshot of the application state: metadata plus the application's opaque bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Which prefix of the log it replaces.
    pub meta: SnapshotMeta,
    /// The application's serialized state as of `meta.last_included.index`.
    pub data: Bytes,
}

impl Snapshot {
    /// True if this is the empty snapshot (nothing compacted yet).
    pub fn is_empty(&self) -> bool {
        self.meta.last_included.index == Index::ZERO
    }
}
