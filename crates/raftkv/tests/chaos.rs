//! The chaos harness in CI: `raftkv chaos` with the bounded CI profile, a three-node
//! and a five-node run with fixed seeds (about a minute each). A failure prints the
//! kept directory and the command that reruns the seed.

use std::process::Command;
use std::sync::Mutex;

const BINARY: &str = env!("CARGO_BIN_EXE_raftkv");

/// One run at a time: two clusters at once on CI's two cores would test the machine's
/// load more than the cluster.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn chaos(seed: u64, nodes: u64, duration: &str) {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let output = Command::new(BINARY)
        .args(["--log", "warn", "chaos", "--profile", "ci"])
        .args(["--seed", &seed.to_string(), "--nodes", &nodes.to_string()])
        .args(["--duration", duration])
        .output()
        .expect("running raftkv chaos");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "raftkv chaos failed (seed {seed}, {nodes} nodes)\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(
        stdout.starts_with(&format!("raftkv chaos: seed {seed}")),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("PASS (seed {seed})")), "{stdout}");
}

#[test]
fn three_nodes_survive_the_ci_schedule() {
    chaos(20_261_122, 3, "40s");
}

#[test]
fn five_nodes_survive_the_ci_schedule() {
    chaos(5_050_505, 5, "40s");
}
