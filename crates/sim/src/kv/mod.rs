//! The MIT 6.824 KV suite (4A/4B) on the simulator: the KV harness, the generic
//! tests and the registry the cargo tests run.

pub mod generic;
pub mod history;
pub mod linearizable;
pub mod tester;

pub use tester::{ClerkOp, KvCanary, KvStats, KvTask, KvTester, TaskWake};
