//! The load: each client's loop, closed or open, with its warm-up and its stop.
//!
//! Closed loop: a client sends a batch of `pipeline` requests, waits for all replies,
//! and sends the next at once; latency is measured from the batch's send time.
//!
//! Open loop (`--rate`): request `k` of client `c` has an intended send time fixed in
//! advance ([`Schedule`]); a client sends every request that is due (up to `pipeline`
//! in one batch) and measures latency from the *intended* time, so when the server
//! falls behind, the time requests spent waiting to be sent counts too (no
//! coordinated omission).

use super::args::{Plan, Stop};
use super::histogram::{Kind, Recorder};
use super::native::NativeDriver;
use super::resp::RespConnection;
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Keys up to this many are made once and shared; beyond, each is formatted per use.
const PRECOMPUTED_KEYS: u64 = 1 << 20;

/// How long a client waits before reconnecting after a broken connection.
const RECONNECT_PAUSE: Duration = Duration::from_millis(100);

/// Connect timeout for RESP clients.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Open-loop send times of one client: `rate` requests per second in total, spread
/// evenly over `clients`, each client's times offset so that they interleave.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    /// Seconds between two requests of this client.
    interval: f64,
    /// Seconds from the start to this client's first request.
    offset: f64,
}

impl Schedule {
    pub fn new(rate: f64, clients: usize, client: usize) -> Schedule {
        let interval = clients as f64 / rate;
        Schedule {
            interval,
            offset: interval * client as f64 / clients as f64,
        }
    }

    /// When request `k` (from 0) should be sent, from the start of the run.
    pub fn intended(&self, k: u64) -> Duration {
        Duration::from_secs_f64(self.offset + self.interval * k as f64)
    }

    /// How many of the requests `next, next + 1, ...` are due at `now` (at most `max`).
    pub fn due(&self, next: u64, now: Duration, max: usize) -> usize {
        (0..max as u64)
            .take_while(|&j| self.intended(next + j) <= now)
            .count()
    }
}

/// The latency of a request whose measurement starts at `base` (its intended send time
/// in the open loop, its send time in the closed loop) and that completed at `done`.
pub fn latency(base: Duration, done: Duration) -> Duration {
    done.saturating_sub(base)
}

/// The second of the timeline a reply `since_warmup` after the warm-up belongs to. With
/// `--duration`, replies to requests sent before the end but arriving after it count in
/// the last second, rather than making a near-empty extra second.
pub fn timeline_second(stop: Stop, since_warmup: Duration) -> u32 {
    let second = since_warmup.as_secs();
    let second = match stop {
        Stop::After(duration) => second.min(duration.as_secs_f64().ceil().max(1.0) as u64 - 1),
        Stop::Requests(_) => second,
    };
    second as u32
}

/// The keys: `key:000000000042`, the format redis-benchmark uses.
pub struct KeySpace {
    count: u64,
    precomputed: Vec<Bytes>,
}

impl KeySpace {
    pub fn new(count: u64) -> KeySpace {
        let precomputed = if count <= PRECOMPUTED_KEYS {
            (0..count).map(format_key).collect()
        } else {
            Vec::new()
        };
        KeySpace { count, precomputed }
    }

    pub fn key(&self, n: u64) -> Bytes {
        let n = n % self.count;
        match self.precomputed.get(n as usize) {
            Some(key) => key.clone(),
            None => format_key(n),
        }
    }
}

fn format_key(n: u64) -> Bytes {
    Bytes::from(format!("key:{n:012}"))
}

/// A fast deterministic generator (splitmix64) for keys and the read / write choice.
pub struct Random(u64);

impl Random {
    pub fn new(seed: u64) -> Random {
        Random(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Requests left to measure with `--requests`; unlimited with `--duration`.
pub struct Tickets(Option<AtomicU64>);

impl Tickets {
    pub fn new(stop: Stop) -> Tickets {
        match stop {
            Stop::Requests(requests) => Tickets(Some(AtomicU64::new(requests))),
            Stop::After(_) => Tickets(None),
        }
    }

    /// Takes up to `wanted` tickets; returns how many were taken.
    pub fn take(&self, wanted: usize) -> usize {
        let Some(left) = &self.0 else {
            return wanted;
        };
        match left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
            (left > 0).then(|| left.saturating_sub(wanted as u64))
        }) {
            Ok(before) => before.min(wanted as u64) as usize,
            Err(_) => 0,
        }
    }
}

/// A connection of one client.
pub enum Driver {
    Resp {
        address: SocketAddr,
        connection: Option<RespConnection>,
    },
    Native(Box<NativeDriver>),
}

impl Driver {
    pub fn new(plan: &Plan, client: usize) -> Driver {
        match plan.protocol {
            super::args::Protocol::Resp => Driver::Resp {
                address: plan.addresses[client % plan.addresses.len()],
                connection: None,
            },
            super::args::Protocol::Native => {
                Driver::Native(Box::new(NativeDriver::new(plan.addresses.clone())))
            }
        }
    }

    /// Runs a batch; returns how many requests failed, or an error if all did.
    async fn run(&mut self, requests: &[(Kind, Bytes)], value: &Bytes) -> Result<usize, String> {
        match self {
            Driver::Resp {
                address,
                connection,
            } => {
                if connection.is_none() {
                    *connection = Some(
                        RespConnection::connect(*address, CONNECT_TIMEOUT)
                            .await
                            .map_err(|error| format!("{address}: {error}"))?,
                    );
                }
                let open = connection.as_mut().expect("connected above");
                let keys: Vec<(Kind, &[u8])> = requests
                    .iter()
                    .map(|(kind, key)| (*kind, &key[..]))
                    .collect();
                match open.run_batch(&keys, value).await {
                    Ok(errors) => Ok(errors),
                    Err(error) => {
                        *connection = None;
                        Err(format!("{address}: {error}"))
                    }
                }
            }
            Driver::Native(driver) => {
                let mut errors = 0;
                for (kind, key) in requests {
                    if driver.run(*kind, key, value).await.is_err() {
                        errors += 1;
                    }
                }
                Ok(errors)
            }
        }
    }
}

/// What one client needs.
pub struct ClientLoad {
    pub client: usize,
    pub plan: std::sync::Arc<Plan>,
    pub keys: std::sync::Arc<KeySpace>,
    pub value: Bytes,
    pub tickets: std::sync::Arc<Tickets>,
    pub recorder: Recorder,
    /// The start of the run (of the warm-up).
    pub start: Instant,
    /// The open loop's fine-grained timer.
    pub timer: Option<super::timer::Timer>,
}

/// Runs one client until the run ends; returns when its last measured reply came
/// (from the start), if any.
pub async fn run_client(mut load: ClientLoad) -> Option<Duration> {
    let plan = load.plan.clone();
    let mut driver = Driver::new(&plan, load.client);
    let schedule = plan
        .rate
        .map(|rate| Schedule::new(rate, plan.clients, load.client));
    let mut random = Random::new(load.client as u64 + 1);
    let mut next = 0u64; // the next request's number (open loop)
    let mut bases = Vec::with_capacity(plan.pipeline);
    let mut requests = Vec::with_capacity(plan.pipeline);
    let mut last_measured = None;
    let end = match plan.stop {
        Stop::After(duration) => Some(plan.warmup + duration),
        Stop::Requests(_) => None,
    };
    loop {
        let now = load.start.elapsed();
        if end.is_some_and(|end| now >= end) {
            break;
        }
        bases.clear();
        match &schedule {
            None => bases.resize(plan.pipeline, now),
            Some(schedule) => {
                let due = schedule.due(next, now, plan.pipeline);
                if due == 0 {
                    let at = load.start + schedule.intended(next);
                    match &load.timer {
                        Some(timer) => timer.sleep_until(at.into_std()).await,
                        None => tokio::time::sleep_until(at).await,
                    }
                    continue;
                }
                bases.extend((next..next + due as u64).map(|k| schedule.intended(k)));
            }
        }
        let measured = now >= plan.warmup;
        if measured {
            let taken = load.tickets.take(bases.len());
            if taken == 0 {
                break;
            }
            bases.truncate(taken);
        }
        next += bases.len() as u64;
        requests.clear();
        for _ in 0..bases.len() {
            let draw = random.next();
            let kind = if draw % 100 < u64::from(plan.read_percent) {
                Kind::Get
            } else {
                Kind::Put
            };
            requests.push((kind, load.keys.key(draw >> 8)));
        }
        let outcome = driver.run(&requests, &load.value).await;
        let done = load.start.elapsed();
        load.recorder.completed(requests.len(), measured);
        let failed = match outcome {
            Ok(errors) => errors,
            Err(error) => {
                tracing::debug!(%error, "benchmark batch failed");
                tokio::time::sleep(RECONNECT_PAUSE).await;
                requests.len()
            }
        };
        if !measured {
            continue;
        }
        last_measured = Some(done);
        let second = timeline_second(plan.stop, done.saturating_sub(plan.warmup));
        // An error reply cannot be matched to its request cheaply: the first `failed`
        // of the batch are counted as the failed ones (kinds differ only in a mix).
        for (index, ((kind, _), base)) in requests.iter().zip(&bases).enumerate() {
            if index < failed {
                load.recorder.error();
            } else {
                let micros = latency(*base, done).as_micros() as u64;
                load.recorder.record(*kind, second, micros);
            }
        }
    }
    load.recorder.flush();
    last_measured
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_loop_schedule_spreads_the_rate_over_clients_and_interleaves_them() {
        // 1000 requests/s over 4 clients: each sends every 4 ms, offset by 1 ms.
        let schedules: Vec<Schedule> = (0..4).map(|c| Schedule::new(1000.0, 4, c)).collect();
        let ms = |ms: u64| Duration::from_millis(ms);
        let close = |a: Duration, b: Duration| a.abs_diff(b) < Duration::from_micros(1);
        assert!(close(schedules[0].intended(0), ms(0)));
        assert!(close(schedules[1].intended(0), ms(1)));
        assert!(close(schedules[3].intended(2), ms(11)));
        // Over one second, the clients together intend exactly 1000 sends.
        let total: usize = schedules
            .iter()
            .map(|s| s.due(0, ms(999), usize::MAX))
            .sum();
        assert_eq!(total, 1000);
    }

    #[test]
    fn a_client_behind_schedule_sends_what_is_due_up_to_the_pipeline_depth() {
        let schedule = Schedule::new(100.0, 1, 0); // every 10 ms
        let ms = |ms: u64| Duration::from_millis(ms);
        assert_eq!(schedule.due(0, ms(0), 8), 1);
        assert_eq!(schedule.due(1, ms(5), 8), 0); // request 1 is due at 10 ms
        assert_eq!(schedule.due(1, ms(35), 8), 3); // 10, 20, 30 ms
        assert_eq!(schedule.due(1, ms(35), 2), 2);
    }

    #[test]
    fn open_loop_latency_counts_the_wait_before_sending() {
        // Request due at 10 ms; the client was stuck until 40 ms, the reply came at 41 ms:
        // 31 ms, not the 1 ms the server took.
        let schedule = Schedule::new(100.0, 1, 0);
        let intended = schedule.intended(1);
        let done = Duration::from_millis(41);
        assert_eq!(latency(intended, done), Duration::from_millis(31));
        assert_eq!(latency(done, intended), Duration::ZERO);
    }

    #[test]
    fn late_replies_count_in_the_last_second_of_a_timed_run() {
        let secs = Duration::from_secs_f64;
        let ten = Stop::After(Duration::from_secs(10));
        assert_eq!(timeline_second(ten, secs(0.5)), 0);
        assert_eq!(timeline_second(ten, secs(9.99)), 9);
        assert_eq!(timeline_second(ten, secs(10.2)), 9);
        let short = Stop::After(Duration::from_millis(1500));
        assert_eq!(timeline_second(short, secs(1.7)), 1);
        assert_eq!(timeline_second(short, secs(2.5)), 1);
        let tiny = Stop::After(Duration::from_millis(200));
        assert_eq!(timeline_second(tiny, secs(0.4)), 0);
        assert_eq!(timeline_second(Stop::Requests(5), secs(12.5)), 12);
    }

    #[test]
    fn tickets_run_out_exactly() {
        let tickets = Tickets::new(Stop::Requests(10));
        assert_eq!(tickets.take(4), 4);
        assert_eq!(tickets.take(4), 4);
        assert_eq!(tickets.take(4), 2);
        assert_eq!(tickets.take(4), 0);
        let unlimited = Tickets::new(Stop::After(Duration::from_secs(1)));
        assert_eq!(unlimited.take(16), 16);
    }

    #[test]
    fn keys_use_the_redis_benchmark_format_and_wrap_around_the_key_space() {
        let keys = KeySpace::new(100);
        assert_eq!(&keys.key(42)[..], b"key:000000000042");
        assert_eq!(keys.key(142), keys.key(42));
        let big = KeySpace::new(PRECOMPUTED_KEYS + 1);
        assert_eq!(&big.key(PRECOMPUTED_KEYS)[..], b"key:000001048576");
    }

    #[test]
    fn the_read_share_follows_the_read_percent() {
        let mut random = Random::new(7);
        let reads = (0..100_000).filter(|_| random.next() % 100 < 30).count();
        assert!((29_000..31_000).contains(&reads), "{reads}");
    }
}
