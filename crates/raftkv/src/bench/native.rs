//! The native-protocol driver: one `server::client::Client` per benchmark client (one
//! request in flight, leader discovery, exactly-once writes, linearizable reads).

use super::histogram::Kind;
use bytes::Bytes;
use server::client::{Client, ClientError, ClientOptions};
use std::net::SocketAddr;
use std::time::Duration;

/// A call that takes longer counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

pub struct NativeDriver {
    client: Client,
}

impl NativeDriver {
    pub fn new(addresses: Vec<SocketAddr>) -> NativeDriver {
        NativeDriver {
            client: Client::new(addresses, options()),
        }
    }

    pub async fn run(&mut self, kind: Kind, key: &Bytes, value: &Bytes) -> Result<(), ClientError> {
        match kind {
            Kind::Get => self.client.get(key.clone()).await.map(drop),
            Kind::Put => self.client.put(key.clone(), value.clone()).await.map(drop),
        }
    }
}

pub fn options() -> ClientOptions {
    ClientOptions {
        request_timeout: REQUEST_TIMEOUT,
        ..ClientOptions::default()
    }
}

/// Every node's client address, learnt from any of `addresses` (so that the clients
/// find the leader wherever it is).
pub async fn discover(addresses: &[SocketAddr]) -> Result<Vec<SocketAddr>, ClientError> {
    let mut probe = Client::new(
        addresses.iter().copied(),
        ClientOptions {
            request_timeout: Duration::from_secs(5),
            ..ClientOptions::default()
        },
    );
    probe.discover().await?;
    Ok(probe.addresses().to_vec())
}
