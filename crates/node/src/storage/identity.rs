//! The identity of the node a data directory belongs to, written once and checked on every
//! start, so a directory is never run as another node or in another cluster.
//!
//! ```text
//! IDENTITY = magic "RAFTKVID" | version: u32 LE | 0u32 | cluster_id: u64 LE | node_id: u64 LE
//!            | crc32c of bytes 0..32: u32 LE | 0u32                         (40 bytes)
//! ```

use super::file::{io_error, read_file, FileIo};
use raft::{NodeId, StorageError};
use std::fmt;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Name of the identity file in a data directory.
pub const IDENTITY_FILE_NAME: &str = "IDENTITY";
const IDENTITY_MAGIC: [u8; 8] = *b"RAFTKVID";
const IDENTITY_VERSION: u32 = 1;
const IDENTITY_LEN: usize = 40;

/// Which cluster and node a data directory belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeIdentity {
    /// The cluster's id (chosen by the operator or derived from the cluster's name).
    pub cluster_id: u64,
    /// This node's id within the cluster.
    pub node_id: NodeId,
}

impl fmt::Display for NodeIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cluster {} node {}", self.cluster_id, self.node_id.0)
    }
}

/// Why a data directory's identity could not be established.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum IdentityError {
    /// The directory belongs to another node or cluster.
    #[error("data directory {dir} belongs to {found}, not to {expected}")]
    Mismatch {
        /// The data directory.
        dir: PathBuf,
        /// The identity stored in it.
        found: NodeIdentity,
        /// The identity asked for.
        expected: NodeIdentity,
    },
    /// Reading or writing the identity failed, or the file is damaged.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<IdentityError> for StorageError {
    fn from(error: IdentityError) -> Self {
        match error {
            IdentityError::Storage(error) => error,
            // The core's StorageError has no variant for "not our directory"; the message
            // names both identities.
            mismatch @ IdentityError::Mismatch { .. } => {
                StorageError::Corrupt(mismatch.to_string())
            }
        }
    }
}

fn encode(identity: NodeIdentity) -> [u8; IDENTITY_LEN] {
    let mut out = [0u8; IDENTITY_LEN];
    out[0..8].copy_from_slice(&IDENTITY_MAGIC);
    out[8..12].copy_from_slice(&IDENTITY_VERSION.to_le_bytes());
    out[16..24].copy_from_slice(&identity.cluster_id.to_le_bytes());
    out[24..32].copy_from_slice(&identity.node_id.0.to_le_bytes());
    let crc = crc32c::crc32c(&out[0..32]);
    out[32..36].copy_from_slice(&crc.to_le_bytes());
    out
}

fn decode(path: &Path, data: &[u8]) -> Result<NodeIdentity, StorageError> {
    let bad = |offset: u64, what: &str| {
        StorageError::Corrupt(format!("{} at byte {offset}: {what}", path.display()))
    };
    if data.len() != IDENTITY_LEN {
        return Err(bad(
            0,
            &format!(
                "identity file is {} bytes, expected {IDENTITY_LEN}",
                data.len()
            ),
        ));
    }
    if data[0..8] != IDENTITY_MAGIC {
        return Err(bad(0, "not a raftkv identity file (bad magic)"));
    }
    let version = u32::from_le_bytes(data[8..12].try_into().unwrap());
    if version != IDENTITY_VERSION {
        return Err(bad(
            8,
            &format!("identity format version {version}; this build reads {IDENTITY_VERSION}"),
        ));
    }
    let crc = u32::from_le_bytes(data[32..36].try_into().unwrap());
    if crc != crc32c::crc32c(&data[0..32]) || data[12..16] != [0; 4] || data[36..40] != [0; 4] {
        return Err(bad(32, "identity checksum mismatch"));
    }
    Ok(NodeIdentity {
        cluster_id: u64::from_le_bytes(data[16..24].try_into().unwrap()),
        node_id: NodeId(u64::from_le_bytes(data[24..32].try_into().unwrap())),
    })
}

/// Reads the identity stored in `dir`, if any.
pub fn read(dir: &Path) -> Result<Option<NodeIdentity>, StorageError> {
    let path = dir.join(IDENTITY_FILE_NAME);
    if !path.exists() {
        return Ok(None);
    }
    decode(&path, &read_file(&path)?).map(Some)
}

/// Checks that `dir` belongs to `cluster_id`/`node_id`; in a directory without an identity
/// (a new node), creates `dir` if needed and writes the identity durably (temporary file,
/// fdatasync, rename, directory fsync) before returning.
pub fn check_or_init(
    dir: &Path,
    cluster_id: u64,
    node_id: NodeId,
) -> Result<NodeIdentity, IdentityError> {
    let expected = NodeIdentity {
        cluster_id,
        node_id,
    };
    if let Some(found) = read(dir)? {
        if found != expected {
            return Err(IdentityError::Mismatch {
                dir: dir.to_path_buf(),
                found,
                expected,
            });
        }
        return Ok(found);
    }
    let io = FileIo::default();
    std::fs::create_dir_all(dir).map_err(|error| io_error("create directory", dir, error))?;
    io.write_file_atomically(&dir.join(IDENTITY_FILE_NAME), &[&encode(expected)])?;
    Ok(expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_once_then_checked() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("node");
        assert_eq!(read(&data).unwrap(), None);
        let identity = check_or_init(&data, 7, NodeId(2)).unwrap();
        assert_eq!(read(&data).unwrap(), Some(identity));
        assert_eq!(check_or_init(&data, 7, NodeId(2)).unwrap(), identity);
        let error = check_or_init(&data, 7, NodeId(3)).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("cluster 7 node 2") && message.contains("cluster 7 node 3"),
            "{message}"
        );
        assert!(check_or_init(&data, 8, NodeId(2)).is_err());
    }

    #[test]
    fn damage_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        check_or_init(dir.path(), 1, NodeId(1)).unwrap();
        let path = dir.path().join(IDENTITY_FILE_NAME);
        let mut data = std::fs::read(&path).unwrap();
        data[20] ^= 1;
        std::fs::write(&path, &data).unwrap();
        assert!(matches!(
            check_or_init(dir.path(), 1, NodeId(1)),
            Err(IdentityError::Storage(_))
        ));
    }
}
