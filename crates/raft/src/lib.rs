//! raftkv's consensus core: the Raft state machine as a library with no IO.
//!
//! Time enters as [`Raft::tick`], messages as [`Raft::step`], and all the work the
//! runtime must do comes out as a [`Ready`]: writes to persist, messages to send,
//! entries to apply. See `docs/design/io-ordering.md` for the persistence contract.

pub mod config;
pub mod entry;
pub mod error;
pub mod log;
pub mod message;
pub mod quorum;
pub mod read_only;
pub mod ready;
pub mod storage;
pub mod tracker;
pub mod types;

mod raft;

pub use config::{Canary, Config};
pub use entry::{Entry, EntryPayload, Snapshot, SnapshotMeta};
pub use error::{
    ConfigError, ProposeError, ReadIndexError, SnapshotError, StorageError, TransferError,
};
pub use message::{ConflictHint, Message, MessageBody};
pub use raft::Raft;
pub use ready::{Apply, PeerStatus, ReadState, Ready, ReplicationMode, Role, Status};
pub use storage::{HardState, MemStorage, PersistId, PersistRequest, RecoveredState, Storage};
pub use types::{EntryId, Index, NodeId, Term};
