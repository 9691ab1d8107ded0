//! Latency samples into HDR histograms: one per operation kind for the whole run, and
//! one per second of the run for the chart. Clients buffer samples and merge them under
//! a lock a few hundred at a time, so recording costs no lock per request.

use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Largest latency recorded (larger ones count as this): 100 s, in microseconds.
pub const MAX_LATENCY_US: u64 = 100_000_000;

/// Samples a client buffers before merging them.
const BUFFERED_SAMPLES: usize = 256;

/// A histogram of latencies in microseconds, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

/// A coarser histogram (2 significant digits) for each second of the run.
fn new_second_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 2).expect("valid histogram bounds")
}

/// What a request did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Get,
    Put,
}

/// Everything measured.
pub struct Results {
    pub gets: Histogram<u64>,
    pub puts: Histogram<u64>,
    /// `seconds[s]`: the requests that completed in second `s` after the warm-up.
    pub seconds: Vec<Histogram<u64>>,
    /// Requests that failed (error replies, broken connections, timeouts).
    pub errors: u64,
}

impl Default for Results {
    fn default() -> Results {
        Results {
            gets: new_histogram(),
            puts: new_histogram(),
            seconds: Vec::new(),
            errors: 0,
        }
    }
}

impl Results {
    pub fn record(&mut self, kind: Kind, second: usize, latency_us: u64) {
        let latency_us = latency_us.clamp(1, MAX_LATENCY_US);
        match kind {
            Kind::Get => self.gets.saturating_record(latency_us),
            Kind::Put => self.puts.saturating_record(latency_us),
        }
        while self.seconds.len() <= second {
            self.seconds.push(new_second_histogram());
        }
        self.seconds[second].saturating_record(latency_us);
    }

    /// Gets and puts together.
    pub fn combined(&self) -> Histogram<u64> {
        let mut all = self.gets.clone();
        all.add(&self.puts).expect("same bounds");
        all
    }
}

/// Shared by the clients: the results, and a count of completed requests for the
/// progress bar.
#[derive(Clone, Default)]
pub struct Shared {
    results: Arc<Mutex<Results>>,
    completed: Arc<AtomicU64>,
    measured: Arc<AtomicU64>,
}

impl Shared {
    /// Requests completed so far (warm-up included), updated per batch.
    pub fn completed(&self) -> u64 {
        self.completed.load(Ordering::Relaxed)
    }

    /// Requests completed after the warm-up, updated per batch.
    pub fn measured(&self) -> u64 {
        self.measured.load(Ordering::Relaxed)
    }

    pub fn results(&self) -> MutexGuard<'_, Results> {
        self.results
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A recorder for one client.
    pub fn recorder(&self) -> Recorder {
        Recorder {
            shared: self.clone(),
            buffer: Vec::with_capacity(BUFFERED_SAMPLES),
            errors: 0,
        }
    }
}

/// One client's buffer of samples; flushes when full and when dropped.
pub struct Recorder {
    shared: Shared,
    buffer: Vec<(Kind, u32, u64)>,
    errors: u64,
}

impl Recorder {
    /// Counts `count` completed requests for the progress bar.
    pub fn completed(&self, count: usize, measured: bool) {
        self.shared
            .completed
            .fetch_add(count as u64, Ordering::Relaxed);
        if measured {
            self.shared
                .measured
                .fetch_add(count as u64, Ordering::Relaxed);
        }
    }

    /// A measured request that completed `second` seconds after the warm-up.
    pub fn record(&mut self, kind: Kind, second: u32, latency_us: u64) {
        self.buffer.push((kind, second, latency_us));
        if self.buffer.len() >= BUFFERED_SAMPLES {
            self.flush();
        }
    }

    pub fn error(&mut self) {
        self.errors += 1;
    }

    pub fn flush(&mut self) {
        if self.buffer.is_empty() && self.errors == 0 {
            return;
        }
        let mut results = self.shared.results();
        for (kind, second, latency_us) in self.buffer.drain(..) {
            results.record(kind, second as usize, latency_us);
        }
        results.errors += std::mem::take(&mut self.errors);
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorders_merge_into_totals_per_kind_and_per_second() {
        let shared = Shared::default();
        let mut first = shared.recorder();
        let mut second = shared.recorder();
        first.record(Kind::Put, 0, 100);
        first.record(Kind::Get, 2, 300);
        second.record(Kind::Put, 0, 200);
        second.error();
        first.completed(2, true);
        second.completed(1, false);
        drop(first);
        drop(second);
        let results = shared.results();
        assert_eq!(results.puts.len(), 2);
        assert_eq!(results.gets.len(), 1);
        assert_eq!(results.seconds.len(), 3);
        assert_eq!(results.seconds[0].len(), 2);
        assert_eq!(results.seconds[1].len(), 0);
        assert_eq!(results.seconds[2].len(), 1);
        assert_eq!(results.errors, 1);
        assert_eq!(results.combined().len(), 3);
        assert_eq!(shared.completed(), 3);
        assert_eq!(shared.measured(), 2);
    }

    #[test]
    fn out_of_range_latencies_are_clamped_not_lost() {
        let mut results = Results::default();
        results.record(Kind::Put, 0, 0);
        results.record(Kind::Put, 0, u64::MAX);
        assert_eq!(results.puts.len(), 2);
        assert_eq!(results.puts.min(), 1);
        assert!(results.puts.max() >= MAX_LATENCY_US);
    }
}
