//! The few file operations storage performs, each naming its file in its error, each
//! passing through the optional [`FaultInjector`].
//!
//! Durability in this crate is established only by [`FileIo::sync_data`] (fdatasync of a
//! file's contents and the metadata needed to read them back) and [`FileIo::sync_dir`]
//! (fsync of a directory, which makes file creations, renames and deletions in it durable).

use super::fault::{FaultInjector, FaultOp};
use raft::StorageError;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Builds the error for a failed operation on `path`.
pub(crate) fn io_error(operation: &str, path: &Path, error: io::Error) -> StorageError {
    StorageError::Io(format!("{operation} {}: {error}", path.display()))
}

/// Builds the error for invalid stored data at `offset` of `path`.
pub(crate) fn corrupt(path: &Path, offset: u64, what: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(format!("{} at byte {offset}: {what}", path.display()))
}

/// Writes and syncs, with fault injection and an opt-out of fsync for tests.
#[derive(Clone, Debug, Default)]
pub(crate) struct FileIo {
    /// Faults to inject (tests only).
    pub fault: Option<Arc<FaultInjector>>,
    /// Skip every fsync/fdatasync (tests only: survives a process crash, not a power loss).
    pub no_fsync: bool,
}

impl FileIo {
    /// Writes all of `data` at the file's current position.
    pub fn write_all(&self, file: &mut File, path: &Path, data: &[u8]) -> Result<(), StorageError> {
        if let Some(fault) = &self.fault {
            if let Some((written, error)) = fault.on_operation(FaultOp::Write) {
                let written = written.min(data.len());
                // A short write: part of the data reaches the file, then the error.
                let _ = file.write_all(&data[..written]);
                return Err(io_error("write to", path, error));
            }
        }
        file.write_all(data)
            .map_err(|error| io_error("write to", path, error))
    }

    /// fdatasync: the file's data (and its size) are durable when this returns `Ok`.
    pub fn sync_data(&self, file: &File, path: &Path) -> Result<(), StorageError> {
        self.inject_sync(path)?;
        if self.no_fsync {
            return Ok(());
        }
        file.sync_data()
            .map_err(|error| io_error("fdatasync", path, error))
    }

    /// fsync of a directory: entries created, renamed or removed in it are durable when
    /// this returns `Ok`.
    pub fn sync_dir(&self, dir: &Path) -> Result<(), StorageError> {
        self.inject_sync(dir)?;
        if self.no_fsync {
            return Ok(());
        }
        let handle = File::open(dir).map_err(|error| io_error("open directory", dir, error))?;
        handle
            .sync_all()
            .map_err(|error| io_error("fsync directory", dir, error))
    }

    fn inject_sync(&self, path: &Path) -> Result<(), StorageError> {
        if let Some(fault) = &self.fault {
            if let Some((_, error)) = fault.on_operation(FaultOp::Sync) {
                return Err(io_error("fsync", path, error));
            }
        }
        Ok(())
    }

    /// Writes `data` to `path` atomically: a temporary file in the same directory, written,
    /// fdatasynced, renamed over `path`, then the directory fsynced. When this returns
    /// `Ok`, `path` durably holds `data`; after a crash it holds either this or its former
    /// content, never a mix.
    pub fn write_file_atomically(&self, path: &Path, data: &[&[u8]]) -> Result<(), StorageError> {
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        let temporary = temporary_path(path);
        let mut file =
            File::create(&temporary).map_err(|error| io_error("create", &temporary, error))?;
        for part in data {
            self.write_all(&mut file, &temporary, part)?;
        }
        self.sync_data(&file, &temporary)?;
        drop(file);
        std::fs::rename(&temporary, path).map_err(|error| io_error("rename", &temporary, error))?;
        self.sync_dir(dir)
    }
}

/// The temporary name under which `path` is written before its rename.
pub(crate) fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Reads a whole file.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, StorageError> {
    std::fs::read(path).map_err(|error| io_error("read", path, error))
}

/// Creates `dir` if needed; fsyncs its parent when it was created, so it survives a crash.
pub(crate) fn ensure_dir(io: &FileIo, dir: &Path) -> Result<(), StorageError> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|error| io_error("create directory", dir, error))?;
    if let Some(parent) = dir.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        io.sync_dir(parent)?;
    }
    Ok(())
}
