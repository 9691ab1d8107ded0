//! Random faults, then healing (the `sim demo` scenario) over many seeds: a safety phase
//! with every checker on, then a liveness phase in which the healed cluster must elect
//! a leader and agree within the lab's bounds.

use sim::lab::runner::seeds_from_env;
use sim::SimOptions;

#[test]
fn chaos_then_heal() {
    let mut failures = Vec::new();
    for seed in seeds_from_env() {
        // Offset so these seeds differ from the lab tests' seeds.
        let seed = seed + 1_000_000;
        if let Err(e) = sim::demo::run(SimOptions::new(seed)) {
            failures.push(format!(
                "seed {seed}: {e}\n  replay: cargo run --release -p sim -- demo --seed {seed} --trace"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
