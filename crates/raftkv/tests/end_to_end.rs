//! End to end on real processes: the `raftkv` binary, redis-cli (Debian's redis-tools,
//! which `scripts/test` installs; these checks are skipped with a message when it is
//! missing) and the native client. Waits are on conditions with generous deadlines.

use server::client::{Client, ClientOptions};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(60);
const BINARY: &str = env!("CARGO_BIN_EXE_raftkv");

/// Kills its processes when dropped (a failing test leaves nothing behind).
struct Processes(Vec<Option<Child>>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in self.0.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Ports the OS says are free right now.
fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|listener| listener.local_addr().unwrap().port())
        .collect()
}

fn redis_cli_installed() -> bool {
    Command::new("redis-cli")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn redis_cli(port: u16, arguments: &[&str]) -> String {
    let output: Output = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(arguments)
        .output()
        .expect("running redis-cli");
    assert!(output.status.success(), "redis-cli {arguments:?} failed");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn options() -> ClientOptions {
    ClientOptions {
        request_timeout: DEADLINE,
        ..ClientOptions::default()
    }
}

/// Waits until a node reports itself leader; returns its index in `addresses`.
async fn wait_for_leader(addresses: &[SocketAddr], except: Option<usize>) -> usize {
    let started = Instant::now();
    loop {
        for (index, &address) in addresses.iter().enumerate() {
            if Some(index) == except {
                continue;
            }
            if let Ok(status) = Client::status_of(address, Duration::from_secs(1)).await {
                if status.role == "Leader" {
                    return index;
                }
            }
        }
        assert!(
            started.elapsed() < DEADLINE,
            "no leader within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn serve(id: usize, peers: &str, clients: &str, data_dir: &Path) -> Child {
    Command::new(BINARY)
        .args(["serve", "--id", &id.to_string()])
        .args(["--peers", peers, "--clients", clients])
        .arg("--data-dir")
        .arg(data_dir.join(format!("node-{id}")))
        .args(["--log", "warn"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting raftkv serve")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_of_the_leader_process() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(6);
    let peers = (0..3)
        .map(|i| format!("{}=127.0.0.1:{}", i + 1, ports[i]))
        .collect::<Vec<_>>()
        .join(",");
    let clients = (0..3)
        .map(|i| format!("{}=127.0.0.1:{}", i + 1, ports[3 + i]))
        .collect::<Vec<_>>()
        .join(",");
    let addresses: Vec<SocketAddr> = (0..3)
        .map(|i| SocketAddr::from(([127, 0, 0, 1], ports[3 + i])))
        .collect();
    let mut processes = Processes(
        (1..=3)
            .map(|id| Some(serve(id, &peers, &clients, dir.path())))
            .collect(),
    );

    let leader = wait_for_leader(&addresses, None).await;
    let follower = (leader + 1) % 3;
    let redis = redis_cli_installed();
    if redis {
        // Through a follower (forwarded), read back through another node.
        assert_eq!(
            redis_cli(addresses[follower].port(), &["set", "via-redis", "hello"]),
            "OK"
        );
        assert_eq!(
            redis_cli(addresses[(leader + 2) % 3].port(), &["get", "via-redis"]),
            "hello"
        );
        assert_eq!(redis_cli(addresses[leader].port(), &["incr", "n"]), "1");
    } else {
        eprintln!("redis-cli is not installed: skipping its checks (scripts/test installs it)");
    }

    let mut client = Client::new(addresses.clone(), options());
    for i in 0..100 {
        client
            .put(format!("key-{i}"), format!("value-{i}"))
            .await
            .unwrap();
    }
    client.append("log", "a").await.unwrap();

    // SIGKILL the leader process: no clean shutdown.
    let mut killed = processes.0[leader].take().unwrap();
    killed.kill().unwrap();
    killed.wait().unwrap();

    let new_leader = wait_for_leader(&addresses, Some(leader)).await;
    assert_ne!(new_leader, leader);
    let survivors: Vec<SocketAddr> = (0..3)
        .filter(|&i| i != leader)
        .map(|i| addresses[i])
        .collect();
    let mut client = Client::new(survivors.clone(), options());
    let keys = (0..100).map(|i| format!("key-{i}").into()).collect();
    let result = client.get_many(keys).await.unwrap();
    for (i, value) in result.values.iter().enumerate() {
        assert_eq!(
            value.as_deref(),
            Some(format!("value-{i}").as_bytes()),
            "key-{i} acknowledged before the kill"
        );
    }
    client.append("log", "b").await.unwrap();
    assert_eq!(
        client.get("log").await.unwrap().as_deref(),
        Some(&b"ab"[..])
    );
    if redis {
        for address in &survivors {
            assert_eq!(redis_cli(address.port(), &["get", "via-redis"]), "hello");
            assert_eq!(redis_cli(address.port(), &["get", "key-99"]), "value-99");
        }
    }

    // The CLI against a survivor.
    let output = Command::new(BINARY)
        .args(["get", "key-7", "--addr", &survivors[0].to_string()])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "value-7");
    let output = Command::new(BINARY)
        .args(["status", "--addr", &survivors[0].to_string()])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(table.contains("Leader"), "{table}");
    assert!(table.contains("unreachable"), "{table}");

    // The benchmark runs against the two survivors.
    let output = Command::new(BINARY)
        .args([
            "bench",
            "--clients",
            "4",
            "--requests",
            "200",
            "--read-percent",
            "50",
        ])
        .args(["--addr", &survivors[1].to_string()])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}");
    assert!(report.contains("requests/s"), "{report}");
}

/// Sends SIGINT (Ctrl-C) to a child and waits for it to exit.
fn interrupt(mut child: Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(started.elapsed() < DEADLINE, "did not stop after Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn start_cluster(data_dir: &Path) -> (Child, u16) {
    // The cluster needs BASE+1..BASE+3 and BASE+101..BASE+103: try a few bases.
    for attempt in 0..20u16 {
        let base = 20_000 + (std::process::id() as u16 % 200) * 100 + attempt * 211;
        let child = Command::new(BINARY)
            .args(["cluster", "--base-port", &base.to_string(), "--log", "warn"])
            .arg("--data-dir")
            .arg(data_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut child = child;
        let started = Instant::now();
        loop {
            if let Some(_exited) = child.try_wait().unwrap() {
                break; // ports in use: next base
            }
            let address = SocketAddr::from(([127, 0, 0, 1], base + 1));
            if std::net::TcpStream::connect(address).is_ok() {
                return (child, base);
            }
            assert!(started.elapsed() < DEADLINE, "cluster did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("no free ports for a local cluster");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_command_serves_stops_on_ctrl_c_and_reuses_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("raftkv-data");
    let (child, base) = start_cluster(&data_dir);
    let addresses: Vec<SocketAddr> = (1..=3)
        .map(|i| SocketAddr::from(([127, 0, 0, 1], base + i)))
        .collect();
    let mut client = Client::new(addresses.clone(), options());
    client.put("kept", "across restarts").await.unwrap();
    if redis_cli_installed() {
        assert_eq!(redis_cli(base + 2, &["set", "r", "1"]), "OK");
        assert_eq!(redis_cli(base + 3, &["get", "r"]), "1");
    }
    let status = interrupt(child);
    assert!(status.success(), "Ctrl-C exit: {status}");

    let (child, base) = start_cluster(&data_dir);
    let addresses: Vec<SocketAddr> = (1..=3)
        .map(|i| SocketAddr::from(([127, 0, 0, 1], base + i)))
        .collect();
    let mut client = Client::new(addresses, options());
    assert_eq!(
        client.get("kept").await.unwrap().as_deref(),
        Some(&b"across restarts"[..])
    );
    assert!(interrupt(child).success());
}
