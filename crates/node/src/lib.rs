//! raftkv's node: the consensus core made durable and networked.
//!
//! - `storage`: the segmented write-ahead log, hard state, snapshot store and node
//!   identity on disk, behind `raft::Storage`.
//! - `transport`: framed TCP between peers, with a handshake and bounded queues.
//! - `runtime`: the tokio loop that ticks and steps the core, persists before it
//!   promises, sends, and applies committed entries on a task of its own.
pub mod runtime;

pub mod launch;
pub mod storage;
pub mod transport;
