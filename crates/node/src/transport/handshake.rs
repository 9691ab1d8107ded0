//! The handshake that opens every connection.
//!
//! The connecting node sends one [`Hello`] frame; the accepting node answers with one
//! [`HelloReply`] frame and, if it refused, closes the connection. Only after an accepted
//! reply does the connecting node send messages. Afterwards the accepting side never
//! writes again: connections carry messages one way, from the node that opened them.
//!
//! A connection is refused (logged at `warn` on both sides) if the magic number is wrong
//! (not a raftkv transport), the protocol version differs, the cluster id differs, the
//! sender is not a configured peer, the connection was meant for another node id, or the
//! channel is unknown.

use bytes::Bytes;
use prost::Message as _;
use raft::NodeId;
use std::fmt;

/// Identifies a raftkv transport connection ("RKVT").
pub const HANDSHAKE_MAGIC: u32 = 0x524b_5654;

/// The version of the wire protocol (framing, handshake, [`super::codec`]). Peers must
/// speak the same version.
pub const PROTOCOL_VERSION: u32 = 1;

/// The largest handshake frame either side accepts.
pub const MAX_HANDSHAKE_FRAME_BYTES: usize = 1024;

/// Which of a peer's two outgoing connections a connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// Every message except snapshot chunks: votes, AppendEntries (heartbeats), responses.
    Control,
    /// `InstallSnapshot` chunks only, so a multi-MiB chunk never delays a heartbeat.
    Snapshot,
}

impl Channel {
    /// The channel a message travels on.
    pub fn for_message(message: &raft::Message) -> Channel {
        match message.body {
            raft::MessageBody::InstallSnapshot { .. } => Channel::Snapshot,
            _ => Channel::Control,
        }
    }

    /// The channel's number in [`Hello::channel`].
    pub fn code(self) -> u32 {
        match self {
            Channel::Control => 0,
            Channel::Snapshot => 1,
        }
    }

    /// The channel with number `code`, if any.
    pub fn from_code(code: u32) -> Option<Channel> {
        match code {
            0 => Some(Channel::Control),
            1 => Some(Channel::Snapshot),
            _ => None,
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Channel::Control => "control",
            Channel::Snapshot => "snapshot",
        })
    }
}

/// The first frame on a connection, from the connecting node.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Hello {
    /// Always [`HANDSHAKE_MAGIC`].
    #[prost(fixed32, tag = "1")]
    pub magic: u32,
    /// The sender's [`PROTOCOL_VERSION`].
    #[prost(uint32, tag = "2")]
    pub protocol_version: u32,
    /// The cluster the sender belongs to.
    #[prost(uint64, tag = "3")]
    pub cluster_id: u64,
    /// The sender's node id; every message on the connection must be `from` it.
    #[prost(uint64, tag = "4")]
    pub from: u64,
    /// The node id the sender believes it is talking to.
    #[prost(uint64, tag = "5")]
    pub to: u64,
    /// [`Channel::code`] of this connection.
    #[prost(uint32, tag = "6")]
    pub channel: u32,
}

/// The accepting node's answer to a [`Hello`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloReply {
    /// The connection is accepted.
    #[prost(bool, tag = "1")]
    pub accepted: bool,
    /// Why it was refused (empty when accepted).
    #[prost(string, tag = "2")]
    pub reason: String,
}

impl Hello {
    /// The hello of node `from` in `cluster_id` opening `channel` to node `to`.
    pub fn new(cluster_id: u64, from: NodeId, to: NodeId, channel: Channel) -> Hello {
        Hello {
            magic: HANDSHAKE_MAGIC,
            protocol_version: PROTOCOL_VERSION,
            cluster_id,
            from: from.0,
            to: to.0,
            channel: channel.code(),
        }
    }
}

/// What the accepting side knows to judge a [`Hello`].
pub(crate) struct Acceptor<'a> {
    pub cluster_id: u64,
    pub node_id: NodeId,
    pub is_peer: &'a (dyn Fn(NodeId) -> bool + Sync),
}

/// Why a [`Hello`] was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    /// The first frame was not a handshake.
    #[error("not a raftkv transport handshake")]
    NotAHandshake,
    /// Another protocol version.
    #[error("protocol version {theirs} is not supported (this node speaks {ours})")]
    Version {
        /// The connecting node's version.
        theirs: u32,
        /// Ours.
        ours: u32,
    },
    /// Another cluster.
    #[error("cluster id {theirs} is not this cluster ({ours})")]
    Cluster {
        /// The connecting node's cluster id.
        theirs: u64,
        /// Ours.
        ours: u64,
    },
    /// A node id that is not a configured peer (or is our own).
    #[error("node {0} is not a peer of this node")]
    UnknownNode(NodeId),
    /// The connection was meant for another node (a misconfigured address).
    #[error("connection meant for node {theirs}, but this is node {ours}")]
    WrongNode {
        /// The node the connecting side wanted.
        theirs: NodeId,
        /// Ours.
        ours: NodeId,
    },
    /// An unknown channel number.
    #[error("unknown channel {0}")]
    UnknownChannel(u32),
}

impl Acceptor<'_> {
    /// Decodes and judges a hello frame: the sender and channel, or why it is refused.
    pub(crate) fn judge(&self, frame: Bytes) -> Result<(NodeId, Channel), Refusal> {
        let hello = Hello::decode(frame).map_err(|_| Refusal::NotAHandshake)?;
        if hello.magic != HANDSHAKE_MAGIC {
            return Err(Refusal::NotAHandshake);
        }
        if hello.protocol_version != PROTOCOL_VERSION {
            return Err(Refusal::Version {
                theirs: hello.protocol_version,
                ours: PROTOCOL_VERSION,
            });
        }
        if hello.cluster_id != self.cluster_id {
            return Err(Refusal::Cluster {
                theirs: hello.cluster_id,
                ours: self.cluster_id,
            });
        }
        let from = NodeId(hello.from);
        if from == self.node_id || !(self.is_peer)(from) {
            return Err(Refusal::UnknownNode(from));
        }
        if NodeId(hello.to) != self.node_id {
            return Err(Refusal::WrongNode {
                theirs: NodeId(hello.to),
                ours: self.node_id,
            });
        }
        let channel =
            Channel::from_code(hello.channel).ok_or(Refusal::UnknownChannel(hello.channel))?;
        Ok((from, channel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(hello: Hello) -> Result<(NodeId, Channel), Refusal> {
        let is_peer = |id: NodeId| id == NodeId(2) || id == NodeId(3);
        Acceptor {
            cluster_id: 7,
            node_id: NodeId(1),
            is_peer: &is_peer,
        }
        .judge(Bytes::from(hello.encode_to_vec()))
    }

    #[test]
    fn accepts_a_peer_of_the_cluster() {
        let hello = Hello::new(7, NodeId(2), NodeId(1), Channel::Snapshot);
        assert_eq!(judge(hello), Ok((NodeId(2), Channel::Snapshot)));
    }

    #[test]
    fn refuses_each_mismatch() {
        let good = Hello::new(7, NodeId(2), NodeId(1), Channel::Control);
        let cases = [
            (
                Hello {
                    magic: 1,
                    ..good.clone()
                },
                Refusal::NotAHandshake,
            ),
            (
                Hello {
                    protocol_version: 9,
                    ..good.clone()
                },
                Refusal::Version { theirs: 9, ours: 1 },
            ),
            (
                Hello {
                    cluster_id: 8,
                    ..good.clone()
                },
                Refusal::Cluster { theirs: 8, ours: 7 },
            ),
            (
                Hello {
                    from: 4,
                    ..good.clone()
                },
                Refusal::UnknownNode(NodeId(4)),
            ),
            (
                Hello {
                    from: 1,
                    ..good.clone()
                },
                Refusal::UnknownNode(NodeId(1)),
            ),
            (
                Hello {
                    to: 3,
                    ..good.clone()
                },
                Refusal::WrongNode {
                    theirs: NodeId(3),
                    ours: NodeId(1),
                },
            ),
            (
                Hello {
                    channel: 5,
                    ..good.clone()
                },
                Refusal::UnknownChannel(5),
            ),
        ];
        for (hello, refusal) in cases {
            assert_eq!(judge(hello), Err(refusal));
        }
    }

    #[test]
    fn garbage_is_not_a_handshake() {
        let is_peer = |_: NodeId| true;
        let acceptor = Acceptor {
            cluster_id: 7,
            node_id: NodeId(1),
            is_peer: &is_peer,
        };
        assert_eq!(
            acceptor.judge(Bytes::from_static(&[0xff; 8])),
            Err(Refusal::NotAHandshake)
        );
        assert_eq!(acceptor.judge(Bytes::new()), Err(Refusal::NotAHandshake));
    }
}
