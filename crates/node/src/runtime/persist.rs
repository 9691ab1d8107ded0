//! The persist thread: writes persist requests in order and makes them durable with
//! group commit — one sync covers every request waiting at that moment — then tells the
//! consensus loop how far it got.

use raft::{PersistId, PersistRequest, StorageError};
use tokio::sync::mpsc;

/// Storage the persist thread can write in batches: `write` may buffer, `sync` makes
/// everything written so far durable.
pub trait DurableLog: Send + 'static {
    /// Writes one request after all earlier ones (not yet durable).
    fn write(&mut self, request: &PersistRequest) -> Result<(), StorageError>;
    /// Makes every write so far durable (fsync / fdatasync).
    fn sync(&mut self) -> Result<(), StorageError>;
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
        let result = result.and_then(|()| log.sync());
        let event = match result {
            Ok(()) => PersistEvent::Durable(last),
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
}
