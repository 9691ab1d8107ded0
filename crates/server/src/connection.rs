//! One native-protocol connection, as clients and forwarding servers use it.

use crate::native::{codec, NativeRequest, NativeResponse, PREAMBLE};
use futures::{SinkExt, StreamExt};
use prost::Message;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// A connection to one node's client port, speaking the native protocol. One request
/// at a time; if a call is abandoned midway (a timeout), drop the connection.
pub struct Connection {
    framed: Framed<TcpStream, LengthDelimitedCodec>,
    next_correlation: u64,
    address: SocketAddr,
}

impl Connection {
    /// Connects and sends the preamble.
    pub async fn connect(address: SocketAddr, timeout: Duration) -> io::Result<Connection> {
        let mut stream = tokio::time::timeout(timeout, TcpStream::connect(address))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        stream.set_nodelay(true)?;
        stream.write_all(PREAMBLE).await?;
        Ok(Connection {
            framed: Framed::new(stream, codec()),
            next_correlation: 1,
            address,
        })
    }

    /// The node it is connected to.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Sends a request and waits for its response.
    pub async fn call(&mut self, mut request: NativeRequest) -> io::Result<NativeResponse> {
        request.correlation = self.next_correlation;
        self.next_correlation += 1;
        self.framed
            .send(bytes::Bytes::from(request.encode_to_vec()))
            .await?;
        let frame = self.framed.next().await.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed by the server",
            )
        })??;
        let response = NativeResponse::decode(frame.freeze())
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
        if response.correlation != request.correlation {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "response {} does not answer request {}",
                    response.correlation, request.correlation
                ),
            ));
        }
        Ok(response)
    }
}
