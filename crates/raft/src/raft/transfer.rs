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
    /// Ticks since the transfer began; it is abandoned after an election timeout.
    pub elapsed_ticks: u32,
}

impl Raft {
    /// Begins (or continues) handing leadership to `to`.
    pub(super) fn start_transfer(&mut self, to: NodeId) {
        if self.transfer.is_some_and(|transfer| transfer.target == to) {
            return;
        }
        self.transfer = Some(Transfer {
            target: to,
            elapsed_ticks: 0,
        });
        if !self.maybe_finish_transfer(to) {
            self.send_appends(to);
        }
    }

    /// Abandons a transfer that did not finish within an election timeout (the target
    /// may be down), so the leader accepts proposals again.
    pub(super) fn tick_transfer(&mut self) {
        if let Some(transfer) = &mut self.transfer {
            transfer.elapsed_ticks += 1;
            if transfer.elapsed_ticks >= self.config.election_timeout_ticks {
                self.transfer = None;
            }
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
