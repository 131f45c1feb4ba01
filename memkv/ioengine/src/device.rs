//! [`Device`]: an open block device or data file, with its geometry and I/O mode.
//!
//! Opening detects what the path is (block device or regular file), reads the size and the
//! logical block size, and opens it with `O_DIRECT` when asked. A filesystem that refuses
//! `O_DIRECT` gets buffered I/O instead, logged once per open and visible in
//! [`Device::direct`].

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::aligned::ALIGN;
use crate::error::DeviceError;
use crate::sys;

/// How to open a [`Device`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceOptions {
    /// Open with `O_DIRECT` (bypass the page cache). When the filesystem refuses it, the
    /// device falls back to buffered I/O and [`Device::direct`] says so.
    pub direct: bool,
    /// For regular files: create the file if it is missing and preallocate (with
    /// `fallocate`) up to this many bytes if it is shorter. A file is never shrunk. Ignored
    /// for block devices, whose size is fixed.
    pub create_len: Option<u64>,
}

/// Identifies a device or file independently of the path used to open it (symlinks and
/// `/dev/disk/by-id/...` names resolve to the same id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceId {
    /// A block device, by its device number (`st_rdev`).
    Block {
        /// The device number.
        rdev: u64,
    },
    /// A regular file, by filesystem and inode.
    File {
        /// The filesystem's device number (`st_dev`).
        dev: u64,
        /// The inode number.
        ino: u64,
    },
}

impl DeviceId {
    /// The id of whatever `path` names now.
    pub fn of_path(path: impl AsRef<Path>) -> io::Result<DeviceId> {
        Ok(DeviceId::from_metadata(&std::fs::metadata(path)?))
    }

    fn from_metadata(meta: &std::fs::Metadata) -> DeviceId {
        if meta.file_type().is_block_device() {
            DeviceId::Block { rdev: meta.rdev() }
        } else {
            DeviceId::File {
                dev: meta.dev(),
                ino: meta.ino(),
            }
        }
    }
}

/// An open block device or data file. Share it as `Arc<Device>`: every in-flight operation
/// holds a clone, so the descriptor stays open until the kernel is done with it.
#[derive(Debug)]
pub struct Device {
    file: File,
    path: PathBuf,
    id: DeviceId,
    block_device: bool,
    size: u64,
    logical_block_size: u32,
    direct: bool,
}

impl Device {
    /// Opens `path` for reading and writing. See [`DeviceOptions`].
    pub fn open(path: impl AsRef<Path>, options: DeviceOptions) -> Result<Device, DeviceError> {
        let path = path.as_ref();
        if let Some(len) = options.create_len {
            create_and_preallocate(path, len)?;
        }
        let (file, direct) = open_rw(path, options.direct)?;
        let inspect = |what: &'static str| {
            move |source| DeviceError::Inspect {
                path: path.to_path_buf(),
                what,
                source,
            }
        };
        let meta = file.metadata().map_err(inspect("metadata"))?;
        let file_type = meta.file_type();
        let (size, block_size) = if file_type.is_block_device() {
            let size = sys::block_device_size(file.as_fd()).map_err(inspect("size"))?;
            let lbs =
                sys::logical_block_size(file.as_fd()).map_err(inspect("logical block size"))?;
            (size, lbs)
        } else if file_type.is_file() {
            // The filesystem block size is at least the device's logical block size, so it
            // satisfies O_DIRECT's alignment rule; clamp odd values into 512..=4096.
            (meta.len(), meta.blksize().clamp(512, ALIGN as u64))
        } else {
            return Err(DeviceError::NotBlockOrFile {
                path: path.to_path_buf(),
            });
        };
        if !block_size.is_power_of_two() || !(512..=ALIGN as u64).contains(&block_size) {
            return Err(DeviceError::UnsupportedBlockSize {
                path: path.to_path_buf(),
                size: block_size,
            });
        }
        Ok(Device {
            id: DeviceId::from_metadata(&meta),
            block_device: file_type.is_block_device(),
            file,
            path: path.to_path_buf(),
            size,
            logical_block_size: u32::try_from(block_size).expect("checked <= 4096 above"),
            direct,
        })
    }

    /// The path it was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its identity, for fault injection and "is this the same drive" checks.
    pub fn id(&self) -> DeviceId {
        self.id
    }

    /// Size in bytes: the device size, or the file length when it was opened.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The logical block size in bytes (512 to 4096): `BLKSSZGET` for block devices, the
    /// filesystem block size for files. Offsets and lengths of every operation must be
    /// multiples of it.
    pub fn logical_block_size(&self) -> u32 {
        self.logical_block_size
    }

    /// Whether this is a block device (as opposed to a regular file).
    pub fn is_block_device(&self) -> bool {
        self.block_device
    }

    /// Whether I/O bypasses the page cache (`O_DIRECT`). False when not asked for, or when the
    /// filesystem refused it.
    pub fn direct(&self) -> bool {
        self.direct
    }

    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// Discards a byte range synchronously: `BLKDISCARD` on block devices,
    /// `fallocate(PUNCH_HOLE | KEEP_SIZE)` on files.
    pub(crate) fn discard_blocking(&self, offset: u64, len: u64) -> io::Result<()> {
        if self.block_device {
            sys::blk_discard(self.file.as_fd(), offset, len)
        } else {
            sys::fallocate(self.file.as_fd(), sys::PUNCH_HOLE, offset, len)
        }
    }
}

impl AsFd for Device {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl AsRawFd for Device {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

fn create_and_preallocate(path: &Path, len: u64) -> Result<(), DeviceError> {
    let create_err = |source| DeviceError::Create {
        path: path.to_path_buf(),
        source,
    };
    if std::fs::metadata(path).is_ok_and(|m| m.file_type().is_block_device()) {
        return Ok(());
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(create_err)?;
    let current = file.metadata().map_err(create_err)?.len();
    if current >= len {
        return Ok(());
    }
    match sys::fallocate(file.as_fd(), 0, 0, len) {
        Ok(()) => Ok(()),
        Err(e) if sys::is_unsupported(&e) => {
            tracing::warn!(
                path = %path.display(),
                "the filesystem cannot preallocate; extending the file sparsely instead, so \
                 writes may fail later with ENOSPC"
            );
            file.set_len(len)
                .map_err(|source| DeviceError::Preallocate {
                    path: path.to_path_buf(),
                    len,
                    source,
                })
        }
        Err(source) => Err(DeviceError::Preallocate {
            path: path.to_path_buf(),
            len,
            source,
        }),
    }
}

/// Opens read-write, with `O_DIRECT` if asked and allowed. Returns whether it is direct.
fn open_rw(path: &Path, direct: bool) -> Result<(File, bool), DeviceError> {
    let open = |flags| {
        OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(flags)
            .open(path)
            .map_err(|source| DeviceError::Open {
                path: path.to_path_buf(),
                source,
            })
    };
    if !direct {
        return Ok((open(0)?, false));
    }
    match open(libc::O_DIRECT) {
        Ok(file) => Ok((file, true)),
        Err(DeviceError::Open { source, .. }) if source.raw_os_error() == Some(libc::EINVAL) => {
            tracing::warn!(
                path = %path.display(),
                "the filesystem refused O_DIRECT; using buffered I/O for this file (data goes \
                 through the page cache)"
            );
            Ok((open(0)?, false))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_len_preallocates_and_never_shrinks() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("drive.dat");
        let opts = DeviceOptions {
            direct: false,
            create_len: Some(1 << 20),
        };
        let dev = Device::open(&path, opts).expect("open");
        assert_eq!(dev.size(), 1 << 20);
        assert!(!dev.is_block_device());
        assert!(!dev.direct());
        let meta = std::fs::metadata(&path).expect("stat");
        assert!(
            meta.blocks() * 512 >= 1 << 20,
            "fallocate reserved the blocks"
        );
        drop(dev);
        let smaller = DeviceOptions {
            direct: false,
            create_len: Some(4096),
        };
        assert_eq!(
            Device::open(&path, smaller).expect("reopen").size(),
            1 << 20
        );
    }

    #[test]
    fn directory_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        // Opening a directory read-write fails first with EISDIR.
        let err = Device::open(dir.path(), DeviceOptions::default()).expect_err("a directory");
        assert!(matches!(err, DeviceError::Open { .. }), "{err:?}");
    }

    #[test]
    fn id_matches_path_lookup() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("f");
        let opts = DeviceOptions {
            direct: false,
            create_len: Some(4096),
        };
        let dev = Device::open(&path, opts).expect("open");
        assert_eq!(DeviceId::of_path(&path).expect("stat"), dev.id());
    }
}
