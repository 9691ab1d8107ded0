//! The `raftkv serve` processes: spawn (this same binary), SIGKILL, SIGSTOP, SIGCONT,
//! restart on the same data directory. Each node's stdout and stderr go to its own log
//! file, which also gets a line for every signal the harness sends.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use tokio::process::{Child, Command};

/// How one node is started.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    pub id: u64,
    /// `--peers`: its own real address, and the proxy of link `id -> j` for each peer j.
    pub peers: String,
    /// `--clients`: every node's real client address.
    pub clients: String,
    pub client_address: SocketAddr,
    pub data_dir: PathBuf,
    pub log_path: PathBuf,
    /// `--lease-reads`.
    pub lease_reads: bool,
}

/// The binary the nodes run: this very one. On Linux `/proc/self/exe`, which the
/// spawned child resolves to the harness's own executable even after a rebuild replaced
/// or removed the file at its path (a long soak from `target/release` outlives builds).
pub fn serve_binary() -> Result<PathBuf, String> {
    let own = PathBuf::from("/proc/self/exe");
    if cfg!(target_os = "linux") && own.exists() {
        return Ok(own);
    }
    std::env::current_exe().map_err(|error| format!("cannot find the raftkv binary: {error}"))
}

/// Nodes must not outlive an interrupted harness (Ctrl-C ends it without running
/// destructors): on Linux the kernel kills them when the thread that spawned them exits.
/// The harness spawns from the main thread or from runtime workers, which live as long
/// as the process.
fn die_with_the_harness(command: &mut Command) {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(2) is async-signal-safe, and nothing else runs in the forked child.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    #[cfg(not(target_os = "linux"))]
    let _ = command;
}

/// A node's process, if it runs.
pub struct NodeProcess {
    pub spec: NodeSpec,
    child: Option<Child>,
    stopped: bool,
}

impl NodeProcess {
    pub fn new(spec: NodeSpec) -> NodeProcess {
        NodeProcess {
            spec,
            child: None,
            stopped: false,
        }
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts the node (`fsync_delay_ms`: the slow-disk debug flag).
    pub fn start(&mut self, fsync_delay_ms: Option<u64>) -> Result<(), String> {
        assert!(self.child.is_none(), "node {} already runs", self.spec.id);
        let log = self.log_file()?;
        let stderr = log
            .try_clone()
            .map_err(|error| format!("node {} log: {error}", self.spec.id))?;
        let mut command = Command::new(serve_binary()?);
        command
            .args(["--log", "info", "serve", "--id", &self.spec.id.to_string()])
            .args(["--peers", &self.spec.peers, "--clients", &self.spec.clients])
            .arg("--data-dir")
            .arg(&self.spec.data_dir)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .kill_on_drop(true);
        die_with_the_harness(&mut command);
        if self.spec.lease_reads {
            command.arg("--lease-reads");
        }
        if let Some(ms) = fsync_delay_ms {
            command.args(["--debug-fsync-delay-ms", &ms.to_string()]);
        }
        let child = command
            .spawn()
            .map_err(|error| format!("cannot start node {}: {error}", self.spec.id))?;
        self.note(&format!("started (pid {:?})", child.id()));
        self.child = Some(child);
        self.stopped = false;
        Ok(())
    }

    /// SIGKILL, and wait for the process to be gone (its ports free again).
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            self.note("SIGKILL");
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
        self.stopped = false;
    }

    pub fn pause(&mut self) {
        if self.signal(libc::SIGSTOP, "SIGSTOP") {
            self.stopped = true;
        }
    }

    pub fn resume(&mut self) {
        if self.stopped && self.signal(libc::SIGCONT, "SIGCONT") {
            self.stopped = false;
        }
    }

    /// Whether the process died on its own (a crash is a finding, not a fault).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    fn signal(&mut self, signal: libc::c_int, name: &str) -> bool {
        let Some(pid) = self.child.as_ref().and_then(Child::id) else {
            return false;
        };
        self.note(name);
        // SAFETY: kill(2) on the pid of a child we have not yet waited for, so the pid
        // cannot have been reused by another process.
        unsafe { libc::kill(pid as libc::pid_t, signal) == 0 }
    }

    /// The last line the node (or the harness) wrote to its log.
    pub fn last_log_line(&self) -> String {
        std::fs::read_to_string(&self.spec.log_path)
            .ok()
            .and_then(|log| log.lines().last().map(str::to_string))
            .unwrap_or_default()
    }

    fn log_file(&self) -> Result<File, String> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.spec.log_path)
            .map_err(|error| format!("{}: {error}", self.spec.log_path.display()))
    }

    /// A line in the node's log saying what the harness did, to read next to its output.
    fn note(&self, what: &str) {
        if let Ok(mut log) = self.log_file() {
            let _ = writeln!(log, "=== chaos harness: {what}");
        }
    }
}
