//! The sequential specification a history is checked against.

use std::fmt::Debug;
use std::hash::Hash;

/// A deterministic sequential specification of an object, as in Porcupine. Models,
/// inputs, outputs and keys are `Sync` because partitions are searched in parallel.
///
/// A history is linearizable if its operations can be put in one order, consistent with
/// real time, in which every `step` from `init` succeeds. Operations with different
/// [`Model::partition_key`]s must touch independent state: each partition is checked on
/// its own (P-compositionality), which is what keeps per-key KV checking fast.
pub trait Model: Sync {
    /// The request of an operation.
    type Input: Debug + Sync;
    /// The reply of an operation. A model that accepts timed-out operations should have a
    /// variant that matches any outcome.
    type Output: Debug + Sync;
    /// The object's state; equal states are interchangeable (the search memoizes on them).
    type State: Clone + Eq + Hash + Debug;
    /// Names a partition: operations with equal keys are checked together.
    /// Use `()` for a model that cannot be partitioned.
    type Key: Ord + Clone + Debug + Sync;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// Applies `input` in `state`: `Some(next state)` if `output` is a possible reply,
    /// `None` if it is not.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: &Self::Output,
    ) -> Option<Self::State>;

    /// The partition an operation belongs to (e.g. its key).
    fn partition_key(&self, input: &Self::Input) -> Self::Key;

    /// Whether `output` is accepted in every state (e.g. the "unknown" reply of a
    /// timed-out request). Pending operations with such outputs let the search prune
    /// configurations that differ only in having linearized more of them. Default `false`.
    fn matches_any_outcome(&self, _input: &Self::Input, _output: &Self::Output) -> bool {
        false
    }

    /// The bytes a state owns on the heap, for the memoization cache's memory limit
    /// (default 0: the state is inline).
    fn state_heap_bytes(&self, _state: &Self::State) -> usize {
        0
    }

    /// A partition's key for reports.
    fn describe_key(&self, key: &Self::Key) -> String {
        format!("{key:?}")
    }

    /// An operation for reports.
    fn describe_operation(&self, input: &Self::Input, output: &Self::Output) -> String {
        format!("{input:?} -> {output:?}")
    }

    /// A state for reports.
    fn describe_state(&self, state: &Self::State) -> String {
        format!("{state:?}")
    }
}
