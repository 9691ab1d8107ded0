//! One peer channel's bounded outgoing queue, shared by [`super::Transport::send`]
//! (which must never await) and the connection task that drains it.

use raft::Message;
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use tokio::sync::Notify;

/// Where the connection task stands, as the sending side needs to know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LinkState {
    /// No connection; one will be opened when a message is queued.
    Idle,
    /// Connecting or handshaking; messages queue up (bounded).
    Connecting,
    /// Established; queued messages are written in batches.
    Connected,
    /// Waiting before the next attempt after a failure: messages are dropped at once
    /// (the peer is unreachable and Raft will retry), not kept to be sent stale later.
    Backoff,
}

/// The outcome of offering a message to a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Queued.
    Queued,
    /// Dropped: the queue is at its message or byte bound.
    QueueFull,
    /// Dropped: the peer is in reconnection backoff.
    Disconnected,
}

struct Inner {
    messages: VecDeque<Message>,
    /// Sum of `size_bytes()` over `messages`. Invariant: `<= max_bytes`.
    bytes: usize,
    state: LinkState,
}

/// A FIFO bounded in messages and in bytes.
pub(crate) struct OutQueue {
    inner: Mutex<Inner>,
    /// Woken when a message is queued.
    notify: Notify,
    max_messages: usize,
    max_bytes: usize,
}

impl OutQueue {
    pub(crate) fn new(max_messages: usize, max_bytes: usize) -> OutQueue {
        OutQueue {
            inner: Mutex::new(Inner {
                messages: VecDeque::new(),
                bytes: 0,
                state: LinkState::Idle,
            }),
            notify: Notify::new(),
            max_messages,
            max_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The critical sections cannot panic half-way, so a poisoned lock still guards
        // a consistent queue.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Offers a message; never blocks beyond the short critical section.
    pub(crate) fn push(&self, message: Message) -> Admission {
        let size = message.size_bytes();
        let mut inner = self.lock();
        if inner.state == LinkState::Backoff {
            return Admission::Disconnected;
        }
        if inner.messages.len() >= self.max_messages || inner.bytes + size > self.max_bytes {
            return Admission::QueueFull;
        }
        inner.bytes += size;
        inner.messages.push_back(message);
        drop(inner);
        self.notify.notify_one();
        Admission::Queued
    }

    /// Takes every queued message, oldest first (empty if none).
    pub(crate) fn drain(&self) -> VecDeque<Message> {
        let mut inner = self.lock();
        inner.bytes = 0;
        std::mem::take(&mut inner.messages)
    }

    /// True if nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().messages.is_empty()
    }

    /// Queued messages and bytes.
    pub(crate) fn len(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.messages.len(), inner.bytes)
    }

    pub(crate) fn set_state(&self, state: LinkState) {
        self.lock().state = state;
    }

    /// Enters [`LinkState::Backoff`], dropping what is queued; returns how many.
    pub(crate) fn enter_backoff(&self) -> usize {
        let mut inner = self.lock();
        inner.state = LinkState::Backoff;
        inner.bytes = 0;
        let dropped = inner.messages.len();
        inner.messages.clear();
        dropped
    }

    /// Completes when a message may have been queued since the last call (a stored
    /// permit makes a push before the wait count).
    pub(crate) async fn notified(&self) {
        self.notify.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::{MessageBody, NodeId, Term};

    fn timeout_now() -> Message {
        Message {
            from: NodeId(1),
            to: NodeId(2),
            term: Term(1),
            body: MessageBody::TimeoutNow,
        }
    }

    #[test]
    fn bounded_in_messages_and_bytes() {
        let size = timeout_now().size_bytes();
        let queue = OutQueue::new(3, 100 * size);
        for _ in 0..3 {
            assert_eq!(queue.push(timeout_now()), Admission::Queued);
        }
        assert_eq!(queue.push(timeout_now()), Admission::QueueFull);
        assert_eq!(queue.len(), (3, 3 * size));

        let queue = OutQueue::new(100, 2 * size + 1);
        assert_eq!(queue.push(timeout_now()), Admission::Queued);
        assert_eq!(queue.push(timeout_now()), Admission::Queued);
        assert_eq!(queue.push(timeout_now()), Admission::QueueFull);
        assert_eq!(queue.drain().len(), 2);
        assert_eq!(queue.len(), (0, 0));
        assert_eq!(queue.push(timeout_now()), Admission::Queued);
    }

    #[test]
    fn backoff_drops_queued_and_new_messages() {
        let queue = OutQueue::new(10, 1 << 20);
        queue.push(timeout_now());
        assert_eq!(queue.enter_backoff(), 1);
        assert_eq!(queue.push(timeout_now()), Admission::Disconnected);
        queue.set_state(LinkState::Idle);
        assert_eq!(queue.push(timeout_now()), Admission::Queued);
    }
}
