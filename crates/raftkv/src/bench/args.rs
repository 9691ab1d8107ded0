//! `raftkv bench`'s options, and their validation into a [`Plan`].

use clap::{Args, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Which protocol the clients speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// RESP2 (what redis-server and redis-cli speak): `SET key value`, `GET key`.
    Resp,
    /// raftkv's native protocol, through `server::client::Client` (exactly-once
    /// writes, linearizable reads, leader discovery).
    Native,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Resp => "resp",
            Protocol::Native => "native",
        }
    }
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Protocol: resp (any RESP server, redis-server too) or native.
    #[arg(long, value_enum, default_value_t = Protocol::Native)]
    pub protocol: Protocol,
    /// Concurrent clients (connections).
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// How long to measure, after the warm-up (e.g. 10s, 500ms, 2m); the default when
    /// --requests is not given.
    #[arg(long, value_parser = parse_duration, conflicts_with = "requests")]
    pub duration: Option<Duration>,
    /// Measure this many requests (after the warm-up) instead of a duration.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Distinct keys (chosen uniformly at random).
    #[arg(long, default_value_t = 1000)]
    pub keys: u64,
    /// Bytes per value written.
    #[arg(long, default_value_t = 256)]
    pub value_size: usize,
    /// Percentage of requests that are reads (GET); the rest are writes (SET / put).
    #[arg(long, default_value_t = 0)]
    pub read_percent: u8,
    /// Requests each client sends before waiting for the replies (RESP only; the
    /// native client has one request in flight).
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,
    /// Load before measuring (not counted), e.g. 2s; 0s for none.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub warmup: Duration,
    /// Open loop: send this many requests per second in total, spread evenly over the
    /// clients, and measure latency from each request's intended send time (queueing
    /// is not hidden). Without it: closed loop (each client sends as soon as its
    /// previous replies arrived).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Write an SVG chart of latency percentiles (and throughput) per second to FILE.
    #[arg(long, value_name = "FILE")]
    pub chart: Option<PathBuf>,
    /// Server addresses (repeat or separate with commas). RESP clients are spread
    /// round-robin over them (give the leader only, or every node); the native client
    /// discovers the leader from any of them.
    #[arg(long, value_delimiter = ',', num_args = 1.., default_value = "127.0.0.1:7001")]
    pub addr: Vec<SocketAddr>,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

/// When the measurement ends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stop {
    /// After this long (from the end of the warm-up).
    After(Duration),
    /// After this many requests (counted from the end of the warm-up).
    Requests(u64),
}

/// The validated run.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub protocol: Protocol,
    pub clients: usize,
    pub stop: Stop,
    pub keys: u64,
    pub value_size: usize,
    pub read_percent: u8,
    pub pipeline: usize,
    pub warmup: Duration,
    /// Requests per second in total (open loop), or `None` (closed loop).
    pub rate: Option<f64>,
    pub addresses: Vec<SocketAddr>,
}

const DEFAULT_DURATION: Duration = Duration::from_secs(10);

impl BenchArgs {
    /// Checks the options; the error says which one is wrong.
    pub fn plan(&self) -> Result<Plan, String> {
        if self.clients == 0 {
            return Err("--clients must be at least 1".into());
        }
        if self.keys == 0 {
            return Err("--keys must be at least 1".into());
        }
        if self.read_percent > 100 {
            return Err("--read-percent must be at most 100".into());
        }
        if self.pipeline == 0 {
            return Err("--pipeline must be at least 1".into());
        }
        if self.pipeline > 1 && self.protocol == Protocol::Native {
            return Err(
                "--pipeline: the native client has one request in flight; use more --clients, or --protocol resp"
                    .into(),
            );
        }
        if let Some(rate) = self.rate {
            if !(rate.is_finite() && rate > 0.0) {
                return Err("--rate must be a positive number of requests per second".into());
            }
        }
        if self.addr.is_empty() {
            return Err("--addr: give at least one address".into());
        }
        let stop = match (self.duration, self.requests) {
            (_, Some(0)) => return Err("--requests must be at least 1".into()),
            (_, Some(requests)) => Stop::Requests(requests),
            (Some(duration), None) if duration.is_zero() => {
                return Err("--duration must be positive".into())
            }
            (Some(duration), None) => Stop::After(duration),
            (None, None) => Stop::After(DEFAULT_DURATION),
        };
        Ok(Plan {
            protocol: self.protocol,
            clients: self.clients,
            stop,
            keys: self.keys,
            value_size: self.value_size,
            read_percent: self.read_percent,
            pipeline: self.pipeline,
            warmup: self.warmup,
            rate: self.rate,
            addresses: self.addr.clone(),
        })
    }
}

/// Parses `10s`, `500ms`, `2m`, `1.5s`, `250us`, or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (e.g. 10s, 500ms, 2m)"))?;
    let seconds = match unit.trim() {
        "" | "s" => number,
        "ms" => number / 1e3,
        "us" | "µs" => number / 1e6,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}` (use ms, s, m or h)"
            ))
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|error| format!("`{text}`: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    fn parse(arguments: &[&str]) -> Result<Plan, String> {
        let cli = Cli::try_parse_from(std::iter::once("bench").chain(arguments.iter().copied()))
            .map_err(|error| error.to_string())?;
        cli.bench.plan()
    }

    #[test]
    fn durations_parse_with_and_without_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn no_options_is_a_ten_second_closed_loop_native_run_on_the_cluster_default_port() {
        let plan = parse(&[]).unwrap();
        assert_eq!(plan.protocol, Protocol::Native);
        assert_eq!(plan.stop, Stop::After(Duration::from_secs(10)));
        assert_eq!(plan.rate, None);
        assert_eq!(plan.addresses, vec!["127.0.0.1:7001".parse().unwrap()]);
        assert_eq!(plan.pipeline, 1);
    }

    #[test]
    fn several_addresses_by_comma_or_repetition() {
        let plan = parse(&["--addr", "127.0.0.1:1,127.0.0.1:2", "--addr", "127.0.0.1:3"]).unwrap();
        assert_eq!(plan.addresses.len(), 3);
    }

    #[test]
    fn requests_or_duration_but_not_both() {
        assert_eq!(parse(&["--requests", "5"]).unwrap().stop, Stop::Requests(5));
        assert!(parse(&["--requests", "5", "--duration", "1s"]).is_err());
        assert!(parse(&["--requests", "0"]).is_err());
        assert!(parse(&["--duration", "0s"]).is_err());
    }

    #[test]
    fn invalid_options_are_refused_with_the_option_named() {
        for (arguments, option) in [
            (&["--clients", "0"][..], "--clients"),
            (&["--keys", "0"], "--keys"),
            (&["--read-percent", "101"], "--read-percent"),
            (&["--pipeline", "0"], "--pipeline"),
            (&["--pipeline", "4"], "--pipeline"), // native
            (&["--rate", "0"], "--rate"),
            (&["--rate=-5"], "--rate"),
        ] {
            let error = parse(arguments).unwrap_err();
            assert!(error.contains(option), "{arguments:?}: {error}");
        }
        let plan = parse(&["--protocol", "resp", "--pipeline", "16", "--rate", "1000"]).unwrap();
        assert_eq!((plan.pipeline, plan.rate), (16, Some(1000.0)));
    }
}
