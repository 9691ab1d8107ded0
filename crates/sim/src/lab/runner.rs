//! Runs lab tests over seeds: one run is caught as a pass or a failure (never aborts
//! the caller), many runs share the machine's cores, and failures come with the exact
//! command that replays them.

use super::LabTest;
use crate::server::SimOptions;
use crate::tester::{TestStats, Tester};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Default number of seeds per test.
pub const DEFAULT_SEEDS: u64 = 20;

/// The result of one test on one seed.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// The test.
    pub test: &'static LabTest,
    /// The seed.
    pub seed: u64,
    /// `Err(message)` if the test failed.
    pub result: Result<(), String>,
    /// The "Passed" lines recorded (empty if it failed before `end`).
    pub stats: Vec<TestStats>,
    /// Trace digest at the end (or at the failure).
    pub digest: u64,
    /// Events handled.
    pub events: u64,
    /// Invariant checks run.
    pub checks: u64,
    /// Virtual seconds simulated.
    pub virtual_seconds: f64,
    /// Real time taken.
    pub wall: Duration,
}

impl RunOutcome {
    /// True if the test passed.
    pub fn passed(&self) -> bool {
        self.result.is_ok()
    }
}

/// The cargo command that replays `test` on `seed`.
pub fn replay_command(test: &LabTest, seed: u64) -> String {
    format!(
        "RAFTKV_SEED={seed} cargo test --release -p sim --test {} {} -- --exact",
        test.file, test.name
    )
}

/// The `sim` command that prints the trace of `test` on `seed`.
pub fn trace_command(test: &LabTest, seed: u64) -> String {
    format!(
        "cargo run --release -p sim -- replay --test {} --seed {seed} --trace",
        test.name
    )
}

/// Text of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// Runs `test` once with `opts`, catching failures.
pub fn run_test(test: &'static LabTest, opts: SimOptions) -> RunOutcome {
    let started = Instant::now();
    let seed = opts.seed;
    let mut slot: Option<Tester> = None;
    let result = catch_unwind(AssertUnwindSafe(|| {
        let tester = slot.insert(Tester::with_options(
            opts,
            test.servers,
            test.unreliable,
            test.snapshot,
        ));
        (test.run)(tester);
        check_commits(test, tester);
    }))
    .map_err(|payload| panic_message(payload.as_ref()));
    let (stats, digest, events, checks, virtual_seconds) = match &slot {
        Some(t) => (
            t.results().to_vec(),
            t.digest(),
            t.cluster().trace.events(),
            t.cluster().invariants.checks,
            t.cluster().seconds(),
        ),
        None => (Vec::new(), 0, 0, 0, 0.0),
    };
    RunOutcome {
        test,
        seed,
        result,
        stats,
        digest,
        events,
        checks,
        virtual_seconds,
        wall: started.elapsed(),
    }
}

/// The commits column must match what the scenario fixes.
fn check_commits(test: &LabTest, t: &Tester) {
    for stats in t.results() {
        if !test.commits.accepts(stats.commits) {
            t.fail(format!(
                "commits column is {}, expected {:?}",
                stats.commits, test.commits
            ));
        }
    }
}

/// Runs every (test, seed) pair, spread over the available cores; outcomes come back
/// in input order. Each simulation stays single-threaded.
pub fn run_many(jobs: &[(&'static LabTest, SimOptions)]) -> Vec<RunOutcome> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(jobs.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<RunOutcome>>> = Mutex::new(vec![None; jobs.len()]);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some((test, opts)) = jobs.get(k) else {
                    break;
                };
                let outcome = run_test(test, opts.clone());
                results.lock().expect("no poisoning")[k] = Some(outcome);
            });
        }
    });
    results
        .into_inner()
        .expect("no poisoning")
        .into_iter()
        .map(|o| o.expect("every job ran"))
        .collect()
}

/// Seeds chosen by the environment: `RAFTKV_SEED=s` runs exactly `s`; otherwise
/// `RAFTKV_SEEDS=n` (default 20) runs seeds `0..n`.
pub fn seeds_from_env() -> Vec<u64> {
    if let Some(seed) = env_u64("RAFTKV_SEED") {
        return vec![seed];
    }
    (0..env_u64("RAFTKV_SEEDS").unwrap_or(DEFAULT_SEEDS)).collect()
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    match value.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => panic!("{name} must be a non-negative integer, got {value:?}"),
    }
}

/// A failure report: the message, the seed and the commands that replay it.
pub fn describe_failure(outcome: &RunOutcome) -> String {
    let message = outcome
        .result
        .as_ref()
        .err()
        .map(String::as_str)
        .unwrap_or("passed");
    format!(
        "FAIL {} seed {}: {message}\n  replay: {}\n  trace:  {}",
        outcome.test.name,
        outcome.seed,
        replay_command(outcome.test, outcome.seed),
        trace_command(outcome.test, outcome.seed)
    )
}

/// Entry point of the cargo tests: runs the named test over the environment's seeds
/// and panics with every failing seed and its replay command.
pub fn run_lab_test(name: &str) {
    let test = super::find(name).unwrap_or_else(|| panic!("no lab test named {name}"));
    let jobs: Vec<_> = seeds_from_env()
        .into_iter()
        .map(|seed| (test, SimOptions::new(seed)))
        .collect();
    let outcomes = run_many(&jobs);
    let failures: Vec<&RunOutcome> = outcomes.iter().filter(|o| !o.passed()).collect();
    for outcome in &outcomes {
        if let Some(stats) = outcome.stats.first() {
            println!("{} seed {}: {}", name, outcome.seed, stats.passed_line());
        }
    }
    if !failures.is_empty() {
        let report: Vec<String> = failures.iter().map(|o| describe_failure(o)).collect();
        panic!(
            "{} of {} seeds failed:\n{}",
            failures.len(),
            outcomes.len(),
            report.join("\n")
        );
    }
}
