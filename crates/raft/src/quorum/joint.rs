//! A joint configuration: decisions need a majority of the incoming voters *and* of the
//! outgoing voters (thesis §4.3). Outside a membership change the outgoing half is empty.

use super::{MajorityConfig, VoteResult};
use crate::types::{Index, NodeId};
use std::collections::BTreeSet;

/// Two majority configurations that must both agree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JointConfig {
    /// The configuration being moved to (or the only one).
    pub incoming: MajorityConfig,
    /// The configuration being left; empty when no change is in progress.
    pub outgoing: MajorityConfig,
}

impl JointConfig {
    /// A plain (non-joint) configuration of these voters.
    pub fn single(voters: impl IntoIterator<Item = NodeId>) -> JointConfig {
        JointConfig {
            incoming: MajorityConfig::new(voters),
            outgoing: MajorityConfig::default(),
        }
    }

    /// Every voter of either half.
    pub fn voters(&self) -> BTreeSet<NodeId> {
        self.incoming
            .voters()
            .union(self.outgoing.voters())
            .copied()
            .collect()
    }

    /// True if `id` votes in either half.
    pub fn contains(&self, id: NodeId) -> bool {
        self.incoming.voters().contains(&id) || self.outgoing.voters().contains(&id)
    }

    /// The highest index committed under both halves.
    pub fn committed_index(&self, acked: impl Fn(NodeId) -> Index) -> Index {
        let incoming = self.incoming.committed_index(&acked);
        let outgoing = self.outgoing.committed_index(&acked);
        incoming.min(outgoing)
    }

    /// Won only if both halves won; lost if either lost.
    pub fn vote_result(&self, vote: impl Fn(NodeId) -> Option<bool>) -> VoteResult {
        let incoming = self.incoming.vote_result(&vote);
        let outgoing = self.outgoing.vote_result(&vote);
        match (incoming, outgoing) {
            (VoteResult::Won, VoteResult::Won) => VoteResult::Won,
            (VoteResult::Lost, _) | (_, VoteResult::Lost) => VoteResult::Lost,
            _ => VoteResult::Pending,
        }
    }

    /// True if the active voters form a quorum in both halves.
    pub fn has_quorum(&self, active: impl Fn(NodeId) -> bool) -> bool {
        self.incoming.has_quorum(&active) && self.outgoing.has_quorum(&active)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(raw: &[u64]) -> Vec<NodeId> {
        raw.iter().map(|&id| NodeId(id)).collect()
    }

    #[test]
    fn joint_commit_is_the_minimum_of_both_halves() {
        let joint = JointConfig {
            incoming: MajorityConfig::new(ids(&[1, 2, 3])),
            outgoing: MajorityConfig::new(ids(&[3, 4, 5])),
        };
        let acked = |id: NodeId| Index([0, 9, 9, 2, 1, 1][id.0 as usize]);
        assert_eq!(joint.committed_index(acked), Index(1));
        assert_eq!(
            JointConfig::single(ids(&[1, 2, 3])).committed_index(acked),
            Index(9)
        );
    }

    #[test]
    fn joint_vote_needs_both_halves() {
        let joint = JointConfig {
            incoming: MajorityConfig::new(ids(&[1, 2, 3])),
            outgoing: MajorityConfig::new(ids(&[3, 4, 5])),
        };
        let granted = |set: &'static [u64]| move |id: NodeId| Some(set.contains(&id.0));
        assert_eq!(joint.vote_result(granted(&[1, 2])), VoteResult::Lost);
        assert_eq!(joint.vote_result(granted(&[1, 3, 4])), VoteResult::Won);
        assert_eq!(joint.vote_result(|_| None), VoteResult::Pending);
    }
}
