//! Exponential reconnection backoff with jitter.
//!
//! Jitter keeps nodes that lost a peer at the same moment from reconnecting in lockstep.
//! This is the runtime, not the core, so real randomness is fine: the generator is a
//! splitmix64 seeded from the standard library's per-process random hasher keys.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Delays that double from `min` up to `max`; each is drawn uniformly from the upper
/// half of the current step ("equal jitter"), so it is never below half the step.
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    step: Duration,
    rng_state: u64,
}

impl Backoff {
    /// A backoff starting at `min`, capped at `max`; `salt` varies the random stream.
    pub(crate) fn new(min: Duration, max: Duration, salt: u64) -> Backoff {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(salt);
        Backoff {
            min,
            max,
            step: min,
            rng_state: hasher.finish(),
        }
    }

    /// The next delay; doubles the step for the one after.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let step = self.step;
        self.step = (self.step * 2).min(self.max);
        let half = step / 2;
        let jitter_nanos = half.as_nanos() as u64;
        let jitter = if jitter_nanos == 0 {
            0
        } else {
            self.next_random() % (jitter_nanos + 1)
        };
        step - half + Duration::from_nanos(jitter)
    }

    /// Back to the first step (after a connection that lasted).
    pub(crate) fn reset(&mut self) {
        self.step = self.min;
    }

    /// The cap.
    pub(crate) fn max(&self) -> Duration {
        self.max
    }

    fn next_random(&mut self) -> u64 {
        self.rng_state = self.rng_state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng_state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_within_jitter_up_to_the_cap_and_reset() {
        let min = Duration::from_millis(50);
        let max = Duration::from_millis(400);
        let mut backoff = Backoff::new(min, max, 1);
        let steps = [50u64, 100, 200, 400, 400, 400];
        for step in steps {
            let step = Duration::from_millis(step);
            let delay = backoff.next_delay();
            assert!(delay >= step / 2 && delay <= step, "{delay:?} vs {step:?}");
        }
        backoff.reset();
        assert!(backoff.next_delay() <= min);
    }
}
