//! memkv storage engines behind one interface.
//!
//! The server stores and serves values through the [`Store`] trait and nothing else, so an
//! engine can be swapped without touching the data plane. This crate holds the trait, the
//! types that cross it ([`Value`], [`ValueMeta`], [`StoreError`], [`StoreStats`]) and the
//! engines:
//!
//! - [`MemoryStore`], `storage.mode: memory`: values live in RAM, cold entries are evicted
//!   with CLOCK when the store is full (see the [`memory`] module for the policy).
//! - [`DiskStore`], `storage.mode: file` and `storage.mode: direct`: values live in
//!   log-structured segments on drives or preallocated files, behind a bounded RAM cache, and
//!   survive restarts (see the [`disk`] module for the format and the policies).
//!
//! Engines keep the client's CRC32C next to every value and check it on every read: a value
//! whose bytes no longer match is dropped and reported as a miss, never served.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use bytes::Bytes;

mod any;
pub mod checksum;
pub mod disk;
pub mod memory;

pub use any::{AnyStore, StoreConfig};
pub use disk::{DEFAULT_DISCARD_IDLE, DiskMode, DiskStore, DiskStoreConfig, SyncPolicy};
pub use memory::{ENTRY_OVERHEAD, MemoryStore, MemoryStoreConfig};

/// The longest key any engine accepts, in bytes. The server rejects longer keys before they
/// reach a store; engines only check it in debug builds.
pub const MAX_KEY_LEN: usize = 512;

/// [`StoreStats::engine`] of the memory engine.
pub const MEMORY_ENGINE: &str = "memory";

/// A stored value: the bytes and the CRC32C (Castagnoli) the client computed over them.
///
/// Engines keep `data` as given (the memory engine does not copy it), so pass a buffer that
/// owns exactly the value bytes: a small slice of a large shared buffer keeps the whole buffer
/// resident while only the slice is counted in [`StoreStats::used_bytes`].
#[derive(Clone, PartialEq, Eq)]
pub struct Value {
    /// The value bytes.
    pub data: Bytes,
    /// CRC32C (Castagnoli) of `data`, as computed by the client.
    pub crc: u32,
    /// The value's digest under the auth key (`mac` mode, docs/protocol.md "Value digests"),
    /// when it came with one: a server sends the value with it instead of hashing the value
    /// again. The memory engine keeps it for values of 64 KiB or more, the disk engines only in
    /// their RAM cache (a value read from a drive has none).
    pub digest: Option<ValueDigest>,
}

/// A value's digest ([`Value::digest`]).
pub type ValueDigest = [u8; 16];

impl Value {
    /// Wraps `data` together with its freshly computed CRC32C.
    pub fn checksummed(data: Bytes) -> Self {
        let crc = crate::checksum::crc32c(&data);
        Self {
            data,
            crc,
            digest: None,
        }
    }

    /// Whether `crc` is the CRC32C of `data`.
    pub fn is_intact(&self) -> bool {
        crate::checksum::crc32c(&self.data) == self.crc
    }

    /// Length and checksum, without the bytes.
    pub fn meta(&self) -> ValueMeta {
        ValueMeta {
            len: self.data.len() as u64,
            crc: self.crc,
        }
    }
}

impl std::fmt::Debug for Value {
    // Values can be megabytes: show their shape, not their bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Value")
            .field("len", &self.data.len())
            .field("crc", &format_args!("{:#010x}", self.crc))
            .finish()
    }
}

/// What [`Store::stat`] reports about a stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueMeta {
    /// Length of the value in bytes.
    pub len: u64,
    /// The stored CRC32C of the value.
    pub crc: u32,
}

/// Why a store operation failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The value can never fit in this store, however much is evicted. Smaller values still
    /// fit; nothing was changed.
    #[error(
        "value of {len} bytes is too large for this store, which holds at most {usable} bytes \
         per value under this key; store smaller values or raise the storage capacity"
    )]
    NoSpace {
        /// Length of the rejected value.
        len: u64,
        /// The largest value length this store can ever hold under the same key (its capacity
        /// minus the key and the per-entry overhead).
        usable: u64,
    },
    /// A drive or backing file failed. Not produced by the memory engine.
    #[error("storage I/O failed: could not {op} {}; check that the drive is present and healthy", path.display())]
    Io {
        /// What the engine was doing, as a verb phrase ("read extent of", "open").
        op: &'static str,
        /// The drive or file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A drive holds no memkv superblock.
    #[error(
        "{} is not formatted for memkv (no superblock); format it with \
         `memkv setup --drives {}`",
        path.display(), path.display()
    )]
    Unformatted {
        /// The drive.
        path: PathBuf,
    },
    /// A drive's on-disk structures cannot be read by this build (newer format, damage).
    #[error("cannot use {}: {source}", path.display())]
    Format {
        /// The drive.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: disk::format::FormatError,
    },
    /// The drives do not match each other or the configuration.
    #[error("cannot use {}: {reason}", path.display())]
    Mismatch {
        /// The drive.
        path: PathBuf,
        /// Why, and what to do.
        reason: String,
    },
    /// The I/O engine could not start.
    #[error("could not start the I/O engine: {0}")]
    Engine(String),
    /// No drive is online, so nothing can be stored.
    #[error("no drive is online; check the drives and restart the server")]
    NoDrives,
}

/// Capacity and activity counters of a store, as reported on the admin status page and in
/// metrics. Capacity counts (`*_bytes` except `evicted_bytes`) are in the units entries are
/// charged in: see [`ENTRY_OVERHEAD`] for what the memory engine charges per entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Engine name: `"memory"` ([`MEMORY_ENGINE`]), `"file"` or `"direct"`.
    pub engine: &'static str,
    /// Raw capacity of the backing media (for memory: the configured size).
    pub raw_bytes: u64,
    /// Capacity available for entries after engine metadata (for memory: the configured size).
    pub usable_bytes: u64,
    /// Capacity in use by entries (and, for an instant, by puts in flight). Never above
    /// `usable_bytes`.
    pub used_bytes: u64,
    /// Number of stored keys.
    pub keys: u64,
    /// Entries evicted to make room for new ones, since start.
    pub evictions: u64,
    /// Value bytes of those evicted entries (keys and per-entry overhead not included).
    pub evicted_bytes: u64,
    /// Values found damaged (checksum mismatch) and dropped: by reads, and, for the disk
    /// engines, at start in the segments left open (puts cut short by a crash).
    pub corrupt_reads: u64,
    /// Drives serving I/O (0 for memory).
    pub drives_online: u32,
    /// Drives taken out of service after failures (0 for memory).
    pub drives_offline: u32,
    /// Configured drives (0 for memory).
    pub drives_total: u32,
    /// The I/O engine in use (`"io_uring"` or `"std"`); empty for memory.
    pub io_engine: &'static str,
    /// Reads served from the RAM cache in front of the drives (0 for memory).
    pub cache_hits: u64,
    /// Reads that had to go to a drive (0 for memory).
    pub cache_misses: u64,
    /// Extents freed on the drives after all their records died.
    pub trimmed_extents: u64,
    /// Freed extents discarded (TRIM on block devices, punched holes in data files with
    /// `trim_files`): in batches, once a drive is idle, and on a clean stop.
    pub discarded_extents: u64,
    /// Per-drive capacity and state, in set order (empty for memory).
    pub devices: Vec<DriveStats>,
}

/// Capacity and state of one drive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriveStats {
    /// The path the drive was opened with.
    pub path: PathBuf,
    /// Whether it serves I/O.
    pub online: bool,
    /// Size of the drive or file.
    pub raw_bytes: u64,
    /// Bytes available for segments (extents times extent size).
    pub usable_bytes: u64,
    /// Bytes of live records on it.
    pub used_bytes: u64,
    /// Bytes written to it since the store opened (records, values, segment headers).
    pub written_bytes: u64,
    /// `fdatasync` calls that succeeded on it since the store opened; each commits every
    /// write queued before it (group commit), so `written_bytes / syncs` is the bytes per
    /// commit.
    pub syncs: u64,
}

/// What [`Store::put_staged`] did with a value.
#[derive(Debug)]
pub enum Staged {
    /// Stored, visible to every later call; the wait for its durability, or why it failed.
    Stored(Result<Durable, StoreError>),
    /// Not stored: this engine cannot store the value without waiting; use [`Store::put`].
    Unstaged(Value),
}

/// A put that is stored (visible to every later call) and on its way to durability: see
/// [`Store::put_staged`]. Dropping it does not undo the put; it only stops waiting.
#[must_use = "the put is acknowledged only once `wait` returns"]
pub struct Durable(Option<DurableWait>);

/// What a [`Durable`] put waits for.
type DurableWait = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>;

impl Durable {
    /// A put that is already as durable as it gets (a memory store's).
    pub fn done() -> Durable {
        Durable(None)
    }

    pub(crate) fn new(wait: impl Future<Output = Result<(), StoreError>> + Send + 'static) -> Self {
        Durable(Some(Box::pin(wait)))
    }

    /// Whether there is nothing to wait for: [`wait`](Self::wait) would return `Ok` at once.
    pub fn is_done(&self) -> bool {
        self.0.is_none()
    }

    /// Resolves once the put is durable, or with the error that stopped it (a failed drive).
    pub async fn wait(self) -> Result<(), StoreError> {
        match self.0 {
            Some(wait) => wait.await,
            None => Ok(()),
        }
    }
}

impl std::fmt::Debug for Durable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Durable")
    }
}

/// A key-value storage engine.
///
/// Contract every engine keeps:
/// - Keys are opaque bytes of at most [`MAX_KEY_LEN`]; values are immutable once stored.
/// - A put replaces any previous value atomically: a concurrent `get` sees the old value or
///   the new one, never a mix.
/// - The store is a cache: when full it evicts cold entries to make room, so a stored key may
///   later miss. [`StoreError::NoSpace`] means only that this one value can never fit.
/// - `get` verifies the stored CRC32C before returning a value; a damaged value is dropped,
///   counted in [`StoreStats::corrupt_reads`] and reported as a miss. `get_unchecked` leaves
///   that check of a value held in RAM to a caller that reads every byte anyway.
/// - `stat` and `exists` report presence without reading or verifying the value bytes.
///
/// The futures are `Send` so the server can run them on any runtime thread.
pub trait Store: Send + Sync + 'static {
    /// Stores `value` under `key`, replacing any previous value and evicting cold entries if
    /// needed to make room.
    fn put(&self, key: &[u8], value: Value) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A put in two steps: stores `value` before returning, so that every later call sees it,
    /// and returns a [`Durable`] that resolves once the value is as durable as [`put`] makes
    /// it ([`Staged::Stored`]). [`Staged::Unstaged`] hands the value back when the engine
    /// cannot store it without waiting (the caller then uses [`put`]). A connection uses it to
    /// read its next request while a put is synced. The default stages nothing.
    ///
    /// The value is taken, not borrowed: a store that keeps it as it is then holds the only
    /// reference (a copy of a `Bytes` made from a vector allocates a shared header for both).
    ///
    /// [`put`]: Store::put
    fn put_staged(&self, key: &[u8], value: Value) -> Staged {
        let _ = key;
        Staged::Unstaged(value)
    }

    /// Returns the value under `key`. Only returns values whose CRC32C still matches; a
    /// damaged value is dropped, counted in `corrupt_reads`, and reported as `None` (a miss).
    fn get(&self, key: &[u8]) -> impl Future<Output = Result<Option<Value>, StoreError>> + Send;

    /// Like [`get`](Store::get), for a caller whose receiver checks every byte anyway (the
    /// server, sending a value with its CRC32C to a client that checks it): a value held in
    /// RAM may be returned without its bytes being re-read for their CRC32C. The caller never
    /// passes such bytes on as good unless they are checked somewhere; when a mismatch is
    /// found, [`get`](Store::get) on the key checks the stored copy and drops it if it is
    /// damaged. Values read from a drive are always checked first. The default is `get`.
    fn get_unchecked(
        &self,
        key: &[u8],
    ) -> impl Future<Output = Result<Option<Value>, StoreError>> + Send {
        self.get(key)
    }

    /// [`get_unchecked`](Store::get_unchecked) answered from what the engine holds in RAM,
    /// without waiting: `None` when the answer needs a drive read (the caller then uses
    /// `get_unchecked`). The server answers such gets before reading its next request, and
    /// sets up a read that may wait only for the others. The default is `None`.
    fn get_unchecked_at_hand(&self, key: &[u8]) -> Option<Result<Option<Value>, StoreError>> {
        let _ = key;
        None
    }

    /// Removes `key`; returns whether it existed.
    fn delete(&self, key: &[u8]) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Length and checksum of the value under `key`, without reading it.
    fn stat(
        &self,
        key: &[u8],
    ) -> impl Future<Output = Result<Option<ValueMeta>, StoreError>> + Send;

    /// For each key, in order, whether it is stored.
    fn exists(&self, keys: &[&[u8]]) -> impl Future<Output = Result<Vec<bool>, StoreError>> + Send;

    /// Current capacity and activity counters. Cheap: reads counters, takes no locks.
    fn stats(&self) -> StoreStats;

    /// Whether a stored value stays in RAM only, not read again until a get asks for it, as
    /// opposed to being written to a drive next. The server lands such values past the CPU
    /// cache as it receives them. The default is `false`.
    fn holds_values_only_in_ram(&self) -> bool {
        false
    }
}
