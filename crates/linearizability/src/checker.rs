//! Checking a whole history: partitioning, parallel search, time budget, result.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use crate::history::{validate, Operation};
use crate::model::Model;
use crate::report::{partition_report, PartitionReport, Report};
use crate::search::{search, Limits, SearchOutcome};

/// The verdict on a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckResult {
    /// Every partition is linearizable.
    Ok,
    /// At least one partition is not linearizable; the report names each one found.
    Illegal(Report),
    /// The time budget ran out before every partition was decided and none was found
    /// illegal. Neither a pass nor a failure.
    Unknown,
}

impl CheckResult {
    /// Whether this is [`CheckResult::Ok`].
    pub fn is_ok(&self) -> bool {
        matches!(self, CheckResult::Ok)
    }

    /// Whether this is [`CheckResult::Illegal`].
    pub fn is_illegal(&self) -> bool {
        matches!(self, CheckResult::Illegal(_))
    }

    /// Whether this is [`CheckResult::Unknown`].
    pub fn is_unknown(&self) -> bool {
        matches!(self, CheckResult::Unknown)
    }
}

/// Checks histories against a model; configure with the builder methods.
#[derive(Clone, Debug)]
pub struct Checker {
    /// The time budget of a check; `None` means no limit.
    timeout: Option<Duration>,
    /// How many partitions are searched in parallel (at least 1).
    threads: usize,
    /// The memory limit of each partition's memoization cache.
    max_cache_bytes: usize,
}

/// The default memory limit of one partition's memoization cache: 256 MiB.
pub const DEFAULT_MAX_CACHE_BYTES: usize = 256 << 20;

impl Default for Checker {
    fn default() -> Self {
        Checker::new()
    }
}

/// The outcome of one partition, with what its report needs.
enum PartitionOutcome {
    Linearizable,
    Illegal(PartitionReport),
    TimedOut,
}

impl Checker {
    /// No time limit; one thread per available CPU; caches of
    /// [`DEFAULT_MAX_CACHE_BYTES`].
    pub fn new() -> Self {
        let threads = thread::available_parallelism().map_or(1, |n| n.get());
        Checker {
            timeout: None,
            threads,
            max_cache_bytes: DEFAULT_MAX_CACHE_BYTES,
        }
    }

    /// Limits each partition's memoization cache to about `bytes` (set words, entries
    /// and [`Model::state_heap_bytes`]). A full cache stops memoizing: the answer stays
    /// exact, the search only prunes less. Memory in use is at most `threads` times this.
    pub fn max_cache_bytes(mut self, bytes: usize) -> Self {
        self.max_cache_bytes = bytes;
        self
    }

    /// Gives up with [`CheckResult::Unknown`] after `timeout` (unless a partition is
    /// already known to be illegal).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Searches at most `threads` partitions at once (0 is taken as 1).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Checks `history` against `model`. Partitions are searched smallest first, so a
    /// violation in a small partition is found even if a large one exhausts the budget.
    ///
    /// # Panics
    /// If an operation's return time is before its call time.
    pub fn check<M, T>(
        &self,
        model: &M,
        history: &[Operation<M::Input, M::Output, T>],
    ) -> CheckResult
    where
        M: Model,
        T: Ord + Copy + Debug + Sync,
    {
        validate(history);
        let limits = Limits {
            deadline: self.timeout.map(|t| Instant::now() + t),
            max_cache_bytes: self.max_cache_bytes,
        };
        let partitions = partition(model, history);
        let outcomes = self.run_all(model, &partitions, limits);
        let mut timed_out = false;
        let mut illegal = Vec::new();
        for outcome in outcomes {
            match outcome {
                PartitionOutcome::Linearizable => {}
                PartitionOutcome::TimedOut => timed_out = true,
                PartitionOutcome::Illegal(report) => illegal.push(report),
            }
        }
        if !illegal.is_empty() {
            CheckResult::Illegal(Report {
                partitions: illegal,
            })
        } else if timed_out {
            CheckResult::Unknown
        } else {
            CheckResult::Ok
        }
    }

    /// Searches every partition on a pool of scoped threads; outcomes in key order.
    fn run_all<M, T>(
        &self,
        model: &M,
        partitions: &[Partition<'_, M, T>],
        limits: Limits,
    ) -> Vec<PartitionOutcome>
    where
        M: Model,
        T: Ord + Copy + Debug + Sync,
    {
        let mut order: Vec<usize> = (0..partitions.len()).collect();
        order.sort_by_key(|&i| partitions[i].1.len());
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<PartitionOutcome>>> =
            Mutex::new((0..partitions.len()).map(|_| None).collect());
        let workers = self.threads.min(partitions.len());
        thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let outcome = check_partition(model, &partitions[i], limits);
                        results.lock().expect("no worker panics holding the lock")[i] =
                            Some(outcome);
                    }
                });
            }
        });
        let results = results.into_inner().expect("workers finished");
        results
            .into_iter()
            .map(|o| o.expect("every partition searched"))
            .collect()
    }
}

/// An operation of model `M` with times `T`.
type ModelOp<M, T> = Operation<<M as Model>::Input, <M as Model>::Output, T>;

/// A partition's key and its operations in call order.
type Partition<'h, M, T> = (<M as Model>::Key, Vec<&'h ModelOp<M, T>>);

/// Groups `history` by [`Model::partition_key`], in key order, each group in call order
/// (ties by client id, then by position in the history).
fn partition<'h, M: Model, T: Ord + Copy>(
    model: &M,
    history: &'h [Operation<M::Input, M::Output, T>],
) -> Vec<Partition<'h, M, T>> {
    let mut groups: BTreeMap<M::Key, Vec<&'h ModelOp<M, T>>> = BTreeMap::new();
    for op in history {
        groups
            .entry(model.partition_key(&op.input))
            .or_default()
            .push(op);
    }
    let mut partitions: Vec<Partition<'h, M, T>> = groups.into_iter().collect();
    for (_, ops) in &mut partitions {
        ops.sort_by_key(|op| (op.call, op.client_id));
    }
    partitions
}

/// Searches one partition and, if it is illegal, builds its report.
fn check_partition<M: Model, T: Ord + Copy + Debug>(
    model: &M,
    (key, ops): &Partition<'_, M, T>,
    limits: Limits,
) -> PartitionOutcome {
    match search(model, ops, limits) {
        SearchOutcome::Linearizable => PartitionOutcome::Linearizable,
        SearchOutcome::TimedOut => PartitionOutcome::TimedOut,
        SearchOutcome::Illegal { longest } => {
            PartitionOutcome::Illegal(partition_report(model, key, ops, &longest))
        }
    }
}

/// Checks `history` against `model` with a time budget, on all CPUs. See [`Checker`].
///
/// # Panics
/// If an operation's return time is before its call time.
pub fn check_operations<M, T>(
    model: &M,
    history: &[Operation<M::Input, M::Output, T>],
    timeout: Duration,
) -> CheckResult
where
    M: Model,
    T: Ord + Copy + Debug + Sync,
{
    Checker::new().timeout(timeout).check(model, history)
}
