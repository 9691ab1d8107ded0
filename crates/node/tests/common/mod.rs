//! Shared pieces of the node's integration tests (each test binary uses a part).
#![allow(dead_code)]

use bytes::Bytes;
use node::runtime::StateMachine;
use raft::Index;
use std::sync::{Arc, Mutex};

/// A state machine that records what it applied; responses echo the index.
#[derive(Clone, Default)]
pub struct Recorder {
    /// Every command applied, with its index, in order.
    pub applied: Arc<Mutex<Vec<(Index, Bytes)>>>,
}

impl StateMachine for Recorder {
    fn apply(&mut self, index: Index, command: &[u8]) -> Bytes {
        self.applied
            .lock()
            .unwrap()
            .push((index, Bytes::copy_from_slice(command)));
        Bytes::from(format!("applied {}", index.0))
    }

    fn snapshot(&self) -> Bytes {
        let applied = self.applied.lock().unwrap();
        let mut out = Vec::new();
        for (index, data) in applied.iter() {
            out.extend_from_slice(&index.0.to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(data);
        }
        Bytes::from(out)
    }

    fn restore(&mut self, mut snapshot: &[u8]) {
        let mut applied = self.applied.lock().unwrap();
        applied.clear();
        while snapshot.len() >= 12 {
            let index = u64::from_le_bytes(snapshot[..8].try_into().unwrap());
            let len = u32::from_le_bytes(snapshot[8..12].try_into().unwrap()) as usize;
            applied.push((
                Index(index),
                Bytes::copy_from_slice(&snapshot[12..12 + len]),
            ));
            snapshot = &snapshot[12 + len..];
        }
    }
}

impl Recorder {
    /// A copy of what was applied so far.
    pub fn applied(&self) -> Vec<(Index, Bytes)> {
        self.applied.lock().unwrap().clone()
    }

    /// How many commands were applied.
    pub fn len(&self) -> usize {
        self.applied.lock().unwrap().len()
    }
}
