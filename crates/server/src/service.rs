//! The request path shared by both protocols: writes through `propose`, reads through
//! `read_index` then the applied store, and (for RESP clients) forwarding to the leader.

use crate::connection::Connection;
use crate::machine::SharedStore;
use crate::native::{
    ErrorCode, MaybeValue, NativeRequest, NativeResponse, RequestKind, ResponseKind, StatusReply,
};
use crate::resp::RespLimits;
use bytes::Bytes;
use kv::{Operation, Outcome, Request};
use node::runtime::{NodeError, NodeHandle};
use raft::NodeId;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;
use tokio::time::Instant;

/// The server's settings.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// This node.
    pub node_id: NodeId,
    /// Every node's client address (RESP and native share it), this node's included:
    /// what `NotLeader` answers point to and where followers forward to.
    pub client_addresses: BTreeMap<NodeId, SocketAddr>,
    /// Bounds on RESP input.
    pub resp_limits: RespLimits,
    /// The store's limits (key and value sizes, sessions); every replica must use the
    /// same. The RESP server checks sizes before proposing.
    pub kv_limits: kv::Limits,
    /// How long a RESP request may wait for a leader (elections, forwarding) before
    /// the client gets `-TRYAGAIN`.
    pub request_timeout: Duration,
    /// Most value bytes one read (MGET, native `get_many`) may return; a larger read is
    /// refused with `TooLarge` instead of building an unbounded reply.
    pub max_reply_bytes: usize,
}

impl ServerConfig {
    /// Defaults: keys up to 16 KiB, values up to 512 KiB, 10 s per request.
    pub fn new(node_id: NodeId, client_addresses: BTreeMap<NodeId, SocketAddr>) -> ServerConfig {
        ServerConfig {
            node_id,
            client_addresses,
            resp_limits: RespLimits::default(),
            kv_limits: kv::Limits {
                max_key_bytes: 16 * 1024,
                max_value_bytes: 512 * 1024,
                ..kv::Limits::default()
            },
            request_timeout: Duration::from_secs(10),
            // The bound on a whole RESP command: replies are bounded like requests.
            max_reply_bytes: 8 << 20,
        }
    }
}

/// Why a request failed.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ServiceError {
    /// This node does not lead.
    #[error("not the leader (leader: {leader:?} at {address:?})")]
    NotLeader {
        /// The leader, if known.
        leader: Option<NodeId>,
        /// Its client address, if known.
        address: Option<SocketAddr>,
    },
    /// Temporarily unable; the request may or may not have been applied.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Too large.
    #[error("too large: {0}")]
    TooLarge(String),
    /// Storage failed on this node.
    #[error("storage failed: {0}")]
    StorageFailed(String),
    /// The request does not decode.
    #[error("bad request: {0}")]
    BadRequest(String),
}

/// What a read returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadResult {
    /// One per key, in order.
    pub values: Vec<Option<Bytes>>,
    /// Keys in the store.
    pub key_count: u64,
}

/// The shared request path. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    node: NodeHandle,
    store: SharedStore,
    config: ServerConfig,
    /// Idle native connections to other nodes, for forwarding.
    pool: Mutex<BTreeMap<SocketAddr, Vec<Connection>>>,
    /// The leader's client address as the last `NotLeader` answer named it: requests
    /// are forwarded there at once, without first asking this node (a round trip
    /// through the consensus loop that would fail), until a forward there fails.
    known_leader: Mutex<Option<SocketAddr>>,
}

/// Idle forwarding connections kept per peer. A forwarding connection carries one
/// request at a time, so a follower needs about as many as it has clients in flight;
/// fewer makes it connect afresh for the excess (measured: hundreds of connections a
/// second with 256 RESP clients spread over three nodes).
const IDLE_CONNECTIONS_PER_PEER: usize = 512;
const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_millis(200);
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);

impl Service {
    /// A service on a running node and its store.
    pub fn new(node: NodeHandle, store: SharedStore, config: ServerConfig) -> Service {
        Service {
            inner: Arc::new(Inner {
                node,
                store,
                config,
                pool: Mutex::new(BTreeMap::new()),
                known_leader: Mutex::new(None),
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The node.
    pub fn node(&self) -> &NodeHandle {
        &self.inner.node
    }

    fn not_leader(&self, leader_hint: Option<NodeId>) -> ServiceError {
        let leader = leader_hint.filter(|&id| id != self.inner.config.node_id);
        ServiceError::NotLeader {
            leader,
            address: leader.and_then(|id| self.inner.config.client_addresses.get(&id).copied()),
        }
    }

    fn map_node_error(&self, error: NodeError) -> ServiceError {
        match error {
            NodeError::NotLeader { leader_hint } => self.not_leader(leader_hint),
            NodeError::TooLarge { .. } => ServiceError::TooLarge(error.to_string()),
            NodeError::StorageFailed(message) => ServiceError::StorageFailed(message),
            NodeError::Busy | NodeError::ProposalDropped | NodeError::ShuttingDown => {
                ServiceError::Unavailable(error.to_string())
            }
        }
    }

    /// Executes a request on this node only: a write is proposed, a `Get` reads after
    /// `read_index`. Fails with `NotLeader` on a follower.
    pub async fn execute_local(&self, request: &Request) -> Result<Outcome, ServiceError> {
        if let Operation::Get { key } = &request.operation {
            let result = self.read_local(std::slice::from_ref(key)).await?;
            return Ok(Outcome::Value(result.values.into_iter().next().flatten()));
        }
        let stamped;
        let request = if request.timestamp_ms == 0 {
            // Unstamped (a native client): the proposer stamps it, for key expiry.
            stamped = Request {
                timestamp_ms: crate::commands::wall_clock_ms(),
                ..request.clone()
            };
            &stamped
        } else {
            request
        };
        let response = self
            .inner
            .node
            .propose(request.encode())
            .await
            .map_err(|error| self.map_node_error(error))?;
        Outcome::decode(&response)
            .map_err(|error| ServiceError::BadRequest(format!("undecodable outcome: {error}")))
    }

    /// A linearizable read of `keys` on this node (which must lead): waits for
    /// `read_index`, then reads the applied store.
    pub async fn read_local(&self, keys: &[Bytes]) -> Result<ReadResult, ServiceError> {
        self.inner
            .node
            .read_index()
            .await
            .map_err(|error| self.map_node_error(error))?;
        let now_ms = crate::commands::wall_clock_ms();
        let store = self.inner.store.read();
        let values: Vec<Option<Bytes>> = keys.iter().map(|key| store.get_at(key, now_ms)).collect();
        let key_count = store.len() as u64;
        drop(store);
        self.check_reply_size(&values)?;
        Ok(ReadResult { values, key_count })
    }

    /// Refuses a read whose values exceed `max_reply_bytes`.
    fn check_reply_size(&self, values: &[Option<Bytes>]) -> Result<(), ServiceError> {
        let max = self.inner.config.max_reply_bytes;
        let total: usize = values.iter().flatten().map(Bytes::len).sum();
        if total > max {
            return Err(ServiceError::TooLarge(format!(
                "reply of {total} bytes exceeds the maximum of {max} bytes; read fewer keys at a time"
            )));
        }
        Ok(())
    }

    /// Executes a request on the leader, wherever it is: locally, or forwarded over
    /// the native protocol. Retries (the same request, so a session makes it safe)
    /// through elections until `request_timeout`.
    pub async fn execute(&self, request: &Request) -> Result<Outcome, ServiceError> {
        let forward = NativeRequest {
            kind: RequestKind::Execute as i32,
            payload: request.encode(),
            forwarded: true,
            ..Default::default()
        };
        self.with_leader(
            || self.execute_local(request),
            forward,
            |response| match decode_response(response)? {
                Answer::Outcome(outcome) => Ok(outcome),
                _ => Err(ServiceError::BadRequest(
                    "unexpected reply to a forwarded request".into(),
                )),
            },
        )
        .await
    }

    /// A linearizable read of `keys` on the leader, wherever it is.
    pub async fn read(&self, keys: &[Bytes]) -> Result<ReadResult, ServiceError> {
        let forward = NativeRequest {
            kind: RequestKind::Read as i32,
            keys: keys.to_vec(),
            forwarded: true,
            ..Default::default()
        };
        self.with_leader(
            || self.read_local(keys),
            forward,
            |response| match decode_response(response)? {
                Answer::Values(result) => Ok(result),
                _ => Err(ServiceError::BadRequest(
                    "unexpected reply to a forwarded read".into(),
                )),
            },
        )
        .await
    }

    async fn with_leader<T, L, LF>(
        &self,
        local: L,
        forward: NativeRequest,
        convert: fn(NativeResponse) -> Result<T, ServiceError>,
    ) -> Result<T, ServiceError>
    where
        L: Fn() -> LF,
        LF: std::future::Future<Output = Result<T, ServiceError>>,
    {
        let deadline = Instant::now() + self.inner.config.request_timeout;
        if let Some(address) = self.known_leader() {
            match self
                .forward(address, forward.clone())
                .await
                .and_then(convert)
            {
                Ok(value) => return Ok(value),
                // Leadership moved or the leader is unreachable: ask this node first
                // again, as below. (A retried write is safe: its session makes it
                // exactly-once.)
                Err(ServiceError::NotLeader { .. } | ServiceError::Unavailable(_)) => {
                    self.set_known_leader(None)
                }
                Err(fatal) => return Err(fatal),
            }
        }
        let mut backoff = BACKOFF_MIN;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let attempt = tokio::time::timeout(remaining, local())
                .await
                .unwrap_or_else(|_| {
                    Err(ServiceError::Unavailable(
                        "no answer from the node in time".into(),
                    ))
                });
            let error = match attempt {
                Ok(value) => return Ok(value),
                Err(ServiceError::NotLeader {
                    address: Some(address),
                    ..
                }) => match self
                    .forward(address, forward.clone())
                    .await
                    .and_then(convert)
                {
                    Ok(value) => {
                        self.set_known_leader(Some(address));
                        return Ok(value);
                    }
                    Err(error) => error,
                },
                Err(error) => error,
            };
            match error {
                ServiceError::NotLeader { .. } | ServiceError::Unavailable(_) => {}
                fatal => return Err(fatal),
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(match error {
                    ServiceError::NotLeader { .. } => {
                        ServiceError::Unavailable("no leader elected yet".into())
                    }
                    other => other,
                });
            }
            tokio::time::sleep(backoff.min(deadline - now)).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    fn known_leader(&self) -> Option<SocketAddr> {
        *self
            .inner
            .known_leader
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn set_known_leader(&self, address: Option<SocketAddr>) {
        *self
            .inner
            .known_leader
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = address;
    }

    /// Sends one request to `address` on a pooled connection.
    async fn forward(
        &self,
        address: SocketAddr,
        request: NativeRequest,
    ) -> Result<NativeResponse, ServiceError> {
        let unavailable = |error: std::io::Error| {
            ServiceError::Unavailable(format!("forwarding to {address}: {error}"))
        };
        let pooled = self
            .inner
            .pool
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get_mut(&address)
            .and_then(Vec::pop);
        let mut connection = match pooled {
            Some(connection) => connection,
            None => Connection::connect(address, FORWARD_TIMEOUT)
                .await
                .map_err(unavailable)?,
        };
        let response = tokio::time::timeout(FORWARD_TIMEOUT, connection.call(request))
            .await
            .map_err(|_| {
                unavailable(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no answer",
                ))
            })?
            .map_err(unavailable)?;
        let mut pool = self
            .inner
            .pool
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let idle = pool.entry(address).or_default();
        if idle.len() < IDLE_CONNECTIONS_PER_PEER {
            idle.push(connection);
        }
        Ok(response)
    }

    /// This node's status, with every node's client address.
    pub async fn status(&self) -> Result<StatusReply, ServiceError> {
        let status = self
            .inner
            .node
            .status()
            .await
            .map_err(|error| self.map_node_error(error))?;
        let (keys, expiring_keys) = {
            let store = self.inner.store.read();
            (store.len() as u64, store.expiring_count() as u64)
        };
        let raft = &status.raft;
        Ok(StatusReply {
            node_id: raft.id.0,
            role: format!("{:?}", raft.role),
            term: raft.term.0,
            leader: raft.leader.map_or(0, |id| id.0),
            commit: raft.commit.0,
            applied: status.applied.0,
            first_index: raft.first_index.0,
            last_index: raft.last_index.0,
            snapshot_index: raft.snapshot_index.0,
            keys,
            client_addresses: self
                .inner
                .config
                .client_addresses
                .iter()
                .map(|(id, address)| format!("{}={address}", id.0))
                .collect(),
            storage_failure: status.storage_failure.unwrap_or_default(),
            expiring_keys,
        })
    }

    /// Answers one native request (never forwards: a follower answers `NotLeader` and
    /// the client redirects).
    pub async fn handle_native(&self, request: NativeRequest) -> NativeResponse {
        let correlation = request.correlation;
        let result = match RequestKind::try_from(request.kind) {
            Ok(RequestKind::Execute) => match Request::decode(&request.payload) {
                Ok(decoded) => self
                    .execute_local(&decoded)
                    .await
                    .map(|outcome| NativeResponse {
                        kind: ResponseKind::Outcome as i32,
                        payload: outcome.encode(),
                        ..Default::default()
                    }),
                Err(error) => Err(ServiceError::BadRequest(error.to_string())),
            },
            Ok(RequestKind::Read) => {
                self.read_local(&request.keys)
                    .await
                    .map(|result| NativeResponse {
                        kind: ResponseKind::Values as i32,
                        values: result.values.into_iter().map(MaybeValue::new).collect(),
                        key_count: result.key_count,
                        ..Default::default()
                    })
            }
            Ok(RequestKind::Status) => self.status().await.map(|status| NativeResponse {
                kind: ResponseKind::Status as i32,
                status: Some(status),
                ..Default::default()
            }),
            _ => Err(ServiceError::BadRequest(format!(
                "unknown request kind {}",
                request.kind
            ))),
        };
        let mut response = match result {
            Ok(response) => response,
            Err(error) => error_response(error),
        };
        response.correlation = correlation;
        response
    }
}

fn error_response(error: ServiceError) -> NativeResponse {
    match error {
        ServiceError::NotLeader { leader, address } => NativeResponse {
            kind: ResponseKind::NotLeader as i32,
            leader_id: leader.map_or(0, |id| id.0),
            leader_address: address.map(|a| a.to_string()).unwrap_or_default(),
            ..Default::default()
        },
        ServiceError::Unavailable(message) => {
            NativeResponse::error(0, ErrorCode::Unavailable, message)
        }
        ServiceError::TooLarge(message) => NativeResponse::error(0, ErrorCode::TooLarge, message),
        ServiceError::StorageFailed(message) => {
            NativeResponse::error(0, ErrorCode::StorageFailed, message)
        }
        ServiceError::BadRequest(message) => {
            NativeResponse::error(0, ErrorCode::BadRequest, message)
        }
    }
}

/// A successful native response, decoded.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// A request's outcome.
    Outcome(Outcome),
    /// A read's values.
    Values(ReadResult),
    /// A node's status.
    Status(StatusReply),
}

/// Decodes a native response: its answer, or the error it stands for.
pub fn decode_response(response: NativeResponse) -> Result<Answer, ServiceError> {
    match ResponseKind::try_from(response.kind) {
        Ok(ResponseKind::Outcome) => Outcome::decode(&response.payload)
            .map(Answer::Outcome)
            .map_err(|error| ServiceError::BadRequest(format!("undecodable outcome: {error}"))),
        Ok(ResponseKind::Values) => Ok(Answer::Values(ReadResult {
            values: response
                .values
                .into_iter()
                .map(MaybeValue::into_option)
                .collect(),
            key_count: response.key_count,
        })),
        Ok(ResponseKind::Status) if response.status.is_some() => {
            Ok(Answer::Status(response.status.unwrap_or_default()))
        }
        _ => Err(response_error(&response)),
    }
}

/// The error a non-success native response stands for.
pub fn response_error(response: &NativeResponse) -> ServiceError {
    match ResponseKind::try_from(response.kind) {
        Ok(ResponseKind::NotLeader) => ServiceError::NotLeader {
            leader: (response.leader_id != 0).then_some(NodeId(response.leader_id)),
            address: response.leader_address.parse().ok(),
        },
        Ok(ResponseKind::Error) => {
            let message = response.message.clone();
            match ErrorCode::try_from(response.error_code) {
                Ok(ErrorCode::TooLarge) => ServiceError::TooLarge(message),
                Ok(ErrorCode::StorageFailed) => ServiceError::StorageFailed(message),
                Ok(ErrorCode::BadRequest) => ServiceError::BadRequest(message),
                _ => ServiceError::Unavailable(message),
            }
        }
        _ => ServiceError::BadRequest(format!("unexpected response kind {}", response.kind)),
    }
}
