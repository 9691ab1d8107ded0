//! RESP2, the Redis serialization protocol: an incremental, bounded parser of client
//! commands and an encoder of replies.
//!
//! Clients send either arrays of bulk strings (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) or inline
//! commands (`GET k\r\n`, what `telnet` users type). The parser never buffers more than
//! its limits allow: a bulk string longer than `max_bulk_bytes`, an array longer than
//! `max_array_len` or an inline line longer than `max_inline_bytes` is a protocol error,
//! found as soon as the offending header (or line) arrives, before its body.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;

/// Bounds on what a client may send.
#[derive(Clone, Copy, Debug)]
pub struct RespLimits {
    /// Longest bulk string (one argument), in bytes.
    pub max_bulk_bytes: usize,
    /// Most arguments in one command.
    pub max_array_len: usize,
    /// Longest inline command line, in bytes.
    pub max_inline_bytes: usize,
    /// Largest whole command (all its arguments and headers), in bytes: bounds what
    /// one connection may make the server buffer.
    pub max_command_bytes: usize,
}

impl Default for RespLimits {
    fn default() -> RespLimits {
        RespLimits {
            max_bulk_bytes: 1 << 20,
            max_array_len: 1024 * 1024,
            max_inline_bytes: 64 * 1024,
            max_command_bytes: 8 << 20,
        }
    }
}

/// Input that is not RESP, or exceeds a limit. The connection cannot continue: the
/// server replies `-ERR Protocol error: ...` and closes it.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("Protocol error: {0}")]
pub struct ProtocolError(pub String);

fn error<T>(message: impl Into<String>) -> Result<T, ProtocolError> {
    Err(ProtocolError(message.into()))
}

/// Parses one command from the front of `buffer`. Returns `Ok(None)` when the command
/// is not complete yet (nothing is consumed), `Ok(Some(arguments))` after consuming it.
/// An empty inline line yields an empty argument list (callers skip it).
pub fn parse_command(
    buffer: &mut BytesMut,
    limits: &RespLimits,
) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    let Some(&first) = buffer.first() else {
        return Ok(None);
    };
    let parsed = if first == b'*' {
        parse_array(buffer, limits)?
    } else {
        parse_inline(buffer, limits)?
    };
    // Incomplete: the buffer holds the start of one command and nothing else.
    if parsed.is_none() && buffer.len() > limits.max_command_bytes {
        return error("too big command");
    }
    Ok(parsed)
}

/// Finds `\r\n` at or after `from`; `Ok(None)` if not there yet.
fn find_line_end(
    buffer: &[u8],
    from: usize,
    max_line: usize,
) -> Result<Option<usize>, ProtocolError> {
    let window = &buffer[from..];
    match window.windows(2).position(|pair| pair == b"\r\n") {
        Some(position) if position > max_line => error("too big line"),
        Some(position) => Ok(Some(from + position)),
        None if window.len() > max_line + 1 => error("too big line"),
        None => Ok(None),
    }
}

/// Parses a header line `<prefix><integer>\r\n` at `at`; returns (value, next offset).
fn parse_header(
    buffer: &[u8],
    at: usize,
    prefix: u8,
    what: &str,
) -> Result<Option<(i64, usize)>, ProtocolError> {
    if at >= buffer.len() {
        return Ok(None);
    }
    if buffer[at] != prefix {
        return error(format!(
            "expected '{}', got '{}'",
            prefix as char,
            printable(buffer[at])
        ));
    }
    // Headers are short: 20 digits and a sign at most.
    let Some(end) = find_line_end(buffer, at + 1, 32)
        .map_err(|_| ProtocolError(format!("invalid {what} length")))?
    else {
        return Ok(None);
    };
    let digits = std::str::from_utf8(&buffer[at + 1..end])
        .ok()
        .and_then(|text| text.parse::<i64>().ok());
    match digits {
        Some(value) => Ok(Some((value, end + 2))),
        None => error(format!("invalid {what} length")),
    }
}

fn printable(byte: u8) -> String {
    if byte.is_ascii_graphic() {
        (byte as char).to_string()
    } else {
        format!("\\x{byte:02x}")
    }
}

fn parse_array(
    buffer: &mut BytesMut,
    limits: &RespLimits,
) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    let Some((count, mut at)) = parse_header(buffer, 0, b'*', "multibulk")? else {
        return Ok(None);
    };
    if count > limits.max_array_len as i64 {
        return error("invalid multibulk length");
    }
    if count <= 0 {
        buffer.advance(at);
        return Ok(Some(Vec::new()));
    }
    // First pass: check that the whole command is here (and every header is sane)
    // without copying; then split it off.
    let mut spans = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let Some((length, body)) = parse_header(buffer, at, b'$', "bulk")? else {
            return Ok(None);
        };
        if length < 0 || length > limits.max_bulk_bytes as i64 {
            return error("invalid bulk length");
        }
        let end = body + length as usize;
        if buffer.len() < end + 2 {
            return Ok(None);
        }
        if &buffer[end..end + 2] != b"\r\n" {
            return error("bulk string not terminated by CRLF");
        }
        spans.push((body, end));
        at = end + 2;
    }
    let frame = buffer.split_to(at).freeze();
    Ok(Some(
        spans
            .into_iter()
            .map(|(start, end)| frame.slice(start..end))
            .collect(),
    ))
}

fn parse_inline(
    buffer: &mut BytesMut,
    limits: &RespLimits,
) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    // Inline commands end with "\n" (telnet sends "\r\n").
    let newline = buffer.iter().position(|&byte| byte == b'\n');
    let Some(newline) = newline else {
        if buffer.len() > limits.max_inline_bytes {
            return error("too big inline request");
        }
        return Ok(None);
    };
    if newline > limits.max_inline_bytes {
        return error("too big inline request");
    }
    let line = buffer.split_to(newline + 1);
    let line = line[..newline]
        .strip_suffix(b"\r")
        .unwrap_or(&line[..newline]);
    let arguments = split_inline(line)?;
    if arguments.len() > limits.max_array_len {
        return error("invalid multibulk length");
    }
    Ok(Some(arguments))
}

/// Splits an inline line on spaces, honouring double and single quotes (with `\`
/// escapes inside double quotes), as redis-server does.
fn split_inline(line: &[u8]) -> Result<Vec<Bytes>, ProtocolError> {
    let mut arguments = Vec::new();
    let mut index = 0;
    while index < line.len() {
        while index < line.len() && line[index].is_ascii_whitespace() {
            index += 1;
        }
        if index >= line.len() {
            break;
        }
        let mut argument = Vec::new();
        match line[index] {
            quote @ (b'"' | b'\'') => {
                index += 1;
                loop {
                    let Some(&byte) = line.get(index) else {
                        return error("unbalanced quotes in request");
                    };
                    index += 1;
                    if byte == quote {
                        break;
                    }
                    if byte == b'\\' && quote == b'"' {
                        let Some(&escaped) = line.get(index) else {
                            return error("unbalanced quotes in request");
                        };
                        index += 1;
                        argument.push(match escaped {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            other => other,
                        });
                    } else {
                        argument.push(byte);
                    }
                }
                if index < line.len() && !line[index].is_ascii_whitespace() {
                    return error("unbalanced quotes in request");
                }
            }
            _ => {
                while index < line.len() && !line[index].is_ascii_whitespace() {
                    argument.push(line[index]);
                    index += 1;
                }
            }
        }
        arguments.push(Bytes::from(argument));
    }
    Ok(arguments)
}

/// A reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`
    Simple(String),
    /// `-ERR ...`: the text includes the error code (`ERR`, `WRONGTYPE`, ...).
    Error(String),
    /// `:42`
    Integer(i64),
    /// `$3\r\nabc` or the nil bulk `$-1`.
    Bulk(Option<Bytes>),
    /// `*2 ...` or the nil array `*-1`.
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// `+OK`.
    pub fn ok() -> Reply {
        Reply::Simple("OK".to_string())
    }

    /// `-ERR <message>`.
    pub fn err(message: impl std::fmt::Display) -> Reply {
        Reply::Error(format!("ERR {message}"))
    }

    /// A bulk string.
    pub fn bulk(value: impl Into<Bytes>) -> Reply {
        Reply::Bulk(Some(value.into()))
    }

    /// The nil bulk string.
    pub fn nil() -> Reply {
        Reply::Bulk(None)
    }

    /// Appends the wire form to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            Reply::Simple(text) => line(out, b'+', text.as_bytes()),
            Reply::Error(text) => line(out, b'-', text.as_bytes()),
            Reply::Integer(value) => line(out, b':', value.to_string().as_bytes()),
            Reply::Bulk(None) => out.put_slice(b"$-1\r\n"),
            Reply::Bulk(Some(value)) => {
                line(out, b'$', value.len().to_string().as_bytes());
                out.put_slice(value);
                out.put_slice(b"\r\n");
            }
            Reply::Array(None) => out.put_slice(b"*-1\r\n"),
            Reply::Array(Some(items)) => {
                line(out, b'*', items.len().to_string().as_bytes());
                for item in items {
                    item.encode(out);
                }
            }
        }
    }
}

/// Simple strings and errors must not contain CR or LF; they are replaced by spaces.
fn line(out: &mut BytesMut, prefix: u8, text: &[u8]) {
    out.put_u8(prefix);
    out.extend(text.iter().map(|&byte| {
        if byte == b'\r' || byte == b'\n' {
            b' '
        } else {
            byte
        }
    }));
    out.put_slice(b"\r\n");
}

/// Parses one reply (what a server sends); for clients and tests. `Ok(None)` when
/// incomplete. Unbounded: use only against trusted servers.
pub fn parse_reply(buffer: &mut BytesMut) -> Result<Option<Reply>, ProtocolError> {
    let mut at = 0;
    match parse_reply_at(buffer, &mut at)? {
        Some(reply) => {
            buffer.advance(at);
            Ok(Some(reply))
        }
        None => Ok(None),
    }
}

fn parse_reply_at(buffer: &[u8], at: &mut usize) -> Result<Option<Reply>, ProtocolError> {
    let Some(&kind) = buffer.get(*at) else {
        return Ok(None);
    };
    let Some(end) = find_line_end(buffer, *at + 1, usize::MAX / 4)? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&buffer[*at + 1..end]).into_owned();
    let number = || {
        text.parse::<i64>()
            .map_err(|_| ProtocolError(format!("bad number {text:?}")))
    };
    let next = end + 2;
    let reply = match kind {
        b'+' => Reply::Simple(text.clone()),
        b'-' => Reply::Error(text.clone()),
        b':' => Reply::Integer(number()?),
        b'$' => {
            let length = number()?;
            if length < 0 {
                Reply::Bulk(None)
            } else {
                let stop = next + length as usize;
                if buffer.len() < stop + 2 {
                    return Ok(None);
                }
                *at = stop + 2;
                return Ok(Some(Reply::Bulk(Some(Bytes::copy_from_slice(
                    &buffer[next..stop],
                )))));
            }
        }
        b'*' => {
            let count = number()?;
            if count < 0 {
                Reply::Array(None)
            } else {
                let mut cursor = next;
                let mut items = Vec::new();
                for _ in 0..count {
                    match parse_reply_at(buffer, &mut cursor)? {
                        Some(item) => items.push(item),
                        None => return Ok(None),
                    }
                }
                *at = cursor;
                return Ok(Some(Reply::Array(Some(items))));
            }
        }
        other => return error(format!("unknown reply type '{}'", printable(other))),
    };
    *at = next;
    Ok(Some(reply))
}

/// Encodes a command as an array of bulk strings (what clients send).
pub fn encode_command(arguments: &[&[u8]], out: &mut BytesMut) {
    Reply::Array(Some(
        arguments
            .iter()
            .map(|argument| Reply::bulk(Bytes::copy_from_slice(argument)))
            .collect(),
    ))
    .encode(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8], limits: &RespLimits) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
        let mut buffer = BytesMut::from(input);
        let mut commands = Vec::new();
        while let Some(command) = parse_command(&mut buffer, limits)? {
            commands.push(command);
        }
        Ok(commands)
    }

    fn args(items: &[&str]) -> Vec<Bytes> {
        items
            .iter()
            .map(|item| Bytes::copy_from_slice(item.as_bytes()))
            .collect()
    }

    #[test]
    fn parses_an_array_command() {
        let commands = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", &RespLimits::default());
        assert_eq!(commands, Ok(vec![args(&["GET", "k"])]));
    }

    #[test]
    fn every_prefix_of_a_command_is_incomplete_and_consumes_nothing() {
        let full = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
        for cut in 0..full.len() {
            let mut buffer = BytesMut::from(&full[..cut]);
            assert_eq!(
                parse_command(&mut buffer, &RespLimits::default()),
                Ok(None),
                "prefix of {cut} bytes"
            );
            assert_eq!(buffer.len(), cut);
        }
        // Fed byte by byte, it completes exactly once at the end.
        let mut buffer = BytesMut::new();
        let mut parsed = Vec::new();
        for &byte in full.iter() {
            buffer.put_u8(byte);
            if let Some(command) = parse_command(&mut buffer, &RespLimits::default()).unwrap() {
                parsed.push(command);
            }
        }
        assert_eq!(parsed, vec![args(&["SET", "key", "value"])]);
        assert!(buffer.is_empty());
    }

    #[test]
    fn pipelined_commands_parse_in_order_and_leave_a_partial_tail() {
        let mut input = Vec::new();
        input.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        input.extend_from_slice(b"ECHO hello\r\n");
        input.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n");
        input.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$1");
        let mut buffer = BytesMut::from(&input[..]);
        let limits = RespLimits::default();
        let mut commands = Vec::new();
        while let Some(command) = parse_command(&mut buffer, &limits).unwrap() {
            commands.push(command);
        }
        assert_eq!(
            commands,
            vec![
                args(&["PING"]),
                args(&["ECHO", "hello"]),
                args(&["GET", "a"])
            ]
        );
        assert_eq!(&buffer[..], b"*2\r\n$3\r\nGET\r\n$1");
        buffer.put_slice(b"\r\nb\r\n");
        assert_eq!(
            parse_command(&mut buffer, &limits),
            Ok(Some(args(&["GET", "b"])))
        );
    }

    #[test]
    fn binary_values_with_crlf_inside_survive() {
        let commands = parse_all(
            b"*2\r\n$4\r\nECHO\r\n$4\r\na\r\nb\r\n",
            &RespLimits::default(),
        );
        assert_eq!(commands.unwrap()[0][1], Bytes::from_static(b"a\r\nb"));
    }

    #[test]
    fn inline_commands_split_on_spaces_and_honour_quotes() {
        let commands = parse_all(
            b"SET k \"a b\\n\" \r\nGET 'x y'\n\r\n",
            &RespLimits::default(),
        )
        .unwrap();
        assert_eq!(
            commands,
            vec![
                args(&["SET", "k", "a b\n"]),
                args(&["GET", "x y"]),
                args(&[])
            ]
        );
        assert!(parse_all(b"GET \"open\r\n", &RespLimits::default()).is_err());
    }

    #[test]
    fn malformed_input_is_a_protocol_error() {
        let limits = RespLimits::default();
        for input in [
            &b"*x\r\n"[..],
            b"*1\r\n+PING\r\n",
            b"*1\r\n$-5\r\n",
            b"*1\r\n$abc\r\n",
            b"*1\r\n$4\r\nPINGxx",
            b"*99999999999999999999999\r\n",
        ] {
            assert!(
                parse_all(input, &limits).is_err(),
                "{:?} should be malformed",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn limits_are_enforced_on_headers_before_the_body_arrives() {
        let limits = RespLimits {
            max_bulk_bytes: 10,
            max_array_len: 3,
            max_inline_bytes: 16,
            max_command_bytes: 40,
        };
        assert_eq!(
            parse_all(b"*1\r\n$11\r\n", &limits),
            Err(ProtocolError("invalid bulk length".into()))
        );
        assert!(parse_all(b"*1\r\n$10\r\n0123456789\r\n", &limits).is_ok());
        assert_eq!(
            parse_all(b"*4\r\n", &limits),
            Err(ProtocolError("invalid multibulk length".into()))
        );
        assert_eq!(
            parse_all(b"GET aaaaaaaaaaaaaaaaaaaaaaaaaa", &limits),
            Err(ProtocolError("too big inline request".into()))
        );
        assert_eq!(
            parse_all(b"GET aaaaaaaaaaaaaaaaaaaaa\r\n", &limits),
            Err(ProtocolError("too big inline request".into()))
        );
        assert_eq!(
            parse_all(b"A B C D\r\n", &limits),
            Err(ProtocolError("invalid multibulk length".into()))
        );
        // Each argument within bounds, the whole command not.
        assert_eq!(
            parse_all(
                b"*3\r\n$10\r\n0123456789\r\n$10\r\n0123456789\r\n$10\r\n01",
                &limits
            ),
            Err(ProtocolError("too big command".into()))
        );
        // A header line that never ends is refused once it is clearly too long.
        assert!(parse_all(b"*1\r\n$1111111111111111111111111111111111111", &limits).is_err());
    }

    #[test]
    fn empty_and_negative_arrays_are_empty_commands() {
        assert_eq!(
            parse_all(b"*0\r\n*-1\r\n", &RespLimits::default()),
            Ok(vec![vec![], vec![]])
        );
    }

    #[test]
    fn replies_round_trip() {
        let replies = vec![
            Reply::ok(),
            Reply::err("unknown command"),
            Reply::Integer(-3),
            Reply::bulk("a\r\nb"),
            Reply::nil(),
            Reply::Array(None),
            Reply::Array(Some(vec![
                Reply::bulk("x"),
                Reply::Integer(1),
                Reply::nil(),
            ])),
        ];
        let mut out = BytesMut::new();
        for reply in &replies {
            reply.encode(&mut out);
        }
        let mut parsed = Vec::new();
        while let Some(reply) = parse_reply(&mut out).unwrap() {
            parsed.push(reply);
        }
        assert_eq!(parsed, replies);
        let mut wire = BytesMut::new();
        Reply::err("a\r\nb").encode(&mut wire);
        assert_eq!(&wire[..], b"-ERR a  b\r\n");
    }
}
