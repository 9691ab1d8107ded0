//! The native Rust client.
//!
//! Guarantee: exactly-once writes, linearizable reads. The client opens a session (a
//! random client id) and numbers its writes 1, 2, 3, ...; a write is retried with the
//! same number after a timeout, a dropped connection or a leader change, and the state
//! machine applies it once and answers the retry with the first result. One request is
//! in flight at a time (methods take `&mut self`); use one client per task.
//!
//! Leader discovery: requests go to the last known leader, else round-robin over the
//! known addresses; a `NotLeader` answer names the leader's client address, which is
//! tried next (and remembered). Backoff grows from 10 ms to 500 ms between attempts;
//! every call has an overall deadline (`ClientOptions::request_timeout`).
//!
//! If the cluster expired the session (idle for longer than the store's
//! `session_idle_entries`, or evicted), a write fails with [`ClientError::SessionExpired`]
//! (it may or may not have been applied) and the client opens a new session for the
//! next request.

use crate::commands::random_client_id;
use crate::connection::Connection;
use crate::native::{NativeRequest, RequestKind, StatusReply};
use crate::service::{decode_response, Answer, ReadResult, ServiceError};
use bytes::Bytes;
use kv::{ClientId, KvError, Operation, Outcome, Request, SetCondition, SetExpiry};
use std::net::SocketAddr;
use std::time::Duration;
use thiserror::Error;
use tokio::time::Instant;

/// Timeouts and backoff.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Overall deadline of one call, retries included.
    pub request_timeout: Duration,
    /// Deadline of one attempt on one node (connect included).
    pub attempt_timeout: Duration,
    /// First backoff between attempts.
    pub backoff_min: Duration,
    /// Largest backoff.
    pub backoff_max: Duration,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            request_timeout: Duration::from_secs(30),
            attempt_timeout: Duration::from_secs(3),
            backoff_min: Duration::from_millis(10),
            backoff_max: Duration::from_millis(500),
        }
    }
}

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ClientError {
    /// No node answered in time; the request may or may not have been applied (a
    /// retry through this client is still exactly-once).
    #[error("timed out after {elapsed:?}; last error: {last_error}")]
    Timeout {
        /// How long it tried.
        elapsed: Duration,
        /// The last failure seen.
        last_error: String,
    },
    /// The store refused the request (too large, ...); nothing was applied.
    #[error("refused: {0}")]
    Rejected(KvError),
    /// The session expired before this write's outcome was known; it may or may not
    /// have been applied. The client uses a new session from now on.
    #[error("session expired; the write may or may not have been applied")]
    SessionExpired,
    /// The request is too large for the node.
    #[error("too large: {0}")]
    TooLarge(String),
    /// The server could not understand the request or the client the answer.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The client was given no address.
    #[error("no server address given")]
    NoAddress,
}

/// A key's expiry deadline, as [`Client::deadline`] reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadline {
    /// No such key (or it expired).
    Missing,
    /// The key has no deadline.
    Persistent,
    /// The key expires at this time (ms since the Unix epoch).
    AtMs(u64),
}

/// A session with a raftkv cluster.
pub struct Client {
    addresses: Vec<SocketAddr>,
    options: ClientOptions,
    client: ClientId,
    next_sequence: u64,
    leader: Option<SocketAddr>,
    next_address: usize,
    connection: Option<Connection>,
}

impl Client {
    /// A client for a cluster reachable at any of `addresses` (one is enough: others
    /// are learnt from `NotLeader` answers). Connects lazily.
    pub fn new(addresses: impl IntoIterator<Item = SocketAddr>, options: ClientOptions) -> Client {
        Client {
            addresses: addresses.into_iter().collect(),
            options,
            client: random_client_id(),
            next_sequence: 1,
            leader: None,
            next_address: 0,
            connection: None,
        }
    }

    /// The session's client id.
    pub fn client_id(&self) -> ClientId {
        self.client
    }

    /// Drops the current connection (the next call reconnects); for tests.
    pub fn disconnect(&mut self) {
        self.connection = None;
    }

    /// Learns every node's client address from any node's status.
    pub async fn discover(&mut self) -> Result<(), ClientError> {
        let status = self.status().await?;
        for entry in &status.client_addresses {
            if let Some(address) = entry.split_once('=').and_then(|(_, a)| a.parse().ok()) {
                if !self.addresses.contains(&address) {
                    self.addresses.push(address);
                }
            }
        }
        Ok(())
    }

    /// Every address known.
    pub fn addresses(&self) -> &[SocketAddr] {
        &self.addresses
    }

    /// Linearizable read of one key.
    pub async fn get(&mut self, key: impl Into<Bytes>) -> Result<Option<Bytes>, ClientError> {
        let mut result = self.get_many(vec![key.into()]).await?;
        Ok(result.values.pop().flatten())
    }

    /// Linearizable read of several keys at one point in time, with the store's key
    /// count.
    pub async fn get_many(&mut self, keys: Vec<Bytes>) -> Result<ReadResult, ClientError> {
        let request = NativeRequest {
            kind: RequestKind::Read as i32,
            keys,
            ..Default::default()
        };
        match self.call(request, true).await? {
            Answer::Values(result) => Ok(result),
            other => Err(ClientError::Protocol(format!(
                "unexpected answer {other:?}"
            ))),
        }
    }

    /// Sets a key.
    pub async fn put(
        &mut self,
        key: impl Into<Bytes>,
        value: impl Into<Bytes>,
    ) -> Result<(), ClientError> {
        let operation = Operation::Put {
            key: key.into(),
            value: value.into(),
        };
        match self.execute(operation).await? {
            Outcome::Written => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Appends to a key's value (an absent key counts as empty); returns the value's
    /// length in bytes after the append.
    pub async fn append(
        &mut self,
        key: impl Into<Bytes>,
        value: impl Into<Bytes>,
    ) -> Result<u64, ClientError> {
        let operation = Operation::Append {
            key: key.into(),
            value: value.into(),
        };
        match self.execute(operation).await? {
            Outcome::Appended { length } => Ok(length),
            other => Err(unexpected(other)),
        }
    }

    /// Adds `delta` to the key's value read as a decimal i64 (absent: 0); returns the
    /// new value. A value that is not a decimal i64 fails with
    /// `Rejected(KvError::NotAnInteger)`, a sum out of range with
    /// `Rejected(KvError::Overflow)`; neither changes the value.
    pub async fn increment(
        &mut self,
        key: impl Into<Bytes>,
        delta: i64,
    ) -> Result<i64, ClientError> {
        let operation = Operation::Increment {
            key: key.into(),
            delta,
        };
        match self.execute(operation).await? {
            Outcome::Number(value) => Ok(value),
            other => Err(unexpected(other)),
        }
    }

    /// Redis SET with options: writes `value` if `condition` holds and sets the deadline
    /// as `expiry` says (deadlines are absolute ms since the Unix epoch: add this
    /// machine's clock to a relative time). True if it wrote.
    pub async fn set(
        &mut self,
        key: impl Into<Bytes>,
        value: impl Into<Bytes>,
        condition: SetCondition,
        expiry: SetExpiry,
    ) -> Result<bool, ClientError> {
        let operation = Operation::Set {
            key: key.into(),
            value: value.into(),
            condition,
            expiry,
        };
        match self.execute(operation).await? {
            Outcome::Number(wrote) => Ok(wrote == 1),
            other => Err(unexpected(other)),
        }
    }

    /// Sets (`Some`, absolute ms) or removes (`None`) the deadline of an existing key;
    /// true if it did (false: no such key, or no deadline to remove).
    pub async fn expire_at(
        &mut self,
        key: impl Into<Bytes>,
        deadline_ms: Option<u64>,
    ) -> Result<bool, ClientError> {
        let operation = Operation::Expire {
            key: key.into(),
            deadline_ms,
        };
        match self.execute(operation).await? {
            Outcome::Number(changed) => Ok(changed == 1),
            other => Err(unexpected(other)),
        }
    }

    /// A key's deadline, read through the log.
    pub async fn deadline(&mut self, key: impl Into<Bytes>) -> Result<Deadline, ClientError> {
        match self
            .execute(Operation::GetExpiry { key: key.into() })
            .await?
        {
            Outcome::Number(-2) => Ok(Deadline::Missing),
            Outcome::Number(-1) => Ok(Deadline::Persistent),
            Outcome::Number(at) if at >= 0 => Ok(Deadline::AtMs(at as u64)),
            other => Err(unexpected(other)),
        }
    }

    /// Deletes a key; true if it existed.
    pub async fn delete(&mut self, key: impl Into<Bytes>) -> Result<bool, ClientError> {
        match self.execute(Operation::Delete { key: key.into() }).await? {
            Outcome::Deleted(existed) => Ok(existed),
            other => Err(unexpected(other)),
        }
    }

    /// Sets `key` to `value` if it holds `expected` (`None`: absent); returns whether
    /// it did and the value before.
    pub async fn compare_and_set(
        &mut self,
        key: impl Into<Bytes>,
        expected: Option<Bytes>,
        value: impl Into<Bytes>,
    ) -> Result<(bool, Option<Bytes>), ClientError> {
        let operation = Operation::CompareAndSet {
            key: key.into(),
            expected,
            value: value.into(),
        };
        match self.execute(operation).await? {
            Outcome::Swapped { succeeded, current } => Ok((succeeded, current)),
            other => Err(unexpected(other)),
        }
    }

    /// Executes an operation in the session (the next sequence number).
    pub async fn execute(&mut self, operation: Operation) -> Result<Outcome, ClientError> {
        let request = Request {
            client: self.client,
            sequence: self.next_sequence,
            operation,
            // The node that proposes it stamps it with its clock.
            timestamp_ms: 0,
        };
        self.next_sequence += 1;
        match self.execute_request(&request).await? {
            Outcome::Rejected(KvError::SessionExpired) => {
                self.client = random_client_id();
                self.next_sequence = 1;
                Err(ClientError::SessionExpired)
            }
            Outcome::Rejected(error) => Err(ClientError::Rejected(error)),
            outcome => Ok(outcome),
        }
    }

    /// Sends exactly this request (with its session and sequence) until a node
    /// answers it. Tests use it to replay a request.
    pub async fn execute_request(&mut self, request: &Request) -> Result<Outcome, ClientError> {
        let native = NativeRequest {
            kind: RequestKind::Execute as i32,
            payload: request.encode(),
            ..Default::default()
        };
        match self.call(native, true).await? {
            Answer::Outcome(outcome) => Ok(outcome),
            other => Err(ClientError::Protocol(format!(
                "unexpected answer {other:?}"
            ))),
        }
    }

    /// The status of the node the client talks to (any node, not necessarily the
    /// leader).
    pub async fn status(&mut self) -> Result<StatusReply, ClientError> {
        let request = NativeRequest {
            kind: RequestKind::Status as i32,
            ..Default::default()
        };
        match self.call(request, false).await? {
            Answer::Status(status) => Ok(status),
            other => Err(ClientError::Protocol(format!(
                "unexpected answer {other:?}"
            ))),
        }
    }

    /// The status of the node at `address`, or an error after one attempt.
    pub async fn status_of(
        address: SocketAddr,
        timeout: Duration,
    ) -> Result<StatusReply, ClientError> {
        let attempt = async {
            let mut connection = Connection::connect(address, timeout).await?;
            connection
                .call(NativeRequest {
                    kind: RequestKind::Status as i32,
                    ..Default::default()
                })
                .await
        };
        let response = tokio::time::timeout(timeout, attempt)
            .await
            .map_err(|_| ClientError::Timeout {
                elapsed: timeout,
                last_error: format!("{address} did not answer"),
            })?
            .map_err(|error| ClientError::Timeout {
                elapsed: timeout,
                last_error: format!("{address}: {error}"),
            })?;
        match decode_response(response) {
            Ok(Answer::Status(status)) => Ok(status),
            Ok(other) => Err(ClientError::Protocol(format!(
                "unexpected answer {other:?}"
            ))),
            Err(error) => Err(ClientError::Protocol(error.to_string())),
        }
    }

    fn target(&mut self) -> Result<SocketAddr, ClientError> {
        if let Some(leader) = self.leader {
            return Ok(leader);
        }
        if self.addresses.is_empty() {
            return Err(ClientError::NoAddress);
        }
        let address = self.addresses[self.next_address % self.addresses.len()];
        Ok(address)
    }

    fn forget_target(&mut self) {
        self.leader = None;
        self.connection = None;
        self.next_address = self.next_address.wrapping_add(1);
    }

    /// Sends `request` until it gets an answer; `needs_leader` requests follow
    /// `NotLeader` redirections.
    async fn call(
        &mut self,
        request: NativeRequest,
        needs_leader: bool,
    ) -> Result<Answer, ClientError> {
        let started = Instant::now();
        let deadline = started + self.options.request_timeout;
        let mut backoff = self.options.backoff_min;
        loop {
            let target = self.target()?;
            let error = match self.attempt(target, request.clone()).await {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(ServiceError::NotLeader { address, .. })) if needs_leader => {
                    match address {
                        Some(leader) if leader != target => {
                            if !self.addresses.contains(&leader) {
                                self.addresses.push(leader);
                            }
                            self.leader = Some(leader);
                            self.connection = None;
                            // A fresh hint: try it at once.
                            continue;
                        }
                        _ => {
                            self.forget_target();
                            "no leader known yet".to_string()
                        }
                    }
                }
                Ok(Err(ServiceError::TooLarge(message))) => {
                    return Err(ClientError::TooLarge(message))
                }
                Ok(Err(ServiceError::BadRequest(message))) => {
                    return Err(ClientError::Protocol(message))
                }
                Ok(Err(other)) => {
                    self.forget_target();
                    other.to_string()
                }
                Err(io_error) => {
                    self.forget_target();
                    format!("{target}: {io_error}")
                }
            };
            let now = Instant::now();
            if now >= deadline {
                return Err(ClientError::Timeout {
                    elapsed: now - started,
                    last_error: error,
                });
            }
            tracing::debug!(%target, %error, "retrying");
            tokio::time::sleep(backoff.min(deadline - now)).await;
            backoff = (backoff * 2).min(self.options.backoff_max);
        }
    }

    /// One attempt on one node: `Err` for transport failures.
    async fn attempt(
        &mut self,
        target: SocketAddr,
        request: NativeRequest,
    ) -> std::io::Result<Result<Answer, ServiceError>> {
        let timeout = self.options.attempt_timeout;
        let connection = &mut self.connection;
        let attempt = async move {
            if connection.as_ref().map(Connection::address) != Some(target) {
                *connection = Some(Connection::connect(target, timeout).await?);
            }
            let live = connection.as_mut().expect("just connected");
            match live.call(request).await {
                Ok(response) => Ok(decode_response(response)),
                Err(error) => {
                    *connection = None;
                    Err(error)
                }
            }
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(result) => result,
            Err(_) => {
                // Abandoned midway: the connection's state is unknown.
                self.connection = None;
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no answer in time",
                ))
            }
        }
    }
}

fn unexpected(outcome: Outcome) -> ClientError {
    ClientError::Protocol(format!("unexpected outcome {outcome:?}"))
}
