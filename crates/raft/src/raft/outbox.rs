//! Holding back messages until the writes they depend on are durable ("persist before
//! you promise"; see docs/design/io-ordering.md).

use crate::message::{Message, MessageBody};
use crate::storage::PersistId;
use std::collections::VecDeque;

/// Outgoing messages, sorted by what they wait for.
///
/// Invariant: `held` ids are strictly increasing and all above `last_acked`.
#[derive(Debug, Default)]
pub struct Outbox {
    /// Safe to send now.
    ready_to_send: Vec<Message>,
    /// Generated since the last `Ready`, and depending on state that may not be durable
    /// yet; assigned to a persist request when the next `Ready` is built.
    unassigned: Vec<Message>,
    /// Messages waiting for a persist request to be acknowledged.
    held: VecDeque<(PersistId, Vec<Message>)>,
    /// The last persist request issued.
    pub last_issued: PersistId,
    /// The last persist request acknowledged.
    pub last_acked: PersistId,
}

/// True if sending `message` promises something about this node's durable state: a
/// vote (its own or granted), an acknowledgement of entries or a snapshot. Leader
/// requests may leave before the leader's own write (thesis §10.2.1) and pre-votes
/// change no state.
pub fn requires_durability(message: &Message) -> bool {
    match &message.body {
        MessageBody::RequestVote { pre_vote, .. } => !pre_vote,
        MessageBody::RequestVoteResponse { pre_vote, .. } => !pre_vote,
        MessageBody::AppendEntriesResponse { .. } | MessageBody::InstallSnapshotResponse { .. } => {
            true
        }
        MessageBody::AppendEntries { .. }
        | MessageBody::InstallSnapshot { .. }
        | MessageBody::TimeoutNow => false,
    }
}

impl Outbox {
    /// Queues a message, held back if it requires durability.
    pub fn push(&mut self, message: Message) {
        if requires_durability(&message) {
            self.unassigned.push(message);
        } else {
            self.ready_to_send.push(message);
        }
    }

    /// Records that persist request `id` was issued.
    pub fn issued(&mut self, id: PersistId) {
        self.last_issued = id;
    }

    /// Ties the messages generated since the last `Ready` to the latest persist request
    /// still in flight: requests complete in order, so once it is durable, so is
    /// everything these messages depend on. With nothing in flight they go now.
    pub fn assign_unassigned(&mut self) {
        let messages = std::mem::take(&mut self.unassigned);
        if messages.is_empty() {
            return;
        }
        if self.last_issued == self.last_acked {
            self.ready_to_send.extend(messages);
            return;
        }
        match self.held.back_mut() {
            Some((id, group)) if *id == self.last_issued => group.extend(messages),
            _ => self.held.push_back((self.last_issued, messages)),
        }
    }

    /// Releases the messages waiting for `id` or earlier.
    pub fn on_persisted(&mut self, id: PersistId) {
        self.last_acked = self.last_acked.max(id);
        while self.held.front().is_some_and(|(held_id, _)| *held_id <= id) {
            let (_, messages) = self.held.pop_front().expect("checked non-empty");
            if self.ready_to_send.is_empty() {
                self.ready_to_send = messages;
            } else {
                self.ready_to_send.extend(messages);
            }
        }
    }

    /// Takes the messages safe to send.
    pub fn take_ready(&mut self) -> Vec<Message> {
        std::mem::take(&mut self.ready_to_send)
    }

    /// True if `take_ready` or `assign_unassigned` has work.
    pub fn has_work(&self) -> bool {
        !self.ready_to_send.is_empty() || !self.unassigned.is_empty()
    }

    /// Drops every message not yet sent (used when nothing may leave any more).
    #[allow(dead_code)]
    pub fn clear(&mut self) {
        self.ready_to_send.clear();
        self.unassigned.clear();
        self.held.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Index, NodeId, Term};

    fn vote_response(to: u64) -> Message {
        Message {
            from: NodeId(1),
            to: NodeId(to),
            term: Term(2),
            body: MessageBody::RequestVoteResponse {
                pre_vote: false,
                granted: true,
            },
        }
    }

    fn heartbeat(to: u64) -> Message {
        Message {
            from: NodeId(1),
            to: NodeId(to),
            term: Term(2),
            body: MessageBody::AppendEntries {
                prev_log: Default::default(),
                entries: vec![],
                leader_commit: Index(0),
                read_round: 0,
            },
        }
    }

    #[test]
    fn promise_waits_for_its_persist_but_leader_requests_do_not() {
        let mut outbox = Outbox::default();
        outbox.push(vote_response(2));
        outbox.push(heartbeat(3));
        outbox.issued(PersistId(1));
        outbox.assign_unassigned();
        assert_eq!(outbox.take_ready(), vec![heartbeat(3)]);
        outbox.on_persisted(PersistId(1));
        assert_eq!(outbox.take_ready(), vec![vote_response(2)]);
    }

    #[test]
    fn promise_with_nothing_in_flight_goes_at_once() {
        let mut outbox = Outbox::default();
        outbox.issued(PersistId(4));
        outbox.on_persisted(PersistId(4));
        outbox.push(vote_response(2));
        outbox.assign_unassigned();
        assert_eq!(outbox.take_ready(), vec![vote_response(2)]);
    }

    #[test]
    fn promise_waits_for_the_latest_request_in_flight() {
        let mut outbox = Outbox::default();
        outbox.issued(PersistId(1));
        outbox.issued(PersistId(2));
        outbox.push(vote_response(2));
        outbox.assign_unassigned();
        outbox.on_persisted(PersistId(1));
        assert!(outbox.take_ready().is_empty());
        outbox.on_persisted(PersistId(2));
        assert_eq!(outbox.take_ready().len(), 1);
    }
}
