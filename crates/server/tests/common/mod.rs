//! An in-process cluster of whole servers (node on a temporary directory + client
//! port) on loopback, and a minimal RESP client. Waits are on conditions with generous
//! deadlines.
#![allow(dead_code)]

use bytes::{Bytes, BytesMut};
use node::runtime::NodeConfig;
use node::transport::Transport;
use raft::{NodeId, Role};
use server::launch::{start, RunningServer};
use server::resp::{encode_command, parse_reply, Reply};
use server::service::ServerConfig;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const DEADLINE: Duration = Duration::from_secs(30);

pub struct Cluster {
    pub node_configs: BTreeMap<NodeId, NodeConfig>,
    pub server_configs: BTreeMap<NodeId, ServerConfig>,
    pub servers: BTreeMap<NodeId, RunningServer>,
    pub client_addresses: BTreeMap<NodeId, SocketAddr>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    pub async fn start(size: u64) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let mut peer_listeners = BTreeMap::new();
        let mut client_listeners = BTreeMap::new();
        for id in 1..=size {
            let listener = Transport::bind("127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
            peer_listeners.insert(NodeId(id), listener);
            client_listeners.insert(NodeId(id), TcpListener::bind("127.0.0.1:0").await.unwrap());
        }
        let peers: BTreeMap<NodeId, SocketAddr> = peer_listeners
            .iter()
            .map(|(&id, listener)| (id, listener.local_addr()))
            .collect();
        let client_addresses: BTreeMap<NodeId, SocketAddr> = client_listeners
            .iter()
            .map(|(&id, listener)| (id, listener.local_addr().unwrap()))
            .collect();
        let mut cluster = Cluster {
            node_configs: BTreeMap::new(),
            server_configs: BTreeMap::new(),
            servers: BTreeMap::new(),
            client_addresses: client_addresses.clone(),
            _dir: dir,
        };
        for (id, peer_listener) in peer_listeners {
            let mut node_config = NodeConfig::new(
                7,
                id,
                peers.clone(),
                cluster._dir.path().join(format!("node-{}", id.0)),
            );
            node_config.election_timeout_ticks = 30;
            node_config.max_message_bytes = 4 << 20;
            let server_config = ServerConfig::new(id, client_addresses.clone());
            let server = start(
                &node_config,
                server_config.clone(),
                peer_listener,
                client_listeners.remove(&id).unwrap(),
            )
            .await
            .unwrap();
            cluster.node_configs.insert(id, node_config);
            cluster.server_configs.insert(id, server_config);
            cluster.servers.insert(id, server);
        }
        cluster
    }

    /// Waits until one running node leads and returns it.
    pub async fn leader(&self) -> NodeId {
        eventually(|| async {
            for (&id, server) in &self.servers {
                if let Ok(status) = server.node().status().await {
                    if status.raft.role == Role::Leader {
                        return Some(id);
                    }
                }
            }
            None
        })
        .await
    }

    pub fn address(&self, id: NodeId) -> SocketAddr {
        self.client_addresses[&id]
    }

    pub fn followers(&self, leader: NodeId) -> Vec<NodeId> {
        self.servers
            .keys()
            .copied()
            .filter(|&id| id != leader)
            .collect()
    }

    pub async fn stop(&mut self, id: NodeId) {
        if let Some(server) = self.servers.remove(&id) {
            server.shutdown().await;
        }
    }

    pub async fn shutdown(mut self) {
        let ids: Vec<NodeId> = self.servers.keys().copied().collect();
        for id in ids {
            self.stop(id).await;
        }
    }
}

pub async fn eventually<T, F, Fut>(mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A minimal RESP client for tests.
pub struct Resp {
    pub stream: TcpStream,
    buffer: BytesMut,
}

impl Resp {
    pub async fn connect(address: SocketAddr) -> Resp {
        Resp {
            stream: TcpStream::connect(address).await.unwrap(),
            buffer: BytesMut::new(),
        }
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Reads one reply; `None` if the server closed the connection first.
    pub async fn read_reply(&mut self) -> Option<Reply> {
        loop {
            if let Some(reply) = parse_reply(&mut self.buffer).unwrap() {
                return Some(reply);
            }
            let read = tokio::time::timeout(DEADLINE, self.stream.read_buf(&mut self.buffer))
                .await
                .expect("a reply in time")
                .unwrap_or(0);
            if read == 0 {
                return None;
            }
        }
    }

    /// True once the server has closed the connection (after any pending replies).
    pub async fn closed(&mut self) -> bool {
        let mut scratch = [0u8; 64];
        matches!(
            tokio::time::timeout(DEADLINE, self.stream.read(&mut scratch)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }

    pub async fn command(&mut self, arguments: &[&[u8]]) -> Reply {
        let mut out = BytesMut::new();
        encode_command(arguments, &mut out);
        self.send_raw(&out).await;
        self.read_reply().await.expect("connection open")
    }

    pub async fn cmd(&mut self, arguments: &[&str]) -> Reply {
        let arguments: Vec<&[u8]> = arguments.iter().map(|a| a.as_bytes()).collect();
        self.command(&arguments).await
    }
}

pub fn bulk(text: &str) -> Reply {
    Reply::Bulk(Some(Bytes::copy_from_slice(text.as_bytes())))
}

pub fn simple(text: &str) -> Reply {
    Reply::Simple(text.to_string())
}

pub fn is_error_starting(reply: &Reply, prefix: &str) -> bool {
    matches!(reply, Reply::Error(text) if text.starts_with(prefix))
}
