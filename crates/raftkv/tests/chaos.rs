//! The chaos harness in CI: `raftkv chaos` with the bounded CI profile, a three-node
//! and a five-node run with fixed seeds (about a minute each). A failure prints the
//! kept directory and the command that reruns the seed.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Mutex;

const BINARY: &str = env!("CARGO_BIN_EXE_raftkv");

/// One run at a time: two clusters at once on CI's two cores would test the machine's
/// load more than the cluster.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn run_chaos(seed: u64, nodes: u64, duration: &str, extra: &[&str]) -> Output {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    Command::new(BINARY)
        .args(["--log", "warn", "chaos", "--profile", "ci"])
        .args(["--seed", &seed.to_string(), "--nodes", &nodes.to_string()])
        .args(["--duration", duration])
        .args(extra)
        .output()
        .expect("running raftkv chaos")
}

fn chaos(seed: u64, nodes: u64, duration: &str) {
    let output = run_chaos(seed, nodes, duration, &[]);
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

/// The harness can fail: a planted lost write fails both checks, and the failure keeps
/// a directory with what is needed to investigate, and prints how to rerun.
#[test]
fn a_planted_lost_write_fails_the_run_and_keeps_its_directory() {
    let output = run_chaos(7, 3, "4s", &["--canary-lose-append"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stdout}");
    assert!(stdout.contains("NOT LINEARIZABLE"), "{stdout}");
    assert!(stdout.contains("LOST 1 acknowledged append"), "{stdout}");
    assert!(
        stderr.contains("rerun: raftkv chaos --seed 7 --nodes 3 --profile ci"),
        "{stderr}"
    );
    let kept = stderr
        .lines()
        .find_map(|line| {
            line.split_once("; kept ")
                .map(|(_, path)| PathBuf::from(path))
        })
        .unwrap_or_else(|| panic!("no kept directory in {stderr}"));
    for file in [
        "schedule.txt",
        "events.txt",
        "history.txt",
        "checker-report.txt",
        "verdict.txt",
        "node-1.log",
        "node-3.log",
    ] {
        assert!(kept.join(file).is_file(), "{} missing", file);
    }
    assert!(kept.join("node-2").is_dir());
    std::fs::remove_dir_all(&kept).unwrap();
}
