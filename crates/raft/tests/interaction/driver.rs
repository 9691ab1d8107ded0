//! The cluster a script drives: N nodes, each with its durable [`MemStorage`] and the
//! persist requests handed out but not acknowledged yet, plus one inbox of messages
//! per node and a set of cut links.
//!
//! Nothing happens on its own: messages move only on `deliver-msgs` / `stabilize`,
//! writes become durable only when a Ready is processed (or `ack-persist`), time
//! advances only on `tick*`. Every operation appends what it did to an output buffer.

use crate::render;
use raft::{Apply, Config, MemStorage, Message, NodeId, PersistRequest, Raft, Role, Storage, Term};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;

/// One node: its state machine (None while crashed) and its storage.
pub struct Node {
    pub raft: Option<Raft>,
    pub config: Config,
    /// What is durable.
    pub storage: MemStorage,
    /// Persist requests taken from a Ready but not acknowledged: lost on a crash.
    pub unacked: Vec<PersistRequest>,
}

/// The parts of a node's state whose changes are worth a line of output.
#[derive(Clone, PartialEq, Eq)]
pub struct View {
    role: Role,
    term: Term,
    vote: NodeId,
    leader: Option<NodeId>,
    commit: u64,
}

impl View {
    fn describe(&self) -> String {
        format!(
            "{} t{} vote={} leader={}",
            render::role(self.role),
            self.term.0,
            render::node(self.vote),
            self.leader.map_or("none".to_string(), render::node)
        )
    }
}

/// Which messages a delivery concerns.
#[derive(Default)]
pub struct Filter {
    pub from: Option<BTreeSet<NodeId>>,
    pub to: Option<BTreeSet<NodeId>>,
    /// Messages to these nodes are dropped instead of delivered.
    pub drop: BTreeSet<NodeId>,
}

impl Filter {
    fn matches(&self, message: &Message) -> bool {
        self.from.as_ref().is_none_or(|f| f.contains(&message.from))
            && self.to.as_ref().is_none_or(|t| t.contains(&message.to))
    }
}

#[derive(Default)]
pub struct Driver {
    pub nodes: BTreeMap<NodeId, Node>,
    /// Messages sent to each node and not delivered yet, in send order.
    pub inbox: BTreeMap<NodeId, VecDeque<Message>>,
    /// Directed links that drop everything (`(from, to)`).
    pub cut: BTreeSet<(NodeId, NodeId)>,
}

/// Output being built: lines with an indentation.
pub type Out = String;

fn line(out: &mut Out, indent: usize, text: impl AsRef<str>) {
    let _ = writeln!(out, "{:indent$}{}", "", text.as_ref());
}

impl Driver {
    pub fn node(&self, id: NodeId) -> Result<&Node, String> {
        self.nodes
            .get(&id)
            .ok_or_else(|| format!("no node {}", id.0))
    }

    pub fn node_mut(&mut self, id: NodeId) -> Result<&mut Node, String> {
        self.nodes
            .get_mut(&id)
            .ok_or_else(|| format!("no node {}", id.0))
    }

    /// The running state machine of `id`; Err if it is crashed (a script error).
    pub fn raft(&mut self, id: NodeId) -> Result<&mut Raft, String> {
        self.node_mut(id)?
            .raft
            .as_mut()
            .ok_or_else(|| format!("node {} is down", id.0))
    }

    pub fn add_node(&mut self, config: Config) -> Result<(), String> {
        let id = config.id;
        let raft = Raft::new(config.clone(), Default::default()).map_err(|e| format!("{e:?}"))?;
        self.nodes.insert(
            id,
            Node {
                raft: Some(raft),
                config,
                storage: MemStorage::new(),
                unacked: Vec::new(),
            },
        );
        self.inbox.insert(id, VecDeque::new());
        Ok(())
    }

    fn view(&self, id: NodeId) -> Option<View> {
        let raft = self.nodes.get(&id)?.raft.as_ref()?;
        let status = raft.status();
        Some(View {
            role: status.role,
            term: status.term,
            vote: status.vote,
            leader: status.leader,
            commit: status.commit.0,
        })
    }

    pub fn views(&self) -> BTreeMap<NodeId, Option<View>> {
        self.nodes.keys().map(|&id| (id, self.view(id))).collect()
    }

    /// Prints how each node's role, term, vote, leader and commit index changed since
    /// `before`.
    pub fn print_changes(
        &self,
        before: &BTreeMap<NodeId, Option<View>>,
        indent: usize,
        out: &mut Out,
    ) {
        for (&id, old) in before {
            let (Some(old), Some(new)) = (old, self.view(id)) else {
                continue;
            };
            if (old.role, old.term, old.vote, old.leader)
                != (new.role, new.term, new.vote, new.leader)
            {
                line(
                    out,
                    indent,
                    format!("{}: {} -> {}", id.0, old.describe(), new.describe()),
                );
            }
            if old.commit != new.commit {
                line(
                    out,
                    indent,
                    format!("{}: commit {} -> {}", id.0, old.commit, new.commit),
                );
            }
        }
    }

    /// True if `id` has work: a Ready, or writes to acknowledge.
    pub fn has_work(&self, id: NodeId) -> bool {
        self.nodes.get(&id).is_some_and(|node| {
            node.raft
                .as_ref()
                .is_some_and(|raft| raft.has_ready() || !node.unacked.is_empty())
        })
    }

    /// Takes a Ready from `id`, prints it, queues its messages, and acknowledges its
    /// persist request (and any earlier unacknowledged ones) unless `ack` is false.
    pub fn process_ready(&mut self, id: NodeId, ack: bool, out: &mut Out) -> Result<(), String> {
        line(out, 0, format!("> {} handling Ready", id.0));
        let before = self.views();
        let ready = self.raft(id)?.ready();
        if ready.is_empty() {
            line(out, 2, "no Ready");
        }
        if let Some(persist) = &ready.persist {
            let suffix = if ack { "" } else { " (not acknowledged)" };
            line(out, 2, format!("{}{suffix}", persist_request(persist)));
        }
        for message in &ready.messages {
            line(out, 2, format!("send {}", render::message(message)));
        }
        for item in &ready.apply {
            match item {
                Apply::Entry(entry) => line(out, 2, format!("apply {}", render::entry(entry))),
                Apply::Snapshot(snapshot) => line(
                    out,
                    2,
                    format!(
                        "apply snapshot {} data={:?}",
                        snapshot.meta.last_included,
                        String::from_utf8_lossy(&snapshot.data)
                    ),
                ),
            }
        }
        for read in &ready.read_states {
            line(
                out,
                2,
                format!("read-state req={} index={}", read.request_id, read.index.0),
            );
        }
        for message in ready.messages {
            if let Some(inbox) = self.inbox.get_mut(&message.to) {
                inbox.push_back(message);
            }
        }
        let node = self.node_mut(id)?;
        let had_deferred = !node.unacked.is_empty();
        node.unacked.extend(ready.persist);
        if ack {
            self.ack_persists(id, had_deferred, 2, out)?;
        }
        self.print_changes(&before, 2, out);
        Ok(())
    }

    /// Makes every unacknowledged write of `id` durable, in order, and tells the node.
    /// With `announce`, prints which requests were acknowledged.
    pub fn ack_persists(
        &mut self,
        id: NodeId,
        announce: bool,
        indent: usize,
        out: &mut Out,
    ) -> Result<(), String> {
        let node = self.node_mut(id)?;
        let requests = std::mem::take(&mut node.unacked);
        let Some(last) = requests.last().map(|r| r.id) else {
            return Ok(());
        };
        for request in &requests {
            node.storage.persist(request).map_err(|e| e.to_string())?;
        }
        let acked: Vec<String> = requests.iter().map(|r| format!("#{}", r.id.0)).collect();
        if announce {
            line(
                out,
                indent,
                format!("{}: acknowledged persist {}", id.0, acked.join(" ")),
            );
        }
        self.raft(id)?.on_persisted(last);
        Ok(())
    }

    /// Delivers the queued messages the filter selects, inbox by inbox in node order,
    /// printing each message and what it changed. Messages over cut links, to crashed
    /// nodes or to nodes in `drop` are dropped.
    pub fn deliver(&mut self, filter: &Filter, out: &mut Out) -> usize {
        let mut delivered = 0;
        let ids: Vec<NodeId> = self.inbox.keys().copied().collect();
        for to in ids {
            let inbox = self.inbox.get_mut(&to).expect("listed");
            let (selected, kept): (VecDeque<Message>, VecDeque<Message>) =
                inbox.drain(..).partition(|m| filter.matches(m));
            *inbox = kept;
            if selected.is_empty() {
                continue;
            }
            line(out, 0, format!("> {} receiving messages", to.0));
            for message in selected {
                delivered += 1;
                let text = render::message(&message);
                let reason = if filter.drop.contains(&to) {
                    Some("dropped")
                } else if self.cut.contains(&(message.from, message.to)) {
                    Some("dropped: link cut")
                } else if self.nodes[&to].raft.is_none() {
                    Some("dropped: node down")
                } else {
                    None
                };
                if let Some(reason) = reason {
                    line(out, 2, format!("{text} ({reason})"));
                    continue;
                }
                line(out, 2, text);
                let before = self.views();
                self.nodes
                    .get_mut(&to)
                    .and_then(|node| node.raft.as_mut())
                    .expect("checked running")
                    .step(message);
                self.print_changes(&before, 4, out);
            }
        }
        delivered
    }

    /// Processes Readies and delivers messages among `ids` until nothing moves.
    pub fn stabilize(&mut self, ids: &BTreeSet<NodeId>, out: &mut Out) -> Result<(), String> {
        for _ in 0..1000 {
            let mut moved = false;
            for &id in ids {
                if self.has_work(id) {
                    self.process_ready(id, true, out)?;
                    moved = true;
                }
            }
            let filter = Filter {
                from: Some(ids.clone()),
                to: Some(ids.clone()),
                drop: BTreeSet::new(),
            };
            if self.deliver(&filter, out) > 0 {
                moved = true;
            }
            if !moved {
                return Ok(());
            }
        }
        Err("stabilize: still busy after 1000 rounds (livelock?)".into())
    }

    /// Ticks `id` `n` times and prints the changes.
    pub fn tick(&mut self, id: NodeId, n: u32, out: &mut Out) -> Result<(), String> {
        let before = self.views();
        for _ in 0..n {
            self.raft(id)?.tick();
        }
        self.print_changes(&before, 0, out);
        Ok(())
    }

    pub fn crash(&mut self, id: NodeId, out: &mut Out) -> Result<(), String> {
        let node = self.node_mut(id)?;
        if node.raft.take().is_none() {
            return Err(format!("node {} is already down", id.0));
        }
        for lost in std::mem::take(&mut node.unacked) {
            line(out, 0, format!("lost {}", persist_request(&lost)));
        }
        line(out, 0, format!("{} is down", id.0));
        Ok(())
    }

    pub fn restart(&mut self, id: NodeId, out: &mut Out) -> Result<(), String> {
        let node = self.node_mut(id)?;
        if node.raft.is_some() {
            return Err(format!("node {} is running; crash it first", id.0));
        }
        let recovered = node.storage.recover().map_err(|e| e.to_string())?;
        line(
            out,
            0,
            format!("{}: recovered {}", id.0, stored_summary(&node.storage)),
        );
        match Raft::new(node.config.clone(), recovered) {
            Ok(raft) => node.raft = Some(raft),
            Err(err) => line(out, 0, format!("error: {err:?}")),
        }
        Ok(())
    }
}

/// `persist #3 hs=(t2 vote=1 commit=4) snap=1/5 entries=[2/6 2/7:x]`, showing only the
/// parts present.
pub fn persist_request(request: &PersistRequest) -> String {
    let mut s = format!("persist #{}", request.id.0);
    if let Some(hs) = &request.hard_state {
        let _ = write!(
            s,
            " hs=(t{} vote={} commit={})",
            hs.term.0,
            render::node(hs.vote),
            hs.commit.0
        );
    }
    if let Some(snapshot) = &request.snapshot {
        let _ = write!(s, " snap={}", snapshot.meta.last_included);
    }
    if !request.entries.is_empty() {
        let _ = write!(s, " entries={}", render::entries(&request.entries));
    }
    s
}

/// One line describing what a storage holds.
pub fn stored_summary(storage: &MemStorage) -> String {
    let state = storage.state();
    let hs = state.hard_state;
    format!(
        "hs=(t{} vote={} commit={}) snap={} entries={}",
        hs.term.0,
        render::node(hs.vote),
        hs.commit.0,
        state.snapshot.meta.last_included,
        render::entries(&state.entries)
    )
}
