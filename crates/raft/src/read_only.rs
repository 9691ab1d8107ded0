//! ReadIndex (thesis §6.4): a leader serves a linearizable read at its commit index once
//! a heartbeat round proves that it was still the leader when the read arrived.

use crate::quorum::JointConfig;
use crate::ready::ReadState;
use crate::types::{Index, NodeId};
use std::collections::{BTreeMap, VecDeque};

/// A read waiting for its leadership confirmation.
#[derive(Clone, Copy, Debug)]
struct PendingRead {
    request_id: u64,
    /// The commit index when the read arrived; the read is served once applied.
    index: Index,
    /// The heartbeat round whose quorum confirms it.
    round: u64,
}

/// The leader's queue of reads and the heartbeat rounds confirming them.
///
/// Invariant: `pending` rounds are non-decreasing; every pending round is at most
/// `next_round`.
#[derive(Clone, Debug, Default)]
pub struct ReadOnly {
    /// Reads that arrived before the leader committed an entry of its term (§8): their
    /// read index is not known yet.
    waiting_for_term_commit: Vec<u64>,
    /// Reads with a read index, waiting for their round's quorum.
    pending: VecDeque<PendingRead>,
    /// The last round broadcast to followers (0 = none yet this term).
    broadcast_round: u64,
    /// The highest round each follower acknowledged.
    acked_round: BTreeMap<NodeId, u64>,
}

impl ReadOnly {
    /// Forgets everything (leadership changed); returns the ids of dropped reads.
    pub fn reset(&mut self) -> Vec<u64> {
        let mut dropped = std::mem::take(&mut self.waiting_for_term_commit);
        dropped.extend(self.pending.drain(..).map(|read| read.request_id));
        self.broadcast_round = 0;
        self.acked_round.clear();
        dropped
    }

    /// Queues a read that must wait until the leader commits an entry of its term.
    pub fn wait_for_term_commit(&mut self, request_id: u64) {
        self.waiting_for_term_commit.push(request_id);
    }

    /// Reads that were waiting for the term's first commit, now that it happened.
    pub fn take_waiting_for_term_commit(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.waiting_for_term_commit)
    }

    /// Queues a read at `index`; it is confirmed by the next round broadcast.
    pub fn add(&mut self, request_id: u64, index: Index) {
        let round = self.broadcast_round + 1;
        self.pending.push_back(PendingRead {
            request_id,
            index,
            round,
        });
    }

    /// True if some read needs a round that has not been broadcast yet.
    pub fn needs_broadcast(&self) -> bool {
        self.pending
            .back()
            .is_some_and(|read| read.round > self.broadcast_round)
    }

    /// Starts a new round (the caller broadcasts heartbeats carrying it).
    pub fn start_round(&mut self) -> u64 {
        self.broadcast_round += 1;
        self.broadcast_round
    }

    /// The round heartbeats should carry now.
    pub fn current_round(&self) -> u64 {
        self.broadcast_round
    }

    /// Records that `from` answered a heartbeat of `round`; returns the reads now
    /// confirmed by a quorum (the leader itself always counts).
    pub fn ack(
        &mut self,
        config: &JointConfig,
        self_id: NodeId,
        from: NodeId,
        round: u64,
    ) -> Vec<ReadState> {
        let acked = self.acked_round.entry(from).or_default();
        *acked = (*acked).max(round);
        self.confirm(config, self_id)
    }

    /// Pops the reads whose round a quorum has acknowledged.
    pub fn confirm(&mut self, config: &JointConfig, self_id: NodeId) -> Vec<ReadState> {
        let mut confirmed = Vec::new();
        while let Some(read) = self.pending.front().copied() {
            let acked = |id: NodeId| {
                id == self_id
                    || self
                        .acked_round
                        .get(&id)
                        .is_some_and(|&round| round >= read.round)
            };
            if read.round > self.broadcast_round || !config.has_quorum(acked) {
                break;
            }
            self.pending.pop_front();
            confirmed.push(ReadState {
                request_id: read.request_id,
                index: read.index,
            });
        }
        confirmed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three_voters() -> JointConfig {
        JointConfig::single([NodeId(1), NodeId(2), NodeId(3)])
    }

    #[test]
    fn read_is_confirmed_by_a_quorum_of_its_round() {
        let config = three_voters();
        let mut reads = ReadOnly::default();
        reads.add(7, Index(10));
        assert!(reads.needs_broadcast());
        assert!(
            reads.confirm(&config, NodeId(1)).is_empty(),
            "no round broadcast yet"
        );
        let round = reads.start_round();
        assert!(!reads.needs_broadcast());
        assert_eq!(
            reads.ack(&config, NodeId(1), NodeId(2), round),
            vec![ReadState {
                request_id: 7,
                index: Index(10)
            }]
        );
    }

    #[test]
    fn an_older_round_ack_does_not_confirm_a_newer_read() {
        let config = three_voters();
        let mut reads = ReadOnly::default();
        let old_round = reads.start_round();
        reads.add(1, Index(3));
        reads.start_round();
        assert!(reads
            .ack(&config, NodeId(1), NodeId(2), old_round)
            .is_empty());
        assert_eq!(reads.reset(), vec![1]);
    }
}
