//! A fault-injecting TCP proxy per directed link between nodes.
//!
//! Node `i` reaches peer `j` at the proxy of link `i -> j`, which forwards to `j`'s real
//! Raft address. The transport sends only over connections it opened (see
//! `node::transport`), so link `i -> j` carries exactly the messages from `i` to `j`
//! (the bytes flowing back are only the handshake reply): dropping it alone is a
//! one-way partition.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// What a link does with traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    Pass,
    /// Forward every chunk this long after it arrived (order kept).
    Delay(Duration),
    /// Close existing connections and every new one at once.
    Drop,
}

/// The state of a link and a counter that, when bumped, cuts its live connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Control {
    state: LinkState,
    cuts: u64,
}

/// One directed link: a listening proxy and the handle that steers it.
pub struct Link {
    control: watch::Sender<Control>,
    task: tokio::task::JoinHandle<()>,
}

impl Link {
    /// Proxies connections accepted on `listener` to `target`.
    pub fn start(listener: TcpListener, target: SocketAddr) -> Link {
        let (control, watcher) = watch::channel(Control {
            state: LinkState::Pass,
            cuts: 0,
        });
        let task = tokio::spawn(accept_loop(listener, target, watcher));
        Link { control, task }
    }

    pub fn set(&self, state: LinkState) {
        self.control.send_modify(|control| control.state = state);
    }

    /// Closes the link's live connections (the nodes reconnect).
    pub fn cut(&self) {
        self.control.send_modify(|control| control.cuts += 1);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, target: SocketAddr, watcher: watch::Receiver<Control>) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            // Out of file descriptors, most likely: let connections close first.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if watcher.borrow().state == LinkState::Drop {
            drop(inbound);
            continue;
        }
        tokio::spawn(proxy_connection(inbound, target, watcher.clone()));
    }
}

/// Forwards one connection until either side closes or the link cuts or drops it.
async fn proxy_connection(
    inbound: TcpStream,
    target: SocketAddr,
    mut watcher: watch::Receiver<Control>,
) {
    let Ok(Ok(outbound)) =
        tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(target)).await
    else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let cuts_at_start = watcher.borrow_and_update().cuts;
    let (from_client, to_client) = inbound.into_split();
    let (from_server, to_server) = outbound.into_split();
    let forward = pump(from_client, to_server, watcher.clone(), cuts_at_start);
    let backward = pump(from_server, to_client, watcher.clone(), cuts_at_start);
    let ended = async {
        loop {
            if !live(&watcher.borrow_and_update(), cuts_at_start) {
                return;
            }
            if watcher.changed().await.is_err() {
                return;
            }
        }
    };
    // Dropping the halves closes both sockets.
    tokio::select! {
        _ = forward => {}
        _ = backward => {}
        _ = ended => {}
    }
}

/// Whether a connection opened at cut count `cuts_at_start` may still carry bytes.
fn live(control: &Control, cuts_at_start: u64) -> bool {
    control.state != LinkState::Drop && control.cuts == cuts_at_start
}

/// Copies one direction, delaying each chunk by the link's delay at the time it was read.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    watcher: watch::Receiver<Control>,
    cuts_at_start: u64,
) {
    // Bounded: a stalled writer stops the reader, as a real network would back-pressure.
    let (sender, mut receiver) = mpsc::channel::<(Instant, Vec<u8>)>(1024);
    let reader = async move {
        let mut buffer = vec![0u8; 64 << 10];
        loop {
            match from.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let control = *watcher.borrow();
                    // Checked per chunk too, so nothing read after a cut gets through.
                    if !live(&control, cuts_at_start) {
                        return;
                    }
                    let due = match control.state {
                        LinkState::Delay(delay) => Instant::now() + delay,
                        _ => Instant::now(),
                    };
                    if sender.send((due, buffer[..n].to_vec())).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    let writer = async move {
        while let Some((due, chunk)) = receiver.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
    };
    // The writer finishes delivering what was read before the reader's end counts.
    tokio::join!(reader, writer);
}

/// Every directed link of a cluster, by (from, to).
pub struct Network {
    links: BTreeMap<(u64, u64), Arc<Link>>,
}

impl Network {
    pub fn new(links: BTreeMap<(u64, u64), Link>) -> Network {
        let links = links
            .into_iter()
            .map(|(key, link)| (key, Arc::new(link)))
            .collect();
        Network { links }
    }

    pub fn set(&self, from: u64, to: u64, state: LinkState) {
        if let Some(link) = self.links.get(&(from, to)) {
            link.set(state);
        }
    }

    /// Drops every link between the two groups, both ways.
    pub fn separate(&self, left: &[u64], right: &[u64]) {
        for &a in left {
            for &b in right {
                self.set(a, b, LinkState::Drop);
                self.set(b, a, LinkState::Drop);
            }
        }
    }

    pub fn set_all(&self, state: LinkState) {
        for link in self.links.values() {
            link.set(state);
        }
    }

    pub fn cut_all(&self) {
        for link in self.links.values() {
            link.cut();
        }
    }

    pub fn heal(&self) {
        self.set_all(LinkState::Pass);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server, and a link in front of it.
    async fn echo_link() -> (Link, SocketAddr) {
        let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server_address = server.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = server.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = stream.into_split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_address = proxy.local_addr().unwrap();
        (Link::start(proxy, server_address), proxy_address)
    }

    async fn round_trip(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
        stream.write_all(b"ping").await?;
        let mut reply = [0u8; 4];
        stream.read_exact(&mut reply).await?;
        Ok(reply.to_vec())
    }

    #[tokio::test]
    async fn pass_forwards_and_drop_closes_and_refuses() {
        let (link, address) = echo_link().await;
        let mut stream = TcpStream::connect(address).await.unwrap();
        assert_eq!(round_trip(&mut stream).await.unwrap(), b"ping");
        link.set(LinkState::Drop);
        assert!(round_trip(&mut stream).await.is_err());
        let mut again = TcpStream::connect(address).await.unwrap();
        assert!(round_trip(&mut again).await.is_err());
        link.set(LinkState::Pass);
        let mut healed = TcpStream::connect(address).await.unwrap();
        assert_eq!(round_trip(&mut healed).await.unwrap(), b"ping");
    }

    #[tokio::test]
    async fn cut_closes_live_connections_only() {
        let (link, address) = echo_link().await;
        let mut stream = TcpStream::connect(address).await.unwrap();
        assert_eq!(round_trip(&mut stream).await.unwrap(), b"ping");
        link.cut();
        assert!(round_trip(&mut stream).await.is_err());
        let mut fresh = TcpStream::connect(address).await.unwrap();
        assert_eq!(round_trip(&mut fresh).await.unwrap(), b"ping");
    }

    #[tokio::test]
    async fn delay_holds_bytes_back() {
        let (link, address) = echo_link().await;
        link.set(LinkState::Delay(Duration::from_millis(200)));
        let mut stream = TcpStream::connect(address).await.unwrap();
        let started = Instant::now();
        assert_eq!(round_trip(&mut stream).await.unwrap(), b"ping");
        // Both directions pass through the delayed link.
        assert!(started.elapsed() >= Duration::from_millis(400));
    }
}
