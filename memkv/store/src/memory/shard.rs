//! One shard of the memory engine: a hash index over a slab of entry slots, and the CLOCK
//! queue that picks the shard's eviction victims.
//!
//! Layout, chosen for bytes per entry (see [`crate::ENTRY_OVERHEAD`]):
//! - `chunks`: the slab. Slots live in fixed chunks of [`CHUNK_SLOTS`], so growth never
//!   reallocates or leaves more than one partly used chunk. A slot is 64 bytes: the key (inline
//!   up to 22 bytes), the value `Bytes`, its CRC and the CLOCK state.
//! - `index`: a hash table of 4-byte slot numbers; key comparison reads the slot.
//! - `queue`: the CLOCK ring, 4-byte slot numbers in insertion order.
//! - `digests`: the digests of live values of at least [`DIGEST_MIN_LEN`] bytes that came with
//!   one (`mac` mode), by slot number: the slot has no room for 16 more bytes, and small values
//!   are cheap to hash again when they are sent.
//!
//! Invariants, relied on for exact accounting:
//! - every live slot is in `index` once and in `queue` once;
//! - a deleted slot is `Dead`: out of `index`, its key and value already dropped, still in
//!   `queue` until the hand pops it or a compaction removes it; `dead` counts them;
//! - a `Vacant` slot is in neither and is on `free` (or above `bumped`, never used);
//! - `digests` holds live slots only, each with the digest of the value it holds now.

use std::collections::VecDeque;
use std::hash::BuildHasher;

use bytes::Bytes;
use foldhash::fast::SeedableRandomState;
use hashbrown::HashTable;

use super::key::Key;
use crate::ValueDigest;

/// Values of at least this many bytes keep the digest they arrived with. Below it, hashing a
/// value as it is sent costs about what looking its digest up would (a miss in a table the
/// size of the store's entries), and every put and get of such values would pay for the table:
/// 4 KiB batch puts and gets with 8 clients ran 4-8% slower with digests kept from 4 KiB.
pub(super) const DIGEST_MIN_LEN: usize = 64 * 1024;

/// Slots per slab chunk (16 KiB of slots).
const CHUNK_SLOTS: usize = 256;

/// Compact the queue once at least this many dead slots make up half of it.
const COMPACT_MIN_DEAD: usize = 64;

/// Where a slot stands in its life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Unused: on the free list (or never handed out).
    Vacant,
    /// Holds an entry that has not been read since the hand last passed it.
    Live,
    /// Holds an entry read or overwritten since the hand last passed it: its second chance.
    Referenced,
    /// Deleted, waiting to leave the queue.
    Dead,
}

struct Slot {
    key: Key,
    data: Bytes,
    crc: u32,
    state: State,
}

#[cfg(target_pointer_width = "64")]
const _: () = assert!(size_of::<Slot>() == 64);

impl Slot {
    fn vacant() -> Self {
        Slot {
            key: Key::EMPTY,
            data: Bytes::new(),
            crc: 0,
            state: State::Vacant,
        }
    }
}

/// A slot found by [`Shard::find`], valid while the shard lock is held and the shard is not
/// changed.
#[derive(Debug, Clone, Copy)]
pub(super) struct SlotId(u32);

/// An entry taken out of the shard, so its capacity can be released and its bytes dropped
/// after the shard lock is let go.
pub(super) struct Removed {
    pub(super) key_len: usize,
    pub(super) data: Bytes,
}

pub(super) struct Shard {
    index: HashTable<u32>,
    chunks: Vec<Box<[Slot]>>,
    /// Slots handed out from `chunks` so far; those at and above it were never used.
    bumped: u32,
    free: Vec<u32>,
    queue: VecDeque<u32>,
    dead: usize,
    /// Slot number and digest of values that keep theirs (see the module doc).
    digests: HashTable<(u32, ValueDigest)>,
}

/// Where slot `i`'s digest goes in `Shard::digests`.
fn digest_hash(i: u32) -> u64 {
    u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

fn slot(chunks: &[Box<[Slot]>], i: u32) -> &Slot {
    let i = i as usize;
    &chunks[i / CHUNK_SLOTS][i % CHUNK_SLOTS]
}

fn slot_mut(chunks: &mut [Box<[Slot]>], i: u32) -> &mut Slot {
    let i = i as usize;
    &mut chunks[i / CHUNK_SLOTS][i % CHUNK_SLOTS]
}

impl Shard {
    pub(super) fn new() -> Self {
        Shard {
            index: HashTable::new(),
            chunks: Vec::new(),
            bumped: 0,
            free: Vec::new(),
            queue: VecDeque::new(),
            dead: 0,
            digests: HashTable::new(),
        }
    }

    /// The slot holding `key`. Valid until the shard is next changed.
    pub(super) fn find(&self, hash: u64, key: &[u8]) -> Option<SlotId> {
        let chunks = &self.chunks;
        self.index
            .find(hash, |&i| slot(chunks, i).key.as_bytes() == key)
            .map(|&i| SlotId(i))
    }

    /// Length of the value in `id`.
    pub(super) fn value_len(&self, id: SlotId) -> usize {
        slot(&self.chunks, id.0).data.len()
    }

    /// The value, CRC and digest under `key`; marks the entry referenced.
    pub(super) fn get(
        &mut self,
        hash: u64,
        key: &[u8],
    ) -> Option<(Bytes, u32, Option<ValueDigest>)> {
        let id = self.find(hash, key)?;
        let digest = if self.value_len(id) >= DIGEST_MIN_LEN {
            self.digest(id.0)
        } else {
            None
        };
        let s = slot_mut(&mut self.chunks, id.0);
        s.state = State::Referenced;
        Some((s.data.clone(), s.crc, digest))
    }

    /// The digest kept for slot `i`.
    fn digest(&self, i: u32) -> Option<ValueDigest> {
        if self.digests.is_empty() {
            return None;
        }
        self.digests.find(digest_hash(i), |e| e.0 == i).map(|e| e.1)
    }

    /// Keeps `digest` for slot `i`, now holding a value of `len` bytes, or forgets the one it
    /// had.
    fn set_digest(&mut self, i: u32, len: usize, digest: Option<ValueDigest>) {
        let hash = digest_hash(i);
        match self.digests.find_entry(hash, |e| e.0 == i) {
            Ok(mut entry) => match digest.filter(|_| len >= DIGEST_MIN_LEN) {
                Some(d) => entry.get_mut().1 = d,
                None => drop(entry.remove()),
            },
            Err(_) => {
                if let Some(d) = digest.filter(|_| len >= DIGEST_MIN_LEN) {
                    self.digests
                        .insert_unique(hash, (i, d), |e| digest_hash(e.0));
                }
            }
        }
    }

    /// The value under `key` if its entry is marked referenced (read or overwritten since the
    /// CLOCK hand last passed it); does not change the mark.
    pub(super) fn get_if_referenced(&self, hash: u64, key: &[u8]) -> Option<(Bytes, u32)> {
        let s = slot(&self.chunks, self.find(hash, key)?.0);
        (s.state == State::Referenced).then(|| (s.data.clone(), s.crc))
    }

    /// Length and CRC under `key`; does not mark the entry referenced.
    pub(super) fn meta(&self, hash: u64, key: &[u8]) -> Option<(u64, u32)> {
        let s = slot(&self.chunks, self.find(hash, key)?.0);
        Some((s.data.len() as u64, s.crc))
    }

    pub(super) fn contains(&self, hash: u64, key: &[u8]) -> bool {
        self.find(hash, key).is_some()
    }

    /// Stores `data` under `key`: [`Self::replace`] if the key is present, else
    /// [`Self::insert`]. Returns the replaced data.
    pub(super) fn upsert(
        &mut self,
        hash: u64,
        key: &[u8],
        data: Bytes,
        crc: u32,
        digest: Option<ValueDigest>,
        hasher: &SeedableRandomState,
    ) -> Option<Bytes> {
        match self.find(hash, key) {
            Some(id) => Some(self.replace(id, data, crc, digest)),
            None => {
                self.insert(hash, key, data, crc, digest, hasher);
                None
            }
        }
    }

    /// Swaps the value in `id` for `data`, returning the old one. The entry keeps its queue
    /// position and is marked referenced: a rewrite counts as use.
    pub(super) fn replace(
        &mut self,
        id: SlotId,
        data: Bytes,
        crc: u32,
        digest: Option<ValueDigest>,
    ) -> Bytes {
        self.set_digest(id.0, data.len(), digest);
        let s = slot_mut(&mut self.chunks, id.0);
        s.crc = crc;
        s.state = State::Referenced;
        std::mem::replace(&mut s.data, data)
    }

    /// Adds `key`, which must be absent, at the tail of the queue, unreferenced.
    pub(super) fn insert(
        &mut self,
        hash: u64,
        key: &[u8],
        data: Bytes,
        crc: u32,
        digest: Option<ValueDigest>,
        hasher: &SeedableRandomState,
    ) {
        debug_assert!(
            self.find(hash, key).is_none(),
            "inserting a key already present"
        );
        let i = self.allocate();
        self.set_digest(i, data.len(), digest);
        *slot_mut(&mut self.chunks, i) = Slot {
            key: Key::new(key),
            data,
            crc,
            state: State::Live,
        };
        let chunks = &self.chunks;
        self.index.insert_unique(hash, i, |&j| {
            hasher.hash_one(slot(chunks, j).key.as_bytes())
        });
        self.queue.push_back(i);
    }

    fn allocate(&mut self) -> u32 {
        if let Some(i) = self.free.pop() {
            return i;
        }
        let i = self.bumped;
        if i as usize == self.chunks.len() * CHUNK_SLOTS {
            self.chunks.push(
                std::iter::repeat_with(Slot::vacant)
                    .take(CHUNK_SLOTS)
                    .collect(),
            );
        }
        // 2^32 slots of 64 bytes in one shard is 256 GiB of slots: unreachable before memory.
        self.bumped = i
            .checked_add(1)
            .expect("memory store shard exceeds 2^32 entries");
        i
    }

    /// Removes `key`.
    pub(super) fn remove(&mut self, hash: u64, key: &[u8]) -> Option<Removed> {
        let chunks = &self.chunks;
        let entry = self
            .index
            .find_entry(hash, |&i| slot(chunks, i).key.as_bytes() == key)
            .ok()?;
        let (i, _) = entry.remove();
        Some(self.kill(i))
    }

    /// Removes `key` only if it still holds the very bytes `data` with `crc`: a reader found
    /// them damaged, and a newer value written meanwhile must survive.
    pub(super) fn remove_if_unchanged(
        &mut self,
        hash: u64,
        key: &[u8],
        data: &Bytes,
        crc: u32,
    ) -> Option<Removed> {
        let chunks = &self.chunks;
        let entry = self
            .index
            .find_entry(hash, |&i| slot(chunks, i).key.as_bytes() == key)
            .ok()?;
        let s = slot(chunks, *entry.get());
        if s.crc != crc || s.data.as_ptr() != data.as_ptr() || s.data.len() != data.len() {
            return None;
        }
        let (i, _) = entry.remove();
        Some(self.kill(i))
    }

    /// Turns slot `i`, already out of the index, into a dead queue entry.
    fn kill(&mut self, i: u32) -> Removed {
        self.set_digest(i, 0, None);
        let s = slot_mut(&mut self.chunks, i);
        let key = std::mem::replace(&mut s.key, Key::EMPTY);
        let data = std::mem::take(&mut s.data);
        s.crc = 0;
        s.state = State::Dead;
        self.dead += 1;
        if self.dead >= COMPACT_MIN_DEAD && self.dead * 2 > self.queue.len() {
            self.compact();
        }
        Removed {
            key_len: key.as_bytes().len(),
            data,
        }
    }

    /// Drops dead slots from the queue and frees them. Runs when they are half the queue, so
    /// its cost is amortized over the deletes that made them.
    fn compact(&mut self) {
        let Shard {
            chunks,
            free,
            queue,
            dead,
            ..
        } = self;
        queue.retain(|&i| {
            let s = slot_mut(chunks, i);
            if s.state == State::Dead {
                s.state = State::Vacant;
                free.push(i);
                false
            } else {
                true
            }
        });
        *dead = 0;
    }

    /// Runs the CLOCK hand until it evicts one entry: pops the queue head; a dead slot is
    /// freed, a referenced entry loses its mark and goes to the tail, an unreferenced entry is
    /// the victim. Ends within two passes over the queue; `None` only when the shard is empty.
    pub(super) fn evict(&mut self, hasher: &SeedableRandomState) -> Option<Removed> {
        while let Some(i) = self.queue.pop_front() {
            let s = slot_mut(&mut self.chunks, i);
            match s.state {
                State::Dead => {
                    s.state = State::Vacant;
                    self.free.push(i);
                    self.dead -= 1;
                }
                State::Referenced => {
                    s.state = State::Live;
                    self.queue.push_back(i);
                }
                State::Live => {
                    let hash = hasher.hash_one(s.key.as_bytes());
                    let found = self.index.find_entry(hash, |&j| j == i);
                    debug_assert!(found.is_ok(), "queued live slot {i} missing from the index");
                    if let Ok(entry) = found {
                        entry.remove();
                    }
                    let key = std::mem::replace(&mut s.key, Key::EMPTY);
                    let data = std::mem::take(&mut s.data);
                    s.crc = 0;
                    s.state = State::Vacant;
                    self.free.push(i);
                    self.set_digest(i, 0, None);
                    return Some(Removed {
                        key_len: key.as_bytes().len(),
                        data,
                    });
                }
                State::Vacant => debug_assert!(false, "vacant slot {i} found in the CLOCK queue"),
            }
        }
        None
    }

    /// Damages the value under `key` in place (flips one bit of its bytes, or of its CRC when
    /// it is empty) without changing its length, so the read-side check has something to find.
    #[cfg(any(test, feature = "fault-injection"))]
    pub(super) fn corrupt(&mut self, hash: u64, key: &[u8]) -> bool {
        let Some(id) = self.find(hash, key) else {
            return false;
        };
        let s = slot_mut(&mut self.chunks, id.0);
        if s.data.is_empty() {
            s.crc ^= 1;
        } else {
            let mut damaged = s.data.to_vec();
            let mid = damaged.len() / 2;
            damaged[mid] ^= 0x10;
            s.data = Bytes::from(damaged);
        }
        true
    }

    /// Changes the digest kept for the value under `key` (its bytes stay intact), so that a
    /// reader checking the digest has something to find. Returns whether a digest was kept.
    #[cfg(any(test, feature = "fault-injection"))]
    pub(super) fn corrupt_digest(&mut self, hash: u64, key: &[u8]) -> bool {
        let Some(id) = self.find(hash, key) else {
            return false;
        };
        match self.digests.find_mut(digest_hash(id.0), |e| e.0 == id.0) {
            Some(e) => {
                e.1[0] ^= 1;
                true
            }
            None => false,
        }
    }

    /// Slab chunks allocated so far.
    #[cfg(test)]
    pub(super) fn slot_chunks(&self) -> usize {
        self.chunks.len()
    }

    /// Checks the layout invariants listed in the module doc, panicking on a violation, and
    /// returns the number of live entries and their total charge.
    #[cfg(test)]
    pub(super) fn check_invariants(&self) -> (u64, u64) {
        let mut queued = std::collections::HashSet::new();
        let (mut live, mut dead, mut charged) = (0, 0, 0);
        for &i in &self.queue {
            assert!(queued.insert(i), "slot {i} queued twice");
            let s = slot(&self.chunks, i);
            match s.state {
                State::Live | State::Referenced => {
                    live += 1;
                    charged += super::charge(s.key.as_bytes().len(), s.data.len());
                }
                State::Dead => dead += 1,
                State::Vacant => panic!("vacant slot {i} queued"),
            }
        }
        assert_eq!(live, self.index.len(), "live queued slots vs index entries");
        assert_eq!(dead, self.dead, "dead queued slots vs dead count");
        for &i in &self.index {
            assert!(queued.contains(&i), "indexed slot {i} not queued");
        }
        for &i in &self.free {
            let s = slot(&self.chunks, i);
            assert_eq!(s.state, State::Vacant, "free slot {i}");
            assert!(
                s.data.is_empty() && s.key.as_bytes().is_empty(),
                "free slot {i} holds data"
            );
        }
        assert_eq!(
            self.free.len() + self.queue.len(),
            self.bumped as usize,
            "slots leaked"
        );
        for &(i, _) in &self.digests {
            let s = slot(&self.chunks, i);
            assert!(
                matches!(s.state, State::Live | State::Referenced),
                "digest of slot {i}, which is {:?}",
                s.state
            );
            assert!(
                s.data.len() >= DIGEST_MIN_LEN,
                "digest of a short value in slot {i}"
            );
        }
        (live as u64, charged)
    }
}
