//! Typed errors for the operating conditions a caller must handle.

use crate::types::{Index, NodeId};
use thiserror::Error;

/// Why a proposal was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ProposeError {
    /// Only the leader takes proposals; try `leader_hint` if known.
    #[error("not the leader (leader hint: {leader_hint:?})")]
    NotLeader {
        /// The leader this node believes in, if any.
        leader_hint: Option<NodeId>,
    },
    /// The command does not fit in one message.
    #[error("proposal of {size_bytes} bytes exceeds the limit of {max_bytes} bytes")]
    TooLarge {
        /// Size of the proposed entry.
        size_bytes: usize,
        /// The limit it exceeds.
        max_bytes: usize,
    },
    /// The leader's uncommitted log is at its byte bound; retry once entries commit.
    #[error("uncommitted log is full ({uncommitted_bytes} bytes pending, limit {max_bytes})")]
    UncommittedLogFull {
        /// Bytes proposed but not committed.
        uncommitted_bytes: usize,
        /// The configured bound.
        max_bytes: usize,
    },
    /// A leadership transfer is in progress; proposals are refused until it ends.
    #[error("proposal dropped: leadership transfer in progress")]
    ProposalDropped,
}

/// Why a linearizable read could not be started.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ReadIndexError {
    /// Only the leader serves ReadIndex.
    #[error("not the leader (leader hint: {leader_hint:?})")]
    NotLeader {
        /// The leader this node believes in, if any.
        leader_hint: Option<NodeId>,
    },
}

/// Why a leadership transfer could not be started.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum TransferError {
    /// Only the leader can hand over leadership.
    #[error("not the leader")]
    NotLeader,
    /// The target is not a voter of this cluster (or is this node).
    #[error("cannot transfer leadership to {0}")]
    InvalidTarget(NodeId),
}

/// Why an application snapshot was refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum SnapshotError {
    /// The log is already compacted past this index.
    #[error("index {index} is already compacted (snapshot at {snapshot_index})")]
    Compacted {
        /// The requested index.
        index: Index,
        /// The current snapshot's index.
        snapshot_index: Index,
    },
    /// The application has not been handed this index yet.
    #[error("index {index} is beyond the applied index {applied}")]
    NotApplied {
        /// The requested index.
        index: Index,
        /// What was handed to the application so far.
        applied: Index,
    },
}

/// A configuration the core refuses to run with.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// Node id 0 means "nobody".
    #[error("node id 0 is reserved")]
    ZeroId,
    /// This node is not among the voters.
    #[error("node {0} is not in the voter list")]
    SelfNotVoter(NodeId),
    /// A voter appears twice.
    #[error("voter {0} is listed twice")]
    DuplicateVoter(NodeId),
    /// A numeric setting is out of range.
    #[error("invalid setting {name}: {reason}")]
    Invalid {
        /// The setting's name.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The recovered state contradicts itself.
    #[error("recovered state is inconsistent: {0}")]
    CorruptState(String),
}

/// A failure of durable storage. The runtime must treat it as fatal for the node:
/// nothing more may be acknowledged.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum StorageError {
    /// An I/O operation failed.
    #[error("storage I/O error: {0}")]
    Io(String),
    /// Stored data failed validation.
    #[error("storage corrupt: {0}")]
    Corrupt(String),
}
