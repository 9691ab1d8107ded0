//! `raftkv bench`: a load generator for any RESP server (redis-server too) and for the
//! native client. Closed or open loop, warm-up, pipelining; a progress bar while it
//! runs, then throughput and latency percentiles from HDR histograms as a table or JSON,
//! and optionally an SVG chart of latency per second.
//!
//! One concept per module: [`args`] (options and their checks), [`load`] (the clients'
//! loops and the open-loop schedule), [`resp`] and [`native`] (the protocol drivers),
//! [`histogram`] (recording), [`report`] (percentiles, table, JSON), [`chart`] (SVG),
//! [`progress`] (the bar), [`timer`] (sub-millisecond waits for the open loop).

mod args;
mod chart;
mod histogram;
mod load;
mod native;
mod progress;
mod report;
mod resp;
mod timer;

pub use args::BenchArgs;
use args::{Plan, Protocol};
use bytes::Bytes;
use histogram::Shared;
use load::{ClientLoad, KeySpace, Tickets};
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

pub async fn bench(args: BenchArgs) -> Result<(), String> {
    let mut plan = args.plan()?;
    preflight(&mut plan).await?;
    let plan = Arc::new(plan);
    let keys = Arc::new(KeySpace::new(plan.keys));
    let value = Bytes::from(vec![b'x'; plan.value_size]);
    let tickets = Arc::new(Tickets::new(plan.stop));
    let shared = Shared::default();
    let load_at_start = report::load_average();
    let start = tokio::time::Instant::now();
    let visible = !args.no_progress && std::io::stderr().is_terminal();
    let progress = progress::Progress::start(&plan, shared.clone(), start, visible);
    let timer = plan.rate.map(|_| timer::Timer::start());
    let mut tasks = Vec::with_capacity(plan.clients);
    for client in 0..plan.clients {
        tasks.push(tokio::spawn(load::run_client(ClientLoad {
            client,
            plan: plan.clone(),
            keys: keys.clone(),
            value: value.clone(),
            tickets: tickets.clone(),
            recorder: shared.recorder(),
            start,
            timer: timer.clone(),
        })));
    }
    let mut last = Duration::ZERO;
    for task in tasks {
        let finished = task
            .await
            .map_err(|error| format!("benchmark client: {error}"))?;
        last = last.max(finished.unwrap_or_default());
    }
    progress.finish();
    let elapsed = last.saturating_sub(plan.warmup);
    let mut report = report::Report::new((*plan).clone(), elapsed, &shared.results());
    report.load_average = load_at_start.zip(report::load_average());
    if args.json {
        println!("{:#}", report.json());
    } else {
        print!("{}", report.table());
    }
    if let Some(path) = &args.chart {
        let title = format!(
            "raftkv bench: {} {} clients, pipeline {}, {}% reads, {} B values: {:.0} requests/s",
            plan.protocol.name(),
            plan.clients,
            plan.pipeline,
            plan.read_percent,
            plan.value_size,
            report.throughput()
        );
        std::fs::write(path, chart::render(&report.timeline, &title))
            .map_err(|error| format!("--chart {}: {error}", path.display()))?;
    }
    if report.all.count == 0 {
        return Err(format!(
            "no request succeeded ({} errors): is the cluster up and does it have a leader?",
            report.errors
        ));
    }
    Ok(())
}

/// Fails fast, with advice, when the servers cannot be reached; for the native client,
/// learns every node's address so clients find the leader.
async fn preflight(plan: &mut Plan) -> Result<(), String> {
    let advice = "Start a cluster with `raftkv cluster` (or scripts/bench-cluster), or pass --addr HOST:PORT.";
    match plan.protocol {
        Protocol::Native => {
            plan.addresses = native::discover(&plan.addresses)
                .await
                .map_err(|error| format!("{error}\n{advice}"))?;
        }
        Protocol::Resp => {
            for &address in &plan.addresses {
                resp::RespConnection::connect(address, Duration::from_secs(5))
                    .await
                    .map_err(|error| format!("{address}: {error}\n{advice}"))?;
            }
        }
    }
    Ok(())
}
