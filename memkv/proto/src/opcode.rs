//! Opcodes and status codes.

use std::fmt;

macro_rules! byte_enum {
    ($(#[$m:meta])* $vis:vis enum $name:ident : $repr:ty { $($(#[$vm:meta])* $var:ident = $val:expr => $text:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr($repr)]
        $vis enum $name { $($(#[$vm])* $var = $val,)* }

        impl $name {
            /// Every value, in numeric order.
            pub const ALL: &'static [$name] = &[$($name::$var,)*];

            /// The value for a wire code, if it is known.
            pub fn from_code(code: $repr) -> Option<Self> {
                match code { $($val => Some($name::$var),)* _ => None }
            }

            /// The wire code.
            pub fn code(self) -> $repr { self as $repr }

            /// A stable lowercase name, used in logs and metric labels.
            pub fn name(self) -> &'static str {
                match self { $($name::$var => $text,)* }
            }

            /// Position of this value in [`Self::ALL`], for indexing per-value tables.
            pub fn index(self) -> usize {
                Self::ALL.iter().position(|v| *v == self).unwrap_or(0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.name()) }
        }
    };
}

byte_enum! {
    /// What a frame asks for. A response carries its request's opcode with the response flag set.
    ///
    /// Codes `0x10..=0x1f` are the one-sided operations of the shared-memory and RDMA data paths;
    /// their control messages are defined in [`crate::msg`] so those paths reuse them, but a TCP
    /// server answers them with [`Status::Unsupported`] until it offers such a path.
    pub enum Opcode: u8 {
        /// Handshake: version and integrity negotiation, nonce exchange.
        Hello = 0x01 => "hello",
        /// Node information (limits, storage mode, release).
        NodeInfo = 0x02 => "node_info",
        /// Liveness probe on an established connection.
        Ping = 0x03 => "ping",
        /// Reserved: RDMA queue-pair bootstrap.
        Connect = 0x06 => "connect",
        /// One-sided: reserve space for a value in a registered region.
        Allocate = 0x10 => "allocate",
        /// One-sided: publish a value written into an allocation.
        Commit = 0x11 => "commit",
        /// One-sided: locate a value in a registered region.
        Lookup = 0x12 => "lookup",
        /// One-sided: release a lookup's pin.
        Release = 0x13 => "release",
        /// One-sided: server reads many values into client regions.
        BatchRead = 0x15 => "batch_read",
        /// One-sided: server writes many values from client regions.
        BatchWrite = 0x16 => "batch_write",
        /// Store one value carried inline.
        Put = 0x20 => "put",
        /// Fetch one value inline.
        Get = 0x21 => "get",
        /// Remove one value.
        Delete = 0x22 => "delete",
        /// Length and checksum of one value.
        Stat = 0x23 => "stat",
        /// Presence of many keys, as a bitmap.
        Exists = 0x24 => "exists",
        /// Store many values in one frame.
        BatchPut = 0x25 => "batch_put",
        /// Fetch many values in one frame, each full-length or missing.
        BatchGet = 0x26 => "batch_get",
        /// Open a chunked upload of a value larger than one frame.
        PutBegin = 0x28 => "put_begin",
        /// One chunk of a chunked upload.
        PutChunk = 0x29 => "put_chunk",
        /// Verify and publish a chunked upload.
        PutCommit = 0x2a => "put_commit",
        /// Drop a chunked upload.
        PutAbort = 0x2b => "put_abort",
        /// Pin a value for a chunked download.
        GetBegin = 0x2c => "get_begin",
        /// One chunk of a chunked download.
        GetChunk = 0x2d => "get_chunk",
        /// Release a chunked download's pin.
        GetEnd = 0x2e => "get_end",
        /// The client received a value whose bytes did not match its CRC32C: the server checks
        /// its own copy and drops it if it is damaged.
        ReportDamaged = 0x2f => "report_damaged",
    }
}

impl Opcode {
    /// Whether this is one of the one-sided (shared-memory / RDMA) operations.
    pub fn is_one_sided(self) -> bool {
        (0x10..=0x1f).contains(&self.code())
    }
}

byte_enum! {
    /// Outcome of a request, carried in the response header.
    pub enum Status: u16 {
        /// Success.
        Ok = 0 => "ok",
        /// The key is not stored (or its value was damaged and dropped).
        NotFound = 1 => "not_found",
        /// The value can never fit in this server's capacity.
        NoSpace = 2 => "no_space",
        /// The request is malformed or not valid in this state.
        InvalidRequest = 3 => "invalid_request",
        /// The key is longer than 512 bytes.
        KeyTooLong = 4 => "key_too_long",
        /// The frame or value is larger than the negotiated limit.
        PayloadTooLarge = 5 => "payload_too_large",
        /// The frame's tag does not verify under the shared key.
        BadMac = 6 => "bad_mac",
        /// The frame's timestamp is outside the allowed clock skew.
        ClockDrift = 7 => "clock_drift",
        /// The frame's protocol version is newer than this peer's.
        UnsupportedVersion = 8 => "unsupported_version",
        /// The server is at a limit (connections, streams); retry later.
        Busy = 9 => "busy",
        /// The server failed; the request may be retried.
        ServerError = 10 => "server_error",
        /// Client and server are configured with different integrity modes.
        IntegrityMismatch = 11 => "integrity_mismatch",
        /// The operation is known but not offered by this server.
        Unsupported = 12 => "unsupported",
        /// A value's bytes do not match the checksum sent with them.
        ChecksumMismatch = 13 => "checksum_mismatch",
        /// A replayed or reordered frame (request id not increasing).
        Replay = 14 => "replay",
        /// The stream id is not open on this connection.
        UnknownStream = 15 => "unknown_stream",
    }
}

impl Status {
    /// Whether a response with this status ends the connection: after an authentication failure
    /// the byte stream can no longer be trusted.
    pub fn is_fatal(self) -> bool {
        matches!(
            self,
            Status::BadMac
                | Status::UnsupportedVersion
                | Status::IntegrityMismatch
                | Status::Replay
        )
    }
}
