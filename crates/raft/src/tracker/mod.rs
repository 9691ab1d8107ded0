//! The leader's bookkeeping over all voters: replication progress and election votes.

pub mod inflights;
pub mod progress;

use crate::quorum::{JointConfig, VoteResult};
use crate::types::{Index, NodeId};
use progress::Progress;
use std::collections::BTreeMap;

/// Progress and votes for every voter of the configuration.
#[derive(Clone, Debug)]
pub struct ProgressTracker {
    /// Who votes.
    pub config: JointConfig,
    /// One entry per voter (including this node).
    pub progress: BTreeMap<NodeId, Progress>,
    /// Votes received in the current (pre-)election: true for granted.
    pub votes: BTreeMap<NodeId, bool>,
    max_inflight_messages: usize,
    max_inflight_bytes: usize,
}

impl ProgressTracker {
    /// A tracker for these voters with the given per-follower window bounds.
    pub fn new(
        config: JointConfig,
        max_inflight_messages: usize,
        max_inflight_bytes: usize,
    ) -> ProgressTracker {
        let mut tracker = ProgressTracker {
            config,
            progress: BTreeMap::new(),
            votes: BTreeMap::new(),
            max_inflight_messages,
            max_inflight_bytes,
        };
        tracker.reset_progress(Index(1));
        tracker
    }

    /// Resets every voter's progress to probe from `next_index` (a new leader, §5.3).
    pub fn reset_progress(&mut self, next_index: Index) {
        let (messages, bytes) = (self.max_inflight_messages, self.max_inflight_bytes);
        self.progress = self
            .config
            .voters()
            .into_iter()
            .map(|id| (id, Progress::new(next_index, messages, bytes)))
            .collect();
    }

    /// The highest index replicated on a quorum.
    pub fn committed_index(&self) -> Index {
        self.config.committed_index(|id| {
            self.progress
                .get(&id)
                .map_or(Index::ZERO, |p| p.match_index)
        })
    }

    /// Forgets all votes (a new election begins).
    pub fn reset_votes(&mut self) {
        self.votes.clear();
    }

    /// Records `id`'s answer (first answer wins) and returns the tally.
    pub fn record_vote(&mut self, id: NodeId, granted: bool) -> VoteResult {
        self.votes.entry(id).or_insert(granted);
        self.tally_votes()
    }

    /// The current tally.
    pub fn tally_votes(&self) -> VoteResult {
        self.config.vote_result(|id| self.votes.get(&id).copied())
    }

    /// True if the voters marked recently active (plus `self_id`) form a quorum; then
    /// clears the marks for the next round (check-quorum, thesis §6.2).
    pub fn quorum_recently_active(&mut self, self_id: NodeId) -> bool {
        let active =
            |id: NodeId| id == self_id || self.progress.get(&id).is_some_and(|p| p.recently_active);
        let result = self.config.has_quorum(active);
        for progress in self.progress.values_mut() {
            progress.recently_active = false;
        }
        result
    }
}
