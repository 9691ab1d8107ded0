//! The client port: RESP2 and the native protocol on one listener, told apart by the
//! first byte (native connections start with [`crate::native::PREAMBLE`], whose first
//! byte, 0x00, never starts a RESP command).
//!
//! Each connection runs on a task of its own; a malformed one is answered with an
//! error and closed, and the others never notice.

use crate::commands::{After, Commands};
use crate::native::{codec, ErrorCode, NativeRequest, NativeResponse, PREAMBLE};
use crate::resp::{parse_command, Reply};
use crate::service::Service;
use bytes::BytesMut;
use futures::{SinkExt, StreamExt};
use prost::Message;
use std::future::Future;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::codec::Framed;

/// Replies are written once this many bytes are pending, or when the input has no
/// complete command left (pipelined commands get their replies in one write).
const WRITE_BATCH_BYTES: usize = 64 * 1024;

/// Serves clients on `listener` until `shutdown` completes; then closes every
/// connection.
pub async fn serve(listener: TcpListener, service: Service, shutdown: impl Future<Output = ()>) {
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let service = service.clone();
                    connections.spawn(async move {
                        if let Err(error) = handle_connection(stream, service).await {
                            tracing::debug!(%peer, %error, "client connection ended");
                        }
                    });
                }
                Err(error) => {
                    // Out of file descriptors and the like: wait a little, go on.
                    tracing::warn!(%error, "accepting a client connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

async fn handle_connection(stream: TcpStream, service: Service) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut first = [0u8; 1];
    if stream.peek(&mut first).await? == 0 {
        return Ok(());
    }
    if first[0] == PREAMBLE[0] {
        serve_native(stream, service).await
    } else {
        serve_resp(stream, service).await
    }
}

async fn serve_resp(mut stream: TcpStream, service: Service) -> std::io::Result<()> {
    let limits = service.config().resp_limits;
    let mut commands = Commands::new(service);
    let mut input = BytesMut::with_capacity(16 * 1024);
    let mut output = BytesMut::with_capacity(16 * 1024);
    loop {
        loop {
            let arguments = match parse_command(&mut input, &limits) {
                Ok(Some(arguments)) => arguments,
                Ok(None) => break,
                Err(error) => {
                    Reply::err(&error).encode(&mut output);
                    stream.write_all(&output).await?;
                    return Ok(());
                }
            };
            if arguments.is_empty() {
                continue;
            }
            let (reply, after) = commands.run(arguments).await;
            reply.encode(&mut output);
            if after == After::Close {
                stream.write_all(&output).await?;
                return Ok(());
            }
            if output.len() >= WRITE_BATCH_BYTES {
                stream.write_all(&output).await?;
                output.clear();
            }
        }
        if !output.is_empty() {
            stream.write_all(&output).await?;
            output.clear();
        }
        if stream.read_buf(&mut input).await? == 0 {
            return Ok(());
        }
    }
}

async fn serve_native(mut stream: TcpStream, service: Service) -> std::io::Result<()> {
    let mut preamble = [0u8; 4];
    stream.read_exact(&mut preamble).await?;
    if &preamble != PREAMBLE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "bad native preamble",
        ));
    }
    let mut framed = Framed::new(stream, codec());
    while let Some(frame) = framed.next().await {
        let response = match NativeRequest::decode(frame?.freeze()) {
            Ok(request) => service.handle_native(request).await,
            Err(error) => {
                let response = NativeResponse::error(
                    0,
                    ErrorCode::BadRequest,
                    format!("undecodable request: {error}"),
                );
                framed
                    .send(bytes::Bytes::from(response.encode_to_vec()))
                    .await?;
                return Ok(());
            }
        };
        framed
            .send(bytes::Bytes::from(response.encode_to_vec()))
            .await?;
    }
    Ok(())
}
