//! Snapshots and segment deletion across restarts, node identity, the directory lock, and
//! group commit's single fdatasync.

mod storage_common;

use node::storage::{identity, DiskStorage, FaultInjector, NodeIdentity, StorageOptions};
use raft::{NodeId, Storage};
use std::sync::Arc;
use storage_common::*;

#[test]
fn an_empty_or_missing_directory_opens_as_an_empty_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("a").join("b");
    let (storage, recovered) = open(&data, fast_options(1 << 20));
    assert_eq!(recovered, raft::RecoveredState::default());
    assert_eq!(
        (storage.log_size_bytes(), storage.snapshot_size_bytes()),
        (0, 0)
    );
    assert_eq!(segment_files(&data).len(), 1);
}

#[test]
fn snapshot_install_deletes_old_segments_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let options = StorageOptions {
        segment_size_bytes: 1024,
        ..StorageOptions::default()
    };
    let (mut storage, _) = open(dir.path(), options.clone());
    for i in 1..=200 {
        storage.write(&append(i, i, 1, 1)).unwrap();
        if i % 10 == 0 {
            storage.sync().unwrap();
        }
    }
    let segments_before = segment_files(dir.path()).len();
    let log_bytes_before = storage.log_size_bytes();
    assert!(segments_before > 8, "{segments_before} segments");

    // The application's snapshot at 150: entries after it stay.
    storage.persist(&snapshot(201, 150, 1)).unwrap();
    let segments_after = segment_files(dir.path()).len();
    assert!(
        segments_after < segments_before / 2,
        "{segments_after} of {segments_before} left"
    );
    assert!(storage.log_size_bytes() < log_bytes_before / 3);
    assert!(storage.snapshot_size_bytes() > 0);
    assert_eq!(snapshot_files(dir.path()).len(), 1);
    drop(storage);

    let (mut storage, recovered) = open(dir.path(), options.clone());
    assert_eq!(
        recovered.snapshot.meta.last_included,
        raft::EntryId::new(1, 150)
    );
    assert_eq!(
        recovered.snapshot.data,
        bytes::Bytes::from("state through 150")
    );
    assert_eq!(indexes(&recovered.entries), (151..=200).collect::<Vec<_>>());
    assert_eq!(recovered.entries[0], entry(1, 151));

    // A leader's snapshot beyond the log replaces it whole.
    storage.persist(&snapshot(202, 500, 4)).unwrap();
    assert_eq!(storage.log_size_bytes(), 0);
    storage.persist(&append(203, 501, 5, 4)).unwrap();
    let old_snapshot_gone = snapshot_files(dir.path());
    assert_eq!(old_snapshot_gone.len(), 1);
    assert!(old_snapshot_gone[0]
        .to_string_lossy()
        .contains("00000000000000000500-"));
    drop(storage);
    let (storage, recovered) = open(dir.path(), options);
    assert_eq!(
        recovered.snapshot.meta.last_included,
        raft::EntryId::new(4, 500)
    );
    assert_eq!(indexes(&recovered.entries), (501..=505).collect::<Vec<_>>());
    assert_eq!(storage.recover().unwrap(), recovered);
}

#[test]
fn a_directory_of_another_node_or_cluster_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mine = NodeIdentity {
        cluster_id: 42,
        node_id: NodeId(1),
    };
    let with_identity = |identity| StorageOptions {
        identity: Some(identity),
        ..fast_options(1 << 20)
    };
    let (mut storage, _) = open(dir.path(), with_identity(mine));
    storage.persist(&append(1, 1, 3, 1)).unwrap();
    drop(storage);
    assert_eq!(identity::read(dir.path()).unwrap(), Some(mine));

    for other in [
        NodeIdentity {
            cluster_id: 42,
            node_id: NodeId(2),
        },
        NodeIdentity {
            cluster_id: 43,
            node_id: NodeId(1),
        },
    ] {
        let error = DiskStorage::open(dir.path(), with_identity(other))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(&mine.to_string()) && error.contains(&other.to_string()),
            "{error}"
        );
    }
    let (_, recovered) = open(dir.path(), with_identity(mine));
    assert_eq!(recovered.entries.len(), 3);
    // The runtime's direct check.
    assert!(identity::check_or_init(dir.path(), 42, NodeId(1)).is_ok());
    assert!(identity::check_or_init(dir.path(), 42, NodeId(9)).is_err());
}

#[test]
fn a_directory_is_opened_by_one_storage_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, _) = open(dir.path(), fast_options(1 << 20));
    let error = DiskStorage::open(dir.path(), fast_options(1 << 20))
        .unwrap_err()
        .to_string();
    assert!(error.contains("in use"), "{error}");
    drop(storage);
    open(dir.path(), fast_options(1 << 20));
}

#[test]
fn group_commit_makes_many_writes_durable_with_one_fdatasync() {
    let dir = tempfile::tempdir().unwrap();
    let injector = Arc::new(FaultInjector::new());
    let options = StorageOptions {
        fault_injector: Some(Arc::clone(&injector)),
        ..StorageOptions::default()
    };
    let (mut storage, _) = open(dir.path(), options);
    storage.persist(&append(1, 1, 1, 1)).unwrap();
    let (writes, syncs) = (injector.writes(), injector.syncs());
    for i in 2..=65 {
        storage.write(&append(i, i, 1, 1)).unwrap();
    }
    assert_eq!(
        (injector.writes(), injector.syncs()),
        (writes, syncs),
        "write() neither writes nor syncs"
    );
    storage.sync().unwrap();
    assert_eq!(injector.writes(), writes + 1, "one write(2) of the batch");
    assert_eq!(injector.syncs(), syncs + 1, "one fdatasync");
    storage.sync().unwrap();
    assert_eq!(injector.syncs(), syncs + 1, "nothing new: no fdatasync");
    assert_eq!(storage.recover().unwrap().entries.len(), 65);
}

#[test]
fn a_persist_request_that_does_not_fit_the_log_fails_the_storage() {
    let dir = tempfile::tempdir().unwrap();
    let (mut storage, _) = open(dir.path(), fast_options(1 << 20));
    storage.persist(&append(1, 1, 3, 1)).unwrap();
    let error = storage.write(&append(2, 9, 1, 1)).unwrap_err().to_string();
    assert!(
        error.contains("invalid persist request 2") && error.contains("i9"),
        "{error}"
    );
    assert!(storage.sync().is_err());
    drop(storage);
    assert_eq!(open(dir.path(), fast_options(1 << 20)).1.entries.len(), 3);
}

#[test]
fn disk_storage_can_move_to_a_storage_thread() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<DiskStorage>();
    assert_send::<node::storage::StorageError>();
}
