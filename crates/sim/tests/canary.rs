//! The checkers must be able to fail: with the Figure 8 bug planted in the core
//! (`Canary::CommitPreviousTermByCounting`), the targeted Figure 8 schedule must be
//! reported as an invariant violation, and without it the same schedule must pass.

use raft::Canary;
use sim::lab::figure8_targeted::figure8_targeted;
use sim::lab::runner::{panic_message, seeds_from_env};
use sim::{SimOptions, Tester};
use std::panic::{catch_unwind, AssertUnwindSafe};

fn run_targeted(seed: u64, canary: Canary) -> Result<(), String> {
    let mut opts = SimOptions::new(seed);
    opts.canary = canary;
    catch_unwind(AssertUnwindSafe(|| {
        let mut t = Tester::with_options(opts, 5, false, false);
        figure8_targeted(&mut t);
    }))
    .map_err(|payload| panic_message(payload.as_ref()))
}

#[test]
fn figure8_schedule_passes_on_correct_raft() {
    for seed in seeds_from_env() {
        if let Err(e) = run_targeted(seed, Canary::Off) {
            panic!(
                "seed {seed}: {e}\n  replay: RAFTKV_SEED={seed} cargo test --release -p sim --test canary figure8_schedule_passes_on_correct_raft"
            );
        }
    }
}

#[test]
fn checkers_catch_commit_by_counting_canary() {
    let seeds = seeds_from_env();
    let mut missed = Vec::new();
    for &seed in &seeds {
        match run_targeted(seed, Canary::CommitPreviousTermByCounting) {
            Err(e)
                if e.contains("invariant violated")
                    || e.contains("committed values do not match")
                    || e.contains("apply error") => {}
            Err(e) => panic!("seed {seed}: the canary run failed for another reason: {e}"),
            Ok(()) => missed.push(seed),
        }
    }
    assert!(
        missed.is_empty(),
        "the checkers missed the planted Figure 8 bug on seeds {missed:?} of {}",
        seeds.len()
    );
}
