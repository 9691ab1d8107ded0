//! raftkv servers: RESP2 for any Redis client, a native protocol, and the native client.
pub mod resp;
