//! memkv's I/O engine: block-device and data-file I/O through io_uring with `O_DIRECT`, or
//! through plain `pread`/`pwrite`, behind one safe API.
//!
//! The file and raw-device storage engines are built on it. The pieces:
//!
//! - [`Device`]: an open block device or preallocated data file, with its size, logical block
//!   size and whether `O_DIRECT` is in effect.
//! - [`AlignedBuf`] (and [`BufPool`]): owned buffers aligned to 4096 bytes. Every operation
//!   takes its buffer by value and gives it back with the result.
//! - [`IoEngine`]: runs operations with a bounded queue depth on the engine picked by
//!   [`EngineKind`] ([`EngineKind::IoUring`] or [`EngineKind::StdFs`], chosen with
//!   `MEMKV_IO_ENGINE` or by probing), with counters ([`MetricsSnapshot`]) and a
//!   fault-injection test hook ([`FaultPlan`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use memkv_ioengine::{AlignedBuf, Device, DeviceOptions, EngineKind, IoEngine};
//!
//! let choice = EngineKind::from_env()?;
//! let engine = IoEngine::new(choice.kind, 32)?;
//! let dev = Arc::new(Device::open(
//!     "/var/lib/memkv/drive0.dat",
//!     DeviceOptions { direct: true, create_len: Some(1 << 30) },
//! )?);
//! let mut buf = AlignedBuf::with_len(4096);
//! buf.fill(7);
//! let (buf, written) = engine.write_at(&dev, buf, 0).await;
//! written?;
//! engine.fdatasync(&dev).await?;
//! let (buf, read) = engine.read_at(&dev, buf, 0).await;
//! assert_eq!(read?, 4096);
//! # drop(buf); Ok(()) }
//! ```
//!
//! See `docs/io-engine.md` for alignment rules, ownership and cancellation, and fault
//! injection.
//!
//! # Unsafe code
//!
//! This is the workspace's containment crate for `unsafe`: every io_uring submission,
//! aligned allocation and raw syscall of the project lives here, behind a safe API, so no
//! other crate needs `unsafe`. It is kept to four files: `aligned.rs` (allocation),
//! `uring.rs` (SQE submission, with the ownership argument), `sys.rs` (ioctls, fallocate,
//! eventfd, flock, the socket receive low-water mark) and `streaming.rs` (copies with
//! non-temporal stores into memory a server keeps: [`extend_streaming`]). Every block carries
//! a `// SAFETY:` comment (enforced by `clippy::undocumented_unsafe_blocks`) and
//! `unsafe_op_in_unsafe_fn` stays denied.
// This crate exists to contain the project's unsafe code; see "Unsafe code" above.
#![allow(unsafe_code)]
#![deny(missing_docs)]

mod aligned;
mod buf;
mod device;
mod engine;
mod error;
mod fault;
mod kind;
mod metrics;
mod request;
mod stdfs;
mod streaming;
mod sys;
mod uring;

pub use buf::{AlignedBuf, BUF_ALIGN, BufPool};
pub use device::{Device, DeviceId, DeviceOptions};
pub use engine::{Batch, BufFuture, IoEngine, MAX_IO_LEN, MAX_QUEUE_DEPTH};
pub use error::{DeviceError, EngineError, RequestError};
pub use fault::FaultPlan;
pub use kind::{ENV_VAR, EngineChoice, EngineKind};
pub use metrics::{MetricsHandle, MetricsSnapshot, OpCounts};
pub use streaming::extend_streaming;
pub use sys::{send_buffer, set_recv_low_water, set_send_buffer, try_lock_exclusive};

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_static<T: Send + 'static>(_: &T) {}

    #[test]
    fn futures_are_send_and_static() {
        let dir = tempfile::tempdir().expect("temp dir");
        let dev = std::sync::Arc::new(
            Device::open(
                dir.path().join("f"),
                DeviceOptions {
                    direct: false,
                    create_len: Some(4096),
                },
            )
            .expect("open"),
        );
        let engine = IoEngine::new(EngineKind::StdFs, 1).expect("engine");
        let read = engine.read_at(&dev, AlignedBuf::with_len(4096), 0);
        let sync = engine.fdatasync(&dev);
        let discard = engine.discard(&dev, 0, 4096);
        assert_send_static(&read);
        assert_send_static(&sync);
        assert_send_static(&discard);
        fn assert_sync<T: Send + Sync>() {}
        assert_sync::<IoEngine>();
        assert_sync::<Device>();
        assert_sync::<AlignedBuf>();
    }
}
