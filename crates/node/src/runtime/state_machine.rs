//! The application side of the node: what committed entries are applied to.

use bytes::Bytes;
use raft::Index;

/// A deterministic state machine replicated by Raft.
///
/// Every replica applies the same commands in the same order, so `apply` must depend
/// only on the state and the command (no clocks, no randomness). It runs on a thread of
/// its own, never on the consensus loop: a slow `apply` delays clients, not heartbeats.
pub trait StateMachine: Send + 'static {
    /// Applies the committed command at `index` and returns the response for the
    /// client that proposed it (if it is still waiting).
    fn apply(&mut self, index: Index, command: &[u8]) -> Bytes;

    /// Serializes the whole state as of the last applied index.
    fn snapshot(&self) -> Bytes;

    /// Replaces the whole state with a snapshot produced by `snapshot` (on this node
    /// or on the leader).
    fn restore(&mut self, snapshot: &[u8]);
}
