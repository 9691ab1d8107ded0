//! The KV store as the node's state machine, shared with the read path.
//!
//! The apply thread takes the write lock for each `apply` (and for `restore`); readers
//! take the read lock after `NodeHandle::read_index` has returned, which guarantees
//! that the store has applied at least the read index. The lock is never held across an
//! `.await`. Reading a store that has moved further still is fine: every write it
//! reflects was committed before the read returns, so the read is linearizable.

use bytes::Bytes;
use kv::KvStore;
use raft::Index;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// A handle on the store, cloned into the server's read path.
#[derive(Clone)]
pub struct SharedStore(Arc<RwLock<KvStore>>);

impl SharedStore {
    /// Wraps a store.
    pub fn new(store: KvStore) -> SharedStore {
        SharedStore(Arc::new(RwLock::new(store)))
    }

    /// The store for reading. Only linearizable after a successful `read_index`.
    pub fn read(&self) -> RwLockReadGuard<'_, KvStore> {
        // A panic in `apply` poisons the lock; the node is then stopped anyway, and
        // the state is no worse than the panic left it.
        self.0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, KvStore> {
        self.0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The state machine to hand to `node::launch`.
    pub fn machine(&self) -> KvMachine {
        KvMachine {
            store: self.clone(),
        }
    }
}

/// `node::runtime::StateMachine` over the shared store.
pub struct KvMachine {
    store: SharedStore,
}

impl node::runtime::StateMachine for KvMachine {
    fn apply(&mut self, index: Index, command: &[u8]) -> Bytes {
        self.store.write().apply(index, command)
    }

    fn snapshot(&self) -> Bytes {
        self.store.read().snapshot()
    }

    fn restore(&mut self, snapshot: &[u8]) {
        if let Err(error) = self.store.write().restore(snapshot) {
            // Snapshots are checksummed on disk and on the wire and produced by
            // `snapshot` itself: a snapshot that does not decode is a bug, and going on
            // with a half-restored state would silently diverge from the other replicas.
            panic!("cannot restore the KV store from a snapshot: {error}");
        }
    }
}
