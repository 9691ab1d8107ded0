//! The size of the persisted Raft state, published by the persist thread after each sync
//! and read by the apply thread to decide when to snapshot (the lab's `max_raft_state`).

use raft::Index;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What storage holds durably right now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RaftStateSize {
    /// Encoded bytes of the log entries kept after the snapshot.
    pub log_bytes: u64,
    /// The last index the stored snapshot covers (log entries at or below it are gone).
    pub snapshot_index: Index,
}

/// A shared, lock-free [`RaftStateSize`]: one writer (the persist thread), any readers.
#[derive(Clone, Debug, Default)]
pub struct RaftStateGauge {
    inner: Arc<Gauge>,
}

#[derive(Debug, Default)]
struct Gauge {
    log_bytes: AtomicU64,
    snapshot_index: AtomicU64,
}

impl RaftStateGauge {
    /// Publishes the size after a sync.
    pub fn publish(&self, size: RaftStateSize) {
        // Relaxed is enough: the reader only uses the figures as a hint to snapshot, and
        // a stale pair at worst delays or repeats one snapshot decision.
        self.inner
            .log_bytes
            .store(size.log_bytes, Ordering::Relaxed);
        self.inner
            .snapshot_index
            .store(size.snapshot_index.0, Ordering::Relaxed);
    }

    /// The last published size.
    pub fn read(&self) -> RaftStateSize {
        RaftStateSize {
            log_bytes: self.inner.log_bytes.load(Ordering::Relaxed),
            snapshot_index: Index(self.inner.snapshot_index.load(Ordering::Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_see_what_the_writer_published() {
        let writer = RaftStateGauge::default();
        let reader = writer.clone();
        assert_eq!(reader.read(), RaftStateSize::default());
        let size = RaftStateSize {
            log_bytes: 4096,
            snapshot_index: Index(17),
        };
        writer.publish(size);
        assert_eq!(reader.read(), size);
    }
}
