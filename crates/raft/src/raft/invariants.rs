//! Self-checks: structural validation of incoming messages, and the invariants of a
//! node's state, checked after every step in debug builds and in the simulator.

use super::Raft;
use crate::message::{Message, MessageBody};
use crate::ready::Role;
use crate::types::NodeId;

/// True if a message is internally consistent: entries contiguous after `prev_log`,
/// no entry from a later term than the sender's, no entry of index 0.
pub fn message_is_well_formed(message: &Message) -> bool {
    match &message.body {
        MessageBody::AppendEntries {
            prev_log, entries, ..
        } => {
            let mut expected = prev_log.index.next();
            let mut last_term = prev_log.term;
            for entry in entries {
                if entry.index != expected || entry.term < last_term || entry.term > message.term {
                    return false;
                }
                expected = expected.next();
                last_term = entry.term;
            }
            prev_log.term <= message.term
        }
        MessageBody::InstallSnapshot { meta, .. } => {
            meta.last_included.index.0 > 0 && meta.last_included.term <= message.term
        }
        MessageBody::RequestVote { last_log, .. } => last_log.term <= message.term,
        _ => true,
    }
}

impl Raft {
    /// Checks the node's invariants; Err describes the first one violated.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.log.check_invariants()?;
        let last_term = self.log.last_entry_id().term;
        if last_term > self.term {
            return Err(format!(
                "log's last term {last_term} is above the current term {}",
                self.term
            ));
        }
        match self.role {
            Role::Leader => self.check_leader_invariants(),
            Role::Candidate if self.vote != self.config.id => Err(format!(
                "candidate voted for {} instead of itself",
                self.vote
            )),
            Role::Follower | Role::PreCandidate | Role::Candidate => {
                if self.uncommitted_bytes != 0 || self.transfer.is_some() {
                    return Err("leader-only state kept after stepping down".into());
                }
                Ok(())
            }
        }
    }

    fn check_leader_invariants(&self) -> Result<(), String> {
        if self.vote != self.config.id || self.leader != self.config.id {
            return Err(format!(
                "leader's vote {} / leader {} is not itself",
                self.vote, self.leader
            ));
        }
        for (&id, progress) in &self.tracker.progress {
            if progress.match_index >= progress.next_index {
                return Err(format!(
                    "progress of {id}: match {} >= next {}",
                    progress.match_index, progress.next_index
                ));
            }
            if progress.next_index > self.log.last_index().next() {
                return Err(format!(
                    "progress of {id}: next {} beyond last index + 1",
                    progress.next_index
                ));
            }
            if progress.match_index > self.log.last_index() {
                return Err(format!(
                    "progress of {id}: match {} beyond last index",
                    progress.match_index
                ));
            }
        }
        if self.leader == NodeId::NONE {
            return Err("leader without a leader id".into());
        }
        Ok(())
    }

    /// Panics with the violated invariant if checking is enabled.
    pub(super) fn maybe_check_invariants(&self) {
        if self.config.check_invariants {
            if let Err(violation) = self.check_invariants() {
                panic!(
                    "raft invariant violated on node {}: {violation}",
                    self.config.id
                );
            }
        }
    }
}
