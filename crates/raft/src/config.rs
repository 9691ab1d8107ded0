//! Static settings of one Raft node, validated before the node starts.

use crate::error::ConfigError;
use crate::types::NodeId;
use std::collections::BTreeSet;

/// A deliberately planted bug, for proving that checkers can fail. Never enable outside
/// tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Canary {
    /// No bug: correct Raft.
    #[default]
    Off,
    /// The leader commits an entry of a previous term by counting replicas, the unsafe
    /// rule that Figure 8 of the paper warns against (§5.4.2).
    CommitPreviousTermByCounting,
}

/// Settings of one node.
#[derive(Clone, Debug)]
pub struct Config {
    /// This node's id; never `NodeId::NONE`.
    pub id: NodeId,
    /// The voters of the cluster, including `id`.
    pub voters: Vec<NodeId>,
    /// Lower bound of the randomized election timeout, in ticks; each reset draws a new
    /// timeout uniformly from `[election_timeout_ticks, 2 * election_timeout_ticks)`.
    pub election_timeout_ticks: u32,
    /// Ticks between leader heartbeats. Must be below `election_timeout_ticks`.
    pub heartbeat_interval_ticks: u32,
    /// Run a pre-vote round before a real election (thesis §9.6), so a node rejoining
    /// from a partition cannot depose a healthy leader.
    pub pre_vote: bool,
    /// A leader steps down if it has not heard from a quorum for an election timeout;
    /// followers that heard from a leader within the timeout ignore vote requests.
    pub check_quorum: bool,
    /// Serve ReadIndex from the leader's lease instead of a heartbeat round: a read is
    /// answered at the commit index at once. Safe only if clocks drift little: it relies
    /// on check-quorum making a cut-off leader step down (after one election timeout of
    /// its own ticks) before a new leader can be elected (after at least one election
    /// timeout of the followers' ticks since they last heard from it). Requires
    /// `check_quorum`. Off by default.
    pub lease_reads: bool,
    /// A new leader appends an empty entry so it can commit (and serve reads) at once.
    /// The 6.824 suite turns this off because it expects command indexes 1, 2, 3, ...
    pub leader_empty_entry: bool,
    /// Upper bound on one message's size (entries or snapshot chunk), in bytes. One entry
    /// larger than this is refused at proposal.
    pub max_message_bytes: usize,
    /// Most AppendEntries in flight to one follower.
    pub max_inflight_messages: usize,
    /// Most entry bytes in flight to one follower.
    pub max_inflight_bytes: usize,
    /// Most bytes of uncommitted entries a leader accepts before refusing proposals.
    pub max_uncommitted_bytes: usize,
    /// Most bytes of committed entries handed out for applying in one `Ready`.
    pub max_apply_bytes: usize,
    /// Size of one InstallSnapshot chunk, in bytes.
    pub snapshot_chunk_bytes: usize,
    /// Seed of the PRNG that randomizes election timeouts.
    pub random_seed: u64,
    /// Check internal invariants after every step (always on in debug builds).
    pub check_invariants: bool,
    /// A planted bug for checker tests.
    pub canary: Canary,
}

impl Config {
    /// Defaults for a node `id` in a cluster of `voters`: 100 ms heartbeats and a
    /// 1-2 s election timeout when one tick is 10 ms.
    pub fn new(id: NodeId, voters: Vec<NodeId>) -> Config {
        Config {
            id,
            voters,
            election_timeout_ticks: 100,
            heartbeat_interval_ticks: 10,
            pre_vote: true,
            check_quorum: true,
            lease_reads: false,
            leader_empty_entry: true,
            max_message_bytes: 1 << 20,
            max_inflight_messages: 256,
            max_inflight_bytes: 8 << 20,
            max_uncommitted_bytes: 64 << 20,
            max_apply_bytes: 16 << 20,
            snapshot_chunk_bytes: 1 << 20,
            random_seed: id.0,
            check_invariants: cfg!(debug_assertions),
            canary: Canary::Off,
        }
    }

    /// Checks every setting; a node refuses to start on the first problem found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.id == NodeId::NONE {
            return Err(ConfigError::ZeroId);
        }
        let mut seen = BTreeSet::new();
        for &voter in &self.voters {
            if voter == NodeId::NONE {
                return Err(ConfigError::ZeroId);
            }
            if !seen.insert(voter) {
                return Err(ConfigError::DuplicateVoter(voter));
            }
        }
        if !seen.contains(&self.id) {
            return Err(ConfigError::SelfNotVoter(self.id));
        }
        self.validate_numbers()
    }

    fn validate_numbers(&self) -> Result<(), ConfigError> {
        let invalid = |name, reason| Err(ConfigError::Invalid { name, reason });
        if self.heartbeat_interval_ticks == 0 {
            return invalid("heartbeat_interval_ticks", "must be at least 1");
        }
        if self.election_timeout_ticks <= self.heartbeat_interval_ticks {
            return invalid(
                "election_timeout_ticks",
                "must exceed heartbeat_interval_ticks",
            );
        }
        if self.lease_reads && !self.check_quorum {
            return invalid(
                "lease_reads",
                "requires check_quorum (the lease is its step-down rule)",
            );
        }
        if self.max_inflight_messages == 0 {
            return invalid("max_inflight_messages", "must be at least 1");
        }
        if self.max_message_bytes == 0 || self.snapshot_chunk_bytes == 0 {
            return invalid(
                "max_message_bytes",
                "message and chunk sizes must be positive",
            );
        }
        if self.max_inflight_bytes < self.max_message_bytes {
            return invalid("max_inflight_bytes", "must be at least max_message_bytes");
        }
        if self.max_uncommitted_bytes < self.max_message_bytes {
            return invalid(
                "max_uncommitted_bytes",
                "must be at least max_message_bytes",
            );
        }
        Ok(())
    }
}
