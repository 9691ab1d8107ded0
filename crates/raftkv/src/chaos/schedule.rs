//! The fault plan: a list of episodes derived only from the seed and the options, and
//! printed before anything runs. Each episode applies its faults, holds them, then heals
//! everything (all links pass, every node running) before a quiet gap.
//!
//! "The leader" is a target resolved when the episode starts (which node leads is a
//! matter of timing, not of the seed); the event log records the node chosen.

use super::args::Settings;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt;
use std::time::Duration;

/// A node named by the schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Whichever node leads when the episode starts.
    Leader,
    Node(u64),
}

/// One fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL, and restart (same data directory) when the episode heals.
    Kill(Vec<Target>),
    /// SIGSTOP for the whole hold (longer than the election timeout), then SIGCONT.
    Pause(Target),
    /// Every link between the two sides drops, both ways.
    Partition(Vec<u64>, Vec<u64>),
    /// The leader is cut off from every other node, both ways.
    IsolateLeader,
    /// Only the links into (`inbound`) or out of the node drop.
    OneWay { node: Target, inbound: bool },
    /// The sides cannot talk to each other; the bridge talks to both.
    Bridge {
        left: Vec<u64>,
        bridge: u64,
        right: Vec<u64>,
    },
    /// Every link delays its bytes by this much.
    Latency { ms: u64 },
    /// Every connection between nodes is cut this often.
    DropConnections { every_ms: u64 },
    /// The node is restarted with each fsync delayed this much, and restarted normally
    /// when the episode heals.
    SlowDisk { node: Target, ms: u64 },
}

/// Faults applied together, held, then healed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Episode {
    /// Offset from the start of the fault phase.
    pub start: Duration,
    pub hold: Duration,
    pub faults: Vec<Fault>,
}

impl Episode {
    pub fn end(&self) -> Duration {
        self.start + self.hold
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub episodes: Vec<Episode>,
}

/// The kinds of fault, drawn uniformly so every run covers a mix.
const KINDS: usize = 9;

impl Schedule {
    /// The plan for `settings`: episodes until the fault phase is over.
    pub fn generate(settings: &Settings) -> Schedule {
        let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
        let mut episodes = Vec::new();
        let mut at = Duration::from_millis(rng.gen_range(settings.gap_ms.0..=settings.gap_ms.1));
        // Kinds are dealt from shuffled decks so that short runs still see each kind.
        let mut deck = Vec::new();
        loop {
            let hold =
                Duration::from_millis(rng.gen_range(settings.hold_ms.0..=settings.hold_ms.1));
            if at + hold > settings.fault_phase {
                break;
            }
            let mut faults = vec![draw(&mut rng, &mut deck, settings.nodes)];
            if rng.gen_range(0..1000) < settings.combined_per_mille {
                let second = draw(&mut rng, &mut deck, settings.nodes);
                if compatible(&faults[0], &second) {
                    faults.push(second);
                }
            }
            episodes.push(Episode {
                start: at,
                hold,
                faults,
            });
            at +=
                hold + Duration::from_millis(rng.gen_range(settings.gap_ms.0..=settings.gap_ms.1));
        }
        Schedule { episodes }
    }

    /// When the last fault heals (zero when there are none).
    pub fn last_heal(&self) -> Duration {
        self.episodes.last().map_or(Duration::ZERO, Episode::end)
    }
}

/// Two network faults both rewrite link states, and two process faults may pick the
/// same node: combine only a network fault with a process fault.
fn compatible(first: &Fault, second: &Fault) -> bool {
    is_network(first) != is_network(second)
}

fn is_network(fault: &Fault) -> bool {
    !matches!(
        fault,
        Fault::Kill(_) | Fault::Pause(_) | Fault::SlowDisk { .. }
    )
}

fn draw(rng: &mut ChaCha8Rng, deck: &mut Vec<usize>, nodes: u64) -> Fault {
    if deck.is_empty() {
        deck.extend(0..KINDS);
        deck.shuffle(rng);
    }
    let kind = deck.pop().expect("refilled above");
    let ids: Vec<u64> = (1..=nodes).collect();
    match kind {
        0 => Fault::Kill(kill_targets(rng, &ids)),
        1 => Fault::Pause(target(rng, &ids)),
        2 => {
            let (left, right) = split(rng, &ids, ids.len() / 2);
            Fault::Partition(left, right)
        }
        3 => Fault::IsolateLeader,
        4 => Fault::OneWay {
            node: target(rng, &ids),
            inbound: rng.gen_bool(0.5),
        },
        5 => bridge(rng, &ids),
        6 => Fault::Latency {
            ms: rng.gen_range(20..=300),
        },
        7 => Fault::DropConnections {
            every_ms: rng.gen_range(100..=800),
        },
        _ => Fault::SlowDisk {
            node: target(rng, &ids),
            ms: rng.gen_range(5..=100),
        },
    }
}

/// The leader half the time, else a random node.
fn target(rng: &mut ChaCha8Rng, ids: &[u64]) -> Target {
    if rng.gen_bool(0.5) {
        Target::Leader
    } else {
        Target::Node(*ids.choose(rng).expect("nodes exist"))
    }
}

/// One node; in a five-node cluster half the time two at once (a majority survives).
fn kill_targets(rng: &mut ChaCha8Rng, ids: &[u64]) -> Vec<Target> {
    let first = target(rng, ids);
    if ids.len() < 5 || rng.gen_bool(0.5) {
        return vec![first];
    }
    let second = loop {
        let candidate = Target::Node(*ids.choose(rng).expect("nodes exist"));
        if candidate != first {
            break candidate;
        }
    };
    vec![first, second]
}

/// A random split: `left_size` nodes on the left, the rest on the right.
fn split(rng: &mut ChaCha8Rng, ids: &[u64], left_size: usize) -> (Vec<u64>, Vec<u64>) {
    let mut shuffled = ids.to_vec();
    shuffled.shuffle(rng);
    let mut left = shuffled[..left_size].to_vec();
    let mut right = shuffled[left_size..].to_vec();
    left.sort_unstable();
    right.sort_unstable();
    (left, right)
}

fn bridge(rng: &mut ChaCha8Rng, ids: &[u64]) -> Fault {
    let (mut left, right) = split(rng, ids, ids.len() / 2 + 1);
    let bridge = left.remove(rng.gen_range(0..left.len()));
    Fault::Bridge {
        left,
        bridge,
        right,
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Leader => f.write_str("the leader"),
            Target::Node(id) => write!(f, "node {id}"),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Kill(targets) => {
                let names: Vec<String> = targets.iter().map(Target::to_string).collect();
                write!(f, "SIGKILL {} (restart at heal)", names.join(" and "))
            }
            Fault::Pause(target) => write!(f, "SIGSTOP {target} (SIGCONT at heal)"),
            Fault::Partition(left, right) => write!(f, "partition {left:?} | {right:?}"),
            Fault::IsolateLeader => f.write_str("isolate the leader"),
            Fault::OneWay { node, inbound } => {
                let way = if *inbound { "into" } else { "out of" };
                write!(f, "one-way: drop links {way} {node}")
            }
            Fault::Bridge {
                left,
                bridge,
                right,
            } => write!(f, "bridge: {left:?} | {right:?}, node {bridge} sees both"),
            Fault::Latency { ms } => write!(f, "latency {ms} ms on every link"),
            Fault::DropConnections { every_ms } => {
                write!(f, "cut every connection every {every_ms} ms")
            }
            Fault::SlowDisk { node, ms } => write!(f, "slow disk on {node}: fsync +{ms} ms"),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for episode in &self.episodes {
            let faults: Vec<String> = episode.faults.iter().map(Fault::to_string).collect();
            writeln!(
                f,
                "  {:>7.1}s +{:>4.1}s  {}",
                episode.start.as_secs_f64(),
                episode.hold.as_secs_f64(),
                faults.join("; ")
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::args::{ChaosArgs, Profile};
    use super::*;

    fn settings(seed: u64, nodes: u64, profile: Profile) -> Settings {
        Settings::from_args(&ChaosArgs {
            seed: Some(seed),
            nodes,
            duration: None,
            profile,
            dir: None,
            keep: false,
            dry_run: false,
            lease_reads: false,
            canary_lose_append: false,
        })
    }

    #[test]
    fn the_schedule_depends_only_on_the_seed_and_options() {
        let a = Schedule::generate(&settings(7, 5, Profile::Ci));
        assert_eq!(a, Schedule::generate(&settings(7, 5, Profile::Ci)));
        assert_ne!(a, Schedule::generate(&settings(8, 5, Profile::Ci)));
    }

    #[test]
    fn episodes_fit_the_fault_phase_without_overlapping() {
        for seed in 0..50 {
            let settings = settings(seed, 5, Profile::Soak);
            let schedule = Schedule::generate(&settings);
            assert!(schedule.last_heal() <= settings.fault_phase);
            for pair in schedule.episodes.windows(2) {
                assert!(pair[0].end() < pair[1].start, "seed {seed}");
            }
        }
    }

    #[test]
    fn a_ci_run_covers_every_kind_of_fault() {
        let schedule = Schedule::generate(&settings(1, 3, Profile::Ci));
        let kinds: std::collections::HashSet<std::mem::Discriminant<Fault>> = schedule
            .episodes
            .iter()
            .flat_map(|episode| episode.faults.iter().map(std::mem::discriminant))
            .collect();
        assert_eq!(kinds.len(), KINDS, "{schedule}");
    }

    #[test]
    fn partitions_and_bridges_cover_every_node_once() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let ids = [1, 2, 3, 4, 5];
        for _ in 0..20 {
            let Fault::Bridge {
                left,
                bridge,
                right,
            } = bridge(&mut rng, &ids)
            else {
                unreachable!()
            };
            let mut all: Vec<u64> = left.iter().chain(&right).copied().collect();
            all.push(bridge);
            all.sort_unstable();
            assert_eq!(all, ids);
            assert!(!left.is_empty() && !right.is_empty());
        }
    }
}
