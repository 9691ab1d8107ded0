//! A Porcupine-style linearizability checker for recorded histories.
//!
//! Record each client operation as an [`Operation`] (client, input, output, call and
//! return times), pick a [`Model`] (e.g. [`kv::KvModel`]) and call [`check_operations`]
//! or a configured [`Checker`]. The history is split into independent partitions (per
//! key), each searched with the Wing-Gong / Lowe algorithm and memoization of
//! (linearized set, state). The answer is [`CheckResult::Ok`], [`CheckResult::Illegal`]
//! with a readable [`Report`], or [`CheckResult::Unknown`] when the time budget ran out.
//!
//! ```
//! use linearizability::kv::{KvInput, KvModel, KvOutput};
//! use linearizability::{check_operations, Operation};
//! use std::time::Duration;
//!
//! let history = vec![
//!     Operation::new(1, KvInput::put("x", "1"), KvOutput::Done, 0, 10),
//!     Operation::new(2, KvInput::get("x"), KvOutput::value("1"), 5, 15),
//! ];
//! assert!(check_operations(&KvModel::new(), &history, Duration::from_secs(1)).is_ok());
//! ```
//!
//! The crate knows nothing about Raft. See `docs/design/linearizability.md`.

mod bitset;
mod cache;
mod checker;
mod history;
pub mod kv;
mod model;
mod report;
mod search;

pub use checker::{check_operations, CheckResult, Checker, DEFAULT_MAX_CACHE_BYTES};
pub use history::Operation;
pub use model::Model;
pub use report::{LinearizedStep, PartitionReport, Report, ReportOperation, StuckCandidate};
