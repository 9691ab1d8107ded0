//! Write errors and full disks: the storage enters a failed state, reports the original
//! failure on every later call, never panics, never acknowledges afterwards, and a restart
//! recovers every acknowledged request.

mod storage_common;

use node::storage::{DiskStorage, FaultInjector, FaultOp, InjectedError, StorageOptions};
use raft::storage::apply_persist_request;
use raft::{PersistRequest, RecoveredState, Storage};
use std::path::Path;
use std::sync::Arc;
use storage_common::*;

fn with_faults(injector: &Arc<FaultInjector>, segment_size_bytes: u64) -> StorageOptions {
    StorageOptions {
        fault_injector: Some(Arc::clone(injector)),
        ..fast_options(segment_size_bytes)
    }
}

/// Checks that every call on a failed storage fails, naming `original`.
fn assert_failed(storage: &mut DiskStorage, original: &str, next_id: u64) {
    assert!(storage.failure().is_some());
    let last = storage.last_index().0;
    for error in [
        storage.write(&append(next_id, last + 1, 1, 9)).unwrap_err(),
        storage.sync().unwrap_err(),
        storage
            .persist(&hard_state(next_id + 1, 9, 9, 0))
            .unwrap_err(),
        storage.recover().unwrap_err(),
    ] {
        let message = error.to_string();
        assert!(
            message.contains("failed state") && message.contains(original),
            "{message}"
        );
    }
}

fn five_acknowledged(dir: &Path, options: StorageOptions) -> DiskStorage {
    let (mut storage, _) = open(dir, options);
    for i in 1..=5 {
        storage.persist(&append(i, i, 1, 1)).unwrap();
    }
    storage
}

#[test]
fn a_write_error_fails_the_storage() {
    let dir = tempfile::tempdir().unwrap();
    let injector = Arc::new(FaultInjector::new());
    let mut storage = five_acknowledged(dir.path(), with_faults(&injector, 1 << 20));
    injector.fail_next(FaultOp::Write, InjectedError::EIO);
    storage.write(&append(6, 6, 1, 1)).unwrap(); // buffered: the error shows at sync
    let error = storage.sync().unwrap_err().to_string();
    assert!(
        error.contains("Input/output error") && error.contains(".wal"),
        "{error}"
    );
    assert_failed(&mut storage, "Input/output error", 7);
    drop(storage);
    let (_, recovered) = open(dir.path(), fast_options(1 << 20));
    assert_eq!(indexes(&recovered.entries), vec![1, 2, 3, 4, 5]);
}

#[test]
fn an_fsync_error_fails_the_storage() {
    let dir = tempfile::tempdir().unwrap();
    let injector = Arc::new(FaultInjector::new());
    let mut storage = five_acknowledged(dir.path(), with_faults(&injector, 1 << 20));
    injector.fail_next(FaultOp::Sync, InjectedError::EIO);
    let error = storage
        .persist(&append(6, 6, 1, 1))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("fsync") && error.contains("Input/output error"),
        "{error}"
    );
    // Never retried: after a failed fsync the page cache may have dropped the data.
    assert_failed(&mut storage, "Input/output error", 7);
    drop(storage);
    let (_, recovered) = open(dir.path(), fast_options(1 << 20));
    assert!(recovered.entries.len() >= 5);
}

#[test]
fn a_disk_full_in_the_middle_of_a_record_leaves_a_torn_tail_that_recovery_cuts() {
    let dir = tempfile::tempdir().unwrap();
    let injector = Arc::new(FaultInjector::new());
    let mut storage = five_acknowledged(dir.path(), with_faults(&injector, 1 << 20));
    injector.fail_write_partially(injector.writes() + 1, 21, InjectedError::ENOSPC);
    let error = storage
        .persist(&append(6, 6, 3, 1))
        .unwrap_err()
        .to_string();
    assert!(error.contains("No space left on device"), "{error}");
    assert_failed(&mut storage, "No space left on device", 7);
    drop(storage);
    let (storage, recovered) = open(dir.path(), fast_options(1 << 20));
    assert_eq!(indexes(&recovered.entries), vec![1, 2, 3, 4, 5]);
    assert_eq!(
        storage
            .recovery_report()
            .torn_tail
            .as_ref()
            .unwrap()
            .dropped_bytes,
        21
    );
}

#[test]
fn a_disk_full_while_writing_a_snapshot_fails_the_storage_and_leaves_the_old_state() {
    let dir = tempfile::tempdir().unwrap();
    let injector = Arc::new(FaultInjector::new());
    let mut storage = five_acknowledged(dir.path(), with_faults(&injector, 1 << 20));
    storage.persist(&snapshot(6, 2, 1)).unwrap();
    injector.fail_next(FaultOp::Write, InjectedError::ENOSPC);
    let error = storage.persist(&snapshot(7, 4, 1)).unwrap_err().to_string();
    assert!(
        error.contains("No space left on device") && error.contains(".snap.tmp"),
        "{error}"
    );
    assert_failed(&mut storage, "No space left on device", 8);
    drop(storage);
    let (storage, recovered) = open(dir.path(), fast_options(1 << 20));
    assert_eq!(recovered.snapshot.meta.last_included.index.0, 2);
    assert_eq!(indexes(&recovered.entries), vec![3, 4, 5]);
    assert!(storage
        .recovery_report()
        .removed_files
        .iter()
        .any(|p| p.to_string_lossy().ends_with(".snap.tmp")));
    assert_eq!(snapshot_files(dir.path()).len(), 1);
}

/// The workload of the sweep: appends, a conflicting suffix, hard states and snapshots,
/// with segments small enough to roll over and be deleted.
fn workload() -> Vec<PersistRequest> {
    let mut requests = Vec::new();
    let mut id = 0;
    let mut next_id = || {
        id += 1;
        id
    };
    for i in 1..=12 {
        requests.push(append(next_id(), i, 1, 1));
    }
    requests.push(append(next_id(), 10, 3, 2)); // replaces 10..=12 with entries of term 2
    requests.push(hard_state(next_id(), 2, 1, 9));
    requests.push(snapshot(next_id(), 8, 1));
    for i in 13..=20 {
        requests.push(append(next_id(), i, 1, 2));
    }
    requests.push(snapshot(next_id(), 30, 3)); // beyond the log: drops it
    for i in 31..=36 {
        let mut request = append(next_id(), i, 1, 3);
        request.hard_state = Some(raft::HardState {
            term: raft::Term(3),
            vote: raft::NodeId(2),
            commit: raft::Index(i - 1),
        });
        requests.push(request);
    }
    requests
}

/// Runs the workload, syncing after every second request. Returns the states after
/// each request and how many were acknowledged before the first error.
fn run_workload(dir: &Path, options: StorageOptions) -> (Vec<RecoveredState>, usize, bool) {
    let mut states = vec![RecoveredState::default()];
    let Ok((mut storage, _)) = DiskStorage::open(dir, options) else {
        return (states, 0, true);
    };
    let mut acknowledged = 0;
    for (n, request) in workload().iter().enumerate() {
        let mut state = states.last().unwrap().clone();
        apply_persist_request(&mut state, request);
        states.push(state);
        if storage.write(request).is_err() {
            assert!(
                storage.sync().is_err(),
                "nothing is acknowledged after a failure"
            );
            return (states, acknowledged, true);
        }
        if n % 2 == 1 {
            if storage.sync().is_err() {
                assert!(storage.write(request).is_err() && storage.sync().is_err());
                return (states, acknowledged, true);
            }
            acknowledged = n + 1;
        }
    }
    (states, acknowledged, false)
}

#[test]
fn failing_any_single_write_or_sync_loses_nothing_acknowledged() {
    // A clean run counts the operations to fail.
    let dir = tempfile::tempdir().unwrap();
    let counter = Arc::new(FaultInjector::new());
    let (states, acknowledged, failed) = run_workload(dir.path(), with_faults(&counter, 400));
    assert!(!failed && acknowledged == workload().len());
    let (writes, syncs) = (counter.writes(), counter.syncs());
    assert!(writes > 10 && syncs > 20, "writes {writes}, syncs {syncs}");

    let mut faults = Vec::new();
    for nth in 1..=writes {
        faults.push((FaultOp::Write, nth, 0));
        faults.push((FaultOp::Write, nth, 13));
    }
    for nth in 1..=syncs {
        faults.push((FaultOp::Sync, nth, 0));
    }
    eprintln!(
        "sweep: {} faults ({writes} writes, {syncs} syncs)",
        faults.len()
    );
    for (op, nth, partial) in faults {
        let dir = tempfile::tempdir().unwrap();
        let injector = Arc::new(FaultInjector::new());
        match op {
            FaultOp::Write => injector.fail_write_partially(nth, partial, InjectedError::ENOSPC),
            FaultOp::Sync => injector.fail_sync(nth, InjectedError::EIO),
        }
        let (_, acknowledged, failed) = run_workload(dir.path(), with_faults(&injector, 400));
        // Not failing is right only for the fsync of the directory after obsolete
        // segments are deleted: deletion is not a durability matter (logged, retried).
        assert!(
            failed || op == FaultOp::Sync,
            "{op:?} {nth}: the fault was not reported"
        );
        let (_, recovered) = DiskStorage::open(dir.path(), fast_options(400))
            .unwrap_or_else(|error| panic!("{op:?} {nth}/{partial}: reopen: {error}"));
        let position = states.iter().position(|state| *state == recovered);
        assert!(
            position.is_some_and(|p| p >= acknowledged),
            "{op:?} {nth}/{partial}: recovered state is not the state after request \
             {acknowledged} or later (found: {position:?})"
        );
    }
}

/// A tmpfs mounted for the length of a test (needs CAP_SYS_ADMIN).
struct TmpfsMount {
    dir: tempfile::TempDir,
}

impl TmpfsMount {
    fn new(size_bytes: u64) -> Result<TmpfsMount, String> {
        use std::ffi::CString;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let target = CString::new(dir.path().as_os_str().as_encoded_bytes()).unwrap();
        let fstype = CString::new("tmpfs").unwrap();
        let data = CString::new(format!("size={size_bytes}")).unwrap();
        // SAFETY: all pointers are valid NUL-terminated strings for the call's duration.
        let result = unsafe {
            libc::mount(
                fstype.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                0,
                data.as_ptr().cast(),
            )
        };
        if result != 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        Ok(TmpfsMount { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        let target =
            std::ffi::CString::new(self.dir.path().as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    }
}

#[test]
fn a_real_full_filesystem_fails_the_storage() {
    let mount = match TmpfsMount::new(256 * 1024) {
        Ok(mount) => mount,
        Err(reason) => {
            println!(
                "skipped: cannot mount a small tmpfs here ({reason}); injected ENOSPC is \
                 covered by the other tests"
            );
            return;
        }
    };
    let dir = mount.path().join("node");
    let options = StorageOptions {
        segment_size_bytes: 64 * 1024,
        ..StorageOptions::default()
    };
    let (mut storage, _) = open(&dir, options.clone());
    let big = bytes::Bytes::from(vec![7u8; 1000]);
    let mut acknowledged = 0;
    let error = loop {
        let index = acknowledged + 1;
        let request = PersistRequest {
            id: raft::PersistId(index),
            entries: vec![raft::Entry::command(
                raft::Term(1),
                raft::Index(index),
                big.clone(),
            )],
            ..PersistRequest::default()
        };
        match storage.persist(&request) {
            Ok(()) => acknowledged = index,
            Err(error) => break error.to_string(),
        }
        assert!(acknowledged < 10_000, "the filesystem never filled up");
    };
    assert!(error.contains("No space left on device"), "{error}");
    assert_failed(&mut storage, "No space left on device", acknowledged + 10);
    drop(storage);
    // Reopening on the full filesystem works (cutting the torn tail frees space).
    let (_, recovered) = open(&dir, options);
    assert!(recovered.entries.len() as u64 >= acknowledged);
    assert!(recovered.entries.iter().all(|e| e.payload_len() == 1000));
    println!("full tmpfs: {acknowledged} entries acknowledged before ENOSPC");
}
