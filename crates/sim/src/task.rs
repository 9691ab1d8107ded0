//! Deterministic stand-ins for the lab's goroutines.
//!
//! A client task is a state machine the tester polls at its wake-up times, which sit
//! in the same event queue as the network and the disks. A task runs between events
//! (like a goroutine between two scheduler switches) and says how long it sleeps next.

use crate::command::Cmd;
use crate::event_queue::{ms, Time};
use crate::tester::Tester;
use std::cell::Cell;
use std::rc::Rc;

/// What a task does after a poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// Sleep this long, then poll again.
    After(Time),
    /// Finished.
    Done,
}

/// A concurrent client of the tester.
pub trait ClientTask {
    /// Runs the task until it sleeps or finishes. It may call the tester's non-blocking
    /// operations (`start`, `n_committed`, `get_state`, ...) but never `sleep`.
    fn poll(&mut self, t: &mut Tester) -> Wake;
}

/// Identifies a spawned task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskId(pub usize);

/// Result of polling a [`OneOp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnePoll {
    /// Sleep this many milliseconds and poll again.
    SleepMs(u64),
    /// Agreement reached at this index.
    Done(u64),
}

#[derive(Clone, Copy, Debug)]
enum OneState {
    TryStart,
    AwaitCommit { index: u64, since: Time },
}

/// The lab's `one(cmd, expectedServers, retry)` as a resumable state machine, so the
/// main test body and concurrent client tasks share one implementation.
#[derive(Clone, Debug)]
pub struct OneOp {
    cmd: Cmd,
    expected: usize,
    retry: bool,
    started_at: Time,
    starts: usize,
    state: OneState,
}

impl OneOp {
    /// Begins `one(cmd, expected, retry)` at the tester's current time.
    pub fn new(t: &Tester, cmd: Cmd, expected: usize, retry: bool) -> OneOp {
        OneOp {
            cmd,
            expected,
            retry,
            started_at: t.now(),
            starts: 0,
            state: OneState::TryStart,
        }
    }

    /// Advances the operation; fails the test like the lab does.
    pub fn poll(&mut self, t: &mut Tester) -> OnePoll {
        loop {
            match self.state {
                OneState::TryStart => {
                    if t.now() - self.started_at >= ms(10_000) {
                        t.fail(format!("one({}) failed to reach agreement", self.cmd));
                    }
                    match self.try_start(t) {
                        Some(index) => {
                            self.state = OneState::AwaitCommit {
                                index,
                                since: t.now(),
                            }
                        }
                        None => return OnePoll::SleepMs(50),
                    }
                }
                OneState::AwaitCommit { index, since } => {
                    if t.now() - since < ms(2_000) {
                        let (count, value) = t.n_committed(index);
                        if count > 0 && count >= self.expected && value.as_ref() == Some(&self.cmd)
                        {
                            return OnePoll::Done(index);
                        }
                        return OnePoll::SleepMs(20);
                    }
                    if !self.retry {
                        t.fail(format!("one({}) failed to reach agreement", self.cmd));
                    }
                    self.state = OneState::TryStart;
                }
            }
        }
    }

    /// Round-robin over connected servers until one accepts the command.
    fn try_start(&mut self, t: &mut Tester) -> Option<u64> {
        for _ in 0..t.servers() {
            self.starts = (self.starts + 1) % t.servers();
            if t.connected(self.starts) {
                if let Some((index, _)) = t.start(self.starts, self.cmd.clone()) {
                    return Some(index);
                }
            }
        }
        None
    }
}

/// A spawned `one()`: the goroutines of TestUnreliableAgree.
pub struct OneTask {
    op: OneOp,
    /// The index agreed on, once done.
    pub result: Rc<Cell<Option<u64>>>,
}

impl OneTask {
    /// A task running `one(cmd, expected, retry)`.
    pub fn new(t: &Tester, cmd: Cmd, expected: usize, retry: bool) -> OneTask {
        OneTask {
            op: OneOp::new(t, cmd, expected, retry),
            result: Rc::new(Cell::new(None)),
        }
    }
}

impl ClientTask for OneTask {
    fn poll(&mut self, t: &mut Tester) -> Wake {
        match self.op.poll(t) {
            OnePoll::SleepMs(millis) => Wake::After(ms(millis)),
            OnePoll::Done(index) => {
                self.result.set(Some(index));
                Wake::Done
            }
        }
    }
}
