//! Formatting drives as a new set, and reading a drive's superblock.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use memkv_ioengine::{AlignedBuf, Device, DeviceOptions, IoEngine};

use super::format::{FORMAT_VERSION, FormatError, META_BLOCK, Superblock};
use crate::StoreError;

/// How to format a set of drives.
#[derive(Debug, Clone)]
pub struct FormatOptions {
    /// Extent size (`storage.block_size`), a power of two of at least 64 KiB.
    pub extent_size: u64,
    /// `--shard-size` in KiB, recorded in the superblock (0: not given).
    pub shard_size_kib: u32,
    /// For files: create missing ones with this size.
    pub create_len: Option<u64>,
}

/// The smallest extent the engine accepts.
pub const MIN_EXTENT_SIZE: u64 = 64 * 1024;

pub(crate) fn io_err(op: &'static str, path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io {
        op,
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// Opens a drive for the engine (O_DIRECT where the filesystem allows it).
pub(crate) fn open_device(path: &Path, create_len: Option<u64>) -> Result<Arc<Device>, StoreError> {
    Device::open(
        path,
        DeviceOptions {
            direct: true,
            create_len,
        },
    )
    .map(Arc::new)
    .map_err(|e| io_err("open", path, e))
}

/// Reads and decodes the superblock of an open drive.
pub async fn read_superblock(
    engine: &IoEngine,
    dev: &Arc<Device>,
) -> Result<Result<Superblock, FormatError>, StoreError> {
    let (buf, res) = engine
        .read_at(dev, AlignedBuf::with_len(META_BLOCK as usize), 0)
        .await;
    let n = res.map_err(|e| io_err("read the superblock of", dev.path(), e))?;
    if n < META_BLOCK as usize {
        return Ok(Err(FormatError::NotPresent { what: "superblock" }));
    }
    Ok(Superblock::decode(buf.as_slice()))
}

/// Formats `paths` as one new set: writes a superblock on each and invalidates the first
/// block of every extent, so nothing earlier is mistaken for data. Returns the set UUID.
/// Destroys what the drives held: callers check first (`memkv setup` refuses drives in use).
pub async fn format_drives(
    engine: &IoEngine,
    paths: &[PathBuf],
    opts: &FormatOptions,
) -> Result<[u8; 16], StoreError> {
    let ext = opts.extent_size;
    if !ext.is_power_of_two() || ext < MIN_EXTENT_SIZE {
        return Err(StoreError::Mismatch {
            path: paths.first().cloned().unwrap_or_default(),
            reason: format!(
                "storage.block_size {ext} is not a power of two of at least {MIN_EXTENT_SIZE} bytes"
            ),
        });
    }
    let set_uuid: [u8; 16] = rand::random();
    let created_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for (i, path) in paths.iter().enumerate() {
        let dev = open_device(path, opts.create_len)?;
        let size = dev.size();
        let extent_count = (size / ext).saturating_sub(1);
        if extent_count < 2 {
            return Err(StoreError::Mismatch {
                path: path.clone(),
                reason: format!(
                    "it holds {size} bytes, too small for two extents of {ext} bytes plus the \
                     metadata extent; use a larger drive or a smaller storage.block_size"
                ),
            });
        }
        let sb = Superblock {
            version: FORMAT_VERSION,
            drive_uuid: rand::random(),
            set_uuid,
            drive_index: i as u32,
            drive_count: paths.len() as u32,
            extent_size: ext,
            extent_count,
            data_start: ext,
            logical_block_size: dev.logical_block_size(),
            shard_size_kib: opts.shard_size_kib,
            created_unix,
            drive_size: size,
        };
        // Zero every extent's header block, in batches up to the queue depth.
        let zero = AlignedBuf::with_len(META_BLOCK as usize);
        let extents: Vec<u32> = (0..extent_count as u32).collect();
        for chunk in extents.chunks(256) {
            let mut batch = engine.batch();
            let futs: Vec<_> = chunk
                .iter()
                .map(|&e| {
                    batch.write_at(
                        &dev,
                        AlignedBuf::from_slice(zero.as_slice()),
                        sb.extent_offset(e),
                    )
                })
                .collect();
            batch.submit();
            for f in futs {
                f.await
                    .1
                    .map_err(|e| io_err("clear the extents of", path, e))?;
            }
        }
        let (_, res) = engine
            .write_at(&dev, AlignedBuf::from_slice(&sb.encode()), 0)
            .await;
        res.map_err(|e| io_err("write the superblock of", path, e))?;
        engine
            .fdatasync(&dev)
            .await
            .map_err(|e| io_err("sync", path, e))?;
        tracing::info!(drive = %path.display(), extents = extent_count, "formatted");
    }
    Ok(set_uuid)
}
