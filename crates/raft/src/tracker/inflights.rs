//! The window of AppendEntries in flight to one follower, bounded in messages and bytes.

use crate::types::Index;
use std::collections::VecDeque;

/// AppendEntries sent to a follower and not yet acknowledged, oldest first.
///
/// Invariant: `last_index` values are strictly increasing; `bytes` is the sum of the
/// entries' sizes of all messages held.
#[derive(Clone, Debug)]
pub struct Inflights {
    /// (last index carried, entry bytes carried) per message.
    messages: VecDeque<(Index, usize)>,
    /// Total entry bytes in flight.
    bytes: usize,
    max_messages: usize,
    max_bytes: usize,
}

impl Inflights {
    /// An empty window with these bounds.
    pub fn new(max_messages: usize, max_bytes: usize) -> Inflights {
        Inflights {
            messages: VecDeque::new(),
            bytes: 0,
            max_messages,
            max_bytes,
        }
    }

    /// True if no more messages may be sent.
    pub fn is_full(&self) -> bool {
        self.messages.len() >= self.max_messages || self.bytes >= self.max_bytes
    }

    /// Bytes still allowed in flight.
    pub fn free_bytes(&self) -> usize {
        self.max_bytes.saturating_sub(self.bytes)
    }

    /// Records a message carrying entries up to `last_index`, of `bytes` entry bytes.
    pub fn add(&mut self, last_index: Index, bytes: usize) {
        debug_assert!(self
            .messages
            .back()
            .is_none_or(|&(last, _)| last < last_index));
        self.messages.push_back((last_index, bytes));
        self.bytes += bytes;
    }

    /// Frees every message whose entries are all at or below `acked`.
    pub fn free_up_to(&mut self, acked: Index) {
        while let Some(&(last, bytes)) = self.messages.front() {
            if last > acked {
                break;
            }
            self.messages.pop_front();
            self.bytes -= bytes;
        }
    }

    /// Forgets everything in flight (the follower's state is being re-probed).
    pub fn reset(&mut self) {
        self.messages.clear();
        self.bytes = 0;
    }

    /// Number of messages in flight.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// True if nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_fills_by_count_and_by_bytes() {
        let mut by_count = Inflights::new(2, 1000);
        by_count.add(Index(1), 10);
        assert!(!by_count.is_full());
        by_count.add(Index(2), 10);
        assert!(by_count.is_full());

        let mut by_bytes = Inflights::new(10, 100);
        by_bytes.add(Index(5), 60);
        assert!(!by_bytes.is_full());
        by_bytes.add(Index(9), 40);
        assert!(by_bytes.is_full());
        assert_eq!(by_bytes.free_bytes(), 0);
    }

    #[test]
    fn acknowledgement_frees_a_prefix() {
        let mut window = Inflights::new(10, 1000);
        for (last, bytes) in [(3, 10), (6, 20), (9, 30)] {
            window.add(Index(last), bytes);
        }
        window.free_up_to(Index(5));
        assert_eq!((window.len(), window.free_bytes()), (2, 950));
        window.free_up_to(Index(9));
        assert!(window.is_empty());
        assert_eq!(window.free_bytes(), 1000);
    }
}
