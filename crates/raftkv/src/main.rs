//! The `raftkv` command line: run a node (`serve`), a local cluster (`cluster`), and
//! talk to one (`get`, `put`, `append`, `del`, `status`).

mod bench;
mod chaos;
mod client_commands;
mod cluster;
mod serve;
mod stop_signal;

use bench::BenchArgs;
use clap::{Parser, Subcommand};
use client_commands::Target;
use cluster::ClusterArgs;
use serve::ServeArgs;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "raftkv",
    version,
    about = "A replicated, linearizable key/value store on Raft that speaks RESP (redis-cli works)"
)]
struct Cli {
    /// Log level (error, warn, info, debug, trace) or a tracing filter.
    #[arg(long, global = true, default_value = "info")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs one node of a cluster (durable, in the foreground; Ctrl-C or SIGTERM stops it).
    Serve(ServeArgs),
    /// Runs a local cluster on loopback in this process (Ctrl-C stops it; a second run
    /// reuses the data).
    Cluster(ClusterArgs),
    /// Prints a key's value.
    Get {
        /// The key.
        key: String,
        #[command(flatten)]
        target: Target,
    },
    /// Sets a key.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: String,
        #[command(flatten)]
        target: Target,
    },
    /// Appends to a key's value (prints the new length).
    Append {
        /// The key.
        key: String,
        /// What to append.
        value: String,
        #[command(flatten)]
        target: Target,
    },
    /// Deletes a key (prints 1 if it existed, else 0).
    Del {
        /// The key.
        key: String,
        #[command(flatten)]
        target: Target,
    },
    /// Prints a table of the cluster's nodes.
    Status {
        #[command(flatten)]
        target: Target,
    },
    /// Measures throughput and latency with concurrent native clients.
    Bench(BenchArgs),
    /// Runs real nodes under a seeded fault schedule and checks linearizability.
    Chaos(chaos::ChaosArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("raftkv: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("raftkv: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Serve(args) => serve::serve(args).await,
        Command::Cluster(args) => cluster::cluster(args).await,
        Command::Get { key, target } => client_commands::get(key, &target).await,
        Command::Put { key, value, target } => client_commands::put(key, value, &target).await,
        Command::Append { key, value, target } => {
            client_commands::append(key, value, &target).await
        }
        Command::Del { key, target } => client_commands::del(key, &target).await,
        Command::Status { target } => client_commands::status(&target).await,
        Command::Bench(args) => bench::bench(args).await,
        Command::Chaos(args) => chaos::chaos(args).await,
    }
}
