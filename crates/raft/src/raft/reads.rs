//! The leader's side of ReadIndex (thesis §6.4).

use super::Raft;
use crate::ready::Role;
use crate::types::NodeId;

impl Raft {
    /// Queues a read: at the commit index if the leader has committed an entry of its
    /// term, otherwise once it has (before that its commit index may be stale, §8).
    pub(super) fn add_read(&mut self, request_id: u64) {
        if self.log.term_at(self.log.commit) != Some(self.term) {
            self.read_only.wait_for_term_commit(request_id);
            return;
        }
        self.add_read_at_commit(request_id);
    }

    /// Queues a read at the current commit index: for a heartbeat round, or answered at
    /// once under a leader lease.
    fn add_read_at_commit(&mut self, request_id: u64) {
        if self.config.lease_reads {
            let index = self.log.commit;
            self.read_states
                .push(crate::ready::ReadState { request_id, index });
            return;
        }
        self.read_only.add(request_id, self.log.commit);
        self.confirm_reads();
    }

    /// Releases reads that waited for the term's first commit.
    pub(super) fn on_first_commit_of_term(&mut self) {
        for request_id in self.read_only.take_waiting_for_term_commit() {
            self.add_read_at_commit(request_id);
        }
        self.confirm_reads();
    }

    /// Sends heartbeats carrying a new read round to every follower.
    pub(super) fn broadcast_read_round(&mut self) {
        self.read_only.start_round();
        for &peer in self.peers().iter() {
            self.send_heartbeat(peer);
        }
        // A single-node cluster confirms at once.
        self.confirm_reads();
    }

    pub(super) fn on_read_round_acked(&mut self, from: NodeId, round: u64) {
        let confirmed = self
            .read_only
            .ack(&self.tracker.config, self.config.id, from, round);
        self.read_states.extend(confirmed);
    }

    fn confirm_reads(&mut self) {
        if self.role == Role::Leader {
            let confirmed = self.read_only.confirm(&self.tracker.config, self.config.id);
            self.read_states.extend(confirmed);
        }
    }
}
