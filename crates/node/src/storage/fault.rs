//! Fault injection for tests: fail the Nth write or sync the storage issues.
//!
//! A [`FaultInjector`] is shared (`Arc`) between a test and the storage through
//! [`super::StorageOptions::fault_injector`]. When none is configured the storage pays one
//! `Option` check per operation. Counting is global to the injector: every `write(2)`-level
//! call to any storage file (WAL segment, snapshot) counts as one write, and every
//! `fsync`/`fdatasync` of a file or directory counts as one sync.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Which kind of operation a fault targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultOp {
    /// A write of bytes to a storage file.
    Write,
    /// An `fsync`/`fdatasync` of a storage file or directory.
    Sync,
}

/// The error an injected fault produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InjectedError {
    /// An error of this kind (e.g. `io::ErrorKind::Other`).
    Kind(io::ErrorKind),
    /// A raw OS error number, e.g. `libc::ENOSPC` or `libc::EIO`.
    Os(i32),
}

impl InjectedError {
    /// A full disk.
    pub const ENOSPC: InjectedError = InjectedError::Os(libc::ENOSPC);
    /// A device I/O error.
    pub const EIO: InjectedError = InjectedError::Os(libc::EIO);

    fn to_io_error(self) -> io::Error {
        match self {
            InjectedError::Kind(kind) => io::Error::new(kind, "injected fault"),
            InjectedError::Os(code) => io::Error::from_raw_os_error(code),
        }
    }
}

#[derive(Clone, Debug)]
struct FaultRule {
    op: FaultOp,
    /// 1-based ordinal of the operation to fail, counted over this injector's life.
    nth: u64,
    error: InjectedError,
    /// For writes: how many bytes reach the file before the error (a short write).
    bytes_before_failure: usize,
}

/// Fails chosen storage operations. Cheap to share; thread-safe.
#[derive(Debug, Default)]
pub struct FaultInjector {
    writes: AtomicU64,
    syncs: AtomicU64,
    rules: Mutex<Vec<FaultRule>>,
}

impl FaultInjector {
    /// An injector with no faults planned.
    pub fn new() -> FaultInjector {
        FaultInjector::default()
    }

    /// Writes issued so far (failed ones included).
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// Syncs issued so far (failed ones included).
    pub fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::SeqCst)
    }

    /// Fails the `nth` write (1-based, counted since the injector was made); nothing of it
    /// reaches the file.
    pub fn fail_write(&self, nth: u64, error: InjectedError) {
        self.add(FaultOp::Write, nth, error, 0);
    }

    /// Fails the `nth` write after `bytes_before_failure` of its bytes reached the file, as
    /// a disk filling up in the middle of a record would.
    pub fn fail_write_partially(
        &self,
        nth: u64,
        bytes_before_failure: usize,
        error: InjectedError,
    ) {
        self.add(FaultOp::Write, nth, error, bytes_before_failure);
    }

    /// Fails the `nth` sync (1-based, counted since the injector was made).
    pub fn fail_sync(&self, nth: u64, error: InjectedError) {
        self.add(FaultOp::Sync, nth, error, 0);
    }

    /// Fails the next operation of kind `op`.
    pub fn fail_next(&self, op: FaultOp, error: InjectedError) {
        let next = match op {
            FaultOp::Write => self.writes() + 1,
            FaultOp::Sync => self.syncs() + 1,
        };
        self.add(op, next, error, 0);
    }

    fn add(&self, op: FaultOp, nth: u64, error: InjectedError, bytes_before_failure: usize) {
        let mut rules = self
            .rules
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        rules.push(FaultRule {
            op,
            nth,
            error,
            bytes_before_failure,
        });
    }

    /// Counts one operation; returns the fault planned for it, if any, as
    /// `(bytes to write before failing, error)`.
    pub(crate) fn on_operation(&self, op: FaultOp) -> Option<(usize, io::Error)> {
        let counter = match op {
            FaultOp::Write => &self.writes,
            FaultOp::Sync => &self.syncs,
        };
        let ordinal = counter.fetch_add(1, Ordering::SeqCst) + 1;
        let mut rules = self
            .rules
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let position = rules
            .iter()
            .position(|rule| rule.op == op && rule.nth == ordinal)?;
        let rule = rules.swap_remove(position);
        Some((rule.bytes_before_failure, rule.error.to_io_error()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fails_exactly_the_planned_operation() {
        let injector = FaultInjector::new();
        injector.fail_write(2, InjectedError::ENOSPC);
        injector.fail_sync(1, InjectedError::Kind(io::ErrorKind::Other));
        assert!(injector.on_operation(FaultOp::Write).is_none());
        let (bytes, error) = injector.on_operation(FaultOp::Write).unwrap();
        assert_eq!(bytes, 0);
        assert_eq!(error.raw_os_error(), Some(libc::ENOSPC));
        assert!(injector.on_operation(FaultOp::Write).is_none());
        assert!(injector.on_operation(FaultOp::Sync).is_some());
        assert!(injector.on_operation(FaultOp::Sync).is_none());
        assert_eq!((injector.writes(), injector.syncs()), (3, 2));
    }

    #[test]
    fn fail_next_counts_from_now() {
        let injector = FaultInjector::new();
        injector.on_operation(FaultOp::Sync);
        injector.fail_next(FaultOp::Sync, InjectedError::EIO);
        assert!(injector.on_operation(FaultOp::Sync).is_some());
    }
}
