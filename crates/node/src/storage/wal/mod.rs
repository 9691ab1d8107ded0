//! The write-ahead log: append-only segment files in one directory.
//!
//! Every segment starts with a checkpoint record (hard state, snapshot, last index as of
//! its creation), followed by one request record per persist request. A segment is closed
//! (fdatasynced, then never written again) when it reaches the configured size, and deleted
//! whole once a durable snapshot covers every entry written in it. See
//! `docs/design/storage-format.md`.

pub(crate) mod record;
pub(crate) mod replay;
pub(crate) mod segment;

use crate::storage::file::{corrupt, io_error, read_file, FileIo};
use prost::Message;
use raft::StorageError;
use record::{encode_frame, CheckpointRecord, RecordKind, RequestRecord};
use replay::{ReplayOutcome, ReplayedLog};
use segment::{
    encode_segment_header, parse_segment_file_name, scan_segment, segment_file_name, ScannedRecord,
};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// Buffered bytes beyond which `append` writes them out before the next sync.
const WRITE_BUFFER_BYTES: usize = 1 << 20;

/// One segment file as the WAL tracks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SegmentInfo {
    /// Sequence number (1, 2, ...).
    pub seq: u64,
    /// Its path.
    pub path: PathBuf,
    /// The highest log index written in it, or its checkpoint's last index if higher.
    /// The segment may be deleted once a durable snapshot reaches this index.
    pub max_index: u64,
    /// Bytes it holds (for the active one: written plus buffered).
    pub len: u64,
}

/// A repair the last segment needs after a crash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Repair {
    /// Cut the file to `valid_len` bytes: the rest is a torn write.
    Truncate {
        path: PathBuf,
        valid_len: u64,
        file_len: u64,
        reason: String,
    },
    /// Remove the file: it was being created and holds no complete checkpoint.
    Remove { path: PathBuf, reason: String },
}

/// What reading the whole WAL found.
#[derive(Debug)]
pub(crate) struct WalScan {
    /// The replayed state.
    pub outcome: ReplayOutcome,
    /// The segments that hold data, oldest first.
    pub segments: Vec<SegmentInfo>,
    /// A repair the last segment needs, if any.
    pub repair: Option<Repair>,
    /// The sequence number of the segment removed by `repair`, if any.
    pub removed_seq: Option<u64>,
    /// The store id shared by the segments (`None` if no segment survived).
    pub store_id: Option<u64>,
}

/// Lists the segment files in `dir`, oldest first.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    let mut segments = Vec::new();
    let listing = std::fs::read_dir(dir).map_err(|error| io_error("list", dir, error))?;
    for item in listing {
        let item = item.map_err(|error| io_error("list", dir, error))?;
        let name = item.file_name();
        if let Some(seq) = name.to_str().and_then(parse_segment_file_name) {
            segments.push((seq, item.path()));
        }
    }
    segments.sort();
    Ok(segments)
}

/// Reads and replays every segment in `dir`. Changes nothing on disk. `Ok(None)` when
/// there are no segments at all.
pub(crate) fn scan_wal(dir: &Path) -> Result<Option<WalScan>, StorageError> {
    let files = list_segments(dir)?;
    let Some(&(last_seq, _)) = files.last() else {
        return Ok(None);
    };
    check_no_gaps(&files)?;
    let mut log: Option<ReplayedLog> = None;
    let mut segments = Vec::new();
    let mut repair = None;
    let mut removed_seq = None;
    let mut store_id = None;
    for (seq, path) in &files {
        let is_last = *seq == last_seq;
        let data = read_file(path)?;
        let scanned = scan_segment(path, &data, *seq, store_id, is_last)?;
        let Some(first) = scanned.records.first() else {
            // Only the last segment can get here (scan_segment errs otherwise): it was
            // being created when the node stopped, and holds no complete checkpoint.
            let reason = scanned
                .torn
                .unwrap_or_else(|| "no checkpoint record".to_string());
            repair = Some(Repair::Remove {
                path: path.clone(),
                reason,
            });
            removed_seq = Some(*seq);
            break;
        };
        store_id = Some(scanned.store_id);
        let checkpoint = decode_checkpoint(path, &data, first)?;
        let replayed = match &mut log {
            None => log.insert(ReplayedLog::from_checkpoint(&checkpoint)),
            Some(replayed) => {
                replayed
                    .check_checkpoint(&checkpoint)
                    .map_err(|what| corrupt(path, first.offset as u64, what))?;
                replayed
            }
        };
        let max_index = replay_requests(
            path,
            &data,
            &scanned.records[1..],
            replayed,
            checkpoint.last_index,
        )?;
        if let Some(reason) = scanned.torn {
            repair = Some(Repair::Truncate {
                path: path.clone(),
                valid_len: scanned.valid_len as u64,
                file_len: data.len() as u64,
                reason,
            });
        }
        segments.push(SegmentInfo {
            seq: *seq,
            path: path.clone(),
            max_index,
            len: scanned.valid_len as u64,
        });
    }
    let Some(log) = log else {
        // The only segment was being created. That is a fresh store only if it is the first.
        if last_seq != 1 {
            return Err(corrupt(
                &files[0].1,
                0,
                "the only WAL segment holds no checkpoint, and earlier segments are gone",
            ));
        }
        return Ok(Some(WalScan {
            outcome: ReplayedLog::from_checkpoint(&CheckpointRecord::default())
                .finish()
                .expect("the empty log is complete"),
            segments,
            repair,
            removed_seq,
            store_id,
        }));
    };
    let outcome = log.finish().map_err(|what| corrupt(&files[0].1, 0, what))?;
    Ok(Some(WalScan {
        outcome,
        segments,
        repair,
        removed_seq,
        store_id,
    }))
}

/// Segment sequence numbers must be consecutive: a gap means a lost segment.
fn check_no_gaps(files: &[(u64, PathBuf)]) -> Result<(), StorageError> {
    for pair in files.windows(2) {
        if pair[1].0 != pair[0].0 + 1 {
            return Err(StorageError::Corrupt(format!(
                "WAL segment {} is missing: {} is followed by {}",
                pair[0].0 + 1,
                pair[0].1.display(),
                pair[1].1.display()
            )));
        }
    }
    Ok(())
}

/// Decodes the checkpoint record every segment starts with.
fn decode_checkpoint(
    path: &Path,
    data: &[u8],
    first: &ScannedRecord,
) -> Result<CheckpointRecord, StorageError> {
    let at = first.offset as u64;
    if first.kind != RecordKind::Checkpoint as u8 {
        return Err(corrupt(
            path,
            at,
            "segment does not start with a checkpoint record",
        ));
    }
    CheckpointRecord::decode(&data[first.body_start..first.end])
        .map_err(|error| corrupt(path, at, format!("undecodable checkpoint: {error}")))
}

/// Replays a segment's request records onto `replayed`; returns the highest entry
/// index the segment holds (starting from its checkpoint's `last_index`).
fn replay_requests(
    path: &Path,
    data: &[u8],
    records: &[ScannedRecord],
    replayed: &mut ReplayedLog,
    mut max_index: u64,
) -> Result<u64, StorageError> {
    for record in records {
        let at = record.offset as u64;
        if record.kind != RecordKind::Request as u8 {
            let what = format!(
                "unexpected record kind {} (written by a newer version?)",
                record.kind
            );
            return Err(corrupt(path, at, what));
        }
        let request = RequestRecord::decode(&data[record.body_start..record.end])
            .map_err(|error| corrupt(path, at, format!("undecodable request record: {error}")))?;
        if !request.entries.is_empty() {
            max_index = max_index.max(request.first_index + request.entries.len() as u64 - 1);
        }
        replayed
            .apply(request)
            .map_err(|what| corrupt(path, at, what))?;
    }
    Ok(max_index)
}

/// The open WAL: closed segments plus the active one being appended to.
#[derive(Debug)]
pub(crate) struct Wal {
    dir: PathBuf,
    io: FileIo,
    segment_size_bytes: u64,
    /// Written in every segment header.
    store_id: u64,
    /// Oldest first; the last is the active segment. Never empty.
    segments: Vec<SegmentInfo>,
    active: File,
    /// Encoded records not yet written to `active`.
    buffer: Vec<u8>,
    /// Something was written or buffered since the last sync.
    unsynced: bool,
    /// A segment was created since the last sync (the directory needs an fsync).
    dir_unsynced: bool,
}

impl Wal {
    /// Starts a WAL in `dir` with segment `seq` holding `checkpoint`.
    pub fn create(
        dir: &Path,
        io: FileIo,
        segment_size_bytes: u64,
        store_id: Option<u64>,
        seq: u64,
        checkpoint: &CheckpointRecord,
    ) -> Result<Wal, StorageError> {
        let store_id = store_id.unwrap_or_else(segment::new_store_id);
        let (active, info, buffer) = Self::new_segment(dir, seq, store_id, checkpoint)?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            io,
            segment_size_bytes,
            store_id,
            segments: vec![info],
            active,
            buffer,
            unsynced: true,
            dir_unsynced: true,
        })
    }

    fn new_segment(
        dir: &Path,
        seq: u64,
        store_id: u64,
        checkpoint: &CheckpointRecord,
    ) -> Result<(File, SegmentInfo, Vec<u8>), StorageError> {
        let path = dir.join(segment_file_name(seq));
        let active = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|error| io_error("create", &path, error))?;
        let mut buffer = encode_segment_header(seq, store_id).to_vec();
        encode_frame(RecordKind::Checkpoint, checkpoint, &mut buffer);
        let info = SegmentInfo {
            seq,
            path,
            max_index: checkpoint.last_index,
            len: buffer.len() as u64,
        };
        Ok((active, info, buffer))
    }

    /// Continues the WAL found by `scan` after a restart: applies its repair, then makes
    /// the whole recovered WAL durable (the previous process may have died with records
    /// in the page cache only: they are about to be reported as recovered, so they must be
    /// on disk first).
    pub fn reopen(
        dir: &Path,
        io: FileIo,
        segment_size_bytes: u64,
        scan: &WalScan,
    ) -> Result<Wal, StorageError> {
        match &scan.repair {
            Some(Repair::Truncate {
                path,
                valid_len,
                file_len,
                reason,
            }) => {
                tracing::warn!(
                    file = %path.display(),
                    offset = valid_len,
                    dropped_bytes = file_len - valid_len,
                    reason = %reason,
                    "WAL: truncating a torn write at the end of the log"
                );
                let file = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|error| io_error("open", path, error))?;
                file.set_len(*valid_len)
                    .map_err(|error| io_error("truncate", path, error))?;
            }
            Some(Repair::Remove { path, reason }) => {
                tracing::warn!(
                    file = %path.display(),
                    reason = %reason,
                    "WAL: removing a segment that was being created when the node stopped"
                );
                std::fs::remove_file(path).map_err(|error| io_error("remove", path, error))?;
            }
            None => {}
        }
        let mut segments = scan.segments.clone();
        let Some(last) = segments.last() else {
            let seq = scan.removed_seq.unwrap_or(1);
            let checkpoint = ReplayedLog::checkpoint(
                scan.outcome.hard_state,
                scan.outcome.snapshot,
                raft::Index(scan.outcome.snapshot.index.0 + scan.outcome.entries.len() as u64),
            );
            let mut wal = Wal::create(dir, io, segment_size_bytes, None, seq, &checkpoint)?;
            wal.sync()?;
            return Ok(wal);
        };
        let active = OpenOptions::new()
            .append(true)
            .open(&last.path)
            .map_err(|error| io_error("open", &last.path, error))?;
        // Durability point: everything recovered is on disk before it is reported.
        io.sync_data(&active, &last.path)?;
        io.sync_dir(dir)?;
        segments.shrink_to_fit();
        Ok(Wal {
            dir: dir.to_path_buf(),
            io,
            segment_size_bytes,
            store_id: scan.store_id.expect("a surviving segment has a store id"),
            segments,
            active,
            buffer: Vec::new(),
            unsynced: false,
            dir_unsynced: false,
        })
    }

    /// The active segment.
    fn active_info(&mut self) -> &mut SegmentInfo {
        self.segments
            .last_mut()
            .expect("the WAL always has an active segment")
    }

    /// True when the active segment has reached the configured size.
    pub fn needs_roll(&self) -> bool {
        self.segments
            .last()
            .is_some_and(|s| s.len >= self.segment_size_bytes)
    }

    /// Appends one request record (buffered; durable after [`Wal::sync`]).
    /// `max_index` is the highest entry index it writes, if any.
    pub fn append(
        &mut self,
        record: &RequestRecord,
        max_index: Option<u64>,
    ) -> Result<(), StorageError> {
        let before = self.buffer.len();
        encode_frame(RecordKind::Request, record, &mut self.buffer);
        let added = (self.buffer.len() - before) as u64;
        let active = self.active_info();
        active.len += added;
        if let Some(index) = max_index {
            active.max_index = active.max_index.max(index);
        }
        self.unsynced = true;
        if self.buffer.len() >= WRITE_BUFFER_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Closes the active segment and starts the next one with `checkpoint`.
    ///
    /// The closed segment is fdatasynced first, so that a segment that is not the last
    /// one is always complete on disk: recovery then treats any damage inside it as
    /// corruption, never as a torn write.
    pub fn roll(&mut self, checkpoint: &CheckpointRecord) -> Result<(), StorageError> {
        self.flush()?;
        let closing = self.segments.last().expect("active segment").path.clone();
        self.io.sync_data(&self.active, &closing)?;
        let seq = self.segments.last().expect("active segment").seq + 1;
        let (active, info, buffer) = Self::new_segment(&self.dir, seq, self.store_id, checkpoint)?;
        self.active = active;
        self.buffer = buffer;
        self.segments.push(info);
        self.unsynced = true;
        self.dir_unsynced = true;
        Ok(())
    }

    /// Writes the buffered records to the active segment (not durable yet).
    pub fn flush(&mut self) -> Result<(), StorageError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let path = &self.segments.last().expect("active segment").path;
        let result = self.io.write_all(&mut self.active, path, &self.buffer);
        self.buffer.clear();
        result
    }

    /// Makes every appended record durable: one write of the buffer, one fdatasync of
    /// the active segment, and an fsync of the directory if a segment was created.
    pub fn sync(&mut self) -> Result<(), StorageError> {
        self.flush()?;
        if self.unsynced {
            let path = &self.segments.last().expect("active segment").path;
            // Durability point of the WAL (fdatasync before acknowledging).
            self.io.sync_data(&self.active, path)?;
            self.unsynced = false;
        }
        if self.dir_unsynced {
            // The new segment's directory entry must survive a crash too.
            self.io.sync_dir(&self.dir)?;
            self.dir_unsynced = false;
        }
        Ok(())
    }

    /// Deletes, oldest first, the closed segments whose entries all lie at or below
    /// `snapshot_index`. Call only once a snapshot at that index is durable. Returns the
    /// paths removed. Failures are logged, not fatal: a leftover segment is read again
    /// on the next start and deleted then.
    pub fn delete_through(&mut self, snapshot_index: u64) -> Vec<PathBuf> {
        let mut removed = Vec::new();
        while self.segments.len() > 1 && self.segments[0].max_index <= snapshot_index {
            let path = self.segments[0].path.clone();
            if let Err(error) = std::fs::remove_file(&path) {
                tracing::warn!(file = %path.display(), %error, "WAL: could not delete an obsolete segment");
                break;
            }
            self.segments.remove(0);
            removed.push(path);
        }
        if !removed.is_empty() {
            if let Err(error) = self.io.sync_dir(&self.dir) {
                tracing::warn!(%error, "WAL: could not fsync the directory after deleting segments");
            }
        }
        removed
    }

    /// Bytes in all segment files (including buffered bytes).
    pub fn disk_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.len).sum()
    }

    /// The segments, oldest first (the last is active).
    pub fn segments(&self) -> &[SegmentInfo] {
        &self.segments
    }
}
