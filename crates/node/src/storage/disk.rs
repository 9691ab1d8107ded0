//! [`DiskStorage`]: the WAL, the snapshot store and the failed state, behind
//! [`raft::Storage`].

use super::file::{ensure_dir, io_error, FileIo};
use super::live_log::LiveLog;
use super::snapshot_store::{has_snapshot_files, load_snapshot, SnapshotStore};
use super::wal::record::{EntryRecord, HardStateRecord, RequestRecord, SnapshotMarker};
use super::wal::replay::ReplayedLog;
use super::wal::{scan_wal, Repair, Wal};
use super::{identity, StorageOptions};
use raft::{EntryId, HardState, Index, PersistRequest, RecoveredState, Storage, StorageError};
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Name of the WAL directory inside the data directory.
const WAL_DIR: &str = "wal";
/// Name of the snapshot directory inside the data directory.
const SNAPSHOT_DIR: &str = "snap";
/// Name of the lock file inside the data directory.
const LOCK_FILE: &str = "LOCK";

/// A torn write found at the end of the log on open, and cut off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The segment file.
    pub file: PathBuf,
    /// Where the valid data ended (the file's new length).
    pub offset: u64,
    /// Bytes dropped.
    pub dropped_bytes: u64,
    /// What was wrong with the dropped bytes.
    pub reason: String,
}

/// What `open` repaired or cleaned up (also logged with `tracing`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// A torn write cut off the end of the log, if any.
    pub torn_tail: Option<TornTail>,
    /// Files removed: a segment that was being created, segments covered by the snapshot,
    /// temporary files, and snapshots that are not the current one.
    pub removed_files: Vec<PathBuf>,
}

/// The Raft log, hard state and snapshot of one node, on disk.
///
/// Any I/O error, or a request that does not fit the stored log, puts the storage in a
/// failed state: every later call returns an error naming the original failure, and
/// nothing written after it is ever reported durable.
#[derive(Debug)]
pub struct DiskStorage {
    dir: PathBuf,
    wal: Wal,
    snapshots: SnapshotStore,
    /// Terms and sizes of the written log after the written snapshot.
    log: LiveLog,
    /// The latest hard state written.
    hard_state: HardState,
    /// The first failure; set once, never cleared.
    failure: Option<StorageError>,
    recovery: RecoveryReport,
    /// Held (flock) while open, so two processes never share a directory.
    _lock: File,
}

impl DiskStorage {
    /// Opens the storage in `dir`, creating an empty one if `dir` is empty or missing, and
    /// returns it with the recovered state (for `Raft::new`).
    ///
    /// Recovery cuts a torn write off the end of the log (with a warning); it stops with an
    /// error naming the file and byte offset on a checksum mismatch elsewhere, a missing
    /// segment, a file of another format version, or a missing snapshot. Everything
    /// returned is durable when this returns.
    pub fn open(
        dir: impl AsRef<Path>,
        options: StorageOptions,
    ) -> Result<(DiskStorage, RecoveredState), StorageError> {
        let dir = dir.as_ref().to_path_buf();
        let io = FileIo {
            fault: options.fault_injector.clone(),
            no_fsync: options.unsafe_no_fsync,
        };
        ensure_dir(&io, &dir)?;
        let lock = lock_directory(&dir)?;
        if let Some(expected) = options.identity {
            identity::check_or_init(&dir, expected.cluster_id, expected.node_id)?;
        }
        let wal_dir = dir.join(WAL_DIR);
        let snapshot_dir = dir.join(SNAPSHOT_DIR);
        ensure_dir(&io, &wal_dir)?;
        ensure_dir(&io, &snapshot_dir)?;

        let mut recovery = RecoveryReport::default();
        let (wal, outcome) = match scan_wal(&wal_dir)? {
            None => {
                if has_snapshot_files(&snapshot_dir)? {
                    return Err(StorageError::Corrupt(format!(
                        "{} holds no WAL segment but {} holds snapshots: the log is gone",
                        wal_dir.display(),
                        snapshot_dir.display()
                    )));
                }
                let empty = ReplayedLog::from_checkpoint(&Default::default());
                let checkpoint =
                    ReplayedLog::checkpoint(HardState::default(), EntryId::default(), Index::ZERO);
                let mut wal = Wal::create(
                    &wal_dir,
                    io.clone(),
                    options.segment_size_bytes,
                    None,
                    1,
                    &checkpoint,
                )?;
                wal.sync()?;
                (wal, empty.finish().expect("the empty log is complete"))
            }
            Some(scan) => {
                let wal = Wal::reopen(&wal_dir, io.clone(), options.segment_size_bytes, &scan)?;
                match &scan.repair {
                    Some(Repair::Truncate {
                        path,
                        valid_len,
                        file_len,
                        reason,
                    }) => {
                        recovery.torn_tail = Some(TornTail {
                            file: path.clone(),
                            offset: *valid_len,
                            dropped_bytes: file_len - valid_len,
                            reason: reason.clone(),
                        })
                    }
                    Some(Repair::Remove { path, .. }) => recovery.removed_files.push(path.clone()),
                    None => {}
                }
                (wal, scan.outcome)
            }
        };
        let (snapshots, snapshot, removed) =
            SnapshotStore::open(&snapshot_dir, io, outcome.snapshot)?;
        recovery.removed_files.extend(removed);
        let mut storage = DiskStorage {
            dir,
            wal,
            snapshots,
            log: LiveLog::new(outcome.snapshot, &outcome.entries),
            hard_state: outcome.hard_state,
            failure: None,
            recovery,
            _lock: lock,
        };
        // The WAL is durable (reopen synced it), so segments the snapshot covers can go.
        let removed = storage.wal.delete_through(outcome.snapshot.index.0);
        storage.recovery.removed_files.extend(removed);
        let recovered = RecoveredState {
            hard_state: outcome.hard_state,
            snapshot,
            entries: outcome.entries,
        };
        Ok((storage, recovered))
    }

    /// Writes `request` (snapshot, then entries replacing any stored suffix from the first
    /// one's index, then hard state) without syncing: it is durable only after the next
    /// successful [`DiskStorage::sync`]. A request carrying a snapshot is the exception in
    /// part: its snapshot file is made durable here, before the WAL record naming it is
    /// written, so that record can never reach the disk ahead of the file.
    pub fn write(&mut self, request: &PersistRequest) -> Result<(), StorageError> {
        self.check_not_failed()?;
        let result = self.write_request(request);
        self.record_failure(result)
    }

    /// Makes everything written so far durable: one write of the buffered records, one
    /// fdatasync of the active segment, and a directory fsync if a segment was created.
    /// When this returns `Ok`, every request passed to `write` may be acknowledged. Then
    /// removes segments and snapshot files that the durable snapshot made obsolete.
    pub fn sync(&mut self) -> Result<(), StorageError> {
        self.check_not_failed()?;
        // Durability point: fsync before acknowledging (inside Wal::sync).
        let result = self.wal.sync();
        self.record_failure(result)?;
        self.snapshots.remove_obsolete();
        self.wal.delete_through(self.log.snapshot().index.0);
        Ok(())
    }

    /// The first failure, if the storage is in the failed state.
    pub fn failure(&self) -> Option<&StorageError> {
        self.failure.as_ref()
    }

    /// What `open` repaired or removed.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// Bytes the log after the snapshot occupies in the WAL (entries only, without
    /// framing): the figure that triggers a new snapshot.
    pub fn log_size_bytes(&self) -> u64 {
        self.log.bytes()
    }

    /// Bytes of the current snapshot file (0 when there is none).
    pub fn snapshot_size_bytes(&self) -> u64 {
        self.snapshots.size_bytes()
    }

    /// Bytes of all WAL segment files (including records not yet synced).
    pub fn wal_size_bytes(&self) -> u64 {
        self.wal.disk_bytes()
    }

    /// Number of WAL segment files.
    pub fn segment_count(&self) -> usize {
        self.wal.segments().len()
    }

    /// The index of the last entry written.
    pub fn last_index(&self) -> Index {
        self.log.last_index()
    }

    /// The last entry covered by the snapshot written last.
    pub fn snapshot_id(&self) -> EntryId {
        self.log.snapshot()
    }

    /// The hard state written last.
    pub fn hard_state(&self) -> HardState {
        self.hard_state
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn check_not_failed(&self) -> Result<(), StorageError> {
        match &self.failure {
            None => Ok(()),
            Some(StorageError::Io(original)) => Err(StorageError::Io(format!(
                "storage is in a failed state after an earlier error: {original}"
            ))),
            Some(StorageError::Corrupt(original)) => Err(StorageError::Corrupt(format!(
                "storage is in a failed state after an earlier error: {original}"
            ))),
        }
    }

    fn record_failure(&mut self, result: Result<(), StorageError>) -> Result<(), StorageError> {
        if let Err(error) = &result {
            tracing::error!(dir = %self.dir.display(), %error, "storage failed; it accepts no more writes");
            self.failure = Some(error.clone());
        }
        result
    }

    /// Checks that `request` fits the written log, as the core guarantees it does.
    fn validate(&self, request: &PersistRequest) -> Result<(), String> {
        let (snapshot_index, last_index) = match &request.snapshot {
            Some(snapshot) => {
                let id = snapshot.meta.last_included;
                let last = if self.log.holds(id) {
                    self.log.last_index()
                } else {
                    id.index
                };
                (id.index, last)
            }
            None => (self.log.snapshot().index, self.log.last_index()),
        };
        let Some(first) = request.entries.first() else {
            return Ok(());
        };
        if first.index <= snapshot_index || first.index > last_index.next() {
            return Err(format!(
                "entries from {} do not fit the log spanning ({snapshot_index}, {last_index}]",
                first.index
            ));
        }
        for pair in request.entries.windows(2) {
            if pair[1].index != pair[0].index.next() {
                return Err(format!(
                    "entry {} follows entry {}",
                    pair[1].index, pair[0].index
                ));
            }
        }
        Ok(())
    }

    fn write_request(&mut self, request: &PersistRequest) -> Result<(), StorageError> {
        self.validate(request).map_err(|what| {
            StorageError::Corrupt(format!("invalid persist request {}: {what}", request.id.0))
        })?;
        if request.is_empty() {
            return Ok(());
        }
        if self.wal.needs_roll() {
            let checkpoint = ReplayedLog::checkpoint(
                self.hard_state,
                self.log.snapshot(),
                self.log.last_index(),
            );
            self.wal.roll(&checkpoint)?;
        }
        let mut record = RequestRecord {
            request_id: request.id.0,
            snapshot: None,
            truncate_from: None,
            first_index: 0,
            entries: Vec::new(),
            hard_state: None,
        };
        if let Some(snapshot) = &request.snapshot {
            let id = snapshot.meta.last_included;
            let keep_log = self.log.holds(id);
            self.snapshots.save(snapshot)?;
            self.log.install_snapshot(id, keep_log);
            record.snapshot = Some(SnapshotMarker {
                index: id.index.0,
                term: id.term.0,
                keep_log,
            });
        }
        let mut max_index = None;
        if let (Some(first), Some(last)) = (request.entries.first(), request.entries.last()) {
            if first.index <= self.log.last_index() {
                record.truncate_from = Some(first.index.0);
                self.log.truncate_from(first.index);
            }
            self.log.append(&request.entries);
            record.first_index = first.index.0;
            record.entries = request
                .entries
                .iter()
                .map(EntryRecord::from_entry)
                .collect();
            max_index = Some(last.index.0);
        }
        if let Some(hard_state) = request.hard_state {
            self.hard_state = hard_state;
            record.hard_state = Some(HardStateRecord::from(hard_state));
        }
        self.wal.append(&record, max_index)
    }

    /// Reads the state back from the files. Records written but not yet synced are
    /// included only once flushed to the file, so call it after [`DiskStorage::sync`].
    fn read_back(&self) -> Result<RecoveredState, StorageError> {
        let wal_dir = self.dir.join(WAL_DIR);
        let scan = scan_wal(&wal_dir)?.ok_or_else(|| {
            StorageError::Corrupt(format!("{} holds no segment", wal_dir.display()))
        })?;
        let snapshot = load_snapshot(&self.dir.join(SNAPSHOT_DIR), scan.outcome.snapshot)?;
        Ok(RecoveredState {
            hard_state: scan.outcome.hard_state,
            snapshot,
            entries: scan.outcome.entries,
        })
    }
}

impl Storage for DiskStorage {
    /// Reads the durable state back from disk (see [`DiskStorage::open`] for a restart).
    fn recover(&self) -> Result<RecoveredState, StorageError> {
        self.check_not_failed()?;
        self.read_back()
    }

    /// `write` then `sync`: durable when it returns `Ok`.
    fn persist(&mut self, request: &PersistRequest) -> Result<(), StorageError> {
        self.write(request)?;
        self.sync()
    }
}

/// Takes an exclusive `flock` on `dir/LOCK`, held as long as the returned file is open.
fn lock_directory(dir: &Path) -> Result<File, StorageError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|error| io_error("open", &path, error))?;
    // SAFETY: flock on a file descriptor we own; no memory is involved.
    let result = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if result != 0 {
        let error = std::io::Error::last_os_error();
        return Err(StorageError::Io(format!(
            "data directory {} is in use by another process (flock {}: {error})",
            dir.display(),
            path.display()
        )));
    }
    Ok(file)
}
