//! Ports for the nodes, chosen below the kernel's ephemeral range. A killed node's
//! port must still be free when it restarts; an ephemeral port could meanwhile be taken
//! by any outgoing connection (the proxies', the clients') or by a bind to port 0.

use std::net::{SocketAddr, TcpListener};
use std::ops::Range;

/// Where Linux hands out ephemeral ports, by default.
const DEFAULT_EPHEMERAL: Range<u16> = 32_768..61_000;
/// The lowest port the harness uses for nodes.
const LOWEST: u16 = 10_000;

/// Listeners that hold the chosen ports until the nodes are about to bind them.
pub struct Reserved(Vec<TcpListener>);

impl Reserved {
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.0
            .iter()
            .filter_map(|listener| listener.local_addr().ok())
            .collect()
    }

    /// Frees the ports for the nodes.
    pub fn release(self) {}
}

/// `count` free loopback ports outside the ephemeral range, from a varying start so
/// concurrent runs seldom probe the same ports.
pub fn reserve(count: usize) -> Result<Reserved, String> {
    let candidates = LOWEST..ephemeral_range().start.max(LOWEST + 1_000);
    let span = u32::from(candidates.end - candidates.start);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    let offset = (nanos ^ std::process::id().wrapping_mul(7_919)) % span;
    let mut held = Vec::new();
    for step in 0..span {
        let port = candidates.start + ((offset + step) % span) as u16;
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            held.push(listener);
            if held.len() == count {
                return Ok(Reserved(held));
            }
        }
    }
    Err(format!(
        "found only {} free ports in {candidates:?} (need {count})",
        held.len()
    ))
}

/// The kernel's ephemeral range (Linux), else the default.
fn ephemeral_range() -> Range<u16> {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| parse_range(&text))
        .unwrap_or(DEFAULT_EPHEMERAL)
}

fn parse_range(text: &str) -> Option<Range<u16>> {
    let mut bounds = text.split_whitespace().map(str::parse::<u16>);
    let low = bounds.next()?.ok()?;
    let high = bounds.next()?.ok()?;
    Some(low..high.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_ports_are_distinct_and_below_the_ephemeral_range() {
        let reserved = reserve(10).unwrap();
        let mut ports: Vec<u16> = reserved.addresses().iter().map(|a| a.port()).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 10);
        let ephemeral = ephemeral_range();
        assert!(ports
            .iter()
            .all(|port| !ephemeral.contains(port) && *port >= LOWEST));
    }

    #[test]
    fn the_kernel_range_parses() {
        assert_eq!(parse_range("32768\t60999\n"), Some(32_768..61_000));
        assert_eq!(parse_range("garbage"), None);
    }
}
