//! `raftkv chaos`: real `raftkv serve` processes on loopback behind fault-injecting
//! proxies, concurrent native and RESP clients, a seeded fault schedule, and after a
//! healed phase the checks: linearizable history, no lost acknowledged write, service
//! again within 5 s of the last heal. See docs/chaos.md.

mod args;
mod canary;
mod check;
mod faults;
mod history;
mod nodes;
mod ports;
mod process;
mod proxy;
mod report;
mod resp_client;
mod schedule;
mod workload;

pub use args::ChaosArgs;

use args::Settings;
use check::{FinalValues, Findings};
use faults::EventLog;
use history::{Record, Recorder};
use linearizability::kv::{KvInput, KvOutput};
use nodes::Cluster;
use report::RunDir;
use schedule::Schedule;
use server::client::Client;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use workload::{native_call, native_options, Called, Context};

/// How long the cluster may take to serve its first write.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the recovery probe keeps trying (to say how late it was, past the bound).
const PROBE_PATIENCE: Duration = Duration::from_secs(20);

pub async fn chaos(args: ChaosArgs) -> Result<(), String> {
    let settings = Settings::from_args(&args);
    let schedule = Schedule::generate(&settings);
    let plan = plan_text(&settings, &schedule);
    print!("{plan}");
    if args.dry_run {
        return Ok(());
    }
    let dir = RunDir::create(args.dir.as_deref(), settings.seed)?;
    dir.write("schedule.txt", &plan)?;
    println!("run directory: {}", dir.path.display());
    let rerun = settings.rerun_command();
    let start = Instant::now();
    let mut log = EventLog::new(start);
    let recorder = Recorder::new(start);
    let result = run(
        &settings,
        &schedule,
        &dir,
        (&recorder, &mut log),
        args.canary_lose_append,
    )
    .await;
    match result {
        Ok((findings, _)) if findings.passed() => {
            println!("{}\nPASS (seed {})", findings.summary(), settings.seed);
            if !args.keep {
                dir.remove();
            }
            Ok(())
        }
        Ok((findings, records)) => {
            println!("{}", findings.summary());
            dir.keep_failure(&log.lines, &records, &findings, &rerun)?;
            Err(failure_message(&settings, &dir, &rerun))
        }
        Err(error) => {
            log.note(format!("harness error: {error}"));
            dir.keep_harness_error(&log.lines, &recorder.records(), &error, &rerun)?;
            Err(failure_message(&settings, &dir, &rerun))
        }
    }
}

fn failure_message(settings: &Settings, dir: &RunDir, rerun: &str) -> String {
    format!(
        "chaos run FAILED (seed {}); kept {}\nrerun: {rerun}\n   or: cargo run --release -p raftkv -- {}",
        settings.seed,
        dir.path.display(),
        rerun.trim_start_matches("raftkv ")
    )
}

fn plan_text(settings: &Settings, schedule: &Schedule) -> String {
    format!(
        "raftkv chaos: seed {} ({} nodes, profile {}, fault phase {}s, healed phase {}s{})\n\
         clients: {} native, {} RESP\nfault schedule ({} episodes, last heal at {:.1}s):\n{schedule}",
        settings.seed,
        settings.nodes,
        settings.profile.name(),
        settings.fault_phase.as_secs(),
        settings.healed_phase.as_secs(),
        if settings.lease_reads { ", lease reads" } else { "" },
        settings.native_clients,
        settings.resp_clients,
        schedule.episodes.len(),
        schedule.last_heal().as_secs_f64(),
    )
}

/// The findings, and the history they judged (doctored, with the canary).
type RunOutcome = (Findings, Vec<Record>);

async fn run(
    settings: &Settings,
    schedule: &Schedule,
    dir: &RunDir,
    (recorder, log): (&Recorder, &mut EventLog),
    canary: bool,
) -> Result<RunOutcome, String> {
    let mut cluster = Cluster::launch(settings.nodes, &dir.path, settings.lease_reads).await?;
    if !cluster.has_fsync_delay {
        log.note("note: serve has no --debug-fsync-delay-ms; slow-disk episodes are skipped");
    }
    let result = exercise(settings, schedule, &mut cluster, recorder, log).await;
    cluster.shutdown().await;
    let exercised = result?;
    log.note("cluster stopped; checking the history");
    let mut records = recorder.records();
    let findings = judge(settings, exercised, &mut records, canary, log).await?;
    Ok((findings, records))
}

/// The checks, on the history and final values of a finished run.
async fn judge(
    settings: &Settings,
    (recovery, mut other_failures, mut finals): Exercised,
    records: &mut [Record],
    canary: bool,
    log: &mut EventLog,
) -> Result<Findings, String> {
    if canary {
        let doctored = canary::lose_last_append(records, &mut finals);
        log.note(doctored.unwrap_or_else(|| "canary: no acknowledged append to lose".into()));
    }
    other_failures.extend(missing_final_reads(records, &finals));
    other_failures.extend(check::duplicated_appends(&finals));
    let budget = settings.check_budget;
    let history = records.to_vec();
    // The search is CPU-bound: off the async workers.
    let linearizability =
        tokio::task::spawn_blocking(move || check::check_history(&history, budget))
            .await
            .map_err(|error| format!("the checker panicked: {error}"))?;
    let unknown = records
        .iter()
        .filter(|record| record.completion == history::Completion::Unknown)
        .count();
    log.note(format!(
        "checked {} operations ({unknown} writes without a reply, possibly applied)",
        records.len()
    ));
    Ok(Findings {
        linearizability,
        lost_writes: check::lost_appends(records, &finals),
        recovery,
        other_failures,
    })
}

type Exercised = (Result<Duration, String>, Vec<String>, FinalValues);

/// Start-up, the fault phase, the healed phase, the final reads.
async fn exercise(
    settings: &Settings,
    schedule: &Schedule,
    cluster: &mut Cluster,
    recorder: &Recorder,
    log: &mut EventLog,
) -> Result<Exercised, String> {
    let addresses = cluster.client_addresses();
    wait_until_serving(&addresses, cluster).await?;
    log.note("cluster serving; clients start");
    let stop = Arc::new(AtomicBool::new(false));
    let clients = spawn_clients(settings, recorder, &addresses, &stop);
    let phase_start = tokio::time::Instant::now();
    let mut crashes = Vec::new();
    for episode in &schedule.episodes {
        tokio::time::sleep_until(phase_start + episode.start).await;
        crashes.extend(faults::run_episode(cluster, episode, log).await?);
    }
    let healed = Instant::now();
    log.note("last fault healed; probing recovery");
    let recovery = probe_recovery(&addresses, recorder, healed).await;
    log.note(match &recovery {
        Ok(took) => format!("recovered {:.2}s after the last heal", took.as_secs_f64()),
        Err(why) => format!("no recovery: {why}"),
    });
    tokio::time::sleep_until(tokio::time::Instant::from_std(
        healed + settings.healed_phase,
    ))
    .await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        let _ = client.await;
    }
    log.note("clients stopped; reading every key");
    let finals = final_reads(&addresses, recorder).await;
    crashes.extend(cluster.crashed());
    Ok((recovery, crashes, finals))
}

fn spawn_clients(
    settings: &Settings,
    recorder: &Recorder,
    addresses: &[SocketAddr],
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let context = Context {
        recorder: recorder.clone(),
        addresses: addresses.to_vec(),
        stop: stop.clone(),
        seed: settings.seed,
        think_ms: settings.think_ms,
    };
    let native = (0..settings.native_clients)
        .map(|index| tokio::spawn(workload::native_client(index, context.clone())));
    let resp = (0..settings.resp_clients)
        .map(|index| tokio::spawn(workload::resp_client(index, context.clone())));
    native.chain(resp).collect()
}

/// Waits for a first write to succeed (not part of the history).
async fn wait_until_serving(addresses: &[SocketAddr], cluster: &mut Cluster) -> Result<(), String> {
    let mut client = Client::new(addresses.to_vec(), native_options(STARTUP_TIMEOUT));
    match client.put("chaos-ready", "1").await {
        Ok(()) => Ok(()),
        Err(error) => {
            let crashes = cluster.crashed();
            Err(format!(
                "the cluster did not serve a write within {}s: {error} {crashes:?}",
                STARTUP_TIMEOUT.as_secs()
            ))
        }
    }
}

/// A write then a read on a fresh client, timed from the last heal.
async fn probe_recovery(
    addresses: &[SocketAddr],
    recorder: &Recorder,
    healed: Instant,
) -> Result<Duration, String> {
    let mut client = Client::new(addresses.to_vec(), native_options(PROBE_PATIENCE));
    let mut id = recorder.new_client();
    for attempt in 1.. {
        if healed.elapsed() > PROBE_PATIENCE {
            return Err(format!(
                "no write and read completed within {}s",
                PROBE_PATIENCE.as_secs()
            ));
        }
        let value = format!("probe.{attempt};");
        let write = native_call(&mut client, recorder, id, KvInput::put("probe", value)).await;
        if write != Called::Answered(KvOutput::Done) {
            id = recorder.new_client();
            continue;
        }
        if let Called::Answered(_) =
            native_call(&mut client, recorder, id, KvInput::get("probe")).await
        {
            return Ok(healed.elapsed());
        }
    }
    unreachable!("the loop returns")
}

/// Reads every key the history touched (the reads join the history, so the checker
/// also judges them).
async fn final_reads(addresses: &[SocketAddr], recorder: &Recorder) -> FinalValues {
    let keys: BTreeSet<Vec<u8>> = recorder
        .records()
        .iter()
        .map(|record| record.input.key().to_vec())
        .collect();
    let mut client = Client::new(addresses.to_vec(), native_options(Duration::from_secs(10)));
    let id = recorder.new_client();
    let mut finals = FinalValues::new();
    for key in keys {
        if let Called::Answered(KvOutput::Value(value)) =
            native_call(&mut client, recorder, id, KvInput::Get { key: key.clone() }).await
        {
            finals.insert(key, value);
        }
    }
    finals
}

fn missing_final_reads(records: &[Record], finals: &FinalValues) -> Vec<String> {
    let keys: BTreeSet<&[u8]> = records.iter().map(|record| record.input.key()).collect();
    keys.into_iter()
        .filter(|key| !finals.contains_key(*key))
        .map(|key| format!("final read of {} failed", String::from_utf8_lossy(key)))
        .collect()
}
