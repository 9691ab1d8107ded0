//! `sim`: run the deterministic simulator from the command line.
//!
//! - `sim demo [--seed S]`: a 5-node cluster through partitions, crashes and an
//!   unreliable network, then healed; prints a summary.
//! - `sim sweep --seeds N [--test NAME]`: the lab tests over N seeds; non-zero exit on
//!   any failure, with replay commands.
//! - `sim report [--seed S]`: the lab's columns for all 28 tests beside the reference.
//! - `sim replay --test NAME --seed S [--trace]`: rerun one test, optionally printing
//!   every event.
//! - `sim kv-sweep --seeds N [--test NAME]`: the 23 KV tests (4A/4B) over N seeds, with
//!   each test's "Passed" line on the first seed; non-zero exit on any failure.

use clap::{Parser, Subcommand};
use sim::lab::runner::{describe_failure, run_many, run_test};
use sim::lab::{find, TESTS};
use sim::SimOptions;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(name = "sim", about = "raftkv's deterministic Raft simulator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a 5-node cluster through faults, heal it, and print a summary.
    Demo {
        /// The seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print every event.
        #[arg(long)]
        trace: bool,
    },
    /// Run lab tests over many seeds.
    Sweep {
        /// Number of seeds (0..N).
        #[arg(long, default_value_t = 20)]
        seeds: u64,
        /// First seed.
        #[arg(long, default_value_t = 0)]
        first: u64,
        /// Only this test (default: all 28).
        #[arg(long)]
        test: Option<String>,
        /// Plant the Figure 8 bug in the core (the checkers should then fail).
        #[arg(long)]
        canary: bool,
        /// Let reliable messages on one link overtake each other (labrpc-style).
        #[arg(long)]
        reorder: bool,
        /// Override the election timeout (in 10 ms ticks).
        #[arg(long)]
        election_ticks: Option<u32>,
    },
    /// Print the lab's columns for every test beside the reference figures.
    Report {
        /// The seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Run the KV tests (4A/4B) over many seeds.
    KvSweep {
        /// Number of seeds.
        #[arg(long, default_value_t = 20)]
        seeds: u64,
        /// First seed.
        #[arg(long, default_value_t = 0)]
        first: u64,
        /// Only this test (default: all 23).
        #[arg(long)]
        test: Option<String>,
    },
    /// Rerun one test on one seed.
    Replay {
        /// The test's name (e.g. figure8_3c).
        #[arg(long)]
        test: String,
        /// The seed.
        #[arg(long)]
        seed: u64,
        /// Print every event.
        #[arg(long)]
        trace: bool,
        /// Plant the Figure 8 bug in the core (the checkers should then fail).
        #[arg(long)]
        canary: bool,
        /// Let reliable messages on one link overtake each other (labrpc-style).
        #[arg(long)]
        reorder: bool,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Demo { seed, trace } => demo(seed, trace),
        Command::Sweep {
            seeds,
            first,
            test,
            canary,
            reorder,
            election_ticks,
        } => sweep(
            first,
            seeds,
            test.as_deref(),
            options_fn(canary, reorder, election_ticks),
        ),
        Command::Report { seed } => report(seed),
        Command::KvSweep { seeds, first, test } => kv_sweep(first, seeds, test.as_deref()),
        Command::Replay {
            test,
            seed,
            trace,
            canary,
            reorder,
        } => replay(&test, seed, trace, canary, reorder),
    }
}

fn demo(seed: u64, trace: bool) -> ExitCode {
    let mut opts = SimOptions::new(seed);
    opts.trace = trace;
    match sim::demo::run(opts) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("demo failed on seed {seed}: {message}");
            eprintln!("replay: cargo run --release -p sim -- demo --seed {seed} --trace");
            ExitCode::FAILURE
        }
    }
}

/// Simulation options for `seed`, with the canary if asked.
fn options(seed: u64, canary: bool) -> SimOptions {
    let mut opts = SimOptions::new(seed);
    if canary {
        opts.canary = raft::Canary::CommitPreviousTermByCounting;
    }
    opts
}

/// Options per seed for a sweep.
fn options_fn(
    canary: bool,
    reorder: bool,
    election_ticks: Option<u32>,
) -> impl Fn(u64) -> SimOptions + Copy {
    move |seed| {
        let mut opts = options(seed, canary);
        opts.fifo_links = !reorder;
        if let Some(ticks) = election_ticks {
            opts.election_timeout_ticks = ticks;
        }
        opts
    }
}

fn sweep(
    first: u64,
    seeds: u64,
    only: Option<&str>,
    options: impl Fn(u64) -> SimOptions + Copy,
) -> ExitCode {
    let tests: Vec<_> = match only {
        Some(name) => match find(name) {
            Some(test) => vec![test],
            None => return unknown_test(name),
        },
        None => TESTS.iter().collect(),
    };
    let jobs: Vec<_> = tests
        .iter()
        .flat_map(|&test| (first..first + seeds).map(move |seed| (test, options(seed))))
        .collect();
    let started = Instant::now();
    quiet_panics();
    let outcomes = run_many(&jobs);
    let mut failed = 0;
    for test in &tests {
        let mine: Vec<_> = outcomes
            .iter()
            .filter(|o| o.test.name == test.name)
            .collect();
        let fails: Vec<_> = mine.iter().filter(|o| !o.passed()).collect();
        println!(
            "{:<32} {}/{} passed",
            test.name,
            mine.len() - fails.len(),
            mine.len()
        );
        for outcome in fails {
            println!("{}", describe_failure(outcome));
        }
        failed += mine.iter().filter(|o| !o.passed()).count();
    }
    sweep_summary(outcomes.len(), failed, started)
}

fn report(seed: u64) -> ExitCode {
    let jobs: Vec<_> = TESTS
        .iter()
        .map(|test| (test, SimOptions::new(seed)))
        .collect();
    quiet_panics();
    let outcomes = run_many(&jobs);
    println!(
        "seed {seed}; left: this simulator (virtual seconds), right: the lab's reference solution"
    );
    println!("{}", sim::report::header());
    for outcome in &outcomes {
        println!("{}", sim::report::row(outcome));
    }
    if outcomes.iter().all(|o| o.passed()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn replay(name: &str, seed: u64, trace: bool, canary: bool, reorder: bool) -> ExitCode {
    let Some(test) = find(name) else {
        return unknown_test(name);
    };
    let mut opts = options(seed, canary);
    opts.trace = trace;
    opts.fifo_links = !reorder;
    quiet_panics();
    let outcome = run_test(test, opts);
    for stats in &outcome.stats {
        println!("{}\n{}", stats.desc, stats.passed_line());
    }
    println!(
        "{} seed {seed}: {} events, {} invariant checks, {:.1} virtual s, {:.2} s wall, digest {:016x}",
        name,
        outcome.events,
        outcome.checks,
        outcome.virtual_seconds,
        outcome.wall.as_secs_f64(),
        outcome.digest
    );
    match &outcome.result {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => {
            println!("{}", describe_failure(&outcome));
            ExitCode::FAILURE
        }
    }
}

fn unknown_test(name: &str) -> ExitCode {
    eprintln!("no test named {name}; known tests:");
    for test in TESTS {
        eprintln!("  {}", test.name);
    }
    ExitCode::from(2)
}

/// Failures are reported with their seed by the runner; the default hook's extra
/// "thread panicked" lines would only repeat them.
fn quiet_panics() {
    std::panic::set_hook(Box::new(|_| {}));
}

fn kv_sweep(first: u64, seeds: u64, only: Option<&str>) -> ExitCode {
    use sim::kv::generic::{find as find_kv, kv_replay_command, run_many_kv, KV_TESTS};
    let tests: Vec<_> = match only {
        Some(name) => match find_kv(name) {
            Some(test) => vec![test],
            None => {
                eprintln!("no KV test named {name}");
                return ExitCode::FAILURE;
            }
        },
        None => KV_TESTS.iter().collect(),
    };
    let started = Instant::now();
    let jobs: Vec<_> = tests
        .iter()
        .flat_map(|&test| (first..first + seeds).map(move |seed| (test, seed)))
        .collect();
    let runs = run_many_kv(&jobs);
    let mut failed = 0;
    for test in &tests {
        let mine: Vec<_> = runs.iter().filter(|r| r.test.name == test.name).collect();
        let passed = mine.iter().filter(|r| r.result.is_ok()).count();
        let wall: f64 = mine.iter().map(|r| r.wall.as_secs_f64()).sum();
        let line = mine
            .first()
            .and_then(|r| r.stats.last())
            .map(|s| s.passed_line())
            .unwrap_or_default();
        println!(
            "{:<66} {passed:>4}/{:<4} {:>7.2}s  {line}",
            test.name,
            mine.len(),
            wall
        );
        for run in mine.iter().filter(|r| r.result.is_err()) {
            failed += 1;
            let message = run.result.as_ref().err().map(String::as_str).unwrap_or("");
            println!(
                "  FAIL seed {}: {}\n    replay: {}",
                run.seed,
                message.lines().next().unwrap_or(""),
                kv_replay_command(run.test, run.seed)
            );
        }
    }
    sweep_summary(runs.len(), failed, started)
}

/// Prints a sweep's last line; the exit code says whether every run passed.
fn sweep_summary(runs: usize, failed: usize, started: Instant) -> ExitCode {
    println!(
        "{runs} runs, {failed} failed, {:.1}s wall",
        started.elapsed().as_secs_f64()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
