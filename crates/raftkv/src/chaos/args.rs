//! `raftkv chaos` options and the two profiles (CI: short and bounded; soak: long).

use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Clone, Debug)]
pub struct ChaosArgs {
    /// The seed of the fault schedule and the workload (random when omitted; printed
    /// either way).
    #[arg(long, value_parser = parse_seed)]
    pub seed: Option<u64>,
    /// Cluster size: 3 or 5 real `raftkv serve` processes.
    #[arg(long, default_value_t = 3, value_parser = parse_nodes)]
    pub nodes: u64,
    /// Length of the fault phase, e.g. 45s, 5m (default: 40s for ci, 5m for soak).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// ci: short episodes and a modest workload; soak: longer episodes, more clients,
    /// and episodes that combine two faults.
    #[arg(long, value_enum, default_value_t = Profile::Ci)]
    pub profile: Profile,
    /// Where to create the run directory (default: the system's temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Keep the run directory even when every check passes.
    #[arg(long)]
    pub keep: bool,
    /// Run the nodes with `serve --lease-reads` (reads from the leader's lease; see
    /// docs/design/core.md for its clock assumption, which SIGSTOP violates).
    #[arg(long)]
    pub lease_reads: bool,
    /// Print the seed and the fault schedule, and exit.
    #[arg(long)]
    pub dry_run: bool,
    /// Plant a lost write (for the harness's own test: the run must fail).
    #[arg(long, hide = true)]
    pub canary_lose_append: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    Ci,
    Soak,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Ci => "ci",
            Profile::Soak => "soak",
        }
    }
}

/// Everything a run's shape depends on, derived from the profile.
#[derive(Clone, Debug)]
pub struct Settings {
    pub seed: u64,
    pub nodes: u64,
    pub profile: Profile,
    /// Pass `--lease-reads` to every node.
    pub lease_reads: bool,
    /// How long faults are injected.
    pub fault_phase: Duration,
    /// How long the workload keeps running after the last heal.
    pub healed_phase: Duration,
    /// Shortest and longest hold of one fault episode.
    pub hold_ms: (u64, u64),
    /// Shortest and longest quiet gap between episodes.
    pub gap_ms: (u64, u64),
    /// Per mille of episodes that combine two faults.
    pub combined_per_mille: u32,
    pub native_clients: usize,
    pub resp_clients: usize,
    /// Pause between a client's operations (bounds the history the checker must search).
    pub think_ms: (u64, u64),
    /// The checker's time budget; running out is reported as "unknown", not a pass.
    pub check_budget: Duration,
}

impl Settings {
    pub fn from_args(args: &ChaosArgs) -> Settings {
        let seed = args.seed.unwrap_or_else(random_seed);
        match args.profile {
            Profile::Ci => Settings {
                seed,
                nodes: args.nodes,
                profile: args.profile,
                lease_reads: args.lease_reads,
                fault_phase: args.duration.unwrap_or(Duration::from_secs(40)),
                healed_phase: Duration::from_secs(4),
                hold_ms: (1_500, 3_500),
                gap_ms: (300, 1_200),
                combined_per_mille: 0,
                native_clients: 3,
                resp_clients: 2,
                think_ms: (1, 6),
                check_budget: Duration::from_secs(60),
            },
            Profile::Soak => Settings {
                seed,
                nodes: args.nodes,
                profile: args.profile,
                lease_reads: args.lease_reads,
                fault_phase: args.duration.unwrap_or(Duration::from_secs(300)),
                healed_phase: Duration::from_secs(8),
                hold_ms: (1_500, 8_000),
                gap_ms: (300, 3_000),
                combined_per_mille: 300,
                native_clients: 4,
                resp_clients: 3,
                think_ms: (1, 8),
                check_budget: Duration::from_secs(300),
            },
        }
    }

    /// The command that reruns this seed with the same options.
    pub fn rerun_command(&self) -> String {
        format!(
            "raftkv chaos --seed {} --nodes {} --profile {} --duration {}{}",
            self.seed,
            self.nodes,
            self.profile.name(),
            duration_text(self.fault_phase),
            if self.lease_reads {
                " --lease-reads"
            } else {
                ""
            }
        )
    }
}

/// A duration as `parse_duration` reads it back: whole seconds, else milliseconds.
fn duration_text(duration: Duration) -> String {
    match duration.as_millis() {
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

/// A seed from the clock and the process id: no OS randomness needed, and it is printed.
fn random_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64);
    // splitmix64 finalizer, so nearby clocks give unrelated seeds.
    let mut z = nanos ^ (u64::from(std::process::id()) << 32);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) % 1_000_000_000
}

fn parse_seed(text: &str) -> Result<u64, String> {
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| format!("{text:?} is not a seed (a decimal or 0x-hex u64)"))
}

fn parse_nodes(text: &str) -> Result<u64, String> {
    match text {
        "3" => Ok(3),
        "5" => Ok(5),
        _ => Err(format!("{text:?}: the harness runs 3 or 5 nodes")),
    }
}

/// `90`, `90s`, `5m`, `1h`, `1500ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration (e.g. 45s, 5m, 1h, 1500ms)");
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let duration = match unit {
        "" | "s" => Duration::from_secs(number),
        "ms" => Duration::from_millis(number),
        "m" => Duration::from_secs(number * 60),
        "h" => Duration::from_secs(number * 3600),
        _ => return Err(bad()),
    };
    if duration < Duration::from_secs(1) {
        return Err(format!("{text:?}: the fault phase must last at least 1s"));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_reject_garbage() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("10ms").is_err());
        for text in ["40s", "1500ms"] {
            assert_eq!(duration_text(parse_duration(text).unwrap()), text);
        }
    }

    #[test]
    fn seeds_and_node_counts_are_validated() {
        assert_eq!(parse_seed("0x10"), Ok(16));
        assert_eq!(parse_seed("42"), Ok(42));
        assert!(parse_seed("forty").is_err());
        assert_eq!(parse_nodes("5"), Ok(5));
        assert!(parse_nodes("4").is_err());
    }
}
