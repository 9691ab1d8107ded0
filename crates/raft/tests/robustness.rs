//! Bad input from the network: random, malformed, stale, duplicated and out-of-range
//! messages must never panic a node or break its invariants.

use raft::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_entry_id(rng: &mut ChaCha8Rng) -> EntryId {
    EntryId::new(rng.gen_range(0..6), rng.gen_range(0..40))
}

fn random_entries(rng: &mut ChaCha8Rng, prev: EntryId, term: u64) -> Vec<Entry> {
    let count = rng.gen_range(0..5);
    let mut entries = Vec::new();
    let mut entry_term = prev.term.0;
    for offset in 1..=count {
        entry_term = rng.gen_range(entry_term..=term.max(entry_term));
        entries.push(Entry::command(
            Term(entry_term),
            Index(prev.index.0 + offset),
            vec![offset as u8],
        ));
    }
    entries
}

fn random_body(rng: &mut ChaCha8Rng, term: u64) -> MessageBody {
    match rng.gen_range(0..9) {
        0 => MessageBody::RequestVote {
            pre_vote: rng.gen(),
            last_log: random_entry_id(rng),
            transfer: rng.gen(),
        },
        1 => MessageBody::RequestVoteResponse {
            pre_vote: rng.gen(),
            granted: rng.gen(),
        },
        2 | 3 => {
            let prev_log = random_entry_id(rng);
            MessageBody::AppendEntries {
                prev_log,
                entries: random_entries(rng, prev_log, term),
                leader_commit: Index(rng.gen_range(0..50)),
                read_round: rng.gen_range(0..3),
            }
        }
        4 => MessageBody::AppendEntriesResponse {
            success: rng.gen(),
            match_index: Index(rng.gen_range(0..60)),
            conflict: rng.gen::<bool>().then(|| ConflictHint {
                rejected: Index(rng.gen_range(0..60)),
                term: Term(rng.gen_range(0..6)),
                index: Index(rng.gen_range(0..60)),
            }),
            read_round: rng.gen_range(0..3),
        },
        5 => MessageBody::InstallSnapshot {
            meta: SnapshotMeta {
                last_included: random_entry_id(rng),
            },
            offset: rng.gen_range(0..4),
            data: vec![7; rng.gen_range(0..4)].into(),
            done: rng.gen(),
        },
        6 => MessageBody::InstallSnapshotResponse {
            last_included: random_entry_id(rng),
            next_offset: rng.gen_range(0..8),
            done: rng.gen(),
            accepted: rng.gen(),
        },
        7 => MessageBody::TimeoutNow,
        _ => MessageBody::RequestVote {
            pre_vote: false,
            last_log: EntryId::new(term, 100),
            transfer: false,
        },
    }
}

/// Drives one node with random messages and inputs; every step checks invariants
/// (`check_invariants` is on in tests), so a violation panics and fails the test.
fn fuzz_node(seed: u64, steps: usize) -> (bool, Index) {
    let (mut was_leader, mut longest_log) = (false, Index(0));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let voters = vec![NodeId(1), NodeId(2), NodeId(3)];
    let mut config = Config::new(NodeId(1), voters);
    config.election_timeout_ticks = 5;
    config.heartbeat_interval_ticks = 1;
    config.check_invariants = true;
    let mut node = Raft::new(config, RecoveredState::default()).unwrap();
    for _ in 0..steps {
        match rng.gen_range(0..10) {
            0 => node.tick(),
            1 => {
                let _ = node.propose(vec![rng.gen()]);
            }
            2 => {
                let applied = node.status().applied;
                let _ = node.snapshot(Index(rng.gen_range(0..=applied.0 + 1)), vec![1, 2]);
            }
            3 => {
                let _ = node.read_index(rng.gen());
            }
            4 => {
                // A helpful voter, so the node also explores leadership.
                let (pre_vote, term) = match node.role() {
                    Role::PreCandidate => (true, node.term().next()),
                    _ => (false, node.term()),
                };
                let body = MessageBody::RequestVoteResponse {
                    pre_vote,
                    granted: true,
                };
                node.step(Message {
                    from: NodeId(2),
                    to: NodeId(1),
                    term,
                    body,
                });
            }
            _ => {
                let term = rng.gen_range(0..6);
                let message = Message {
                    from: NodeId(rng.gen_range(0..5)),
                    to: NodeId(rng.gen_range(0..3)),
                    term: Term(term),
                    body: random_body(&mut rng, term),
                };
                node.step(message);
            }
        }
        while node.has_ready() {
            let ready = node.ready();
            if let Some(persist) = ready.persist {
                node.on_persisted(persist.id);
            }
        }
        was_leader |= node.is_leader();
        longest_log = longest_log.max(node.status().last_index);
    }
    (was_leader, longest_log)
}

#[test]
fn random_messages_never_panic_or_break_invariants() {
    let (mut leaders, mut longest_log) = (0, Index(0));
    for seed in 0..200 {
        let (was_leader, longest) = fuzz_node(seed, 2_000);
        leaders += usize::from(was_leader);
        longest_log = longest_log.max(longest);
    }
    // The fuzzer must reach the interesting states, or it proves nothing.
    assert!(leaders > 10, "node became leader in only {leaders} runs");
    assert!(
        longest_log >= Index(10),
        "log never grew past {longest_log}"
    );
}

#[test]
fn messages_from_unknown_nodes_and_to_others_are_ignored() {
    let config = Config::new(NodeId(1), vec![NodeId(1), NodeId(2), NodeId(3)]);
    let mut node = Raft::new(config, RecoveredState::default()).unwrap();
    let before = node.status();
    for (from, to) in [(9, 1), (2, 7), (1, 1), (0, 1)] {
        node.step(Message {
            from: NodeId(from),
            to: NodeId(to),
            term: Term(5),
            body: MessageBody::TimeoutNow,
        });
    }
    assert_eq!(node.status(), before);
    assert!(!node.has_ready());
}

#[test]
fn corrupt_recovered_state_is_refused() {
    let config = Config::new(NodeId(1), vec![NodeId(1)]);
    let gap = RecoveredState {
        entries: vec![Entry::command(Term(1), Index(2), vec![])],
        ..Default::default()
    };
    assert!(matches!(
        Raft::new(config.clone(), gap),
        Err(ConfigError::CorruptState(_))
    ));
    let term_behind = RecoveredState {
        hard_state: HardState {
            term: Term(1),
            ..Default::default()
        },
        entries: vec![Entry::command(Term(2), Index(1), vec![])],
        ..Default::default()
    };
    assert!(matches!(
        Raft::new(config, term_behind),
        Err(ConfigError::CorruptState(_))
    ));
}
