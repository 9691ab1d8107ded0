//! One majority configuration: a set of voters, any majority of which decides.

use super::VoteResult;
use crate::types::{Index, NodeId};
use std::collections::BTreeSet;

/// A set of voters; decisions need a strict majority of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MajorityConfig {
    voters: BTreeSet<NodeId>,
}

impl MajorityConfig {
    /// A configuration of these voters.
    pub fn new(voters: impl IntoIterator<Item = NodeId>) -> MajorityConfig {
        MajorityConfig {
            voters: voters.into_iter().collect(),
        }
    }

    /// The voters, in id order.
    pub fn voters(&self) -> &BTreeSet<NodeId> {
        &self.voters
    }

    /// How many voters make a majority.
    pub fn quorum_size(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// The highest index held by a majority, given each voter's acknowledged index.
    /// An empty configuration commits everything (it places no constraint), which makes
    /// it neutral in a joint configuration.
    pub fn committed_index(&self, acked: impl Fn(NodeId) -> Index) -> Index {
        if self.voters.is_empty() {
            return Index(u64::MAX);
        }
        // Sorted descending, the quorum_size-th value is held by at least a majority.
        // Clusters of up to 7 voters sort on the stack: this runs on every ack.
        let mut on_stack = [Index::ZERO; 7];
        let mut on_heap = Vec::new();
        let indexes: &mut [Index] = if self.voters.len() <= on_stack.len() {
            &mut on_stack[..self.voters.len()]
        } else {
            on_heap.resize(self.voters.len(), Index::ZERO);
            &mut on_heap
        };
        for (slot, &id) in indexes.iter_mut().zip(&self.voters) {
            *slot = acked(id);
        }
        indexes.sort_unstable_by(|a, b| b.cmp(a));
        indexes[self.quorum_size() - 1]
    }

    /// Counts votes: `vote(id)` is Some(true) for granted, Some(false) for rejected,
    /// None for not yet answered. An empty configuration wins (neutral).
    pub fn vote_result(&self, vote: impl Fn(NodeId) -> Option<bool>) -> VoteResult {
        if self.voters.is_empty() {
            return VoteResult::Won;
        }
        let (mut granted, mut missing) = (0, 0);
        for &id in &self.voters {
            match vote(id) {
                Some(true) => granted += 1,
                Some(false) => {}
                None => missing += 1,
            }
        }
        let quorum = self.quorum_size();
        if granted >= quorum {
            VoteResult::Won
        } else if granted + missing >= quorum {
            VoteResult::Pending
        } else {
            VoteResult::Lost
        }
    }

    /// True if the voters for which `active(id)` holds form a majority.
    pub fn has_quorum(&self, active: impl Fn(NodeId) -> bool) -> bool {
        let vote = |id| Some(active(id));
        self.vote_result(vote) == VoteResult::Won
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(ids: &[u64]) -> MajorityConfig {
        MajorityConfig::new(ids.iter().map(|&id| NodeId(id)))
    }

    #[test]
    fn committed_index_is_the_majority_minimum() {
        let acked = |id: NodeId| Index([0, 5, 3, 9, 1, 7][id.0 as usize]);
        assert_eq!(config(&[1]).committed_index(acked), Index(5));
        assert_eq!(config(&[1, 2]).committed_index(acked), Index(3));
        assert_eq!(config(&[1, 2, 3]).committed_index(acked), Index(5));
        assert_eq!(config(&[1, 2, 3, 4]).committed_index(acked), Index(3));
        assert_eq!(config(&[1, 2, 3, 4, 5]).committed_index(acked), Index(5));
    }

    #[test]
    fn vote_result_decides_as_soon_as_possible() {
        let five = config(&[1, 2, 3, 4, 5]);
        let votes = |granted: &'static [u64], rejected: &'static [u64]| {
            move |id: NodeId| {
                if granted.contains(&id.0) {
                    Some(true)
                } else if rejected.contains(&id.0) {
                    Some(false)
                } else {
                    None
                }
            }
        };
        assert_eq!(five.vote_result(votes(&[1, 2], &[])), VoteResult::Pending);
        assert_eq!(five.vote_result(votes(&[1, 2, 3], &[])), VoteResult::Won);
        assert_eq!(five.vote_result(votes(&[1], &[2, 3])), VoteResult::Pending);
        assert_eq!(five.vote_result(votes(&[1], &[2, 3, 4])), VoteResult::Lost);
    }

    #[test]
    fn empty_config_is_neutral() {
        let empty = config(&[]);
        assert_eq!(empty.committed_index(|_| Index(0)), Index(u64::MAX));
        assert_eq!(empty.vote_result(|_| None), VoteResult::Won);
    }
}
