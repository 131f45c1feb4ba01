//! Error types: starting an engine ([`EngineError`]), opening a device ([`DeviceError`]), and
//! the typed causes inside a refused operation's `io::Error` ([`RequestError`]).

use std::io;
use std::path::PathBuf;

use crate::kind::ENV_VAR;

/// Choosing or starting an I/O engine failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// `MEMKV_IO_ENGINE` holds a value that names no engine.
    #[error(
        "{ENV_VAR}={value:?} names no I/O engine; set it to io_uring or std, or unset it to pick the best available engine"
    )]
    UnknownKind {
        /// The value found.
        value: String,
    },
    /// The queue depth is outside `1..=MAX_QUEUE_DEPTH`.
    #[error("I/O queue depth {depth} is out of range; use a value from 1 to {max}")]
    InvalidQueueDepth {
        /// The depth asked for.
        depth: u32,
        /// The largest depth accepted.
        max: u32,
    },
    /// The kernel refused to create an io_uring instance.
    #[error(
        "io_uring is not available on this host (kernel older than 5.6, sysctl kernel.io_uring_disabled set, \
         or a seccomp profile that blocks it); set {ENV_VAR}=std to use the pread/pwrite engine"
    )]
    UringUnavailable {
        /// The error from `io_uring_setup`.
        #[source]
        source: io::Error,
    },
    /// io_uring exists but lacks an operation the engine needs.
    #[error(
        "io_uring on this kernel lacks the {opcode} operation (it needs Linux 5.6 or later); set {ENV_VAR}=std to use the pread/pwrite engine"
    )]
    UringOpcodeMissing {
        /// The missing operation.
        opcode: &'static str,
    },
    /// The submission thread or a worker thread could not be started.
    #[error(
        "could not start an I/O engine thread; the process may have reached its thread or memory limit"
    )]
    Spawn {
        /// The error from `std::thread::Builder::spawn` or the setup on that thread.
        #[source]
        source: io::Error,
    },
}

/// Opening a device or data file failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// Creating or sizing the data file failed.
    #[error("could not create the data file {}; check that its directory exists and is writable", path.display())]
    Create {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Preallocating the data file failed.
    #[error("could not preallocate {len} bytes for {}; free space on that filesystem or configure a smaller size", path.display())]
    Preallocate {
        /// The file.
        path: PathBuf,
        /// The size asked for, in bytes.
        len: u64,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Opening the device or file failed.
    #[error("could not open {} for reading and writing; check that it exists and that this user may write it (block devices usually need root or the disk group)", path.display())]
    Open {
        /// The device or file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Reading the device's geometry failed.
    #[error("could not read the {what} of {}", path.display())]
    Inspect {
        /// The device or file.
        path: PathBuf,
        /// What was being read ("size", "logical block size", "metadata").
        what: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The path is a directory, FIFO, character device or similar.
    #[error("{} is neither a block device nor a regular file; name a drive such as /dev/nvme0n1 or a data file", path.display())]
    NotBlockOrFile {
        /// The path.
        path: PathBuf,
    },
    /// The device reports a logical block size the engine cannot serve.
    #[error("{} has a logical block size of {size} bytes; memkv supports powers of two from 512 to 4096", path.display())]
    UnsupportedBlockSize {
        /// The device.
        path: PathBuf,
        /// The reported size.
        size: u64,
    },
}

/// Why the engine refused or abandoned an operation. Carried inside the `io::Error` that the
/// operation returns; get it back with [`RequestError::from_io`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Offset or length is not a multiple of the device's logical block size. Refused before
    /// submission, for every device (also buffered ones), so code that works on a file also
    /// works with `O_DIRECT` on a drive.
    #[error(
        "refused unaligned I/O on {}: offset {offset} and length {len} must be multiples of the \
         logical block size {block_size}; round them to the block size",
        path.display()
    )]
    Unaligned {
        /// The device.
        path: PathBuf,
        /// The requested offset.
        offset: u64,
        /// The requested length.
        len: u64,
        /// The device's logical block size.
        block_size: u32,
    },
    /// A write from shared bytes whose start address is not aligned for direct I/O.
    #[error(
        "refused a write from a buffer at address {addr:#x}: direct I/O needs buffers aligned to \
         {align} bytes; write from an AlignedBuf, or copy the bytes into one"
    )]
    UnalignedMemory {
        /// The buffer's start address.
        addr: usize,
        /// The alignment required.
        align: usize,
    },
    /// A single operation is larger than the kernel transfers in one call.
    #[error("refused an I/O of {len} bytes; split it into operations of at most {max} bytes")]
    TooLarge {
        /// The requested length.
        len: u64,
        /// The largest length accepted.
        max: u64,
    },
    /// `offset + len` does not fit in a file offset.
    #[error(
        "refused an I/O at offset {offset} of {len} bytes: the end lies beyond the largest file offset"
    )]
    OffsetOverflow {
        /// The requested offset.
        offset: u64,
        /// The requested length.
        len: u64,
    },
    /// The engine's thread exited before the operation completed. Only happens after a bug
    /// (a panic on that thread); the buffer was kept (leaked) because the kernel may still
    /// use it, so the operation returns an empty buffer.
    #[error(
        "the I/O engine stopped before the operation completed; restart the process and report the panic logged before this"
    )]
    EngineStopped,
}

impl RequestError {
    /// The `RequestError` inside `err`, if the engine produced it.
    pub fn from_io(err: &io::Error) -> Option<&RequestError> {
        err.get_ref()?.downcast_ref::<RequestError>()
    }

    pub(crate) fn into_io(self) -> io::Error {
        let kind = match self {
            RequestError::EngineStopped => io::ErrorKind::BrokenPipe,
            _ => io::ErrorKind::InvalidInput,
        };
        io::Error::new(kind, self)
    }
}
