//! Recorded operations and their ordering as call / return events.

use std::fmt::Debug;

/// One operation of a recorded history: what a client asked, what it was told, and when.
///
/// Invariant: `call <= return_time` when the operation returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<I, O, T = u64> {
    /// The client that issued the operation; a client's operations must not overlap.
    pub client_id: u64,
    /// What the client asked for.
    pub input: I,
    /// What the client was told. For an operation whose outcome is unknown this is the
    /// model's "matches anything" output (e.g. [`crate::kv::KvOutput::Unknown`]).
    pub output: O,
    /// When the client issued the call (monotonic clock).
    pub call: T,
    /// When the reply reached the client; `None` means it never did (timed out, crashed):
    /// the operation may take effect at any point after `call`, or never.
    pub return_time: Option<T>,
}

impl<I, O, T> Operation<I, O, T> {
    /// An operation that returned `output` at `return_time`.
    pub fn new(client_id: u64, input: I, output: O, call: T, return_time: T) -> Self {
        Operation {
            client_id,
            input,
            output,
            call,
            return_time: Some(return_time),
        }
    }

    /// An operation that never returned: it may or may not have taken effect. Pass the
    /// model's "unknown" output (for the KV model, [`crate::kv::KvOutput::Unknown`]).
    /// Porcupine's encoding: the return is at +infinity.
    pub fn timed_out(client_id: u64, input: I, output: O, call: T) -> Self {
        Operation {
            client_id,
            input,
            output,
            call,
            return_time: None,
        }
    }
}

/// Checks that every operation returned no earlier than it was called.
///
/// # Panics
/// If an operation returned before it was called.
pub(crate) fn validate<I, O, T: Ord + Debug>(history: &[Operation<I, O, T>]) {
    for op in history {
        if let Some(ret) = &op.return_time {
            assert!(
                op.call <= *ret,
                "operation of client {} returned ({ret:?}) before its call ({:?})",
                op.client_id,
                op.call
            );
        }
    }
}

/// A call or a return event of operation `op` (an index into a partition's operations).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Event {
    /// Index of the operation in the partition.
    pub op: usize,
    /// `true` for the call event, `false` for the return event.
    pub is_call: bool,
}

/// Sort key of a time that may be +infinity (`None`), which sorts after every `Some`.
fn time_key<T: Ord + Copy>(time: Option<T>) -> (bool, Option<T>) {
    (time.is_none(), time)
}

/// The call and return events of `ops` in time order; at equal times calls come before
/// returns, so operations that touch at one instant count as concurrent.
pub(crate) fn events<I, O, T: Ord + Copy + Debug>(ops: &[&Operation<I, O, T>]) -> Vec<Event> {
    let mut keyed = Vec::with_capacity(ops.len() * 2);
    for (index, op) in ops.iter().enumerate() {
        keyed.push(((time_key(Some(op.call)), 0u8, index), true));
        keyed.push(((time_key(op.return_time), 1u8, index), false));
    }
    keyed.sort_unstable_by_key(|(key, _)| *key);
    keyed
        .into_iter()
        .map(|((_, _, op), is_call)| Event { op, is_call })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_order_calls_before_returns_and_infinity_last() {
        let a = Operation::new(1, (), (), 0u64, 5);
        let b = Operation::new(2, (), (), 5u64, 7);
        let c = Operation::timed_out(3, (), (), 1u64);
        let evs = events(&[&a, &b, &c]);
        let got: Vec<(usize, bool)> = evs.iter().map(|e| (e.op, e.is_call)).collect();
        assert_eq!(
            got,
            vec![
                (0, true),
                (2, true),
                (1, true),
                (0, false),
                (1, false),
                (2, false)
            ]
        );
    }
}
