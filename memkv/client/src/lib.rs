//! memkv client engine.
//!
//! One engine shared by every memkv client: the NIXL plugin (C ABI), the `LD_PRELOAD` shim and
//! the Python wheels all drive it, so configuration, sharding and failure handling behave the
//! same everywhere. It offers an async API ([`AsyncClient`]) and a blocking one ([`Client`])
//! with the same method names.
//!
//! - **Configuration** ([`ClientConfig`]): the YAML file named by `MEMKV_CONFIG`, then
//!   `MEMKV_*` environment variables ([`env_vars`]), or built in code; validated once.
//! - **Sharding** ([`hrw`]): rendezvous hashing of each key over the configured servers. Batches
//!   are split per server and per frame, sent in parallel and stitched back in input order.
//! - **Connections**: per server, up to `num_connections` authenticated TCP connections
//!   (docs/protocol.md handshake), opened lazily, each with many requests in flight. Values are
//!   written straight from the caller's memory; values over the server's frame limit move in
//!   chunks. Unhealthy connections are replaced; a down server is retried with backoff and its
//!   keys read as misses (or errors, with `unreachable: error`).
//! - **Integrity**: every value carries a CRC32C of its writer's bytes; every read checks
//!   it, and a mismatch is a miss ([`ClientStats::checksum_failures`]) that the client reports
//!   to the server, which drops its copy if that is damaged (docs/protocol.md).
//!
//! ```no_run
//! # fn main() -> Result<(), memkv_client::ClientError> {
//! use memkv_client::{Client, ClientConfig, GetInto};
//!
//! let client = Client::new(ClientConfig::new(["127.0.0.1:9900"]))?;
//! client.put(b"layer-0/block-17", b"kv bytes")?;
//! assert_eq!(client.get(b"layer-0/block-17")?.as_deref(), Some(&b"kv bytes"[..]));
//! let mut buf = [0u8; 64];
//! assert_eq!(client.get_into(b"layer-0/block-17", &mut buf)?, GetInto::Hit(8));
//! # Ok(())
//! # }
//! ```
//!
//! See `docs/client.md` for the user-facing description.

#![deny(missing_docs)]

mod batch;
mod batch_ops;
mod blocking;
mod client;
mod config;
mod conn;
pub mod env_vars;
mod error;
mod frame;
pub mod hrw;
mod join;
mod pool;
mod stats;
mod stream;
mod types;

pub use blocking::Client;
pub use client::AsyncClient;
pub use config::{
    ClientConfig, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BATCH_SIZE, DEFAULT_NUM_CONNECTIONS,
    DEFAULT_OP_TIMEOUT, MAX_NUM_CONNECTIONS, SendBuffer, ServerAddr, Transport, Unreachable,
    ValidatedConfig,
};
pub use error::{AuthError, ClientError, ConfigError, ErrorKind};
pub use memkv_proto::{AuthKey, Integrity, MAX_KEY_LEN};
pub use stats::ClientStats;
pub use types::{GetInto, NodeInfo, ValueMeta};

/// `bytes::Bytes`, the type values are returned in (re-exported so users need no direct
/// dependency).
pub use bytes::Bytes;
