//! The consensus state machine. This file holds the node's state and its public API;
//! role logic lives in `election.rs` (followers, candidates, votes), `replication.rs`
//! (the leader), `append.rs` (a follower receiving entries), `snapshot.rs`,
//! `transfer.rs` and `reads.rs`.

mod append;
mod election;
mod invariants;
mod outbox;
mod reads;
mod replication;
mod snapshot;
mod step;
mod transfer;

use crate::config::Config;
use crate::entry::{Entry, Snapshot, SnapshotMeta};
use crate::error::{ConfigError, ProposeError, ReadIndexError, SnapshotError, TransferError};
use crate::log::RaftLog;
use crate::message::{Message, MessageBody};
use crate::quorum::JointConfig;
use crate::read_only::ReadOnly;
use crate::ready::{Apply, PeerStatus, ReadState, Ready, Role, Status};
use crate::storage::{HardState, PersistId, PersistRequest, RecoveredState};
use crate::tracker::ProgressTracker;
use crate::types::{EntryId, Index, NodeId, Term};
use bytes::Bytes;
use outbox::Outbox;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use snapshot::IncomingSnapshot;
use std::sync::Arc;
use transfer::Transfer;

/// One Raft node's consensus state machine: no IO, no clock, no OS randomness.
pub struct Raft {
    /// Static settings.
    config: Config,
    /// The latest term seen (Figure 2, `currentTerm`). Never decreases.
    term: Term,
    /// The candidate voted for in `term`, or `NodeId::NONE` (Figure 2, `votedFor`).
    vote: NodeId,
    /// The role played in `term`.
    role: Role,
    /// The leader of `term` as far as this node knows, or `NodeId::NONE`.
    leader: NodeId,
    /// The log, with commit / applied / persisted indexes.
    log: RaftLog,
    /// Voters, replication progress (leader) and votes (candidate).
    tracker: ProgressTracker,
    /// Source of randomized election timeouts, seeded from the config.
    rng: ChaCha8Rng,
    /// Ticks since the election timer was reset (followers, candidates) or since the
    /// last check-quorum round (leaders).
    election_elapsed: u32,
    /// Ticks since the last heartbeat broadcast (leaders).
    heartbeat_elapsed: u32,
    /// The current randomized election timeout, in
    /// `[election_timeout_ticks, 2 * election_timeout_ticks)`.
    randomized_election_timeout: u32,
    /// ReadIndex bookkeeping (leaders).
    read_only: ReadOnly,
    /// Reads confirmed and not yet handed out.
    read_states: Vec<ReadState>,
    /// A leadership transfer in progress (leaders).
    transfer: Option<Transfer>,
    /// Bytes of entries this leader proposed that are not committed yet.
    uncommitted_bytes: usize,
    /// A snapshot being received in chunks (followers).
    incoming_snapshot: Option<IncomingSnapshot>,
    /// Messages to send, and those held until writes are durable.
    outbox: Outbox,
    /// The hard state last included in a persist request.
    issued_hard_state: HardState,
    /// Proposals arrived since the last `Ready`: followers get them in one batch.
    append_pending: bool,
    /// The other voters, derived from `tracker.config` and cached because every
    /// broadcast walks it.
    peers: Arc<[NodeId]>,
}

impl Raft {
    /// Starts a node from its configuration and what it recovered from storage.
    pub fn new(config: Config, recovered: RecoveredState) -> Result<Raft, ConfigError> {
        config.validate()?;
        validate_recovered(&recovered)?;
        let RecoveredState {
            hard_state,
            snapshot,
            entries,
        } = recovered;
        let voters = JointConfig::single(config.voters.iter().copied());
        let peers = voters
            .voters()
            .into_iter()
            .filter(|&id| id != config.id)
            .collect();
        let tracker = ProgressTracker::new(
            voters,
            config.max_inflight_messages,
            config.max_inflight_bytes,
        );
        let mut raft = Raft {
            rng: ChaCha8Rng::seed_from_u64(config.random_seed),
            term: hard_state.term,
            vote: hard_state.vote,
            role: Role::Follower,
            leader: NodeId::NONE,
            log: RaftLog::recovered(snapshot, entries, hard_state.commit),
            tracker,
            election_elapsed: 0,
            heartbeat_elapsed: 0,
            randomized_election_timeout: config.election_timeout_ticks,
            read_only: ReadOnly::default(),
            read_states: Vec::new(),
            transfer: None,
            uncommitted_bytes: 0,
            incoming_snapshot: None,
            outbox: Outbox::default(),
            issued_hard_state: hard_state,
            append_pending: false,
            peers,
            config,
        };
        raft.reset_election_timer();
        Ok(raft)
    }

    /// Advances logical time by one tick (and frees a chunk of the entries the last
    /// compaction removed).
    pub fn tick(&mut self) {
        self.log.free_compacted();
        match self.role {
            Role::Leader => self.tick_leader(),
            _ => self.tick_election(),
        }
        self.maybe_check_invariants();
    }

    /// Starts an election now, as if the election timer had fired (with a pre-vote
    /// round first if enabled). Does nothing on a leader.
    pub fn campaign(&mut self) {
        if self.role != Role::Leader {
            self.campaign_after_timeout();
            self.maybe_check_invariants();
        }
    }

    /// Proposes a command. On success the command will be committed at the returned
    /// entry id unless leadership changes first (then it may be lost; retry).
    pub fn propose(&mut self, data: impl Into<Bytes>) -> Result<EntryId, ProposeError> {
        if self.role != Role::Leader {
            return Err(ProposeError::NotLeader {
                leader_hint: self.leader_hint(),
            });
        }
        if self.transfer.is_some() {
            return Err(ProposeError::ProposalDropped);
        }
        let entry = Entry::command(self.term, self.log.last_index().next(), data);
        let size_bytes = entry.size_bytes();
        if size_bytes > self.config.max_message_bytes {
            return Err(ProposeError::TooLarge {
                size_bytes,
                max_bytes: self.config.max_message_bytes,
            });
        }
        let max_bytes = self.config.max_uncommitted_bytes;
        if self.uncommitted_bytes > 0 && self.uncommitted_bytes + size_bytes > max_bytes {
            return Err(ProposeError::UncommittedLogFull {
                uncommitted_bytes: self.uncommitted_bytes,
                max_bytes,
            });
        }
        let id = entry.id();
        self.append_as_leader(entry);
        self.maybe_check_invariants();
        Ok(id)
    }

    /// Starts a linearizable read. Once leadership is confirmed its [`ReadState`] comes
    /// in a later `Ready`; if leadership is lost first the read is dropped silently and
    /// the caller should retry after a timeout.
    pub fn read_index(&mut self, request_id: u64) -> Result<(), ReadIndexError> {
        if self.role != Role::Leader {
            return Err(ReadIndexError::NotLeader {
                leader_hint: self.leader_hint(),
            });
        }
        self.add_read(request_id);
        Ok(())
    }

    /// Hands leadership to `to` once it has caught up (thesis §3.10). Proposals are
    /// refused meanwhile; the transfer is abandoned after an election timeout.
    pub fn transfer_leadership(&mut self, to: NodeId) -> Result<(), TransferError> {
        if self.role != Role::Leader {
            return Err(TransferError::NotLeader);
        }
        if to == self.config.id || !self.tracker.config.contains(to) {
            return Err(TransferError::InvalidTarget(to));
        }
        self.start_transfer(to);
        Ok(())
    }

    /// The application's snapshot of its state through `index` (which it has applied):
    /// the log prefix up to `index` is dropped.
    pub fn snapshot(&mut self, index: Index, data: impl Into<Bytes>) -> Result<(), SnapshotError> {
        let snapshot_index = self.log.snapshot_index();
        if index <= snapshot_index {
            return Err(SnapshotError::Compacted {
                index,
                snapshot_index,
            });
        }
        if index > self.log.applied {
            return Err(SnapshotError::NotApplied {
                index,
                applied: self.log.applied,
            });
        }
        let term = self
            .log
            .term_at(index)
            .expect("applied entries above the snapshot are held");
        let meta = SnapshotMeta {
            last_included: EntryId { term, index },
        };
        self.log.compact(Snapshot {
            meta,
            data: data.into(),
        });
        self.maybe_check_invariants();
        Ok(())
    }

    /// The transport could not deliver to `to`: stop streaming to it and probe again.
    pub fn report_unreachable(&mut self, to: NodeId) {
        if self.role == Role::Leader && to != self.config.id {
            if let Some(progress) = self.tracker.progress.get_mut(&to) {
                if progress.state == crate::tracker::progress::ReplicationState::Replicate {
                    progress.become_probe(progress.match_index.next());
                }
            }
        }
    }

    /// True if `ready()` would return work.
    pub fn has_ready(&self) -> bool {
        self.append_pending
            || self.read_only.needs_broadcast()
            || self.outbox.has_work()
            || self.hard_state_needs_persist()
            || self.log.has_unpersisted()
            || self.log.has_applicable()
            || !self.read_states.is_empty()
    }

    /// Takes the pending work; see [`Ready`] for what to do with it.
    pub fn ready(&mut self) -> Ready {
        if std::mem::take(&mut self.append_pending) {
            self.broadcast_append();
        }
        if self.read_only.needs_broadcast() {
            self.broadcast_read_round();
        }
        let persist = self.take_persist_request();
        self.outbox.assign_unassigned();
        let ready = Ready {
            persist,
            messages: self.outbox.take_ready(),
            apply: self.take_apply(),
            read_states: std::mem::take(&mut self.read_states),
        };
        self.maybe_check_invariants();
        ready
    }

    /// Acknowledges that persist request `id`, and every one before it, is durable.
    pub fn on_persisted(&mut self, id: PersistId) {
        if id > self.outbox.last_issued || id <= self.outbox.last_acked {
            return;
        }
        self.log.on_persisted(id);
        self.outbox.on_persisted(id);
        if self.role == Role::Leader {
            let persisted = self.log.persisted;
            let own = self
                .tracker
                .progress
                .get_mut(&self.config.id)
                .expect("leader tracks itself");
            if own.maybe_update(persisted) {
                self.maybe_commit();
            }
        }
        self.maybe_check_invariants();
    }

    /// This node's state, for operators and tests.
    pub fn status(&self) -> Status {
        let peers = match self.role {
            Role::Leader => self
                .tracker
                .progress
                .iter()
                .map(|(&id, progress)| PeerStatus {
                    id,
                    mode: progress.mode(),
                    match_index: progress.match_index,
                    next_index: progress.next_index,
                })
                .collect(),
            _ => Vec::new(),
        };
        Status {
            id: self.config.id,
            role: self.role,
            term: self.term,
            vote: self.vote,
            leader: self.leader_hint(),
            commit: self.log.commit,
            applied: self.log.applied,
            persisted: self.log.persisted,
            first_index: self.log.first_index(),
            last_index: self.log.last_index(),
            snapshot_index: self.log.snapshot_index(),
            peers,
        }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.config.id
    }

    /// The current term.
    pub fn term(&self) -> Term {
        self.term
    }

    /// The current role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// True if this node leads its term.
    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }

    /// The leader this node follows, if known.
    pub fn leader_hint(&self) -> Option<NodeId> {
        (self.leader != NodeId::NONE).then_some(self.leader)
    }

    /// The id of the entry at `index`, if the log holds it (or it is the snapshot's
    /// last included entry).
    pub fn entry_id_at(&self, index: Index) -> Option<EntryId> {
        self.log.entry_id_at(index)
    }

    /// The entry at `index`, if held (not compacted, not beyond the end).
    pub fn entry_at(&self, index: Index) -> Option<&Entry> {
        self.log.entry(index)
    }

    /// The latest snapshot (empty if the log was never compacted).
    pub fn latest_snapshot(&self) -> &Snapshot {
        self.log.snapshot()
    }

    /// The hard state as it is now (possibly not yet durable).
    pub fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            vote: self.vote,
            commit: self.log.commit,
        }
    }

    fn hard_state_needs_persist(&self) -> bool {
        let current = self.hard_state();
        (current.term, current.vote) != (self.issued_hard_state.term, self.issued_hard_state.vote)
    }

    /// Builds the next persist request. A change of commit alone is not worth a write
    /// (commit is not needed for safety); it rides along with the next one.
    fn take_persist_request(&mut self) -> Option<PersistRequest> {
        if !self.hard_state_needs_persist() && !self.log.has_unpersisted() {
            return None;
        }
        let id = PersistId(self.outbox.last_issued.0 + 1);
        let (snapshot, entries) = self.log.take_unpersisted(id);
        let hard_state = self.hard_state();
        let hard_state = (hard_state != self.issued_hard_state).then_some(hard_state);
        if let Some(issued) = hard_state {
            self.issued_hard_state = issued;
        }
        self.outbox.issued(id);
        Some(PersistRequest {
            id,
            snapshot,
            entries,
            hard_state,
        })
    }

    fn take_apply(&mut self) -> Vec<Apply> {
        if !self.log.has_applicable() {
            return Vec::new();
        }
        self.log.take_applicable(self.config.max_apply_bytes)
    }

    /// Sends a message from this node in the current term.
    fn send(&mut self, to: NodeId, body: MessageBody) {
        self.send_with_term(to, self.term, body);
    }

    fn send_with_term(&mut self, to: NodeId, term: Term, body: MessageBody) {
        self.outbox.push(Message {
            from: self.config.id,
            to,
            term,
            body,
        });
    }

    /// The other voters (a shared list: cloning it costs no allocation).
    fn peers(&self) -> Arc<[NodeId]> {
        Arc::clone(&self.peers)
    }

    /// Draws a new randomized election timeout and restarts the timer (§5.2).
    fn reset_election_timer(&mut self) {
        use rand::Rng;
        let base = self.config.election_timeout_ticks;
        self.election_elapsed = 0;
        self.randomized_election_timeout = self.rng.gen_range(base..2 * base);
    }
}

/// Checks that recovered state can be trusted before running on it.
fn validate_recovered(recovered: &RecoveredState) -> Result<(), ConfigError> {
    let corrupt = |what: String| Err(ConfigError::CorruptState(what));
    let snapshot = recovered.snapshot.meta.last_included;
    let mut expected = snapshot.index.next();
    let mut last_term = snapshot.term;
    for entry in &recovered.entries {
        if entry.index != expected {
            return corrupt(format!("entry {} where {expected} expected", entry.index));
        }
        if entry.term < last_term {
            return corrupt(format!(
                "entry {} has term {} below {last_term}",
                entry.index, entry.term
            ));
        }
        last_term = entry.term;
        expected = expected.next();
    }
    if recovered.hard_state.term < last_term {
        return corrupt(format!(
            "term {} below the last entry's term {last_term}",
            recovered.hard_state.term
        ));
    }
    Ok(())
}
