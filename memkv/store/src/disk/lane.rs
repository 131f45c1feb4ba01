//! One lane per drive: its open segment, the queue of writes for its flusher, segment
//! rotation and eviction, and the flusher task that writes with group commit.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;
use memkv_ioengine::AlignedBuf;
use tokio::sync::oneshot;

use super::format::{
    ALIGNED_VALUE_MIN, META_BLOCK, PART_REF_LEN, PartRef, RECORD_HEADER_LEN, RecordHeader,
    RecordKind, SegmentHeader, SegmentKind, SummaryEntry, align_down, align_up, encode_parts,
    encode_summary, max_value_gap, summary_reserve, value_gap,
};
use super::segbuf::SegBuf;
use super::{Inner, SyncPolicy};
use crate::{StoreError, Value};

/// Where the current record of a key is. For a striped value, the record is its stripe
/// record in the log and `parts` says where the data is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Loc {
    pub(crate) drive: u16,
    pub(crate) key_len: u16,
    pub(crate) extent: u32,
    /// Offset of the record within the extent.
    pub(crate) offset: u32,
    pub(crate) crc: u32,
    pub(crate) len: u64,
    pub(crate) seq: u64,
    pub(crate) seg_seq: u64,
    /// Striped values: the parts, in value order.
    pub(crate) parts: Option<Arc<[PartRef]>>,
}

impl Loc {
    /// Bytes of the record in the log (a stripe record's: its part list and the tail).
    pub(crate) fn record_len(&self) -> u64 {
        let payload = match &self.parts {
            Some(p) => (p.len() * PART_REF_LEN) as u64 + self.tail_len(),
            None => self.len,
        };
        RecordHeader::record_len(usize::from(self.key_len), payload)
    }

    /// Striped values: bytes of the value kept inline in the stripe record (0 otherwise).
    pub(crate) fn tail_len(&self) -> u64 {
        self.parts.as_ref().map_or(0, |p| {
            super::format::stripe_tail_len(self.len, p).unwrap_or(0)
        })
    }

    /// Whether the value depends on the segment incarnation `seg_seq` of extent `e` on drive
    /// `d` (its record is there, or one of its parts).
    pub(crate) fn lives_in(&self, d: usize, e: u32, seg_seq: u64) -> bool {
        (self.drive as usize == d && self.extent == e && self.seg_seq == seg_seq)
            || self.parts.as_ref().is_some_and(|parts| {
                parts
                    .iter()
                    .any(|p| p.drive as usize == d && p.extent == e && p.seg_seq == seg_seq)
            })
    }

    pub(crate) fn same_record(&self, other: &Loc) -> bool {
        self.seq == other.seq && self.drive == other.drive
    }
}

/// A segment's bookkeeping while it is open or sealed.
#[derive(Debug, Default)]
pub(crate) struct SegMeta {
    pub(crate) seg_seq: u64,
    /// Keys with records in it (some may have moved on since).
    pub(crate) keys: Vec<Arc<[u8]>>,
    /// Whether it holds tombstones (then it is only reused in FIFO order).
    pub(crate) tombstones: bool,
}

/// The segment being appended to.
#[derive(Debug)]
pub(crate) struct OpenSeg {
    pub(crate) extent: u32,
    pub(crate) seg_seq: u64,
    /// Offset within the extent of `buf[0]` (aligned).
    pub(crate) buf_base: u64,
    /// Bytes appended but not yet handed to the flusher.
    pub(crate) buf: SegBuf,
    pub(crate) entries: Vec<SummaryEntry>,
    pub(crate) summary_body: u64,
}

impl OpenSeg {
    fn pos(&self) -> u64 {
        self.buf_base + self.buf.len() as u64
    }

    /// Appends a pad record of `gap` bytes (nothing when 0; see [`put_gap`]).
    fn pad(&mut self, gap: u64) {
        if gap == 0 {
            return;
        }
        RecordHeader::pad(self.seg_seq, gap)
            .encode_into(&[], self.buf.append_slot(RECORD_HEADER_LEN));
        self.buf
            .zero_to(self.buf.len() + (gap as usize - RECORD_HEADER_LEN));
    }

    /// Appends a put's value after its header and key. A value whose record was placed with
    /// [`put_gap`] starts on a block boundary; if its buffer does too (values received into
    /// the server's page-aligned buffers), its whole blocks are written from that buffer and
    /// only the rest is copied.
    fn put_value(&mut self, data: &Bytes, align: u64) {
        let at_boundary = self.pos().is_multiple_of(align);
        debug_assert!(
            at_boundary || (data.len() as u64) < ALIGNED_VALUE_MIN,
            "a large value's record was placed without its gap"
        );
        let in_place = if data.len() as u64 >= ALIGNED_VALUE_MIN
            && at_boundary
            && data.as_ptr().addr().is_multiple_of(align as usize)
        {
            align_down(data.len() as u64, align) as usize
        } else {
            0
        };
        if in_place > 0 {
            self.buf.extend_shared(data.slice(..in_place));
        }
        self.buf.extend(&data[in_place..]);
    }
}

/// Bytes of pad record ahead of a put record at segment offset `pos`: large values start on a
/// block boundary of the drive (`align`), so that they can be written without a copy.
fn put_gap(pos: u64, key_len: usize, val_len: u64, align: u64) -> u64 {
    if val_len >= ALIGNED_VALUE_MIN {
        value_gap(pos, key_len, align)
    } else {
        0
    }
}

/// The most [`put_gap`] can be for a value of `val_len` bytes, wherever its record goes.
fn put_gap_room(val_len: u64, align: u64) -> u64 {
    if val_len >= ALIGNED_VALUE_MIN {
        max_value_gap(align)
    } else {
        0
    }
}

/// A write for the flusher.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) extent: u32,
    pub(crate) offset: u64,
    /// Block-aligned in memory, offset and length.
    pub(crate) data: Bytes,
    pub(crate) seal: bool,
}

type Waiter = oneshot::Sender<Result<(), String>>;

/// A lane's state, under the drive's lock.
#[derive(Debug, Default)]
pub(crate) struct Lane {
    pub(crate) open: Option<OpenSeg>,
    /// Free extents that need no discard (never written since start, already discarded, or
    /// on a drive whose freed extents are not discarded), taken oldest first.
    pub(crate) free: VecDeque<u32>,
    /// Free extents still to be discarded: freed while the drive was busy. They are taken
    /// first, newest first, so a steady load rewrites them without ever discarding them; the
    /// flusher discards what is left once the drive has been idle for
    /// [`DiskStoreConfig::discard_idle`](super::DiskStoreConfig::discard_idle), and on
    /// a clean stop (see [`discard_pending`]).
    pub(crate) undiscarded: VecDeque<u32>,
    /// Sealed segments, oldest first.
    pub(crate) fifo: VecDeque<u32>,
    pub(crate) segs: Vec<SegMeta>,
    pub(crate) jobs: Vec<Job>,
    pub(crate) waiters: Vec<Waiter>,
    /// Extents with writes handed to the flusher and not yet complete.
    pub(crate) in_flight: Vec<u32>,
    /// Values replaced or deleted by records not yet written: their records (and a striped
    /// value's parts) are released once the flusher has written (and, with `sync: always`,
    /// synced) those records, so that a crash before then finds the old value whole.
    pub(crate) deferred: Vec<Loc>,
}

impl Lane {
    /// Takes a free extent: a freed one still to be discarded first, else a clean one.
    pub(crate) fn take_free(&mut self) -> Option<u32> {
        self.undiscarded
            .pop_back()
            .or_else(|| self.free.pop_front())
    }

    /// Puts an extent that was written on a free list: the list of extents to discard when
    /// `discard` (the store discards freed extents), else the plain one.
    pub(crate) fn give_back(&mut self, e: u32, discard: bool) {
        if discard {
            self.undiscarded.push_back(e);
        } else {
            self.free.push_back(e);
        }
    }

    /// Whether the flusher still has writes for extent `e` queued or in flight.
    pub(crate) fn busy(&self, e: u32) -> bool {
        self.in_flight.contains(&e) || self.jobs.iter().any(|j| j.extent == e)
    }

    /// Whether the record at `loc` may not be on the drive yet.
    pub(crate) fn is_unwritten(&self, loc: &Loc) -> bool {
        self.in_flight.contains(&loc.extent)
            || self.jobs.iter().any(|j| j.extent == loc.extent)
            || self
                .open
                .as_ref()
                .is_some_and(|o| o.extent == loc.extent && u64::from(loc.offset) >= o.buf_base)
    }

    /// Hands the appended bytes to the flusher, padded to the drive's alignment.
    pub(crate) fn cut(&mut self, align: u64) {
        let Some(open) = self.open.as_mut() else {
            return;
        };
        if open.buf.is_empty() {
            return;
        }
        let len = align_up(open.buf.len() as u64, align);
        open.buf.zero_to(len as usize);
        let base = open.buf_base;
        open.buf_base += len;
        for (at, data) in open.buf.take() {
            self.jobs.push(Job {
                extent: open.extent,
                offset: base + at as u64,
                data,
                seal: false,
            });
        }
    }

    /// Seals the open segment: its last bytes and its summary go to the flusher.
    fn seal(&mut self, align: u64, extent_size: u64) {
        self.cut(align);
        let Some(open) = self.open.take() else {
            return;
        };
        let (off, tail) = encode_summary(open.seg_seq, extent_size, &open.entries);
        self.jobs.push(Job {
            extent: open.extent,
            offset: off,
            data: AlignedBuf::from_slice(&tail).into_bytes(),
            seal: true,
        });
        self.fifo.push_back(open.extent);
    }
}

/// The largest value that fits in one segment next to a key of `key_len` bytes (larger ones
/// are striped), with room for the pad record that may go ahead of it ([`put_gap`]).
pub(crate) fn max_value_len(extent_size: u64, key_len: usize) -> u64 {
    let fixed = META_BLOCK
        + summary_reserve(SummaryEntry::encoded_len(key_len, 0))
        + max_value_gap(META_BLOCK)
        + RecordHeader::record_len(key_len, 0)
        + 8;
    extent_size.saturating_sub(fixed)
}

/// The most parts a stripe record for a key of `key_len` bytes may list: the record and its
/// summary entry must both fit in one segment, next to the segment's other metadata.
pub(crate) fn max_parts(extent_size: u64, key_len: usize) -> u64 {
    max_value_len(extent_size, key_len) / 2 / PART_REF_LEN as u64
}

/// The largest tail a stripe record listing `parts` parts under a key of `key_len` bytes may
/// carry: the record and its summary entry must fit in an empty segment.
pub(crate) fn max_tail_len(extent_size: u64, key_len: usize, parts: u64) -> u64 {
    let list = parts * PART_REF_LEN as u64;
    let room = extent_size
        .saturating_sub(META_BLOCK)
        .saturating_sub(summary_reserve(SummaryEntry::encoded_len(
            key_len,
            parts as usize,
        )));
    // `RecordHeader::record_len` pads the record to a multiple of 8.
    (room & !7).saturating_sub(RECORD_HEADER_LEN as u64 + key_len as u64 + list)
}

/// What [`append`] writes.
pub(crate) enum Append<'a> {
    /// A value stored inline in the record.
    Put(&'a Value),
    /// A tombstone.
    Delete,
    /// A striped value whose parts are written and (with `sync: always`) durable; the bytes
    /// after its last part go into the record (the tail).
    Stripe(&'a Value, Arc<[PartRef]>),
}

/// Appends a put, a delete or a stripe record of `key` to its lane, updates the index and the
/// cache, and returns what to wait on before acknowledging.
pub(crate) fn append(
    inner: &Arc<Inner>,
    key: &[u8],
    what: Append<'_>,
) -> Result<Option<oneshot::Receiver<Result<(), String>>>, StoreError> {
    if inner.stop.load(Relaxed) {
        return Err(StoreError::Engine("the store is shutting down".into()));
    }
    let d = inner.lane_for(key).ok_or(StoreError::NoDrives)?;
    let drive = &inner.drives[d];
    let (value, parts) = match &what {
        Append::Put(v) => (Some(*v), None),
        Append::Delete => (None, None),
        Append::Stripe(v, parts) => (Some(*v), Some(Arc::clone(parts))),
    };
    let val_len = value.map_or(0, |v| v.data.len() as u64);
    let mut payload = Vec::new();
    let mut tail: &[u8] = &[];
    if let (Some(p), Some(v)) = (&parts, value) {
        encode_parts(p, &mut payload);
        let in_parts: u64 = p.iter().map(|p| p.len).sum();
        tail = &v.data[in_parts as usize..];
    }
    let nparts = parts.as_ref().map_or(0, |p| p.len());
    let rec_len = RecordHeader::record_len(
        key.len(),
        if parts.is_some() {
            (payload.len() + tail.len()) as u64
        } else {
            val_len
        },
    );
    let entry_len = SummaryEntry::encoded_len(key.len(), nparts);
    let extent_size = inner.extent_size;
    // Only inline values get a pad record ahead of them.
    let inline = matches!(&what, Append::Put(_));
    let gap_at = |pos: u64| {
        if inline {
            put_gap(pos, key.len(), val_len, drive.align)
        } else {
            0
        }
    };
    let mut guard = drive.lane.lock();
    let fits = |o: &OpenSeg| {
        o.pos() + gap_at(o.pos()) + rec_len + summary_reserve(o.summary_body + entry_len)
            <= extent_size
    };
    if !guard.open.as_ref().is_some_and(fits) {
        guard.seal(drive.align, extent_size);
        // Hot values rewritten first move the record, and so its gap, anywhere.
        let gap_room = if inline {
            put_gap_room(val_len, drive.align)
        } else {
            0
        };
        open_segment(inner, d, &mut guard, gap_room + rec_len + entry_len)?;
    }
    let seq = inner.seq.fetch_add(1, Relaxed);
    let lane = &mut *guard;
    let open = lane.open.as_mut().expect("opened above");
    open.pad(gap_at(open.pos()));
    let offset = open.pos();
    let kind = match &what {
        Append::Put(_) => RecordKind::Put,
        Append::Delete => RecordKind::Delete,
        Append::Stripe(..) => RecordKind::Stripe,
    };
    let crc = value.map_or(0, |v| v.crc);
    RecordHeader {
        kind,
        key_len: key.len() as u16,
        val_len,
        value_crc: crc,
        seq,
        seg_seq: open.seg_seq,
        parts: nparts as u32,
        parts_crc: if parts.is_some() {
            crate::checksum::crc32c(&payload)
        } else {
            0
        },
    }
    .encode_into(key, open.buf.append_slot(RECORD_HEADER_LEN + key.len()));
    match &what {
        Append::Put(v) => open.put_value(&v.data, drive.align),
        Append::Delete => {}
        Append::Stripe(..) => {
            open.buf.extend(&payload);
            open.buf.extend(tail);
        }
    }
    open.buf
        .zero_to((offset + rec_len - open.buf_base) as usize);
    open.entries.push(SummaryEntry {
        kind,
        key: key.to_vec(),
        offset: offset as u32,
        val_len,
        value_crc: crc,
        seq,
        parts: parts
            .as_deref()
            .map(<[PartRef]>::to_vec)
            .unwrap_or_default(),
    });
    open.summary_body += entry_len;
    let extent = open.extent;
    let seg_seq = open.seg_seq;
    let key_arc: Arc<[u8]> = Arc::from(key);
    let mut deferred = None;
    {
        let mut shard = inner.shard(key).lock();
        let old = match value {
            Some(v) => {
                let loc = Loc {
                    drive: d as u16,
                    key_len: key.len() as u16,
                    extent,
                    offset: offset as u32,
                    crc,
                    len: val_len,
                    seq,
                    seg_seq,
                    parts: parts.clone(),
                };
                inner.charge(&loc);
                // Under the index lock, so the cache never holds an older value than the index.
                inner.cache_value(key, v);
                shard.insert(Arc::clone(&key_arc), loc)
            }
            None => {
                inner.cache.delete_now(key);
                shard.remove(key)
            }
        };
        match &old {
            Some(old) => {
                // The old record (and a striped value's parts) stays live until this record
                // is written: until then a crash brings the old value back, so the segment
                // holding it must not be trimmed or reused, even when it holds nothing else.
                deferred = Some(old.clone());
            }
            None if value.is_some() => {
                inner.counters.keys.fetch_add(1, Relaxed);
            }
            None => {}
        }
        if value.is_none() && old.is_some() {
            inner.counters.keys.fetch_sub(1, Relaxed);
        }
    }
    lane.deferred.extend(deferred);
    let meta = &mut lane.segs[extent as usize];
    meta.keys.push(key_arc);
    meta.tombstones |= value.is_none();
    let rx = match inner.sync {
        SyncPolicy::Always => {
            let (tx, rx) = oneshot::channel();
            lane.waiters.push(tx);
            Some(rx)
        }
        SyncPolicy::None => None,
    };
    drop(guard);
    drive.notify.notify_one();
    Ok(rx)
}

/// Waits for the flusher to make an append durable (nothing to wait for with
/// [`SyncPolicy::None`]).
pub(crate) async fn wait(
    waiter: Option<oneshot::Receiver<Result<(), String>>>,
) -> Result<(), StoreError> {
    let Some(rx) = waiter else {
        return Ok(());
    };
    match rx.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(StoreError::Io {
            op: "write to",
            path: e.into(),
            source: std::io::Error::other("drive failed"),
        }),
        Err(_) => Err(StoreError::Engine(
            "the store shut down before the write".into(),
        )),
    }
}

/// Starts a new segment in a free extent, reusing a dead one or evicting the oldest.
/// `reserve` is the room (record and summary entry) the caller's own record needs in it.
fn open_segment(inner: &Inner, d: usize, lane: &mut Lane, reserve: u64) -> Result<(), StoreError> {
    let drive = &inner.drives[d];
    let mut hot = Vec::new();
    let extent = if let Some(e) = lane.take_free() {
        e
    } else if let Some(pos) = lane.fifo.iter().position(|&e| {
        drive.live[e as usize].load(Relaxed) == 0 && !lane.segs[e as usize].tombstones
    }) {
        let e = lane.fifo.remove(pos).expect("position is in range");
        lane.segs[e as usize].keys.clear();
        e
    } else if let Some(e) = lane.fifo.pop_front() {
        // Hot values of the evicted segment are written again at the head of the new one,
        // up to half of it and never into the room the caller's record needs.
        let ext = inner.extent_size;
        let budget = (ext / 2).min(ext.saturating_sub(3 * META_BLOCK + reserve));
        hot = evict(inner, d, lane, e, budget);
        e
    } else {
        return Err(StoreError::NoDrives);
    };
    let seg_seq = inner.seq.fetch_add(1, Relaxed);
    let header = SegmentHeader {
        seg_seq,
        drive_index: drive.sb.drive_index,
        extent,
        set_uuid: drive.sb.set_uuid,
        kind: SegmentKind::Log,
    }
    .encode();
    lane.segs[extent as usize] = SegMeta {
        seg_seq,
        keys: Vec::new(),
        tombstones: false,
    };
    lane.open = Some(OpenSeg {
        extent,
        seg_seq,
        buf_base: 0,
        buf: {
            let mut buf = SegBuf::new(inner.part_bufs.clone());
            buf.extend(&header);
            buf
        },
        entries: Vec::new(),
        summary_body: 0,
    });
    for h in hot {
        rewrite_hot(inner, d, lane, h);
    }
    Ok(())
}

/// A value found hot (in the RAM cache) in a segment being evicted.
struct Hot {
    key: Arc<[u8]>,
    value: Value,
    old: Loc,
}

/// Writes a hot value again into the open segment (just opened, so it fits) and moves the
/// index to the new record, unless the key moved on meanwhile.
fn rewrite_hot(inner: &Inner, d: usize, lane: &mut Lane, h: Hot) {
    let open = lane.open.as_mut().expect("opened by the caller");
    let mut shard = inner.shard(&h.key).lock();
    if !shard
        .get(&*h.key)
        .is_some_and(|cur| cur.same_record(&h.old))
    {
        return;
    }
    let seq = inner.seq.fetch_add(1, Relaxed);
    let val_len = h.value.data.len() as u64;
    let align = inner.drives[d].align;
    open.pad(put_gap(open.pos(), h.key.len(), val_len, align));
    let offset = open.pos();
    let rec_len = RecordHeader::record_len(h.key.len(), val_len);
    RecordHeader {
        kind: RecordKind::Put,
        key_len: h.key.len() as u16,
        val_len,
        value_crc: h.value.crc,
        seq,
        seg_seq: open.seg_seq,
        parts: 0,
        parts_crc: 0,
    }
    .encode_into(
        &h.key,
        open.buf.append_slot(RECORD_HEADER_LEN + h.key.len()),
    );
    open.put_value(&h.value.data, align);
    open.buf
        .zero_to((offset + rec_len - open.buf_base) as usize);
    open.entries.push(SummaryEntry {
        kind: RecordKind::Put,
        key: h.key.to_vec(),
        offset: offset as u32,
        val_len,
        value_crc: h.value.crc,
        seq,
        parts: Vec::new(),
    });
    open.summary_body += SummaryEntry::encoded_len(h.key.len(), 0);
    let loc = Loc {
        drive: d as u16,
        key_len: h.key.len() as u16,
        extent: open.extent,
        offset: offset as u32,
        crc: h.value.crc,
        len: val_len,
        seq,
        seg_seq: open.seg_seq,
        parts: None,
    };
    let extent = open.extent;
    inner.charge(&loc);
    let old = shard.insert(Arc::clone(&h.key), loc);
    if let Some(old) = old {
        inner.release(&old);
    }
    drop(shard);
    lane.segs[extent as usize].keys.push(h.key);
    inner.counters.hot_rewrites.fetch_add(1, Relaxed);
}

/// Takes an extent of drive `d` for one part of a striped value of `key`: a free one, else a
/// sealed one whose records are all dead, else the oldest sealed segment (evicted). The
/// extent is then *reserved*: in neither the free list nor the FIFO, so nothing else writes
/// or evicts it, until [`commit_parts`] or [`unreserve_parts`]. Returns the extent and the
/// part's segment sequence, or `None` when every extent is open, busy or reserved right now.
pub(crate) fn reserve_part(inner: &Inner, d: usize, key: &Arc<[u8]>) -> Option<(u32, u64)> {
    let drive = &inner.drives[d];
    let mut guard = drive.lane.lock();
    let lane = &mut *guard;
    let e = if let Some(e) = lane.take_free() {
        e
    } else if let Some(pos) = lane.fifo.iter().position(|&e| {
        !lane.busy(e)
            && drive.live[e as usize].load(Relaxed) == 0
            && !lane.segs[e as usize].tombstones
    }) {
        lane.fifo.remove(pos).expect("position is in range")
    } else if let Some(pos) = lane.fifo.iter().position(|&e| !lane.busy(e)) {
        let e = lane.fifo.remove(pos).expect("position is in range");
        // A part takes the whole extent: nothing is rewritten.
        evict(inner, d, lane, e, 0);
        e
    } else {
        return None;
    };
    let seg_seq = inner.seq.fetch_add(1, Relaxed);
    lane.segs[e as usize] = SegMeta {
        seg_seq,
        keys: vec![Arc::clone(key)],
        tombstones: false,
    };
    Some((e, seg_seq))
}

/// Waits until the record at `loc` is on its drive (written by its lane's flusher), if it may
/// not be yet: a read of a stripe record's tail must not race the group commit that writes it.
pub(crate) async fn wait_written(inner: &Inner, loc: &Loc) {
    let drive = &inner.drives[loc.drive as usize];
    let rx = {
        let mut lane = drive.lane.lock();
        if !lane.is_unwritten(loc) {
            return;
        }
        let (tx, rx) = oneshot::channel();
        // Answered after the flusher's next round, which writes everything queued now.
        lane.waiters.push(tx);
        rx
    };
    drive.notify.notify_one();
    // An error means the drive failed or the store stopped: the read that follows says so.
    let _ = rx.await;
}

/// Puts reserved part extents into their drives' FIFOs once their stripe record is appended:
/// from then on they age and are evicted like any segment (evicting one evicts the value).
pub(crate) fn commit_parts(inner: &Inner, parts: &[PartRef]) {
    for p in parts {
        let drive = &inner.drives[p.drive as usize];
        drive.lane.lock().fifo.push_back(p.extent);
        // Already dead if the value was overwritten meanwhile: let the flusher reclaim it.
        if drive.live[p.extent as usize].load(Relaxed) == 0 {
            drive.dead_hint.store(true, Relaxed);
            drive.notify.notify_one();
        }
    }
}

/// Returns reserved part extents of a put that failed to the free lists.
pub(crate) fn unreserve_parts(inner: &Inner, parts: &[PartRef]) {
    for p in parts {
        let drive = &inner.drives[p.drive as usize];
        let mut lane = drive.lane.lock();
        lane.segs[p.extent as usize] = SegMeta::default();
        // The part may have been written.
        lane.give_back(p.extent, inner.discard_freed);
        drop(lane);
        drive.space.notify_waiters();
    }
}

/// Drops every key whose current record (or a part) is in extent `e` of drive `d`, except
/// hot values: inline values in the RAM cache and read since the cache's CLOCK hand last
/// passed them, returned (up to `budget` bytes of records
/// and summary entries) for the caller to write again at the head of the log.
fn evict(inner: &Inner, d: usize, lane: &mut Lane, e: u32, budget: u64) -> Vec<Hot> {
    let meta = std::mem::take(&mut lane.segs[e as usize]);
    let mut count = 0u64;
    let mut left = budget;
    let mut hot = Vec::new();
    for key in meta.keys {
        let mut shard = inner.shard(&key).lock();
        let Some(cur) = shard.get(&*key).filter(|l| l.lives_in(d, e, meta.seg_seq)) else {
            continue;
        };
        let cost = put_gap_room(cur.len, inner.drives[d].align)
            + cur.record_len()
            + SummaryEntry::encoded_len(key.len(), 0);
        if cur.parts.is_none()
            && cost <= left
            && let Some(value) = inner
                .cache
                .hot_now(&key)
                .filter(|v| v.crc == cur.crc && v.data.len() as u64 == cur.len)
        {
            left -= cost;
            hot.push(Hot {
                old: cur.clone(),
                key: Arc::clone(&key),
                value,
            });
            continue;
        }
        let loc = shard.remove(&*key).expect("present");
        inner.cache.delete_now(&key);
        inner.release(&loc);
        inner.counters.keys.fetch_sub(1, Relaxed);
        inner.counters.evicted_bytes.fetch_add(loc.len, Relaxed);
        count += 1;
    }
    inner.counters.evictions.fetch_add(count, Relaxed);
    tracing::debug!(
        drive = d,
        extent = e,
        evicted = count,
        kept_hot = hot.len(),
        "evicted the oldest segment"
    );
    hot
}
