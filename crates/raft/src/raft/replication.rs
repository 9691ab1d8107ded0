//! The leader: heartbeats, check-quorum, log replication with pipelining and fast
//! backup (§5.3), and advancing the commit index by counting current-term replicas
//! (§5.4.2).

use super::Raft;
use crate::config::Canary;
use crate::entry::Entry;
use crate::message::{ConflictHint, MessageBody};
use crate::ready::Role;
use crate::tracker::progress::ReplicationState;
use crate::types::{EntryId, Index, NodeId};

impl Raft {
    /// Takes leadership of the current term.
    pub(super) fn become_leader(&mut self) {
        assert_eq!(
            self.role,
            Role::Candidate,
            "only a candidate that won can lead"
        );
        self.role = Role::Leader;
        self.leader = self.config.id;
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
        self.uncommitted_bytes = 0;
        self.tracker.reset_progress(self.log.last_index().next());
        let persisted = self.log.persisted;
        for progress in self.tracker.progress.values_mut() {
            progress.recently_active = true;
        }
        let own = self
            .tracker
            .progress
            .get_mut(&self.config.id)
            .expect("leader is a voter");
        own.maybe_update(persisted);
        own.become_replicate();
        if self.config.leader_empty_entry {
            // Commit an entry of our own term as soon as possible: it commits every
            // earlier entry (§5.4.2) and lets ReadIndex serve reads (§8).
            let entry = Entry::empty(self.term, self.log.last_index().next());
            self.append_as_leader(entry);
        }
        self.broadcast_append_or_heartbeat();
        self.maybe_commit();
    }

    /// Cleans up leader-only state when stepping down.
    pub(super) fn on_leadership_lost(&mut self) {
        self.transfer = None;
        self.uncommitted_bytes = 0;
        self.append_pending = false;
        self.read_only.reset();
    }

    /// A leader tick: heartbeats, and every election timeout the check-quorum round
    /// (thesis §6.2) and the leadership-transfer deadline.
    pub(super) fn tick_leader(&mut self) {
        self.heartbeat_elapsed += 1;
        self.election_elapsed += 1;
        if self.election_elapsed >= self.config.election_timeout_ticks {
            self.election_elapsed = 0;
            if self.config.check_quorum && !self.tracker.quorum_recently_active(self.config.id) {
                self.become_follower(self.term, NodeId::NONE);
                return;
            }
        }
        self.tick_transfer();
        if self.heartbeat_elapsed >= self.config.heartbeat_interval_ticks {
            self.heartbeat_elapsed = 0;
            self.on_heartbeat_interval();
        }
    }

    /// Appends a new entry to the leader's log; followers get it with the next `Ready`
    /// so that proposals arriving together travel in one AppendEntries.
    pub(super) fn append_as_leader(&mut self, entry: Entry) {
        self.uncommitted_bytes += entry.size_bytes();
        self.log.append([entry]);
        self.append_pending = true;
    }

    /// Sends new entries to every follower that can take them.
    pub(super) fn broadcast_append(&mut self) {
        for &peer in self.peers().iter() {
            self.send_appends(peer);
        }
    }

    fn broadcast_append_or_heartbeat(&mut self) {
        for &peer in self.peers().iter() {
            if !self.maybe_send_append(peer, true) {
                self.send_heartbeat(peer);
            }
        }
    }

    /// Fills `to`'s in-flight window with entries it lacks.
    pub(super) fn send_appends(&mut self, to: NodeId) {
        while self.maybe_send_append(to, false) {}
    }

    /// Sends one AppendEntries (or starts a snapshot) to `to` unless its window is full.
    /// With `allow_empty`, sends even if there is nothing new (a probe). Returns true if
    /// it sent AppendEntries.
    pub(super) fn maybe_send_append(&mut self, to: NodeId, allow_empty: bool) -> bool {
        let Some(progress) = self.tracker.progress.get(&to) else {
            return false;
        };
        if progress.is_paused() {
            return false;
        }
        let next = progress.next_index;
        let max_bytes = progress
            .inflights
            .free_bytes()
            .min(self.config.max_message_bytes);
        let Some(prev_term) = self.log.term_at(next.prev()) else {
            // The entries it needs are compacted: it needs the snapshot (§7).
            self.start_snapshot(to);
            return false;
        };
        let entries = self.log.entries_from(next, max_bytes);
        if entries.is_empty() && !allow_empty {
            return false;
        }
        let prev_log = EntryId {
            term: prev_term,
            index: next.prev(),
        };
        let last = entries.last().map_or(prev_log.index, |entry| entry.index);
        let bytes = entries.iter().map(Entry::size_bytes).sum();
        let leader_commit = self.log.commit;
        let read_round = self.read_only.current_round();
        self.send(
            to,
            MessageBody::AppendEntries {
                prev_log,
                entries,
                leader_commit,
                read_round,
            },
        );
        self.tracker
            .progress
            .get_mut(&to)
            .expect("checked above")
            .on_entries_sent(last, bytes);
        true
    }

    /// A heartbeat: an empty AppendEntries anchored at the follower's match point, so
    /// it always passes the consistency check and carries the commit index safely.
    pub(super) fn send_heartbeat(&mut self, to: NodeId) {
        let Some(progress) = self.tracker.progress.get(&to) else {
            return;
        };
        let prev_log = self
            .log
            .entry_id_at(progress.match_index)
            .unwrap_or_default();
        let leader_commit = self.log.commit.min(prev_log.index);
        let read_round = self.read_only.current_round();
        self.send(
            to,
            MessageBody::AppendEntries {
                prev_log,
                entries: Vec::new(),
                leader_commit,
                read_round,
            },
        );
    }

    fn on_heartbeat_interval(&mut self) {
        for &peer in self.peers().iter() {
            self.recover_stalled_replication(peer);
            let probing =
                self.tracker.progress.get(&peer).is_some_and(|progress| {
                    matches!(progress.state, ReplicationState::Probe { .. })
                });
            // A probe is itself an AppendEntries and serves as the heartbeat; sending
            // both would let the heartbeat's answer end probing and resend the probe.
            if !(probing && self.maybe_send_append(peer, true)) {
                self.send_heartbeat(peer);
                self.send_appends(peer);
            }
        }
    }

    /// Once per heartbeat: unpause a probe, resend an unanswered snapshot chunk, and
    /// restart a pipeline that made no progress since the last heartbeat (its messages
    /// were probably lost).
    fn recover_stalled_replication(&mut self, peer: NodeId) {
        let Some(progress) = self.tracker.progress.get_mut(&peer) else {
            return;
        };
        let stalled = progress.match_index == progress.match_at_last_heartbeat;
        progress.match_at_last_heartbeat = progress.match_index;
        match &mut progress.state {
            ReplicationState::Probe { .. } => progress.unpause_probe(),
            ReplicationState::Replicate if stalled && !progress.inflights.is_empty() => {
                progress.become_probe(progress.match_index.next());
            }
            ReplicationState::Replicate => {}
            ReplicationState::Snapshot {
                chunk_in_flight, ..
            } => {
                if std::mem::take(chunk_in_flight) {
                    self.send_snapshot_chunk(peer);
                }
            }
        }
    }

    /// The leader's side of AppendEntries.
    pub(super) fn handle_append_response(
        &mut self,
        from: NodeId,
        success: bool,
        match_index: Index,
        conflict: Option<ConflictHint>,
        read_round: u64,
    ) {
        let last_index = self.log.last_index();
        let Some(progress) = self.tracker.progress.get_mut(&from) else {
            return;
        };
        progress.recently_active = true;
        if read_round > 0 {
            self.on_read_round_acked(from, read_round);
        }
        if success {
            if match_index <= last_index {
                self.on_append_accepted(from, match_index);
            }
        } else if let Some(hint) = conflict {
            self.on_append_rejected(from, hint);
        }
    }

    fn on_append_accepted(&mut self, from: NodeId, match_index: Index) {
        let progress = self
            .tracker
            .progress
            .get_mut(&from)
            .expect("caller checked");
        let updated = progress.maybe_update(match_index);
        let probing = matches!(progress.state, ReplicationState::Probe { .. });
        if probing && (updated || progress.match_index.next() == progress.next_index) {
            // The follower's position is known: stream from there.
            progress.become_replicate();
        }
        if updated {
            // The quorum index cannot pass the commit index unless this ack does.
            if match_index > self.log.commit {
                self.maybe_commit();
            }
            self.maybe_finish_transfer(from);
        }
        self.send_appends(from);
    }

    /// Fast backup: jump over the follower's divergent term in one round trip.
    fn on_append_rejected(&mut self, from: NodeId, hint: ConflictHint) {
        // A hint beyond our log can only come from a faulty peer; clamp it.
        let next = self
            .log
            .next_index_after_conflict(hint)
            .min(self.log.last_index().next());
        let progress = self
            .tracker
            .progress
            .get_mut(&from)
            .expect("caller checked");
        // Ignore answers to messages already superseded: with pipelining (or a network
        // that reorders) each stale rejection would otherwise restart the backup.
        let stale = match progress.state {
            // Pipelined messages have prev_log in (match, next); anything else is old.
            ReplicationState::Replicate => {
                hint.rejected <= progress.match_index || hint.rejected >= progress.next_index
            }
            ReplicationState::Probe { .. } => hint.rejected.next() != progress.next_index,
            ReplicationState::Snapshot { .. } => true,
        };
        if stale {
            return;
        }
        progress.become_probe(next);
        self.maybe_send_append(from, true);
    }

    /// Advances the commit index to the highest index a quorum holds, but only if that
    /// entry is of the current term: an older entry may be replicated on a majority and
    /// still be overwritten (Figure 8, §5.4.2). Older entries commit indirectly.
    pub(super) fn maybe_commit(&mut self) {
        let quorum_index = self.tracker.committed_index();
        if quorum_index <= self.log.commit {
            return;
        }
        let of_current_term = self.log.term_at(quorum_index) == Some(self.term);
        let canary = self.config.canary == Canary::CommitPreviousTermByCounting;
        if !of_current_term && !canary {
            return;
        }
        let previous = self.log.commit;
        self.log.commit_to(quorum_index);
        self.on_commit_advanced(previous);
    }

    fn on_commit_advanced(&mut self, previous: Index) {
        let committed_own_bytes: usize = (previous.0 + 1..=self.log.commit.0)
            .filter_map(|index| self.log.entry(Index(index)))
            .filter(|entry| entry.term == self.term)
            .map(Entry::size_bytes)
            .sum();
        self.uncommitted_bytes = self.uncommitted_bytes.saturating_sub(committed_own_bytes);
        if self.log.term_at(previous) != Some(self.term) {
            self.on_first_commit_of_term();
        }
    }
}
