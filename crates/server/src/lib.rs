//! raftkv servers: RESP2 for any Redis client, a native protocol, and the native client.
//!
//! Guarantees, per interface:
//! - Native client ([`client::Client`]): exactly-once. Every write carries the client's
//!   session (a random client id and a sequence number); retries after timeouts,
//!   reconnects and leader changes resend the same request, and the state machine
//!   applies it once and answers the retry with the first result. Reads are
//!   linearizable (ReadIndex on the leader).
//! - RESP (any Redis client): each connection has its own session, so the server's own
//!   retries (through elections and forwarding) apply a write once; a client that
//!   reconnects and resends gets a new session: at-least-once on reconnect. Reads are
//!   linearizable. A follower forwards requests to the leader.
pub mod client;
pub mod commands;
pub mod connection;
pub mod launch;
pub mod machine;
pub mod native;
pub mod resp;
pub mod server;
pub mod service;
