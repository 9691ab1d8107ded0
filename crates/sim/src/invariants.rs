//! Safety checkers run after every simulated event. Each check is O(1) or proportional
//! to the data the event touched, so they stay on in every run.
//!
//! - Election safety: at most one leader per term, over the whole history.
//! - Log matching: every durable entry gets a chain hash `h(prev chain, term, payload)`;
//!   two nodes holding the same `EntryId` must hold the same chain hash.
//! - Leader completeness: a new leader of term T holds every entry known committed in
//!   a term below T (unless compacted into its snapshot).
//! - State-machine safety: no two nodes apply different data at one index.
//! - Monotonicity: term never decreases within an incarnation nor below the durable term
//!   across restarts; hard state moves forward; applies are gapless and increasing.
//! - Persist before you promise: vote grants and append acknowledgements only leave a
//!   node once what they promise is durable.

use crate::rng::mix;
use crate::trace::hash_bytes;
use raft::{
    Apply, Entry, EntryId, EntryPayload, HardState, Index, Message, MessageBody, NodeId,
    PersistRequest, Raft, RecoveredState, Term,
};
use std::collections::{BTreeMap, HashMap};

/// Hash of an entry's payload, never 0 (0 marks "nothing applied").
fn payload_hash(entry: &Entry) -> u64 {
    match &entry.payload {
        EntryPayload::Empty => 0x5eed_0000_0000_0001,
        EntryPayload::Command(data) => hash_bytes(data) | 2,
    }
}

/// The chain hash of `entry` following a log whose chain hash is `prev`.
fn chain_hash(prev: u64, entry: &Entry) -> u64 {
    mix(mix(prev, entry.term.0), payload_hash(entry))
}

/// Chain hashes mirroring one node's durable log (same shape as its `RecoveredState`).
#[derive(Clone, Debug, Default)]
struct LogShadow {
    /// Index of the durable snapshot.
    base: u64,
    /// Chain hash of the snapshot's last included entry.
    base_hash: u64,
    /// Chain hash of each durable entry after the snapshot.
    hashes: Vec<u64>,
}

/// What the checkers remember about one node.
#[derive(Clone, Debug, Default)]
struct NodeTrack {
    /// Term seen after the last event, in this incarnation.
    term: Term,
    /// Last index handed to the state machine in this incarnation.
    applied: u64,
    /// Last hard state submitted to the disk (or recovered) in this incarnation.
    hard_state: HardState,
    /// Highest term ever durable on this node's disk.
    durable_term: Term,
}

/// All checker state of one simulation.
#[derive(Default)]
pub struct Invariants {
    leaders: HashMap<Term, NodeId>,
    chains: HashMap<EntryId, u64>,
    shadows: Vec<LogShadow>,
    applied_values: Vec<u64>,
    /// For each term T: the highest entry known committed in a term <= T (the term of
    /// a node at the moment it applied the entry bounds the term it was committed in).
    commit_bounds: BTreeMap<Term, EntryId>,
    nodes: Vec<NodeTrack>,
    /// Number of individual checks run.
    pub checks: u64,
    /// Number of distinct (term, leader) pairs seen.
    pub elections: u64,
}

type Check = Result<(), String>;

impl Invariants {
    /// Checkers for `servers` nodes.
    pub fn new(servers: usize) -> Invariants {
        Invariants {
            shadows: vec![LogShadow::default(); servers],
            nodes: vec![NodeTrack::default(); servers],
            ..Invariants::default()
        }
    }

    /// Node `n` (re)started from `recovered` as `raft`.
    pub fn on_start(&mut self, n: usize, recovered: &RecoveredState, raft: &Raft) -> Check {
        self.checks += 1;
        let track = &mut self.nodes[n];
        if raft.term() < track.durable_term {
            return Err(format!(
                "[monotonic term] node {} restarted at {} below its durable term {}",
                n + 1,
                raft.term(),
                track.durable_term
            ));
        }
        track.term = raft.term();
        track.applied = recovered.snapshot.meta.last_included.index.0;
        track.hard_state = recovered.hard_state;
        Ok(())
    }

    /// After every event that touched node `n`: term monotonicity, election safety and,
    /// for a fresh leader, leader completeness. Returns true if `n` just became leader.
    pub fn after_event(&mut self, n: usize, raft: &Raft) -> Result<bool, String> {
        self.checks += 1;
        let term = raft.term();
        let track = &mut self.nodes[n];
        if term < track.term {
            return Err(format!(
                "[monotonic term] node {} went from {} back to {}",
                n + 1,
                track.term,
                term
            ));
        }
        track.term = term;
        if !raft.is_leader() {
            return Ok(false);
        }
        let id = NodeId(n as u64 + 1);
        match self.leaders.get(&term) {
            Some(&other) if other != id => Err(format!(
                "[election safety] two leaders in {term}: {other} and {id}"
            )),
            Some(_) => Ok(false),
            None => {
                self.leaders.insert(term, id);
                self.elections += 1;
                self.check_leader_completeness(n, term, raft)?;
                Ok(true)
            }
        }
    }

    fn check_leader_completeness(&mut self, n: usize, term: Term, raft: &Raft) -> Check {
        self.checks += 1;
        let Some(committed) = self.highest_committed_before(term) else {
            return Ok(());
        };
        match raft.entry_id_at(committed.index) {
            Some(held) if held == committed => Ok(()),
            Some(held) => Err(format!(
                "[leader completeness] node {} leads {term} holding {held} where {committed} is committed",
                n + 1
            )),
            None if raft.status().snapshot_index >= committed.index => Ok(()),
            None => Err(format!(
                "[leader completeness] node {} leads {term} without committed entry {committed}",
                n + 1
            )),
        }
    }

    fn highest_committed_before(&self, term: Term) -> Option<EntryId> {
        self.commit_bounds
            .range(..term)
            .map(|(_, id)| *id)
            .max_by_key(|id| id.index)
    }

    /// Node `n` submits `request` to its disk: the hard state must move forward.
    pub fn on_persist_submit(&mut self, n: usize, request: &PersistRequest) -> Check {
        self.checks += 1;
        let Some(new) = request.hard_state else {
            return Ok(());
        };
        let old = self.nodes[n].hard_state;
        let who = n + 1;
        if new.term < old.term {
            return Err(format!("[hard state] node {who} persists {} after {}", new.term, old.term));
        }
        if new.term == old.term && old.vote != NodeId::NONE && new.vote != old.vote {
            return Err(format!(
                "[hard state] node {who} changes its vote in {} from {} to {}",
                new.term, old.vote, new.vote
            ));
        }
        if new.commit < old.commit {
            return Err(format!("[hard state] node {who} persists commit {} after {}", new.commit, old.commit));
        }
        self.nodes[n].hard_state = new;
        Ok(())
    }

    /// Node `n`'s write `request` becomes durable on top of `before`: extend the chain
    /// hashes and compare them with every other node's (log matching).
    pub fn on_durable(&mut self, n: usize, before: &RecoveredState, request: &PersistRequest) -> Check {
        self.checks += 1;
        if let Some(hard_state) = request.hard_state {
            let track = &mut self.nodes[n];
            track.durable_term = track.durable_term.max(hard_state.term);
        }
        if let Some(snapshot) = &request.snapshot {
            self.shadow_install_snapshot(n, before, snapshot.meta.last_included);
        }
        if !request.entries.is_empty() {
            self.shadow_append(n, &request.entries)?;
        }
        Ok(())
    }

    fn shadow_install_snapshot(&mut self, n: usize, before: &RecoveredState, last: EntryId) {
        let shadow = &mut self.shadows[n];
        let old_first = before.snapshot.meta.last_included.index.0 + 1;
        let held = last.index.0 >= old_first
            && before
                .entries
                .get((last.index.0 - old_first) as usize)
                .is_some_and(|e| e.term == last.term);
        if held {
            let k = (last.index.0 - old_first) as usize;
            shadow.base_hash = shadow.hashes[k];
            shadow.hashes.drain(..=k);
        } else {
            // A committed entry is durable on a majority, so its chain hash is known;
            // otherwise anchor the chain at the snapshot itself.
            let anchor = mix(last.term.0, last.index.0);
            shadow.base_hash = *self.chains.entry(last).or_insert(anchor);
            shadow.hashes.clear();
        }
        shadow.base = last.index.0;
    }

    fn shadow_append(&mut self, n: usize, entries: &[Entry]) -> Check {
        let shadow = &mut self.shadows[n];
        let first = entries[0].index.0;
        if first <= shadow.base {
            return Err(format!(
                "[log] node {} writes entry {} at or below its durable snapshot {}",
                n + 1,
                first,
                shadow.base
            ));
        }
        let keep = (first - shadow.base - 1) as usize;
        if keep > shadow.hashes.len() {
            return Err(format!(
                "[log] node {} writes entry {first} after a gap (durable log ends at {})",
                n + 1,
                shadow.base + shadow.hashes.len() as u64
            ));
        }
        shadow.hashes.truncate(keep);
        let mut prev = shadow.hashes.last().copied().unwrap_or(shadow.base_hash);
        for (k, entry) in entries.iter().enumerate() {
            if entry.index.0 != first + k as u64 {
                return Err(format!("[log] node {} writes non-contiguous entries", n + 1));
            }
            let hash = chain_hash(prev, entry);
            let known = *self.chains.entry(entry.id()).or_insert(hash);
            if known != hash {
                return Err(format!(
                    "[log matching] node {} holds {} with a different log prefix than another node",
                    n + 1,
                    entry.id()
                ));
            }
            shadow.hashes.push(hash);
            prev = hash;
        }
        Ok(())
    }

    /// Node `n`, currently in `term`, hands `apply` to its state machine.
    pub fn on_apply(&mut self, n: usize, term: Term, apply: &Apply) -> Check {
        self.checks += 1;
        let who = n + 1;
        let applied = self.nodes[n].applied;
        let id = match apply {
            Apply::Entry(entry) => {
                if entry.index.0 != applied + 1 {
                    return Err(format!(
                        "[apply order] node {who} applies {} after {applied}",
                        entry.index
                    ));
                }
                self.check_applied_value(who, entry)?;
                entry.id()
            }
            Apply::Snapshot(snapshot) => {
                let last = snapshot.meta.last_included;
                if last.index.0 < applied {
                    return Err(format!(
                        "[apply order] node {who} installs snapshot {last} after applying {applied}"
                    ));
                }
                last
            }
        };
        self.nodes[n].applied = id.index.0;
        let bound = self.commit_bounds.entry(term).or_insert(id);
        if id.index > bound.index {
            *bound = id;
        }
        Ok(())
    }

    fn check_applied_value(&mut self, who: usize, entry: &Entry) -> Check {
        let i = entry.index.0 as usize;
        if self.applied_values.len() <= i {
            self.applied_values.resize(i + 1, 0);
        }
        let hash = payload_hash(entry);
        match self.applied_values[i] {
            0 => {
                self.applied_values[i] = hash;
                Ok(())
            }
            known if known == hash => Ok(()),
            _ => Err(format!(
                "[state machine safety] node {who} applies different data at index {i}"
            )),
        }
    }

    /// Node `n` sends `msg`; `durable` is its disk image. Promises must be durable.
    pub fn on_send(&mut self, n: usize, msg: &Message, durable: &RecoveredState) -> Check {
        self.checks += 1;
        let hard = durable.hard_state;
        let last_index = durable.snapshot.meta.last_included.index.0 + durable.entries.len() as u64;
        let who = n + 1;
        match &msg.body {
            MessageBody::RequestVoteResponse { pre_vote: false, granted: true } => {
                let durable_vote = hard.term > msg.term || (hard.term == msg.term && hard.vote == msg.to);
                if !durable_vote {
                    return Err(format!(
                        "[persist before promise] node {who} grants its vote in {} to {} but its durable hard state is {}/{}",
                        msg.term, msg.to, hard.term, hard.vote
                    ));
                }
            }
            MessageBody::AppendEntriesResponse { success: true, match_index, .. } => {
                if match_index.0 > last_index {
                    return Err(format!(
                        "[persist before promise] node {who} acknowledges index {match_index} but only {last_index} is durable"
                    ));
                }
            }
            MessageBody::InstallSnapshotResponse { done: true, accepted: true, last_included, .. } => {
                if durable.snapshot.meta.last_included.index < last_included.index && last_index < last_included.index.0 {
                    return Err(format!(
                        "[persist before promise] node {who} acknowledges snapshot {last_included} before it is durable"
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The highest index known committed (for summaries).
    pub fn highest_committed(&self) -> Index {
        self.commit_bounds.values().map(|id| id.index).max().unwrap_or_default()
    }
}
