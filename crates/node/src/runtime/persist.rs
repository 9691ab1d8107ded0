//! The persist thread: writes persist requests in order and makes them durable with
//! group commit — one sync covers every request waiting at that moment — then tells the
//! consensus loop how far it got.

use super::raft_state_gauge::{RaftStateGauge, RaftStateSize};
use raft::{PersistId, PersistRequest, StorageError};
use std::time::Duration;
use tokio::sync::mpsc;

/// Storage the persist thread can write in batches: `write` may buffer, `sync` makes
/// everything written so far durable.
pub trait DurableLog: Send + 'static {
    /// Writes one request after all earlier ones (not yet durable).
    fn write(&mut self, request: &PersistRequest) -> Result<(), StorageError>;
    /// Makes every write so far durable (fsync / fdatasync).
    fn sync(&mut self) -> Result<(), StorageError>;
    /// The size of the Raft state written so far (what `max_raft_state` bounds).
    fn raft_state_size(&self) -> RaftStateSize;
}

/// How the persist thread runs.
#[derive(Clone, Debug, Default)]
pub struct PersistOptions {
    /// Debugging aid (the chaos harness's slow disk): sleep this long before each sync.
    pub sync_delay: Option<Duration>,
    /// Where the thread publishes the Raft state's size after each sync.
    pub gauge: RaftStateGauge,
}

/// What the persist thread reports to the consensus loop.
#[derive(Debug)]
pub enum PersistEvent {
    /// Every request up to this id is durable.
    Durable(PersistId),
    /// Storage failed; nothing more will be made durable or acknowledged.
    Failed(StorageError),
}

/// Runs until the request channel closes (after syncing what it got) or storage fails.
pub fn run<L: DurableLog>(
    mut log: L,
    mut requests: mpsc::UnboundedReceiver<PersistRequest>,
    events: mpsc::UnboundedSender<PersistEvent>,
    options: PersistOptions,
) {
    while let Some(first) = requests.blocking_recv() {
        let mut last = first.id;
        let mut result = log.write(&first);
        // Group commit: take everything that queued up behind the first request.
        while result.is_ok() {
            let Ok(next) = requests.try_recv() else { break };
            last = next.id;
            result = log.write(&next);
        }
        // Durability is established here, before the acknowledgement below: the
        // consensus loop releases votes and acks only after `Durable`.
        if let Some(delay) = options.sync_delay {
            std::thread::sleep(delay);
        }
        let result = result.and_then(|()| log.sync());
        let event = match result {
            Ok(()) => {
                options.gauge.publish(log.raft_state_size());
                PersistEvent::Durable(last)
            }
            Err(error) => PersistEvent::Failed(error),
        };
        let failed = matches!(event, PersistEvent::Failed(_));
        if events.send(event).is_err() || failed {
            return;
        }
    }
}

/// An in-memory `DurableLog` for tests: "durable" means written to a `MemStorage`.
impl DurableLog for raft::MemStorage {
    fn write(&mut self, request: &PersistRequest) -> Result<(), StorageError> {
        raft::Storage::persist(self, request)
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        Ok(())
    }

    /// The entries' sizes as the core charges them (payload plus a fixed overhead).
    fn raft_state_size(&self) -> RaftStateSize {
        let state = self.state();
        let log_bytes = state
            .entries
            .iter()
            .map(|entry| entry.size_bytes() as u64)
            .sum();
        RaftStateSize {
            log_bytes,
            snapshot_index: state.snapshot.meta.last_included.index,
        }
    }
}

/// The write-ahead log on disk: `write` appends to the active segment, `sync` is the
/// one fdatasync that group commit shares.
impl DurableLog for crate::storage::DiskStorage {
    fn write(&mut self, request: &PersistRequest) -> Result<(), StorageError> {
        crate::storage::DiskStorage::write(self, request)
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        crate::storage::DiskStorage::sync(self)
    }

    fn raft_state_size(&self) -> RaftStateSize {
        RaftStateSize {
            log_bytes: self.log_size_bytes(),
            snapshot_index: self.snapshot_id().index,
        }
    }
}
