//! raftkv's deterministic simulator and the MIT 6.824 Raft test suite ported onto it.
//!
//! One `u64` seed drives everything: the network, the disks, the tick phases, the
//! tester's choices and the cores' election timers. Virtual time only; single-threaded.
//! A replayed seed produces the identical event trace (see [`trace::Trace::digest`]).

#![warn(missing_docs)]

pub mod applier;
pub mod cluster;
pub mod command;
pub mod demo;
pub mod disk;
pub mod event_queue;
pub mod invariants;
pub mod kv;
pub mod lab;
pub mod network;
pub mod report;
pub mod rng;
pub mod server;
pub mod task;
pub mod tester;
pub mod trace;

pub use command::Cmd;
pub use server::SimOptions;
pub use tester::Tester;
