//! The simulated world: servers, network, disks, the event queue and its run loop.
//!
//! Every event touches one node; after it the node's `Ready` is drained (persist to
//! disk, send to the network, apply to the tester's applier) and the checkers run.

use crate::applier::{AfterApply, ApplierKind, Appliers, Slot};
use crate::command::Cmd;
use crate::event_queue::{format_time, EventQueue, Time, SECONDS};
use crate::invariants::Invariants;
use crate::network::{Fate, Network};
use crate::rng::{SimRng, Stream};
use crate::server::{node_id, server_index, Server, SimOptions};
use crate::trace::{Trace, TraceKind};
use raft::{
    Apply, EntryId, EntryPayload, Index, Message, NodeId, PersistRequest, ProposeError, Raft,
    ReadIndexError, ReadState, Term,
};

/// Something that happens at a point of virtual time.
pub enum Event {
    /// A node's clock ticks.
    Tick {
        /// The node.
        node: usize,
        /// The incarnation the tick belongs to.
        incarnation: u32,
    },
    /// A message arrives.
    Deliver {
        /// Sender.
        from: usize,
        /// Sender's incarnation when it sent.
        from_incarnation: u32,
        /// Recipient.
        to: usize,
        /// Recipient's incarnation when the message was sent.
        to_incarnation: u32,
        /// The message.
        msg: Message,
    },
    /// A sender learns that a call to `peer` failed.
    Unreachable {
        /// The sender.
        node: usize,
        /// Its incarnation.
        incarnation: u32,
        /// The peer it could not reach.
        peer: NodeId,
    },
    /// A node's oldest pending write becomes durable.
    DiskDone {
        /// The node.
        node: usize,
        /// The incarnation that issued the write.
        incarnation: u32,
    },
    /// A tester client task wakes up (handled by the tester, not the cluster).
    Task {
        /// The task's id.
        task: usize,
    },
}

/// Work for an application that drives the cluster itself (the KV servers): what a
/// node applied or learned, buffered until the application drains it.
#[derive(Clone, Debug)]
pub enum Output {
    /// Node `node` applies `apply`.
    Apply {
        /// The node.
        node: usize,
        /// The entry or snapshot.
        apply: Apply,
    },
    /// Node `node` confirmed a ReadIndex read.
    Read {
        /// The node.
        node: usize,
        /// The read.
        read: ReadState,
    },
}

/// Why [`Cluster::run_until_output`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wakeup {
    /// A tester task is due.
    Task(usize),
    /// Outputs wait in [`Cluster::take_outputs`].
    Output,
    /// The clock reached the limit.
    Limit,
}

/// Counters for summaries.
#[derive(Clone, Debug, Default)]
pub struct ClusterStats {
    /// Events handled.
    pub events: u64,
    /// Ticks delivered to cores.
    pub ticks: u64,
    /// Commands accepted by a leader.
    pub proposals: u64,
    /// Crashes injected.
    pub crashes: u64,
    /// Snapshots taken by the application.
    pub snapshots: u64,
}

/// The world of one simulation.
pub struct Cluster {
    opts: SimOptions,
    queue: EventQueue<Event>,
    servers: Vec<Server>,
    connected: Vec<bool>,
    /// The network and its counters.
    pub net: Network,
    disk_rng: SimRng,
    /// The tester's per-server applied-log copies.
    pub appliers: Appliers,
    /// The safety checkers.
    pub invariants: Invariants,
    /// The event digest and optional printed trace.
    pub trace: Trace,
    /// Event counters.
    pub stats: ClusterStats,
    /// `Some` when an external application consumes applies and reads.
    outputs: Option<Vec<Output>>,
}

impl Cluster {
    /// A cluster of `servers` nodes, none started, none connected.
    pub fn new(opts: SimOptions, servers: usize, applier: ApplierKind) -> Cluster {
        let mut net = Network::new(servers, SimRng::new(opts.seed, Stream::Network));
        net.set_fifo(opts.fifo_links);
        let mut tick_rng = SimRng::new(opts.seed, Stream::Ticks);
        let nodes = (0..servers)
            .map(|_| Server::new(tick_rng.range_inclusive(1, opts.tick)))
            .collect();
        Cluster {
            queue: EventQueue::new(),
            servers: nodes,
            connected: vec![false; servers],
            net,
            disk_rng: SimRng::new(opts.seed, Stream::Disk),
            appliers: Appliers::new(applier, servers),
            invariants: Invariants::new(servers),
            trace: Trace::new(opts.trace),
            stats: ClusterStats::default(),
            outputs: None,
            opts,
        }
    }

    /// Hands applied entries, installed snapshots and read states to an external
    /// application ([`Cluster::take_outputs`]) instead of the lab's appliers.
    pub fn set_external_application(&mut self) {
        self.outputs = Some(Vec::new());
    }

    /// Takes the buffered outputs (external application mode).
    pub fn take_outputs(&mut self) -> Vec<Output> {
        self.outputs
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// `Start(bytes)` on server `i` for an external application.
    pub fn propose_bytes(&mut self, i: usize, data: bytes::Bytes) -> Result<EntryId, ProposeError> {
        let Some(raft) = self.servers[i].raft.as_mut() else {
            return Err(ProposeError::NotLeader { leader_hint: None });
        };
        let result = raft.propose(data);
        if let Ok(id) = result {
            self.stats.proposals += 1;
            self.trace.record(
                self.now(),
                TraceKind::Propose,
                &[i as u64, id.index.0, id.term.0],
                || format!("propose on n{} -> {id}", i + 1),
            );
        }
        self.after_event(i);
        result
    }

    /// Starts a ReadIndex read on server `i`.
    pub fn read_index(&mut self, i: usize, request_id: u64) -> Result<(), ReadIndexError> {
        let Some(raft) = self.servers[i].raft.as_mut() else {
            return Err(ReadIndexError::NotLeader { leader_hint: None });
        };
        let result = raft.read_index(request_id);
        self.after_event(i);
        result
    }

    /// The application on server `i` snapshots its state up to `index`.
    pub fn snapshot(&mut self, i: usize, index: u64, data: Vec<u8>) {
        if self.servers[i].raft.is_some() {
            self.take_snapshot(i, index, data);
            self.after_event(i);
        }
    }

    /// Like [`Cluster::run_until`], but also returns as soon as outputs are buffered.
    pub fn run_until_output(&mut self, limit: Time) -> Wakeup {
        if self.outputs.as_ref().is_some_and(|o| !o.is_empty()) {
            return Wakeup::Output;
        }
        while let Some(event) = self.queue.pop_due(limit) {
            if let Event::Task { task } = event {
                self.trace
                    .record(self.now(), TraceKind::TaskWake, &[task as u64], || {
                        format!("task {task} wakes")
                    });
                return Wakeup::Task(task);
            }
            self.handle(event);
            if self.outputs.as_ref().is_some_and(|o| !o.is_empty()) {
                return Wakeup::Output;
            }
        }
        self.queue.advance_to(limit);
        Wakeup::Limit
    }

    /// The options the cluster runs with.
    pub fn options(&self) -> &SimOptions {
        &self.opts
    }

    /// Number of servers.
    pub fn len(&self) -> usize {
        self.servers.len()
    }

    /// True if there are no servers.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// Current virtual time.
    pub fn now(&self) -> Time {
        self.queue.now()
    }

    /// Server `i`'s core, if it runs.
    pub fn raft(&self, i: usize) -> Option<&Raft> {
        self.servers[i].raft.as_ref()
    }

    /// Server `i`'s disk.
    pub fn disk(&self, i: usize) -> &crate::disk::Disk {
        &self.servers[i].disk
    }

    /// True if server `i` runs.
    pub fn is_alive(&self, i: usize) -> bool {
        self.servers[i].raft.is_some()
    }

    /// True if server `i` is connected (the lab's `connected[i]`).
    pub fn is_connected(&self, i: usize) -> bool {
        self.connected[i]
    }

    /// Stops the simulation with a test failure.
    pub fn fail(&self, message: impl std::fmt::Display) -> ! {
        panic!(
            "{message} (virtual time {}s, seed {})",
            format_time(self.now()),
            self.opts.seed
        )
    }

    fn violation(&self, message: String) -> ! {
        self.fail(format!("invariant violated: {message}"))
    }

    // ---- the lab's lifecycle operations -------------------------------------------

    /// The lab's `connect(i)`: links between `i` and every connected server come up.
    pub fn connect(&mut self, i: usize) {
        self.connected[i] = true;
        for j in 0..self.servers.len() {
            if self.connected[j] {
                self.net.set_link(i, j, true);
                self.net.set_link(j, i, true);
            }
        }
        self.record_connect(i, true);
    }

    /// The lab's `disconnect(i)`: every link to and from `i` goes down.
    pub fn disconnect(&mut self, i: usize) {
        self.connected[i] = false;
        for j in 0..self.servers.len() {
            self.net.set_link(i, j, false);
            self.net.set_link(j, i, false);
        }
        self.record_connect(i, false);
    }

    /// Enables or disables one directed link (for one-way partitions).
    pub fn set_link(&mut self, from: usize, to: usize, enabled: bool) {
        self.net.set_link(from, to, enabled);
    }

    fn record_connect(&mut self, i: usize, up: bool) {
        self.trace.record(
            self.now(),
            TraceKind::Connect,
            &[i as u64, up as u64],
            || {
                format!(
                    "n{} {}",
                    i + 1,
                    if up { "connected" } else { "disconnected" }
                )
            },
        );
    }

    /// labrpc `Reliable(reliable)`.
    pub fn set_reliable(&mut self, reliable: bool) {
        self.net.set_reliable(reliable);
        self.trace.record(
            self.now(),
            TraceKind::NetMode,
            &[1, reliable as u64],
            || format!("network reliable={reliable}"),
        );
    }

    /// labrpc `LongReordering(on)`.
    pub fn set_long_reordering(&mut self, on: bool) {
        self.net.set_long_reordering(on);
        self.trace
            .record(self.now(), TraceKind::NetMode, &[2, on as u64], || {
                format!("network long_reordering={on}")
            });
    }

    /// The lab's `crash1(i)`: disconnect, stop the core, lose unfinished writes.
    pub fn crash(&mut self, i: usize) {
        self.disconnect(i);
        let server = &mut self.servers[i];
        if server.raft.take().is_some() {
            server.disk.crash();
            server.incarnation += 1;
            self.stats.crashes += 1;
            self.trace
                .record(self.now(), TraceKind::Crash, &[i as u64], || {
                    format!("n{} crashed", i + 1)
                });
        }
    }

    /// The lab's `start1(i)`: crash, then boot a fresh core from the disk. The tester
    /// ingests a persisted snapshot itself. The server stays disconnected.
    pub fn start(&mut self, i: usize) {
        self.crash(i);
        let recovered = self.servers[i].disk.recover();
        self.appliers.on_restart(i);
        if self.outputs.is_none() && !recovered.snapshot.data.is_empty() {
            if let Err(e) = self
                .appliers
                .ingest_snapshot(i, &recovered.snapshot.data, None)
            {
                self.fail(format!("apply error: {e}"));
            }
        }
        let server = &mut self.servers[i];
        server.incarnation += 1;
        let config = self
            .opts
            .raft_config(i, self.connected.len(), server.incarnation);
        let raft = match Raft::new(config, recovered.clone()) {
            Ok(raft) => raft,
            Err(e) => self.fail(format!("server {i} failed to start: {e}")),
        };
        if let Err(e) = self.invariants.on_start(i, &recovered, &raft) {
            self.violation(e);
        }
        let server = &mut self.servers[i];
        server.raft = Some(raft);
        let (incarnation, first_tick) = (
            server.incarnation,
            server.next_tick_after(self.queue.now(), self.opts.tick),
        );
        self.queue.schedule_at(
            first_tick,
            Event::Tick {
                node: i,
                incarnation,
            },
        );
        self.trace.record(
            self.now(),
            TraceKind::Restart,
            &[i as u64, u64::from(incarnation)],
            || {
                format!(
                    "n{} started (incarnation {incarnation}, term {})",
                    i + 1,
                    recovered.hard_state.term
                )
            },
        );
        self.after_event(i);
    }

    /// The lab's `Start(cmd)` on server `i`: `Some((index, term))` if it leads.
    pub fn propose(&mut self, i: usize, cmd: &Cmd) -> Option<(u64, u64)> {
        let raft = self.servers[i].raft.as_mut()?;
        let result = raft.propose(cmd.bytes().to_vec());
        let accepted = result.as_ref().ok().map(|id| (id.index.0, id.term.0));
        let (index, term) = accepted.unwrap_or((0, 0));
        self.trace.record(
            self.now(),
            TraceKind::Propose,
            &[i as u64, index, term],
            || format!("Start({cmd}) on n{} -> {:?}", i + 1, result),
        );
        if accepted.is_some() {
            self.stats.proposals += 1;
        }
        self.after_event(i);
        accepted
    }

    /// The lab's `GetState()`: `(term, is_leader)`, or `None` if crashed.
    pub fn get_state(&self, i: usize) -> Option<(Term, bool)> {
        self.servers[i]
            .raft
            .as_ref()
            .map(|r| (r.term(), r.is_leader()))
    }

    /// Schedules a wake-up of tester task `task` at `at`.
    pub fn schedule_task(&mut self, at: Time, task: usize) {
        self.queue.schedule_at(at, Event::Task { task });
    }

    // ---- the run loop -------------------------------------------------------------

    /// Runs events up to and including time `limit`. Stops early and returns the task
    /// id when a tester task is due; otherwise the clock ends at `limit`.
    pub fn run_until(&mut self, limit: Time) -> Option<usize> {
        while let Some(event) = self.queue.pop_due(limit) {
            if let Event::Task { task } = event {
                self.trace
                    .record(self.now(), TraceKind::TaskWake, &[task as u64], || {
                        format!("task {task} wakes")
                    });
                return Some(task);
            }
            self.handle(event);
        }
        self.queue.advance_to(limit);
        None
    }

    fn handle(&mut self, event: Event) {
        self.stats.events += 1;
        match event {
            Event::Tick { node, incarnation } => self.handle_tick(node, incarnation),
            Event::Deliver {
                from,
                from_incarnation,
                to,
                to_incarnation,
                msg,
            } => self.handle_deliver(from, from_incarnation, to, to_incarnation, msg),
            Event::Unreachable {
                node,
                incarnation,
                peer,
            } => self.handle_unreachable(node, incarnation, peer),
            Event::DiskDone { node, incarnation } => self.handle_disk_done(node, incarnation),
            Event::Task { .. } => unreachable!("tasks are returned to the tester"),
        }
    }

    fn handle_tick(&mut self, node: usize, incarnation: u32) {
        let server = &mut self.servers[node];
        if !server.is_current(incarnation) {
            return;
        }
        let next = server.next_tick_after(self.queue.now(), self.opts.tick);
        server.raft.as_mut().expect("current").tick();
        self.stats.ticks += 1;
        self.queue
            .schedule_at(next, Event::Tick { node, incarnation });
        self.trace
            .record(self.now(), TraceKind::Tick, &[node as u64], || {
                format!("n{} tick", node + 1)
            });
        self.after_event(node);
    }

    fn handle_deliver(&mut self, from: usize, from_inc: u32, to: usize, to_inc: u32, msg: Message) {
        if !self.servers[to].is_current(to_inc) {
            self.trace.record(
                self.now(),
                TraceKind::DropOnArrival,
                &[from as u64, to as u64],
                || {
                    format!(
                        "n{} -> n{} {} dropped: recipient gone",
                        from + 1,
                        to + 1,
                        msg.kind_name()
                    )
                },
            );
            if msg.is_request() {
                // Like a labrpc call to a deleted server: fails after a long delay.
                let after = self.net.failure_delay();
                let peer = msg.to;
                self.queue.schedule_in(
                    after,
                    Event::Unreachable {
                        node: from,
                        incarnation: from_inc,
                        peer,
                    },
                );
            }
            return;
        }
        if msg.is_request() {
            self.net.count_request_delivered(to);
        } else {
            self.net.count_response_delivered(&msg);
        }
        self.trace.record(
            self.now(),
            TraceKind::Deliver,
            &message_fields(&msg),
            || format!("n{} <- n{} {}", to + 1, from + 1, describe(&msg)),
        );
        self.servers[to].raft.as_mut().expect("current").step(msg);
        self.after_event(to);
    }

    fn handle_unreachable(&mut self, node: usize, incarnation: u32, peer: NodeId) {
        if !self.servers[node].is_current(incarnation) {
            return;
        }
        self.trace.record(
            self.now(),
            TraceKind::Unreachable,
            &[node as u64, peer.0],
            || format!("n{} told {peer} is unreachable", node + 1),
        );
        self.servers[node]
            .raft
            .as_mut()
            .expect("current")
            .report_unreachable(peer);
        self.after_event(node);
    }

    fn handle_disk_done(&mut self, node: usize, incarnation: u32) {
        if !self.servers[node].is_current(incarnation) {
            return;
        }
        let server = &self.servers[node];
        let request = server
            .disk
            .next_pending()
            .expect("a pending write per DiskDone");
        if let Err(e) = self
            .invariants
            .on_durable(node, server.disk.durable(), request)
        {
            self.violation(e);
        }
        let now = self.now();
        let server = &mut self.servers[node];
        let request = server.disk.complete_next().expect("pending");
        let id = request.id;
        self.trace
            .record(now, TraceKind::PersistDone, &[node as u64, id.0], || {
                format!("n{} persisted #{}", node + 1, id.0)
            });
        server.raft.as_mut().expect("current").on_persisted(id);
        self.after_event(node);
    }

    /// Drains the node's `Ready` and runs the per-event checks.
    fn after_event(&mut self, n: usize) {
        self.drain_ready(n);
        let Some(raft) = self.servers[n].raft.as_ref() else {
            return;
        };
        match self.invariants.after_event(n, raft) {
            Ok(true) => {
                let term = raft.term();
                self.trace
                    .record(self.now(), TraceKind::Leader, &[n as u64, term.0], || {
                        format!("n{} is leader of {term}", n + 1)
                    });
            }
            Ok(false) => {}
            Err(e) => self.violation(e),
        }
        if self.opts.check_core_invariants {
            let raft = self.servers[n].raft.as_ref().expect("running");
            if let Err(e) = raft.check_invariants() {
                self.violation(format!("[core] node {}: {e}", n + 1));
            }
        }
    }

    fn drain_ready(&mut self, n: usize) {
        loop {
            let Some(raft) = self.servers[n].raft.as_mut() else {
                return;
            };
            if !raft.has_ready() {
                return;
            }
            let ready = raft.ready();
            let term = raft.term();
            if let Some(request) = ready.persist {
                self.submit_persist(n, request);
            }
            for msg in ready.messages {
                self.send(n, msg);
            }
            for apply in ready.apply {
                self.apply(n, term, apply);
            }
            if let Some(outputs) = self.outputs.as_mut() {
                outputs.extend(
                    ready
                        .read_states
                        .into_iter()
                        .map(|read| Output::Read { node: n, read }),
                );
            }
        }
    }

    fn submit_persist(&mut self, n: usize, request: PersistRequest) {
        if let Err(e) = self.invariants.on_persist_submit(n, &request) {
            self.violation(e);
        }
        let now = self.now();
        let fields = [n as u64, request.id.0, request.entries.len() as u64];
        self.trace
            .record(now, TraceKind::PersistStart, &fields, || {
                format!(
                    "n{} persist #{}: {} entries{}{}",
                    n + 1,
                    request.id.0,
                    request.entries.len(),
                    if request.snapshot.is_some() {
                        ", snapshot"
                    } else {
                        ""
                    },
                    request
                        .hard_state
                        .map(|h| format!(", hard state {}/{}/{}", h.term, h.vote, h.commit))
                        .unwrap_or_default()
                )
            });
        // fsync latency 0.1-1 ms; writes complete in order.
        let latency = self.disk_rng.range_inclusive(100, 1_000);
        let server = &mut self.servers[n];
        let done = server.disk.submit(request, now, latency);
        let incarnation = server.incarnation;
        self.queue.schedule_at(
            done,
            Event::DiskDone {
                node: n,
                incarnation,
            },
        );
    }

    fn send(&mut self, from: usize, msg: Message) {
        let server = &self.servers[from];
        if let Err(e) = self.invariants.on_send(from, &msg, server.disk.durable()) {
            self.violation(e);
        }
        let to = server_index(msg.to);
        if to >= self.servers.len() || to == from || msg.from != node_id(from) {
            self.violation(format!(
                "node {} sends a misaddressed message {msg:?}",
                from + 1
            ));
        }
        let alive = self.servers[to].raft.is_some();
        let fate = self.net.route(self.now(), from, to, alive, &msg);
        let mut fields = message_fields(&msg).to_vec();
        fields.push(match fate {
            Fate::Deliver { delay } => delay,
            Fate::Drop => u64::MAX,
            Fate::Unreachable { after } => u64::MAX - 1 - after,
        });
        self.trace.record(self.now(), TraceKind::Send, &fields, || {
            format!("n{} -> n{} {} [{fate:?}]", from + 1, to + 1, describe(&msg))
        });
        let from_incarnation = self.servers[from].incarnation;
        match fate {
            Fate::Deliver { delay } => {
                let to_incarnation = self.servers[to].incarnation;
                let event = Event::Deliver {
                    from,
                    from_incarnation,
                    to,
                    to_incarnation,
                    msg,
                };
                self.queue.schedule_in(delay, event);
            }
            Fate::Drop => {}
            Fate::Unreachable { after } => {
                let event = Event::Unreachable {
                    node: from,
                    incarnation: from_incarnation,
                    peer: msg.to,
                };
                self.queue.schedule_in(after, event);
            }
        }
    }

    fn apply(&mut self, n: usize, term: Term, apply: Apply) {
        if let Err(e) = self.invariants.on_apply(n, term, &apply) {
            self.violation(e);
        }
        if let Some(outputs) = self.outputs.as_mut() {
            outputs.push(Output::Apply { node: n, apply });
            return;
        }
        match apply {
            Apply::Entry(entry) => {
                let index = entry.index.0;
                self.trace.record(
                    self.now(),
                    TraceKind::Apply,
                    &[n as u64, index, entry.term.0],
                    || format!("n{} applies {}", n + 1, entry.id()),
                );
                let slot = match entry.payload {
                    EntryPayload::Empty => Slot::Empty,
                    EntryPayload::Command(data) => Slot::Command(Cmd(data.to_vec())),
                };
                match self.appliers.apply_entry(n, index, slot) {
                    Err(e) => self.fail(format!("apply error: {e}")),
                    Ok(AfterApply::Continue) => {}
                    Ok(AfterApply::Snapshot { index, data }) => self.take_snapshot(n, index, data),
                }
            }
            Apply::Snapshot(snapshot) => {
                let last = snapshot.meta.last_included;
                self.trace.record(
                    self.now(),
                    TraceKind::Apply,
                    &[n as u64, last.index.0, last.term.0, 1],
                    || format!("n{} installs snapshot {last}", n + 1),
                );
                if self.appliers.kind() == ApplierKind::Snapshot {
                    if let Err(e) =
                        self.appliers
                            .ingest_snapshot(n, &snapshot.data, Some(last.index.0))
                    {
                        self.fail(format!("apply error: {e}"));
                    }
                }
            }
        }
    }

    /// `applierSnap` calls `rf.Snapshot(i, bytes)` synchronously from the apply loop.
    fn take_snapshot(&mut self, n: usize, index: u64, data: Vec<u8>) {
        let raft = self.servers[n].raft.as_mut().expect("applying node runs");
        let result = raft.snapshot(Index(index), data);
        self.stats.snapshots += 1;
        self.trace.record(
            self.now(),
            TraceKind::Snapshot,
            &[n as u64, index, result.is_ok() as u64],
            || format!("n{} Snapshot({index}) -> {result:?}", n + 1),
        );
    }

    /// Virtual seconds since the start, as a float.
    pub fn seconds(&self) -> f64 {
        self.now() as f64 / SECONDS as f64
    }
}

/// Digest fields identifying a message.
fn message_fields(msg: &Message) -> [u64; 6] {
    use raft::MessageBody::*;
    let (kind, detail) = match &msg.body {
        RequestVote {
            pre_vote, last_log, ..
        } => (1, last_log.index.0 << 1 | *pre_vote as u64),
        RequestVoteResponse { pre_vote, granted } => (2, (*pre_vote as u64) << 1 | *granted as u64),
        AppendEntries {
            prev_log,
            entries,
            leader_commit,
            ..
        } => (
            3,
            prev_log.index.0 ^ (entries.len() as u64) << 32 ^ leader_commit.0 << 48,
        ),
        AppendEntriesResponse {
            success,
            match_index,
            ..
        } => (4, match_index.0 << 1 | *success as u64),
        InstallSnapshot { meta, offset, .. } => (5, meta.last_included.index.0 ^ offset << 32),
        InstallSnapshotResponse {
            next_offset, done, ..
        } => (6, next_offset << 1 | *done as u64),
        TimeoutNow => (7, 0),
    };
    [
        msg.from.0,
        msg.to.0,
        msg.term.0,
        kind,
        msg.size_bytes() as u64,
        detail,
    ]
}

/// A one-line description of a message for the printed trace.
fn describe(msg: &Message) -> String {
    use raft::MessageBody::*;
    let t = msg.term;
    match &msg.body {
        RequestVote {
            pre_vote, last_log, ..
        } => {
            format!(
                "{} {t} last {last_log}",
                if *pre_vote { "PreVote" } else { "RequestVote" }
            )
        }
        RequestVoteResponse { pre_vote, granted } => {
            format!(
                "{} {t} granted={granted}",
                if *pre_vote { "PreVoteResp" } else { "VoteResp" }
            )
        }
        AppendEntries {
            prev_log,
            entries,
            leader_commit,
            ..
        } => {
            format!(
                "AppendEntries {t} prev {prev_log} +{} commit {leader_commit}",
                entries.len()
            )
        }
        AppendEntriesResponse {
            success,
            match_index,
            conflict,
            ..
        } => {
            format!("AppendResp {t} success={success} match {match_index} conflict {conflict:?}")
        }
        InstallSnapshot { meta, data, .. } => {
            format!(
                "InstallSnapshot {t} {} ({} bytes)",
                meta.last_included,
                data.len()
            )
        }
        InstallSnapshotResponse {
            last_included,
            accepted,
            done,
            ..
        } => {
            format!("SnapshotResp {t} {last_included} accepted={accepted} done={done}")
        }
        TimeoutNow => format!("TimeoutNow {t}"),
    }
}
