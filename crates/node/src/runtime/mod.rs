//! The node runtime: three threads of control around the consensus core.
//!
//! - the consensus loop (a tokio task) owns the `Raft` core and never blocks;
//! - the persist thread writes and syncs, with group commit;
//! - the apply thread runs the state machine and answers clients.
//!
//! `start_with` wires them to any [`DurableLog`] and [`Network`]; the disk-and-TCP
//! composition lives in `crate::server` (once storage and transport exist).

pub mod apply;
pub mod config;
pub mod consensus_loop;
pub mod error;
pub mod persist;
pub mod raft_state_gauge;
pub mod state_machine;

pub use config::{parse_peers, ConfigError, NodeConfig};
pub use consensus_loop::Network;
pub use error::{NodeError, StartError};
pub use persist::DurableLog;
pub use state_machine::StateMachine;

use apply::{ApplyWork, SnapshotTrigger};
use bytes::Bytes;
use consensus_loop::{Command, ConsensusLoop, Inputs};
use persist::PersistOptions;
use raft::{Index, Message, NodeId, Raft, RecoveredState};
use raft_state_gauge::RaftStateGauge;
use tokio::sync::{mpsc, oneshot, watch};

/// A node's state, for operators and tests.
#[derive(Clone, Debug)]
pub struct NodeStatus {
    /// The consensus core's view (role, term, leader, commit, log bounds, peers).
    pub raft: raft::Status,
    /// The index the state machine has applied.
    pub applied: Index,
    /// Set once storage failed: the node acknowledges nothing more.
    pub storage_failure: Option<String>,
}

/// What `start_with` needs besides the configuration and the state machine.
pub struct NodeParts<L: DurableLog, N: Network> {
    /// Durable storage, already opened.
    pub log: L,
    /// What it recovered.
    pub recovered: RecoveredState,
    /// Outgoing messages.
    pub network: N,
    /// Incoming messages.
    pub inbound: mpsc::Receiver<Message>,
    /// Peers the network could not reach.
    pub unreachable: mpsc::UnboundedReceiver<NodeId>,
}

/// A cheap, cloneable handle to a running node.
#[derive(Clone)]
pub struct NodeHandle {
    commands: mpsc::Sender<Command>,
    stopped: watch::Receiver<bool>,
}

/// Starts the three parts of a node and returns its handle. Must be called within a
/// tokio runtime.
pub fn start_with<M, L, N>(
    config: &NodeConfig,
    parts: NodeParts<L, N>,
    state_machine: M,
) -> Result<NodeHandle, StartError>
where
    M: StateMachine,
    L: DurableLog,
    N: Network,
{
    config
        .validate()
        .map_err(|error| StartError::Config(error.to_string()))?;
    let NodeParts {
        log,
        recovered,
        network,
        inbound,
        unreachable,
    } = parts;
    let snapshot = recovered.snapshot.clone();
    let raft = Raft::new(config.raft_config(), recovered)?;

    let (persist_tx, persist_rx) = mpsc::unbounded_channel();
    let (persisted_tx, persisted_rx) = mpsc::unbounded_channel();
    let gauge = RaftStateGauge::default();
    let persist_options = PersistOptions {
        sync_delay: config.debug_fsync_delay,
        gauge: gauge.clone(),
    };
    let persist_thread = spawn_thread("persist", config.node_id, move || {
        persist::run(log, persist_rx, persisted_tx, persist_options)
    });

    let (apply_tx, apply_rx) = mpsc::unbounded_channel();
    let (snapshots_tx, snapshots_rx) = mpsc::unbounded_channel();
    let (applied_tx, applied_rx) = watch::channel(snapshot.meta.last_included.index);
    if !snapshot.is_empty() {
        let _ = apply_tx.send(ApplyWork::Restore(snapshot));
    }
    let trigger = SnapshotTrigger::new(config.max_raft_state_bytes, gauge);
    let apply_thread = spawn_thread("apply", config.node_id, move || {
        apply::run(state_machine, apply_rx, snapshots_tx, applied_tx, trigger)
    });

    let (commands_tx, commands_rx) = mpsc::channel(1024);
    let inputs = Inputs {
        commands: commands_rx,
        inbound,
        unreachable,
        persisted: persisted_rx,
        snapshots: snapshots_rx,
    };
    let consensus = ConsensusLoop::new(
        raft,
        network,
        persist_tx,
        apply_tx,
        applied_rx,
        config.tick_interval,
    );
    let (stopped_tx, stopped_rx) = watch::channel(false);
    tokio::spawn(async move {
        consensus.run(inputs).await;
        // The loop dropped its senders: the persist thread syncs what it has and ends,
        // the apply thread fails its waiters and ends. Wait for both so the data
        // directory is quiet when `shutdown` returns.
        let _ = tokio::task::spawn_blocking(move || {
            let _ = persist_thread.join();
            let _ = apply_thread.join();
        })
        .await;
        let _ = stopped_tx.send(true);
    });
    Ok(NodeHandle {
        commands: commands_tx,
        stopped: stopped_rx,
    })
}

fn spawn_thread(
    role: &str,
    id: NodeId,
    body: impl FnOnce() + Send + 'static,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name(format!("raftkv-{role}-{}", id.0))
        .spawn(body)
        .expect("spawning a thread")
}

impl NodeHandle {
    /// Proposes a command and waits until it is applied; returns the state machine's
    /// response. Fails fast on a follower with the leader's id as a hint.
    pub async fn propose(&self, data: impl Into<Bytes>) -> Result<Bytes, NodeError> {
        let (reply, result) = oneshot::channel();
        self.send(Command::Propose {
            data: data.into(),
            reply,
        })
        .await?;
        result.await.unwrap_or(Err(NodeError::ShuttingDown))
    }

    /// A linearizable read barrier (ReadIndex): returns once this node's state machine
    /// reflects every write that completed before the call. Then read from it.
    pub async fn read_index(&self) -> Result<Index, NodeError> {
        let (reply, result) = oneshot::channel();
        self.send(Command::Read { reply }).await?;
        result.await.unwrap_or(Err(NodeError::ShuttingDown))
    }

    /// The node's state.
    pub async fn status(&self) -> Result<NodeStatus, NodeError> {
        let (reply, result) = oneshot::channel();
        self.send(Command::Status { reply }).await?;
        result.await.map_err(|_| NodeError::ShuttingDown)
    }

    /// Hands leadership to `to` (this node must lead).
    pub async fn transfer_leadership(&self, to: NodeId) -> Result<(), NodeError> {
        let (reply, result) = oneshot::channel();
        self.send(Command::TransferLeadership { to, reply }).await?;
        result.await.unwrap_or(Err(NodeError::ShuttingDown))
    }

    /// Starts an election at once (operators, tests).
    pub async fn campaign(&self) -> Result<(), NodeError> {
        self.send(Command::Campaign).await
    }

    /// Stops the node: in-flight writes are synced, waiters fail with `ShuttingDown`,
    /// and the call returns once every thread has ended.
    pub async fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown).await;
        let mut stopped = self.stopped.clone();
        let _ = stopped.wait_for(|stopped| *stopped).await;
    }

    async fn send(&self, command: Command) -> Result<(), NodeError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| NodeError::ShuttingDown)
    }
}
