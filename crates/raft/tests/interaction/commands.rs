//! The script commands: argument parsing and what each one does to the [`Driver`].
//!
//! Errors returned by the core's API (`propose` refused, ...) are output (`error: ...`);
//! an `Err` from here is a mistake in the script and fails the test.

use crate::driver::{persist_request, stored_summary, Driver, Filter, Out};
use crate::render::{self, parse_entry_id, parse_u64};
use crate::script::{tokenize, Executor};
use raft::{
    Canary, Config, Entry, HardState, Index, MemStorage, NodeId, PersistId, PersistRequest,
    Snapshot, SnapshotMeta, Storage, Term,
};
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// The words of a command: positional arguments and `key=value` options.
struct Args {
    positional: Vec<String>,
    options: Vec<(String, String)>,
}

impl Args {
    fn new(words: &[String]) -> Args {
        let mut args = Args {
            positional: Vec::new(),
            options: Vec::new(),
        };
        for word in words {
            match word.split_once('=') {
                Some((key, value)) => args.options.push((key.to_string(), value.to_string())),
                None => args.positional.push(word.clone()),
            }
        }
        args
    }

    /// Takes option `key` (each may be given once).
    fn take(&mut self, key: &str) -> Option<String> {
        let at = self.options.iter().position(|(k, _)| k == key)?;
        Some(self.options.remove(at).1)
    }

    fn take_u64(&mut self, key: &str) -> Result<Option<u64>, String> {
        self.take(key).map(|v| parse_u64(&v)).transpose()
    }

    fn take_bool(&mut self, key: &str) -> Result<Option<bool>, String> {
        self.take(key)
            .map(|v| match v.as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                other => Err(format!("{key}: expected true or false, got `{other}`")),
            })
            .transpose()
    }

    fn take_ids(&mut self, key: &str) -> Result<Option<BTreeSet<NodeId>>, String> {
        self.take(key).map(|v| parse_ids(&v)).transpose()
    }

    /// Exactly `n` positional words.
    fn positional<const N: usize>(&mut self) -> Result<[String; N], String> {
        let words = std::mem::take(&mut self.positional);
        let count = words.len();
        words
            .try_into()
            .map_err(|_| format!("expected {N} positional argument(s), got {count}"))
    }

    fn finish(self) -> Result<(), String> {
        match self.options.first() {
            Some((key, _)) => Err(format!("unknown option `{key}`")),
            None if !self.positional.is_empty() => {
                Err(format!("unexpected argument(s) {:?}", self.positional))
            }
            None => Ok(()),
        }
    }
}

fn parse_id(text: &str) -> Result<NodeId, String> {
    Ok(NodeId(parse_u64(text)?))
}

/// `1,2,3`.
fn parse_ids(text: &str) -> Result<BTreeSet<NodeId>, String> {
    text.split(',').map(parse_id).collect()
}

impl Executor for Driver {
    fn execute(&mut self, command: &str) -> Result<String, String> {
        let words = tokenize(command)?;
        let (name, rest) = words.split_first().ok_or("empty command")?;
        let mut out = Out::new();
        if name == "inject-msg" {
            self.inject(rest, &mut out)?;
            return Ok(out);
        }
        let mut args = Args::new(rest);
        match name.as_str() {
            "add-nodes" => self.add_nodes(&mut args, &mut out)?,
            "campaign" => self.campaign(&mut args, &mut out)?,
            "tick" => {
                // `tick ID [N]`; ID may be a list `2,3`.
                let words = std::mem::take(&mut args.positional);
                let (ids, n) = match words.as_slice() {
                    [ids] => (parse_ids(ids)?, 1),
                    [ids, n] => (parse_ids(ids)?, parse_u64(n)? as u32),
                    _ => return Err("expected `tick ID [N]`".into()),
                };
                for id in ids {
                    self.node(id)?;
                    self.tick(id, n, &mut out)?;
                }
            }
            "tick-heartbeat" | "tick-election" => {
                for id in self.take_id_list(&mut args)? {
                    let config = &self.node(id)?.config;
                    let n = if name == "tick-heartbeat" {
                        config.heartbeat_interval_ticks
                    } else {
                        config.election_timeout_ticks
                    };
                    self.tick(id, n, &mut out)?;
                }
            }
            "propose" => self.propose(&mut args, &mut out)?,
            "process-ready" => {
                let ack = args.take_bool("ack")?.unwrap_or(true);
                for id in self.take_id_list(&mut args)? {
                    self.process_ready(id, ack, &mut out)?;
                }
            }
            "ack-persist" => {
                for id in self.take_id_list(&mut args)? {
                    if self.node(id)?.unacked.is_empty() {
                        let _ = writeln!(out, "{}: nothing to acknowledge", id.0);
                    }
                    let before = self.views();
                    self.ack_persists(id, true, 0, &mut out)?;
                    self.print_changes(&before, 0, &mut out);
                }
            }
            "deliver-msgs" => {
                let filter = Filter {
                    from: args.take_ids("from")?,
                    to: args.take_ids("to")?,
                    drop: args.take_ids("drop")?.unwrap_or_default(),
                };
                if self.deliver(&filter, &mut out) == 0 {
                    out.push_str("no messages\n");
                }
            }
            "stabilize" => {
                let mut ids = self.take_id_list(&mut args)?;
                if ids.is_empty() {
                    ids = self.nodes.keys().copied().collect();
                }
                self.stabilize(&ids.into_iter().collect(), &mut out)?;
            }
            "partition" => {
                let groups: Vec<BTreeSet<NodeId>> = std::mem::take(&mut args.positional)
                    .iter()
                    .map(|g| parse_ids(g))
                    .collect::<Result<_, _>>()?;
                self.partition(&groups, &mut out)?;
            }
            "isolate" => {
                let [id] = args.positional()?;
                let id = parse_id(&id)?;
                let rest = self.nodes.keys().copied().filter(|&n| n != id).collect();
                self.partition(&[BTreeSet::from([id]), rest], &mut out)?;
            }
            "cut" => {
                // `cut 1 2` cuts both directions; `cut 1->2` only messages from 1 to 2.
                let links = std::mem::take(&mut args.positional);
                match links.as_slice() {
                    [one_way] => {
                        let (from, to) = one_way
                            .split_once("->")
                            .ok_or("expected `cut A B` or `cut A->B`")?;
                        self.cut.insert((parse_id(from)?, parse_id(to)?));
                    }
                    [a, b] => {
                        let (a, b) = (parse_id(a)?, parse_id(b)?);
                        self.cut.insert((a, b));
                        self.cut.insert((b, a));
                    }
                    _ => return Err("expected `cut A B` or `cut A->B`".into()),
                }
                self.print_cuts(&mut out);
            }
            "heal" => {
                self.cut.clear();
                out.push_str("all links up\n");
            }
            "crash" => {
                for id in self.take_id_list(&mut args)? {
                    self.crash(id, &mut out)?;
                }
            }
            "restart" => {
                for id in self.take_id_list(&mut args)? {
                    self.restart(id, &mut out)?;
                }
            }
            "set-storage" => self.set_storage(&mut args, &mut out)?,
            "status" => {
                for id in self.take_id_list(&mut args)? {
                    self.status(id, &mut out)?;
                }
            }
            "log" => {
                let [id] = args.positional()?;
                self.log(parse_id(&id)?, &mut out)?;
            }
            "storage" => {
                let [id] = args.positional()?;
                let node = self.node(parse_id(&id)?)?;
                let _ = writeln!(out, "{}", stored_summary(&node.storage));
                for request in &node.unacked {
                    let _ = writeln!(out, "not acknowledged: {}", persist_request(request));
                }
            }
            "raft-state" => self.raft_state(&mut out),
            "snapshot" => {
                let [id, index, data] = args.positional()?;
                let id = parse_id(&id)?;
                let raft = self.raft(id)?;
                let index = match index.as_str() {
                    "applied" => raft.status().applied,
                    other => Index(parse_u64(other)?),
                };
                match raft.snapshot(index, data.into_bytes()) {
                    Ok(()) => {
                        let status = raft.status();
                        let _ = writeln!(
                            out,
                            "{}: snapshot at {}, first={} last={}",
                            id.0,
                            raft.latest_snapshot().meta.last_included,
                            status.first_index.0,
                            status.last_index.0
                        );
                    }
                    Err(err) => {
                        let _ = writeln!(out, "error: {err:?}");
                    }
                }
            }
            "read-index" => {
                let [id, request] = args.positional()?;
                let id = parse_id(&id)?;
                let request = parse_u64(&request)?;
                match self.raft(id)?.read_index(request) {
                    Ok(()) => out.push_str("ok\n"),
                    Err(err) => {
                        let _ = writeln!(out, "error: {err:?}");
                    }
                }
            }
            "transfer-leadership" => {
                let [from, to] = args.positional()?;
                let (from, to) = (parse_id(&from)?, parse_id(&to)?);
                let before = self.views();
                let result = self.raft(from)?.transfer_leadership(to);
                match result {
                    Ok(()) => out.push_str("ok\n"),
                    Err(err) => {
                        let _ = writeln!(out, "error: {err:?}");
                    }
                }
                self.print_changes(&before, 0, &mut out);
            }
            "report-unreachable" => {
                let [from, to] = args.positional()?;
                let (from, to) = (parse_id(&from)?, parse_id(&to)?);
                self.raft(from)?.report_unreachable(to);
            }
            other => return Err(format!("unknown command `{other}`")),
        }
        args.finish()?;
        Ok(out)
    }
}

impl Driver {
    /// Every positional argument as a node id (`1 2 3` or `1,2,3`).
    fn take_id_list(&self, args: &mut Args) -> Result<Vec<NodeId>, String> {
        let mut ids = Vec::new();
        for word in std::mem::take(&mut args.positional) {
            for id in parse_ids(&word)? {
                self.node(id)?;
                ids.push(id);
            }
        }
        Ok(ids)
    }

    fn add_nodes(&mut self, args: &mut Args, out: &mut Out) -> Result<(), String> {
        if !self.nodes.is_empty() {
            return Err("add-nodes: the cluster exists already".into());
        }
        let [count] = args.positional()?;
        let count = parse_u64(&count)?;
        let voters: Vec<NodeId> = (1..=count).map(NodeId).collect();
        let mut template = Config::new(NodeId(1), voters.clone());
        template.election_timeout_ticks = 10;
        template.heartbeat_interval_ticks = 2;
        template.check_invariants = true;
        let mut set = |key: &str, field: &mut usize| -> Result<(), String> {
            if let Some(value) = args.take_u64(key)? {
                *field = value as usize;
            }
            Ok(())
        };
        set("max-msg-bytes", &mut template.max_message_bytes)?;
        set("max-inflight", &mut template.max_inflight_messages)?;
        set("max-inflight-bytes", &mut template.max_inflight_bytes)?;
        set("max-uncommitted-bytes", &mut template.max_uncommitted_bytes)?;
        set("max-apply-bytes", &mut template.max_apply_bytes)?;
        set("snapshot-chunk-bytes", &mut template.snapshot_chunk_bytes)?;
        if let Some(v) = args.take_u64("election")? {
            template.election_timeout_ticks = v as u32;
        }
        if let Some(v) = args.take_u64("heartbeat")? {
            template.heartbeat_interval_ticks = v as u32;
        }
        if let Some(v) = args.take_bool("pre-vote")? {
            template.pre_vote = v;
        }
        if let Some(v) = args.take_bool("check-quorum")? {
            template.check_quorum = v;
        }
        if let Some(v) = args.take_bool("empty-entry")? {
            template.leader_empty_entry = v;
        }
        let seed = args.take_u64("seed")?.unwrap_or(0);
        match args.take("canary").as_deref() {
            None | Some("off") => {}
            Some("commit-previous-term") => template.canary = Canary::CommitPreviousTermByCounting,
            Some(other) => return Err(format!("unknown canary `{other}`")),
        }
        for &id in &voters {
            let mut config = template.clone();
            config.id = id;
            config.random_seed = seed + id.0;
            self.add_node(config)?;
        }
        self.raft_state(out);
        Ok(())
    }

    /// Ticks a follower, pre-candidate or candidate until it starts a new (pre-)election
    /// (its role or term changes, or it has messages to send); at most twice the election
    /// timeout, the upper end of the randomized range. The node must have no pending
    /// Ready, so that a new one means a new campaign.
    fn campaign(&mut self, args: &mut Args, out: &mut Out) -> Result<(), String> {
        let [id] = args.positional()?;
        let id = parse_id(&id)?;
        let limit = 2 * self.node(id)?.config.election_timeout_ticks;
        let before = self.views();
        let raft = self.raft(id)?;
        let (role, term) = (raft.role(), raft.term());
        if role == raft::Role::Leader {
            return Err(format!("campaign: node {} is the leader", id.0));
        }
        if raft.has_ready() {
            return Err(format!("campaign: process node {}'s Ready first", id.0));
        }
        let started =
            |raft: &raft::Raft| raft.role() != role || raft.term() != term || raft.has_ready();
        for _ in 0..limit {
            raft.tick();
            if started(raft) {
                break;
            }
        }
        if !started(raft) {
            out.push_str("error: no election started within twice the election timeout\n");
        } else if raft.role() == role && raft.term() == term {
            let _ = writeln!(out, "{}: {} again", id.0, render::role(role));
        }
        self.print_changes(&before, 0, out);
        Ok(())
    }

    fn propose(&mut self, args: &mut Args, out: &mut Out) -> Result<(), String> {
        let [id, data] = args.positional()?;
        let id = parse_id(&id)?;
        let count = args.take_u64("count")?;
        let size = args.take_u64("size")?.map(|s| s as usize);
        let before = self.views();
        let raft = self.raft(id)?;
        for k in 1..=count.unwrap_or(1) {
            let mut bytes = match count {
                Some(_) => format!("{data}{k}").into_bytes(),
                None => data.clone().into_bytes(),
            };
            if let Some(size) = size {
                bytes.resize(size.max(bytes.len()), b'.');
            }
            match raft.propose(bytes) {
                Ok(entry) => {
                    let _ = writeln!(out, "ok {entry}");
                }
                Err(err) => {
                    let _ = writeln!(out, "error: {err:?}");
                }
            }
        }
        self.print_changes(&before, 0, out);
        Ok(())
    }

    fn partition(&mut self, groups: &[BTreeSet<NodeId>], out: &mut Out) -> Result<(), String> {
        let all: BTreeSet<NodeId> = groups.iter().flatten().copied().collect();
        let listed: usize = groups.iter().map(BTreeSet::len).sum();
        if listed != all.len() || all != self.nodes.keys().copied().collect() {
            return Err("partition: every node must be in exactly one group".into());
        }
        self.cut.clear();
        for (i, a) in groups.iter().enumerate() {
            for (j, b) in groups.iter().enumerate() {
                if i != j {
                    for &from in a {
                        for &to in b {
                            self.cut.insert((from, to));
                        }
                    }
                }
            }
        }
        self.print_cuts(out);
        Ok(())
    }

    fn print_cuts(&self, out: &mut Out) {
        let cuts: Vec<String> = self
            .cut
            .iter()
            .map(|(from, to)| format!("{}->{}", from.0, to.0))
            .collect();
        let _ = writeln!(out, "cut: {}", cuts.join(" "));
    }

    /// `set-storage ID [term=T] [vote=V] [commit=C] [snap=T/I] [log=1,1,2]`: replaces
    /// the durable state of a crashed node (the log as a list of terms, entries numbered
    /// from the snapshot index + 1). For building divergent logs directly.
    fn set_storage(&mut self, args: &mut Args, out: &mut Out) -> Result<(), String> {
        let [id] = args.positional()?;
        let id = parse_id(&id)?;
        let hard_state = HardState {
            term: Term(args.take_u64("term")?.unwrap_or(0)),
            vote: NodeId(args.take_u64("vote")?.unwrap_or(0)),
            commit: Index(args.take_u64("commit")?.unwrap_or(0)),
        };
        let snapshot = args
            .take("snap")
            .map(|s| parse_entry_id(&s))
            .transpose()?
            .map(|last_included| Snapshot {
                meta: SnapshotMeta { last_included },
                data: bytes::Bytes::from_static(b"snap"),
            });
        let first = snapshot
            .as_ref()
            .map_or(1, |s| s.meta.last_included.index.0 + 1);
        let terms = match args.take("log") {
            Some(list) if !list.is_empty() => list
                .split(',')
                .map(parse_u64)
                .collect::<Result<Vec<_>, _>>()?,
            _ => Vec::new(),
        };
        let entries = terms
            .iter()
            .enumerate()
            .map(|(i, &term)| Entry::empty(Term(term), Index(first + i as u64)))
            .collect();
        let node = self.node_mut(id)?;
        if node.raft.is_some() {
            return Err(format!(
                "set-storage: node {} is running; crash it first",
                id.0
            ));
        }
        let mut storage = MemStorage::new();
        storage
            .persist(&PersistRequest {
                id: PersistId(0),
                snapshot,
                entries,
                hard_state: Some(hard_state),
            })
            .map_err(|e| e.to_string())?;
        node.storage = storage;
        let _ = writeln!(out, "{}: {}", id.0, stored_summary(&node.storage));
        Ok(())
    }

    fn status(&self, id: NodeId, out: &mut Out) -> Result<(), String> {
        let Some(raft) = self.node(id)?.raft.as_ref() else {
            let _ = writeln!(out, "{}: down", id.0);
            return Ok(());
        };
        let s = raft.status();
        let _ = writeln!(
            out,
            "{}: {} t{} vote={} leader={} commit={} applied={} first={} last={} snap={}",
            id.0,
            render::role(s.role),
            s.term.0,
            render::node(s.vote),
            s.leader.map_or("none".to_string(), render::node),
            s.commit.0,
            s.applied.0,
            s.first_index.0,
            s.last_index.0,
            raft.latest_snapshot().meta.last_included
        );
        for peer in s.peers {
            let _ = writeln!(
                out,
                "  progress {}: match={} next={}",
                peer.id.0, peer.match_index.0, peer.next_index.0
            );
        }
        Ok(())
    }

    fn log(&self, id: NodeId, out: &mut Out) -> Result<(), String> {
        let Some(raft) = self.node(id)?.raft.as_ref() else {
            let _ = writeln!(out, "{}: down", id.0);
            return Ok(());
        };
        let status = raft.status();
        let snapshot = raft.latest_snapshot();
        if !snapshot.is_empty() {
            let _ = writeln!(
                out,
                "snapshot {} data={:?}",
                snapshot.meta.last_included,
                String::from_utf8_lossy(&snapshot.data)
            );
        }
        let entries: Vec<Entry> = (status.first_index.0..=status.last_index.0)
            .map(|i| raft.entry_at(Index(i)).expect("held").clone())
            .collect();
        if entries.is_empty() {
            out.push_str("no entries\n");
        }
        for entry in entries {
            let marker = if entry.index <= status.commit {
                ""
            } else {
                " (uncommitted)"
            };
            let _ = writeln!(out, "{}{marker}", render::entry(&entry));
        }
        Ok(())
    }

    fn raft_state(&self, out: &mut Out) {
        for (id, node) in &self.nodes {
            match &node.raft {
                None => {
                    let _ = writeln!(out, "{}: down", id.0);
                }
                Some(raft) => {
                    let s = raft.status();
                    let _ = writeln!(
                        out,
                        "{}: {} t{} vote={} leader={} commit={} last={}",
                        id.0,
                        render::role(s.role),
                        s.term.0,
                        render::node(s.vote),
                        s.leader.map_or("none".to_string(), render::node),
                        s.commit.0,
                        s.last_index.0
                    );
                }
            }
        }
    }

    /// `inject-msg [into=ID] FROM->TO Kind tTERM ...`: steps a hand-made message into
    /// its recipient (or node `into`, to test misaddressed messages), bypassing the
    /// network, and prints what changed.
    fn inject(&mut self, words: &[String], out: &mut Out) -> Result<(), String> {
        let (into, words) = match words.split_first() {
            Some((first, rest)) if first.starts_with("into=") => {
                (Some(parse_id(&first["into=".len()..])?), rest)
            }
            _ => (None, words),
        };
        let message = render::parse_message(words)?;
        let to = into.unwrap_or(message.to);
        let before = self.views();
        let _ = writeln!(out, "{}", render::message(&message));
        self.raft(to)?.step(message);
        let has_ready = self.raft(to)?.has_ready();
        self.print_changes(&before, 2, out);
        if !has_ready {
            let _ = writeln!(out, "  (no Ready)");
        }
        Ok(())
    }
}
