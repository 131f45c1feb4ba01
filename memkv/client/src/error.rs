//! Typed errors of the client engine.
//!
//! [`ConfigError`] covers the configuration chain; [`ClientError`] everything an operation can
//! report. Every message names what failed and what to do about it. [`ClientError::kind`] gives
//! a stable, fieldless classification for the C ABI and the Python exception mapping.

use std::sync::Arc;
use std::time::Duration;

use memkv_proto::{Integrity, Status};

/// A configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No server is configured.
    #[error("no servers configured: set `servers` in MEMKV_CONFIG or MEMKV_SERVERS")]
    NoServers,
    /// No key is configured and some server is not a loopback address.
    #[error(
        "no auth_key configured: set `auth_key` in MEMKV_CONFIG or MEMKV_AUTH_KEY (64 hex chars / 32 bytes; generate one with `openssl rand -hex 32`); only loopback-only deployments may omit it (non-loopback server: {server})"
    )]
    NoAuthKey {
        /// The first server that is not on loopback.
        server: String,
    },
    /// RDMA was requested from this TCP-only build.
    #[error(
        "transport `{requested}` was requested, but this build has no RDMA data path: set `transport` in MEMKV_CONFIG or MEMKV_TRANSPORT to `tcp` or `auto`"
    )]
    NoRdma {
        /// The transport as configured.
        requested: String,
    },
    /// A setting holds a value that cannot be used.
    #[error("invalid {setting}: {message}")]
    Invalid {
        /// The setting (YAML key or environment variable).
        setting: String,
        /// What is wrong and what is expected.
        message: String,
    },
    /// The `MEMKV_CONFIG` file could not be read.
    #[error("cannot read the client config file `{path}` named by MEMKV_CONFIG: {message}")]
    ReadFile {
        /// The path.
        path: String,
        /// The I/O error.
        message: String,
    },
    /// The `MEMKV_CONFIG` file is not valid client YAML (for example an unknown key).
    #[error("client config file `{path}` (MEMKV_CONFIG) is invalid: {message}")]
    Yaml {
        /// The path.
        path: String,
        /// The parser's message; unknown keys are named.
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(setting: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            setting: setting.into(),
            message: message.into(),
        }
    }
}

/// Why a server refused to authenticate this client (or this client refused the server).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The tag did not verify: the client and the server hold different keys.
    #[error(
        "server rejected the auth key (BadMac): client and server must share the same auth_key"
    )]
    BadMac,
    /// A response's tag did not verify under the session key.
    #[error(
        "a response from the server failed authentication (BadMac): the server does not hold this client's auth_key, or the connection was tampered with"
    )]
    ResponseBadMac,
    /// Client and server use different integrity modes.
    #[error(
        "integrity mode mismatch: server requires `{}`, client uses `{client}`; set MEMKV_INTEGRITY or `integrity` to match the server's network.integrity",
        server.map_or("a different mode", Integrity::name)
    )]
    IntegrityMismatch {
        /// The server's mode, when its answer names it.
        server: Option<Integrity>,
        /// This client's mode.
        client: Integrity,
    },
    /// The server speaks an older protocol than this client.
    #[error(
        "server does not support this client's protocol version {client_version} ({message}): upgrade the servers first, then the clients"
    )]
    UnsupportedVersion {
        /// This client's protocol version.
        client_version: u16,
        /// The server's explanation.
        message: String,
    },
    /// A frame's timestamp is outside the allowed clock-skew window.
    #[error(
        "clock drift: frame time {ts_ns} ns is {drift_ns} ns away from the receiver's clock, outside the allowed window of {window_ns} ns: synchronize the clocks (NTP/chrony) or raise the server's network.max_clock_skew"
    )]
    ClockDrift {
        /// The refused frame's timestamp (ns since the Unix epoch).
        ts_ns: u64,
        /// The allowed skew either way, in ns.
        window_ns: u64,
        /// Frame time minus receiver time, in ns.
        drift_ns: i64,
    },
}

/// Everything a client operation can fail with.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Resolving or connecting to a server failed.
    #[error(
        "cannot connect to memkv server {server}: {source}; check that it is running and reachable, and the address in `servers` / MEMKV_SERVERS"
    )]
    Connect {
        /// The server as configured (`host:port`).
        server: String,
        /// The underlying error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// A request or a connection attempt took longer than allowed.
    #[error(
        "{op} on memkv server {server} timed out after {after:?}; the server is overloaded or unreachable (raise op_timeout_ms / connect_timeout_ms if it is just slow)"
    )]
    Timeout {
        /// The server.
        server: String,
        /// The operation (`connect`, `get`, `batch_put`, ...).
        op: &'static str,
        /// The limit that passed.
        after: Duration,
    },
    /// The server failed recently and is not retried until its backoff passes.
    #[error(
        "memkv server {server} is unreachable (last failure: {cause}); it is retried in {retry_in:?}"
    )]
    Unreachable {
        /// The server.
        server: String,
        /// Time until the next connection attempt.
        retry_in: Duration,
        /// The failure that started the backoff.
        cause: String,
    },
    /// The connection failed while the request was in flight.
    #[error("connection to memkv server {server} was lost: {reason}")]
    ConnectionLost {
        /// The server.
        server: String,
        /// What happened.
        reason: String,
    },
    /// The server answered with an error status.
    #[error("memkv server {server} answered {status}: {message}")]
    Server {
        /// The server.
        server: String,
        /// The status code.
        status: Status,
        /// The server's explanation.
        message: String,
    },
    /// Authentication with a server failed.
    #[error("memkv server {server}: {kind}")]
    Auth {
        /// The server.
        server: String,
        /// What failed.
        kind: AuthError,
    },
    /// The server sent something this client cannot understand.
    #[error(
        "protocol error talking to memkv server {server}: {detail}; client and server builds may be incompatible"
    )]
    Protocol {
        /// The server.
        server: String,
        /// What was wrong.
        detail: String,
    },
    /// A key is longer than the protocol allows; nothing was sent.
    #[error(
        "key of {len} bytes is longer than the {max}-byte limit: hash long identifiers down to a digest"
    )]
    KeyTooLong {
        /// The key's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The value can never fit in the server's capacity.
    #[error(
        "memkv server {server} has no room for a value of {len} bytes (NoSpace): the value is larger than the server's capacity"
    )]
    NoSpace {
        /// The server.
        server: String,
        /// The value's length.
        len: u64,
    },
    /// A server index is out of range.
    #[error("server index {index} is out of range: this client has {count} servers")]
    InvalidServerIndex {
        /// The index given.
        index: usize,
        /// The number of servers.
        count: usize,
    },
    /// A blocking [`crate::Client`] method was called from inside an async runtime.
    #[error(
        "the blocking memkv Client was called from inside an async runtime: use memkv_client::AsyncClient in async code"
    )]
    BlockingInAsync,
    /// The blocking client could not start its runtime threads.
    #[error("cannot start the memkv client's runtime threads: {0}")]
    Runtime(#[source] Arc<std::io::Error>),
}

/// A stable classification of [`ClientError`], for FFI error codes and language bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`ClientError::Config`].
    Config,
    /// [`ClientError::Connect`].
    Connect,
    /// [`ClientError::Timeout`].
    Timeout,
    /// [`ClientError::Unreachable`].
    Unreachable,
    /// [`ClientError::ConnectionLost`].
    ConnectionLost,
    /// [`ClientError::Server`].
    Server,
    /// [`ClientError::Auth`].
    Auth,
    /// [`ClientError::Protocol`].
    Protocol,
    /// [`ClientError::KeyTooLong`].
    KeyTooLong,
    /// [`ClientError::NoSpace`].
    NoSpace,
    /// [`ClientError::InvalidServerIndex`] and [`ClientError::BlockingInAsync`]: the caller
    /// used the API wrongly.
    InvalidArgument,
    /// [`ClientError::Runtime`]: the process could not start threads.
    Internal,
}

impl ClientError {
    /// The error's classification.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ClientError::Config(_) => ErrorKind::Config,
            ClientError::Connect { .. } => ErrorKind::Connect,
            ClientError::Timeout { .. } => ErrorKind::Timeout,
            ClientError::Unreachable { .. } => ErrorKind::Unreachable,
            ClientError::ConnectionLost { .. } => ErrorKind::ConnectionLost,
            ClientError::Server { .. } => ErrorKind::Server,
            ClientError::Auth { .. } => ErrorKind::Auth,
            ClientError::Protocol { .. } => ErrorKind::Protocol,
            ClientError::KeyTooLong { .. } => ErrorKind::KeyTooLong,
            ClientError::NoSpace { .. } => ErrorKind::NoSpace,
            ClientError::InvalidServerIndex { .. } | ClientError::BlockingInAsync => {
                ErrorKind::InvalidArgument
            }
            ClientError::Runtime(_) => ErrorKind::Internal,
        }
    }

    /// Whether the error means the server could not be reached or stopped answering (connect
    /// failure, timeout, lost connection, backoff). Under `unreachable: miss` lookups turn these
    /// into misses; authentication, protocol and server errors are never turned into misses.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Connect
                | ErrorKind::Timeout
                | ErrorKind::Unreachable
                | ErrorKind::ConnectionLost
        )
    }

    /// The server the error concerns, when there is one.
    pub fn server(&self) -> Option<&str> {
        match self {
            ClientError::Connect { server, .. }
            | ClientError::Timeout { server, .. }
            | ClientError::Unreachable { server, .. }
            | ClientError::ConnectionLost { server, .. }
            | ClientError::Server { server, .. }
            | ClientError::Auth { server, .. }
            | ClientError::Protocol { server, .. }
            | ClientError::NoSpace { server, .. } => Some(server),
            ClientError::Config(_)
            | ClientError::KeyTooLong { .. }
            | ClientError::InvalidServerIndex { .. }
            | ClientError::BlockingInAsync
            | ClientError::Runtime(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_messages_say_what_to_do() {
        let e = ClientError::Auth {
            server: "10.0.0.1:9900".into(),
            kind: AuthError::BadMac,
        };
        assert!(e.to_string().contains(
            "server rejected the auth key (BadMac): client and server must share the same auth_key"
        ));
        let e = AuthError::IntegrityMismatch {
            server: Some(Integrity::Checksum),
            client: Integrity::Mac,
        };
        assert_eq!(
            e.to_string(),
            "integrity mode mismatch: server requires `checksum`, client uses `mac`; set MEMKV_INTEGRITY or `integrity` to match the server's network.integrity"
        );
    }

    #[test]
    fn unreachable_class() {
        let lost = ClientError::ConnectionLost {
            server: "s".into(),
            reason: "eof".into(),
        };
        assert!(lost.is_unreachable());
        let auth = ClientError::Auth {
            server: "s".into(),
            kind: AuthError::BadMac,
        };
        assert!(!auth.is_unreachable());
        assert_eq!(auth.server(), Some("s"));
    }
}
