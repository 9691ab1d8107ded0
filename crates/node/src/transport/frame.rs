//! Length-prefixed framing: every frame is a 4-byte big-endian payload length followed
//! by the payload (one prost-encoded message). A frame whose declared length exceeds the
//! maximum is an error before any of its payload is buffered, so a hostile or confused
//! peer cannot make us allocate more than `max_frame_bytes` per connection.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::{Decoder, Encoder};

/// Bytes of the length prefix in front of every frame.
pub const FRAME_HEADER_BYTES: usize = 4;

/// A framing failure.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// A frame declared (or, when sending, would need) more payload bytes than allowed.
    #[error("frame of {len} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// The declared or needed payload length.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The connection failed or ended in the middle of a frame.
    #[error("connection error: {0}")]
    Io(#[from] io::Error),
}

/// A tokio-util codec for length-prefixed frames of at most `max_frame_bytes` payload
/// bytes. Decodes to the payload as [`Bytes`]; encodes any prost message directly into
/// the write buffer (one copy of its payload bytes, no intermediate buffer).
#[derive(Clone, Copy, Debug)]
pub struct FrameCodec {
    max_frame_bytes: usize,
}

impl FrameCodec {
    /// A codec refusing payloads longer than `max_frame_bytes` (capped at `u32::MAX`).
    pub fn new(max_frame_bytes: usize) -> FrameCodec {
        FrameCodec {
            max_frame_bytes: max_frame_bytes.min(u32::MAX as usize),
        }
    }

    /// The largest payload this codec accepts.
    pub fn max_frame_bytes(&self) -> usize {
        self.max_frame_bytes
    }
}

impl Decoder for FrameCodec {
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if src.len() < FRAME_HEADER_BYTES {
            return Ok(None);
        }
        let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        if len > self.max_frame_bytes {
            return Err(FrameError::TooLarge {
                len,
                max: self.max_frame_bytes,
            });
        }
        let total = FRAME_HEADER_BYTES + len;
        if src.len() < total {
            // Reserve the rest of this frame at once rather than growing in steps.
            src.reserve(total - src.len());
            return Ok(None);
        }
        src.advance(FRAME_HEADER_BYTES);
        Ok(Some(src.split_to(len).freeze()))
    }
}

impl<M: prost::Message> Encoder<M> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, message: M, dst: &mut BytesMut) -> Result<(), FrameError> {
        let len = message.encoded_len();
        if len > self.max_frame_bytes {
            return Err(FrameError::TooLarge {
                len,
                max: self.max_frame_bytes,
            });
        }
        dst.reserve(FRAME_HEADER_BYTES + len);
        dst.put_u32(len as u32);
        message.encode_raw(dst);
        Ok(())
    }
}

/// Reads one frame straight from `reader`, consuming exactly its bytes (nothing after
/// it), so the stream can be handed to a [`FrameCodec`] afterwards. Used for the
/// handshake, whose frames have a much smaller limit than messages.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_frame_bytes: usize,
) -> Result<Bytes, FrameError> {
    let len = reader.read_u32().await? as usize;
    if len > max_frame_bytes {
        return Err(FrameError::TooLarge {
            len,
            max: max_frame_bytes,
        });
    }
    let mut payload = vec![0u8; len];
    reader.read_exact(&mut payload).await?;
    Ok(Bytes::from(payload))
}

/// Writes `message` as one frame to `writer` and flushes it.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    message: &impl prost::Message,
    max_frame_bytes: usize,
) -> Result<(), FrameError> {
    let len = message.encoded_len();
    if len > max_frame_bytes.min(u32::MAX as usize) {
        return Err(FrameError::TooLarge {
            len,
            max: max_frame_bytes,
        });
    }
    let mut buffer = BytesMut::with_capacity(FRAME_HEADER_BYTES + len);
    buffer.put_u32(len as u32);
    message.encode_raw(&mut buffer);
    writer.write_all(&buffer).await?;
    writer.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::codec::{WireBody, WireMessage, WireTimeoutNow};

    fn timeout_now() -> WireMessage {
        WireMessage {
            from: 1,
            to: 2,
            term: 3,
            body: Some(WireBody::TimeoutNow(WireTimeoutNow {})),
        }
    }

    #[test]
    fn frames_round_trip_across_partial_reads() {
        let mut codec = FrameCodec::new(1024);
        let mut wire = BytesMut::new();
        codec.encode(timeout_now(), &mut wire).unwrap();
        codec.encode(timeout_now(), &mut wire).unwrap();
        let whole = wire.freeze();
        let mut src = BytesMut::new();
        let mut frames = Vec::new();
        for byte in whole.iter() {
            src.put_u8(*byte);
            while let Some(frame) = codec.decode(&mut src).unwrap() {
                frames.push(frame);
            }
        }
        assert_eq!(frames.len(), 2);
        for frame in frames {
            assert_eq!(
                <WireMessage as prost::Message>::decode(frame).unwrap(),
                timeout_now()
            );
        }
    }

    #[test]
    fn oversized_frame_is_refused_from_its_header() {
        let mut codec = FrameCodec::new(16);
        let mut src = BytesMut::new();
        src.put_u32(17);
        assert!(matches!(
            codec.decode(&mut src),
            Err(FrameError::TooLarge { len: 17, max: 16 })
        ));
    }

    #[test]
    fn oversized_message_is_not_encoded() {
        let mut codec = FrameCodec::new(4);
        let mut dst = BytesMut::new();
        assert!(matches!(
            codec.encode(timeout_now(), &mut dst),
            Err(FrameError::TooLarge { .. })
        ));
        assert!(dst.is_empty());
    }
}
