//! A minimal RESP2 client, as a plain Redis client would use the store: one command at
//! a time on one connection, no retries and no session of its own (at-least-once: the
//! caller must treat a write whose connection failed mid-request as possibly applied).

use bytes::{BufMut, BytesMut};
use server::resp::{parse_reply, Reply};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct RespConnection {
    stream: TcpStream,
    buffer: BytesMut,
}

impl RespConnection {
    pub async fn connect(address: SocketAddr, timeout: Duration) -> Result<RespConnection, String> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(address))
            .await
            .map_err(|_| format!("connect to {address} timed out"))?
            .map_err(|error| format!("connect to {address}: {error}"))?;
        let _ = stream.set_nodelay(true);
        Ok(RespConnection {
            stream,
            buffer: BytesMut::with_capacity(4096),
        })
    }

    /// Sends one command and waits for its reply. An error means the outcome is unknown
    /// and the connection must not be used again.
    pub async fn call(&mut self, arguments: &[&[u8]], timeout: Duration) -> Result<Reply, String> {
        tokio::time::timeout(timeout, self.call_inner(arguments))
            .await
            .map_err(|_| "timed out".to_string())?
    }

    async fn call_inner(&mut self, arguments: &[&[u8]]) -> Result<Reply, String> {
        self.stream
            .write_all(&encode_command(arguments))
            .await
            .map_err(|error| format!("write: {error}"))?;
        loop {
            if let Some(reply) =
                parse_reply(&mut self.buffer).map_err(|error| format!("bad reply: {error}"))?
            {
                return Ok(reply);
            }
            let read = self
                .stream
                .read_buf(&mut self.buffer)
                .await
                .map_err(|error| format!("read: {error}"))?;
            if read == 0 {
                return Err("connection closed".into());
            }
        }
    }
}

/// A command as a RESP array of bulk strings.
pub fn encode_command(arguments: &[&[u8]]) -> BytesMut {
    let mut out = BytesMut::new();
    out.put_slice(format!("*{}\r\n", arguments.len()).as_bytes());
    for argument in arguments {
        out.put_slice(format!("${}\r\n", argument.len()).as_bytes());
        out.put_slice(argument);
        out.put_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let encoded = encode_command(&[b"SET", b"k", b"v 1"]);
        assert_eq!(&encoded[..], b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv 1\r\n");
    }
}
