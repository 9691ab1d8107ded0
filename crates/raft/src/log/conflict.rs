//! Fast backup over divergent logs (§5.3, the lab's XTerm/XIndex/XLen): the follower
//! names the divergent term and where it starts, and the leader jumps over it.

use super::RaftLog;
use crate::message::ConflictHint;
use crate::types::{Index, Term};

impl RaftLog {
    /// The hint a follower returns when it does not hold the leader's `prev_index`.
    pub fn conflict_hint(&self, prev_index: Index) -> ConflictHint {
        let rejected = prev_index;
        if prev_index > self.last_index() {
            return ConflictHint {
                rejected,
                term: Term::ZERO,
                index: self.last_index().next(),
            };
        }
        let Some(term) = self.term_at(prev_index) else {
            // Compacted: everything up to the snapshot is committed and so matches.
            return ConflictHint {
                rejected,
                term: Term::ZERO,
                index: self.snapshot_index().next(),
            };
        };
        let mut first = prev_index;
        while first > self.first_index() && self.term_at(first.prev()) == Some(term) {
            first = first.prev();
        }
        ConflictHint {
            rejected,
            term,
            index: first,
        }
    }

    /// Where the leader should probe next after a rejection carrying `hint`: just after
    /// its own last entry of the follower's divergent term if it has that term (the
    /// logs may agree up to there), else at the start of the follower's divergent term.
    pub fn next_index_after_conflict(&self, hint: ConflictHint) -> Index {
        if hint.term == Term::ZERO {
            return hint.index;
        }
        let mut index = self.last_index().min(hint.index.max(self.first_index()));
        // Look for the leader's last entry of hint.term at or after hint.index.
        let mut last_with_term = None;
        while let Some(term) = self.term_at(index) {
            if term > hint.term {
                break;
            }
            if term == hint.term {
                last_with_term = Some(index);
            }
            if index == self.last_index() {
                break;
            }
            index = index.next();
        }
        match last_with_term {
            Some(index) => index.next(),
            None => hint.index,
        }
    }

    /// The leader's entries whose term is `term`, searched backwards from `from`:
    /// used only in tests of the hint arithmetic.
    #[cfg(test)]
    fn has_term(&self, term: Term) -> bool {
        (self.first_index().0..=self.last_index().0).any(|i| self.term_at(Index(i)) == Some(term))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{Entry, Snapshot};

    fn log_with_terms(terms: &[u64]) -> RaftLog {
        let entries = terms
            .iter()
            .enumerate()
            .map(|(i, &t)| Entry::command(Term(t), Index(i as u64 + 1), vec![]))
            .collect();
        RaftLog::recovered(Snapshot::default(), entries, Index::ZERO)
    }

    #[test]
    fn follower_hint_names_the_start_of_the_divergent_term() {
        let follower = log_with_terms(&[1, 1, 2, 2, 2, 3]);
        assert_eq!(
            follower.conflict_hint(Index(5)),
            ConflictHint {
                rejected: Index(5),
                term: Term(2),
                index: Index(3)
            }
        );
        assert_eq!(
            follower.conflict_hint(Index(9)),
            ConflictHint {
                rejected: Index(9),
                term: Term::ZERO,
                index: Index(7)
            }
        );
        assert_eq!(
            follower.conflict_hint(Index(2)),
            ConflictHint {
                rejected: Index(2),
                term: Term(1),
                index: Index(1)
            }
        );
    }

    #[test]
    fn leader_skips_a_whole_term_per_round_trip() {
        let leader = log_with_terms(&[1, 1, 2, 4, 4, 4]);
        // Follower diverges with term 3 from index 4: leader lacks term 3, jumps there.
        let hint = ConflictHint {
            rejected: Index(0),
            term: Term(3),
            index: Index(4),
        };
        assert!(!leader.has_term(Term(3)));
        assert_eq!(leader.next_index_after_conflict(hint), Index(4));
        // Follower has term 2 from index 3 (more of it than the leader): leader has term 2
        // at index 3 only, so it resumes right after it.
        let hint = ConflictHint {
            rejected: Index(0),
            term: Term(2),
            index: Index(3),
        };
        assert_eq!(leader.next_index_after_conflict(hint), Index(4));
        // Follower's log is short.
        let hint = ConflictHint {
            rejected: Index(0),
            term: Term::ZERO,
            index: Index(3),
        };
        assert_eq!(leader.next_index_after_conflict(hint), Index(3));
    }
}
