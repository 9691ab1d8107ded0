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
    /// Commit index seen after the last event, in this incarnation.
    commit: Index,
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

/// What the checkers read from a running node (implemented by [`Raft`]; tests use
/// fakes to prove each checker can fail).
pub trait NodeView {
    /// Current term.
    fn term(&self) -> Term;
    /// True if it believes it leads.
    fn is_leader(&self) -> bool;
    /// The id of the entry it holds at `index` (or its snapshot's last entry).
    fn entry_id_at(&self, index: Index) -> Option<EntryId>;
    /// Index of its latest snapshot.
    fn snapshot_index(&self) -> Index;
    /// Highest index it knows committed.
    fn commit(&self) -> Index;
}

impl NodeView for Raft {
    fn term(&self) -> Term {
        Raft::term(self)
    }
    fn is_leader(&self) -> bool {
        Raft::is_leader(self)
    }
    fn entry_id_at(&self, index: Index) -> Option<EntryId> {
        Raft::entry_id_at(self, index)
    }
    fn snapshot_index(&self) -> Index {
        // Only read when a new leader's log lacks a committed index: rare.
        self.status().snapshot_index
    }
    fn commit(&self) -> Index {
        self.hard_state().commit
    }
}

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
    pub fn on_start(
        &mut self,
        n: usize,
        recovered: &RecoveredState,
        raft: &impl NodeView,
    ) -> Check {
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
        track.commit = raft.commit();
        track.applied = recovered.snapshot.meta.last_included.index.0;
        track.hard_state = recovered.hard_state;
        Ok(())
    }

    /// After every event that touched node `n`: term monotonicity, election safety and,
    /// for a fresh leader, leader completeness. Returns true if `n` just became leader.
    pub fn after_event(&mut self, n: usize, raft: &impl NodeView) -> Result<bool, String> {
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
        let commit = raft.commit();
        if commit < track.commit {
            return Err(format!(
                "[monotonic commit] node {} went from commit {} back to {}",
                n + 1,
                track.commit,
                commit
            ));
        }
        track.commit = commit;
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

    fn check_leader_completeness(&mut self, n: usize, term: Term, raft: &impl NodeView) -> Check {
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
            None if raft.snapshot_index() >= committed.index => Ok(()),
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
            return Err(format!(
                "[hard state] node {who} persists {} after {}",
                new.term, old.term
            ));
        }
        if new.term == old.term && old.vote != NodeId::NONE && new.vote != old.vote {
            return Err(format!(
                "[hard state] node {who} changes its vote in {} from {} to {}",
                new.term, old.vote, new.vote
            ));
        }
        if new.commit < old.commit {
            return Err(format!(
                "[hard state] node {who} persists commit {} after {}",
                new.commit, old.commit
            ));
        }
        self.nodes[n].hard_state = new;
        Ok(())
    }

    /// Node `n`'s write `request` becomes durable on top of `before`: extend the chain
    /// hashes and compare them with every other node's (log matching).
    pub fn on_durable(
        &mut self,
        n: usize,
        before: &RecoveredState,
        request: &PersistRequest,
    ) -> Check {
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
                return Err(format!(
                    "[log] node {} writes non-contiguous entries",
                    n + 1
                ));
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
        match unkept_promise(msg, durable) {
            None => Ok(()),
            Some(promise) => Err(format!(
                "[persist before promise] node {} {promise} before it is durable",
                n + 1
            )),
        }
    }

    /// The highest index known committed (for summaries).
    pub fn highest_committed(&self) -> Index {
        self.commit_bounds
            .values()
            .map(|id| id.index)
            .max()
            .unwrap_or_default()
    }
}

/// What `msg` promises that `durable` does not (yet) hold, if anything.
fn unkept_promise(msg: &Message, durable: &RecoveredState) -> Option<String> {
    let hard = durable.hard_state;
    let snapshot_index = durable.snapshot.meta.last_included.index;
    let last_index = snapshot_index.0 + durable.entries.len() as u64;
    // Figure 2: currentTerm is on stable storage before a node answers or sends in it.
    // Pre-vote traffic is exempt: requests and grants carry a future term, and a
    // rejection revealing a not-yet-durable term only makes the pre-candidate catch up.
    let pre_vote = matches!(
        msg.body,
        MessageBody::RequestVote { pre_vote: true, .. }
            | MessageBody::RequestVoteResponse { pre_vote: true, .. }
    );
    if !pre_vote && msg.term > hard.term {
        return Some(format!(
            "sends {} in {} (durable term {})",
            msg.kind_name(),
            msg.term,
            hard.term
        ));
    }
    match &msg.body {
        MessageBody::RequestVoteResponse {
            pre_vote: false,
            granted: true,
        } if hard.term < msg.term || (hard.term == msg.term && hard.vote != msg.to) => {
            Some(format!(
                "grants its vote in {} to {} (durable: {}, vote {})",
                msg.term, msg.to, hard.term, hard.vote
            ))
        }
        MessageBody::AppendEntriesResponse {
            success: true,
            match_index,
            ..
        } if match_index.0 > last_index => Some(format!(
            "acknowledges index {match_index} (durable up to {last_index})"
        )),
        MessageBody::InstallSnapshotResponse {
            done: true,
            accepted: true,
            last_included,
            ..
        } if snapshot_index < last_included.index && last_index < last_included.index.0 => {
            Some(format!("acknowledges snapshot {last_included}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::{HardState, PersistId, Snapshot, SnapshotMeta};

    /// A node as the checkers see it.
    struct Fake {
        term: u64,
        leader: bool,
        log: Vec<EntryId>,
    }

    impl NodeView for Fake {
        fn term(&self) -> Term {
            Term(self.term)
        }
        fn is_leader(&self) -> bool {
            self.leader
        }
        fn entry_id_at(&self, index: Index) -> Option<EntryId> {
            self.log.get((index.0 as usize).checked_sub(1)?).copied()
        }
        fn snapshot_index(&self) -> Index {
            Index(0)
        }
        fn commit(&self) -> Index {
            Index(0)
        }
    }

    fn entry(term: u64, index: u64, data: u8) -> Entry {
        Entry::command(Term(term), Index(index), vec![data])
    }

    fn write(entries: Vec<Entry>) -> PersistRequest {
        PersistRequest {
            id: PersistId(1),
            snapshot: None,
            entries,
            hard_state: None,
        }
    }

    #[test]
    fn election_safety_catches_two_leaders_in_a_term() {
        let mut inv = Invariants::new(2);
        let leader = |term| Fake {
            term,
            leader: true,
            log: vec![],
        };
        assert_eq!(inv.after_event(0, &leader(3)), Ok(true));
        assert_eq!(inv.after_event(0, &leader(3)), Ok(false));
        let err = inv.after_event(1, &leader(3)).unwrap_err();
        assert!(err.contains("election safety"), "{err}");
    }

    #[test]
    fn term_must_not_go_back() {
        let mut inv = Invariants::new(1);
        inv.after_event(
            0,
            &Fake {
                term: 5,
                leader: false,
                log: vec![],
            },
        )
        .unwrap();
        let err = inv
            .after_event(
                0,
                &Fake {
                    term: 4,
                    leader: false,
                    log: vec![],
                },
            )
            .unwrap_err();
        assert!(err.contains("monotonic term"), "{err}");
    }

    #[test]
    fn log_matching_catches_divergent_prefixes() {
        let mut inv = Invariants::new(2);
        let empty = RecoveredState::default();
        inv.on_durable(0, &empty, &write(vec![entry(1, 1, 7), entry(2, 2, 8)]))
            .unwrap();
        // Same EntryId 2/2 on top of a different entry at index 1.
        let err = inv
            .on_durable(1, &empty, &write(vec![entry(1, 1, 9), entry(2, 2, 8)]))
            .unwrap_err();
        assert!(err.contains("log matching"), "{err}");
    }

    #[test]
    fn log_writes_must_be_contiguous() {
        let mut inv = Invariants::new(1);
        let empty = RecoveredState::default();
        let err = inv
            .on_durable(0, &empty, &write(vec![entry(1, 3, 1)]))
            .unwrap_err();
        assert!(err.contains("gap"), "{err}");
    }

    #[test]
    fn state_machine_safety_and_apply_order() {
        let mut inv = Invariants::new(2);
        inv.on_apply(0, Term(1), &Apply::Entry(entry(1, 1, 1)))
            .unwrap();
        let err = inv
            .on_apply(1, Term(1), &Apply::Entry(entry(1, 1, 2)))
            .unwrap_err();
        assert!(err.contains("state machine safety"), "{err}");
        let err = inv
            .on_apply(0, Term(1), &Apply::Entry(entry(1, 3, 1)))
            .unwrap_err();
        assert!(err.contains("apply order"), "{err}");
    }

    #[test]
    fn leader_completeness_catches_a_leader_missing_a_committed_entry() {
        let mut inv = Invariants::new(2);
        // Entry 1/2 is applied by a node in term 3: committed in a term <= 3.
        inv.on_apply(0, Term(3), &Apply::Entry(entry(1, 1, 1)))
            .unwrap();
        inv.on_apply(0, Term(3), &Apply::Entry(entry(1, 2, 2)))
            .unwrap();
        let stale = Fake {
            term: 4,
            leader: true,
            log: vec![EntryId::new(1, 1), EntryId::new(2, 2)],
        };
        let err = inv.after_event(1, &stale).unwrap_err();
        assert!(err.contains("leader completeness"), "{err}");
        // A leader of term 3 itself is not bound by entries committed in term 3.
        let mut inv2 = Invariants::new(2);
        inv2.on_apply(0, Term(3), &Apply::Entry(entry(1, 1, 1)))
            .unwrap();
        let same_term = Fake {
            term: 3,
            leader: true,
            log: vec![],
        };
        assert_eq!(inv2.after_event(1, &same_term), Ok(true));
    }

    #[test]
    fn promises_must_be_durable() {
        let mut inv = Invariants::new(2);
        let durable = RecoveredState::default();
        let grant = Message {
            from: NodeId(1),
            to: NodeId(2),
            term: Term(3),
            body: MessageBody::RequestVoteResponse {
                pre_vote: false,
                granted: true,
            },
        };
        assert!(inv.on_send(0, &grant, &durable).is_err());
        let voted = RecoveredState {
            hard_state: HardState {
                term: Term(3),
                vote: NodeId(2),
                commit: Index(0),
            },
            ..RecoveredState::default()
        };
        assert!(inv.on_send(0, &grant, &voted).is_ok());
        let ack = Message {
            from: NodeId(1),
            to: NodeId(2),
            term: Term(3),
            body: MessageBody::AppendEntriesResponse {
                success: true,
                match_index: Index(1),
                conflict: None,
                read_round: 0,
            },
        };
        assert!(inv.on_send(0, &ack, &voted).is_err());
    }

    #[test]
    fn terms_are_durable_before_use_except_pre_votes() {
        let mut inv = Invariants::new(2);
        let durable = RecoveredState::default();
        let message = |body| Message {
            from: NodeId(1),
            to: NodeId(2),
            term: Term(1),
            body,
        };
        let reject = MessageBody::RequestVoteResponse {
            pre_vote: false,
            granted: false,
        };
        assert!(inv.on_send(0, &message(reject), &durable).is_err());
        let pre_reject = MessageBody::RequestVoteResponse {
            pre_vote: true,
            granted: false,
        };
        assert!(inv.on_send(0, &message(pre_reject), &durable).is_ok());
    }

    #[test]
    fn hard_state_must_move_forward() {
        let mut inv = Invariants::new(1);
        let hard = |term, vote, commit| PersistRequest {
            hard_state: Some(HardState {
                term: Term(term),
                vote: NodeId(vote),
                commit: Index(commit),
            }),
            ..PersistRequest::default()
        };
        inv.on_persist_submit(0, &hard(2, 1, 0)).unwrap();
        assert!(inv.on_persist_submit(0, &hard(2, 3, 0)).is_err());
        assert!(inv.on_persist_submit(0, &hard(1, 0, 0)).is_err());
    }

    #[test]
    fn snapshot_keeps_the_chain_anchored() {
        let mut inv = Invariants::new(2);
        let empty = RecoveredState::default();
        let entries = vec![entry(1, 1, 1), entry(1, 2, 2), entry(1, 3, 3)];
        inv.on_durable(0, &empty, &write(entries.clone())).unwrap();
        // Node 2 installs a snapshot through 1/2, then receives 1/3: same chain as node 1.
        let snapshot = Snapshot {
            meta: SnapshotMeta {
                last_included: EntryId::new(1, 2),
            },
            data: Default::default(),
        };
        let install = PersistRequest {
            snapshot: Some(snapshot),
            ..PersistRequest::default()
        };
        inv.on_durable(1, &empty, &install).unwrap();
        inv.on_durable(1, &empty, &write(vec![entry(1, 3, 3)]))
            .unwrap();
        assert!(inv
            .on_durable(1, &empty, &write(vec![entry(1, 1, 1)]))
            .is_err());
    }
}
