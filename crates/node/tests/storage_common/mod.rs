//! Helpers shared by the `storage_*` integration tests.
#![allow(dead_code)]

use bytes::Bytes;
use node::storage::{DiskStorage, StorageOptions};
use raft::{
    Entry, EntryId, HardState, Index, PersistId, PersistRequest, Snapshot, SnapshotMeta, Term,
};
use std::path::{Path, PathBuf};

/// A deterministic, non-zero payload for entry `index`.
pub fn payload(index: u64) -> Bytes {
    Bytes::from(format!(
        "payload of entry {index:>8} {}",
        "p".repeat((index % 31) as usize)
    ))
}

/// Entry `index` of term `term` with [`payload`].
pub fn entry(term: u64, index: u64) -> Entry {
    Entry::command(Term(term), Index(index), payload(index))
}

/// A request appending entries `first..first + count` in `term`.
pub fn append(id: u64, first: u64, count: u64, term: u64) -> PersistRequest {
    PersistRequest {
        id: PersistId(id),
        entries: (first..first + count).map(|i| entry(term, i)).collect(),
        ..PersistRequest::default()
    }
}

/// A request installing a snapshot through `index`/`term`.
pub fn snapshot(id: u64, index: u64, term: u64) -> PersistRequest {
    PersistRequest {
        id: PersistId(id),
        snapshot: Some(Snapshot {
            meta: SnapshotMeta {
                last_included: EntryId::new(term, index),
            },
            data: Bytes::from(format!("state through {index}")),
        }),
        ..PersistRequest::default()
    }
}

/// A request writing only a hard state.
pub fn hard_state(id: u64, term: u64, vote: u64, commit: u64) -> PersistRequest {
    PersistRequest {
        id: PersistId(id),
        hard_state: Some(HardState {
            term: Term(term),
            vote: raft::NodeId(vote),
            commit: Index(commit),
        }),
        ..PersistRequest::default()
    }
}

/// Options for tests that do not crash the machine: no fsync, small segments.
pub fn fast_options(segment_size_bytes: u64) -> StorageOptions {
    StorageOptions {
        segment_size_bytes,
        unsafe_no_fsync: true,
        ..StorageOptions::default()
    }
}

/// Opens `dir`, panicking with the error.
pub fn open(dir: &Path, options: StorageOptions) -> (DiskStorage, raft::RecoveredState) {
    DiskStorage::open(dir, options)
        .unwrap_or_else(|error| panic!("open {}: {error}", dir.display()))
}

/// The WAL segment files in `dir`, oldest first.
pub fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|item| item.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "wal"))
        .collect();
    files.sort();
    files
}

/// The snapshot files in `dir`.
pub fn snapshot_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("snap"))
        .unwrap()
        .map(|item| item.unwrap().path())
        .collect();
    files.sort();
    files
}

/// The indexes of `entries`.
pub fn indexes(entries: &[Entry]) -> Vec<u64> {
    entries.iter().map(|e| e.index.0).collect()
}
