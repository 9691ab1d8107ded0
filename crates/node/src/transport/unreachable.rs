//! Coalesced "peer unreachable" events, for the runtime to pass to
//! `raft.report_unreachable(peer)`.
//!
//! One event per peer per unreachability episode: a peer's flag is set when its event
//! is sent and cleared only when a connection to the peer completes its handshake. So
//! however long a peer stays down, it yields a single event, and the channel holds at
//! most one event per peer plus one per successful (re)connection, which backoff limits
//! in rate. One event is all the core needs: `report_unreachable` moves the peer from
//! optimistic replication to probing, where it stays until the peer answers again.

use raft::NodeId;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::mpsc;

/// The receiver of unreachable events: the ids of peers found unreachable (a connect
/// or handshake failed, a connection broke while messages were queued or being written,
/// or a message was sent during reconnection backoff).
pub type UnreachableEvents = mpsc::UnboundedReceiver<NodeId>;

/// The sending side, shared by the connection tasks and the send path.
pub(crate) struct UnreachableReporter {
    /// Per peer: an event was sent since the last successful handshake.
    reported: BTreeMap<NodeId, AtomicBool>,
    sender: mpsc::UnboundedSender<NodeId>,
}

impl UnreachableReporter {
    /// A reporter for `peers` and the receiver of its events.
    pub(crate) fn new(peers: impl Iterator<Item = NodeId>) -> (Self, UnreachableEvents) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let reported = peers.map(|id| (id, AtomicBool::new(false))).collect();
        (UnreachableReporter { reported, sender }, receiver)
    }

    /// Reports `peer` unreachable unless it was already reported in this episode.
    pub(crate) fn report(&self, peer: NodeId) {
        if let Some(flag) = self.reported.get(&peer) {
            if !flag.swap(true, Ordering::AcqRel) {
                // The receiver may be gone (the runtime stopped): nobody to tell.
                let _ = self.sender.send(peer);
            }
        }
    }

    /// A connection to `peer` completed its handshake: the episode is over.
    pub(crate) fn reachable(&self, peer: NodeId) {
        if let Some(flag) = self.reported.get(&peer) {
            flag.store(false, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_event_per_episode() {
        let (reporter, mut events) = UnreachableReporter::new([NodeId(2), NodeId(3)].into_iter());
        reporter.report(NodeId(2));
        reporter.report(NodeId(2));
        reporter.report(NodeId(3));
        reporter.report(NodeId(9)); // not a peer: ignored
        assert_eq!(events.try_recv().ok(), Some(NodeId(2)));
        assert_eq!(events.try_recv().ok(), Some(NodeId(3)));
        assert!(events.try_recv().is_err());
        reporter.report(NodeId(2));
        assert!(events.try_recv().is_err(), "same episode");
        reporter.reachable(NodeId(2));
        reporter.report(NodeId(2));
        assert_eq!(events.try_recv().ok(), Some(NodeId(2)));
    }
}
