//! The consensus loop: the only owner of the `Raft` core. It ticks it from a timer,
//! steps incoming messages, takes client requests, and routes each `Ready` — persist
//! requests to the persist thread, messages to the network, committed entries to the
//! apply thread. It never blocks on the disk or the state machine, so heartbeats and
//! votes keep their timing under load.

use super::apply::{ApplyWork, ProposalReply, ReadReply, TakenSnapshot};
use super::error::NodeError;
use super::persist::PersistEvent;
use super::NodeStatus;
use bytes::Bytes;
use raft::{Message, NodeId, PersistRequest, Raft, StorageError};
use std::collections::BTreeMap;
use tokio::sync::{mpsc, oneshot, watch};

/// Sends Raft messages to peers; must not block (drop when overloaded: Raft retries).
pub trait Network: Send + 'static {
    /// Queues `message` for `message.to`.
    fn send(&self, message: Message);
}

/// A request from a `NodeHandle`.
pub enum Command {
    /// Propose a command; answered when it is applied (or fails).
    Propose {
        /// The command.
        data: Bytes,
        /// Where the result goes.
        reply: ProposalReply,
    },
    /// A linearizable read barrier; answered with the read index once applied.
    Read {
        /// Where the read index goes.
        reply: ReadReply,
    },
    /// Report the node's state.
    Status {
        /// Where the status goes.
        reply: oneshot::Sender<NodeStatus>,
    },
    /// Hand leadership to another node.
    TransferLeadership {
        /// The target.
        to: NodeId,
        /// Whether the transfer started.
        reply: oneshot::Sender<Result<(), NodeError>>,
    },
    /// Start an election now.
    Campaign,
    /// Stop the loop.
    Shutdown,
}

/// The inputs the loop waits on.
pub struct Inputs {
    /// Client requests.
    pub commands: mpsc::Receiver<Command>,
    /// Messages from peers.
    pub inbound: mpsc::Receiver<Message>,
    /// Peers the transport could not reach.
    pub unreachable: mpsc::UnboundedReceiver<NodeId>,
    /// Durability reports from the persist thread.
    pub persisted: mpsc::UnboundedReceiver<PersistEvent>,
    /// Snapshots taken by the apply thread.
    pub snapshots: mpsc::UnboundedReceiver<TakenSnapshot>,
}

/// The loop's state besides the core.
pub struct ConsensusLoop<N: Network> {
    /// The consensus core.
    pub raft: Raft,
    /// Outgoing messages.
    pub network: N,
    /// To the persist thread.
    pub persist: mpsc::UnboundedSender<PersistRequest>,
    /// To the apply thread.
    pub apply: mpsc::UnboundedSender<ApplyWork>,
    /// The apply thread's progress, for status.
    pub applied: watch::Receiver<raft::Index>,
    /// Real time per tick.
    pub tick_interval: std::time::Duration,
    /// Reads waiting for leadership confirmation, by request id.
    pending_reads: BTreeMap<u64, ReadReply>,
    next_read_id: u64,
    /// Set once storage fails: the node then acknowledges nothing more.
    storage_failure: Option<StorageError>,
}

impl<N: Network> ConsensusLoop<N> {
    /// A loop around `raft`.
    pub fn new(
        raft: Raft,
        network: N,
        persist: mpsc::UnboundedSender<PersistRequest>,
        apply: mpsc::UnboundedSender<ApplyWork>,
        applied: watch::Receiver<raft::Index>,
        tick_interval: std::time::Duration,
    ) -> Self {
        ConsensusLoop {
            raft,
            network,
            persist,
            apply,
            applied,
            tick_interval,
            pending_reads: BTreeMap::new(),
            next_read_id: 1,
            storage_failure: None,
        }
    }

    /// Runs until shut down or until every handle is dropped.
    pub async fn run(mut self, mut inputs: Inputs) {
        let mut ticker = tokio::time::interval(self.tick_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let keep_going = tokio::select! {
                _ = ticker.tick() => { self.on_tick(); true }
                Some(message) = inputs.inbound.recv() => { self.on_message(message, &mut inputs.inbound); true }
                command = inputs.commands.recv() => self.on_commands(command, &mut inputs.commands),
                Some(event) = inputs.persisted.recv() => { self.on_persist_event(event); true }
                Some(peer) = inputs.unreachable.recv() => { self.raft.report_unreachable(peer); true }
                Some(snapshot) = inputs.snapshots.recv() => {
                    // Compacted or not-yet-applied answers are races with a newer
                    // snapshot; the next one will do.
                    let _ = self.raft.snapshot(snapshot.index, snapshot.data);
                    true
                }
            };
            if !keep_going {
                return;
            }
            self.process_ready();
        }
    }

    fn failed(&self) -> bool {
        self.storage_failure.is_some()
    }

    fn on_tick(&mut self) {
        if !self.failed() {
            self.raft.tick();
        }
    }

    /// Steps a message and whatever else is already queued, so one `Ready` covers a
    /// burst (fewer, larger writes and messages).
    fn on_message(&mut self, first: Message, inbound: &mut mpsc::Receiver<Message>) {
        if self.failed() {
            return;
        }
        self.raft.step(first);
        for _ in 0..256 {
            match inbound.try_recv() {
                Ok(message) => self.raft.step(message),
                Err(_) => break,
            }
        }
    }

    /// Handles a command and whatever else is already queued, so that proposals
    /// arriving together share one `Ready` (one write, one AppendEntries per peer).
    /// Returns false when the loop must stop.
    fn on_commands(
        &mut self,
        first: Option<Command>,
        commands: &mut mpsc::Receiver<Command>,
    ) -> bool {
        let mut next = first;
        for _ in 0..1024 {
            match next {
                Some(Command::Shutdown) | None => return false,
                Some(command) => self.on_command(command),
            }
            let Ok(command) = commands.try_recv() else {
                return true;
            };
            next = Some(command);
        }
        // Still busy after a full batch: handle the one taken and let the next round of
        // the loop (and its ticks) run.
        match next {
            Some(Command::Shutdown) | None => false,
            Some(command) => {
                self.on_command(command);
                true
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        if let Some(failure) = &self.storage_failure {
            let error = NodeError::StorageFailed(failure.to_string());
            match command {
                Command::Propose { reply, .. } => drop(reply.send(Err(error))),
                Command::Read { reply } => drop(reply.send(Err(error))),
                Command::TransferLeadership { reply, .. } => drop(reply.send(Err(error))),
                Command::Status { reply } => drop(reply.send(self.status())),
                Command::Campaign | Command::Shutdown => {}
            }
            return;
        }
        match command {
            Command::Propose { data, reply } => match self.raft.propose(data) {
                Ok(entry) => drop(self.apply.send(ApplyWork::Register { entry, reply })),
                Err(error) => drop(reply.send(Err(error.into()))),
            },
            Command::Read { reply } => self.start_read(reply),
            Command::Status { reply } => drop(reply.send(self.status())),
            Command::TransferLeadership { to, reply } => {
                let result = self
                    .raft
                    .transfer_leadership(to)
                    .map_err(|error| match error {
                        raft::TransferError::NotLeader => NodeError::NotLeader {
                            leader_hint: self.raft.leader_hint(),
                        },
                        raft::TransferError::InvalidTarget(_) => {
                            NodeError::NotLeader { leader_hint: None }
                        }
                    });
                let _ = reply.send(result);
            }
            Command::Campaign => self.raft.campaign(),
            Command::Shutdown => {}
        }
    }

    fn start_read(&mut self, reply: ReadReply) {
        let id = self.next_read_id;
        self.next_read_id += 1;
        match self.raft.read_index(id) {
            Ok(()) => {
                self.pending_reads.insert(id, reply);
            }
            Err(raft::ReadIndexError::NotLeader { leader_hint }) => {
                let _ = reply.send(Err(NodeError::NotLeader { leader_hint }));
            }
        }
    }

    fn on_persist_event(&mut self, event: PersistEvent) {
        match event {
            PersistEvent::Durable(id) => {
                if !self.failed() {
                    self.raft.on_persisted(id);
                }
            }
            PersistEvent::Failed(error) => {
                tracing::error!(node = %self.raft.id(), %error, "storage failed: the node stops acknowledging anything");
                let message = NodeError::StorageFailed(error.to_string());
                for (_, reply) in std::mem::take(&mut self.pending_reads) {
                    let _ = reply.send(Err(message.clone()));
                }
                let _ = self.apply.send(ApplyWork::FailAll(message));
                self.storage_failure = Some(error);
            }
        }
    }

    /// Routes everything the core has for us. After a storage failure nothing leaves:
    /// the node behaves as if it had crashed, except that it answers status requests.
    fn process_ready(&mut self) {
        if self.failed() {
            return;
        }
        while self.raft.has_ready() {
            let ready = self.raft.ready();
            if let Some(request) = ready.persist {
                let _ = self.persist.send(request);
            }
            for message in ready.messages {
                self.network.send(message);
            }
            if !ready.apply.is_empty() {
                let _ = self.apply.send(ApplyWork::Apply(ready.apply));
            }
            for read in ready.read_states {
                if let Some(reply) = self.pending_reads.remove(&read.request_id) {
                    let _ = self.apply.send(ApplyWork::ReadAt {
                        index: read.index,
                        reply,
                    });
                }
            }
        }
        if !self.raft.is_leader() && !self.pending_reads.is_empty() {
            // A leader that stepped down drops its unconfirmed reads.
            let leader_hint = self.raft.leader_hint();
            for (_, reply) in std::mem::take(&mut self.pending_reads) {
                let _ = reply.send(Err(NodeError::NotLeader { leader_hint }));
            }
        }
    }

    fn status(&self) -> NodeStatus {
        NodeStatus {
            raft: self.raft.status(),
            applied: *self.applied.borrow(),
            storage_failure: self.storage_failure.as_ref().map(ToString::to_string),
        }
    }
}
