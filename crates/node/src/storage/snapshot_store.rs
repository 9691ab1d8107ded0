//! Snapshot files: one per snapshot, written to a temporary file, fdatasynced, renamed into
//! place, and the directory fsynced. Older files are removed only once the WAL record that
//! replaces them is durable.
//!
//! ```text
//! file   = header (40 bytes) ++ meta (M bytes, prost SnapshotMetaRecord) ++ data (D bytes)
//! header = magic "RAFTKVSN" | version: u32 LE | M: u32 LE | D: u64 LE | meta_crc: u32 LE
//!          | data_crc: u32 LE | header_crc: u32 LE (crc32c of bytes 0..32) | 0u32
//! name   = <index, 20 digits>-<term, 20 digits>.snap
//! ```

use super::file::{corrupt, io_error, read_file, FileIo};
use bytes::Bytes;
use prost::Message;
use raft::{EntryId, Snapshot, SnapshotMeta, StorageError};
use std::path::{Path, PathBuf};

/// Identifies a snapshot file.
const SNAPSHOT_MAGIC: [u8; 8] = *b"RAFTKVSN";
/// The snapshot format this build writes and reads.
const SNAPSHOT_VERSION: u32 = 1;
const HEADER_LEN: usize = 40;

/// The snapshot's metadata as stored (tagged, so fields can be added later).
#[derive(Clone, Copy, PartialEq, Eq, Message)]
struct SnapshotMetaRecord {
    /// Last included index.
    #[prost(uint64, tag = "1")]
    index: u64,
    /// Last included term.
    #[prost(uint64, tag = "2")]
    term: u64,
}

/// The file name of the snapshot ending at `id`.
fn snapshot_file_name(id: EntryId) -> String {
    format!("{:020}-{:020}.snap", id.index.0, id.term.0)
}

fn parse_snapshot_file_name(name: &str) -> Option<EntryId> {
    let stem = name.strip_suffix(".snap")?;
    let (index, term) = stem.split_once('-')?;
    if index.len() != 20 || term.len() != 20 {
        return None;
    }
    Some(EntryId::new(term.parse().ok()?, index.parse().ok()?))
}

/// Encodes a snapshot file: header and meta (the data follows as its own buffer).
fn encode_header_and_meta(snapshot: &Snapshot) -> Vec<u8> {
    let id = snapshot.meta.last_included;
    let meta = SnapshotMetaRecord {
        index: id.index.0,
        term: id.term.0,
    }
    .encode_to_vec();
    let mut out = vec![0u8; HEADER_LEN];
    out[0..8].copy_from_slice(&SNAPSHOT_MAGIC);
    out[8..12].copy_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    out[12..16].copy_from_slice(&(meta.len() as u32).to_le_bytes());
    out[16..24].copy_from_slice(&(snapshot.data.len() as u64).to_le_bytes());
    out[24..28].copy_from_slice(&crc32c::crc32c(&meta).to_le_bytes());
    out[28..32].copy_from_slice(&crc32c::crc32c(&snapshot.data).to_le_bytes());
    let header_crc = crc32c::crc32c(&out[0..32]);
    out[32..36].copy_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(&meta);
    out
}

/// Reads and verifies the snapshot file at `path`.
pub(crate) fn read_snapshot_file(path: &Path) -> Result<Snapshot, StorageError> {
    let data = read_file(path)?;
    if data.len() < HEADER_LEN {
        return Err(corrupt(
            path,
            0,
            format!("snapshot header cut short ({} bytes)", data.len()),
        ));
    }
    if data[0..8] != SNAPSHOT_MAGIC {
        return Err(corrupt(path, 0, "not a raftkv snapshot file (bad magic)"));
    }
    let word = |at: usize| u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
    if word(8) != SNAPSHOT_VERSION {
        return Err(corrupt(
            path,
            8,
            format!(
                "snapshot format version {}; this build reads version {SNAPSHOT_VERSION}",
                word(8)
            ),
        ));
    }
    let computed = crc32c::crc32c(&data[0..32]);
    if word(32) != computed {
        return Err(corrupt(path, 32, "snapshot header checksum mismatch"));
    }
    if word(36) != 0 {
        return Err(corrupt(
            path,
            36,
            "snapshot header reserved bytes are not zero",
        ));
    }
    let meta_len = word(12) as usize;
    let data_len = u64::from_le_bytes(data[16..24].try_into().unwrap()) as usize;
    let meta_end = HEADER_LEN + meta_len;
    if data.len() != meta_end + data_len {
        return Err(corrupt(
            path,
            data.len().min(meta_end + data_len) as u64,
            format!(
                "snapshot file is {} bytes, its header says {}",
                data.len(),
                meta_end + data_len
            ),
        ));
    }
    let meta = &data[HEADER_LEN..meta_end];
    if crc32c::crc32c(meta) != word(24) {
        return Err(corrupt(
            path,
            HEADER_LEN as u64,
            "snapshot metadata checksum mismatch",
        ));
    }
    if crc32c::crc32c(&data[meta_end..]) != word(28) {
        return Err(corrupt(
            path,
            meta_end as u64,
            "snapshot data checksum mismatch",
        ));
    }
    let meta = SnapshotMetaRecord::decode(meta).map_err(|error| {
        corrupt(
            path,
            HEADER_LEN as u64,
            format!("undecodable snapshot metadata: {error}"),
        )
    })?;
    let mut data = Bytes::from(data);
    Ok(Snapshot {
        meta: SnapshotMeta {
            last_included: EntryId::new(meta.term, meta.index),
        },
        data: data.split_off(meta_end),
    })
}

/// Loads the snapshot ending at `id` from `dir` (the empty snapshot for index 0).
pub(crate) fn load_snapshot(dir: &Path, id: EntryId) -> Result<Snapshot, StorageError> {
    if id.index.0 == 0 {
        return Ok(Snapshot::default());
    }
    let path = dir.join(snapshot_file_name(id));
    if !path.exists() {
        return Err(StorageError::Corrupt(format!(
            "the WAL records snapshot {id}, but its file {} is missing",
            path.display()
        )));
    }
    let snapshot = read_snapshot_file(&path)?;
    if snapshot.meta.last_included != id {
        return Err(corrupt(
            &path,
            HEADER_LEN as u64,
            format!(
                "snapshot file holds {}, its name says {id}",
                snapshot.meta.last_included
            ),
        ));
    }
    Ok(snapshot)
}

/// The current snapshot file.
#[derive(Clone, Debug, PartialEq, Eq)]
struct StoredSnapshot {
    id: EntryId,
    path: PathBuf,
    size_bytes: u64,
}

/// The directory of snapshot files.
#[derive(Debug)]
pub(crate) struct SnapshotStore {
    dir: PathBuf,
    io: FileIo,
    /// The latest snapshot written (`None`: the empty snapshot).
    current: Option<StoredSnapshot>,
    /// Files replaced by a later snapshot, to remove once the WAL says so durably.
    obsolete: Vec<PathBuf>,
}

impl SnapshotStore {
    /// Opens the store whose current snapshot is `id` (from the WAL). Loads and verifies
    /// it, and removes every other file in the directory: temporary files, snapshots the
    /// WAL has moved past, and snapshots written but never recorded in the WAL.
    /// Returns the store, the snapshot, and the files removed.
    pub fn open(
        dir: &Path,
        io: FileIo,
        id: EntryId,
    ) -> Result<(SnapshotStore, Snapshot, Vec<PathBuf>), StorageError> {
        let mut store = SnapshotStore {
            dir: dir.to_path_buf(),
            io,
            current: None,
            obsolete: Vec::new(),
        };
        let snapshot = load_snapshot(dir, id)?;
        if !snapshot.is_empty() {
            let path = dir.join(snapshot_file_name(id));
            let size_bytes = std::fs::metadata(&path)
                .map_err(|error| io_error("stat", &path, error))?
                .len();
            store.current = Some(StoredSnapshot {
                id,
                path,
                size_bytes,
            });
        }
        let mut removed = Vec::new();
        let listing = std::fs::read_dir(dir).map_err(|error| io_error("list", dir, error))?;
        for item in listing {
            let item = item.map_err(|error| io_error("list", dir, error))?;
            let name = item.file_name();
            let Some(name) = name.to_str() else { continue };
            let ours = name.ends_with(".snap.tmp") || parse_snapshot_file_name(name).is_some();
            let current = store
                .current
                .as_ref()
                .is_some_and(|c| c.path == item.path());
            if ours && !current {
                std::fs::remove_file(item.path())
                    .map_err(|error| io_error("remove", &item.path(), error))?;
                removed.push(item.path());
            }
        }
        if !removed.is_empty() {
            store.io.sync_dir(dir)?;
        }
        Ok((store, snapshot, removed))
    }

    /// Writes `snapshot` durably (temporary file, fdatasync, rename, directory fsync) and
    /// makes it current. The previous file stays until [`SnapshotStore::remove_obsolete`].
    /// The empty snapshot has no file.
    pub fn save(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        let id = snapshot.meta.last_included;
        let next = if snapshot.is_empty() {
            None
        } else {
            let path = self.dir.join(snapshot_file_name(id));
            let header = encode_header_and_meta(snapshot);
            // Durability point of a snapshot: fdatasync of the temporary file, rename,
            // fsync of the directory, all before the WAL record that names it is written.
            self.io
                .write_file_atomically(&path, &[&header, &snapshot.data])?;
            Some(StoredSnapshot {
                id,
                size_bytes: (header.len() + snapshot.data.len()) as u64,
                path,
            })
        };
        if let Some(previous) = self.current.take() {
            if next.as_ref().map(|n| &n.path) != Some(&previous.path) {
                self.obsolete.push(previous.path);
            }
        }
        self.current = next;
        Ok(())
    }

    /// Removes the files replaced by later snapshots. Call once the WAL record naming the
    /// current snapshot is durable. Failures are logged: a leftover is removed on restart.
    pub fn remove_obsolete(&mut self) -> Vec<PathBuf> {
        let mut removed = Vec::new();
        for path in self.obsolete.drain(..) {
            match std::fs::remove_file(&path) {
                Ok(()) => removed.push(path),
                Err(error) => {
                    tracing::warn!(file = %path.display(), %error, "could not delete an old snapshot")
                }
            }
        }
        removed
    }

    /// Bytes of the current snapshot file (0 for the empty snapshot).
    pub fn size_bytes(&self) -> u64 {
        self.current.as_ref().map_or(0, |c| c.size_bytes)
    }

    /// Path of the current snapshot file, if any.
    #[cfg(test)]
    pub fn current_path(&self) -> Option<&Path> {
        self.current.as_ref().map(|c| c.path.as_path())
    }
}

/// True if `dir` holds any snapshot file.
pub(crate) fn has_snapshot_files(dir: &Path) -> Result<bool, StorageError> {
    if !dir.is_dir() {
        return Ok(false);
    }
    let listing = std::fs::read_dir(dir).map_err(|error| io_error("list", dir, error))?;
    for item in listing {
        let item = item.map_err(|error| io_error("list", dir, error))?;
        if item
            .file_name()
            .to_str()
            .and_then(parse_snapshot_file_name)
            .is_some()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(index: u64, term: u64, data: &'static [u8]) -> Snapshot {
        Snapshot {
            meta: SnapshotMeta {
                last_included: EntryId::new(term, index),
            },
            data: Bytes::from_static(data),
        }
    }

    #[test]
    fn save_load_and_replace() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, loaded, _) =
            SnapshotStore::open(dir.path(), FileIo::default(), EntryId::default()).unwrap();
        assert!(loaded.is_empty());
        store.save(&snapshot(5, 2, b"five")).unwrap();
        store.save(&snapshot(9, 3, b"nine")).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
        assert_eq!(store.remove_obsolete().len(), 1);
        let path = store.current_path().unwrap().to_path_buf();
        assert_eq!(read_snapshot_file(&path).unwrap(), snapshot(9, 3, b"nine"));
        assert_eq!(store.size_bytes(), std::fs::metadata(&path).unwrap().len());
        // Reopening at the WAL's snapshot keeps it and removes strays.
        std::fs::write(dir.path().join("x.snap.tmp"), b"junk").unwrap();
        let (_, loaded, removed) =
            SnapshotStore::open(dir.path(), FileIo::default(), EntryId::new(3, 9)).unwrap();
        assert_eq!(loaded, snapshot(9, 3, b"nine"));
        assert_eq!(removed.len(), 1);
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _, _) =
            SnapshotStore::open(dir.path(), FileIo::default(), EntryId::default()).unwrap();
        store.save(&snapshot(5, 2, b"some state")).unwrap();
        let path = store.current_path().unwrap().to_path_buf();
        let good = std::fs::read(&path).unwrap();
        for bit in 0..good.len() * 8 {
            let mut bad = good.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            std::fs::write(&path, &bad).unwrap();
            let error = read_snapshot_file(&path).unwrap_err().to_string();
            assert!(error.contains(&path.display().to_string()), "{error}");
        }
    }
}
