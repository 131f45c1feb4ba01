//! Small public result types of client operations.

use std::time::Duration;

/// Outcome of reading a value into a caller's buffer. Reads are full-length-or-miss: the buffer
/// holds the whole value only on [`GetInto::Hit`]; on any other outcome its contents are
/// unspecified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GetInto {
    /// The whole value, of this many bytes, is in the buffer's first bytes.
    Hit(usize),
    /// The key is not stored (or its value was damaged, or its server is unreachable under
    /// `unreachable: miss`).
    Miss,
    /// The value exists but is larger than the buffer; nothing usable was written.
    TooSmall {
        /// The value's length.
        len: u64,
    },
}

impl GetInto {
    /// Whether the value was read.
    pub fn is_hit(&self) -> bool {
        matches!(self, GetInto::Hit(_))
    }
}

/// Length and checksum of a stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ValueMeta {
    /// Length in bytes.
    pub len: u64,
    /// CRC32C of the value's bytes as its writer sent them.
    pub crc: u32,
}

/// What a server reports about itself (`NodeInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Random id chosen at server start; a restart shows as a new id.
    pub server_id: [u8; 16],
    /// The server's protocol version.
    pub version: u16,
    /// The server's release tag.
    pub release: String,
    /// `memory`, `file` or `direct`.
    pub storage_mode: String,
    /// Largest frame body (`ctrl + data`) the server accepts; larger values are chunked.
    pub max_body: u32,
    /// Longest key.
    pub max_key_len: u16,
    /// Allowed clock skew of frame timestamps.
    pub max_clock_skew: Duration,
    /// Capability bits (`memkv_proto::msg::CAP_*`).
    pub capabilities: u64,
}

impl From<&memkv_proto::msg::NodeInfo<'_>> for NodeInfo {
    fn from(i: &memkv_proto::msg::NodeInfo<'_>) -> Self {
        NodeInfo {
            server_id: i.server_id,
            version: i.version,
            release: i.release.to_owned(),
            storage_mode: i.storage_mode.to_owned(),
            max_body: i.max_body,
            max_key_len: i.max_key_len,
            max_clock_skew: Duration::from_nanos(i.max_clock_skew_ns),
            capabilities: i.capabilities,
        }
    }
}
