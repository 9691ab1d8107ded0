//! What the node's API reports to its callers.

use raft::NodeId;
use thiserror::Error;

/// Why a request to the node failed.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum NodeError {
    /// Only the leader takes proposals and reads; try `leader_hint`.
    #[error("not the leader (leader hint: {leader_hint:?})")]
    NotLeader {
        /// The leader this node believes in, if any.
        leader_hint: Option<NodeId>,
    },
    /// The command is larger than a Raft message may be.
    #[error("command of {size_bytes} bytes exceeds the limit of {max_bytes}")]
    TooLarge {
        /// Size of the command with its entry overhead.
        size_bytes: usize,
        /// The limit.
        max_bytes: usize,
    },
    /// The leader's uncommitted log is full; retry shortly.
    #[error("busy: too many uncommitted proposals")]
    Busy,
    /// Leadership changed before the command committed; it may or may not have been
    /// applied (a retry must be idempotent, e.g. through client sessions).
    #[error("proposal dropped: leadership changed before it committed")]
    ProposalDropped,
    /// The node's storage failed; it acknowledges nothing more.
    #[error("storage failed: {0}")]
    StorageFailed(String),
    /// The node is shutting down.
    #[error("node is shutting down")]
    ShuttingDown,
}

impl From<raft::ProposeError> for NodeError {
    fn from(error: raft::ProposeError) -> NodeError {
        match error {
            raft::ProposeError::NotLeader { leader_hint } => NodeError::NotLeader { leader_hint },
            raft::ProposeError::TooLarge {
                size_bytes,
                max_bytes,
            } => NodeError::TooLarge {
                size_bytes,
                max_bytes,
            },
            raft::ProposeError::UncommittedLogFull { .. } => NodeError::Busy,
            raft::ProposeError::ProposalDropped => NodeError::ProposalDropped,
        }
    }
}

/// Why a node could not start.
#[derive(Debug, Error)]
pub enum StartError {
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The data directory could not be opened or recovered.
    #[error("storage: {0}")]
    Storage(#[from] raft::StorageError),
    /// The transport could not start (e.g. the listen address is in use).
    #[error("transport: {0}")]
    Transport(String),
    /// The recovered state was rejected by the consensus core.
    #[error("recovered state: {0}")]
    Recovered(#[from] raft::ConfigError),
}
