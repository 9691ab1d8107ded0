//! Virtual time and the priority queue of pending events.
//!
//! Ties in time are broken by insertion order (a sequence number), so the order in
//! which events run never depends on anything but the seed.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Virtual time in microseconds since the simulation began.
pub type Time = u64;

/// Microseconds in one millisecond.
pub const MILLIS: Time = 1_000;
/// Microseconds in one second.
pub const SECONDS: Time = 1_000_000;

/// Converts milliseconds to [`Time`].
pub const fn ms(millis: u64) -> Time {
    millis * MILLIS
}

/// Formats a time as seconds with microsecond precision.
pub fn format_time(time: Time) -> String {
    format!("{}.{:06}", time / SECONDS, time % SECONDS)
}

struct Scheduled<E> {
    at: Time,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Scheduled<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl<E> Eq for Scheduled<E> {}

impl<E> PartialOrd for Scheduled<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Scheduled<E> {
    // Reversed: BinaryHeap is a max-heap and we want the earliest (then oldest) first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// The virtual clock and the events waiting for their time.
pub struct EventQueue<E> {
    heap: BinaryHeap<Scheduled<E>>,
    now: Time,
    next_seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            now: 0,
            next_seq: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// An empty queue at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current virtual time.
    pub fn now(&self) -> Time {
        self.now
    }

    /// Number of pending events.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True if nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Schedules `event` at absolute time `at` (never in the past).
    pub fn schedule_at(&mut self, at: Time, event: E) {
        let at = at.max(self.now);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Scheduled { at, seq, event });
    }

    /// Schedules `event` `delay` after now.
    pub fn schedule_in(&mut self, delay: Time, event: E) {
        self.schedule_at(self.now + delay, event);
    }

    /// Time of the earliest pending event.
    pub fn peek_time(&self) -> Option<Time> {
        self.heap.peek().map(|s| s.at)
    }

    /// Removes the earliest event if it is due at or before `limit`, advancing the
    /// clock to its time.
    pub fn pop_due(&mut self, limit: Time) -> Option<E> {
        if self.heap.peek()?.at > limit {
            return None;
        }
        let scheduled = self.heap.pop()?;
        self.now = scheduled.at;
        Some(scheduled.event)
    }

    /// Moves the clock forward to `time` (no-op if already past it).
    pub fn advance_to(&mut self, time: Time) {
        self.now = self.now.max(time);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_time_then_insertion_order() {
        let mut q = EventQueue::new();
        q.schedule_at(5, "b");
        q.schedule_at(3, "a");
        q.schedule_at(5, "c");
        q.schedule_at(9, "d");
        assert_eq!(q.pop_due(8), Some("a"));
        assert_eq!(q.now(), 3);
        assert_eq!(q.pop_due(8), Some("b"));
        assert_eq!(q.pop_due(8), Some("c"));
        assert_eq!(q.pop_due(8), None);
        q.advance_to(8);
        assert_eq!(q.now(), 8);
        assert_eq!(q.pop_due(100), Some("d"));
    }
}
