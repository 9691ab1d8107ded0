//! Incoming messages: validation, the term rules every message obeys (§5.1), and
//! dispatch to the role that handles it.

use super::Raft;
use crate::message::{Message, MessageBody};
use crate::ready::Role;
use crate::types::{NodeId, Term};

impl Raft {
    /// Handles one incoming message. Messages from unknown nodes, to another node,
    /// malformed or stale ones are ignored (or answered with this node's term so a
    /// stale sender learns it is behind); none of them can panic the node.
    pub fn step(&mut self, message: Message) {
        if !self.is_acceptable(&message) {
            return;
        }
        if message.term > self.term && !self.step_higher_term(&message) {
            return;
        }
        if message.term < self.term {
            self.step_lower_term(&message);
            return;
        }
        self.dispatch(message);
        self.maybe_check_invariants();
    }

    /// Structural checks that need no state beyond the configuration.
    fn is_acceptable(&self, message: &Message) -> bool {
        message.to == self.config.id
            && message.from != self.config.id
            && self.tracker.config.contains(message.from)
            && super::invariants::message_is_well_formed(message)
    }

    /// A message from a later term. Returns false if it must be ignored.
    fn step_higher_term(&mut self, message: &Message) -> bool {
        match &message.body {
            MessageBody::RequestVote {
                pre_vote, transfer, ..
            } => {
                if self.within_leader_lease() && !transfer {
                    // Disruptive-server guard (thesis §4.2.3): we heard from a live
                    // leader within the minimum election timeout, so ignore.
                    return false;
                }
                if !pre_vote {
                    self.become_follower(message.term, NodeId::NONE);
                }
            }
            // A granted pre-vote carries the term the candidate will campaign in; it
            // says nothing about the voter's own term.
            MessageBody::RequestVoteResponse {
                pre_vote: true,
                granted: true,
            } => {}
            MessageBody::AppendEntries { .. }
            | MessageBody::InstallSnapshot { .. }
            | MessageBody::TimeoutNow => {
                self.become_follower(message.term, message.from);
            }
            _ => self.become_follower(message.term, NodeId::NONE),
        }
        true
    }

    /// True if check-quorum is on and a leader was heard from within the minimum
    /// election timeout.
    fn within_leader_lease(&self) -> bool {
        self.config.check_quorum
            && self.leader != NodeId::NONE
            && self.election_elapsed < self.config.election_timeout_ticks
    }

    /// A message from an earlier term: tell a stale leader or pre-candidate about the
    /// current term so it steps down; ignore the rest.
    fn step_lower_term(&mut self, message: &Message) {
        match &message.body {
            MessageBody::AppendEntries { read_round, .. } => {
                let read_round = *read_round;
                self.send(
                    message.from,
                    MessageBody::AppendEntriesResponse {
                        success: false,
                        match_index: Default::default(),
                        conflict: None,
                        read_round,
                    },
                );
            }
            MessageBody::InstallSnapshot { meta, .. } => {
                let last_included = meta.last_included;
                self.send(
                    message.from,
                    MessageBody::InstallSnapshotResponse {
                        last_included,
                        next_offset: 0,
                        done: false,
                        accepted: false,
                    },
                );
            }
            MessageBody::RequestVote { pre_vote: true, .. } => {
                self.send(
                    message.from,
                    MessageBody::RequestVoteResponse {
                        pre_vote: true,
                        granted: false,
                    },
                );
            }
            _ => {}
        }
    }

    /// Hands a message of the current term (or a pre-vote message) to its handler.
    fn dispatch(&mut self, message: Message) {
        let Message {
            from, term, body, ..
        } = message;
        match body {
            MessageBody::RequestVote {
                pre_vote, last_log, ..
            } => self.handle_request_vote(from, term, pre_vote, last_log),
            MessageBody::RequestVoteResponse { pre_vote, granted } => {
                self.handle_vote_response(from, term, pre_vote, granted)
            }
            MessageBody::AppendEntries {
                prev_log,
                entries,
                leader_commit,
                read_round,
            } => self.handle_append_entries(from, prev_log, entries, leader_commit, read_round),
            MessageBody::AppendEntriesResponse {
                success,
                match_index,
                conflict,
                read_round,
            } => {
                if self.role == Role::Leader {
                    self.handle_append_response(from, success, match_index, conflict, read_round);
                }
            }
            MessageBody::InstallSnapshot {
                meta,
                offset,
                data,
                done,
            } => self.handle_install_snapshot(from, meta, offset, data, done),
            MessageBody::InstallSnapshotResponse {
                last_included,
                next_offset,
                done,
                accepted,
            } => {
                if self.role == Role::Leader {
                    self.handle_snapshot_response(from, last_included, next_offset, done, accepted);
                }
            }
            MessageBody::TimeoutNow => self.handle_timeout_now(from),
        }
    }

    /// Records that `from` leads the current term (it sent AppendEntries or a snapshot)
    /// and restarts the election timer.
    pub(super) fn follow_leader(&mut self, from: NodeId) {
        if self.role != Role::Follower {
            self.become_follower(self.term, from);
        }
        self.leader = from;
        self.reset_election_timer();
    }

    /// The term of a pre-vote campaign: the one the node would move to.
    pub(super) fn campaign_term(&self, pre_vote: bool) -> Term {
        if pre_vote {
            self.term.next()
        } else {
            self.term
        }
    }
}
