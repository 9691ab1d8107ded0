//! The key/value state machine of raftkv, its client sessions and request tracker. No IO.
//!
//! - [`Request`] / [`Outcome`]: what clients propose and get back, with a prost wire form.
//! - [`KvStore`]: the deterministic state machine (map + exactly-once sessions, bounded
//!   and expired by log index) with snapshots.
//! - [`RequestTracker`]: who waits for which proposal or ReadIndex read, so that no
//!   caller waits forever when leadership moves.

#![warn(missing_docs)]

pub mod command;
mod expiry;
pub mod integer;
pub mod store;
pub mod tracker;

pub use command::{
    ClientId, DecodeError, KvError, Operation, Outcome, Part, Request, SetCondition, SetExpiry,
};
pub use store::{KvStore, Limits};
pub use tracker::{RequestTracker, Resolution};
