//! A small pipelining RESP2 client: encodes a batch of `SET` / `GET` commands into one
//! buffer, writes it with one call, and reads one reply per command. It only checks
//! each reply's type (an error reply counts as a failed request), so it works against
//! any RESP server, redis-server included.

use super::histogram::Kind;
use bytes::{Buf, BytesMut};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Deepest nesting of arrays accepted in a reply.
const MAX_DEPTH: usize = 16;

pub struct RespConnection {
    stream: TcpStream,
    output: BytesMut,
    input: BytesMut,
}

impl RespConnection {
    pub async fn connect(address: SocketAddr, timeout: Duration) -> io::Result<RespConnection> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(address))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        stream.set_nodelay(true)?;
        Ok(RespConnection {
            stream,
            output: BytesMut::with_capacity(16 * 1024),
            input: BytesMut::with_capacity(16 * 1024),
        })
    }

    /// Sends every request of the batch in one write, then reads as many replies.
    /// Returns how many replies were errors.
    pub async fn run_batch(
        &mut self,
        requests: &[(Kind, &[u8])],
        value: &[u8],
    ) -> io::Result<usize> {
        self.output.clear();
        for (kind, key) in requests {
            match kind {
                Kind::Get => encode_command(&[b"GET", key], &mut self.output),
                Kind::Put => encode_command(&[b"SET", key, value], &mut self.output),
            }
        }
        self.stream.write_all(&self.output).await?;
        let mut errors = 0;
        let mut replies = 0;
        while replies < requests.len() {
            match reply_length(&self.input)? {
                Some((length, is_error)) => {
                    self.input.advance(length);
                    replies += 1;
                    errors += usize::from(is_error);
                }
                None => {
                    if self.stream.read_buf(&mut self.input).await? == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "connection closed by the server",
                        ));
                    }
                }
            }
        }
        Ok(errors)
    }
}

/// Appends a RESP2 array of bulk strings.
pub fn encode_command(arguments: &[&[u8]], out: &mut BytesMut) {
    use std::io::Write as _;
    let mut header = [0u8; 24];
    let mut line = |prefix: u8, number: usize, out: &mut BytesMut| {
        let mut cursor = std::io::Cursor::new(&mut header[..]);
        let _ = write!(cursor, "{}{number}\r\n", prefix as char);
        let written = cursor.position() as usize;
        out.extend_from_slice(&header[..written]);
    };
    line(b'*', arguments.len(), out);
    for argument in arguments {
        line(b'$', argument.len(), out);
        out.extend_from_slice(argument);
        out.extend_from_slice(b"\r\n");
    }
}

/// The length of the complete reply at the start of `buffer` and whether it is an
/// error, or `None` if it is not complete yet.
pub fn reply_length(buffer: &[u8]) -> io::Result<Option<(usize, bool)>> {
    let mut at = 0;
    let Some(is_error) = skip_reply(buffer, &mut at, 0)? else {
        return Ok(None);
    };
    Ok(Some((at, is_error)))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// Skips one reply starting at `*at`; `Some(is_error)` when complete.
fn skip_reply(buffer: &[u8], at: &mut usize, depth: usize) -> io::Result<Option<bool>> {
    if depth > MAX_DEPTH {
        return Err(invalid("reply nested too deeply".into()));
    }
    let Some(&prefix) = buffer.get(*at) else {
        return Ok(None);
    };
    let Some(end) = buffer[*at..].windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let line = &buffer[*at + 1..*at + end];
    let after_line = *at + end + 2;
    let number = || -> io::Result<i64> {
        std::str::from_utf8(line)
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| {
                invalid(format!(
                    "bad length in reply: {:?}",
                    String::from_utf8_lossy(line)
                ))
            })
    };
    match prefix {
        b'+' | b':' => {
            *at = after_line;
            Ok(Some(false))
        }
        b'-' => {
            *at = after_line;
            Ok(Some(true))
        }
        b'$' => {
            let length = number()?;
            if length < 0 {
                *at = after_line;
                return Ok(Some(false));
            }
            let end = after_line + length as usize + 2;
            if buffer.len() < end {
                return Ok(None);
            }
            *at = end;
            Ok(Some(false))
        }
        b'*' => {
            let count = number()?;
            *at = after_line;
            let mut is_error = false;
            for _ in 0..count.max(0) {
                match skip_reply(buffer, at, depth + 1)? {
                    Some(error) => is_error |= error,
                    None => return Ok(None),
                }
            }
            Ok(Some(is_error))
        }
        other => Err(invalid(format!("unexpected reply type byte {other:#04x}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_encode_as_arrays_of_bulk_strings() {
        let mut out = BytesMut::new();
        encode_command(&[b"SET", b"k", b"v\r\n"], &mut out);
        assert_eq!(&out[..], b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\n");
    }

    #[test]
    fn every_reply_type_is_skipped_whole() {
        for (reply, is_error) in [
            (&b"+OK\r\n"[..], false),
            (b"-ERR no leader\r\n", true),
            (b":42\r\n", false),
            (b"$5\r\nhe\r\nl\r\n", false),
            (b"$-1\r\n", false),
            (b"*2\r\n$1\r\na\r\n:1\r\n", false),
            (b"*-1\r\n", false),
            (b"*1\r\n-ERR inner\r\n", true),
        ] {
            let mut buffer = reply.to_vec();
            buffer.extend_from_slice(b"+NEXT\r\n");
            assert_eq!(
                reply_length(&buffer).unwrap(),
                Some((reply.len(), is_error)),
                "{}",
                String::from_utf8_lossy(reply)
            );
            // Every strict prefix is incomplete.
            for cut in 0..reply.len() {
                assert_eq!(reply_length(&reply[..cut]).unwrap(), None, "cut {cut}");
            }
        }
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(reply_length(b"?what\r\n").is_err());
        assert!(reply_length(b"$x\r\n").is_err());
    }
}
