//! The messages Raft nodes exchange, in the paper's terms.

use crate::entry::{Entry, SnapshotMeta};
use crate::types::{EntryId, Index, NodeId, Term};
use bytes::Bytes;

/// A message between two nodes. Every message carries the sender's term (§5.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The sender.
    pub from: NodeId,
    /// The recipient.
    pub to: NodeId,
    /// The sender's current term (for a pre-vote request: the term it would campaign in).
    pub term: Term,
    /// What the message says.
    pub body: MessageBody,
}

/// Where a follower's log diverges from the leader's: the hint that lets the leader
/// skip a whole divergent term per round trip instead of one entry (§5.3, "fast backup").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConflictHint {
    /// The `prev_log.index` the follower could not match; lets the leader recognise
    /// the answer to a message it has already superseded (a stale rejection).
    pub rejected: Index,
    /// The term of the follower's entry at `prev_log.index`, or zero if the follower's
    /// log is shorter than that.
    pub term: Term,
    /// The first index the follower holds with `term`; if `term` is zero, the follower's
    /// last index + 1.
    pub index: Index,
}

/// The body of a [`Message`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageBody {
    /// A candidate (or pre-candidate) asks for a vote (§5.2).
    RequestVote {
        /// True for a pre-vote (thesis §9.6): nobody changes term or records a vote.
        pre_vote: bool,
        /// The candidate's last log entry, for the election restriction (§5.4.1).
        last_log: EntryId,
        /// True when a leadership transfer asked for this election: voters skip the
        /// "I heard from a leader recently" check.
        transfer: bool,
    },
    /// A voter's answer.
    RequestVoteResponse {
        /// Answers a pre-vote request.
        pre_vote: bool,
        /// The vote was granted.
        granted: bool,
    },
    /// Log replication and heartbeat (§5.3).
    AppendEntries {
        /// The entry just before `entries`; the follower must hold it (consistency check).
        prev_log: EntryId,
        /// New entries, possibly none (a heartbeat).
        entries: Vec<Entry>,
        /// The leader's commit index, capped to what this message proves the follower holds.
        leader_commit: Index,
        /// A ReadIndex round id echoed in the response (0 if none).
        read_round: u64,
    },
    /// A follower's answer to AppendEntries.
    AppendEntriesResponse {
        /// The consistency check passed and the entries are durable.
        success: bool,
        /// On success: the index of the last entry the message made the follower hold.
        match_index: Index,
        /// On failure: where the follower's log diverges.
        conflict: Option<ConflictHint>,
        /// The ReadIndex round id from the request.
        read_round: u64,
    },
    /// One chunk of a snapshot, for a follower that needs compacted entries (§7).
    InstallSnapshot {
        /// The snapshot being sent.
        meta: SnapshotMeta,
        /// The byte offset of `data` within the snapshot.
        offset: u64,
        /// This chunk's bytes (a slice of the leader's snapshot, not a copy).
        data: Bytes,
        /// True on the last chunk.
        done: bool,
    },
    /// A follower's answer to a snapshot chunk.
    InstallSnapshotResponse {
        /// The snapshot the chunk belonged to.
        last_included: EntryId,
        /// The offset the follower expects next (the whole size once it installed it).
        next_offset: u64,
        /// True once the snapshot is installed and durable.
        done: bool,
        /// False if the follower could not use the chunk (wrong offset, other snapshot).
        accepted: bool,
    },
    /// The leader asks a caught-up follower to start an election at once (thesis §3.10).
    TimeoutNow,
}

/// Bytes charged per message beyond its entries and snapshot data: the ids, term and
/// indexes as a compact encoding would write them.
pub const MESSAGE_OVERHEAD_BYTES: usize = 48;

impl Message {
    /// True for requests (the messages a labrpc "Call" would carry); false for responses.
    pub fn is_request(&self) -> bool {
        matches!(
            self.body,
            MessageBody::RequestVote { .. }
                | MessageBody::AppendEntries { .. }
                | MessageBody::InstallSnapshot { .. }
                | MessageBody::TimeoutNow
        )
    }

    /// The size of this message on the wire, used for byte limits and counters.
    pub fn size_bytes(&self) -> usize {
        MESSAGE_OVERHEAD_BYTES
            + match &self.body {
                MessageBody::AppendEntries { entries, .. } => {
                    entries.iter().map(Entry::size_bytes).sum()
                }
                MessageBody::InstallSnapshot { data, .. } => data.len(),
                _ => 0,
            }
    }

    /// A short name of the message kind, for traces and reports.
    pub fn kind_name(&self) -> &'static str {
        match &self.body {
            MessageBody::RequestVote { pre_vote: true, .. } => "PreVote",
            MessageBody::RequestVote { .. } => "RequestVote",
            MessageBody::RequestVoteResponse { pre_vote: true, .. } => "PreVoteResponse",
            MessageBody::RequestVoteResponse { .. } => "RequestVoteResponse",
            MessageBody::AppendEntries { .. } => "AppendEntries",
            MessageBody::AppendEntriesResponse { .. } => "AppendEntriesResponse",
            MessageBody::InstallSnapshot { .. } => "InstallSnapshot",
            MessageBody::InstallSnapshotResponse { .. } => "InstallSnapshotResponse",
            MessageBody::TimeoutNow => "TimeoutNow",
        }
    }
}
