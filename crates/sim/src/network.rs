//! The simulated network: labrpc's behaviour (catalogue §2) adapted to one-way
//! messages. Requests (`Message::is_request`) play the part of labrpc calls, the other
//! messages the part of replies.

use crate::event_queue::{ms, Time};
use crate::rng::SimRng;
use raft::Message;

/// Marker delay: "take the in-order path" (resolved in [`Network::route`]).
const IN_ORDER: Time = Time::MAX;

/// What happens to a message handed to the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// It arrives after `delay`.
    Deliver {
        /// Latency.
        delay: Time,
    },
    /// It is silently lost.
    Drop,
    /// It is lost and, like a labrpc call that fails, the sender is told the peer is
    /// unreachable after `after`.
    Unreachable {
        /// When the sender learns of the failure.
        after: Time,
    },
}

/// Counters the tester reads (labrpc's `GetTotalCount`, `GetCount`, `GetTotalBytes`).
#[derive(Clone, Debug, Default)]
pub struct NetStats {
    /// Every request sent, even over disabled links.
    pub rpc_total: u64,
    /// Requests that reached each server.
    pub rpc_count: Vec<u64>,
    /// Request bytes of every request sent plus bytes of responses delivered.
    pub bytes_total: u64,
    /// Every message handed to the network.
    pub messages_sent: u64,
    /// Messages that arrived.
    pub messages_delivered: u64,
}

/// Link state and reliability settings.
pub struct Network {
    servers: usize,
    /// `enabled[from * servers + to]`: the directed link carries messages.
    enabled: Vec<bool>,
    /// `fifo_until[from * servers + to]`: latest arrival time scheduled on the link's
    /// in-order path. Reliable delivery is FIFO per link, like a TCP connection.
    fifo_until: Vec<Time>,
    fifo: bool,
    reliable: bool,
    long_reordering: bool,
    long_delays: bool,
    rng: SimRng,
    /// The counters.
    pub stats: NetStats,
}

impl Network {
    /// A network of `servers` nodes with every link disabled (the lab connects nodes
    /// explicitly), reliable, with long delays for failed calls as in all Raft tests.
    pub fn new(servers: usize, rng: SimRng) -> Network {
        Network {
            servers,
            enabled: vec![false; servers * servers],
            fifo_until: vec![0; servers * servers],
            fifo: true,
            reliable: true,
            long_reordering: false,
            long_delays: true,
            rng,
            stats: NetStats {
                rpc_count: vec![0; servers],
                ..NetStats::default()
            },
        }
    }

    /// Enables or disables the directed link `from -> to`.
    pub fn set_link(&mut self, from: usize, to: usize, enabled: bool) {
        self.enabled[from * self.servers + to] = enabled;
    }

    /// True if `from -> to` carries messages.
    pub fn link(&self, from: usize, to: usize) -> bool {
        self.enabled[from * self.servers + to]
    }

    /// With `false`, reliable deliveries may overtake each other on a link (as labrpc's
    /// one-goroutine-per-call dispatch allows); default `true` (FIFO, like TCP).
    pub fn set_fifo(&mut self, fifo: bool) {
        self.fifo = fifo;
    }

    /// labrpc `Reliable(reliable)`.
    pub fn set_reliable(&mut self, reliable: bool) {
        self.reliable = reliable;
    }

    /// True if the network neither delays nor drops.
    pub fn is_reliable(&self) -> bool {
        self.reliable
    }

    /// labrpc `LongReordering(on)`.
    pub fn set_long_reordering(&mut self, on: bool) {
        self.long_reordering = on;
    }

    /// labrpc `LongDelays(on)`: how long failed calls take to fail.
    pub fn set_long_delays(&mut self, on: bool) {
        self.long_delays = on;
    }

    /// Decides the fate of `msg` from `from` to `to` sent at `now`; `to_alive` says
    /// whether a server runs there. Updates the send-side counters.
    pub fn route(
        &mut self,
        now: Time,
        from: usize,
        to: usize,
        to_alive: bool,
        msg: &Message,
    ) -> Fate {
        self.stats.messages_sent += 1;
        let fate = if msg.is_request() {
            self.route_request(from, to, to_alive, msg)
        } else {
            self.route_response(from, to, to_alive)
        };
        match fate {
            Fate::Deliver { delay } if delay == IN_ORDER => Fate::Deliver {
                delay: self.in_order_delay(now, from, to),
            },
            other => other,
        }
    }

    /// A small seeded latency that never overtakes an earlier in-order message.
    fn in_order_delay(&mut self, now: Time, from: usize, to: usize) -> Time {
        let latency = self.rng.range_inclusive(100, 2_000);
        if !self.fifo {
            return latency;
        }
        let link = from * self.servers + to;
        let at = (now + latency).max(self.fifo_until[link]);
        self.fifo_until[link] = at;
        at - now
    }

    fn route_request(&mut self, from: usize, to: usize, to_alive: bool, msg: &Message) -> Fate {
        self.stats.rpc_total += 1;
        self.stats.bytes_total += msg.size_bytes() as u64;
        if !self.link(from, to) || !to_alive {
            return Fate::Unreachable {
                after: self.failure_delay(),
            };
        }
        if self.reliable {
            return Fate::Deliver { delay: IN_ORDER };
        }
        // labrpc sleeps 0-26 ms before deciding to drop, so the draw order is the same.
        let delay = self.rng.below(ms(27));
        if self.rng.chance_per_mille(100) {
            return Fate::Drop;
        }
        Fate::Deliver { delay }
    }

    fn route_response(&mut self, from: usize, to: usize, to_alive: bool) -> Fate {
        if !self.link(from, to) || !to_alive {
            return Fate::Drop;
        }
        if !self.reliable && self.rng.chance_per_mille(100) {
            return Fate::Drop;
        }
        if self.long_reordering && self.rng.below(900) < 600 {
            // 200 + rand(0..rand(0..2000)) ms: skewed towards the low end.
            let spread = self.rng.below(2000);
            let extra = self.rng.below(spread + 1);
            return Fate::Deliver {
                delay: ms(200 + extra),
            };
        }
        Fate::Deliver { delay: IN_ORDER }
    }

    /// How long a call to a disabled or missing server takes to fail.
    pub fn failure_delay(&mut self) -> Time {
        if self.long_delays {
            self.rng.below(ms(7000))
        } else {
            self.rng.below(ms(100))
        }
    }

    /// Counts a request arriving at server `to`.
    pub fn count_request_delivered(&mut self, to: usize) {
        self.stats.rpc_count[to] += 1;
        self.stats.messages_delivered += 1;
    }

    /// Counts a response arriving (its bytes count only now, as in labrpc).
    pub fn count_response_delivered(&mut self, msg: &Message) {
        self.stats.bytes_total += msg.size_bytes() as u64;
        self.stats.messages_delivered += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;
    use raft::{EntryId, Index, MessageBody, NodeId, Term};

    fn request() -> Message {
        Message {
            from: NodeId(1),
            to: NodeId(2),
            term: Term(1),
            body: MessageBody::AppendEntries {
                prev_log: EntryId::default(),
                entries: vec![],
                leader_commit: Index(0),
                read_round: 0,
            },
        }
    }

    fn response() -> Message {
        Message {
            from: NodeId(2),
            to: NodeId(1),
            term: Term(1),
            body: MessageBody::AppendEntriesResponse {
                success: true,
                match_index: Index(0),
                conflict: None,
                read_round: 0,
            },
        }
    }

    fn network() -> Network {
        let mut net = Network::new(2, SimRng::new(1, Stream::Network));
        net.set_link(0, 1, true);
        net.set_link(1, 0, true);
        net
    }

    #[test]
    fn counts_like_labrpc() {
        let mut net = network();
        let size = request().size_bytes() as u64;
        net.set_link(0, 1, false);
        // A request over a disabled link still counts as sent, with its bytes, and fails
        // after at most 7 s.
        match net.route(0, 0, 1, true, &request()) {
            Fate::Unreachable { after } => assert!(after < ms(7000)),
            other => panic!("{other:?}"),
        }
        assert_eq!((net.stats.rpc_total, net.stats.bytes_total), (1, size));
        assert_eq!(net.stats.rpc_count[1], 0);
        // Responses over a disabled link are lost; they count only when delivered.
        net.set_link(1, 0, false);
        assert_eq!(net.route(0, 1, 0, true, &response()), Fate::Drop);
        assert_eq!(net.stats.rpc_total, 1);
        net.count_response_delivered(&response());
        assert_eq!(net.stats.bytes_total, size + response().size_bytes() as u64);
        net.count_request_delivered(1);
        assert_eq!(net.stats.rpc_count[1], 1);
    }

    #[test]
    fn unreliable_drops_about_ten_percent_each_way() {
        let mut net = network();
        net.set_reliable(false);
        let n = 20_000;
        let dropped = |net: &mut Network, msg: &Message, from, to| {
            (0..n)
                .filter(|_| net.route(0, from, to, true, msg) == Fate::Drop)
                .count()
        };
        let requests = dropped(&mut net, &request(), 0, 1);
        let responses = dropped(&mut net, &response(), 1, 0);
        for count in [requests, responses] {
            assert!((1700..2300).contains(&count), "{count} of {n} dropped");
        }
    }

    #[test]
    fn long_reordering_delays_two_thirds_of_responses() {
        let mut net = network();
        net.set_long_reordering(true);
        let n = 9_000;
        let mut long = 0;
        for _ in 0..n {
            if let Fate::Deliver { delay } = net.route(0, 1, 0, true, &response()) {
                if delay >= ms(200) {
                    assert!(delay < ms(2200));
                    long += 1;
                }
            }
        }
        assert!((5600..6400).contains(&long), "{long} of {n} delayed");
    }

    #[test]
    fn reliable_links_are_fifo() {
        let mut net = network();
        let mut last_arrival = 0;
        for now in 0..1000 {
            match net.route(now, 0, 1, true, &request()) {
                Fate::Deliver { delay } => {
                    assert!(now + delay >= last_arrival);
                    last_arrival = now + delay;
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
