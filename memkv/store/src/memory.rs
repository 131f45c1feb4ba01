//! The in-memory engine (`storage.mode: memory`): values live in RAM, bounded by a capacity,
//! with cold entries evicted by CLOCK when the store is full.
//!
//! # Index
//!
//! Keys hash (foldhash, randomly seeded per store) to one of 256 shards. Each shard is a
//! `parking_lot::Mutex` over its own hash index, slab of entry slots and CLOCK queue; an
//! operation locks exactly one shard, briefly, and never two at once. There is no global lock:
//! the only shared state on the hot path is a few atomic counters. Values are immutable
//! `Bytes`; a put swaps the stored `Bytes` under the shard lock, so a concurrent get returns
//! the old value or the new one, never a mix. CRC checks and dropping of replaced values
//! happen outside the lock.
//!
//! # Eviction policy: CLOCK (second chance), per shard
//!
//! Each shard keeps its entries in a FIFO queue in insertion order, and each entry has a
//! *referenced* bit. A `get` sets the bit, and so does overwriting an existing key (which
//! otherwise keeps its queue position); a new key joins the tail with the bit clear. `stat`
//! and `exists` are probes and do not set it.
//!
//! When a put does not fit, the store evicts one entry at a time until it does. A global hand
//! rotates over the shards, so successive evictions come from successive shards and eviction
//! is spread evenly (keys hash uniformly, so every shard holds a similar slice of the data).
//! In the chosen shard the CLOCK hand pops the head of the queue: an entry with the bit set
//! has it cleared and goes back to the tail (its second chance); the first entry found with
//! the bit clear is evicted. An entry therefore survives eviction for as long as it is read
//! at least once per pass of the hand over its shard, which approximates LRU at the cost of
//! one bit and a 4-byte queue slot per entry.
//!
//! Deleting or evicting a key leaves no stale work: a deleted entry's queue slot is marked
//! dead and skipped (and freed) when the hand reaches it, and when dead slots make up half a
//! shard's queue the queue is compacted. Overwrites update the slot in place, so the queue
//! never holds two slots for one key.
//!
//! # Capacity accounting
//!
//! Every entry is charged `value length + key length + ENTRY_OVERHEAD` bytes against
//! `max_size`, and 24 more when its value is long enough to keep its digest (64 KiB or more,
//! see `shard`). A put first tries, under its shard's lock, to charge only what it adds (its
//! charge minus that of the value it replaces); that always succeeds when the store has room,
//! and for any overwrite that does not grow. Otherwise it lets go of the lock, evicts until
//! its whole charge fits, then stores and releases the replaced value's charge. So
//! `used_bytes` never exceeds `max_size` and returns exactly to 0 when every key is deleted.
//! Growing a value in a full store may evict up to the old value's charge more than strictly
//! needed (possibly the key itself, which is then stored afresh). A put fails with
//! [`StoreError::NoSpace`] only when its charge alone is larger than `max_size`.
//!
//! # Integrity
//!
//! The store keeps the client's CRC32C with each value and recomputes it on every `get`. On a
//! mismatch the value is removed (unless it was replaced meanwhile), the read is counted in
//! `corrupt_reads`, a warning is logged, and the get reports a miss.

use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use foldhash::fast::SeedableRandomState;
use parking_lot::Mutex;

use crate::{Durable, MAX_KEY_LEN, Staged, Store, StoreError, StoreStats, Value, ValueMeta};

mod key;
mod shard;
#[cfg(test)]
mod tests;

use shard::{Removed, Shard};

/// Bytes charged per entry on top of its key and value, covering what the engine itself keeps
/// for an entry: the 64-byte slot (key up to 22 bytes inline, value handle, CRC, CLOCK state),
/// the 4-byte index and queue entries with their load-factor slack, and allocator headers of
/// the key and value allocations.
///
/// It makes `max_size` a bound on resident memory, not only on payload. Measured with 10
/// million entries of 16-byte keys and 16-byte values (charged 160 bytes each): 109 bytes
/// resident per entry when each value is an exact-size allocation, 157 bytes when each value
/// is a slice of a received request frame, which keeps the frame's allocation alive.
pub const ENTRY_OVERHEAD: u64 = 128;

/// Number of shards (a power of two).
const SHARDS: usize = 256;

/// Settings of the in-memory engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryStoreConfig {
    /// Capacity in bytes, charged per entry as value + key + [`ENTRY_OVERHEAD`].
    pub max_size: u64,
}

/// The in-memory engine. See the [module documentation](self) for its eviction policy,
/// capacity accounting and integrity checks.
pub struct MemoryStore {
    shards: Box<[Padded]>,
    mask: usize,
    hasher: SeedableRandomState,
    max_size: u64,
    /// Capacity charged to stored entries and to puts in flight.
    used: AtomicU64,
    keys: AtomicU64,
    /// The shard the next eviction starts from (modulo the shard count).
    hand: AtomicUsize,
    evictions: AtomicU64,
    evicted_bytes: AtomicU64,
    corrupt_reads: AtomicU64,
}

/// A shard on its own cache lines, so neighbouring shard locks do not false-share.
#[repr(align(128))]
struct Padded(Mutex<Shard>);

/// Capacity charged for an entry.
fn charge(key_len: usize, data_len: usize) -> u64 {
    let digest = if data_len >= shard::DIGEST_MIN_LEN {
        DIGEST_OVERHEAD
    } else {
        0
    };
    ENTRY_OVERHEAD + key_len as u64 + data_len as u64 + digest
}

/// Bytes charged on top of [`ENTRY_OVERHEAD`] for an entry whose value is long enough to keep
/// its digest (64 KiB or more): the 20-byte slot number and digest in a hash table, with its
/// control byte and load-factor slack.
const DIGEST_OVERHEAD: u64 = 24;

impl MemoryStore {
    /// An empty store holding at most `cfg.max_size` bytes (as charged, see
    /// [`ENTRY_OVERHEAD`]).
    pub fn new(cfg: MemoryStoreConfig) -> Self {
        Self::with_layout(cfg, SHARDS, SeedableRandomState::random())
    }

    /// A store with `shards` shards (a power of two) and the given key hasher; tests use one
    /// shard or a fixed seed to make eviction order deterministic.
    fn with_layout(cfg: MemoryStoreConfig, shards: usize, hasher: SeedableRandomState) -> Self {
        assert!(
            shards.is_power_of_two() && shards <= 1 << 16,
            "bad shard count {shards}"
        );
        MemoryStore {
            shards: (0..shards)
                .map(|_| Padded(Mutex::new(Shard::new())))
                .collect(),
            mask: shards - 1,
            hasher,
            max_size: cfg.max_size,
            used: AtomicU64::new(0),
            keys: AtomicU64::new(0),
            hand: AtomicUsize::new(0),
            evictions: AtomicU64::new(0),
            evicted_bytes: AtomicU64::new(0),
            corrupt_reads: AtomicU64::new(0),
        }
    }

    /// The key's hash and its shard. The shard comes from hash bits 32.. so that it is
    /// independent of the bits the shard's table uses (the low bits and the top 7).
    fn locate(&self, key: &[u8]) -> (u64, &Mutex<Shard>) {
        debug_assert!(
            key.len() <= MAX_KEY_LEN,
            "key of {} bytes reached the store",
            key.len()
        );
        let hash = self.hasher.hash_one(key);
        (hash, &self.shards[(hash >> 32) as usize & self.mask].0)
    }

    pub(crate) fn put_now(&self, key: &[u8], value: Value) -> Result<(), StoreError> {
        let cost = charge(key.len(), value.data.len());
        if cost > self.max_size {
            return Err(StoreError::NoSpace {
                len: value.data.len() as u64,
                usable: self.max_size.saturating_sub(charge(key.len(), 0)),
            });
        }
        let (hash, shard) = self.locate(key);

        // Fast path, under the shard lock: charge only the growth over the value being
        // replaced, if that fits without evicting. Covers every put into a store with room and
        // every overwrite that does not grow, however full the store is.
        let mut guard = shard.lock();
        let existing = guard.find(hash, key);
        let old_cost = existing.map(|slot| charge(key.len(), guard.value_len(slot)));
        if self.try_charge(cost.saturating_sub(old_cost.unwrap_or(0))) {
            let replaced = match existing {
                Some(slot) => Some(guard.replace(slot, value.data, value.crc, value.digest)),
                None => {
                    let (data, crc, digest) = (value.data, value.crc, value.digest);
                    guard.insert(hash, key, data, crc, digest, &self.hasher);
                    self.keys.fetch_add(1, Relaxed);
                    None
                }
            };
            drop(guard);
            if let Some(old_cost) = old_cost {
                self.release(old_cost.saturating_sub(cost));
            }
            drop(replaced);
            return Ok(());
        }
        drop(guard);

        // Slow path: evict until the whole entry fits (holding no lock meanwhile), then store
        // it and release whatever it replaced.
        self.reserve(cost);
        let replaced = {
            let mut shard = shard.lock();
            let replaced =
                shard.upsert(hash, key, value.data, value.crc, value.digest, &self.hasher);
            if replaced.is_none() {
                self.keys.fetch_add(1, Relaxed);
            }
            replaced
        };
        if let Some(old) = replaced {
            self.release(charge(key.len(), old.len()));
        }
        Ok(())
    }

    /// Charges `cost` to `used` if that keeps it within `max_size`, without evicting.
    fn try_charge(&self, cost: u64) -> bool {
        cost == 0
            || self
                .used
                .fetch_update(Relaxed, Relaxed, |used| {
                    used.checked_add(cost)
                        .filter(|&after| after <= self.max_size)
                })
                .is_ok()
    }

    /// Charges `cost` to `used`, evicting until it fits under `max_size`. `cost` must not
    /// exceed `max_size`.
    fn reserve(&self, cost: u64) {
        let mut empty_sweeps = 0u32;
        while !self.try_charge(cost) {
            if self.evict_one() {
                empty_sweeps = 0;
            } else {
                // Every shard is empty: the space is held by other puts between their
                // reservation and their insert, which take no locks but a shard's and finish
                // promptly. Let them run, then evict what they stored. Seconds of this mean
                // charged bytes that no entry holds: an accounting bug, not a busy store.
                empty_sweeps += 1;
                debug_assert!(
                    empty_sweeps < 1 << 20,
                    "{} bytes charged but no entry to evict: capacity accounting leaked",
                    self.used.load(Relaxed)
                );
                std::thread::yield_now();
            }
        }
    }

    fn release(&self, cost: u64) {
        if cost == 0 {
            return;
        }
        let before = self.used.fetch_sub(cost, Relaxed);
        debug_assert!(
            before >= cost,
            "released {cost} bytes with only {before} charged"
        );
    }

    /// Evicts one entry, from the shard under the hand or, if that one is empty, the next
    /// non-empty one. Returns false when every shard is empty.
    fn evict_one(&self) -> bool {
        let start = self.hand.fetch_add(1, Relaxed);
        for step in 0..self.shards.len() {
            let shard = &self.shards[start.wrapping_add(step) & self.mask].0;
            let victim = {
                let mut shard = shard.lock();
                let victim = shard.evict(&self.hasher);
                if victim.is_some() {
                    self.keys.fetch_sub(1, Relaxed);
                }
                victim
            };
            if let Some(Removed { key_len, data }) = victim {
                self.evictions.fetch_add(1, Relaxed);
                self.evicted_bytes.fetch_add(data.len() as u64, Relaxed);
                self.release(charge(key_len, data.len()));
                return true;
            }
        }
        false
    }

    pub(crate) fn get_now(&self, key: &[u8]) -> Option<Value> {
        let value = self.get_unchecked_now(key)?;
        if crate::checksum::crc32c(&value.data) == value.crc {
            return Some(value);
        }
        self.drop_damaged_now(key, &value);
        None
    }

    /// The value under `key` (marked referenced, as by a read) without re-reading its bytes
    /// for their CRC32C: see [`Store::get_unchecked`].
    pub(crate) fn get_unchecked_now(&self, key: &[u8]) -> Option<Value> {
        let (hash, shard) = self.locate(key);
        let (data, crc, digest) = shard.lock().get(hash, key)?;
        Some(Value { data, crc, digest })
    }

    /// Drops `value` under `key`, found damaged by a reader, unless a newer value replaced it;
    /// counts and logs it either way.
    pub(crate) fn drop_damaged_now(&self, key: &[u8], value: &Value) {
        let (hash, shard) = self.locate(key);
        let removed = {
            let mut shard = shard.lock();
            let removed = shard.remove_if_unchanged(hash, key, &value.data, value.crc);
            if removed.is_some() {
                self.keys.fetch_sub(1, Relaxed);
            }
            removed
        };
        if let Some(r) = removed {
            self.release(charge(r.key_len, r.data.len()));
        }
        self.corrupt_reads.fetch_add(1, Relaxed);
        tracing::warn!(
            key = %key.escape_ascii(),
            len = value.data.len(),
            "dropped a stored value whose CRC32C no longer matches its bytes; \
             the read was served as a miss (repeated occurrences suggest failing memory)"
        );
    }

    /// The value under `key` if it is *hot*: cached and marked referenced (read, or
    /// overwritten, since the CLOCK hand last passed it). A probe: it changes no mark, and it
    /// returns only bytes that match their CRC32C.
    pub(crate) fn hot_now(&self, key: &[u8]) -> Option<Value> {
        let (hash, shard) = self.locate(key);
        let (data, crc) = shard.lock().get_if_referenced(hash, key)?;
        (crate::checksum::crc32c(&data) == crc).then_some(Value {
            data,
            crc,
            digest: None,
        })
    }

    pub(crate) fn delete_now(&self, key: &[u8]) -> bool {
        let (hash, shard) = self.locate(key);
        let removed = {
            let mut shard = shard.lock();
            let removed = shard.remove(hash, key);
            if removed.is_some() {
                self.keys.fetch_sub(1, Relaxed);
            }
            removed
        };
        match removed {
            Some(r) => {
                self.release(charge(r.key_len, r.data.len()));
                true
            }
            None => false,
        }
    }

    fn stat_now(&self, key: &[u8]) -> Option<ValueMeta> {
        let (hash, shard) = self.locate(key);
        let (len, crc) = shard.lock().meta(hash, key)?;
        Some(ValueMeta { len, crc })
    }

    fn exists_now(&self, keys: &[&[u8]]) -> Vec<bool> {
        keys.iter()
            .map(|key| {
                let (hash, shard) = self.locate(key);
                shard.lock().contains(hash, key)
            })
            .collect()
    }

    /// Damages the stored value under `key` without changing its length, so the next `get`
    /// finds a CRC mismatch. Returns whether the key was present. For tests only.
    #[cfg(any(test, feature = "fault-injection"))]
    #[doc(hidden)]
    pub fn corrupt_for_test(&self, key: &[u8]) -> bool {
        let (hash, shard) = self.locate(key);
        shard.lock().corrupt(hash, key)
    }

    /// Changes the digest kept for the value under `key`, leaving its bytes and CRC32C
    /// intact, so the next `mac` get sends it with a digest that no longer matches. Returns
    /// whether a digest was kept. For tests only.
    #[cfg(any(test, feature = "fault-injection"))]
    #[doc(hidden)]
    pub fn corrupt_digest_for_test(&self, key: &[u8]) -> bool {
        let (hash, shard) = self.locate(key);
        shard.lock().corrupt_digest(hash, key)
    }
}

impl Store for MemoryStore {
    async fn put(&self, key: &[u8], value: Value) -> Result<(), StoreError> {
        self.put_now(key, value)
    }

    fn put_staged(&self, key: &[u8], value: Value) -> Staged {
        Staged::Stored(self.put_now(key, value).map(|()| Durable::done()))
    }

    async fn get(&self, key: &[u8]) -> Result<Option<Value>, StoreError> {
        Ok(self.get_now(key))
    }

    async fn get_unchecked(&self, key: &[u8]) -> Result<Option<Value>, StoreError> {
        Ok(self.get_unchecked_now(key))
    }

    fn get_unchecked_at_hand(&self, key: &[u8]) -> Option<Result<Option<Value>, StoreError>> {
        Some(Ok(self.get_unchecked_now(key)))
    }

    async fn delete(&self, key: &[u8]) -> Result<bool, StoreError> {
        Ok(self.delete_now(key))
    }

    async fn stat(&self, key: &[u8]) -> Result<Option<ValueMeta>, StoreError> {
        Ok(self.stat_now(key))
    }

    async fn exists(&self, keys: &[&[u8]]) -> Result<Vec<bool>, StoreError> {
        Ok(self.exists_now(keys))
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            engine: crate::MEMORY_ENGINE,
            raw_bytes: self.max_size,
            usable_bytes: self.max_size,
            used_bytes: self.used.load(Relaxed),
            keys: self.keys.load(Relaxed),
            evictions: self.evictions.load(Relaxed),
            evicted_bytes: self.evicted_bytes.load(Relaxed),
            corrupt_reads: self.corrupt_reads.load(Relaxed),
            drives_online: 0,
            drives_offline: 0,
            drives_total: 0,
            ..StoreStats::default()
        }
    }

    fn holds_values_only_in_ram(&self) -> bool {
        true
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("max_size", &self.max_size)
            .field("used", &self.used.load(Relaxed))
            .field("keys", &self.keys.load(Relaxed))
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}
