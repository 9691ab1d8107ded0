//! The commands that talk to a running cluster: `get`, `put`, `append`, `del`, `status`.

use bytes::Bytes;
use clap::Args;
use server::client::{Client, ClientError, ClientOptions};
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Args)]
pub struct Target {
    /// Any node's client address.
    #[arg(long, default_value = "127.0.0.1:7001")]
    pub addr: SocketAddr,
}

/// `raftkv get`: prints the value, or `(nil)`.
pub async fn get(key: String, target: &Target) -> Result<(), String> {
    let value = client(target)
        .get(key)
        .await
        .map_err(|e| client_error(target, e))?;
    match value {
        Some(value) => println!("{}", String::from_utf8_lossy(&value)),
        None => println!("(nil)"),
    }
    Ok(())
}

/// `raftkv put`.
pub async fn put(key: String, value: String, target: &Target) -> Result<(), String> {
    client(target)
        .put(key, value)
        .await
        .map_err(|e| client_error(target, e))?;
    println!("OK");
    Ok(())
}

/// `raftkv append`: prints the value's new length, as redis-cli does.
pub async fn append(key: String, value: String, target: &Target) -> Result<(), String> {
    let length = client(target)
        .append(key, value)
        .await
        .map_err(|e| client_error(target, e))?;
    println!("{length}");
    Ok(())
}

/// `raftkv del`: prints 1 if the key existed, else 0.
pub async fn del(key: String, target: &Target) -> Result<(), String> {
    let existed = client(target)
        .delete(Bytes::from(key))
        .await
        .map_err(|e| client_error(target, e))?;
    println!("{}", u8::from(existed));
    Ok(())
}

pub fn client(target: &Target) -> Client {
    Client::new(
        [target.addr],
        ClientOptions {
            request_timeout: Duration::from_secs(5),
            ..ClientOptions::default()
        },
    )
}

pub fn client_error(target: &Target, error: ClientError) -> String {
    match error {
        ClientError::Timeout { .. } => format!(
            "{error}\nIs a node listening on {}? Start a cluster with `raftkv cluster`, or pass --addr HOST:PORT.",
            target.addr
        ),
        other => other.to_string(),
    }
}

pub async fn status(target: &Target) -> Result<(), String> {
    let timeout = Duration::from_secs(3);
    let first = Client::status_of(target.addr, timeout)
        .await
        .map_err(|error| client_error(target, error))?;
    let mut nodes: Vec<(u64, String)> = first
        .client_addresses
        .iter()
        .filter_map(|entry| {
            let (id, address) = entry.split_once('=')?;
            Some((id.parse().ok()?, address.to_string()))
        })
        .collect();
    if nodes.is_empty() {
        nodes.push((first.node_id, target.addr.to_string()));
    }
    println!(
        "{:<5} {:<22} {:<13} {:>6} {:>6} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "NODE", "ADDRESS", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED", "LOG", "SNAPSHOT", "KEYS"
    );
    for (id, address) in nodes {
        let status = match address.parse() {
            Ok(address) => Client::status_of(address, timeout).await,
            Err(_) => Err(ClientError::NoAddress),
        };
        match status {
            Ok(status) => {
                let log_entries = (status.last_index + 1).saturating_sub(status.first_index);
                let role = if status.storage_failure.is_empty() {
                    status.role.clone()
                } else {
                    format!("{} (storage failed)", status.role)
                };
                println!(
                    "{:<5} {:<22} {:<13} {:>6} {:>6} {:>9} {:>9} {:>9} {:>9} {:>7}",
                    id,
                    address,
                    role,
                    status.term,
                    if status.leader == 0 {
                        "-".to_string()
                    } else {
                        status.leader.to_string()
                    },
                    status.commit,
                    status.applied,
                    log_entries,
                    status.snapshot_index,
                    status.keys
                );
            }
            Err(error) => println!("{id:<5} {address:<22} unreachable ({error})"),
        }
    }
    Ok(())
}
