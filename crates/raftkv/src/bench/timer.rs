//! A timer finer than tokio's for the open loop. tokio's timer wheel has 1 ms ticks, so a
//! request would leave up to 1 ms after its intended send time, and that delay (the
//! load generator's, not the server's) would count in its latency. One thread sleeps
//! until the earliest deadline (a futex wait with a timeout: tens of microseconds of
//! slack) and wakes whoever waits for it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::mpsc;
use std::time::Instant;
use tokio::sync::oneshot;

/// A waiter: when, a tie-breaker, and whom to wake.
type Waiter = (Reverse<Instant>, Reverse<u64>, WakeOnDrop);

/// Where waits are registered; cheap to clone. The thread ends once every handle is
/// dropped and every wait is over.
#[derive(Clone)]
pub struct Timer {
    requests: mpsc::Sender<(Instant, oneshot::Sender<()>)>,
}

impl Timer {
    pub fn start() -> Timer {
        let (requests, incoming) = mpsc::channel();
        std::thread::Builder::new()
            .name("bench-timer".into())
            .spawn(move || run(incoming))
            .expect("spawning the benchmark timer thread");
        Timer { requests }
    }

    /// Returns at `at` (or at once if it has passed).
    pub async fn sleep_until(&self, at: Instant) {
        if at <= Instant::now() {
            return;
        }
        let (wake, woken) = oneshot::channel();
        if self.requests.send((at, wake)).is_err() {
            // The thread is gone (cannot happen while a handle lives): fall back.
            tokio::time::sleep_until(at.into()).await;
            return;
        }
        let _ = woken.await;
    }
}

/// Wakes its waiter when dropped (fired or not), so no wait can hang.
struct WakeOnDrop(Option<oneshot::Sender<()>>);

impl Drop for WakeOnDrop {
    fn drop(&mut self) {
        if let Some(wake) = self.0.take() {
            let _ = wake.send(());
        }
    }
}

impl PartialEq for WakeOnDrop {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for WakeOnDrop {}
impl PartialOrd for WakeOnDrop {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for WakeOnDrop {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

fn run(incoming: mpsc::Receiver<(Instant, oneshot::Sender<()>)>) {
    let mut waiting: BinaryHeap<Waiter> = BinaryHeap::new();
    let mut sequence = 0u64;
    loop {
        let received = match waiting.peek() {
            None => incoming
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            Some((Reverse(at), _, _)) => {
                incoming.recv_timeout(at.saturating_duration_since(Instant::now()))
            }
        };
        match received {
            Ok((at, wake)) => {
                sequence += 1;
                waiting.push((Reverse(at), Reverse(sequence), WakeOnDrop(Some(wake))));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) if waiting.is_empty() => return,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // No new waits can come: sleep until the next one is due.
                if let Some((Reverse(at), _, _)) = waiting.peek() {
                    std::thread::sleep(at.saturating_duration_since(Instant::now()));
                }
            }
        }
        let now = Instant::now();
        while waiting.peek().is_some_and(|(Reverse(at), _, _)| *at <= now) {
            waiting.pop(); // dropping it wakes the waiter
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn waits_end_at_their_deadline_in_order_and_past_ones_at_once() {
        let timer = Timer::start();
        let start = Instant::now();
        let mut tasks = Vec::new();
        for millis in [30u64, 10, 20] {
            let timer = timer.clone();
            tasks.push(tokio::spawn(async move {
                timer
                    .sleep_until(start + Duration::from_millis(millis))
                    .await;
                (millis, start.elapsed())
            }));
        }
        for task in tasks {
            let (millis, elapsed) = task.await.unwrap();
            assert!(
                elapsed >= Duration::from_millis(millis),
                "{millis}: {elapsed:?}"
            );
        }
        let before = Instant::now();
        timer.sleep_until(start).await;
        assert!(before.elapsed() < Duration::from_millis(50));
    }
}
