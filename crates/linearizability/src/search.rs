//! Wing-Gong / Lowe depth-first search for a linearization of one partition.
//!
//! The call and return events sit in a doubly linked list in time order. The search
//! walks the list from its head: at a call it tries to linearize that operation next
//! (the model accepts its output and the (set, state) configuration is new), removes
//! the call and its return from the list ("lift") and restarts from the head; reaching a
//! return means that operation should already have been linearized, so it backtracks
//! (re-inserts the last lifted operation and tries the next call after it).
//!
//! Operations that never returned and whose output matches any outcome
//! ([`Model::matches_any_outcome`]) are "free": they can always be linearized last. So
//! the search succeeds once every other operation is linearized, and a configuration is
//! pruned when one with the same state, the same other operations and a subset of its
//! free operations was seen (leaving a free operation for later never hurts). Without
//! this, each timed-out operation doubles the configurations for the rest of the history.

use std::fmt::Debug;
use std::time::Instant;

use crate::bitset::Bitset;
use crate::cache::Cache;
use crate::history::{events, Event, Operation};
use crate::model::Model;

/// How often (in search steps, a power of two) the deadline is checked.
const DEADLINE_CHECK_STEPS: u32 = 1 << 10;

/// The answer of a search over one partition.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SearchOutcome {
    /// A linearization exists.
    Linearizable,
    /// None exists; `longest` is the longest linearizable prefix found (operation indices
    /// in linearization order).
    Illegal { longest: Vec<usize> },
    /// The deadline passed first.
    TimedOut,
}

/// The linearized operations, split into pending operations that match any outcome
/// ("free": linearizing one can always be postponed to the end) and the others.
struct Linearized {
    /// Linearized operations that are not free, by operation index.
    fixed: Bitset,
    /// Linearized free operations, by their slot.
    free: Bitset,
    /// For each operation, its slot in `free` if it is free.
    free_slot: Vec<Option<usize>>,
    /// How many operations are not free and not linearized.
    fixed_left: usize,
}

impl Linearized {
    fn new<M: Model, T>(model: &M, ops: &[&Operation<M::Input, M::Output, T>]) -> Self {
        let mut slots = 0;
        let free_slot: Vec<Option<usize>> = ops
            .iter()
            .map(|op| {
                let free =
                    op.return_time.is_none() && model.matches_any_outcome(&op.input, &op.output);
                free.then(|| {
                    slots += 1;
                    slots - 1
                })
            })
            .collect();
        Linearized {
            fixed: Bitset::new(ops.len()),
            free: Bitset::new(slots),
            free_slot,
            fixed_left: ops.len() - slots,
        }
    }

    fn insert(&mut self, op: usize) {
        match self.free_slot[op] {
            Some(slot) => self.free.insert(slot),
            None => {
                self.fixed.insert(op);
                self.fixed_left -= 1;
            }
        }
    }

    fn remove(&mut self, op: usize) {
        match self.free_slot[op] {
            Some(slot) => self.free.remove(slot),
            None => {
                self.fixed.remove(op);
                self.fixed_left += 1;
            }
        }
    }
}

/// Bounds on one partition's search.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// When to give up; `None`: never.
    pub deadline: Option<Instant>,
    /// The most bytes the memoization cache may hold.
    pub max_cache_bytes: usize,
}

/// Index of the list's head sentinel; event `k` lives at node `k + 1`.
const HEAD: usize = 0;
/// The end of the list.
const NIL: usize = usize::MAX;

/// The doubly linked list of events not yet linearized.
struct EventList {
    events: Vec<Event>,
    next: Vec<usize>,
    prev: Vec<usize>,
    /// For a call node, the node of its return.
    return_node: Vec<usize>,
}

impl EventList {
    fn new(events: Vec<Event>, ops: usize) -> Self {
        let nodes = events.len() + 1;
        let next = (0..nodes)
            .map(|n| if n + 1 < nodes { n + 1 } else { NIL })
            .collect();
        let prev = (0..nodes).map(|n| n.wrapping_sub(1)).collect();
        let mut return_of_op = vec![NIL; ops];
        for (k, e) in events.iter().enumerate() {
            if !e.is_call {
                return_of_op[e.op] = k + 1;
            }
        }
        let mut return_node = vec![NIL; nodes];
        for (k, e) in events.iter().enumerate() {
            if e.is_call {
                return_node[k + 1] = return_of_op[e.op];
            }
        }
        EventList {
            events,
            next,
            prev,
            return_node,
        }
    }

    fn event(&self, node: usize) -> Event {
        self.events[node - 1]
    }

    fn unlink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = n;
        if n != NIL {
            self.prev[n] = p;
        }
    }

    fn relink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = node;
        if n != NIL {
            self.prev[n] = node;
        }
    }

    /// Removes a call node and its return node.
    fn lift(&mut self, call: usize) {
        self.unlink(call);
        self.unlink(self.return_node[call]);
    }

    /// Undoes `lift(call)`; lifts must be undone in reverse order.
    fn unlift(&mut self, call: usize) {
        self.relink(self.return_node[call]);
        self.relink(call);
    }
}

/// The longest prefix seen, kept in step with the stack without recopying shared parts.
struct LongestPrefix {
    ops: Vec<usize>,
    /// How many leading entries of the current stack equal `ops`.
    agree: usize,
}

impl LongestPrefix {
    fn on_push(&mut self, depth_before: usize, op: usize) {
        if self.agree == depth_before && self.ops.get(depth_before) == Some(&op) {
            self.agree += 1;
        }
    }

    fn on_pop(&mut self, depth_after: usize) {
        self.agree = self.agree.min(depth_after);
    }

    fn offer(&mut self, stack: &[(usize, impl Sized)], ops_of: impl Fn(usize) -> usize) {
        if stack.len() > self.ops.len() {
            self.ops.truncate(self.agree);
            self.ops
                .extend(stack[self.agree..].iter().map(|(node, _)| ops_of(*node)));
            self.agree = stack.len();
        }
    }
}

/// Searches for a linearization of `ops` (one partition) within `limits`.
pub(crate) fn search<M: Model, T: Ord + Copy + Debug>(
    model: &M,
    ops: &[&Operation<M::Input, M::Output, T>],
    limits: Limits,
) -> SearchOutcome {
    let mut list = EventList::new(events(ops), ops.len());
    let mut linearized = Linearized::new(model, ops);
    let mut cache = Cache::new(limits.max_cache_bytes);
    let mut longest = LongestPrefix {
        ops: Vec::new(),
        agree: 0,
    };
    // (call node, state before it) of each linearized operation, in order.
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    let mut state = model.init();
    let mut node = list.next[HEAD];
    let mut steps = 0u32;
    // Once only free operations are left, linearizing them at the end completes the
    // history (they match any outcome); this also keeps the free-set pruning sound.
    while linearized.fixed_left > 0 {
        steps = steps.wrapping_add(1);
        if steps & (DEADLINE_CHECK_STEPS - 1) == 0
            && limits.deadline.is_some_and(|d| Instant::now() >= d)
        {
            return SearchOutcome::TimedOut;
        }
        let event = list.event(node);
        if event.is_call {
            let op = ops[event.op];
            if let Some(next_state) = model.step(&state, &op.input, &op.output) {
                linearized.insert(event.op);
                let heap_bytes = model.state_heap_bytes(&next_state);
                if cache.insert(&linearized.fixed, &linearized.free, &next_state, heap_bytes) {
                    longest.on_push(stack.len(), event.op);
                    stack.push((node, std::mem::replace(&mut state, next_state)));
                    longest.offer(&stack, |n| list.event(n).op);
                    list.lift(node);
                    node = list.next[HEAD];
                    continue;
                }
                linearized.remove(event.op);
            }
            node = list.next[node];
        } else {
            // A return before its operation was linearized: undo the last choice.
            let Some((call, previous)) = stack.pop() else {
                return SearchOutcome::Illegal {
                    longest: longest.ops,
                };
            };
            longest.on_pop(stack.len());
            state = previous;
            linearized.remove(list.event(call).op);
            list.unlift(call);
            node = list.next[call];
        }
    }
    SearchOutcome::Linearizable
}
