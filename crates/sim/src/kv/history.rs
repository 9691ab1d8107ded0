//! The operations the KV tests make through their logging wrappers (the lab's
//! `OpLog`), with virtual call and return times, for the linearizability check.

use crate::event_queue::Time;

/// The kind of a logged operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// `Get(key)`; the output is the value read.
    Get,
    /// `Put(key, value)`.
    Put,
    /// `Append(key, value)`.
    Append,
}

/// One completed operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryOp {
    /// The client (the lab's client index; final checks log as 0).
    pub client: u64,
    /// What it did.
    pub kind: OpKind,
    /// The key.
    pub key: String,
    /// The value written (Put, Append).
    pub value: String,
    /// The value read (Get; `None`: no such key).
    pub output: Option<String>,
    /// The value's length after an Append, as the store reported it (`None` for other
    /// kinds, or a history recorded without lengths).
    pub length: Option<u64>,
    /// Virtual time of the call.
    pub call: Time,
    /// Virtual time of the return.
    pub ret: Time,
}

/// The recorded history.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Every operation, in completion order.
    pub ops: Vec<HistoryOp>,
}

impl History {
    /// Records an operation.
    pub fn push(&mut self, op: HistoryOp) {
        self.ops.push(op);
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True if nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}
