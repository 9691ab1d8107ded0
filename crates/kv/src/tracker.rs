//! The request tracker: which caller waits for which proposal or read, resolved from
//! what the state machine applies. Sans-IO; callers that drive Raft themselves (the
//! simulator, the node runtime) feed it events and deliver the resolutions.
//!
//! A proposal accepted at `EntryId { index, term }` resolves when:
//! - the entry at `index` is applied with the same term: [`Resolution::Applied`];
//! - an entry of another term is applied at `index`, or the state machine jumps past
//!   `index` by a snapshot: [`Resolution::Lost`] (its fate is unknown here; the client
//!   retries, and sessions make the retry safe);
//! - a term higher than the proposal's is observed while the index is not yet applied
//!   (leadership changed), or the node stops leading: `Lost`, so nobody waits forever
//!   on an entry that a new leader may have overwritten.
//!
//! A read registered with `read_index(request_id)` resolves as `ReadReady` once its
//! read state is known and applied, or `Lost` on a term change or loss of leadership
//! (the core drops reads silently then).

use bytes::Bytes;
use raft::{EntryId, Index, ReadState, Term};
use std::collections::BTreeMap;

/// What became of a waiter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution<W> {
    /// The proposal was applied; the encoded outcome.
    Applied {
        /// The waiter.
        waiter: W,
        /// The state machine's encoded outcome.
        outcome: Bytes,
    },
    /// The read may be served from the state machine now.
    ReadReady {
        /// The waiter.
        waiter: W,
    },
    /// Unknown fate: retry (possibly elsewhere).
    Lost {
        /// The waiter.
        waiter: W,
    },
}

#[derive(Clone, Debug)]
struct Read<W> {
    waiter: W,
    term: Term,
    index: Option<Index>,
}

/// Waiters for proposals and ReadIndex reads of one node.
#[derive(Clone, Debug)]
pub struct RequestTracker<W> {
    /// Proposals by index. Invariant: at most one waiter per (index, term).
    proposals: BTreeMap<Index, Vec<(Term, W)>>,
    /// Reads by request id.
    reads: BTreeMap<u64, Read<W>>,
    applied: Index,
    term: Term,
}

impl<W> Default for RequestTracker<W> {
    fn default() -> Self {
        RequestTracker {
            proposals: BTreeMap::new(),
            reads: BTreeMap::new(),
            applied: Index(0),
            term: Term(0),
        }
    }
}

impl<W> RequestTracker<W> {
    /// An empty tracker.
    pub fn new() -> RequestTracker<W> {
        RequestTracker::default()
    }

    /// Number of waiters.
    pub fn len(&self) -> usize {
        self.proposals.values().map(Vec::len).sum::<usize>() + self.reads.len()
    }

    /// True if nobody waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Highest index seen applied.
    pub fn applied(&self) -> Index {
        self.applied
    }

    /// Waits for the proposal accepted as `id`. If that index was already applied
    /// (cannot happen for a fresh proposal), the waiter is returned as lost.
    pub fn register(&mut self, id: EntryId, waiter: W) -> Option<Resolution<W>> {
        if id.index <= self.applied || id.term < self.term {
            return Some(Resolution::Lost { waiter });
        }
        self.proposals
            .entry(id.index)
            .or_default()
            .push((id.term, waiter));
        None
    }

    /// Waits for the read started with `read_index(request_id)` in `term`.
    pub fn register_read(&mut self, request_id: u64, term: Term, waiter: W) {
        self.reads.insert(
            request_id,
            Read {
                waiter,
                term,
                index: None,
            },
        );
    }

    /// A read state from the core's `Ready`.
    pub fn on_read_state(&mut self, read: ReadState) -> Vec<Resolution<W>> {
        if let Some(r) = self.reads.get_mut(&read.request_id) {
            r.index = Some(read.index);
        }
        self.take_ready_reads()
    }

    /// The entry `id` was applied with `outcome` (`None` for an entry without command).
    pub fn on_applied(&mut self, id: EntryId, outcome: Option<&Bytes>) -> Vec<Resolution<W>> {
        let mut out = Vec::new();
        self.applied = self.applied.max(id.index);
        // Anything below `index` still waiting was skipped: lost.
        while let Some(entry) = self.proposals.first_entry() {
            if *entry.key() > id.index {
                break;
            }
            let at = *entry.key();
            for (term, waiter) in entry.remove() {
                match outcome {
                    Some(outcome) if at == id.index && term == id.term => {
                        out.push(Resolution::Applied {
                            waiter,
                            outcome: outcome.clone(),
                        })
                    }
                    _ => out.push(Resolution::Lost { waiter }),
                }
            }
        }
        out.extend(self.take_ready_reads());
        out
    }

    /// The state machine was replaced by a snapshot up to `last_included`: waiters at
    /// or below it are lost (their outcome sits in the session table; a retry gets it).
    pub fn on_snapshot(&mut self, last_included: EntryId) -> Vec<Resolution<W>> {
        let mut out = Vec::new();
        self.applied = self.applied.max(last_included.index);
        while let Some(entry) = self.proposals.first_entry() {
            if *entry.key() > last_included.index {
                break;
            }
            out.extend(
                entry
                    .remove()
                    .into_iter()
                    .map(|(_, waiter)| Resolution::Lost { waiter }),
            );
        }
        out.extend(self.take_ready_reads());
        out
    }

    /// The node's current term and role, after every step. A higher term loses every
    /// older waiter not yet applied; losing leadership loses every waiter.
    pub fn on_term(&mut self, term: Term, is_leader: bool) -> Vec<Resolution<W>> {
        let mut out = Vec::new();
        if term > self.term || !is_leader {
            let keep_term = if is_leader { term } else { Term(u64::MAX) };
            self.term = self.term.max(term);
            for waiters in self.proposals.values_mut() {
                let (lost, kept): (Vec<_>, Vec<_>) =
                    waiters.drain(..).partition(|(t, _)| *t < keep_term);
                *waiters = kept;
                out.extend(
                    lost.into_iter()
                        .map(|(_, waiter)| Resolution::Lost { waiter }),
                );
            }
            self.proposals.retain(|_, waiters| !waiters.is_empty());
            let lost: Vec<u64> = self
                .reads
                .iter()
                .filter(|(_, r)| r.term < keep_term && r.index.is_none())
                .map(|(&id, _)| id)
                .collect();
            for id in lost {
                let read = self.reads.remove(&id).expect("listed");
                out.push(Resolution::Lost {
                    waiter: read.waiter,
                });
            }
        }
        out
    }

    /// Drops every waiter (the node stops), each as lost.
    pub fn clear(&mut self) -> Vec<Resolution<W>> {
        let mut out: Vec<Resolution<W>> = std::mem::take(&mut self.proposals)
            .into_values()
            .flatten()
            .map(|(_, waiter)| Resolution::Lost { waiter })
            .collect();
        out.extend(
            std::mem::take(&mut self.reads)
                .into_values()
                .map(|r| Resolution::Lost { waiter: r.waiter }),
        );
        out
    }

    /// Removes waiters for which `give_up` is true (e.g. the caller timed out), without
    /// resolving them.
    pub fn forget(&mut self, mut give_up: impl FnMut(&W) -> bool) {
        for waiters in self.proposals.values_mut() {
            waiters.retain(|(_, w)| !give_up(w));
        }
        self.proposals.retain(|_, waiters| !waiters.is_empty());
        self.reads.retain(|_, r| !give_up(&r.waiter));
    }

    fn take_ready_reads(&mut self) -> Vec<Resolution<W>> {
        let applied = self.applied;
        let ready: Vec<u64> = self
            .reads
            .iter()
            .filter(|(_, r)| r.index.is_some_and(|i| i <= applied))
            .map(|(&id, _)| id)
            .collect();
        ready
            .into_iter()
            .map(|id| Resolution::ReadReady {
                waiter: self.reads.remove(&id).expect("listed").waiter,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(term: u64, index: u64) -> EntryId {
        EntryId::new(term, index)
    }

    #[test]
    fn same_entry_gets_the_outcome() {
        let mut t = RequestTracker::new();
        assert!(t.register(id(2, 5), "a").is_none());
        assert!(t.on_applied(id(1, 4), None).is_empty());
        let out = t.on_applied(id(2, 5), Some(&Bytes::from_static(b"ok")));
        assert_eq!(
            out,
            vec![Resolution::Applied {
                waiter: "a",
                outcome: Bytes::from_static(b"ok")
            }]
        );
        assert!(t.is_empty());
    }

    #[test]
    fn different_entry_at_the_index_is_lost() {
        let mut t = RequestTracker::new();
        t.register(id(2, 5), "a");
        t.register(id(2, 6), "b");
        let out = t.on_applied(id(3, 5), Some(&Bytes::new()));
        assert_eq!(out, vec![Resolution::Lost { waiter: "a" }]);
        // A jump past index 6 (e.g. entries applied out of view) loses b too.
        let out = t.on_applied(id(3, 7), Some(&Bytes::new()));
        assert_eq!(out, vec![Resolution::Lost { waiter: "b" }]);
    }

    #[test]
    fn higher_term_or_lost_leadership_loses_waiters() {
        let mut t = RequestTracker::new();
        assert!(t.on_term(Term(2), true).is_empty());
        t.register(id(2, 5), 1);
        t.register_read(10, Term(2), 2);
        assert!(t.on_term(Term(2), true).is_empty());
        let mut out = t.on_term(Term(3), false);
        out.sort_by_key(|r| format!("{r:?}"));
        assert_eq!(
            out,
            vec![
                Resolution::Lost { waiter: 1 },
                Resolution::Lost { waiter: 2 }
            ]
        );
        assert!(t.is_empty());
        // Registering for an older term than known is immediately lost.
        assert_eq!(
            t.register(id(2, 9), 3),
            Some(Resolution::Lost { waiter: 3 })
        );
    }

    #[test]
    fn reads_wait_for_their_index_to_apply() {
        let mut t = RequestTracker::new();
        t.on_applied(id(1, 3), None);
        t.register_read(7, Term(1), "r");
        assert!(t
            .on_read_state(ReadState {
                request_id: 7,
                index: Index(5)
            })
            .is_empty());
        assert!(t.on_applied(id(1, 4), None).is_empty());
        assert_eq!(
            t.on_applied(id(1, 5), None),
            vec![Resolution::ReadReady { waiter: "r" }]
        );
        t.register_read(8, Term(1), "s");
        assert_eq!(
            t.on_read_state(ReadState {
                request_id: 8,
                index: Index(2)
            }),
            vec![Resolution::ReadReady { waiter: "s" }]
        );
    }

    #[test]
    fn snapshots_clear_and_forget() {
        let mut t = RequestTracker::new();
        t.register(id(1, 3), 1);
        t.register(id(1, 9), 2);
        t.register_read(1, Term(1), 3);
        assert_eq!(
            t.on_snapshot(id(1, 5)),
            vec![Resolution::Lost { waiter: 1 }]
        );
        t.forget(|w| *w == 3);
        assert_eq!(t.len(), 1);
        assert_eq!(t.clear(), vec![Resolution::Lost { waiter: 2 }]);
    }
}
