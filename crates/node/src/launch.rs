//! A complete node: durable storage on disk, TCP transport, and the runtime between
//! them. This is what `raftkv serve` runs.

use crate::runtime::{self, NodeConfig, NodeHandle, NodeParts, StartError, StateMachine};
use crate::storage::{DiskStorage, NodeIdentity, StorageOptions};
use crate::transport::{
    BoundListener, Transport, TransportConfig, TransportSender, TransportStats,
};
use tokio::sync::mpsc;

/// Messages waiting for the consensus loop; with the transport's per-connection
/// backpressure this bounds a follower's receive queue.
const INBOUND_QUEUE_MESSAGES: usize = 4096;

/// A running node with its transport.
pub struct LaunchedNode {
    /// The node's API.
    pub handle: NodeHandle,
    transport: Transport,
}

impl runtime::Network for TransportSender {
    fn send(&self, message: raft::Message) {
        TransportSender::send(self, message);
    }
}

/// Opens the data directory (checking its identity), binds the peer port and starts
/// the node.
pub async fn launch<M: StateMachine>(
    config: &NodeConfig,
    state_machine: M,
) -> Result<LaunchedNode, StartError> {
    let listen = config
        .listen_address()
        .ok_or_else(|| StartError::Config(format!("node {} has no address", config.node_id)))?;
    let listener = Transport::bind(listen)
        .await
        .map_err(|error| StartError::Transport(error.to_string()))?;
    launch_with_listener(config, listener, StorageOptions::default(), state_machine).await
}

/// Like [`launch`], on an already bound listener (tests bind port 0 first to learn the
/// addresses) and with explicit storage options.
pub async fn launch_with_listener<M: StateMachine>(
    config: &NodeConfig,
    listener: BoundListener,
    mut storage_options: StorageOptions,
    state_machine: M,
) -> Result<LaunchedNode, StartError> {
    config
        .validate()
        .map_err(|error| StartError::Config(error.to_string()))?;
    storage_options.identity = Some(NodeIdentity {
        cluster_id: config.cluster_id,
        node_id: config.node_id,
    });
    let data_dir = config.data_dir.clone();
    let (log, recovered) =
        tokio::task::spawn_blocking(move || DiskStorage::open(data_dir, storage_options))
            .await
            .map_err(|error| StartError::Config(format!("storage thread: {error}")))??;

    let transport_config = TransportConfig::new(
        config.cluster_id,
        config.node_id,
        listener.local_addr(),
        config.peers.clone(),
    );
    let (inbound_tx, inbound) = mpsc::channel(INBOUND_QUEUE_MESSAGES);
    let mut transport = Transport::start_with_listener(listener, transport_config, inbound_tx)
        .await
        .map_err(|error| StartError::Transport(error.to_string()))?;
    let unreachable = transport.take_unreachable_events();
    let parts = NodeParts {
        log,
        recovered,
        network: transport.sender(),
        inbound,
        unreachable,
    };
    let handle = runtime::start_with(config, parts, state_machine)?;
    Ok(LaunchedNode { handle, transport })
}

impl LaunchedNode {
    /// Traffic counters of the transport.
    pub fn transport_stats(&self) -> TransportStats {
        self.transport.stats()
    }

    /// Stops the node (syncing in-flight writes), then the transport; the data
    /// directory is consistent and unlocked when this returns.
    pub async fn shutdown(self) {
        self.handle.shutdown().await;
        self.transport.shutdown().await;
    }
}
