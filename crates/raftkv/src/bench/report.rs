//! The end-of-run report: throughput and latency percentiles (p50 / p90 / p99 / p99.9 /
//! max) from the HDR histograms, as a table or as JSON.

use super::args::{Plan, Stop};
use super::histogram::Results;
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::time::Duration;

/// Latency figures of one histogram, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Percentiles {
    pub fn of(histogram: &Histogram<u64>) -> Percentiles {
        // `highest_equivalent` reports the top of the value's bucket (an upper bound, as
        // HdrHistogram's own percentile output does).
        let at = |quantile: f64| {
            if histogram.is_empty() {
                0
            } else {
                histogram.highest_equivalent(histogram.value_at_quantile(quantile))
            }
        };
        Percentiles {
            count: histogram.len(),
            mean: if histogram.is_empty() {
                0.0
            } else {
                histogram.mean()
            },
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p999: at(0.999),
            max: if histogram.is_empty() {
                0
            } else {
                histogram.highest_equivalent(histogram.max())
            },
        }
    }

    fn json(&self) -> Value {
        json!({
            "count": self.count,
            "mean_us": (self.mean * 10.0).round() / 10.0,
            "p50_us": self.p50,
            "p90_us": self.p90,
            "p99_us": self.p99,
            "p99_9_us": self.p999,
            "max_us": self.max,
        })
    }
}

/// One second of the run, for the chart and the JSON timeline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Second {
    /// Seconds since the end of the warm-up.
    pub second: usize,
    pub latency: Percentiles,
}

/// Everything the report says.
pub struct Report {
    pub plan: Plan,
    /// From the end of the warm-up to the last measured reply.
    pub elapsed: Duration,
    pub all: Percentiles,
    pub gets: Percentiles,
    pub puts: Percentiles,
    pub errors: u64,
    pub timeline: Vec<Second>,
    /// The machine's 1-minute load average at the start and at the end of the run
    /// (`/proc/loadavg`; unknown elsewhere): other work on the machine skews figures.
    pub load_average: Option<(f64, f64)>,
}

/// The 1-minute load average, where the system tells it.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

impl Report {
    pub fn new(plan: Plan, elapsed: Duration, results: &Results) -> Report {
        Report {
            plan,
            elapsed,
            all: Percentiles::of(&results.combined()),
            gets: Percentiles::of(&results.gets),
            puts: Percentiles::of(&results.puts),
            errors: results.errors,
            timeline: results
                .seconds
                .iter()
                .enumerate()
                .map(|(second, histogram)| Second {
                    second,
                    latency: Percentiles::of(histogram),
                })
                .collect(),
            load_average: None,
        }
    }

    /// Successful requests per second.
    pub fn throughput(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.all.count as f64 / seconds
        } else {
            0.0
        }
    }

    fn mode(&self) -> String {
        match self.plan.rate {
            Some(rate) => format!("open loop at {rate} requests/s"),
            None => "closed loop".into(),
        }
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let plan = &self.plan;
        let mut out = String::new();
        let addresses: Vec<String> = plan.addresses.iter().map(|a| a.to_string()).collect();
        let _ = writeln!(
            out,
            "{} {}, {} clients x pipeline {}, {}% reads, {}-byte values, {} keys, against {}",
            plan.protocol.name(),
            self.mode(),
            plan.clients,
            plan.pipeline,
            plan.read_percent,
            plan.value_size,
            plan.keys,
            addresses.join(",")
        );
        let stop = match plan.stop {
            Stop::After(duration) => format!("{duration:?}"),
            Stop::Requests(requests) => format!("{requests} requests"),
        };
        let _ = writeln!(
            out,
            "measured {} after a {:?} warm-up: {} requests in {:.2?}, {} errors",
            stop, plan.warmup, self.all.count, self.elapsed, self.errors
        );
        let _ = writeln!(out, "throughput: {:.0} requests/s", self.throughput());
        if let Some((start, end)) = self.load_average {
            let _ = writeln!(
                out,
                "load average (1 min) at start {start:.2}, at end {end:.2} (2+ per core means other work skewed the figures)"
            );
        }
        let _ = writeln!(
            out,
            "{:<6} {:>10} {:>12} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "", "requests", "requests/s", "mean", "p50", "p90", "p99", "p99.9", "max"
        );
        let seconds = self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
        for (name, figures) in [("get", &self.gets), ("put", &self.puts), ("all", &self.all)] {
            if figures.count == 0 && name != "all" {
                continue;
            }
            let _ = writeln!(
                out,
                "{:<6} {:>10} {:>12.0} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                name,
                figures.count,
                figures.count as f64 / seconds,
                milliseconds(figures.mean.round() as u64),
                milliseconds(figures.p50),
                milliseconds(figures.p90),
                milliseconds(figures.p99),
                milliseconds(figures.p999),
                milliseconds(figures.max)
            );
        }
        let _ = writeln!(out, "(latencies in milliseconds)");
        out
    }

    /// The same figures as JSON (latencies in microseconds).
    pub fn json(&self) -> Value {
        let plan = &self.plan;
        let (duration_seconds, requests) = match plan.stop {
            Stop::After(duration) => (Some(duration.as_secs_f64()), None),
            Stop::Requests(requests) => (None, Some(requests)),
        };
        json!({
            "protocol": plan.protocol.name(),
            "mode": if plan.rate.is_some() { "open" } else { "closed" },
            "rate": plan.rate,
            "addresses": plan.addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "clients": plan.clients,
            "pipeline": plan.pipeline,
            "keys": plan.keys,
            "value_size": plan.value_size,
            "read_percent": plan.read_percent,
            "warmup_seconds": plan.warmup.as_secs_f64(),
            "duration_seconds": duration_seconds,
            "requests": requests,
            "elapsed_seconds": self.elapsed.as_secs_f64(),
            "operations": self.all.count,
            "errors": self.errors,
            "throughput_per_second": (self.throughput() * 10.0).round() / 10.0,
            "load_average": self.load_average.map(|(start, end)| json!({"start": start, "end": end})),
            "latency": self.all.json(),
            "get": self.gets.json(),
            "put": self.puts.json(),
            "timeline": self.timeline.iter().map(|second| {
                let mut value = second.latency.json();
                value["second"] = json!(second.second);
                value
            }).collect::<Vec<_>>(),
        })
    }
}

/// Microseconds as milliseconds with three decimals.
fn milliseconds(us: u64) -> String {
    format!("{}.{:03}", us / 1000, us % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::args::Protocol;
    use crate::bench::histogram::Kind;

    fn plan() -> Plan {
        Plan {
            protocol: Protocol::Resp,
            clients: 4,
            stop: Stop::After(Duration::from_secs(2)),
            keys: 10,
            value_size: 256,
            read_percent: 50,
            pipeline: 1,
            warmup: Duration::ZERO,
            rate: None,
            addresses: vec!["127.0.0.1:7001".parse().unwrap()],
        }
    }

    #[test]
    fn percentiles_of_a_uniform_distribution() {
        let mut histogram = crate::bench::histogram::new_histogram();
        for us in 1..=1000 {
            histogram.record(us).unwrap();
        }
        let figures = Percentiles::of(&histogram);
        assert_eq!(figures.count, 1000);
        assert_eq!(figures.p50, 500);
        assert_eq!(figures.p90, 900);
        assert_eq!(figures.p99, 990);
        assert_eq!(figures.p999, 999);
        assert_eq!(figures.max, 1000);
        assert!((figures.mean - 500.5).abs() < 1.0);
    }

    #[test]
    fn an_empty_histogram_reports_zeros() {
        let figures = Percentiles::of(&crate::bench::histogram::new_histogram());
        assert_eq!((figures.count, figures.p50, figures.max), (0, 0, 0));
        assert_eq!(figures.mean, 0.0);
    }

    fn sample_report() -> Report {
        let mut results = Results::default();
        for us in 1..=100 {
            results.record(Kind::Put, 0, us * 10);
            results.record(Kind::Get, 1, us);
        }
        results.errors = 3;
        let mut report = Report::new(plan(), Duration::from_secs(2), &results);
        report.load_average = Some((0.5, 1.25));
        report
    }

    #[test]
    fn json_has_throughput_percentiles_per_kind_and_a_timeline() {
        let json = sample_report().json();
        assert_eq!(json["protocol"], "resp");
        assert_eq!(json["mode"], "closed");
        assert_eq!(json["operations"], 200);
        assert_eq!(json["errors"], 3);
        assert_eq!(json["throughput_per_second"], 100.0);
        assert_eq!(json["put"]["count"], 100);
        assert_eq!(json["put"]["p50_us"], 500);
        assert_eq!(json["get"]["max_us"], 100);
        assert_eq!(json["latency"]["max_us"], 1000);
        assert_eq!(json["timeline"].as_array().unwrap().len(), 2);
        assert_eq!(json["timeline"][1]["second"], 1);
        assert_eq!(json["timeline"][1]["count"], 100);
        assert_eq!(json["load_average"]["end"], 1.25);
        // It survives a round trip through text.
        let text = serde_json::to_string(&json).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), json);
    }

    #[test]
    fn the_table_names_every_column_and_row() {
        let table = sample_report().table();
        for word in [
            "throughput: 100 requests/s",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "max",
            "get",
            "put",
            "all",
            "3 errors",
            "load average (1 min) at start 0.50, at end 1.25",
        ] {
            assert!(table.contains(word), "{word} missing from\n{table}");
        }
        assert_eq!(milliseconds(1_234), "1.234");
        assert_eq!(milliseconds(56), "0.056");
    }
}
