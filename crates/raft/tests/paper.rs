//! Paper tests: one test per claim of the Raft paper ("In Search of an Understandable
//! Consensus Algorithm", extended version) and of the thesis for its extensions, each
//! headed with the section it checks. Expected messages and states are exact where
//! practical.
//!
//! Unless a test says otherwise, nodes run without pre-vote, check-quorum or the leader's
//! empty entry, so that they behave as the paper's Figure 2 describes.

use raft::*;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

const ELECTION: u32 = 10;
const HEARTBEAT: u32 = 2;

// ---------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------

fn ids(n: u64) -> Vec<NodeId> {
    (1..=n).map(NodeId).collect()
}

fn config(id: u64, n: u64) -> Config {
    let mut config = Config::new(NodeId(id), ids(n));
    config.election_timeout_ticks = ELECTION;
    config.heartbeat_interval_ticks = HEARTBEAT;
    config.pre_vote = false;
    config.check_quorum = false;
    config.leader_empty_entry = false;
    config.check_invariants = true;
    config
}

/// Entries with these terms, indexes from 1; entry i carries the command "i".
fn log(terms: &[u64]) -> Vec<Entry> {
    terms
        .iter()
        .enumerate()
        .map(|(i, &t)| Entry::command(Term(t), Index(i as u64 + 1), format!("{}", i + 1)))
        .collect()
}

fn recovered(term: u64, terms: &[u64]) -> RecoveredState {
    RecoveredState {
        hard_state: HardState {
            term: Term(term),
            vote: NodeId::NONE,
            commit: Index::ZERO,
        },
        snapshot: Snapshot::default(),
        entries: log(terms),
    }
}

fn node(id: u64, n: u64) -> Raft {
    Raft::new(config(id, n), RecoveredState::default()).unwrap()
}

fn node_with(config: Config, state: RecoveredState) -> Raft {
    Raft::new(config, state).unwrap()
}

/// Takes every Ready, acknowledging each write at once; returns the messages sent.
fn drain(raft: &mut Raft) -> Vec<Message> {
    drain_all(raft).0
}

/// Like `drain`, also returning what was handed to the application.
fn drain_all(raft: &mut Raft) -> (Vec<Message>, Vec<Apply>) {
    let (mut messages, mut applied) = (Vec::new(), Vec::new());
    while raft.has_ready() {
        let ready = raft.ready();
        if let Some(persist) = &ready.persist {
            raft.on_persisted(persist.id);
        }
        messages.extend(ready.messages);
        applied.extend(ready.apply);
    }
    (messages, applied)
}

fn msg(from: u64, to: u64, term: u64, body: MessageBody) -> Message {
    Message {
        from: NodeId(from),
        to: NodeId(to),
        term: Term(term),
        body,
    }
}

fn vote_request(from: u64, to: u64, term: u64, last: (u64, u64)) -> Message {
    msg(
        from,
        to,
        term,
        MessageBody::RequestVote {
            pre_vote: false,
            last_log: EntryId::new(last.0, last.1),
            transfer: false,
        },
    )
}

fn vote_response(from: u64, to: u64, term: u64, granted: bool) -> Message {
    msg(
        from,
        to,
        term,
        MessageBody::RequestVoteResponse {
            pre_vote: false,
            granted,
        },
    )
}

fn append(
    from: u64,
    to: u64,
    term: u64,
    prev: (u64, u64),
    entries: &[Entry],
    commit: u64,
) -> Message {
    msg(
        from,
        to,
        term,
        MessageBody::AppendEntries {
            prev_log: EntryId::new(prev.0, prev.1),
            entries: entries.to_vec(),
            leader_commit: Index(commit),
            read_round: 0,
        },
    )
}

fn append_ok(from: u64, to: u64, term: u64, match_index: u64) -> Message {
    msg(
        from,
        to,
        term,
        MessageBody::AppendEntriesResponse {
            success: true,
            match_index: Index(match_index),
            conflict: None,
            read_round: 0,
        },
    )
}

/// A rejection; `hint` is (rejected prev index, conflict term, conflict index).
fn append_reject(from: u64, to: u64, term: u64, hint: Option<(u64, u64, u64)>) -> Message {
    msg(
        from,
        to,
        term,
        MessageBody::AppendEntriesResponse {
            success: false,
            match_index: Index::ZERO,
            conflict: hint.map(|(rejected, t, i)| ConflictHint {
                rejected: Index(rejected),
                term: Term(t),
                index: Index(i),
            }),
            read_round: 0,
        },
    )
}

/// The terms of a node's log, from its first held index.
fn terms(raft: &Raft) -> Vec<u64> {
    let status = raft.status();
    (status.first_index.0..=status.last_index.0)
        .map(|i| raft.entry_at(Index(i)).unwrap().term.0)
        .collect()
}

/// Ticks a follower or candidate until it starts a new campaign (it has a Ready).
/// Returns the number of ticks it took.
fn tick_until_campaign(raft: &mut Raft) -> u32 {
    for ticks in 1..=2 * ELECTION {
        raft.tick();
        if raft.has_ready() {
            return ticks;
        }
    }
    panic!(
        "node {} did not campaign within 2 * election timeout",
        raft.id()
    );
}

/// A few nodes exchanging messages through the test, with acknowledged storage.
struct Net {
    nodes: BTreeMap<NodeId, Raft>,
    storage: BTreeMap<NodeId, MemStorage>,
    configs: BTreeMap<NodeId, Config>,
    queue: VecDeque<Message>,
    /// Nodes whose messages (in and out) are dropped.
    isolated: BTreeSet<NodeId>,
    applied: BTreeMap<NodeId, Vec<Entry>>,
    read_states: BTreeMap<NodeId, Vec<ReadState>>,
}

impl Net {
    /// Nodes 1..=states.len(), each starting from its state.
    fn new(states: Vec<RecoveredState>, tweak: impl Fn(&mut Config)) -> Net {
        let n = states.len() as u64;
        let mut net = Net {
            nodes: BTreeMap::new(),
            storage: BTreeMap::new(),
            configs: BTreeMap::new(),
            queue: VecDeque::new(),
            isolated: BTreeSet::new(),
            applied: BTreeMap::new(),
            read_states: BTreeMap::new(),
        };
        for (i, state) in states.into_iter().enumerate() {
            let id = NodeId(i as u64 + 1);
            let mut config = config(id.0, n);
            tweak(&mut config);
            let mut storage = MemStorage::new();
            storage
                .persist(&PersistRequest {
                    id: PersistId(0),
                    snapshot: (!state.snapshot.is_empty()).then(|| state.snapshot.clone()),
                    entries: state.entries.clone(),
                    hard_state: Some(state.hard_state),
                })
                .unwrap();
            net.nodes
                .insert(id, Raft::new(config.clone(), state).unwrap());
            net.storage.insert(id, storage);
            net.configs.insert(id, config);
        }
        net
    }

    fn fresh(n: u64, tweak: impl Fn(&mut Config)) -> Net {
        Net::new(vec![RecoveredState::default(); n as usize], tweak)
    }

    fn node(&mut self, id: u64) -> &mut Raft {
        self.nodes.get_mut(&NodeId(id)).expect("running node")
    }

    fn flush(&mut self, id: NodeId) {
        let Some(raft) = self.nodes.get_mut(&id) else {
            return;
        };
        while raft.has_ready() {
            let ready = raft.ready();
            if let Some(persist) = &ready.persist {
                self.storage.get_mut(&id).unwrap().persist(persist).unwrap();
                raft.on_persisted(persist.id);
            }
            self.queue.extend(ready.messages);
            self.read_states
                .entry(id)
                .or_default()
                .extend(ready.read_states);
            for item in ready.apply {
                if let Apply::Entry(entry) = item {
                    self.applied.entry(id).or_default().push(entry);
                }
            }
        }
    }

    /// Moves messages until nothing is left to do.
    fn settle(&mut self) {
        let held = self.settle_holding(|_| false);
        assert!(held.is_empty());
    }

    /// Like `settle`, but messages for which `hold` is true are set aside and returned.
    fn settle_holding(&mut self, hold: impl Fn(&Message) -> bool) -> Vec<Message> {
        let mut held = Vec::new();
        for _ in 0..10_000 {
            let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
            for id in ids {
                self.flush(id);
            }
            let Some(message) = self.queue.pop_front() else {
                return held;
            };
            if self.isolated.contains(&message.from) || self.isolated.contains(&message.to) {
                continue;
            }
            if hold(&message) {
                held.push(message);
                continue;
            }
            if let Some(raft) = self.nodes.get_mut(&message.to) {
                raft.step(message);
            }
        }
        panic!("the network never settled");
    }

    /// Makes `id` campaign and lets the election play out.
    fn elect(&mut self, id: u64) {
        tick_until_campaign(self.node(id));
        self.settle();
    }

    fn crash(&mut self, id: u64) {
        self.nodes.remove(&NodeId(id));
    }

    fn restart(&mut self, id: u64) {
        let id = NodeId(id);
        let recovered = self.storage[&id].recover().unwrap();
        self.nodes
            .insert(id, Raft::new(self.configs[&id].clone(), recovered).unwrap());
    }

    fn heartbeat(&mut self, leader: u64) {
        for _ in 0..HEARTBEAT {
            self.node(leader).tick();
        }
        self.settle();
    }
}

// ---------------------------------------------------------------------------------
// Figure 2: persistent state
// ---------------------------------------------------------------------------------

/// Figure 2: currentTerm, votedFor and log[] are "persistent state on all servers
/// (updated on stable storage before responding to RPCs)": a server that crashes and
/// restarts has them back.
#[test]
fn fig2_persistent_state_survives_a_restart() {
    let mut net = Net::fresh(3, |_| {});
    net.elect(1);
    net.node(1).propose(b"a".to_vec()).unwrap();
    net.settle();
    let before = net.node(2).status();
    net.crash(2);
    net.restart(2);
    let after = net.node(2).status();
    assert_eq!(
        (after.term, after.vote, after.last_index),
        (before.term, before.vote, before.last_index)
    );
    assert_eq!(
        (after.term, after.vote, after.last_index),
        (Term(1), NodeId(1), Index(1))
    );
    assert_eq!(after.role, Role::Follower, "volatile state starts over");
    assert_eq!(after.leader, None);
}

// ---------------------------------------------------------------------------------
// §5.1 Raft basics: terms
// ---------------------------------------------------------------------------------

/// §5.1: "If a server's current term is smaller than the other's, then it updates its
/// current term to the larger value." A follower seeing AppendEntries of a later term
/// adopts it and follows the sender.
#[test]
fn s5_1_follower_adopts_a_larger_term() {
    let mut follower = node(2, 3);
    follower.step(append(1, 2, 3, (0, 0), &[], 0));
    let status = follower.status();
    assert_eq!(
        (status.role, status.term, status.leader),
        (Role::Follower, Term(3), Some(NodeId(1)))
    );
    assert_eq!(drain(&mut follower), vec![append_ok(2, 1, 3, 0)]);
}

/// §5.1: "If a candidate or leader discovers that its term is out of date, it
/// immediately reverts to follower state."
#[test]
fn s5_1_candidate_and_leader_revert_to_follower_on_a_larger_term() {
    let mut candidate = node(1, 3);
    tick_until_campaign(&mut candidate);
    assert_eq!(candidate.role(), Role::Candidate);
    candidate.step(append(2, 1, 5, (0, 0), &[], 0));
    assert_eq!(
        (candidate.role(), candidate.term()),
        (Role::Follower, Term(5))
    );

    let mut net = Net::fresh(3, |_| {});
    net.elect(1);
    assert!(net.node(1).is_leader());
    net.node(1).step(vote_request(3, 1, 7, (0, 0)));
    let status = net.node(1).status();
    assert_eq!(
        (status.role, status.term, status.leader),
        (Role::Follower, Term(7), None)
    );
}

/// §5.1: "If a server receives a request with a stale term number, it rejects the
/// request." The answer carries the current term so the stale leader learns of it.
#[test]
fn s5_1_request_with_a_stale_term_is_rejected() {
    let mut follower = node_with(config(2, 3), recovered(3, &[1, 3]));
    follower.step(append(1, 2, 2, (1, 1), &log(&[1, 2])[1..], 1));
    assert_eq!(terms(&follower), vec![1, 3], "log unchanged");
    assert_eq!(drain(&mut follower), vec![append_reject(2, 1, 3, None)]);
    // A stale RequestVote is not granted (no answer, no vote).
    follower.step(vote_request(3, 2, 2, (9, 9)));
    assert!(drain(&mut follower).is_empty());
    assert_eq!(follower.status().vote, NodeId::NONE);
}

// ---------------------------------------------------------------------------------
// §5.2 Leader election
// ---------------------------------------------------------------------------------

/// §5.2: "If a follower receives no communication over a period of time called the
/// election timeout, then it ... begins an election ... increments its current term
/// and transitions to candidate state. It then votes for itself and issues RequestVote
/// RPCs in parallel to each of the other servers." The RequestVotes leave only once the
/// term and vote are durable (Figure 2, "updated on stable storage before responding").
#[test]
fn s5_2_election_timeout_starts_an_election() {
    let mut follower = node_with(config(1, 3), recovered(2, &[1, 2]));
    let ticks = tick_until_campaign(&mut follower);
    assert!((ELECTION..2 * ELECTION).contains(&ticks), "timeout {ticks}");
    let status = follower.status();
    assert_eq!(
        (status.role, status.term, status.vote),
        (Role::Candidate, Term(3), NodeId(1))
    );
    let first = follower.ready();
    let persist = first.persist.expect("term and vote are persisted");
    assert_eq!(
        persist.hard_state.map(|hs| (hs.term, hs.vote)),
        Some((Term(3), NodeId(1)))
    );
    assert!(
        first.messages.is_empty(),
        "nothing leaves before the vote is durable"
    );
    follower.on_persisted(persist.id);
    assert_eq!(
        drain(&mut follower),
        vec![vote_request(1, 2, 3, (2, 2)), vote_request(1, 3, 3, (2, 2))]
    );
}

/// §5.2: "Raft uses randomized election timeouts ... chosen randomly from a fixed
/// interval." Nodes seeded differently draw different timeouts, all within
/// [election, 2 * election). (The core exposes no accessor for the drawn timeout; it is
/// measured by ticking.)
#[test]
fn s5_2_election_timeouts_are_randomized_within_the_interval() {
    let mut seen = BTreeSet::new();
    for seed in 0..40 {
        let mut config = config(1, 3);
        config.random_seed = seed;
        let mut raft = node_with(config, RecoveredState::default());
        let ticks = tick_until_campaign(&mut raft);
        assert!(
            (ELECTION..2 * ELECTION).contains(&ticks),
            "seed {seed}: {ticks}"
        );
        seen.insert(ticks);
    }
    assert!(seen.len() >= 5, "timeouts barely vary: {seen:?}");
}

/// §5.2: the timeout is drawn anew each time the timer restarts ("each candidate
/// restarts its randomized election timeout at the start of an election"), so a node
/// whose elections keep splitting does not keep the same timeout.
#[test]
fn s5_2_election_timeout_is_redrawn_at_each_election() {
    let mut raft = node(1, 3);
    let mut timeouts = Vec::new();
    for _ in 0..10 {
        let ticks = tick_until_campaign(&mut raft);
        assert!((ELECTION..2 * ELECTION).contains(&ticks));
        drain(&mut raft);
        timeouts.push(ticks);
    }
    assert_eq!(raft.term(), Term(10), "each timeout started a new election");
    let distinct: BTreeSet<_> = timeouts.iter().collect();
    assert!(
        distinct.len() > 1,
        "the same timeout every time: {timeouts:?}"
    );
}

/// §5.2: "Each server will vote for at most one candidate in a given term, on a
/// first-come-first-served basis." A retransmitted request from the same candidate is
/// granted again.
#[test]
fn s5_2_a_server_votes_at_most_once_per_term() {
    let mut voter = node(2, 3);
    voter.step(vote_request(1, 2, 1, (0, 0)));
    assert_eq!(drain(&mut voter), vec![vote_response(2, 1, 1, true)]);
    voter.step(vote_request(3, 2, 1, (0, 0)));
    assert_eq!(drain(&mut voter), vec![vote_response(2, 3, 1, false)]);
    voter.step(vote_request(1, 2, 1, (0, 0)));
    assert_eq!(drain(&mut voter), vec![vote_response(2, 1, 1, true)]);
    assert_eq!(voter.status().vote, NodeId(1));
    // The vote survives a restart: it was persisted before the grant left.
    let mut storage = MemStorage::new();
    let mut voter = node(2, 3);
    voter.step(vote_request(1, 2, 1, (0, 0)));
    let ready = voter.ready();
    storage.persist(ready.persist.as_ref().unwrap()).unwrap();
    let mut restarted = node_with(config(2, 3), storage.recover().unwrap());
    restarted.step(vote_request(3, 2, 1, (0, 0)));
    assert_eq!(drain(&mut restarted), vec![vote_response(2, 3, 1, false)]);
}

/// §5.2: "A candidate wins an election if it receives votes from a majority of the
/// servers in the full cluster for the same term." Then it sends heartbeats "to all of
/// the other servers to establish its authority".
#[test]
fn s5_2_candidate_wins_with_a_majority() {
    let mut candidate = node(1, 5);
    tick_until_campaign(&mut candidate);
    drain(&mut candidate);
    candidate.step(vote_response(2, 1, 1, true));
    assert_eq!(
        candidate.role(),
        Role::Candidate,
        "2 of 5 is not a majority"
    );
    candidate.step(vote_response(3, 1, 1, false));
    candidate.step(vote_response(3, 1, 1, true));
    assert_eq!(candidate.role(), Role::Candidate, "a voter counts once");
    candidate.step(vote_response(4, 1, 1, true));
    assert_eq!(candidate.role(), Role::Leader, "3 of 5");
    let heartbeats: Vec<Message> = (2..=5).map(|to| append(1, to, 1, (0, 0), &[], 0)).collect();
    assert_eq!(drain(&mut candidate), heartbeats);
}

/// §5.2: a candidate that a majority refuses cannot win; it returns to follower and
/// waits for its next timeout.
#[test]
fn s5_2_candidate_rejected_by_a_majority_steps_down() {
    let mut candidate = node(1, 3);
    tick_until_campaign(&mut candidate);
    drain(&mut candidate);
    candidate.step(vote_response(2, 1, 1, false));
    candidate.step(vote_response(3, 1, 1, false));
    assert_eq!(
        (candidate.role(), candidate.term()),
        (Role::Follower, Term(1))
    );
}

/// §5.2: "If the leader's term ... is at least as large as the candidate's current
/// term, then the candidate recognizes the leader as legitimate and returns to follower
/// state."
#[test]
fn s5_2_candidate_recognizes_a_leader_of_its_term() {
    let mut candidate = node(1, 3);
    tick_until_campaign(&mut candidate);
    drain(&mut candidate);
    candidate.step(append(2, 1, 1, (0, 0), &[], 0));
    let status = candidate.status();
    assert_eq!(
        (status.role, status.term, status.leader),
        (Role::Follower, Term(1), Some(NodeId(2)))
    );
}

/// §5.2: "Leaders send periodic heartbeats (AppendEntries RPCs that carry no log
/// entries) to all followers in order to maintain their authority."
#[test]
fn s5_2_leader_sends_heartbeats_every_interval() {
    let mut net = Net::fresh(3, |_| {});
    net.elect(1);
    for _ in 0..HEARTBEAT - 1 {
        net.node(1).tick();
    }
    assert!(drain(net.node(1)).is_empty());
    net.node(1).tick();
    assert_eq!(
        drain(net.node(1)),
        vec![
            append(1, 2, 1, (0, 0), &[], 0),
            append(1, 3, 1, (0, 0), &[], 0)
        ]
    );
}

/// §5.2: a cluster of one elects itself at once.
#[test]
fn s5_2_single_node_elects_itself() {
    let mut raft = node(1, 1);
    tick_until_campaign(&mut raft);
    assert_eq!((raft.role(), raft.term()), (Role::Leader, Term(1)));
}

// ---------------------------------------------------------------------------------
// §5.3 Log replication
// ---------------------------------------------------------------------------------

/// §5.3: "The leader appends the command to its log as a new entry, then issues
/// AppendEntries RPCs in parallel to each of the other servers to replicate the entry."
/// The leader writes its own copy in parallel with sending (thesis §10.2.1).
#[test]
fn s5_3_leader_appends_and_replicates_a_proposal() {
    let mut net = Net::fresh(3, |_| {});
    net.elect(1);
    let id = net.node(1).propose(b"x".to_vec()).unwrap();
    assert_eq!(id, EntryId::new(1, 1));
    let ready = net.node(1).ready();
    let entry = Entry::command(Term(1), Index(1), b"x".to_vec());
    assert_eq!(ready.persist.unwrap().entries, vec![entry.clone()]);
    assert_eq!(
        ready.messages,
        vec![
            append(1, 2, 1, (0, 0), std::slice::from_ref(&entry), 0),
            append(1, 3, 1, (0, 0), &[entry], 0)
        ]
    );
}

/// §5.3: "If the follower does not find an entry in its log with the same index and
/// term, then it refuses the new entries." The refusal names the follower's divergent
/// term and where it starts (the optimization at the end of §5.3).
#[test]
fn s5_3_follower_refuses_entries_failing_the_consistency_check() {
    let mut follower = node_with(config(2, 3), recovered(3, &[1, 2, 2]));
    follower.step(append(1, 2, 3, (3, 3), &log(&[1, 2, 3, 3])[3..], 0));
    assert_eq!(terms(&follower), vec![1, 2, 2]);
    assert_eq!(
        drain(&mut follower),
        vec![append_reject(2, 1, 3, Some((3, 2, 2)))]
    );
    // Missing entries: the hint is the follower's log end.
    follower.step(append(1, 2, 3, (3, 7), &[], 0));
    assert_eq!(
        drain(&mut follower),
        vec![append_reject(2, 1, 3, Some((7, 0, 4)))]
    );
}

/// §5.3: "If an existing entry conflicts with a new one (same index but different
/// terms), delete the existing entry and all that follow it" (Figure 2, receiver
/// implementation step 3), then append the new entries.
#[test]
fn s5_3_conflicting_entries_are_deleted_and_replaced() {
    let mut follower = node_with(config(2, 3), recovered(2, &[1, 1, 2, 2, 2]));
    let leader_log = log(&[1, 1, 3, 3]);
    follower.step(append(1, 2, 3, (1, 2), &leader_log[2..], 0));
    assert_eq!(terms(&follower), vec![1, 1, 3, 3]);
    let ready = follower.ready();
    assert_eq!(ready.persist.unwrap().entries, leader_log[2..].to_vec());
}

/// §5.3 / Figure 2 step 4: "Append any new entries not already in the log." A delayed,
/// shorter AppendEntries must not cut off entries a later one added.
#[test]
fn s5_3_a_delayed_append_does_not_truncate_matching_entries() {
    let mut follower = node_with(config(2, 3), recovered(1, &[]));
    let entries = log(&[1, 1, 1]);
    follower.step(append(1, 2, 1, (0, 0), &entries, 0));
    follower.step(append(1, 2, 1, (0, 0), &entries[..1], 0));
    assert_eq!(terms(&follower), vec![1, 1, 1]);
    assert_eq!(
        drain(&mut follower),
        vec![append_ok(2, 1, 1, 3), append_ok(2, 1, 1, 1)]
    );
}

/// §5.3: "A log entry is committed once the leader that created the entry has
/// replicated it on a majority of the servers"; "the leader ... includes [the commit
/// index] in future AppendEntries RPCs ... Once a follower learns that a log entry is
/// committed, it applies the entry to its local state machine."
#[test]
fn s5_3_commit_on_a_majority_and_followers_learn_it() {
    let mut net = Net::fresh(5, |_| {});
    net.elect(1);
    net.isolated.extend([NodeId(4), NodeId(5)]);
    net.node(1).propose(b"a".to_vec()).unwrap();
    net.settle();
    assert_eq!(net.node(1).status().commit, Index(1), "3 of 5 hold it");
    assert_eq!(net.applied[&NodeId(1)].len(), 1);
    assert_eq!(net.node(2).status().commit, Index(0), "not told yet");
    net.heartbeat(1);
    for id in [2, 3] {
        assert_eq!(net.node(id).status().commit, Index(1));
        assert_eq!(
            net.applied[&NodeId(id)][0].payload,
            EntryPayload::Command(b"a".to_vec().into())
        );
    }
    // A minority is not enough.
    net.isolated.insert(NodeId(3));
    net.node(1).propose(b"b".to_vec()).unwrap();
    net.settle();
    assert_eq!(net.node(1).status().commit, Index(1), "2 of 5 hold 1/2");
}

/// §5.3, Figure 7: whatever the follower's log (a-f: missing entries, extra uncommitted
/// entries, or both), the leader brings it in line with its own.
#[test]
fn s5_3_figure_7_leader_repairs_every_follower_log() {
    let leader_log = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    let followers: [&[u64]; 6] = [
        &[1, 1, 1, 4, 4, 5, 5, 6, 6],
        &[1, 1, 1, 4],
        &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
        &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
        &[1, 1, 1, 4, 4, 4, 4],
        &[1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
    ];
    for (case, follower) in followers.iter().enumerate() {
        // Node 3 (empty log) gives node 1 its second vote in term 8.
        let mut net = Net::new(
            vec![
                recovered(7, &leader_log),
                recovered(7, follower),
                recovered(7, &[]),
            ],
            |_| {},
        );
        net.elect(1);
        assert!(net.node(1).is_leader(), "case {case}");
        net.node(1).propose(b"8".to_vec()).unwrap();
        net.settle();
        net.heartbeat(1);
        let expected: Vec<u64> = leader_log.iter().copied().chain([8]).collect();
        assert_eq!(
            terms(net.node(2)),
            expected,
            "figure 7 ({})",
            (b'a' + case as u8) as char
        );
    }
}

/// §5.3 / Figure 3, Leader Append-Only: "a leader never overwrites or deletes entries
/// in its log". An AppendEntries claiming to come from another leader of the same term
/// (impossible, §5.2, but forgeable) changes nothing.
#[test]
fn s5_3_leader_never_overwrites_its_own_log() {
    let mut net = Net::fresh(3, |_| {});
    net.elect(1);
    net.node(1).propose(b"mine".to_vec()).unwrap();
    drain(net.node(1));
    let other = Entry::command(Term(1), Index(1), b"theirs".to_vec());
    net.node(1).step(append(2, 1, 1, (0, 0), &[other], 0));
    assert!(net.node(1).is_leader());
    assert_eq!(
        net.node(1).entry_at(Index(1)).unwrap().payload,
        EntryPayload::Command(b"mine".to_vec().into())
    );
}

/// §5.5: "Raft RPCs are idempotent, so [retrying] causes no harm. For example, if a
/// follower receives an AppendEntries request that includes log entries already present
/// in its log, it ignores those entries in the new request."
#[test]
fn s5_5_a_repeated_append_entries_is_harmless() {
    let mut follower = node(2, 3);
    let entries = log(&[1, 1]);
    let request = append(1, 2, 1, (0, 0), &entries, 1);
    follower.step(request.clone());
    let first = drain_all(&mut follower);
    follower.step(request);
    let (messages, applied) = drain_all(&mut follower);
    assert_eq!(first.0, messages, "the same answer");
    assert_eq!(messages, vec![append_ok(2, 1, 1, 2)]);
    assert!(applied.is_empty(), "nothing applied twice");
    assert_eq!(terms(&follower), vec![1, 1]);
    assert!(!follower.has_ready(), "nothing new to persist");
}

/// §8: "a leader must have the latest information on which entries are committed ...
/// Raft handles this by having each leader commit a blank no-op entry into the log at
/// the start of its term." With that entry committed, earlier-term entries commit too.
#[test]
fn s8_new_leader_commits_a_no_op_entry_of_its_term() {
    let mut net = Net::new(
        vec![
            recovered(2, &[1, 2]),
            recovered(2, &[1, 2]),
            recovered(2, &[1]),
        ],
        |config| config.leader_empty_entry = true,
    );
    net.elect(1);
    assert_eq!(terms(net.node(1)), vec![1, 2, 3]);
    assert_eq!(
        net.node(1).entry_at(Index(3)).unwrap().payload,
        EntryPayload::Empty
    );
    assert_eq!(net.node(1).status().commit, Index(3));
}

// ---------------------------------------------------------------------------------
// §5.4 Safety
// ---------------------------------------------------------------------------------

/// §5.4.1: "the voter denies its vote if its own log is more up-to-date than that of
/// the candidate ... If the logs have last entries with different terms, then the log
/// with the later term is more up-to-date. If the logs end with the same term, then
/// whichever log is longer is more up-to-date."
#[test]
fn s5_4_1_election_restriction() {
    // Voter's log ends at 2/3.
    let cases = [
        ((1, 9), false), // older last term, longer log
        ((2, 2), false), // same term, shorter
        ((2, 3), true),  // identical
        ((2, 4), true),  // same term, longer
        ((3, 1), true),  // later last term, shorter log
    ];
    for ((term, index), granted) in cases {
        let mut voter = node_with(config(2, 3), recovered(2, &[1, 2, 2]));
        voter.step(vote_request(1, 2, 4, (term, index)));
        assert_eq!(
            drain(&mut voter),
            vec![vote_response(2, 1, 4, granted)],
            "candidate log ending at {term}/{index}"
        );
    }
}

/// Builds Figure 8 (c) and returns the network: S1 leads term 4 and has just
/// replicated 2/2, an entry of term 2, onto S2 and S3, a majority. S4 and S5 are cut off
/// (S5 holds 3/2 from its own term-3 leadership). No empty entry on election, as in the
/// paper.
fn figure_8_c(canary: Canary) -> Net {
    let mut net = Net::new(
        vec![
            recovered(3, &[1, 2]),
            recovered(3, &[1, 2]),
            recovered(3, &[1]),
            recovered(3, &[1]),
            recovered(3, &[1, 3]),
        ],
        |config| config.canary = canary,
    );
    net.isolated.extend([NodeId(4), NodeId(5)]);
    net.elect(1);
    assert!(net.node(1).is_leader());
    assert_eq!(net.node(1).term(), Term(4));
    // (No heartbeat: S2 and S3 must not learn a commit index, as in the paper, where S1
    // crashes right after replicating.)
    for id in [2, 3] {
        assert_eq!(terms(net.node(id)), vec![1, 2], "S{id}");
    }
    net
}

/// §5.4.2, Figure 8: "a leader cannot immediately conclude that an entry from a
/// previous term is committed once it is stored on a majority of servers"; "Raft never
/// commits log entries from previous terms by counting replicas." Only when an entry
/// of its own term is on a majority does the earlier one commit, indirectly.
#[test]
fn s5_4_2_figure_8_previous_term_entries_are_not_committed_by_counting() {
    let mut net = figure_8_c(Canary::Off);
    assert_eq!(
        net.node(1).status().commit,
        Index(0),
        "2/2 is on a majority but of an earlier term"
    );
    // Figure 8 (e): an entry of term 4 on a majority commits both.
    net.node(1).propose(b"4".to_vec()).unwrap();
    net.settle();
    assert_eq!(net.node(1).status().commit, Index(3));
}

/// §5.4.2, Figure 8, with the planted bug `Canary::CommitPreviousTermByCounting`: the
/// check of the test above fails (2/2 is committed by counting), and the consequence the
/// paper describes follows (Figure 8 (d)): S1 crashes, S5 is elected with votes from
/// S2, S3 and S4, and overwrites the "committed" 2/2 that S1 already applied.
#[test]
fn s5_4_2_figure_8_canary_commits_by_counting_and_loses_a_committed_entry() {
    let mut net = figure_8_c(Canary::CommitPreviousTermByCounting);
    assert_eq!(
        net.node(1).status().commit,
        Index(2),
        "the unsafe rule commits 2/2"
    );
    let applied_by_s1 = net.applied[&NodeId(1)].last().unwrap().clone();
    assert_eq!(applied_by_s1.id(), EntryId::new(2, 2));
    net.crash(1);
    net.isolated.clear();
    // S5 needs term 5: S2 and S3 voted in term 4 already.
    while !net.node(5).is_leader() {
        net.elect(5);
    }
    net.node(5).propose(b"5".to_vec()).unwrap();
    net.settle();
    net.heartbeat(5);
    assert_eq!(net.node(5).status().commit, Index(3));
    for id in [2, 3, 4, 5] {
        assert_eq!(
            net.node(id).entry_id_at(Index(2)),
            Some(EntryId::new(3, 2)),
            "S{id} holds 3/2 where S1 applied 2/2: state machine safety is violated"
        );
    }
}

// ---------------------------------------------------------------------------------
// §7 Log compaction
// ---------------------------------------------------------------------------------

/// §7: "the leader must occasionally send snapshots to followers that lag behind ...
/// when the leader has already discarded the next log entry that it needs to send to
/// a follower." The snapshot goes in chunks, each with its offset, the last with `done`.
#[test]
fn s7_leader_sends_its_snapshot_to_a_follower_missing_compacted_entries() {
    let mut net = Net::fresh(3, |config| config.snapshot_chunk_bytes = 4);
    net.elect(1);
    net.isolated.insert(NodeId(3));
    for data in [b"a", b"b", b"c"] {
        net.node(1).propose(data.to_vec()).unwrap();
    }
    net.settle();
    assert_eq!(net.node(1).status().applied, Index(3));
    net.node(1)
        .snapshot(Index(3), b"abc-state".to_vec())
        .unwrap();
    assert_eq!(net.node(1).status().first_index, Index(4));
    net.isolated.clear();
    // At the next heartbeat the leader finds node 3's pipeline stalled, probes from index
    // 1, which is compacted, and switches to the snapshot.
    for _ in 0..HEARTBEAT {
        net.node(1).tick();
    }
    let chunks: Vec<Message> = drain(net.node(1))
        .into_iter()
        .filter(|m| matches!(m.body, MessageBody::InstallSnapshot { .. }))
        .collect();
    let meta = SnapshotMeta {
        last_included: EntryId::new(1, 3),
    };
    assert_eq!(
        chunks,
        vec![msg(
            1,
            3,
            1,
            MessageBody::InstallSnapshot {
                meta,
                offset: 0,
                data: b"abc-".to_vec().into(),
                done: false
            }
        )]
    );
    net.queue.extend(chunks);
    net.settle();
    let follower = net.node(3);
    assert_eq!(follower.latest_snapshot().data.as_ref(), b"abc-state");
    assert_eq!(follower.status().snapshot_index, Index(3));
}

/// §7: "If instead the follower receives a snapshot that describes a prefix of its log
/// ... entries following the snapshot are still valid and must be retained", but
/// "usually the snapshot will contain new information not already in the recipient's
/// log. In this case, the follower discards its entire log." The installed snapshot is
/// handed to the application.
#[test]
fn s7_follower_installs_a_snapshot_discarding_its_conflicting_log() {
    let meta = SnapshotMeta {
        last_included: EntryId::new(3, 4),
    };
    let chunk = msg(
        1,
        2,
        3,
        MessageBody::InstallSnapshot {
            meta,
            offset: 0,
            data: b"state".to_vec().into(),
            done: true,
        },
    );
    // The follower's log diverges at index 3: it discards all of it.
    let mut follower = node_with(config(2, 3), recovered(3, &[1, 1, 2, 2, 2]));
    follower.step(chunk.clone());
    let (messages, applied) = drain_all(&mut follower);
    assert_eq!(follower.status().last_index, Index(4));
    assert_eq!(follower.status().commit, Index(4));
    assert!(matches!(&applied[..], [Apply::Snapshot(s)] if s.meta == meta));
    assert_eq!(
        messages,
        vec![msg(
            2,
            1,
            3,
            MessageBody::InstallSnapshotResponse {
                last_included: meta.last_included,
                next_offset: 5,
                done: true,
                accepted: true
            }
        )]
    );
    // The follower already holds 3/4 and more: it keeps everything after it.
    let mut follower = node_with(config(2, 3), recovered(3, &[1, 1, 3, 3, 3, 3]));
    follower.step(chunk);
    assert_eq!(terms(&follower), vec![1, 1, 3, 3, 3, 3]);
    assert_eq!(follower.status().commit, Index(4));
}

// ---------------------------------------------------------------------------------
// Thesis extensions: pre-vote (§9.6), check-quorum and leases (§6.2, §4.2.3),
// leadership transfer (§3.10), ReadIndex (§6.4)
// ---------------------------------------------------------------------------------

/// Thesis §9.6: in the pre-vote phase "a candidate would first ask other servers
/// whether its log was up-to-date enough to get their vote"; neither side changes its
/// term or vote.
#[test]
fn thesis_9_6_pre_vote_changes_no_term_or_vote() {
    let pre = |mut config: Config| {
        config.pre_vote = true;
        config
    };
    let mut candidate = node_with(pre(config(1, 3)), recovered(2, &[1, 2]));
    tick_until_campaign(&mut candidate);
    assert_eq!(
        (candidate.role(), candidate.term()),
        (Role::PreCandidate, Term(2))
    );
    let ready = candidate.ready();
    assert!(ready.persist.is_none(), "a pre-vote persists nothing");
    let pre_vote = |to: u64| {
        msg(
            1,
            to,
            3,
            MessageBody::RequestVote {
                pre_vote: true,
                last_log: EntryId::new(2, 2),
                transfer: false,
            },
        )
    };
    assert_eq!(ready.messages, vec![pre_vote(2), pre_vote(3)]);
    let mut voter = node_with(pre(config(2, 3)), recovered(2, &[1, 2]));
    voter.step(pre_vote(2));
    assert_eq!((voter.term(), voter.status().vote), (Term(2), NodeId::NONE));
    let granted = msg(
        2,
        1,
        3,
        MessageBody::RequestVoteResponse {
            pre_vote: true,
            granted: true,
        },
    );
    assert_eq!(drain(&mut voter), vec![granted.clone()]);
    // A voter with a longer log refuses, in its own term.
    let mut ahead = node_with(pre(config(3, 3)), recovered(2, &[1, 2, 2]));
    ahead.step(pre_vote(3));
    assert_eq!(
        drain(&mut ahead),
        vec![msg(
            3,
            1,
            2,
            MessageBody::RequestVoteResponse {
                pre_vote: true,
                granted: false
            }
        )]
    );
    // With the grant, the pre-candidate holds a majority and starts the real election.
    candidate.step(granted);
    assert_eq!(
        (candidate.role(), candidate.term()),
        (Role::Candidate, Term(3))
    );
}

/// Thesis §6.2: "a leader ... steps down if an election timeout elapses without a
/// successful round of heartbeats to a majority of its cluster."
#[test]
fn thesis_6_2_check_quorum_leader_without_a_majority_steps_down() {
    let mut net = Net::fresh(3, |config| config.check_quorum = true);
    net.elect(1);
    net.isolated.extend([NodeId(2), NodeId(3)]);
    let mut ticks = 0;
    while net.node(1).is_leader() {
        net.node(1).tick();
        net.settle();
        ticks += 1;
        assert!(ticks <= 2 * ELECTION, "still leading after {ticks} ticks");
    }
    assert!(
        ticks > ELECTION,
        "the first round still counted the election's answers"
    );
    assert_eq!(net.node(1).term(), Term(1));
    // With a majority answering, it keeps leading.
    let mut net = Net::fresh(3, |config| config.check_quorum = true);
    net.elect(1);
    net.isolated.insert(NodeId(3));
    for _ in 0..5 * ELECTION {
        net.node(1).tick();
        net.settle();
    }
    assert!(net.node(1).is_leader());
}

/// Thesis §4.2.3: "if a server receives a RequestVote request within the minimum
/// election timeout of hearing from a current leader, it does not update its term or
/// grant its vote."
#[test]
fn thesis_4_2_3_servers_in_a_leader_lease_ignore_vote_requests() {
    let mut net = Net::fresh(3, |config| config.check_quorum = true);
    net.elect(1);
    net.node(2).step(vote_request(3, 2, 2, (1, 9)));
    assert_eq!(
        (net.node(2).term(), net.node(2).status().vote),
        (Term(1), NodeId(1))
    );
    assert!(drain(net.node(2)).is_empty(), "no answer at all");
    // After an election timeout without the leader, the same request is granted.
    for _ in 0..ELECTION {
        net.node(2).tick();
    }
    drain(net.node(2));
    net.node(2).step(vote_request(3, 2, 2, (1, 9)));
    assert_eq!(drain(net.node(2)), vec![vote_response(2, 3, 2, true)]);
}

/// Thesis §3.10: to transfer leadership, "the prior leader sends a TimeoutNow request
/// to the target server ... the target server ... start[s] a new election", once its log
/// is up to date; and the prior leader stops accepting client requests meanwhile.
#[test]
fn thesis_3_10_leadership_transfer() {
    let mut net = Net::fresh(3, |config| config.check_quorum = true);
    net.elect(1);
    net.node(1).propose(b"a".to_vec()).unwrap();
    net.settle();
    net.node(1).transfer_leadership(NodeId(3)).unwrap();
    assert_eq!(
        net.node(1).propose(b"b".to_vec()),
        Err(ProposeError::ProposalDropped)
    );
    assert_eq!(
        drain(net.node(1)),
        vec![msg(1, 3, 1, MessageBody::TimeoutNow)]
    );
    net.queue.push_back(msg(1, 3, 1, MessageBody::TimeoutNow));
    net.settle();
    assert!(net.node(3).is_leader());
    assert_eq!(net.node(3).term(), Term(2));
}

/// Thesis §6.4: for a read, the leader "records its current commit index in a local
/// variable readIndex" once it "has committed an entry from its current term", then
/// "sends a new round of heartbeats ... Once it has received acknowledgments from a
/// majority of the cluster" the read may proceed.
#[test]
fn thesis_6_4_read_index_waits_for_a_term_commit_and_a_heartbeat_quorum() {
    let mut net = Net::fresh(3, |config| config.leader_empty_entry = true);
    tick_until_campaign(net.node(1));
    // The election completes; the empty entry 1/1 is held back, so nothing of term 1
    // is committed yet.
    let is_append = |m: &Message| matches!(m.body, MessageBody::AppendEntries { .. });
    let held = net.settle_holding(is_append);
    assert!(net.node(1).is_leader());
    assert_eq!(net.node(1).status().commit, Index(0));
    net.node(1).read_index(7).unwrap();
    assert!(
        !net.node(1).has_ready(),
        "no read round before a commit of the term"
    );
    // The empty entry commits; the read gets index 1 and its own round of heartbeats.
    net.queue.extend(held);
    let heartbeats =
        net.settle_holding(|m| matches!(m.body, MessageBody::AppendEntries { read_round: 1, .. }));
    assert_eq!(net.node(1).status().commit, Index(1));
    assert!(net.read_states[&NodeId(1)].is_empty(), "not confirmed yet");
    // The round goes out as soon as node 2's acknowledgement commits 1/1, before node
    // 3's is processed: node 3's heartbeat is still anchored at its match index 0.
    let with_round = |mut m: Message| {
        if let MessageBody::AppendEntries { read_round, .. } = &mut m.body {
            *read_round = 1;
        }
        m
    };
    assert_eq!(
        heartbeats,
        vec![
            with_round(append(1, 2, 1, (1, 1), &[], 1)),
            with_round(append(1, 3, 1, (0, 0), &[], 0))
        ]
    );
    // One acknowledgement plus the leader's own is a majority.
    net.queue.extend(heartbeats.into_iter().take(1));
    net.settle();
    assert_eq!(
        net.read_states[&NodeId(1)],
        vec![ReadState {
            request_id: 7,
            index: Index(1)
        }]
    );
}

/// Thesis §6.4.1: with a leader lease the leader "would use its lease to serve reads
/// without a round of heartbeats" — still only once it has committed an entry of its
/// term. (Opt-in: it assumes bounded clock drift.)
#[test]
fn thesis_6_4_1_lease_reads_skip_the_heartbeat_round() {
    let mut net = Net::fresh(3, |config| {
        config.leader_empty_entry = true;
        config.check_quorum = true;
        config.lease_reads = true;
    });
    tick_until_campaign(net.node(1));
    net.settle();
    assert!(net.node(1).is_leader());
    assert_eq!(net.node(1).status().commit, Index(1));
    net.node(1).read_index(9).unwrap();
    let ready = net.node(1).ready();
    assert_eq!(
        ready.read_states,
        vec![ReadState {
            request_id: 9,
            index: Index(1)
        }]
    );
    assert!(
        ready.messages.is_empty(),
        "no heartbeat round: {:?}",
        ready.messages
    );
}

#[test]
fn lease_reads_require_check_quorum() {
    let mut config = config(1, 3);
    config.lease_reads = true;
    config.check_quorum = false;
    assert!(matches!(
        config.validate(),
        Err(ConfigError::Invalid {
            name: "lease_reads",
            ..
        })
    ));
}
