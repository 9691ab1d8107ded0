//! Test helper for `tests/storage_crash.rs`: appends to a `DiskStorage` in a loop and
//! prints each acknowledged index once it is durable, until killed.
//!
//! Usage: `wal-crash-child <data dir> <segment size bytes> <seed>`
//!
//! Entry `i` has term 1 and the payload [`payload`]`(i)`, so the parent can check every
//! recovered entry. Requests are written in groups of 1 to 4 and synced once per group
//! (group commit); every 40 entries a snapshot covers the log up to 10 entries back, so
//! segments are deleted while the process may be killed.

use bytes::Bytes;
use node::storage::{DiskStorage, StorageOptions};
use raft::{
    Entry, EntryId, HardState, Index, NodeId, PersistId, PersistRequest, Snapshot, SnapshotMeta,
    Term,
};
use std::io::Write;

/// The payload of entry `index` (also the snapshot data of a snapshot at `index`).
fn payload(index: u64) -> Bytes {
    Bytes::from(format!(
        "entry {index:>12} {}",
        "x".repeat((index % 97) as usize)
    ))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: wal-crash-child <data dir> <segment size bytes> <seed>");
        std::process::exit(2);
    }
    let options = StorageOptions {
        segment_size_bytes: args[2].parse().expect("segment size"),
        ..StorageOptions::default()
    };
    let mut seed: u64 = args[3].parse().expect("seed");
    let (mut storage, recovered) = match DiskStorage::open(&args[1], options) {
        Ok(opened) => opened,
        Err(error) => {
            eprintln!("open failed: {error}");
            std::process::exit(3);
        }
    };
    let mut next =
        recovered.snapshot.meta.last_included.index.0 + recovered.entries.len() as u64 + 1;
    let mut id = 0;
    let mut stdout = std::io::stdout().lock();
    loop {
        // xorshift: no dependency, and the sequence differs per seed.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let group = 1 + seed % 4;
        for _ in 0..group {
            id += 1;
            let snapshot = next.is_multiple_of(40).then(|| Snapshot {
                meta: SnapshotMeta {
                    last_included: EntryId::new(1, next - 10),
                },
                data: payload(next - 10),
            });
            let request = PersistRequest {
                id: PersistId(id),
                snapshot,
                entries: vec![Entry::command(Term(1), Index(next), payload(next))],
                hard_state: next.is_multiple_of(7).then_some(HardState {
                    term: Term(1),
                    vote: NodeId(1),
                    commit: Index(next - 1),
                }),
            };
            if let Err(error) = storage.write(&request) {
                eprintln!("write failed: {error}");
                std::process::exit(4);
            }
            next += 1;
        }
        if let Err(error) = storage.sync() {
            eprintln!("sync failed: {error}");
            std::process::exit(5);
        }
        // Acknowledged: durable before it is announced.
        writeln!(stdout, "{}", next - 1).expect("stdout");
        stdout.flush().expect("stdout");
    }
}
