//! Durable storage for one node: the segmented write-ahead log, the snapshot store and the
//! node's identity, behind [`raft::Storage`].
//!
//! ```text
//! <data dir>/
//!   IDENTITY                      cluster id + node id, written once   (identity.rs)
//!   LOCK                          flock'ed while a DiskStorage is open
//!   wal/<seq>.wal                 log segments                         (wal/)
//!   snap/<index>-<term>.snap      the current snapshot                 (snapshot_store.rs)
//! ```
//!
//! Group commit: [`DiskStorage::write`] encodes requests into the active segment without
//! syncing; [`DiskStorage::sync`] makes everything written so far durable with one
//! fdatasync. A runtime writes every request it has, syncs once, then acknowledges them all
//! with `Raft::on_persisted(last id)`. The on-disk format and the recovery rules are in
//! `docs/design/storage-format.md`.

mod disk;
pub mod fault;
mod file;
pub mod identity;
mod live_log;
mod snapshot_store;
mod wal;

pub use disk::{DiskStorage, RecoveryReport, TornTail};
pub use fault::{FaultInjector, FaultOp, InjectedError};
pub use identity::{IdentityError, NodeIdentity};
pub use raft::StorageError;

use std::sync::Arc;

/// How a [`DiskStorage`] is opened.
#[derive(Clone, Debug)]
pub struct StorageOptions {
    /// A segment is closed and a new one started once it holds this many bytes (a single
    /// record may take it past). Whole segments are the unit of log deletion, so smaller
    /// segments free disk sooner after a snapshot; larger ones mean fewer files.
    pub segment_size_bytes: u64,
    /// If set, `open` checks (or, in a new directory, writes) the directory's identity and
    /// refuses a directory that belongs to another node or cluster.
    pub identity: Option<NodeIdentity>,
    /// Faults to inject (tests). `None` costs one branch per operation.
    pub fault_injector: Option<Arc<FaultInjector>>,
    /// Skip every fsync/fdatasync. For tests only: the data survives a process crash
    /// (it is in the page cache) but not a power loss or kernel crash.
    pub unsafe_no_fsync: bool,
}

impl Default for StorageOptions {
    fn default() -> Self {
        StorageOptions {
            segment_size_bytes: 64 << 20,
            identity: None,
            fault_injector: None,
            unsafe_no_fsync: false,
        }
    }
}
