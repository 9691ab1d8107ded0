//! `raftkv bench`: throughput and latency with concurrent native clients.

use crate::client_commands::{client, client_error, Target};
use bytes::Bytes;
use clap::Args;
use server::client::{Client, ClientError, ClientOptions};

#[derive(Args)]
pub struct BenchArgs {
    /// Concurrent clients (each one request at a time).
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// Requests in total.
    #[arg(long, default_value_t = 20_000)]
    pub requests: usize,
    /// Bytes per value written.
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Distinct keys.
    #[arg(long, default_value_t = 1000)]
    pub keys: usize,
    /// Percentage of requests that are reads (the rest are puts).
    #[arg(long, default_value_t = 0)]
    pub read_percent: u8,
    #[command(flatten)]
    pub target: Target,
}

pub async fn bench(args: BenchArgs) -> Result<(), String> {
    if args.clients == 0 || args.keys == 0 || args.read_percent > 100 {
        return Err("--clients and --keys must be positive, --read-percent at most 100".into());
    }
    let mut probe = client(&args.target);
    probe
        .discover()
        .await
        .map_err(|error| client_error(&args.target, error))?;
    let addresses = probe.addresses().to_vec();
    let value = Bytes::from(vec![b'x'; args.value_size]);
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..args.clients {
        let count =
            args.requests / args.clients + usize::from(worker < args.requests % args.clients);
        let mut client = Client::new(addresses.clone(), ClientOptions::default());
        let value = value.clone();
        let (keys, read_percent) = (args.keys, args.read_percent as usize);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(count);
            for i in 0..count {
                // A cheap deterministic spread over keys and over reads / writes.
                let n = worker
                    .wrapping_mul(7919)
                    .wrapping_add(i.wrapping_mul(104_729));
                let key = format!("bench-{}", n % keys);
                let begin = std::time::Instant::now();
                if n % 100 < read_percent {
                    client.get(key).await?;
                } else {
                    client.put(key, value.clone()).await?;
                }
                latencies.push(begin.elapsed());
            }
            Ok::<_, ClientError>(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(args.requests);
    for task in tasks {
        let worker = task
            .await
            .map_err(|error| format!("benchmark task: {error}"))?
            .map_err(|error| format!("benchmark request failed: {error}"))?;
        latencies.extend(worker);
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let percentile = |p: f64| {
        let index = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[index]
    };
    if latencies.is_empty() {
        return Err("--requests must be positive".into());
    }
    println!(
        "{} requests ({}% reads, {}-byte values, {} keys) from {} clients in {:.2?}",
        latencies.len(),
        args.read_percent,
        args.value_size,
        args.keys,
        args.clients,
        elapsed
    );
    println!(
        "throughput: {:.0} requests/s",
        latencies.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "latency: p50 {:.2?}  p90 {:.2?}  p99 {:.2?}  max {:.2?}",
        percentile(0.50),
        percentile(0.90),
        percentile(0.99),
        latencies[latencies.len() - 1]
    );
    Ok(())
}
