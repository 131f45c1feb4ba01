//! Offline tools for `memkv setup` and `memkv drive`: probing a drive before formatting it
//! (memkv superblock, foreign filesystem or partition signatures, mounts, exclusive use) and
//! checking a formatted drive's segments, summaries and values.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use memkv_ioengine::{AlignedBuf, Device, EngineKind, IoEngine};

use super::format::{
    self, Footer, FormatError, META_BLOCK, RECORD_HEADER_LEN, RecordHeader, RecordKind,
    SegmentHeader, SegmentKind, Superblock,
};
use super::recover::scan_records;
use super::setup::{FormatOptions, format_drives, io_err, open_device, read_superblock};
use crate::StoreError;

/// An I/O engine for a tool run: `MEMKV_IO_ENGINE` or the best available, queue depth 32.
fn tool_engine() -> Result<IoEngine, StoreError> {
    let kind = EngineKind::from_env().map_err(|e| StoreError::Engine(e.to_string()))?;
    IoEngine::new(kind.kind, 32).map_err(|e| StoreError::Engine(e.to_string()))
}

/// What a drive holds before `memkv setup` touches it.
#[derive(Debug, Clone)]
pub struct DriveProbe {
    /// The drive.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// A block device (else a regular file).
    pub block_device: bool,
    /// The memkv superblock, when there is one (or why it cannot be read).
    pub superblock: Option<Result<Superblock, FormatError>>,
    /// A filesystem or partition-table signature found at the start of the drive.
    pub signature: Option<&'static str>,
    /// Why the drive is in use (mounted, held exclusively), when it is.
    pub in_use: Option<String>,
}

/// Recognises filesystem and partition-table signatures in the first 72 KiB of a drive.
pub fn detect_signature(head: &[u8]) -> Option<&'static str> {
    let at = |off: usize, magic: &[u8]| head.get(off..off + magic.len()) == Some(magic);
    if at(0, b"XFSB") {
        Some("an XFS filesystem")
    } else if at(1080, &[0x53, 0xEF]) {
        Some("an ext2/ext3/ext4 filesystem")
    } else if at(65600, b"_BHRfS_M") {
        Some("a Btrfs filesystem")
    } else if at(4086, b"SWAPSPACE2") || at(4086, b"SWAP-SPACE") {
        Some("a swap area")
    } else if at(512, b"EFI PART") {
        Some("a GPT partition table")
    } else if at(510, &[0x55, 0xAA]) {
        Some("an MBR partition table or boot sector")
    } else {
        None
    }
}

/// Opens a block device exclusively (`O_EXCL`): fails with `EBUSY` while it is mounted or
/// another program holds it exclusively. The claim lasts as long as the returned file.
pub fn claim_exclusive(path: &Path) -> std::io::Result<std::fs::File> {
    // O_EXCL without O_CREAT on a block device means "exclusive open" (Linux).
    const O_EXCL: i32 = 0o200;
    std::os::unix::fs::OpenOptionsExt::custom_flags(std::fs::OpenOptions::new().read(true), O_EXCL)
        .open(path)
}

/// Claims a drive for as long as the returned file is open: an exclusive open for a block
/// device, an exclusive `flock` for a data file. Fails while a server or a drive tool holds
/// it (`WouldBlock` for a locked file, `EBUSY` for a busy block device).
pub fn claim(path: &Path, block_device: bool) -> std::io::Result<std::fs::File> {
    if block_device {
        return claim_exclusive(path);
    }
    let file = std::fs::File::open(path)?;
    match memkv_ioengine::try_lock_exclusive(&file) {
        Ok(()) => Ok(file),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Err(std::io::Error::new(
            std::io::ErrorKind::WouldBlock,
            "another process holds its lock",
        )),
        Err(e) => Err(e),
    }
}

/// Why `path` is in use: mounted (itself or a partition of it), opened exclusively, or (a
/// data file) locked by a running server or drive tool.
pub fn in_use(path: &Path) -> Option<String> {
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let name = canonical.to_string_lossy().into_owned();
    if let Ok(mounts) = std::fs::read_to_string("/proc/mounts") {
        for line in mounts.lines() {
            let mut fields = line.split_whitespace();
            let (Some(source), Some(target)) = (fields.next(), fields.next()) else {
                continue;
            };
            let source_canonical = std::fs::canonicalize(source)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| source.to_owned());
            let partition_of = source_canonical.strip_prefix(&name).is_some_and(|rest| {
                !rest.is_empty()
                    && rest
                        .trim_start_matches('p')
                        .chars()
                        .all(|c| c.is_ascii_digit())
            });
            if source_canonical == name || partition_of {
                return Some(format!("{source_canonical} is mounted at {target}"));
            }
        }
    }
    let meta = std::fs::metadata(&canonical).ok()?;
    if std::os::unix::fs::FileTypeExt::is_block_device(&meta.file_type()) {
        // O_EXCL on a block device fails with EBUSY while it is mounted or held exclusively
        // (by a filesystem, device mapper, md, or another O_EXCL opener).
        if let Err(e) = claim_exclusive(&canonical)
            && e.raw_os_error() == Some(16)
        {
            return Some("the kernel reports it busy (EBUSY on an exclusive open)".into());
        }
    } else if meta.is_file()
        && let Err(e) = claim(&canonical, false)
        && e.kind() == std::io::ErrorKind::WouldBlock
    {
        return Some("a running memkv server or drive tool holds its lock".into());
    }
    None
}

/// Offline tools refuse a drive that is in use (block devices held by a running server are
/// claimed exclusively, so this catches them).
fn refuse_in_use(path: &Path) -> Result<(), StoreError> {
    match in_use(path) {
        Some(why) => Err(StoreError::Mismatch {
            path: path.to_path_buf(),
            reason: format!(
                "it is in use ({why}); stop the memkv server (or whatever holds it) first"
            ),
        }),
        None => Ok(()),
    }
}

/// Probes each drive without changing anything.
pub async fn probe_drives(paths: &[PathBuf]) -> Result<Vec<DriveProbe>, StoreError> {
    let engine = tool_engine()?;
    let mut out = Vec::new();
    for path in paths {
        if !path.exists() {
            return Err(io_err(
                "open",
                path,
                "no such file or device; name an existing drive or data file",
            ));
        }
        let dev = open_device(path, None)?;
        let head_len = 72 * 1024usize;
        let (head, res) = engine
            .read_at(&dev, AlignedBuf::with_len(head_len), 0)
            .await;
        let n = res.map_err(|e| io_err("read the start of", path, e))?;
        let head = &head.as_slice()[..n];
        let superblock = match Superblock::decode(head) {
            Err(FormatError::NotPresent { .. }) => None,
            other => Some(other),
        };
        out.push(DriveProbe {
            path: path.clone(),
            size: dev.size(),
            block_device: dev.is_block_device(),
            signature: if superblock.is_some() {
                None
            } else {
                detect_signature(head)
            },
            superblock,
            in_use: in_use(path),
        });
    }
    Ok(out)
}

/// Formats `paths` as one new set with a fresh I/O engine. Returns the set UUID.
pub async fn format_set(paths: &[PathBuf], opts: &FormatOptions) -> Result<[u8; 16], StoreError> {
    let engine = tool_engine()?;
    format_drives(&engine, paths, opts).await
}

/// What `memkv drive check` found on one drive.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// The superblock.
    pub superblock: Option<Superblock>,
    /// Segments with a valid header (log segments and stripe parts).
    pub segments: u64,
    /// Of those, parts of striped values.
    pub parts: u64,
    /// Of those, sealed with a valid summary.
    pub sealed: u64,
    /// Extents not in use.
    pub free: u64,
    /// Records found (summaries and scans).
    pub records: u64,
    /// Bytes of value data in those records.
    pub value_bytes: u64,
    /// Values whose checksum failed.
    pub corrupt_values: u64,
    /// One line per problem found.
    pub problems: Vec<String>,
    /// One line per repair made (with `repair`).
    pub repairs: Vec<String>,
}

/// Reads a drive's superblock.
pub async fn drive_superblock(path: &Path) -> Result<Superblock, StoreError> {
    refuse_in_use(path)?;
    let engine = tool_engine()?;
    let dev = open_device(path, None)?;
    match read_superblock(&engine, &dev).await? {
        Ok(sb) => Ok(sb),
        Err(FormatError::NotPresent { .. }) => Err(StoreError::Unformatted {
            path: path.to_path_buf(),
        }),
        Err(source) => Err(StoreError::Format {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Checks every segment of a drive: headers, summaries against the records they describe,
/// and every value's checksum. With `repair`, rewrites damaged summaries from the records
/// and frees extents whose segment header is damaged; nothing else is changed.
pub async fn check_drive(path: &Path, repair: bool) -> Result<CheckReport, StoreError> {
    refuse_in_use(path)?;
    let engine = tool_engine()?;
    let dev = open_device(path, None)?;
    let sb = match read_superblock(&engine, &dev).await? {
        Ok(sb) => sb,
        Err(FormatError::NotPresent { .. }) => {
            return Err(StoreError::Unformatted {
                path: path.to_path_buf(),
            });
        }
        Err(source) => {
            return Err(StoreError::Format {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let mut report = CheckReport {
        superblock: Some(sb.clone()),
        ..CheckReport::default()
    };
    for e in 0..sb.extent_count as u32 {
        check_extent(&engine, &dev, &sb, e, repair, &mut report).await?;
    }
    if repair && !report.repairs.is_empty() {
        engine
            .fdatasync(&dev)
            .await
            .map_err(|e| io_err("sync", path, e))?;
    }
    Ok(report)
}

async fn check_extent(
    engine: &IoEngine,
    dev: &Arc<Device>,
    sb: &Superblock,
    e: u32,
    repair: bool,
    report: &mut CheckReport,
) -> Result<(), StoreError> {
    let ext = sb.extent_size;
    let base = sb.extent_offset(e);
    let (buf, res) = engine
        .read_at(dev, AlignedBuf::with_len(ext as usize), base)
        .await;
    res.map_err(|err| io_err("read", dev.path(), err))?;
    let seg = buf.as_slice();
    let header = match SegmentHeader::decode(seg) {
        Ok(h) if h.set_uuid == sb.set_uuid && h.extent == e => h,
        Err(FormatError::NotPresent { .. }) => {
            report.free += 1;
            return Ok(());
        }
        Ok(_) => {
            report.free += 1;
            return Ok(());
        }
        Err(err) => {
            report
                .problems
                .push(format!("extent {e}: segment header: {err}"));
            if repair {
                let zero = AlignedBuf::with_len(META_BLOCK as usize);
                let (_, r) = engine.write_at(dev, zero, base).await;
                r.map_err(|err| io_err("repair", dev.path(), err))?;
                report
                    .repairs
                    .push(format!("extent {e}: freed (its records are lost)"));
            }
            return Ok(());
        }
    };
    report.segments += 1;
    if let SegmentKind::Part { part_len, part_crc } = header.kind {
        // One part of a striped value; the read checks the whole value's CRC32C too.
        report.parts += 1;
        let m = META_BLOCK as usize;
        let intact = usize::try_from(part_len)
            .ok()
            .and_then(|len| seg.get(m..m.checked_add(len)?))
            .is_some_and(|d| crate::checksum::crc32c(d) == part_crc);
        if !intact {
            report.corrupt_values += 1;
            report.problems.push(format!(
                "extent {e}: a part of a striped value fails its checksum (the server reports \
                 the value as a miss)"
            ));
        }
        return Ok(());
    }
    let scanned = scan_records(seg, header.seg_seq).map_err(|source| StoreError::Format {
        path: dev.path().to_path_buf(),
        source,
    })?;
    let footer_at = (ext - META_BLOCK) as usize;
    let summary = match Footer::decode(&seg[footer_at..]) {
        Ok(f) if f.seg_seq == header.seg_seq => {
            let start = f.summary_off as usize;
            let end = start + f.summary_len as usize;
            match seg
                .get(start..end)
                .map(|body| format::decode_summary(&f, body))
            {
                Some(Ok(entries)) => Some(Ok(entries)),
                Some(Err(err)) => Some(Err(err.to_string())),
                None => Some(Err("summary out of bounds".into())),
            }
        }
        Ok(_) | Err(FormatError::NotPresent { .. }) => None,
        Err(err) => Some(Err(err.to_string())),
    };
    let entries = match summary {
        Some(Ok(entries)) => {
            report.sealed += 1;
            if entries.len() != scanned.len() {
                report.problems.push(format!(
                    "extent {e}: summary lists {} records, the segment holds {}",
                    entries.len(),
                    scanned.len()
                ));
            }
            entries
        }
        Some(Err(err)) => {
            report
                .problems
                .push(format!("extent {e}: segment summary: {err}"));
            if repair {
                let (off, tail) = format::encode_summary(header.seg_seq, ext, &scanned);
                let (_, r) = engine
                    .write_at(dev, AlignedBuf::from_slice(&tail), base + off)
                    .await;
                r.map_err(|err| io_err("repair", dev.path(), err))?;
                report.repairs.push(format!(
                    "extent {e}: summary rebuilt from {} records",
                    scanned.len()
                ));
            }
            scanned
        }
        // Open at the last stop: the server seals it on its next start.
        None => scanned,
    };
    for entry in &entries {
        report.records += 1;
        if entry.kind == RecordKind::Delete {
            continue;
        }
        report.value_bytes += entry.val_len;
        if entry.kind == RecordKind::Stripe {
            // Its data is in part extents, checked on their own, and its tail inline here,
            // covered by the whole value's CRC32C that reads check.
            continue;
        }
        let at = entry.offset as usize;
        let intact = RecordHeader::decode(&seg[at..]).is_ok_and(|h| {
            let data_at = at + RECORD_HEADER_LEN + usize::from(h.key_len);
            h.seq == entry.seq
                && seg
                    .get(data_at..data_at + h.val_len as usize)
                    .is_some_and(|d| crate::checksum::crc32c(d) == h.value_crc)
        });
        if !intact {
            report.corrupt_values += 1;
            report.problems.push(format!(
                "extent {e}, offset {}: the value of key {} fails its checksum (the server \
                 reports it as a miss)",
                entry.offset,
                String::from_utf8_lossy(&entry.key)
            ));
        }
    }
    Ok(())
}

/// What `memkv drive wipe` did to one drive.
#[derive(Debug, Clone)]
pub struct WipeReport {
    /// The drive.
    pub path: PathBuf,
    /// Whether the whole drive was also discarded (TRIM, or holes punched in a file).
    pub discarded: bool,
}

/// Checks that every path is a memkv drive that nothing holds, before anything is changed.
/// Returns the claims, which keep servers and other tools off the drives until dropped.
fn claim_for_wipe(paths: &[PathBuf]) -> Result<Vec<std::fs::File>, StoreError> {
    let mut claims = Vec::new();
    for path in paths {
        refuse_in_use(path)?;
        let block = std::fs::metadata(path)
            .map(|m| std::os::unix::fs::FileTypeExt::is_block_device(&m.file_type()))
            .map_err(|e| io_err("open", path, e))?;
        claims.push(claim(path, block).map_err(|e| StoreError::Mismatch {
            path: path.clone(),
            reason: format!(
                "it is in use ({e}); stop the memkv server (or whatever holds it) first"
            ),
        })?);
    }
    Ok(claims)
}

/// Removes the memkv superblock from each drive and discards the rest, so the drives can be
/// reused. Refuses, before changing anything, drives that are in use or that carry no memkv
/// superblock (never wipes something memkv did not format). Only the named paths are opened.
pub async fn wipe_drives(paths: &[PathBuf]) -> Result<Vec<WipeReport>, StoreError> {
    let _claims = claim_for_wipe(paths)?;
    let engine = tool_engine()?;
    let mut devs = Vec::new();
    for path in paths {
        let dev = open_device(path, None)?;
        match read_superblock(&engine, &dev).await? {
            Ok(_) | Err(FormatError::NewerVersion { .. }) => {}
            Err(FormatError::NotPresent { .. }) => {
                return Err(StoreError::Mismatch {
                    path: path.clone(),
                    reason: "it holds no memkv superblock; `memkv drive wipe` only wipes drives \
                             that memkv formatted"
                        .into(),
                });
            }
            Err(FormatError::Damaged { .. }) => {
                return Err(StoreError::Mismatch {
                    path: path.clone(),
                    reason: "its memkv superblock is damaged, so it cannot be confirmed to be a \
                             memkv drive; check it with `memkv drive info`"
                        .into(),
                });
            }
        }
        devs.push(dev);
    }
    let mut out = Vec::new();
    for dev in devs {
        let path = dev.path().to_path_buf();
        let (_, res) = engine
            .write_at(&dev, AlignedBuf::with_len(META_BLOCK as usize), 0)
            .await;
        res.map_err(|e| io_err("erase the superblock of", &path, e))?;
        engine
            .fdatasync(&dev)
            .await
            .map_err(|e| io_err("sync", &path, e))?;
        let lbs = u64::from(dev.logical_block_size());
        let len = format::align_down(dev.size(), lbs.max(512));
        let discarded = if len > 0 {
            engine
                .discard(&dev, 0, len)
                .await
                .map_err(|e| io_err("discard", &path, e))?
        } else {
            false
        };
        engine
            .fdatasync(&dev)
            .await
            .map_err(|e| io_err("sync", &path, e))?;
        tracing::info!(drive = %path.display(), discarded, "wiped");
        out.push(WipeReport { path, discarded });
    }
    Ok(out)
}
