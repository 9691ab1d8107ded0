//! What a leader knows about one follower's log, and the transitions between the ways
//! it replicates to it.

use super::inflights::Inflights;
use crate::types::{EntryId, Index};

/// How the leader currently replicates to a follower.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplicationState {
    /// The follower's log position is unknown: send one AppendEntries at a time and wait.
    Probe {
        /// True after a probe was sent; cleared by a response or the next heartbeat.
        paused: bool,
    },
    /// The follower is known to match: stream entries optimistically (pipelining).
    Replicate,
    /// The follower needs a snapshot; chunks are sent one at a time.
    Snapshot {
        /// The snapshot being sent.
        last_included: EntryId,
        /// Bytes of it acknowledged by the follower so far.
        acked_offset: u64,
        /// True while a chunk is awaiting its response.
        chunk_in_flight: bool,
    },
}

/// The leader's view of one follower (Figure 2, "volatile state on leaders").
///
/// Invariant: `match_index < next_index`.
#[derive(Clone, Debug)]
pub struct Progress {
    /// Highest index known to be replicated on the follower.
    pub match_index: Index,
    /// Next index to send.
    pub next_index: Index,
    /// Replication mode.
    pub state: ReplicationState,
    /// AppendEntries in flight (used in `Replicate`).
    pub inflights: Inflights,
    /// The follower sent us something since the last check-quorum round.
    pub recently_active: bool,
    /// `match_index` at the previous heartbeat, to detect a stalled pipeline.
    pub match_at_last_heartbeat: Index,
}

impl Progress {
    /// A fresh progress for a follower, probing from `next_index`.
    pub fn new(
        next_index: Index,
        max_inflight_messages: usize,
        max_inflight_bytes: usize,
    ) -> Progress {
        Progress {
            match_index: Index::ZERO,
            next_index,
            state: ReplicationState::Probe { paused: false },
            inflights: Inflights::new(max_inflight_messages, max_inflight_bytes),
            recently_active: false,
            match_at_last_heartbeat: Index::ZERO,
        }
    }

    /// Switches to probing from `next_index`, forgetting anything in flight.
    pub fn become_probe(&mut self, next_index: Index) {
        self.state = ReplicationState::Probe { paused: false };
        self.next_index = next_index.max(self.match_index.next());
        self.inflights.reset();
    }

    /// Switches to pipelined replication right after the match point.
    pub fn become_replicate(&mut self) {
        self.state = ReplicationState::Replicate;
        self.next_index = self.match_index.next();
        self.inflights.reset();
    }

    /// Switches to sending the snapshot ending at `last_included`.
    pub fn become_snapshot(&mut self, last_included: EntryId) {
        self.state = ReplicationState::Snapshot {
            last_included,
            acked_offset: 0,
            chunk_in_flight: false,
        };
        self.inflights.reset();
    }

    /// Records that the follower holds everything up to `index`. Returns true if this
    /// is news.
    pub fn maybe_update(&mut self, index: Index) -> bool {
        if index <= self.match_index {
            return false;
        }
        self.match_index = index;
        self.next_index = self.next_index.max(index.next());
        self.inflights.free_up_to(index);
        true
    }

    /// True if nothing may be sent to this follower right now.
    pub fn is_paused(&self) -> bool {
        match &self.state {
            ReplicationState::Probe { paused } => *paused,
            ReplicationState::Replicate => self.inflights.is_full(),
            ReplicationState::Snapshot { .. } => true,
        }
    }

    /// Records that an AppendEntries carrying entries up to `last_index` (`bytes` of
    /// them) was sent.
    pub fn on_entries_sent(&mut self, last_index: Index, bytes: usize) {
        match &mut self.state {
            ReplicationState::Probe { paused } => *paused = true,
            ReplicationState::Replicate => {
                if last_index >= self.next_index {
                    self.next_index = last_index.next();
                    self.inflights.add(last_index, bytes);
                }
            }
            ReplicationState::Snapshot { .. } => {}
        }
    }

    /// The replication mode, for status reports.
    pub fn mode(&self) -> crate::ready::ReplicationMode {
        match self.state {
            ReplicationState::Probe { .. } => crate::ready::ReplicationMode::Probe,
            ReplicationState::Replicate => crate::ready::ReplicationMode::Replicate,
            ReplicationState::Snapshot { .. } => crate::ready::ReplicationMode::Snapshot,
        }
    }

    /// Clears a probe's pause, so the next opportunity sends again (a heartbeat tick).
    pub fn unpause_probe(&mut self) {
        if let ReplicationState::Probe { paused } = &mut self.state {
            *paused = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicate_advances_next_optimistically_and_acks_free_window() {
        let mut progress = Progress::new(Index(5), 2, 1 << 20);
        progress.maybe_update(Index(4));
        progress.become_replicate();
        assert_eq!(progress.next_index, Index(5));
        progress.on_entries_sent(Index(7), 30);
        progress.on_entries_sent(Index(9), 20);
        assert_eq!(progress.next_index, Index(10));
        assert!(progress.is_paused(), "window of 2 messages is full");
        assert!(progress.maybe_update(Index(7)));
        assert!(!progress.is_paused());
        assert!(!progress.maybe_update(Index(6)), "stale ack is not news");
    }

    #[test]
    fn probe_sends_one_message_at_a_time() {
        let mut progress = Progress::new(Index(3), 8, 1 << 20);
        assert!(!progress.is_paused());
        progress.on_entries_sent(Index(3), 10);
        assert!(progress.is_paused());
        assert_eq!(
            progress.next_index,
            Index(3),
            "probing does not advance next"
        );
        progress.unpause_probe();
        assert!(!progress.is_paused());
    }

    #[test]
    fn become_probe_never_goes_below_match() {
        let mut progress = Progress::new(Index(10), 8, 1 << 20);
        progress.maybe_update(Index(6));
        progress.become_probe(Index(2));
        assert_eq!(progress.next_index, Index(7));
    }
}
