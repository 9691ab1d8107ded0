//! The core's one output path: a [`Ready`] batch of work for the runtime, and the
//! read-only views ([`Status`]) it can ask for at any time.

use crate::entry::{Entry, Snapshot};
use crate::message::Message;
use crate::storage::PersistRequest;
use crate::types::{Index, NodeId, Term};

/// Work the runtime must do, taken with `Raft::ready()`.
///
/// Order of duties: start `persist` (acknowledge with `on_persisted` once durable);
/// send `messages` now (they never depend on an unacknowledged write: messages that
/// do are held back by the core until `on_persisted`); hand `apply` to the state
/// machine in order; answer `read_states`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    /// Writes to make durable, if any.
    pub persist: Option<PersistRequest>,
    /// Messages safe to send now.
    pub messages: Vec<Message>,
    /// Committed entries (and installed snapshots) for the state machine, in log order.
    pub apply: Vec<Apply>,
    /// Linearizable reads whose index is now known.
    pub read_states: Vec<ReadState>,
}

impl Ready {
    /// True if there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.persist.is_none()
            && self.messages.is_empty()
            && self.apply.is_empty()
            && self.read_states.is_empty()
    }
}

/// One item for the state machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Apply {
    /// Replace the state machine's state with this snapshot; entries after it follow.
    Snapshot(Snapshot),
    /// Apply this committed entry.
    Entry(Entry),
}

/// A confirmed linearizable read: once the state machine has applied `index`, a read
/// issued with `request_id` may be served from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadState {
    /// The id the caller passed to `read_index`.
    pub request_id: u64,
    /// The commit index at the time leadership was confirmed.
    pub index: Index,
}

/// The role a node plays in its current term.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Runs a pre-vote round; its term has not changed yet.
    PreCandidate,
    /// Runs an election in its current term.
    Candidate,
    /// Leads the current term.
    Leader,
}

/// How a leader currently replicates to a follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicationMode {
    /// Finding the follower's log position, one message at a time.
    Probe,
    /// Streaming entries with a window of messages in flight.
    Replicate,
    /// Sending a snapshot.
    Snapshot,
}

/// What the leader knows about one follower's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    /// The peer.
    pub id: NodeId,
    /// How the leader replicates to it.
    pub mode: ReplicationMode,
    /// Highest index known replicated on the peer.
    pub match_index: Index,
    /// Next index to send.
    pub next_index: Index,
}

/// A snapshot of a node's state, for operators and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// This node.
    pub id: NodeId,
    /// Its role.
    pub role: Role,
    /// Its current term.
    pub term: Term,
    /// Its vote in the current term.
    pub vote: NodeId,
    /// The leader it follows, if known.
    pub leader: Option<NodeId>,
    /// Highest index known committed.
    pub commit: Index,
    /// Highest index handed to the state machine.
    pub applied: Index,
    /// Highest index durable in this node's own storage.
    pub persisted: Index,
    /// First index held in the log (snapshot index + 1).
    pub first_index: Index,
    /// Last index in the log.
    pub last_index: Index,
    /// Index of the latest snapshot.
    pub snapshot_index: Index,
    /// Per-follower replication state (leaders only).
    pub peers: Vec<PeerStatus>,
}
