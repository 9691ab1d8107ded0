//! The event trace: a running FNV-1a digest over every event (so two runs can be
//! compared by one number), plus optional human-readable lines for `sim replay --trace`.

use crate::event_queue::{format_time, Time};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Feeds `bytes` into an FNV-1a state.
pub fn fnv1a(mut state: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        state ^= u64::from(b);
        state = state.wrapping_mul(FNV_PRIME);
    }
    state
}

/// FNV-1a hash of `bytes` from the standard offset basis.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    fnv1a(FNV_OFFSET, bytes)
}

/// Kinds of trace events; the code is part of the digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TraceKind {
    /// A node ticked.
    Tick = 1,
    /// A message was handed to the network (fields say its fate).
    Send = 2,
    /// A message reached its destination.
    Deliver = 3,
    /// A message was dropped on arrival (target gone).
    DropOnArrival = 4,
    /// A sender was told a peer is unreachable.
    Unreachable = 5,
    /// A persist request was submitted to a disk.
    PersistStart = 6,
    /// A persist request became durable.
    PersistDone = 7,
    /// A node handed an entry or snapshot to its state machine.
    Apply = 8,
    /// The tester crashed a node.
    Crash = 9,
    /// The tester (re)started a node.
    Restart = 10,
    /// The tester changed connectivity.
    Connect = 11,
    /// The tester changed network reliability settings.
    NetMode = 12,
    /// The tester called Start on a node.
    Propose = 13,
    /// A node became leader.
    Leader = 14,
    /// A client task woke up.
    TaskWake = 15,
    /// The application snapshotted a node.
    Snapshot = 16,
}

/// Running digest of a simulation, and optionally its printed trace.
#[derive(Clone, Debug)]
pub struct Trace {
    digest: u64,
    events: u64,
    verbose: bool,
    print_ticks: bool,
}

impl Trace {
    /// A trace that prints lines to stdout when `verbose`.
    pub fn new(verbose: bool) -> Trace {
        Trace {
            digest: FNV_OFFSET,
            events: 0,
            verbose,
            print_ticks: false,
        }
    }

    /// The digest of every event so far.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// Number of events recorded.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// True if lines are printed.
    pub fn is_verbose(&self) -> bool {
        self.verbose
    }

    /// Records one event: its time, kind and identifying fields go into the digest; the
    /// text is built (and printed) only when verbose, so tracing costs nothing otherwise.
    pub fn record(
        &mut self,
        time: Time,
        kind: TraceKind,
        fields: &[u64],
        text: impl FnOnce() -> String,
    ) {
        self.events += 1;
        let mut d = fnv1a(self.digest, &time.to_le_bytes());
        d = fnv1a(d, &[kind as u8]);
        for f in fields {
            d = fnv1a(d, &f.to_le_bytes());
        }
        self.digest = d;
        if self.verbose && (kind != TraceKind::Tick || self.print_ticks) {
            println!("{:>12} {}", format_time(time), text());
        }
    }
}
