//! Leader election (§5.2, §5.4.1) with pre-vote (thesis §9.6): the follower and
//! candidate roles, role transitions, and both sides of RequestVote.

use super::Raft;
use crate::message::MessageBody;
use crate::quorum::VoteResult;
use crate::ready::Role;
use crate::types::{EntryId, NodeId, Term};

/// Why a node campaigns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CampaignKind {
    /// A pre-vote round (thesis §9.6): no term change until it is won.
    PreVote,
    /// A real election in the next term.
    Election,
    /// A real election asked for by the leader (TimeoutNow): voters skip the lease check.
    Transfer,
}

impl Raft {
    /// A follower or candidate tick: start an election when the timer expires.
    pub(super) fn tick_election(&mut self) {
        self.election_elapsed += 1;
        if self.election_elapsed >= self.randomized_election_timeout {
            self.campaign_after_timeout();
        }
    }

    /// Starts a campaign of the given kind.
    pub(super) fn campaign_as(&mut self, kind: CampaignKind) {
        match kind {
            CampaignKind::PreVote => self.become_pre_candidate(),
            CampaignKind::Election | CampaignKind::Transfer => self.become_candidate(),
        }
        let pre_vote = kind == CampaignKind::PreVote;
        let transfer = kind == CampaignKind::Transfer;
        let own_vote = self.tracker.record_vote(self.config.id, true);
        if own_vote == VoteResult::Won {
            self.on_election_won(pre_vote);
            return;
        }
        let term = self.campaign_term(pre_vote);
        let last_log = self.log.last_entry_id();
        for &peer in self.peers().iter() {
            self.send_with_term(
                peer,
                term,
                MessageBody::RequestVote {
                    pre_vote,
                    last_log,
                    transfer,
                },
            );
        }
    }

    /// An election after the timer fired: a pre-vote round first if enabled.
    pub(super) fn campaign_after_timeout(&mut self) {
        let kind = if self.config.pre_vote {
            CampaignKind::PreVote
        } else {
            CampaignKind::Election
        };
        self.campaign_as(kind);
    }

    fn on_election_won(&mut self, pre_vote: bool) {
        if pre_vote {
            self.campaign_as(CampaignKind::Election);
        } else {
            self.become_leader();
        }
    }

    /// Steps down to follower of `term` (or stays follower), following `leader` if
    /// known. A higher term clears the vote (Figure 2, "Rules for Servers").
    pub(super) fn become_follower(&mut self, term: Term, leader: NodeId) {
        if term > self.term {
            self.term = term;
            self.vote = NodeId::NONE;
        }
        if self.role == Role::Leader {
            self.on_leadership_lost();
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.reset_election_timer();
    }

    fn become_pre_candidate(&mut self) {
        // The term and vote stay: a pre-vote changes no persistent state.
        self.role = Role::PreCandidate;
        self.leader = NodeId::NONE;
        self.tracker.reset_votes();
        self.reset_election_timer();
    }

    fn become_candidate(&mut self) {
        self.term = self.term.next();
        self.vote = self.config.id;
        self.role = Role::Candidate;
        self.leader = NodeId::NONE;
        self.tracker.reset_votes();
        self.reset_election_timer();
    }

    /// A voter's side of RequestVote: one vote per term, only for a candidate whose
    /// log is at least as up-to-date as ours (§5.4.1).
    pub(super) fn handle_request_vote(
        &mut self,
        from: NodeId,
        term: Term,
        pre_vote: bool,
        last_log: EntryId,
    ) {
        let can_vote = self.vote == from
            || (self.vote == NodeId::NONE && self.leader == NodeId::NONE)
            || (pre_vote && term > self.term);
        let up_to_date = last_log.is_at_least_as_up_to_date_as(self.log.last_entry_id());
        if can_vote && up_to_date {
            if !pre_vote {
                self.vote = from;
                self.reset_election_timer();
            }
            // A granted pre-vote answers in the term it was asked for.
            self.send_with_term(
                from,
                term,
                MessageBody::RequestVoteResponse {
                    pre_vote,
                    granted: true,
                },
            );
        } else {
            self.send(
                from,
                MessageBody::RequestVoteResponse {
                    pre_vote,
                    granted: false,
                },
            );
        }
    }

    /// A candidate counting answers.
    pub(super) fn handle_vote_response(
        &mut self,
        from: NodeId,
        term: Term,
        pre_vote: bool,
        granted: bool,
    ) {
        let expected_role = if pre_vote {
            Role::PreCandidate
        } else {
            Role::Candidate
        };
        if self.role != expected_role || (granted && term != self.campaign_term(pre_vote)) {
            return;
        }
        match self.tracker.record_vote(from, granted) {
            VoteResult::Won => self.on_election_won(pre_vote),
            VoteResult::Lost => self.become_follower(self.term, NodeId::NONE),
            VoteResult::Pending => {}
        }
    }

    /// The leader asks us to campaign now (leadership transfer, thesis §3.10).
    pub(super) fn handle_timeout_now(&mut self, from: NodeId) {
        if self.role == Role::Follower && self.leader == from {
            self.campaign_as(CampaignKind::Transfer);
        }
    }
}
