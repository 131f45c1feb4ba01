//! Values larger than one segment holds: striped over extents and drives.
//!
//! A striped value is cut into full parts of `extent_size - 4 KiB` bytes (see [`part_lens`]);
//! what is left after the last full part, the *tail*, goes inline into the stripe record when
//! it fits there (nearly always), else into one more, shorter part. With 4 MiB extents a 4 MiB
//! value is one part (one aligned 4 MiB write: header block and 4 MiB - 4 KiB of data) and a
//! stripe record carrying the last 4 KiB; a value of exactly `k` part capacities has no tail.
//! Part `i` goes to the `i`-th online drive in round-robin order, starting at the key's lane
//! drive, so a value spreads evenly over every drive (on one drive, over several extents).
//! Each part takes a whole extent: a segment header of kind *part* (its length and CRC32C),
//! then the bytes.
//!
//! A put reserves one extent per part (free, dead, or evicted oldest-first like any segment),
//! writes all parts in one batch, syncs the other drives that hold them (`sync: always`), and
//! once every part's write has completed appends a *stripe record* to the key's lane: the key,
//! the whole value's length and CRC32C, the list of parts and the tail. The stripe record
//! commits the value, exactly like an inline record commits a small one (group commit with the
//! lane's other records); that commit's `fdatasync` also makes the parts on the lane's drive
//! durable, so the put is acknowledged after one sync round trip, not two. A crash before it
//! is durable leaves parts that no record names, and recovery frees them; a crash during it
//! may leave a record whose part on that drive is incomplete, which recovery drops (the part's
//! header is not of that incarnation) or a read finds damaged (its CRC32C): a miss, never
//! wrong bytes, and never for an acknowledged put. A read
//! fetches every part and the tail, checks each part's header, the stripe record's header and
//! the whole value's CRC32C, and serves nothing unless all of it matches.
//!
//! Reserved extents are outside the free list and the FIFO until the stripe record is
//! appended, so nothing else writes or evicts them meanwhile. Each drive lets striped puts
//! reserve at most all its extents but one at a time (a semaphore), so concurrent large puts
//! wait for each other instead of starving.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use bytes::Bytes;
use memkv_ioengine::{Batch, BufPool};

use super::format::{
    META_BLOCK, PART_REF_LEN, PartRef, RECORD_HEADER_LEN, RecordHeader, RecordKind, SegmentHeader,
    SegmentKind, align_down, align_up,
};
use super::lane::{self, Append, Loc};
use super::segbuf::SegBuf;
use super::{Inner, SyncPolicy};
use crate::{StoreError, Value};

/// Bytes of a value one part extent holds.
pub(crate) fn part_capacity(extent_size: u64) -> u64 {
    extent_size - META_BLOCK
}

/// The lengths of the parts of a value of `len` bytes under a key of `key_len` bytes: as many
/// full parts as fit, then, when the rest does not fit inline in the stripe record (or there
/// is no full part, so the value would not be striped), one shorter part. The bytes after the
/// parts are the tail.
pub(crate) fn part_lens(extent_size: u64, key_len: usize, len: u64) -> Vec<u64> {
    let cap = part_capacity(extent_size);
    let full = len / cap;
    let rest = len % cap;
    let mut lens = vec![cap; full as usize];
    if rest > 0 && (full == 0 || rest > lane::max_tail_len(extent_size, key_len, full)) {
        lens.push(rest);
    }
    lens
}

/// Idle part buffers kept at most, in bytes (rounded down to whole extents, at least one).
const PART_POOL_MAX_IDLE: u64 = 64 << 20;

/// The pool of part buffers: one extent each (a part's header block and its bytes), as many
/// idle as a full queue of part writes uses, within [`PART_POOL_MAX_IDLE`].
pub(crate) fn part_buf_pool(extent_size: u64, queue_depth: u32) -> BufPool {
    let idle = (PART_POOL_MAX_IDLE / extent_size).clamp(1, u64::from(queue_depth.max(1)));
    BufPool::new(extent_size as usize, idle as usize)
}

/// The largest value that can be striped under a key of `key_len` bytes: one full part per
/// extent of every online drive but one extent per drive (kept for its log), limited by the
/// smallest drive (parts go round-robin) and by the part list fitting in one stripe record,
/// plus the largest tail that stripe record can carry.
pub(crate) fn max_striped_len(inner: &Inner, key_len: usize) -> u64 {
    let online: Vec<u64> = inner
        .drives
        .iter()
        .filter(|d| d.online.load(Relaxed))
        .map(|d| d.sb.extent_count.saturating_sub(1))
        .collect();
    let Some(&min) = online.iter().min() else {
        return 0;
    };
    let parts = (online.len() as u64 * min).min(lane::max_parts(inner.extent_size, key_len));
    if parts == 0 {
        return 0;
    }
    parts * part_capacity(inner.extent_size) + lane::max_tail_len(inner.extent_size, key_len, parts)
}

/// Stores a value too large for one segment (the caller checked it is not too large for the
/// store).
pub(crate) async fn put(inner: &Arc<Inner>, key: &[u8], value: &Value) -> Result<(), StoreError> {
    let lens = part_lens(inner.extent_size, key.len(), value.data.len() as u64);
    let count = lens.len();
    let first = inner.lane_for(key).ok_or(StoreError::NoDrives)?;
    let k = inner.drives.len();
    let order: Vec<usize> = (0..k)
        .map(|i| (first + i) % k)
        .filter(|&d| inner.drives[d].online.load(Relaxed))
        .collect();
    if order.is_empty() {
        return Err(StoreError::NoDrives);
    }
    let assign: Vec<usize> = (0..count).map(|i| order[i % order.len()]).collect();
    let mut per_drive = vec![0u32; k];
    for &d in &assign {
        per_drive[d] += 1;
    }
    // Taken in drive order, so that concurrent striped puts cannot deadlock.
    let mut permits = Vec::new();
    for (d, &n) in per_drive.iter().enumerate() {
        if n > 0 {
            let permit = inner.drives[d]
                .stripe_slots
                .acquire_many(n)
                .await
                .map_err(|_| StoreError::Engine("the store is shutting down".into()))?;
            permits.push(permit);
        }
    }
    let key_arc: Arc<[u8]> = Arc::from(key);
    let mut parts: Vec<PartRef> = Vec::with_capacity(count);
    for (&d, &len) in assign.iter().zip(&lens) {
        let Some((extent, seg_seq)) = reserve(inner, d, &key_arc).await else {
            lane::unreserve_parts(inner, &parts);
            return Err(StoreError::Io {
                op: "find a free extent on",
                path: inner.drives[d].path().to_path_buf(),
                source: std::io::Error::other("the drive is offline or every extent is busy"),
            });
        };
        parts.push(PartRef {
            drive: d as u32,
            extent,
            seg_seq,
            len,
        });
    }
    // The parts on the key's own drive are made durable by the sync that commits the stripe
    // record there (it covers every write that completed before it): one sync round trip
    // per put instead of two. Parts on other drives are synced first.
    if let Err(e) = write_parts(inner, value, &parts, Some(first)).await {
        lane::unreserve_parts(inner, &parts);
        return Err(e);
    }
    let parts: Arc<[PartRef]> = parts.into();
    let waiter = match lane::append(inner, key, Append::Stripe(value, Arc::clone(&parts))) {
        Ok(w) => w,
        Err(e) => {
            lane::unreserve_parts(inner, &parts);
            return Err(e);
        }
    };
    lane::commit_parts(inner, &parts);
    drop(permits);
    lane::wait(waiter).await
}

/// Reserves an extent for a part on drive `d`, waiting while every extent is busy (being
/// flushed or trimmed) or reserved by other striped puts. `None` when the drive goes offline
/// or nothing frees up within about ten seconds.
async fn reserve(inner: &Inner, d: usize, key: &Arc<[u8]>) -> Option<(u32, u64)> {
    let drive = &inner.drives[d];
    for _ in 0..2000 {
        let notified = drive.space.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(got) = lane::reserve_part(inner, d, key) {
            return Some(got);
        }
        if !drive.online.load(Relaxed) {
            return None;
        }
        drive.notify.notify_one();
        // The timeout only bounds a missed wake-up; the notification is what ends the wait.
        let _ = tokio::time::timeout(Duration::from_millis(5), notified).await;
    }
    None
}

/// Writes every part (header and data, all in one batch per drive), then, when `sync: always`,
/// syncs the drives that hold them, except `committed_on`: the drive whose sync of the stripe
/// record will cover them. A drive that fails is taken offline.
pub(crate) async fn write_parts(
    inner: &Inner,
    value: &Value,
    parts: &[PartRef],
    committed_on: Option<usize>,
) -> Result<(), StoreError> {
    // One batch per drive, each on the drive's own engine.
    let mut batches: Vec<Option<Batch<'_>>> = inner.drives.iter().map(|_| None).collect();
    let mut futs = Vec::with_capacity(parts.len());
    let mut at = 0usize;
    for p in parts {
        let drive = &inner.drives[p.drive as usize];
        let batch = batches[p.drive as usize].get_or_insert_with(|| drive.engine.batch());
        let from = at;
        let data = &value.data[from..from + p.len as usize];
        at += p.len as usize;
        let header = SegmentHeader {
            seg_seq: p.seg_seq,
            drive_index: drive.sb.drive_index,
            extent: p.extent,
            set_uuid: drive.sb.set_uuid,
            kind: SegmentKind::Part {
                part_len: p.len,
                part_crc: crate::checksum::crc32c(data),
            },
        }
        .encode();
        // Staged like a log segment's records (`SegBuf`): the header block, then the part's
        // bytes, then zeros to the block size. A value received into a page-aligned buffer
        // (the server's) has its whole blocks written from there, without a copy; the rest is
        // copied into a buffer from the store's pool. A part is only named by a stripe record
        // once all its pieces are written.
        let mut staged = SegBuf::new(inner.part_bufs.clone());
        staged.extend(&header);
        let whole = if data.as_ptr().addr().is_multiple_of(drive.align as usize) {
            align_down(p.len, drive.align) as usize
        } else {
            0
        };
        if whole > 0 {
            staged.extend_shared(value.data.slice(from..from + whole));
        }
        staged.extend(&data[whole..]);
        staged.zero_to((META_BLOCK + align_up(p.len, drive.align)) as usize);
        let start = drive.sb.extent_offset(p.extent);
        for (offset, bytes) in staged.take() {
            let len = bytes.len();
            let fut = batch.write_shared_at(&drive.dev, bytes, start + offset as u64);
            futs.push((p.drive as usize, len, fut));
        }
    }
    for batch in batches.into_iter().flatten() {
        batch.submit();
    }
    let mut failed = None;
    for (d, total, fut) in futs {
        let res = match fut.await.1 {
            Ok(n) if n == total => Ok(()),
            Ok(n) => Err(std::io::Error::other(format!(
                "short write: {n} of {total} bytes"
            ))),
            Err(e) => Err(e),
        };
        if let Err(e) = res {
            inner.take_offline(d, "write", &e);
            failed.get_or_insert((d, e));
        }
    }
    if failed.is_none() && inner.sync == SyncPolicy::Always {
        let mut drives: Vec<usize> = parts
            .iter()
            .map(|p| p.drive as usize)
            .filter(|&d| Some(d) != committed_on)
            .collect();
        drives.sort_unstable();
        drives.dedup();
        // Submitted at once, so the drives sync in parallel.
        let syncs: Vec<_> = drives
            .iter()
            .map(|&d| {
                let drive = &inner.drives[d];
                (d, drive.engine.fdatasync(&drive.dev))
            })
            .collect();
        for (d, sync) in syncs {
            if let Err(e) = sync.await {
                inner.take_offline(d, "sync", &e);
                failed.get_or_insert((d, e));
            }
        }
    }
    match failed {
        None => Ok(()),
        Some((d, source)) => Err(StoreError::Io {
            op: "write a part of a large value to",
            path: inner.drives[d].path().to_path_buf(),
            source,
        }),
    }
}

/// Reads a striped value: every part, checked against its header, and the tail from the
/// stripe record, checked against the record's header; then the whole value against its
/// CRC32C. Damage drops the value (a counted miss); a failed drive is a miss.
pub(crate) async fn read(inner: &Inner, key: &[u8], loc: Loc) -> Result<Option<Value>, StoreError> {
    let parts = Arc::clone(loc.parts.as_ref().expect("a striped value"));
    if !inner.servable(&loc) {
        return Ok(None);
    }
    let tail_len = loc.tail_len();
    if tail_len > 0 {
        lane::wait_written(inner, &loc).await;
    }
    let mut batches: Vec<Option<Batch<'_>>> = inner.drives.iter().map(|_| None).collect();
    // The stripe record, for its tail: the blocks that hold it.
    let record = (tail_len > 0).then(|| {
        let d = loc.drive as usize;
        let drive = &inner.drives[d];
        let batch = batches[d].get_or_insert_with(|| drive.engine.batch());
        let start = align_down(u64::from(loc.offset), drive.align);
        let end = align_up(u64::from(loc.offset) + loc.record_len(), drive.align);
        let total = (end - start) as usize;
        let at = drive.sb.extent_offset(loc.extent) + start;
        let fut = batch.read_at(&drive.dev, inner.read_bufs.get(total), at);
        ((u64::from(loc.offset) - start) as usize, total, fut)
    });
    let futs: Vec<_> = parts
        .iter()
        .map(|p| {
            let drive = &inner.drives[p.drive as usize];
            let batch = batches[p.drive as usize].get_or_insert_with(|| drive.engine.batch());
            let total = (META_BLOCK + align_up(p.len, drive.align)) as usize;
            let buf = inner.read_bufs.get(total);
            (
                total,
                batch.read_at(&drive.dev, buf, drive.sb.extent_offset(p.extent)),
            )
        })
        .collect();
    for batch in batches.into_iter().flatten() {
        batch.submit();
    }
    let mut data = Vec::with_capacity(loc.len as usize);
    let mut intact = true;
    let mut failed = false;
    let mut tail = None;
    if let Some((rel, total, fut)) = record {
        let (buf, res) = fut.await;
        match res {
            Ok(n) if n == total => {
                tail = stripe_tail(buf.as_slice(), rel, key, &loc, tail_len).map(|r| (buf, r));
            }
            Ok(n) => {
                let err = std::io::Error::other(format!("short read: {n} of {total} bytes"));
                inner.take_offline(loc.drive as usize, "read", &err);
                failed = true;
            }
            Err(err) => {
                inner.take_offline(loc.drive as usize, "read", &err);
                failed = true;
            }
        }
        intact &= tail.is_some();
    }
    for (p, (total, fut)) in parts.iter().zip(futs) {
        let (buf, res) = fut.await;
        match res {
            Ok(n) if n == total => {}
            Ok(n) => {
                // Inside the formatted area: the device shrank or lost its media.
                let err = std::io::Error::other(format!("short read: {n} of {total} bytes"));
                inner.take_offline(p.drive as usize, "read", &err);
                failed = true;
                continue;
            }
            Err(err) => {
                inner.take_offline(p.drive as usize, "read", &err);
                failed = true;
                continue;
            }
        }
        let b = buf.as_slice();
        let header_ok = SegmentHeader::decode(b).is_ok_and(|h| {
            h.seg_seq == p.seg_seq
                && h.extent == p.extent
                && matches!(h.kind, SegmentKind::Part { part_len, .. } if part_len == p.len)
        });
        if !header_ok {
            intact = false;
            continue;
        }
        let m = META_BLOCK as usize;
        data.extend_from_slice(&b[m..m + p.len as usize]);
    }
    if failed {
        return Ok(None);
    }
    if let Some((buf, range)) = tail {
        data.extend_from_slice(&buf.as_slice()[range]);
    }
    if intact && data.len() as u64 == loc.len && crate::checksum::crc32c(&data) == loc.crc {
        return Ok(Some(Value {
            data: Bytes::from(data),
            crc: loc.crc,
            digest: None,
        }));
    }
    // The parts of a value stay reserved to it while the index points at it, so a mismatch
    // is damage unless the value was evicted or replaced while it was being read.
    if inner.drop_if_current(key, &loc) {
        inner.counters.corrupt_reads.fetch_add(1, Relaxed);
        tracing::warn!(
            parts = parts.len(),
            len = loc.len,
            "a striped value failed its checksum; it was dropped and reported as a miss"
        );
    }
    Ok(None)
}

/// Where the tail of the stripe record at `rel` in `b` (the blocks read for it) is, if the
/// record is the one `loc` names: its header, key, part list and length all agree.
fn stripe_tail(
    b: &[u8],
    rel: usize,
    key: &[u8],
    loc: &Loc,
    tail_len: u64,
) -> Option<std::ops::Range<usize>> {
    let parts = loc.parts.as_ref()?;
    let h = RecordHeader::decode(b.get(rel..)?).ok()?;
    let key_at = rel + RECORD_HEADER_LEN;
    let list_at = key_at + usize::from(h.key_len);
    let tail_at = list_at + parts.len() * PART_REF_LEN;
    let ok = h.kind == RecordKind::Stripe
        && h.seg_seq == loc.seg_seq
        && h.seq == loc.seq
        && h.val_len == loc.len
        && h.value_crc == loc.crc
        && h.parts as usize == parts.len()
        && b.get(key_at..list_at)? == key
        && super::format::decode_parts(b.get(list_at..tail_at)?, parts.len())?[..] == parts[..];
    if !ok {
        return None;
    }
    let range = tail_at..tail_at + tail_len as usize;
    b.get(range.clone()).map(|_| range)
}
