//! `raftkv bench` against a real `raftkv cluster` process: both protocols, the JSON
//! report's fields, the chart, and the open loop. Short runs; figures are not checked
//! (speed targets are measured, not asserted: docs/performance.md).

use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(60);
const BINARY: &str = env!("CARGO_BIN_EXE_raftkv");

/// Kills the cluster when dropped (a failing test leaves nothing behind).
struct Cluster(Child);

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `raftkv cluster` on free ports; returns it and its first client address.
fn start_cluster(data_dir: &Path) -> (Cluster, SocketAddr) {
    for attempt in 0..20u16 {
        let base = 30_000 + (std::process::id() as u16 % 150) * 100 + attempt * 173;
        let mut child = Command::new(BINARY)
            .args(["cluster", "--base-port", &base.to_string(), "--log", "warn"])
            .arg("--data-dir")
            .arg(data_dir.join(format!("attempt-{attempt}")))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let address = SocketAddr::from(([127, 0, 0, 1], base + 1));
        let started = Instant::now();
        loop {
            if child.try_wait().unwrap().is_some() {
                break; // ports in use: next base
            }
            if std::net::TcpStream::connect(address).is_ok() {
                return (Cluster(child), address);
            }
            assert!(started.elapsed() < DEADLINE, "cluster did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("no free ports for a local cluster");
}

fn bench(arguments: &[&str]) -> Value {
    let output = Command::new(BINARY)
        .arg("bench")
        .args(arguments)
        .args(["--json", "--no-progress", "--warmup", "200ms"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "bench {arguments:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("{error}: {stdout}"))
}

fn check_latency(figures: &Value) {
    let field = |name: &str| figures[name].as_u64().unwrap_or_else(|| panic!("{name}"));
    assert!(field("count") > 0, "{figures}");
    assert!(field("p50_us") > 0, "{figures}");
    assert!(field("p50_us") <= field("p90_us"), "{figures}");
    assert!(field("p90_us") <= field("p99_us"), "{figures}");
    assert!(field("p99_us") <= field("p99_9_us"), "{figures}");
    assert!(field("p99_9_us") <= field("max_us"), "{figures}");
    assert!(field("max_us") < 60_000_000, "{figures}");
}

#[test]
fn bench_reports_sane_json_for_both_protocols_and_draws_a_chart() {
    let dir = tempfile::tempdir().unwrap();
    let (_cluster, address) = start_cluster(dir.path());
    let address = address.to_string();

    // Native, a fixed number of requests, half reads.
    let report = bench(&[
        "--addr",
        &address,
        "--clients",
        "4",
        "--requests",
        "300",
        "--read-percent",
        "50",
        "--keys",
        "50",
    ]);
    assert_eq!(report["protocol"], "native");
    assert_eq!(report["mode"], "closed");
    assert_eq!(report["operations"], 300);
    assert_eq!(report["errors"], 0);
    assert!(report["throughput_per_second"].as_f64().unwrap() > 0.0);
    check_latency(&report["latency"]);
    check_latency(&report["get"]);
    check_latency(&report["put"]);

    // RESP, pipelined, for a duration, with a chart. A follower forwards to the leader.
    let chart = dir.path().join("latency.svg");
    let report = bench(&[
        "--addr",
        &address,
        "--protocol",
        "resp",
        "--clients",
        "3",
        "--pipeline",
        "4",
        "--duration",
        "1s",
        "--value-size",
        "256",
    ]);
    assert_eq!(report["protocol"], "resp");
    assert_eq!(report["pipeline"], 4);
    assert_eq!(report["errors"], 0);
    assert!(report["operations"].as_u64().unwrap() > 0);
    assert!(report["elapsed_seconds"].as_f64().unwrap() >= 0.9);
    check_latency(&report["latency"]);
    assert_eq!(report["get"]["count"], 0);
    let timeline = report["timeline"].as_array().unwrap();
    assert!(!timeline.is_empty() && timeline.len() <= 3, "{timeline:?}");

    let report = bench(&[
        "--addr",
        &address,
        "--protocol",
        "resp",
        "--clients",
        "2",
        "--rate",
        "200",
        "--duration",
        "1s",
        "--chart",
        chart.to_str().unwrap(),
    ]);
    assert_eq!(report["mode"], "open");
    assert_eq!(report["rate"], 200.0);
    // About 200 requests in the measured second (the open loop keeps its schedule).
    let operations = report["operations"].as_u64().unwrap();
    assert!((150..=260).contains(&operations), "{operations}");
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("class=\"p99\""));
}

#[test]
fn bench_without_a_server_fails_fast_with_advice() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = Command::new(BINARY)
        .args(["bench", "--protocol", "resp", "--no-progress", "--addr"])
        .arg(format!("127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("raftkv cluster"), "{stderr}");
}
