//! The persistent engine behind `storage.mode: file` and `storage.mode: direct`.
//!
//! Each drive (a raw block device or a preallocated file) carries a superblock and is cut into
//! extents of `storage.block_size`. An extent in use is a *segment*: a log of records (value
//! or tombstone, each with its key, length, CRC32C and sequence number) appended in
//! block-aligned batches, sealed with a summary of its records when full. The key index lives
//! in RAM and is rebuilt on start from the summaries of sealed segments plus a scan of the few
//! segments that were open (the journal tail), so a restart reads metadata, not values.
//!
//! - Keys are spread over drives by a stable hash of the key (one *lane* per drive); each lane
//!   has one open segment and a flusher task that writes everything queued with one batch of
//!   I/O (queue depth `storage.queue_depth`) and, with [`SyncPolicy::Always`], one
//!   `fdatasync`: group commit.
//! - A value larger than one segment holds is *striped*: cut into parts of one extent each,
//!   spread round-robin over the online drives, written and made durable first, then
//!   committed by a stripe record in the key's lane that lists the parts (see [`stripe`]).
//! - When a drive is full the oldest segment of that drive is evicted whole (FIFO by segment,
//!   an approximation of LRU; a segment whose records are all dead is reused first). Evicting
//!   one part of a striped value evicts the whole value.
//! - A bounded RAM cache (a [`MemoryStore`](crate::MemoryStore)) serves hot values.
//! - A drive that fails an I/O is taken offline: its keys miss, the others keep serving.
//!
//! All disk I/O goes through `memkv-ioengine`. [`format`] holds the byte layout.

mod flusher;
pub mod format;
pub mod inspect;
mod lane;
mod readbuf;
mod recover;
mod segbuf;
mod setup;
mod stripe;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use memkv_ioengine::{BufPool, Device, EngineKind, IoEngine};
use parking_lot::Mutex;

use crate::{
    DriveStats, Durable, MAX_KEY_LEN, MemoryStore, MemoryStoreConfig, Staged, Store, StoreError,
    StoreStats, Value, ValueMeta,
};
use format::{RECORD_HEADER_LEN, RecordHeader, RecordKind, Superblock};
use lane::{Lane, Loc};

pub use setup::{FormatOptions, MIN_EXTENT_SIZE, format_drives, read_superblock};

/// `storage.mode` for this engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskMode {
    /// Regular files, created and preallocated when missing.
    File,
    /// Raw block devices, formatted beforehand with `memkv setup`.
    Direct,
}

impl DiskMode {
    /// `"file"` or `"direct"`.
    pub fn as_str(self) -> &'static str {
        match self {
            DiskMode::File => "file",
            DiskMode::Direct => "direct",
        }
    }
}

/// `storage.sync`: when a put is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Once its record is written and `fdatasync` returned (group commit across puts).
    Always,
    /// Once its record is queued in memory; written within moments, synced when a segment is
    /// sealed. A crash may lose the last puts.
    None,
}

/// Settings of a [`DiskStore`].
#[derive(Debug, Clone)]
pub struct DiskStoreConfig {
    /// File or direct.
    pub mode: DiskMode,
    /// The drives or files, in any order (the superblocks say which is which).
    pub drives: Vec<PathBuf>,
    /// Extent size (`storage.block_size`); must match what the drives were formatted with.
    pub extent_size: u64,
    /// File mode: size of a data file created when missing.
    pub file_size: u64,
    /// When puts are acknowledged.
    pub sync: SyncPolicy,
    /// I/O queue depth of each drive: every drive has its own I/O engine (submission queue)
    /// with this many operations in flight at most.
    pub queue_depth: u32,
    /// Bytes of RAM for the read cache (`memory.max_size`).
    pub cache_size: u64,
    /// File mode: give the blocks of freed extents back to the filesystem by punching holes
    /// (`storage.trim_files`). Block devices are always discarded. Either way freed extents
    /// are discarded in batches once the drive is idle, and on a clean stop.
    pub trim_files: bool,
    /// How long a drive must have had nothing to write before its freed extents are
    /// discarded ([`DEFAULT_DISCARD_IDLE`]).
    pub discard_idle: std::time::Duration,
    /// The I/O engine; `None` picks with `MEMKV_IO_ENGINE` or the best available.
    pub engine: Option<EngineKind>,
}

/// The default [`DiskStoreConfig::discard_idle`]: a minute, long enough that a drive between
/// bursts of writes rewrites its freed extents without discarding them first (on a thin or
/// file-backed device each discarded extent is allocated again when it is next written: 4 MiB
/// puts to a loop device ran at 1.81 GiB/s into discarded extents, 2.25 into written ones).
pub const DEFAULT_DISCARD_IDLE: std::time::Duration = std::time::Duration::from_secs(60);

/// One drive of an open store.
struct Drive {
    dev: Arc<Device>,
    /// This drive's own I/O engine: its own submission queue (ring) and its own budget of
    /// `storage.queue_depth` operations in flight, so a busy drive never holds back another.
    engine: IoEngine,
    sb: Superblock,
    /// Alignment of reads and writes on this drive: 4 KiB ([`format::META_BLOCK`]), which
    /// every logical block size the I/O engine accepts (512 to 4096) divides. Drives with
    /// 512-byte sectors get whole 4 KiB blocks too: flash writes whole pages, and a loop
    /// device's backing file on ext4 serializes direct writes not aligned to its 4 KiB blocks.
    align: u64,
    online: AtomicBool,
    lane: Mutex<Lane>,
    notify: tokio::sync::Notify,
    /// Woken when extents may have become available (a flush round ended, extents were
    /// trimmed, a reservation was given back): striped puts waiting for an extent retry.
    space: tokio::sync::Notify,
    /// Extents that striped puts may hold reserved at once: all but one (the open log
    /// segment), so reservations can never take every extent of the drive.
    stripe_slots: tokio::sync::Semaphore,
    /// Live record bytes per extent.
    live: Vec<AtomicU64>,
    live_total: AtomicU64,
    /// Set when some extent's live bytes dropped to zero: the flusher looks for extents to
    /// free and trim.
    dead_hint: AtomicBool,
    /// An exclusive open (block devices) or an exclusive `flock` (data files) that keeps
    /// `memkv setup`, `memkv drive`, mounts and other servers off the drive while this store
    /// has it.
    /// Released by [`DiskStore::close`].
    claim: Mutex<Option<std::fs::File>>,
}

impl Drive {
    fn path(&self) -> &Path {
        self.dev.path()
    }
}

#[derive(Default)]
struct Counters {
    keys: AtomicU64,
    evictions: AtomicU64,
    evicted_bytes: AtomicU64,
    corrupt_reads: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    trimmed: AtomicU64,
    /// Freed extents discarded (TRIM, or punched holes in data files).
    discarded: AtomicU64,
    /// Hot values written again at the head of the log when their segment was evicted.
    hot_rewrites: AtomicU64,
}

const INDEX_SHARDS: usize = 64;

type IndexShard = hashbrown::HashMap<Arc<[u8]>, Loc, foldhash::fast::FixedState>;

struct Inner {
    mode: DiskMode,
    drives: Vec<Drive>,
    index: Vec<Mutex<IndexShard>>,
    cache: MemoryStore,
    seq: AtomicU64,
    sync: SyncPolicy,
    /// Whether freed extents are discarded: always on block devices, on request in files.
    discard_freed: bool,
    /// See [`DiskStoreConfig::discard_idle`].
    discard_idle: std::time::Duration,
    extent_size: u64,
    counters: Counters,
    stop: AtomicBool,
    /// Drives taken offline since start; while 0, cache hits skip the index.
    offline_drives: AtomicU64,
    /// Aligned buffers of one extent for writing the parts of striped values, recycled so
    /// that a large put does not map, fault in and zero fresh memory for every part.
    part_bufs: BufPool,
    /// Aligned buffers for reading records, recycled for the same reason.
    read_bufs: readbuf::ReadBufs,
}

/// The persistent engine. See the [module documentation](self).
pub struct DiskStore {
    inner: Arc<Inner>,
    flushers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for DiskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskStore")
            .field("mode", &self.inner.mode)
            .field("drives", &self.inner.drives.len())
            .field("engine", &self.inner.drives[0].engine.kind().as_str())
            .finish_non_exhaustive()
    }
}

fn shard_of(key: &[u8]) -> usize {
    // Stable across restarts and independent of the lane hash.
    (foldhash::fast::FixedState::with_seed(7).hash_one(key) as usize) % INDEX_SHARDS
}

use std::hash::BuildHasher as _;

impl Inner {
    fn shard(&self, key: &[u8]) -> &Mutex<IndexShard> {
        &self.index[shard_of(key)]
    }

    /// The drive a key's records go to: a stable hash over the online drives.
    fn lane_for(&self, key: &[u8]) -> Option<usize> {
        let n = self.drives.len();
        let start = crate::checksum::crc32c(key) as usize % n;
        (0..n)
            .map(|i| (start + i) % n)
            .find(|&d| self.drives[d].online.load(Relaxed))
    }

    fn take_offline(&self, d: usize, what: &str, err: &std::io::Error) {
        let drive = &self.drives[d];
        if drive.online.swap(false, Relaxed) {
            self.offline_drives.fetch_add(1, Relaxed);
            tracing::error!(
                drive = %drive.path().display(),
                "drive failed ({what}: {err}); it is offline now and its keys miss; replace or check it, then restart the server"
            );
        }
    }

    /// Removes `key` from the index if it still points at `loc`; returns whether it did.
    fn drop_if_current(&self, key: &[u8], loc: &Loc) -> bool {
        let mut shard = self.shard(key).lock();
        if shard.get(key).is_some_and(|cur| cur.same_record(loc)) {
            shard.remove(key);
            self.cache.delete_now(key);
            self.counters.keys.fetch_sub(1, Relaxed);
            self.release(loc);
            true
        } else {
            false
        }
    }

    /// Counts a value's bytes as live: its record, and each of its parts (header and data).
    fn charge(&self, loc: &Loc) {
        self.charge_extent(loc.drive.into(), loc.extent, loc.record_len());
        for p in loc.parts.iter().flat_map(|p| p.iter()) {
            self.charge_extent(p.drive as usize, p.extent, format::META_BLOCK + p.len);
        }
    }

    /// Undoes [`charge`](Self::charge); extents left without live bytes are reclaimed.
    fn release(&self, loc: &Loc) {
        self.release_extent(loc.drive.into(), loc.extent, loc.record_len());
        for p in loc.parts.iter().flat_map(|p| p.iter()) {
            self.release_extent(p.drive as usize, p.extent, format::META_BLOCK + p.len);
        }
    }

    fn charge_extent(&self, d: usize, extent: u32, bytes: u64) {
        let drive = &self.drives[d];
        drive.live[extent as usize].fetch_add(bytes, Relaxed);
        drive.live_total.fetch_add(bytes, Relaxed);
    }

    fn release_extent(&self, d: usize, extent: u32, bytes: u64) {
        let drive = &self.drives[d];
        if drive.live[extent as usize].fetch_sub(bytes, Relaxed) == bytes {
            drive.dead_hint.store(true, Relaxed);
        }
        drive.live_total.fetch_sub(bytes, Relaxed);
    }

    /// Caches `value` as the current value of `key` (the caller holds the key's index shard
    /// lock). A value the cache cannot hold (larger than all of it) removes the key's cached
    /// value instead, which is older: left there, it would be served in place of this one.
    fn cache_value(&self, key: &[u8], value: &Value) {
        if self.cache.put_now(key, value.clone()).is_err() {
            self.cache.delete_now(key);
        }
    }

    /// Whether every drive a value needs is online.
    fn servable(&self, loc: &Loc) -> bool {
        self.drives[loc.drive as usize].online.load(Relaxed)
            && loc
                .parts
                .iter()
                .flat_map(|p| p.iter())
                .all(|p| self.drives[p.drive as usize].online.load(Relaxed))
    }

    /// Reads the record at `loc` from its drive. The header must say what the index says; the
    /// value's CRC32C is checked too if `verify` (see [`DiskStore::lookup`]).
    async fn read_record(
        &self,
        key: &[u8],
        loc: Loc,
        verify: bool,
    ) -> Result<Option<Value>, StoreError> {
        if loc.parts.is_some() {
            return stripe::read(self, key, loc).await;
        }
        let d = loc.drive as usize;
        let drive = &self.drives[d];
        if !drive.online.load(Relaxed) {
            return Ok(None);
        }
        // With `sync: none` a put is acknowledged before its record is written; a read of it
        // that the RAM cache cannot serve waits for the flusher instead of missing.
        lane::wait_written(self, &loc).await;
        let start = format::align_down(u64::from(loc.offset), drive.align);
        let end = format::align_up(u64::from(loc.offset) + loc.record_len(), drive.align);
        let buf = self.read_bufs.get((end - start) as usize);
        let at = drive.sb.extent_offset(loc.extent) + start;
        let (buf, res) = drive.engine.read_at(&drive.dev, buf, at).await;
        match res {
            Ok(n) if n as u64 == end - start => {}
            Ok(n) => {
                // The record lies inside the drive's formatted area: a short read means the
                // device shrank or lost its media (a loop device whose backing file was cut).
                let err = std::io::Error::other(format!(
                    "short read: {n} of {} bytes at offset {at}; the device is smaller than \
                     when it was formatted",
                    end - start
                ));
                self.take_offline(d, "read", &err);
                return Ok(None);
            }
            Err(err) => {
                self.take_offline(d, "read", &err);
                return Ok(None);
            }
        }
        let rel = (u64::from(loc.offset) - start) as usize;
        let intact = match RecordHeader::decode(&buf.as_slice()[rel..]) {
            Ok(h) => {
                let key_at = rel + RECORD_HEADER_LEN;
                let data_at = key_at + key.len();
                h.kind == RecordKind::Put
                    && h.seg_seq == loc.seg_seq
                    && h.seq == loc.seq
                    && h.val_len == loc.len
                    && h.value_crc == loc.crc
                    && &buf.as_slice()[key_at..data_at] == key
                    && (!verify
                        || crate::checksum::crc32c(
                            &buf.as_slice()[data_at..data_at + loc.len as usize],
                        ) == loc.crc)
            }
            Err(_) => false,
        };
        if intact {
            let data_at = rel + RECORD_HEADER_LEN + key.len();
            let data = buf.into_bytes().slice(data_at..data_at + loc.len as usize);
            return Ok(Some(Value {
                data,
                crc: loc.crc,
                digest: None,
            }));
        }
        // Not what the index promised. If the record is still being written, or the key
        // moved on meanwhile, this is a race and not damage.
        if drive.lane.lock().is_unwritten(&loc) {
            return Ok(None);
        }
        if self.drop_if_current(key, &loc) {
            self.counters.corrupt_reads.fetch_add(1, Relaxed);
            tracing::warn!(
                drive = %drive.path().display(),
                extent = loc.extent,
                offset = loc.offset,
                "a stored value failed its checksum; it was dropped and reported as a miss"
            );
        }
        Ok(None)
    }
}

impl DiskStore {
    /// A get: from the RAM cache, else from the drive, caching what it read. With `check` the
    /// value's CRC32C is checked wherever it comes from; without, it is not (the server's
    /// gets: the client checks every value it receives and reports damage, which a checked
    /// get then finds). So the cache may hold a copy read unchecked from a drive: a checked
    /// get that finds a cached copy damaged asks the drive's copy where the damage is, and
    /// it is counted once, there.
    async fn lookup(&self, key: &[u8], check: bool) -> Result<Option<Value>, StoreError> {
        let inner = &self.inner;
        let mut cached = inner.cache.get_unchecked_now(key);
        if check && let Some(value) = cached.take_if(|v| !v.is_intact()) {
            return self.recheck(key, &value).await;
        }
        if let Some(value) = cached {
            return Ok(self.served_from_cache(key, value));
        }
        let Some(loc) = inner.shard(key).lock().get(key).cloned() else {
            return Ok(None);
        };
        inner.counters.misses.fetch_add(1, Relaxed);
        let value = inner.read_record(key, loc.clone(), check).await?;
        if let Some(v) = &value {
            let shard = inner.shard(key).lock();
            if shard.get(key).is_some_and(|cur| cur.same_record(&loc)) {
                inner.cache_value(key, v);
            }
        }
        Ok(value)
    }

    /// A value of `key` found in the RAM cache, as a get answers it: the cache only holds
    /// values the index agrees with (see `lane::append`), and keys of a failed drive are
    /// misses, also while their values are still cached.
    fn served_from_cache(&self, key: &[u8], value: Value) -> Option<Value> {
        let inner = &self.inner;
        let servable = inner.offline_drives.load(Relaxed) == 0
            || inner
                .shard(key)
                .lock()
                .get(key)
                .is_some_and(|l| inner.servable(l));
        servable.then(|| {
            inner.counters.hits.fetch_add(1, Relaxed);
            value
        })
    }

    /// A checked get found the cached copy of `key` damaged: reads the drive's copy checked.
    /// If that one is intact, the damage happened in RAM: the cached copy is dropped and
    /// counted, and the drive's copy served (and cached). If it is damaged too, the read
    /// dropped the key and counted it.
    async fn recheck(&self, key: &[u8], cached: &Value) -> Result<Option<Value>, StoreError> {
        let inner = &self.inner;
        let Some(loc) = inner.shard(key).lock().get(key).cloned() else {
            inner.cache.delete_now(key);
            return Ok(None);
        };
        let fresh = inner.read_record(key, loc.clone(), true).await?;
        match &fresh {
            Some(v) => {
                inner.cache.drop_damaged_now(key, cached);
                let shard = inner.shard(key).lock();
                if shard.get(key).is_some_and(|cur| cur.same_record(&loc)) {
                    inner.cache_value(key, v);
                }
            }
            // Dropped and counted by the read if damaged on the drive too; else (the drive
            // went offline) the damaged copy must not be served again either.
            None => {
                inner.cache.delete_now(key);
            }
        }
        Ok(fresh)
    }

    /// Opens the drives, checks that they form one set matching `cfg`, rebuilds the index and
    /// starts one flusher task per drive (so it must run inside a tokio runtime). In file
    /// mode, when none of the files exists yet, they are created and formatted as a new set.
    pub async fn open(cfg: DiskStoreConfig) -> Result<DiskStore, StoreError> {
        if cfg.drives.is_empty() {
            return Err(StoreError::NoDrives);
        }
        let kind = match cfg.engine {
            Some(kind) => kind,
            None => {
                let choice =
                    EngineKind::from_env().map_err(|e| StoreError::Engine(e.to_string()))?;
                if let Some(reason) = &choice.fallback_reason {
                    tracing::warn!("io_uring is not available ({reason}); using the std engine");
                }
                choice.kind
            }
        };
        let engine =
            IoEngine::new(kind, cfg.queue_depth).map_err(|e| StoreError::Engine(e.to_string()))?;
        if cfg.mode == DiskMode::File && cfg.drives.iter().all(|p| !p.exists()) {
            tracing::info!(
                files = cfg.drives.len(),
                size = cfg.file_size,
                "creating and formatting new data files"
            );
            format_drives(
                &engine,
                &cfg.drives,
                &FormatOptions {
                    extent_size: cfg.extent_size,
                    shard_size_kib: 0,
                    create_len: Some(cfg.file_size),
                },
            )
            .await?;
        }
        let recovered = recover::recover(&engine, &cfg).await?;
        // Start-up is done with the shared engine; each drive now has its own.
        drop(engine);
        let inner = Arc::new(Inner {
            mode: cfg.mode,
            drives: recovered.drives,
            index: recovered.index.into_iter().map(Mutex::new).collect(),
            cache: MemoryStore::new(MemoryStoreConfig {
                max_size: cfg.cache_size,
            }),
            seq: AtomicU64::new(recovered.next_seq),
            sync: cfg.sync,
            discard_freed: cfg.mode == DiskMode::Direct || cfg.trim_files,
            discard_idle: cfg.discard_idle,
            extent_size: cfg.extent_size,
            counters: Counters {
                keys: AtomicU64::new(recovered.keys),
                corrupt_reads: AtomicU64::new(recovered.torn),
                ..Counters::default()
            },
            stop: AtomicBool::new(false),
            offline_drives: AtomicU64::new(0),
            part_bufs: stripe::part_buf_pool(cfg.extent_size, cfg.queue_depth),
            read_bufs: readbuf::ReadBufs::new(cfg.extent_size, cfg.queue_depth),
        });
        let flushers = (0..inner.drives.len())
            .map(|d| tokio::spawn(flusher::flusher(Arc::clone(&inner), d)))
            .collect();
        Ok(DiskStore {
            inner,
            flushers: Mutex::new(flushers),
        })
    }

    /// Writes and syncs everything queued, then stops the flushers. Puts after this fail.
    pub async fn close(&self) {
        self.inner.stop.store(true, Relaxed);
        for d in &self.inner.drives {
            d.notify.notify_one();
        }
        let handles = std::mem::take(&mut *self.flushers.lock());
        for h in handles {
            let _ = h.await;
        }
        // Everything is written: let other programs (a restarted server, the drive tools) in.
        for d in &self.inner.drives {
            d.claim.lock().take();
        }
    }

    /// **Test hook.** Makes a drive's I/O fail as if it broke (see `memkv-ioengine`).
    pub fn inject_faults(&self, drive: usize, plan: memkv_ioengine::FaultPlan) {
        let drive = &self.inner.drives[drive];
        drive.engine.inject_faults(&drive.dev, plan);
    }

    /// The largest value this store accepts under a key of `key_len` bytes: what one segment
    /// holds, or, striped, what the online drives hold (see [`stripe::max_striped_len`]).
    pub fn max_value_len(&self, key_len: usize) -> u64 {
        lane::max_value_len(self.inner.extent_size, key_len)
            .max(stripe::max_striped_len(&self.inner, key_len))
    }
}

impl Drop for DiskStore {
    fn drop(&mut self) {
        // Flushers write what is queued, then exit.
        self.inner.stop.store(true, Relaxed);
        for d in &self.inner.drives {
            d.notify.notify_one();
        }
    }
}

impl Store for DiskStore {
    async fn put(&self, key: &[u8], value: Value) -> Result<(), StoreError> {
        debug_assert!(key.len() <= MAX_KEY_LEN);
        let max = self.max_value_len(key.len());
        if value.data.len() as u64 > max {
            tracing::debug!(
                len = value.data.len(),
                usable = max,
                "refused a value larger than the usable capacity"
            );
            return Err(StoreError::NoSpace {
                len: value.data.len() as u64,
                usable: max,
            });
        }
        if value.data.len() as u64 > lane::max_value_len(self.inner.extent_size, key.len()) {
            return stripe::put(&self.inner, key, &value).await;
        }
        let waiter = lane::append(&self.inner, key, lane::Append::Put(&value))?;
        lane::wait(waiter).await
    }

    /// Appends the record now (so every later call sees the value) and returns the wait for
    /// its flush; striped values (larger than one segment) write their parts first, so they
    /// are not staged.
    fn put_staged(&self, key: &[u8], value: Value) -> Staged {
        let len = value.data.len() as u64;
        if len > lane::max_value_len(self.inner.extent_size, key.len())
            || len > self.max_value_len(key.len())
        {
            return Staged::Unstaged(value);
        }
        Staged::Stored(
            lane::append(&self.inner, key, lane::Append::Put(&value))
                .map(|waiter| Durable::new(lane::wait(waiter))),
        )
    }

    async fn get(&self, key: &[u8]) -> Result<Option<Value>, StoreError> {
        self.lookup(key, true).await
    }

    async fn get_unchecked(&self, key: &[u8]) -> Result<Option<Value>, StoreError> {
        self.lookup(key, false).await
    }

    /// A cached value, or a key the index does not hold; `None` for a value on a drive.
    fn get_unchecked_at_hand(&self, key: &[u8]) -> Option<Result<Option<Value>, StoreError>> {
        if let Some(value) = self.inner.cache.get_unchecked_now(key) {
            return Some(Ok(self.served_from_cache(key, value)));
        }
        let absent = self.inner.shard(key).lock().get(key).is_none();
        absent.then_some(Ok(None))
    }

    async fn delete(&self, key: &[u8]) -> Result<bool, StoreError> {
        if self.inner.shard(key).lock().get(key).is_none() {
            return Ok(false);
        }
        let waiter = lane::append(&self.inner, key, lane::Append::Delete)?;
        lane::wait(waiter).await?;
        Ok(true)
    }

    async fn stat(&self, key: &[u8]) -> Result<Option<ValueMeta>, StoreError> {
        let loc = self.inner.shard(key).lock().get(key).cloned();
        Ok(loc.filter(|l| self.inner.servable(l)).map(|l| ValueMeta {
            len: l.len,
            crc: l.crc,
        }))
    }

    async fn exists(&self, keys: &[&[u8]]) -> Result<Vec<bool>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            out.push(self.stat(k).await?.is_some());
        }
        Ok(out)
    }

    fn stats(&self) -> StoreStats {
        let inner = &self.inner;
        let c = &inner.counters;
        let devices: Vec<DriveStats> = inner
            .drives
            .iter()
            .map(|d| {
                // Each drive has an engine of its own, so its counters are the drive's.
                let io = d.engine.metrics();
                DriveStats {
                    path: d.path().to_path_buf(),
                    online: d.online.load(Relaxed),
                    raw_bytes: d.sb.drive_size.max(d.dev.size()),
                    usable_bytes: d.sb.extent_count * d.sb.extent_size,
                    used_bytes: d.live_total.load(Relaxed),
                    written_bytes: io.bytes_written,
                    // Read apart, an error may be counted before its completion is.
                    syncs: io.syncs.completed.saturating_sub(io.syncs.errors),
                }
            })
            .collect();
        let online: Vec<&DriveStats> = devices.iter().filter(|d| d.online).collect();
        let offline = devices.len() - online.len();
        StoreStats {
            engine: inner.mode.as_str(),
            raw_bytes: devices.iter().map(|d| d.raw_bytes).sum(),
            usable_bytes: online.iter().map(|d| d.usable_bytes).sum(),
            used_bytes: online.iter().map(|d| d.used_bytes).sum(),
            keys: c.keys.load(Relaxed),
            evictions: c.evictions.load(Relaxed),
            evicted_bytes: c.evicted_bytes.load(Relaxed),
            corrupt_reads: c.corrupt_reads.load(Relaxed) + inner.cache.stats().corrupt_reads,
            drives_online: online.len() as u32,
            drives_offline: offline as u32,
            drives_total: devices.len() as u32,
            io_engine: inner.drives[0].engine.kind().as_str(),
            cache_hits: c.hits.load(Relaxed),
            cache_misses: c.misses.load(Relaxed),
            trimmed_extents: c.trimmed.load(Relaxed),
            discarded_extents: c.discarded.load(Relaxed),
            devices,
        }
    }
}

#[cfg(test)]
mod tests;
