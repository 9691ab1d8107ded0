//! Leadership transfer (thesis §3.10): bring the target up to date, then tell it to
//! campaign at once with TimeoutNow.

use super::Raft;
use crate::message::MessageBody;
use crate::types::NodeId;

/// A transfer in progress.
#[derive(Clone, Copy, Debug)]
pub struct Transfer {
    /// Who should lead next.
    pub target: NodeId,
}

impl Raft {
    /// Begins (or continues) handing leadership to `to`.
    pub(super) fn start_transfer(&mut self, to: NodeId) {
        if self.transfer.is_some_and(|transfer| transfer.target == to) {
            return;
        }
        self.transfer = Some(Transfer { target: to });
        // The transfer must finish within an election timeout (see `tick_leader`).
        self.election_elapsed = 0;
        if !self.maybe_finish_transfer(to) {
            self.send_appends(to);
        }
    }

    /// Sends TimeoutNow if `peer` is the transfer target and holds our whole log.
    pub(super) fn maybe_finish_transfer(&mut self, peer: NodeId) -> bool {
        let Some(transfer) = self.transfer else {
            return false;
        };
        let caught_up = self
            .tracker
            .progress
            .get(&peer)
            .is_some_and(|progress| progress.match_index == self.log.last_index());
        if transfer.target != peer || !caught_up {
            return false;
        }
        self.send(peer, MessageBody::TimeoutNow);
        true
    }
}
