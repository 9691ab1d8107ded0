//! Carrying out the schedule: apply an episode's faults, hold, heal; and the event log
//! that says what happened when (which node "the leader" turned out to be, ...).

use super::nodes::Cluster;
use super::proxy::LinkState;
use super::schedule::{Episode, Fault, Target};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// What the harness did, with times since the run's start; printed as it happens.
pub struct EventLog {
    start: Instant,
    pub lines: Vec<String>,
}

impl EventLog {
    pub fn new(start: Instant) -> EventLog {
        EventLog {
            start,
            lines: Vec::new(),
        }
    }

    pub fn note(&mut self, text: impl AsRef<str>) {
        let line = format!(
            "[{:>8.3}s] {}",
            self.start.elapsed().as_secs_f64(),
            text.as_ref()
        );
        println!("{line}");
        self.lines.push(line);
    }
}

/// How long to look for a leader before falling back to another node.
const LEADER_PATIENCE: Duration = Duration::from_secs(2);

/// Applies `episode`, holds it, heals. Returns crashes seen (nodes that died unasked).
pub async fn run_episode(
    cluster: &mut Cluster,
    episode: &Episode,
    log: &mut EventLog,
) -> Result<Vec<String>, String> {
    let mut background = Vec::new();
    let mut taken = Vec::new();
    for fault in &episode.faults {
        apply(cluster, fault, &mut taken, &mut background, log).await?;
    }
    tokio::time::sleep(episode.hold).await;
    for task in background {
        task.abort();
    }
    let crashes = cluster.heal().await?;
    log.note("healed: every link passes, every node runs");
    for crash in &crashes {
        log.note(format!("CRASH: {crash}"));
    }
    Ok(crashes)
}

/// Resolves a target to a node not in `taken` (two kills in one episode hit two nodes).
async fn resolve(
    cluster: &Cluster,
    target: Target,
    taken: &mut Vec<u64>,
    log: &mut EventLog,
) -> u64 {
    let wanted = match target {
        Target::Node(id) => Some(id),
        Target::Leader => cluster.leader(LEADER_PATIENCE).await,
    };
    let chosen = match wanted {
        Some(id) if !taken.contains(&id) => id,
        _ => *cluster
            .ids()
            .iter()
            .find(|id| !taken.contains(id))
            .expect("fewer targets than nodes"),
    };
    if target == Target::Leader {
        log.note(match wanted {
            Some(id) if id == chosen => format!("the leader is node {id}"),
            Some(id) => format!("the leader, node {id}, is already hit; node {chosen} instead"),
            None => format!("no leader found; node {chosen} instead"),
        });
    }
    taken.push(chosen);
    chosen
}

async fn apply(
    cluster: &mut Cluster,
    fault: &Fault,
    taken: &mut Vec<u64>,
    background: &mut Vec<JoinHandle<()>>,
    log: &mut EventLog,
) -> Result<(), String> {
    log.note(format!("fault: {fault}"));
    match fault {
        Fault::Kill(targets) => {
            for target in targets {
                let id = resolve(cluster, *target, taken, log).await;
                cluster.kill(id).await;
            }
        }
        Fault::Pause(target) => {
            let id = resolve(cluster, *target, taken, log).await;
            cluster.pause(id);
        }
        Fault::Partition(left, right) => cluster.network.separate(left, right),
        Fault::IsolateLeader => {
            let leader = resolve(cluster, Target::Leader, taken, log).await;
            let others: Vec<u64> = cluster
                .ids()
                .into_iter()
                .filter(|&id| id != leader)
                .collect();
            cluster.network.separate(&[leader], &others);
        }
        Fault::OneWay { node, inbound } => {
            let id = resolve(cluster, *node, taken, log).await;
            for other in cluster.ids().into_iter().filter(|&other| other != id) {
                let (from, to) = if *inbound { (other, id) } else { (id, other) };
                cluster.network.set(from, to, LinkState::Drop);
            }
        }
        Fault::Bridge { left, right, .. } => cluster.network.separate(left, right),
        Fault::Latency { ms } => cluster
            .network
            .set_all(LinkState::Delay(Duration::from_millis(*ms))),
        Fault::DropConnections { every_ms } => {
            let network = cluster.network.clone();
            let every = Duration::from_millis(*every_ms);
            background.push(tokio::spawn(async move {
                loop {
                    network.cut_all();
                    tokio::time::sleep(every).await;
                }
            }));
        }
        Fault::SlowDisk { node, ms } => {
            if !cluster.has_fsync_delay {
                log.note("skipped: this raftkv serve has no --debug-fsync-delay-ms");
                return Ok(());
            }
            let id = resolve(cluster, *node, taken, log).await;
            cluster.slow_down(id, *ms).await?;
        }
    }
    Ok(())
}
