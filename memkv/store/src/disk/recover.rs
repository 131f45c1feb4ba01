//! Start-up: open the drives, check that they form the configured set, and rebuild the index
//! from segment summaries (sealed segments) and record scans (segments that were open).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};

use memkv_ioengine::{AlignedBuf, Device, IoEngine};
use parking_lot::Mutex;

use super::format::{
    self, FORMAT_VERSION, Footer, FormatError, META_BLOCK, RECORD_HEADER_LEN, RecordHeader,
    RecordKind, SegmentHeader, SegmentKind, SummaryEntry, Superblock,
};
use super::lane::{Lane, Loc, SegMeta};
use super::setup::{io_err, open_device, read_superblock};
use super::{DiskStoreConfig, Drive, INDEX_SHARDS, IndexShard, shard_of};
use crate::StoreError;

pub(crate) struct Recovered {
    pub(crate) drives: Vec<Drive>,
    pub(crate) index: Vec<IndexShard>,
    pub(crate) next_seq: u64,
    pub(crate) keys: u64,
    /// Records of segments left open whose values were not whole (see [`drop_torn`]):
    /// dropped, and counted with the damaged values that reads find.
    pub(crate) torn: u64,
}

/// What one extent held at start.
pub(crate) struct ExtentScan {
    pub(crate) extent: u32,
    pub(crate) seg_seq: u64,
    pub(crate) entries: Vec<SummaryEntry>,
    /// For a segment open at the last stop (no summary; sealed by recovery), the whole
    /// extent: its records' values are checked (see [`drop_torn`]) once every drive is scanned.
    pub(crate) open: Option<AlignedBuf>,
    /// A part of a striped value (no records), not a log segment: the part's CRC32C.
    pub(crate) part: Option<u32>,
}

/// Opens and checks every configured drive; returns them in set order with superblocks.
pub(crate) async fn open_set(
    engine: &IoEngine,
    cfg: &DiskStoreConfig,
) -> Result<Vec<(Arc<Device>, Superblock, Option<std::fs::File>)>, StoreError> {
    let mut drives = Vec::new();
    for path in &cfg.drives {
        let dev = open_device(path, None)?;
        let claim = Some(
            super::inspect::claim(path, dev.is_block_device()).map_err(|e| {
                StoreError::Mismatch {
                    path: path.clone(),
                    reason: format!(
                        "it is in use: mounted, or held by another program such as another memkv \
                     server or `memkv drive` ({e})"
                    ),
                }
            })?,
        );
        let sb = match read_superblock(engine, &dev).await? {
            Ok(sb) => sb,
            Err(FormatError::NotPresent { .. }) => {
                return Err(StoreError::Unformatted { path: path.clone() });
            }
            Err(source) => {
                return Err(StoreError::Format {
                    path: path.clone(),
                    source,
                });
            }
        };
        drives.push((dev, sb, claim));
    }
    let (first_dev, first) = (&drives[0].0, drives[0].1.clone());
    let mut seen = vec![false; cfg.drives.len()];
    for (dev, sb, _) in &drives {
        let path = dev.path().to_path_buf();
        let mismatch = |reason: String| StoreError::Mismatch {
            path: path.clone(),
            reason,
        };
        if sb.set_uuid != first.set_uuid {
            return Err(mismatch(format!(
                "it belongs to a different drive set than {}; list only drives that one \
                 `memkv setup` formatted together",
                first_dev.path().display()
            )));
        }
        if sb.drive_count as usize != cfg.drives.len() {
            return Err(mismatch(format!(
                "its set has {} drive(s) but storage.drives lists {}; list every drive of the set",
                sb.drive_count,
                cfg.drives.len()
            )));
        }
        let i = sb.drive_index as usize;
        if i >= seen.len() || seen[i] {
            return Err(mismatch(
                "it is listed twice, or its superblock is inconsistent; run `memkv drive check`"
                    .into(),
            ));
        }
        seen[i] = true;
        if sb.extent_size != cfg.extent_size {
            return Err(mismatch(format!(
                "it was formatted with storage.block_size {} bytes but the config says {}; \
                 set storage.block_size to {} or reformat with `memkv setup --force`",
                sb.extent_size, cfg.extent_size, sb.extent_size
            )));
        }
        if u64::from(dev.logical_block_size()) > META_BLOCK
            || sb.data_start % META_BLOCK != 0
            || sb.data_start + sb.extent_count * sb.extent_size > dev.size()
        {
            return Err(mismatch(format!(
                "its geometry does not fit the device ({} bytes now, {} at format time); \
                 run `memkv drive check`",
                dev.size(),
                sb.drive_size
            )));
        }
    }
    drives.sort_by_key(|(_, sb, _)| sb.drive_index);
    Ok(drives)
}

/// Reads the header and footer of every extent and the summaries (or, for open segments, the
/// records) of those in use.
pub(crate) async fn scan_drive(
    engine: &IoEngine,
    dev: &Arc<Device>,
    sb: &Superblock,
) -> Result<Vec<ExtentScan>, StoreError> {
    let ext = sb.extent_size;
    let mut out = Vec::new();
    let extents: Vec<u32> = (0..sb.extent_count as u32).collect();
    let read_err = |e: std::io::Error| io_err("read the segments of", dev.path(), e);
    for chunk in extents.chunks(128) {
        let mut batch = engine.batch();
        let futs: Vec<_> = chunk
            .iter()
            .map(|&e| {
                let base = sb.extent_offset(e);
                let h = batch.read_at(dev, AlignedBuf::with_len(META_BLOCK as usize), base);
                let f = batch.read_at(
                    dev,
                    AlignedBuf::with_len(META_BLOCK as usize),
                    base + ext - META_BLOCK,
                );
                (e, h, f)
            })
            .collect();
        batch.submit();
        for (e, h, f) in futs {
            let (hbuf, hres) = h.await;
            let (fbuf, fres) = f.await;
            hres.map_err(read_err)?;
            fres.map_err(read_err)?;
            let header = match SegmentHeader::decode(hbuf.as_slice()) {
                Ok(h) if h.set_uuid == sb.set_uuid && h.extent == e => h,
                Ok(_) | Err(FormatError::NotPresent { .. } | FormatError::Damaged { .. }) => {
                    continue;
                }
                Err(source) => {
                    return Err(StoreError::Format {
                        path: dev.path().to_path_buf(),
                        source,
                    });
                }
            };
            if let SegmentKind::Part { part_crc, .. } = header.kind {
                out.push(ExtentScan {
                    extent: e,
                    seg_seq: header.seg_seq,
                    entries: Vec::new(),
                    open: None,
                    part: Some(part_crc),
                });
                continue;
            }
            let footer = match Footer::decode(fbuf.as_slice()) {
                Ok(f) if f.seg_seq == header.seg_seq => Some(f),
                Err(source @ FormatError::NewerVersion { .. }) => {
                    return Err(StoreError::Format {
                        path: dev.path().to_path_buf(),
                        source,
                    });
                }
                _ => None,
            };
            let base = sb.extent_offset(e);
            let summary = match footer {
                Some(f) if f.summary_off + f.summary_len <= ext - META_BLOCK => {
                    let len = ext - META_BLOCK - f.summary_off;
                    let (buf, res) = engine
                        .read_at(
                            dev,
                            AlignedBuf::with_len(len as usize),
                            base + f.summary_off,
                        )
                        .await;
                    res.map_err(read_err)?;
                    format::decode_summary(&f, &buf.as_slice()[..f.summary_len as usize]).ok()
                }
                _ => None,
            };
            let (entries, open) = match summary {
                Some(entries) => (entries, None),
                None => {
                    let (buf, res) = engine
                        .read_at(dev, AlignedBuf::with_len(ext as usize), base)
                        .await;
                    res.map_err(read_err)?;
                    let entries =
                        scan_records(buf.as_slice(), header.seg_seq).map_err(|source| {
                            StoreError::Format {
                                path: dev.path().to_path_buf(),
                                source,
                            }
                        })?;
                    (entries, Some(buf))
                }
            };
            out.push(ExtentScan {
                extent: e,
                seg_seq: header.seg_seq,
                entries,
                open,
                part: None,
            });
        }
    }
    Ok(out)
}

/// Walks the records of an open segment (`seg` is the whole extent) up to the first one
/// whose header is missing, torn or from an older incarnation. Zero bytes are padding up to the next
/// 512-byte boundary; pad records are skipped (they are not in the result).
pub(crate) fn scan_records(seg: &[u8], seg_seq: u64) -> Result<Vec<SummaryEntry>, FormatError> {
    let end = seg.len() - META_BLOCK as usize;
    let mut pos = META_BLOCK as usize;
    let mut out = Vec::new();
    while pos + RECORD_HEADER_LEN <= end {
        if seg[pos..pos + 4] == [0; 4] {
            pos = format::align_up(pos as u64 + 1, 512) as usize;
            continue;
        }
        let h = match RecordHeader::decode(&seg[pos..end]) {
            Ok(h) => h,
            Err(e @ FormatError::NewerVersion { .. }) => return Err(e),
            Err(_) => break,
        };
        let key_at = pos + RECORD_HEADER_LEN;
        let data_at = key_at + usize::from(h.key_len);
        if h.seg_seq != seg_seq || data_at as u64 + h.payload_len() > end as u64 {
            break;
        }
        if h.kind == RecordKind::Pad {
            // Filler ahead of a block-aligned value: the next record follows it directly.
            pos = data_at + h.payload_len() as usize;
            continue;
        }
        let (parts, tail) = if h.kind == RecordKind::Stripe {
            // The part list is what the record commits: a torn one ends the scan.
            let list = &seg[data_at..data_at + h.payload_len() as usize];
            let parts = match format::decode_parts(list, h.parts as usize) {
                Some(parts) if crate::checksum::crc32c(list) == h.parts_crc => parts,
                _ => break,
            };
            // The tail (the bytes after the parts) follows the list in the record.
            let Some(tail) = format::stripe_tail_len(h.val_len, &parts) else {
                break;
            };
            (parts, tail)
        } else {
            (Vec::new(), 0)
        };
        let len = RecordHeader::record_len(usize::from(h.key_len), h.payload_len() + tail);
        if pos as u64 + len > end as u64 {
            break;
        }
        // The value's checksum is not checked here: a torn or damaged value is found by the
        // read that verifies it (a counted miss), and the records after it still count.
        out.push(SummaryEntry {
            kind: h.kind,
            key: seg[key_at..data_at].to_vec(),
            offset: pos as u32,
            val_len: h.val_len,
            value_crc: h.value_crc,
            seq: h.seq,
            parts,
        });
        pos += len as usize;
    }
    Ok(out)
}

/// Drops the records of a segment that was open (`seg` is the whole extent) whose values are
/// not whole, and returns how many it dropped. Such a segment was being written when the server
/// stopped, and the writes of its last round may have been cut short (a process killed in the
/// middle of a write, a power loss before its sync): a record whose header made it and whose
/// value did not. None of those records was acknowledged (with `sync: always`), but taken as
/// they are, the newest record of a key would hide the older, acknowledged one, and then fail
/// its checksum when read. An inline value is checked against its CRC32C; a stripe record's
/// tail, with the checksums of its parts (from their headers, `parts`: every drive's), against
/// the value's. A stripe record whose parts are not all there is kept: it may be an older
/// record whose parts were reused, and the check for incomplete values drops it if it wins.
fn drop_torn(
    seg: &[u8],
    entries: &mut Vec<SummaryEntry>,
    parts: &HashMap<(u32, u32), (u64, u32)>,
) -> u64 {
    let before = entries.len();
    entries.retain(|e| {
        // scan_records checked that each record's payload (and a stripe's tail) is inside.
        let data_at = e.offset as usize + RECORD_HEADER_LEN + e.key.len();
        match e.kind {
            RecordKind::Put => {
                crate::checksum::crc32c(&seg[data_at..data_at + e.val_len as usize]) == e.value_crc
            }
            RecordKind::Stripe => {
                let Some(tail_len) = format::stripe_tail_len(e.val_len, &e.parts) else {
                    return true;
                };
                let mut crc = 0;
                for p in &e.parts {
                    match parts.get(&(p.drive, p.extent)) {
                        Some(&(seg_seq, part_crc)) if seg_seq == p.seg_seq => {
                            crc = crate::checksum::crc32c_combine(crc, part_crc, p.len as usize);
                        }
                        _ => return true,
                    }
                }
                let at = data_at + e.parts.len() * format::PART_REF_LEN;
                let tail = &seg[at..at + tail_len as usize];
                crate::checksum::crc32c_combine(crc, crate::checksum::crc32c(tail), tail.len())
                    == e.value_crc
            }
            RecordKind::Delete | RecordKind::Pad => true,
        }
    });
    (before - entries.len()) as u64
}

/// Opens the set and rebuilds the index.
pub(crate) async fn recover(
    engine: &IoEngine,
    cfg: &DiskStoreConfig,
) -> Result<Recovered, StoreError> {
    let started = std::time::Instant::now();
    let set = open_set(engine, cfg).await?;
    let mut max_seq = 0u64;
    // key -> (seq, location if a put)
    let mut winners: HashMap<Arc<[u8]>, (u64, Option<Loc>)> = HashMap::new();
    let mut drives = Vec::new();
    let mut segments = 0usize;
    // (drive, extent) -> (seg_seq, CRC32C) of every stripe part found.
    let mut part_extents: HashMap<(u32, u32), (u64, u32)> = HashMap::new();
    // Every drive is scanned first: a stripe record's parts may be on any of them.
    let mut scanned = Vec::with_capacity(set.len());
    for (d, (dev, mut sb, claim)) in set.into_iter().enumerate() {
        if sb.version < FORMAT_VERSION {
            // From now on this build writes newer structures to the drive: say so in the
            // superblock, so an older build refuses the drive instead of misreading it.
            let (_, res) = engine
                .write_at(&dev, AlignedBuf::from_slice(&sb.encode()), 0)
                .await;
            res.map_err(|e| io_err("upgrade the superblock of", dev.path(), e))?;
            tracing::info!(
                drive = %dev.path().display(),
                from = sb.version,
                to = FORMAT_VERSION,
                "upgraded the drive's format version"
            );
            sb.version = FORMAT_VERSION;
        }
        let scans = scan_drive(engine, &dev, &sb).await?;
        for scan in &scans {
            if let Some(crc) = scan.part {
                part_extents.insert((d as u32, scan.extent), (scan.seg_seq, crc));
            }
        }
        scanned.push((dev, sb, claim, scans));
    }
    let mut torn = 0u64;
    for (d, (dev, sb, claim, scans)) in scanned.into_iter().enumerate() {
        let mut lane = Lane {
            segs: (0..sb.extent_count).map(|_| SegMeta::default()).collect(),
            ..Lane::default()
        };
        let mut order: Vec<(u64, u32)> = Vec::new();
        let mut used = vec![false; sb.extent_count as usize];
        for mut scan in scans {
            segments += 1;
            used[scan.extent as usize] = true;
            max_seq = max_seq.max(scan.seg_seq);
            order.push((scan.seg_seq, scan.extent));
            let meta = &mut lane.segs[scan.extent as usize];
            meta.seg_seq = scan.seg_seq;
            if scan.part.is_some() {
                continue;
            }
            if let Some(seg) = scan.open.take() {
                torn += drop_torn(seg.as_slice(), &mut scan.entries, &part_extents);
                // Seal it now, so the next start reads its summary.
                let (off, tail) =
                    format::encode_summary(scan.seg_seq, sb.extent_size, &scan.entries);
                let at = sb.extent_offset(scan.extent) + off;
                let (_, res) = engine
                    .write_at(&dev, AlignedBuf::from_slice(&tail), at)
                    .await;
                res.map_err(|e| io_err("seal a segment of", dev.path(), e))?;
            }
            for e in scan.entries {
                max_seq = max_seq.max(e.seq);
                meta.tombstones |= e.kind == RecordKind::Delete;
                let loc = (e.kind != RecordKind::Delete).then(|| Loc {
                    drive: d as u16,
                    key_len: e.key.len() as u16,
                    extent: scan.extent,
                    offset: e.offset,
                    crc: e.value_crc,
                    len: e.val_len,
                    seq: e.seq,
                    seg_seq: scan.seg_seq,
                    parts: (e.kind == RecordKind::Stripe).then(|| e.parts.clone().into()),
                });
                match winners.get_mut(e.key.as_slice()) {
                    Some(w) if w.0 >= e.seq => {}
                    Some(w) => *w = (e.seq, loc),
                    None => {
                        winners.insert(Arc::from(e.key), (e.seq, loc));
                    }
                }
            }
        }
        engine
            .fdatasync(&dev)
            .await
            .map_err(|e| io_err("sync", dev.path(), e))?;
        order.sort_unstable();
        lane.fifo = order.into_iter().map(|(_, e)| e).collect();
        // Not discarded: a drive fresh from `memkv setup` (or `memkv drive wipe`, which
        // discards it whole) gains nothing, and on a thin or file-backed device a discard of
        // space about to be written makes that write allocate it again.
        lane.free = (0..sb.extent_count as u32)
            .filter(|&e| !used[e as usize])
            .collect::<VecDeque<_>>();
        let own = IoEngine::new(engine.kind(), engine.queue_depth())
            .map_err(|e| StoreError::Engine(e.to_string()))?;
        drives.push(Drive {
            engine: own,
            align: META_BLOCK,
            online: AtomicBool::new(true),
            notify: tokio::sync::Notify::new(),
            space: tokio::sync::Notify::new(),
            stripe_slots: tokio::sync::Semaphore::new(
                (sb.extent_count.saturating_sub(1) as usize)
                    .min(tokio::sync::Semaphore::MAX_PERMITS),
            ),
            live: (0..sb.extent_count).map(|_| AtomicU64::new(0)).collect(),
            live_total: AtomicU64::new(0),
            dead_hint: AtomicBool::new(true),
            claim: Mutex::new(claim),
            lane: Mutex::new(lane),
            dev,
            sb,
        });
    }
    let mut index: Vec<IndexShard> = (0..INDEX_SHARDS).map(|_| IndexShard::default()).collect();
    let mut keys = 0u64;
    let mut incomplete = 0u64;
    for (key, (_, loc)) in winners {
        let Some(loc) = loc else { continue };
        // A striped value counts only if every part it names is there, in the same
        // incarnation (with `sync: always` the parts were durable before the record).
        let complete = loc.parts.iter().flat_map(|p| p.iter()).all(|p| {
            part_extents.get(&(p.drive, p.extent)).map(|&(seq, _)| seq) == Some(p.seg_seq)
                && (p.drive as usize) < drives.len()
        }) && loc
            .parts
            .as_ref()
            .is_none_or(|p| format::stripe_tail_len(loc.len, p).is_some());
        if !complete {
            incomplete += 1;
            continue;
        }
        let record = loc.record_len();
        let charges = std::iter::once((loc.drive as usize, loc.extent, record)).chain(
            loc.parts
                .iter()
                .flat_map(|p| p.iter())
                .map(|p| (p.drive as usize, p.extent, META_BLOCK + p.len)),
        );
        for (d, extent, bytes) in charges {
            let drive = &drives[d];
            drive.live[extent as usize].fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
            drive
                .live_total
                .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
            drive.lane.lock().segs[extent as usize]
                .keys
                .push(Arc::clone(&key));
        }
        index[shard_of(&key)].insert(key, loc);
        keys += 1;
    }
    if torn > 0 {
        tracing::warn!(
            records = torn,
            "records whose values were not whole were dropped from the segments left open (puts \
             in flight when the server stopped, or damaged); the keys keep their previous values"
        );
    }
    if incomplete > 0 {
        tracing::warn!(
            values = incomplete,
            "striped values whose parts are missing were dropped (written with sync: none \
             just before a crash, or damaged)"
        );
    }
    tracing::info!(
        keys,
        segments,
        drives = drives.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "index rebuilt from segment summaries"
    );
    let base = drives.first().map_or(1, |d| seq_base(&d.sb.set_uuid));
    Ok(Recovered {
        drives,
        index,
        next_seq: (max_seq + 1).max(base),
        keys,
        torn,
    })
}

/// The lowest sequence number a set uses: taken from its random set UUID. Records are tied to
/// their segment by the segment sequence alone, and a reformatted drive still holds the
/// records of the set it held before past what the new set has written; had every set
/// started at 1, a new segment could share its sequence with such a stale segment in the same
/// extent, and its scan would take the stale records for its own.
fn seq_base(set_uuid: &[u8; 16]) -> u64 {
    let r = u64::from_le_bytes(set_uuid[..8].try_into().expect("8 bytes"));
    // Below 2^60: room for 2^63 more sequence numbers.
    (r >> 4).max(1)
}
