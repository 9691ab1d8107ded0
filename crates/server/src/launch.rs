//! A whole raftkv server: a node on disk with the KV store, and the client port.

use crate::machine::SharedStore;
use crate::service::{ServerConfig, Service};
use node::launch::LaunchedNode;
use node::runtime::{NodeConfig, NodeHandle, StartError};
use node::storage::StorageOptions;
use node::transport::BoundListener;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server.
pub struct RunningServer {
    node: LaunchedNode,
    service: Service,
    client_address: SocketAddr,
    stop: oneshot::Sender<()>,
    clients: JoinHandle<()>,
}

/// Starts the node on its (already bound) peer listener and serves clients on
/// `client_listener`.
pub async fn start(
    node_config: &NodeConfig,
    server_config: ServerConfig,
    peer_listener: BoundListener,
    client_listener: TcpListener,
) -> Result<RunningServer, StartError> {
    let store = SharedStore::new(kv::KvStore::new(server_config.kv_limits));
    let node = node::launch::launch_with_listener(
        node_config,
        peer_listener,
        StorageOptions::default(),
        store.machine(),
    )
    .await?;
    let client_address = client_listener
        .local_addr()
        .map_err(|error| StartError::Transport(error.to_string()))?;
    let service = Service::new(node.handle.clone(), store, server_config);
    let (stop, stopped) = oneshot::channel();
    let clients = tokio::spawn(crate::server::serve(
        client_listener,
        service.clone(),
        async move {
            let _ = stopped.await;
        },
    ));
    Ok(RunningServer {
        node,
        service,
        client_address,
        stop,
        clients,
    })
}

impl RunningServer {
    /// The node's API.
    pub fn node(&self) -> &NodeHandle {
        &self.node.handle
    }

    /// The request path.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// Where clients connect (RESP and native).
    pub fn client_address(&self) -> SocketAddr {
        self.client_address
    }

    /// Closes the client port and every client connection, then stops the node
    /// (syncing in-flight writes).
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.clients.await;
        self.node.shutdown().await;
    }
}
