//! Property test: `DiskStorage` recovers exactly what `raft::storage::apply_persist_request`
//! (the reference semantics, as `MemStorage` applies them) produces from the same requests.
//!
//! Random request sequences (appends, conflicting suffixes, snapshots that keep or drop
//! the log, hard states, combinations) are written with group commit; at random points the
//! storage is dropped without syncing and reopened. The recovered state must be the state
//! after every acknowledged (synced) request, or after some of the unacknowledged ones
//! that follow (written to the files before the drop), never anything else.
//!
//! Replay a failing case with `STORAGE_MODEL_SEED=<seed> cargo test -p node --test storage_model`.

mod storage_common;

use bytes::Bytes;
use node::storage::DiskStorage;
use raft::storage::apply_persist_request;
use raft::{
    Entry, EntryId, HardState, Index, NodeId, PersistId, PersistRequest, RecoveredState, Snapshot,
    SnapshotMeta, Storage, Term,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use storage_common::*;

fn random_bytes(rng: &mut ChaCha8Rng, max_len: usize) -> Bytes {
    let len = rng.gen_range(0..=max_len);
    (0..len)
        .map(|_| rng.gen::<u8>())
        .collect::<Vec<u8>>()
        .into()
}

fn last_index(state: &RecoveredState) -> u64 {
    state.snapshot.meta.last_included.index.0 + state.entries.len() as u64
}

/// A request that the core could issue against the written state `state`.
fn random_request(rng: &mut ChaCha8Rng, id: u64, state: &RecoveredState) -> PersistRequest {
    let mut request = PersistRequest {
        id: PersistId(id),
        ..PersistRequest::default()
    };
    if rng.gen_bool(0.08) {
        let last = last_index(state);
        let id = match rng.gen_range(0..3) {
            // A snapshot of our own log: the entries after it stay.
            0 if !state.entries.is_empty() => {
                state.entries[rng.gen_range(0..state.entries.len())].id()
            }
            // From a leader, beyond our log: the whole log goes.
            1 => EntryId::new(rng.gen_range(1..6), last + rng.gen_range(1..20)),
            // Inside our log but with another term: the whole log goes.
            _ if !state.entries.is_empty() => {
                let held = state.entries[rng.gen_range(0..state.entries.len())].id();
                EntryId::new(held.term.0 + 100, held.index.0)
            }
            _ => EntryId::new(1, last + 1),
        };
        request.snapshot = Some(Snapshot {
            meta: SnapshotMeta { last_included: id },
            data: random_bytes(rng, 300),
        });
    }
    let mut after = state.clone();
    apply_persist_request(&mut after, &request);
    if rng.gen_bool(0.75) {
        let snapshot_index = after.snapshot.meta.last_included.index.0;
        let last = last_index(&after);
        let first = if rng.gen_bool(0.8) {
            last + 1
        } else {
            rng.gen_range(snapshot_index + 1..=last + 1)
        };
        let count = rng.gen_range(1..=6);
        let term = rng.gen_range(1..=5);
        request.entries = (first..first + count)
            .map(|index| {
                if rng.gen_bool(0.1) {
                    Entry::empty(Term(term), Index(index))
                } else {
                    let max_len = if rng.gen_bool(0.05) { 3000 } else { 150 };
                    Entry::command(Term(term), Index(index), random_bytes(rng, max_len))
                }
            })
            .collect();
    }
    if rng.gen_bool(0.3) {
        request.hard_state = Some(HardState {
            term: Term(rng.gen_range(0..10)),
            vote: NodeId(rng.gen_range(0..4)),
            commit: Index(rng.gen_range(0..=last_index(&after))),
        });
    }
    request
}

fn run_case(seed: u64, steps: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let options = fast_options(rng.gen_range(200..4000));
    let (mut storage, recovered) = open(dir.path(), options.clone());
    assert_eq!(recovered, RecoveredState::default());
    // The state after every written request, and after the last acknowledged one.
    let mut written = RecoveredState::default();
    let mut acknowledged = written.clone();
    let mut acknowledged_log_bytes = 0;
    let mut unacknowledged: Vec<RecoveredState> = Vec::new();
    for step in 0..steps {
        let context = format!("seed {seed} step {step}");
        let request = random_request(&mut rng, step as u64 + 1, &written);
        storage
            .write(&request)
            .unwrap_or_else(|error| panic!("{context}: {error}"));
        apply_persist_request(&mut written, &request);
        unacknowledged.push(written.clone());
        let roll: f64 = rng.gen();
        if roll < 0.6 {
            storage
                .sync()
                .unwrap_or_else(|error| panic!("{context}: {error}"));
            acknowledged = written.clone();
            acknowledged_log_bytes = storage.log_size_bytes();
            unacknowledged.clear();
            if rng.gen_bool(0.1) {
                assert_eq!(storage.recover().unwrap(), written, "{context}: recover()");
            }
        } else if roll < 0.66 {
            // A crash of the process: whatever was not synced may or may not be there.
            drop(storage);
            let (reopened, recovered) = DiskStorage::open(dir.path(), options.clone())
                .unwrap_or_else(|error| panic!("{context}: reopen: {error}"));
            storage = reopened;
            if recovered == acknowledged {
                assert_eq!(
                    storage.log_size_bytes(),
                    acknowledged_log_bytes,
                    "{context}"
                );
            } else {
                assert!(
                    unacknowledged.contains(&recovered),
                    "{context}: recovered state is neither the acknowledged one nor a later prefix"
                );
            }
            assert_eq!(storage.last_index().0, last_index(&recovered), "{context}");
            written = recovered;
            acknowledged = written.clone();
            acknowledged_log_bytes = storage.log_size_bytes();
            unacknowledged.clear();
        }
    }
    storage.sync().unwrap();
    let log_bytes = storage.log_size_bytes();
    drop(storage);
    let (storage, recovered) = open(dir.path(), options);
    assert_eq!(recovered, written, "seed {seed}: final reopen");
    assert_eq!(storage.log_size_bytes(), log_bytes, "seed {seed}");
}

#[test]
fn disk_storage_recovers_what_the_reference_semantics_produce() {
    if let Ok(seed) = std::env::var("STORAGE_MODEL_SEED") {
        run_case(seed.parse().expect("STORAGE_MODEL_SEED is a u64"), 400);
        return;
    }
    for seed in 0..128 {
        run_case(seed, 400);
    }
}

#[test]
fn segments_are_deleted_once_a_snapshot_covers_them() {
    let dir = tempfile::tempdir().unwrap();
    let options = fast_options(512);
    let (mut storage, _) = open(dir.path(), options.clone());
    let mut id = 0;
    let mut next = 1;
    let mut max_segments = 0;
    for round in 0..50 {
        for _ in 0..10 {
            id += 1;
            storage.write(&append(id, next, 1, 1)).unwrap();
            next += 1;
        }
        storage.sync().unwrap();
        max_segments = max_segments.max(storage.segment_count());
        if round % 5 == 4 {
            id += 1;
            storage.persist(&snapshot(id, next - 3, 1)).unwrap();
            assert!(
                storage.segment_count() <= 2,
                "round {round}: {} segments",
                storage.segment_count()
            );
            assert_eq!(snapshot_files(dir.path()).len(), 1);
        }
    }
    assert!(max_segments > 5, "segments did roll over ({max_segments})");
    assert_eq!(segment_files(dir.path()).len(), storage.segment_count());
    drop(storage);
    let (_, recovered) = open(dir.path(), options);
    assert_eq!(recovered.snapshot.meta.last_included.index.0, next - 3);
    assert_eq!(
        indexes(&recovered.entries),
        (next - 2..next).collect::<Vec<_>>()
    );
}
