//! Redis commands on top of the service.
//!
//! Each RESP connection has a session of its own (a random client id, sequence numbers
//! from 1), so the server's own retries of a write (through elections and forwarding)
//! apply it once. A client that reconnects gets a new session: a write it retries
//! after a dropped connection may apply twice (at-least-once on reconnect).
//!
//! Reads (GET, MGET, EXISTS, STRLEN, DBSIZE) are linearizable through ReadIndex on the
//! leader, without a log write. Writes go through the log, one entry per command: the
//! state machine decides SET's NX / XX, reports APPEND's new length and INCR's new
//! number, so none is a read-then-write race. A multi-key DEL deletes key by key: each
//! deletion is atomic, the whole is not. Writes are stamped with this server's clock,
//! which drives key expiry (see `expiry`).

mod expiry;

use crate::resp::Reply;
use crate::service::{Service, ServiceError};
use bytes::Bytes;
use expiry::{SetOptions, Unit};
use kv::{ClientId, KvError, Operation, Outcome, Part, Request, SetCondition, SetExpiry};

/// A RESP connection's session.
pub struct Session {
    client: ClientId,
    next_sequence: u64,
}

impl Session {
    /// A new session with a random client id.
    pub fn new() -> Session {
        Session {
            client: random_client_id(),
            next_sequence: 1,
        }
    }

    /// The next request of the session, stamped with this server's clock (which drives
    /// key expiry; the service's retries of it keep the stamp).
    fn request(&mut self, operation: Operation) -> Request {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        Request {
            client: self.client,
            sequence,
            operation,
            timestamp_ms: wall_clock_ms(),
        }
    }

    fn renew(&mut self) {
        *self = Session::new();
    }
}

impl Default for Session {
    fn default() -> Session {
        Session::new()
    }
}

/// This server's wall-clock time in ms since the Unix epoch (0 if the clock is set
/// before 1970): what write requests are stamped with, and what ReadIndex reads and
/// relative expiry times (EX, PX) are measured against.
pub fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// A random, nonzero client id (std's randomly keyed hasher, the clock and a counter:
/// no two sessions in a process share one, and processes differ by their keys).
pub fn random_client_id() -> ClientId {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    ClientId(hasher.finish().max(1))
}

/// What a command asks of the connection besides its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum After {
    /// Go on.
    Continue,
    /// Close the connection after the reply (QUIT).
    Close,
}

/// The error reply a failed request gets.
pub fn service_error_reply(error: ServiceError) -> Reply {
    match error {
        ServiceError::NotLeader { .. } => Reply::Error("TRYAGAIN no leader elected yet".into()),
        ServiceError::Unavailable(message) => Reply::Error(format!("TRYAGAIN {message}")),
        ServiceError::TooLarge(message) => Reply::err(message),
        ServiceError::StorageFailed(message) => {
            Reply::err(format!("storage failed on this node: {message}"))
        }
        ServiceError::BadRequest(message) => Reply::err(message),
    }
}

fn wrong_arity(name: &str) -> Reply {
    Reply::err(format!(
        "wrong number of arguments for '{}' command",
        name.to_ascii_lowercase()
    ))
}

fn syntax_error() -> Reply {
    Reply::err("syntax error")
}

fn not_an_integer() -> Reply {
    Reply::err("value is not an integer or out of range")
}

/// Names and arities (negative: at least that many) of the supported commands.
const COMMANDS: &[(&str, i32)] = &[
    ("PING", -1),
    ("ECHO", 2),
    ("GET", 2),
    ("SET", -3),
    ("SETNX", 3),
    ("APPEND", 3),
    ("DEL", -2),
    ("EXISTS", -2),
    ("TTL", 2),
    ("PTTL", 2),
    ("EXPIRE", 3),
    ("PEXPIRE", 3),
    ("EXPIREAT", 3),
    ("PEXPIREAT", 3),
    ("PERSIST", 2),
    ("INCR", 2),
    ("DECR", 2),
    ("INCRBY", 3),
    ("DECRBY", 3),
    ("MGET", -2),
    ("STRLEN", 2),
    ("INFO", -1),
    ("DBSIZE", 1),
    ("CONFIG", -2),
    ("COMMAND", -1),
    ("SELECT", 2),
    ("CLIENT", -2),
    ("QUIT", 1),
];

/// One connection's command executor.
pub struct Commands {
    service: Service,
    session: Session,
}

impl Commands {
    /// An executor with a fresh session.
    pub fn new(service: Service) -> Commands {
        Commands {
            service,
            session: Session::new(),
        }
    }

    /// Runs one command (a non-empty argument list).
    pub async fn run(&mut self, arguments: Vec<Bytes>) -> (Reply, After) {
        let name = String::from_utf8_lossy(&arguments[0]).to_ascii_uppercase();
        let Some(&(_, arity)) = COMMANDS.iter().find(|(known, _)| *known == name) else {
            return (unknown_command(&arguments), After::Continue);
        };
        let count = arguments.len() as i32;
        if (arity >= 0 && count != arity) || (arity < 0 && count < -arity) {
            return (wrong_arity(&name), After::Continue);
        }
        if name == "QUIT" {
            return (Reply::ok(), After::Close);
        }
        let reply = match self.dispatch(&name, &arguments[1..]).await {
            Ok(reply) | Err(reply) => reply,
        };
        (reply, After::Continue)
    }

    async fn dispatch(&mut self, name: &str, args: &[Bytes]) -> Result<Reply, Reply> {
        match name {
            "PING" => match args {
                [] => Ok(Reply::Simple("PONG".into())),
                [message] => Ok(Reply::bulk(message.clone())),
                _ => Err(wrong_arity(name)),
            },
            "ECHO" => Ok(Reply::bulk(args[0].clone())),
            "GET" => {
                self.check_key(&args[0])?;
                Ok(Reply::Bulk(self.read_one(&args[0]).await?))
            }
            "MGET" => {
                for key in args {
                    self.check_key(key)?;
                }
                let result = self.service.read(args).await.map_err(service_error_reply)?;
                Ok(Reply::Array(Some(
                    result.values.into_iter().map(Reply::Bulk).collect(),
                )))
            }
            "EXISTS" => {
                for key in args {
                    self.check_key(key)?;
                }
                let result = self.service.read(args).await.map_err(service_error_reply)?;
                Ok(Reply::Integer(
                    result.values.iter().filter(|value| value.is_some()).count() as i64,
                ))
            }
            "STRLEN" => {
                self.check_key(&args[0])?;
                let value = self.read_one(&args[0]).await?;
                Ok(Reply::Integer(value.map_or(0, |value| value.len() as i64)))
            }
            "DBSIZE" => {
                let result = self.service.read(&[]).await.map_err(service_error_reply)?;
                Ok(Reply::Integer(result.key_count as i64))
            }
            "SET" => self.set(args).await,
            "SETNX" => {
                let wrote = self
                    .set_with(&args[0], &args[1], SetCondition::IfAbsent, SetExpiry::Clear)
                    .await?;
                Ok(Reply::Integer(i64::from(wrote)))
            }
            "APPEND" => self.append(&args[0], &args[1]).await,
            "DEL" => {
                let mut deleted = 0;
                for key in args {
                    self.check_key(key)?;
                    match self.write(Operation::Delete { key: key.clone() }).await? {
                        Outcome::Deleted(true) => deleted += 1,
                        Outcome::Deleted(false) => {}
                        other => return Err(unexpected(other)),
                    }
                }
                Ok(Reply::Integer(deleted))
            }
            "INCR" => self.increment(&args[0], 1).await,
            "DECR" => self.increment(&args[0], -1).await,
            "INCRBY" | "DECRBY" => {
                let by = parse_integer(&args[1]).ok_or_else(not_an_integer)?;
                let by = if name == "DECRBY" {
                    // -i64::MIN does not exist (Redis says the same).
                    by.checked_neg()
                        .ok_or_else(|| Reply::err("decrement would overflow"))?
                } else {
                    by
                };
                self.increment(&args[0], by).await
            }
            "TTL" => self.time_to_live(&args[0], Unit::Seconds).await,
            "PTTL" => self.time_to_live(&args[0], Unit::Millis).await,
            "EXPIRE" | "PEXPIRE" | "EXPIREAT" | "PEXPIREAT" => {
                let deadline = expiry::expire_command_deadline(name, &args[1], wall_clock_ms())?;
                self.expire(&args[0], Some(deadline)).await
            }
            "PERSIST" => self.expire(&args[0], None).await,
            "INFO" => self.info().await,
            "CONFIG" => config(args),
            "COMMAND" => command(args),
            "SELECT" => match parse_integer(&args[0]) {
                Some(0) => Ok(Reply::ok()),
                Some(_) => Err(Reply::err("DB index is out of range")),
                None => Err(not_an_integer()),
            },
            // CLIENT SETNAME / SETINFO and friends: accepted and ignored.
            "CLIENT" => Ok(Reply::ok()),
            _ => Ok(unknown_command(args)),
        }
    }

    fn check_key(&self, key: &Bytes) -> Result<(), Reply> {
        check_size(
            Part::Key,
            key,
            self.service.config().kv_limits.max_key_bytes,
        )
    }

    fn check_value(&self, value: &Bytes) -> Result<(), Reply> {
        check_size(
            Part::Value,
            value,
            self.service.config().kv_limits.max_value_bytes,
        )
    }

    async fn read_one(&self, key: &Bytes) -> Result<Option<Bytes>, Reply> {
        let result = self
            .service
            .read(std::slice::from_ref(key))
            .await
            .map_err(service_error_reply)?;
        Ok(result.values.into_iter().next().flatten())
    }

    /// Proposes a write in this connection's session.
    async fn write(&mut self, operation: Operation) -> Result<Outcome, Reply> {
        for _ in 0..3 {
            let request = self.session.request(operation.clone());
            match self.service.execute(&request).await {
                Ok(Outcome::Rejected(KvError::SessionExpired)) => self.session.renew(),
                Ok(Outcome::Rejected(error)) => return Err(Reply::err(error)),
                Ok(outcome) => return Ok(outcome),
                Err(error) => return Err(service_error_reply(error)),
            }
        }
        Err(Reply::Error("TRYAGAIN session expired repeatedly".into()))
    }

    /// SET: a plain one is a `Put`; with options, one `Set` entry (NX / XX decided by
    /// the state machine, so no read-then-CAS loop).
    async fn set(&mut self, args: &[Bytes]) -> Result<Reply, Reply> {
        let (key, value) = (&args[0], &args[1]);
        let options = expiry::parse_set_options(&args[2..], wall_clock_ms())?;
        if options == SetOptions::default() {
            self.check_key(key)?;
            self.check_value(value)?;
            let operation = Operation::Put {
                key: key.clone(),
                value: value.clone(),
            };
            return match self.write(operation).await? {
                Outcome::Written => Ok(Reply::ok()),
                other => Err(unexpected(other)),
            };
        }
        let condition = options.condition.unwrap_or(SetCondition::Always);
        let expiry = options.expiry.unwrap_or(SetExpiry::Clear);
        let wrote = self.set_with(key, value, condition, expiry).await?;
        Ok(if wrote { Reply::ok() } else { Reply::nil() })
    }

    /// One `Set` entry; true if it wrote (its condition held).
    async fn set_with(
        &mut self,
        key: &Bytes,
        value: &Bytes,
        condition: SetCondition,
        expiry: SetExpiry,
    ) -> Result<bool, Reply> {
        self.check_key(key)?;
        self.check_value(value)?;
        let operation = Operation::Set {
            key: key.clone(),
            value: value.clone(),
            condition,
            expiry,
        };
        match self.write(operation).await? {
            Outcome::Number(wrote) => Ok(wrote == 1),
            other => Err(unexpected(other)),
        }
    }

    /// TTL / PTTL: the deadline read through the log (a rare command: this keeps the
    /// read protocol as it is), measured against this server's clock.
    async fn time_to_live(&mut self, key: &Bytes, unit: Unit) -> Result<Reply, Reply> {
        self.check_key(key)?;
        match self
            .write(Operation::GetExpiry { key: key.clone() })
            .await?
        {
            Outcome::Number(deadline) => Ok(Reply::Integer(expiry::time_to_live(
                deadline,
                unit,
                wall_clock_ms(),
            ))),
            other => Err(unexpected(other)),
        }
    }

    /// EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT / PERSIST (`deadline_ms` None).
    async fn expire(&mut self, key: &Bytes, deadline_ms: Option<u64>) -> Result<Reply, Reply> {
        self.check_key(key)?;
        let operation = Operation::Expire {
            key: key.clone(),
            deadline_ms,
        };
        match self.write(operation).await? {
            Outcome::Number(changed) => Ok(Reply::Integer(changed)),
            other => Err(unexpected(other)),
        }
    }

    /// APPEND: one log entry; the state machine reports the new length.
    async fn append(&mut self, key: &Bytes, suffix: &Bytes) -> Result<Reply, Reply> {
        self.check_key(key)?;
        self.check_value(suffix)?;
        let operation = Operation::Append {
            key: key.clone(),
            value: suffix.clone(),
        };
        match self.write(operation).await? {
            Outcome::Appended { length } => Ok(Reply::Integer(length as i64)),
            other => Err(unexpected(other)),
        }
    }

    /// INCR / DECR / INCRBY / DECRBY: one log entry; the store refuses a value that is
    /// not a decimal i64, or a sum out of range, with Redis's messages.
    async fn increment(&mut self, key: &Bytes, delta: i64) -> Result<Reply, Reply> {
        self.check_key(key)?;
        let operation = Operation::Increment {
            key: key.clone(),
            delta,
        };
        match self.write(operation).await? {
            Outcome::Number(value) => Ok(Reply::Integer(value)),
            other => Err(unexpected(other)),
        }
    }

    async fn info(&self) -> Result<Reply, Reply> {
        let status = self.service.status().await.map_err(service_error_reply)?;
        let mut text = String::new();
        text.push_str("# Server\r\n");
        text.push_str("redis_version:7.0.0\r\n");
        text.push_str(&format!("raftkv_version:{}\r\n", env!("CARGO_PKG_VERSION")));
        text.push_str("redis_mode:standalone\r\n");
        text.push_str("\r\n# Raft\r\n");
        text.push_str(&format!("node_id:{}\r\n", status.node_id));
        text.push_str(&format!("role:{}\r\n", status.role.to_ascii_lowercase()));
        text.push_str(&format!("term:{}\r\n", status.term));
        text.push_str(&format!("leader:{}\r\n", status.leader));
        text.push_str(&format!("commit:{}\r\n", status.commit));
        text.push_str(&format!("applied:{}\r\n", status.applied));
        text.push_str(&format!("first_index:{}\r\n", status.first_index));
        text.push_str(&format!("last_index:{}\r\n", status.last_index));
        text.push_str(&format!("snapshot_index:{}\r\n", status.snapshot_index));
        if !status.storage_failure.is_empty() {
            text.push_str(&format!("storage_failure:{}\r\n", status.storage_failure));
        }
        text.push_str("\r\n# Keyspace\r\n");
        text.push_str(&format!(
            "db0:keys={},expires={},avg_ttl=0\r\n",
            status.keys, status.expiring_keys
        ));
        Ok(Reply::bulk(text))
    }
}

fn check_size(part: Part, bytes: &Bytes, max: usize) -> Result<(), Reply> {
    if bytes.len() > max {
        return Err(Reply::err(KvError::TooLarge {
            part,
            size: bytes.len() as u64,
            max: max as u64,
        }));
    }
    Ok(())
}

fn unexpected(outcome: Outcome) -> Reply {
    Reply::err(format!("unexpected outcome {outcome:?}"))
}

fn parse_integer(bytes: &[u8]) -> Option<i64> {
    // Redis refuses "+1", " 1" and "01" as arguments too.
    kv::integer::parse_i64(bytes)
}

fn unknown_command(arguments: &[Bytes]) -> Reply {
    let name = String::from_utf8_lossy(&arguments[0]);
    let mut message = format!("unknown command '{name}', with args beginning with: ");
    for argument in arguments[1..].iter().take(8) {
        message.push_str(&format!("'{}' ", String::from_utf8_lossy(argument)));
    }
    Reply::err(message)
}

/// CONFIG GET for what redis-benchmark and redis-cli ask at start.
fn config(args: &[Bytes]) -> Result<Reply, Reply> {
    let sub = args[0].to_ascii_uppercase();
    match sub.as_slice() {
        b"GET" => {
            if args.len() < 2 {
                return Err(wrong_arity("config|get"));
            }
            let settings = [("save", ""), ("appendonly", "no"), ("databases", "1")];
            let mut items = Vec::new();
            for pattern in &args[1..] {
                let pattern = String::from_utf8_lossy(pattern).to_ascii_lowercase();
                for (name, value) in settings {
                    if pattern == "*" || pattern == name {
                        items.push(Reply::bulk(name));
                        items.push(Reply::bulk(value));
                    }
                }
            }
            Ok(Reply::Array(Some(items)))
        }
        b"SET" | b"RESETSTAT" | b"REWRITE" => Ok(Reply::ok()),
        _ => Err(Reply::err(format!(
            "unknown subcommand '{}'. Try CONFIG HELP.",
            String::from_utf8_lossy(&args[0])
        ))),
    }
}

/// COMMAND, COMMAND COUNT, COMMAND DOCS (empty: clients fall back to no hints).
fn command(args: &[Bytes]) -> Result<Reply, Reply> {
    let Some(sub) = args.first() else {
        return Ok(Reply::Array(Some(Vec::new())));
    };
    match sub.to_ascii_uppercase().as_slice() {
        b"COUNT" => Ok(Reply::Integer(COMMANDS.len() as i64)),
        b"DOCS" | b"LIST" => Ok(Reply::Array(Some(Vec::new()))),
        b"INFO" => Ok(Reply::Array(Some(
            args[1..].iter().map(|_| Reply::Array(None)).collect(),
        ))),
        _ => Err(Reply::err(format!(
            "unknown subcommand '{}'. Try COMMAND HELP.",
            String::from_utf8_lossy(sub)
        ))),
    }
}
