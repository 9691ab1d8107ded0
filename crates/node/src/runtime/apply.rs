//! The apply thread: hands committed entries to the state machine off the consensus
//! loop, answers waiting proposers and reads, and asks for snapshots.

use super::error::NodeError;
use super::raft_state_gauge::RaftStateGauge;
use super::state_machine::StateMachine;
use bytes::Bytes;
use raft::{Apply, EntryId, EntryPayload, Index};
use std::collections::{BTreeMap, VecDeque};
use tokio::sync::{mpsc, oneshot};

/// Where a proposer waits for its command's result.
pub type ProposalReply = oneshot::Sender<Result<Bytes, NodeError>>;
/// Where a reader waits for the state machine to reach its read index.
pub type ReadReply = oneshot::Sender<Result<Index, NodeError>>;

/// Work for the apply thread, in the order the consensus loop produced it.
pub enum ApplyWork {
    /// Restore this snapshot before anything else (at start-up).
    Restore(raft::Snapshot),
    /// A proposal accepted at `entry`: answer it when that index is applied.
    Register {
        /// Where the command was placed.
        entry: EntryId,
        /// The waiting proposer.
        reply: ProposalReply,
    },
    /// Committed items to apply, in log order.
    Apply(Vec<Apply>),
    /// Fail every waiter: the node can no longer make progress (storage failed).
    FailAll(NodeError),
    /// Answer once the state machine has applied `index` (a confirmed ReadIndex).
    ReadAt {
        /// The read index.
        index: Index,
        /// The waiting reader.
        reply: ReadReply,
    },
}

/// A snapshot the apply thread took, for the consensus loop to compact the log.
pub struct TakenSnapshot {
    /// The last index it covers.
    pub index: Index,
    /// The state machine's bytes.
    pub data: Bytes,
}

/// The apply thread's state.
struct Applier<M: StateMachine> {
    state_machine: M,
    /// Last index applied (or restored from a snapshot).
    applied: Index,
    /// When to snapshot.
    trigger: SnapshotTrigger,
    /// Proposers waiting, by index.
    proposals: BTreeMap<Index, (EntryId, ProposalReply)>,
    /// Readers waiting, by read index (non-decreasing).
    reads: VecDeque<(Index, ReadReply)>,
    snapshots: mpsc::UnboundedSender<TakenSnapshot>,
    /// Publishes the applied index for status reports.
    applied_watch: tokio::sync::watch::Sender<Index>,
}

/// Runs the apply loop until the work channel closes; then fails every waiter.
pub fn run<M: StateMachine>(
    state_machine: M,
    mut work: mpsc::UnboundedReceiver<ApplyWork>,
    snapshots: mpsc::UnboundedSender<TakenSnapshot>,
    applied_watch: tokio::sync::watch::Sender<Index>,
    trigger: SnapshotTrigger,
) {
    let mut applier = Applier {
        state_machine,
        applied: Index::ZERO,
        trigger,
        proposals: BTreeMap::new(),
        reads: VecDeque::new(),
        snapshots,
        applied_watch,
    };
    while let Some(item) = work.blocking_recv() {
        applier.handle(item);
    }
    applier.fail_all(NodeError::ShuttingDown);
}

impl<M: StateMachine> Applier<M> {
    fn handle(&mut self, item: ApplyWork) {
        match item {
            ApplyWork::Restore(snapshot) => self.restore(snapshot),
            ApplyWork::Register { entry, reply } => {
                if entry.index <= self.applied {
                    // Already applied (or covered by a snapshot) before we heard of it:
                    // its result is unknown here.
                    let _ = reply.send(Err(NodeError::ProposalDropped));
                } else {
                    self.proposals.insert(entry.index, (entry, reply));
                }
            }
            ApplyWork::Apply(items) => {
                for item in items {
                    match item {
                        Apply::Snapshot(snapshot) => self.restore(snapshot),
                        Apply::Entry(entry) => self.apply_entry(entry),
                    }
                }
                self.answer_reads();
                self.maybe_snapshot();
                let _ = self.applied_watch.send(self.applied);
            }
            ApplyWork::FailAll(error) => self.fail_all(error),
            ApplyWork::ReadAt { index, reply } => {
                self.reads.push_back((index, reply));
                self.answer_reads();
            }
        }
    }

    fn restore(&mut self, snapshot: raft::Snapshot) {
        self.state_machine.restore(&snapshot.data);
        self.applied = snapshot.meta.last_included.index;
        self.trigger.taken(self.applied);
        // Proposals at or below the snapshot were decided elsewhere; we cannot tell
        // their results.
        let later = self.proposals.split_off(&self.applied.next());
        for (_, (_, reply)) in std::mem::replace(&mut self.proposals, later) {
            let _ = reply.send(Err(NodeError::ProposalDropped));
        }
        self.answer_reads();
        let _ = self.applied_watch.send(self.applied);
    }

    fn apply_entry(&mut self, entry: raft::Entry) {
        let response = match &entry.payload {
            EntryPayload::Command(command) => {
                self.trigger.applied_bytes(entry.size_bytes() as u64);
                Some(self.state_machine.apply(entry.index, command))
            }
            EntryPayload::Empty => None,
        };
        self.applied = entry.index;
        if let Some((proposed, reply)) = self.proposals.remove(&entry.index) {
            // Another term's entry at our index means our proposal was overwritten.
            let result = match response {
                Some(response) if proposed == entry.id() => Ok(response),
                _ => Err(NodeError::ProposalDropped),
            };
            let _ = reply.send(result);
        }
    }

    fn answer_reads(&mut self) {
        while self
            .reads
            .front()
            .is_some_and(|(index, _)| *index <= self.applied)
        {
            let (index, reply) = self.reads.pop_front().expect("checked");
            let _ = reply.send(Ok(index));
        }
    }

    fn maybe_snapshot(&mut self) {
        if !self.trigger.due(self.applied) {
            return;
        }
        self.trigger.taken(self.applied);
        let data = self.state_machine.snapshot();
        let _ = self.snapshots.send(TakenSnapshot {
            index: self.applied,
            data,
        });
    }

    fn fail_all(&mut self, error: NodeError) {
        for (_, (_, reply)) in std::mem::take(&mut self.proposals) {
            let _ = reply.send(Err(error.clone()));
        }
        for (_, reply) in self.reads.drain(..) {
            let _ = reply.send(Err(error.clone()));
        }
    }
}

/// Decides when the apply thread snapshots: once the persisted Raft state exceeds
/// `max_raft_state_bytes` (the lab's `maxraftstate`), as the persist thread last reported
/// it, and there is something new to cover.
pub struct SnapshotTrigger {
    max_raft_state_bytes: u64,
    gauge: RaftStateGauge,
    /// The last snapshot taken (or restored).
    last_taken: Index,
    /// Entry bytes applied since then: a fallback for when the log's compaction never
    /// shows in the gauge (the core declined the snapshot), so one refusal cannot stop
    /// snapshots for good.
    bytes_since_taken: u64,
}

impl SnapshotTrigger {
    /// Snapshots when the state `gauge` reports exceeds `max_raft_state_bytes`.
    pub fn new(max_raft_state_bytes: u64, gauge: RaftStateGauge) -> SnapshotTrigger {
        SnapshotTrigger {
            max_raft_state_bytes,
            gauge,
            last_taken: Index::ZERO,
            bytes_since_taken: 0,
        }
    }

    fn applied_bytes(&mut self, bytes: u64) {
        self.bytes_since_taken += bytes;
    }

    fn taken(&mut self, index: Index) {
        self.last_taken = index;
        self.bytes_since_taken = 0;
    }

    /// True if a snapshot at `applied` is due now.
    fn due(&self, applied: Index) -> bool {
        if applied <= self.last_taken {
            return false;
        }
        let stored = self.gauge.read();
        // Until the last snapshot's compaction is durable the gauge still counts the
        // entries it covers; waiting avoids a snapshot per apply batch.
        let compacted = stored.snapshot_index >= self.last_taken;
        let over = stored.log_bytes > self.max_raft_state_bytes;
        (over && compacted) || self.bytes_since_taken > self.max_raft_state_bytes
    }
}
