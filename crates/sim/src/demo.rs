//! `sim demo`: a 5-node cluster driven through faults (partitions, one-way links,
//! crashes, an unreliable network with long reordering) while clients propose, then
//! healed: the safety phase runs with every checker on, the liveness phase requires
//! the healed cluster to agree within the lab's bounds.

use crate::command::Cmd;
use crate::event_queue::format_time;
use crate::lab::runner::panic_message;
use crate::server::SimOptions;
use crate::task::{ClientTask, Wake};
use crate::tester::Tester;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

const SERVERS: usize = 5;
/// Fault rounds in the safety phase.
const FAULT_ROUNDS: usize = 60;

/// What the demo did.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The seed.
    pub seed: u64,
    /// Commands accepted by leaders.
    pub proposals: u64,
    /// Highest index applied anywhere.
    pub commits: u64,
    /// Distinct (term, leader) pairs.
    pub elections: u64,
    /// Crashes injected.
    pub crashes: u64,
    /// Messages handed to the network.
    pub messages: u64,
    /// Messages that arrived.
    pub delivered: u64,
    /// RPC bytes counted by the network.
    pub bytes: u64,
    /// Invariant checks run.
    pub checks: u64,
    /// Events handled.
    pub events: u64,
    /// Virtual time simulated.
    pub virtual_time: u64,
    /// The trace digest.
    pub digest: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "demo, seed {}: 5 nodes, faults healed, cluster agreed",
            self.seed
        )?;
        writeln!(
            f,
            "  virtual time      {} s",
            format_time(self.virtual_time)
        )?;
        writeln!(f, "  proposals         {}", self.proposals)?;
        writeln!(f, "  committed index   {}", self.commits)?;
        writeln!(f, "  elections         {}", self.elections)?;
        writeln!(f, "  crashes           {}", self.crashes)?;
        writeln!(
            f,
            "  messages          {} sent, {} delivered",
            self.messages, self.delivered
        )?;
        writeln!(f, "  bytes             {}", self.bytes)?;
        writeln!(f, "  events            {}", self.events)?;
        writeln!(f, "  invariant checks  {}", self.checks)?;
        write!(f, "  trace digest      {:016x}", self.digest)
    }
}

/// A client proposing to every live server every 20-80 ms until told to stop.
struct Proposer {
    next: u64,
    stop: std::rc::Rc<std::cell::Cell<bool>>,
}

impl ClientTask for Proposer {
    fn poll(&mut self, t: &mut Tester) -> Wake {
        if self.stop.get() {
            return Wake::Done;
        }
        self.next += 1;
        for i in 0..t.servers() {
            t.start(i, Cmd::from(self.next));
        }
        let pause = 20 + t.rng().below(60);
        Wake::After(crate::event_queue::ms(pause))
    }
}

/// Runs the demo; `Err` holds the failure (with its seed).
pub fn run(opts: SimOptions) -> Result<Summary, String> {
    let seed = opts.seed;
    let mut slot = None;
    catch_unwind(AssertUnwindSafe(|| {
        let t = slot.insert(Tester::with_options(opts, SERVERS, false, false));
        scenario(t);
    }))
    .map_err(|payload| panic_message(payload.as_ref()))?;
    let t = slot.expect("tester ran");
    let c = t.cluster();
    Ok(Summary {
        seed,
        proposals: c.stats.proposals,
        commits: c.appliers.max_index,
        elections: c.invariants.elections,
        crashes: c.stats.crashes,
        messages: c.net.stats.messages_sent,
        delivered: c.net.stats.messages_delivered,
        bytes: c.net.stats.bytes_total,
        checks: c.invariants.checks,
        events: c.stats.events,
        virtual_time: c.now(),
        digest: c.trace.digest(),
    })
}

fn scenario(t: &mut Tester) {
    t.one(Cmd::from("hello"), SERVERS, true);
    let stop = std::rc::Rc::new(std::cell::Cell::new(false));
    let proposer = t.spawn(Box::new(Proposer {
        next: 0,
        stop: stop.clone(),
    }));
    for _ in 0..FAULT_ROUNDS {
        inject_fault(t);
        let pause = 200 + t.rng().below(600);
        t.sleep(pause);
    }
    stop.set(true);
    t.join(&[proposer]);
    heal(t);
    // Liveness: the healed cluster elects a leader and agrees on a command everywhere.
    t.check_one_leader();
    t.one(Cmd::from("healed"), SERVERS, true);
}

fn inject_fault(t: &mut Tester) {
    let n = t.servers();
    let i = t.rng().below(n as u64) as usize;
    match t.rng().below(8) {
        0 => t.disconnect(i),
        1 => t.connect(i),
        2 => {
            if t.alive(i) {
                t.crash1(i);
            } else {
                t.start1(i);
                t.connect(i);
            }
        }
        3 => partition(t),
        4 => {
            // A one-way link failure.
            let j = t.rng().below(n as u64) as usize;
            if i != j {
                t.cluster_mut().set_link(i, j, false);
            }
        }
        5 => {
            let unreliable = t.rng().chance_per_mille(500);
            t.set_unreliable(unreliable);
        }
        6 => {
            let on = t.rng().chance_per_mille(300);
            t.set_long_reordering(on);
        }
        _ => heal(t),
    }
}

/// Splits the servers into two random groups.
fn partition(t: &mut Tester) {
    let n = t.servers();
    let sides: Vec<bool> = (0..n).map(|_| t.rng().chance_per_mille(500)).collect();
    for i in 0..n {
        t.disconnect(i);
    }
    for from in 0..n {
        for to in 0..n {
            if from != to && sides[from] == sides[to] && t.alive(from) {
                t.cluster_mut().set_link(from, to, true);
            }
        }
    }
}

fn heal(t: &mut Tester) {
    t.set_unreliable(false);
    t.set_long_reordering(false);
    for i in 0..t.servers() {
        if !t.alive(i) {
            t.start1(i);
        }
        t.connect(i);
    }
}
