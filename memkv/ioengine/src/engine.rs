//! [`IoEngine`], the public front end: validates operations, applies fault plans, counts,
//! and hands requests to the chosen engine's thread(s).

use std::fmt;
use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::aligned::ALIGN;
use crate::buf::AlignedBuf;
use crate::device::{Device, DeviceId};
use crate::error::{EngineError, RequestError};
use crate::fault::{FaultPlan, Faults};
use crate::kind::EngineKind;
use crate::metrics::{Metrics, MetricsHandle, MetricsSnapshot};
use crate::request::{Completion, Op, Request};
use crate::stdfs::StdEngine;
use crate::uring::UringEngine;

/// The largest queue depth [`IoEngine::new`] accepts.
pub const MAX_QUEUE_DEPTH: u32 = 4096;

/// The largest read or write, in bytes: Linux transfers at most `INT_MAX` rounded down to a
/// page (2 GiB - 4 KiB) in one call.
pub const MAX_IO_LEN: usize = (i32::MAX as usize) & !(ALIGN - 1);

/// An I/O engine: runs reads, writes, `fdatasync`s and discards on [`Device`]s with up to
/// `queue_depth` operations in flight.
///
/// # Operations
///
/// [`read_at`](Self::read_at) and [`write_at`](Self::write_at) take the buffer by value and
/// return a [`BufFuture`] that yields it back with the result. The operation is submitted
/// when the method is called, not when the future is first polled; the future is `Send`,
/// `'static` and does not borrow the engine. Operations beyond the queue depth wait in a queue
/// (in order) and are not an error. To get many operations into the kernel with one system
/// call, queue them on a [`Batch`].
///
/// # Alignment
///
/// Offsets and lengths must be multiples of [`Device::logical_block_size`], for every device
/// (also files opened without `O_DIRECT`), and a read or write may be at most
/// [`MAX_IO_LEN`] bytes. Violations are refused before submission with an
/// `io::ErrorKind::InvalidInput` error carrying a [`RequestError`]; the buffer is returned.
///
/// # Cancellation
///
/// Dropping a future does not cancel its operation: it only discards the result. The
/// engine keeps the buffer (and the device open) until the kernel reports completion, then
/// frees it, so the kernel never writes into freed memory. A write whose future was dropped
/// still happens.
///
/// # Shutdown
///
/// Dropping the engine runs every queued operation, waits for all in-flight ones, then closes
/// the ring and stops its threads. Futures still held get their results.
pub struct IoEngine {
    kind: EngineKind,
    queue_depth: u32,
    backend: Backend,
    metrics: Arc<Metrics>,
    faults: Faults,
}

enum Backend {
    Uring(UringEngine),
    Std(StdEngine),
}

impl IoEngine {
    /// Starts an engine of `kind` allowing `queue_depth` (1 to [`MAX_QUEUE_DEPTH`]) operations
    /// in flight. The io_uring engine starts one submission thread (and, on first block-device
    /// discard, one helper thread); the std engine starts `min(queue_depth, 16)` workers.
    pub fn new(kind: EngineKind, queue_depth: u32) -> Result<IoEngine, EngineError> {
        if !(1..=MAX_QUEUE_DEPTH).contains(&queue_depth) {
            return Err(EngineError::InvalidQueueDepth {
                depth: queue_depth,
                max: MAX_QUEUE_DEPTH,
            });
        }
        let metrics = Arc::new(Metrics::default());
        let backend = match kind {
            EngineKind::IoUring => {
                Backend::Uring(UringEngine::start(queue_depth, Arc::clone(&metrics))?)
            }
            EngineKind::StdFs => Backend::Std(StdEngine::start(queue_depth, Arc::clone(&metrics))?),
        };
        Ok(IoEngine {
            kind,
            queue_depth,
            backend,
            metrics,
            faults: Faults::default(),
        })
    }

    /// Which engine this is. `kind().as_str()` is the name for status pages and metrics.
    pub fn kind(&self) -> EngineKind {
        self.kind
    }

    /// The queue depth it was started with.
    pub fn queue_depth(&self) -> u32 {
        self.queue_depth
    }

    /// Reads `buf.len()` bytes at `offset` into `buf`. Yields the buffer and the number of
    /// bytes read, which is smaller than `buf.len()` only at the end of the file or device.
    pub fn read_at(&self, dev: &Arc<Device>, buf: AlignedBuf, offset: u64) -> BufFuture {
        self.start_one(dev, Op::Read { buf, offset })
    }

    /// Writes the `buf.len()` bytes of `buf` at `offset`. Yields the buffer and the number of
    /// bytes written. Not durable until a later [`fdatasync`](Self::fdatasync) completes
    /// (even with `O_DIRECT`, the drive may cache it).
    pub fn write_at(&self, dev: &Arc<Device>, buf: AlignedBuf, offset: u64) -> BufFuture {
        self.start_one(dev, Op::Write { buf, offset })
    }

    /// Writes the bytes of `data` at `offset` without copying them: the engine keeps a
    /// reference until the kernel is done. Its start address, its length and `offset` must
    /// all be multiples of the device's logical block size (else the write is refused with
    /// [`RequestError::UnalignedMemory`] or [`RequestError::Unaligned`]). Yields an empty buffer and the bytes written.
    pub fn write_shared_at(&self, dev: &Arc<Device>, data: Bytes, offset: u64) -> BufFuture {
        self.start_one(dev, Op::WriteShared { data, offset })
    }

    /// Flushes the device's written data (and the metadata needed to read it) to stable
    /// storage. It covers writes that completed before it was called; writes still in flight
    /// may or may not be included, so await them first.
    pub fn fdatasync(
        &self,
        dev: &Arc<Device>,
    ) -> impl Future<Output = io::Result<()>> + Send + use<> {
        let pending = self.start_one(dev, Op::Fdatasync);
        async move { pending.await.1.map(drop) }
    }

    /// Tells the device that `len` bytes at `offset` are unused: `BLKDISCARD` on block
    /// devices, `fallocate(PUNCH_HOLE | KEEP_SIZE)` on files. Yields `Ok(true)` when done and
    /// `Ok(false)` when the device or filesystem does not support it. What a later read of the
    /// range returns is up to the device (zeros on files and most SSDs).
    pub fn discard(
        &self,
        dev: &Arc<Device>,
        offset: u64,
        len: u64,
    ) -> impl Future<Output = io::Result<bool>> + Send + use<> {
        let pending = self.start_one(dev, Op::Discard { offset, len });
        async move { pending.await.1.map(|done| done == 1) }
    }

    /// A batch: operations queued on it reach the engine together when it is submitted (or
    /// dropped), and the io_uring engine puts them into the kernel with one system call (as far
    /// as the queue depth allows).
    pub fn batch(&self) -> Batch<'_> {
        Batch {
            engine: self,
            requests: Vec::new(),
        }
    }

    /// **Test hook.** Makes operations on `dev` (matched by [`DeviceId`], so any path to the
    /// same device or file) fail with `EIO` according to `plan`, without touching the
    /// device. [`FaultPlan::NONE`] removes the plan. Operations already submitted are not
    /// affected. Costs one atomic load per operation while no plan is set.
    pub fn inject_faults(&self, dev: &Device, plan: FaultPlan) {
        self.inject_faults_by_id(dev.id(), plan);
    }

    /// **Test hook.** Like [`inject_faults`](Self::inject_faults), for the device or file
    /// `path` names now.
    pub fn inject_faults_at(&self, path: impl AsRef<Path>, plan: FaultPlan) -> io::Result<()> {
        self.inject_faults_by_id(DeviceId::of_path(path)?, plan);
        Ok(())
    }

    /// **Test hook.** Like [`inject_faults`](Self::inject_faults), by device id.
    pub fn inject_faults_by_id(&self, id: DeviceId, plan: FaultPlan) {
        tracing::warn!(device = ?id, ?plan, "I/O fault injection changed (test hook)");
        self.faults.set(id, plan);
    }

    /// **Test hook.** Removes every fault plan.
    pub fn clear_faults(&self) {
        self.faults.clear();
    }

    /// The current counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.metrics.snapshot()
    }

    /// A handle on the counters that outlives the engine.
    pub fn metrics_handle(&self) -> MetricsHandle {
        MetricsHandle(Arc::clone(&self.metrics))
    }

    fn start_one(&self, dev: &Arc<Device>, op: Op) -> BufFuture {
        match self.prepare(dev, op) {
            Ok((request, rx)) => {
                self.dispatch(vec![request]);
                BufFuture::waiting(rx)
            }
            Err(done) => BufFuture::ready(done),
        }
    }

    /// Validates, counts and fault-checks an operation. `Err` holds its immediate completion.
    fn prepare(
        &self,
        dev: &Arc<Device>,
        mut op: Op,
    ) -> Result<(Request, oneshot::Receiver<Completion>), Completion> {
        if let Err(e) = validate(dev, &op) {
            self.metrics.rejected();
            return Err(Completion {
                buf: op.take_buf(),
                result: Err(e.into_io()),
            });
        }
        let class = op.class();
        self.metrics.submitted(class);
        if self.faults.should_fail(dev.id(), class) {
            let result = Err(io::Error::from_raw_os_error(libc::EIO));
            self.metrics.completed(class, &result);
            return Err(Completion {
                buf: op.take_buf(),
                result,
            });
        }
        let (reply, rx) = oneshot::channel();
        let request = Request {
            dev: Arc::clone(dev),
            op,
            reply,
        };
        Ok((request, rx))
    }

    fn dispatch(&self, requests: Vec<Request>) {
        match &self.backend {
            Backend::Uring(engine) => engine.submit(requests),
            Backend::Std(engine) => engine.submit(requests),
        }
    }
}

impl fmt::Debug for IoEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IoEngine")
            .field("kind", &self.kind)
            .field("queue_depth", &self.queue_depth)
            .field("metrics", &self.metrics.snapshot())
            .finish_non_exhaustive()
    }
}

fn validate(dev: &Device, op: &Op) -> Result<(), RequestError> {
    let (offset, len) = match op {
        Op::Read { buf, offset } | Op::Write { buf, offset } => (*offset, io_len(buf.len())?),
        Op::WriteShared { data, offset } => {
            // What `O_DIRECT` asks of memory: the logical block size (an `AlignedBuf` is
            // aligned to every block size the engine accepts).
            let addr = data.as_ptr().addr();
            let align = dev.logical_block_size() as usize;
            if addr % align != 0 {
                return Err(RequestError::UnalignedMemory { addr, align });
            }
            (*offset, io_len(data.len())?)
        }
        Op::Discard { offset, len } => (*offset, *len),
        Op::Fdatasync => return Ok(()),
    };
    let block_size = u64::from(dev.logical_block_size());
    if offset % block_size != 0 || len % block_size != 0 {
        return Err(RequestError::Unaligned {
            path: dev.path().to_path_buf(),
            offset,
            len,
            block_size: dev.logical_block_size(),
        });
    }
    if offset
        .checked_add(len)
        .is_none_or(|end| end > i64::MAX as u64)
    {
        return Err(RequestError::OffsetOverflow { offset, len });
    }
    Ok(())
}

/// The length of a read or write, refused past [`MAX_IO_LEN`].
fn io_len(len: usize) -> Result<u64, RequestError> {
    if len > MAX_IO_LEN {
        return Err(RequestError::TooLarge {
            len: len as u64,
            max: MAX_IO_LEN as u64,
        });
    }
    Ok(len as u64)
}

/// Operations queued together; see [`IoEngine::batch`]. They are handed to the engine when
/// [`submit`](Self::submit) is called or the batch is dropped, so a future from a batch never
/// waits forever.
pub struct Batch<'a> {
    engine: &'a IoEngine,
    requests: Vec<Request>,
}

impl Batch<'_> {
    /// Queues a read; see [`IoEngine::read_at`].
    pub fn read_at(&mut self, dev: &Arc<Device>, buf: AlignedBuf, offset: u64) -> BufFuture {
        self.queue(dev, Op::Read { buf, offset })
    }

    /// Queues a write; see [`IoEngine::write_at`].
    pub fn write_at(&mut self, dev: &Arc<Device>, buf: AlignedBuf, offset: u64) -> BufFuture {
        self.queue(dev, Op::Write { buf, offset })
    }

    /// Queues a write from shared bytes; see [`IoEngine::write_shared_at`].
    pub fn write_shared_at(&mut self, dev: &Arc<Device>, data: Bytes, offset: u64) -> BufFuture {
        self.queue(dev, Op::WriteShared { data, offset })
    }

    /// Operations queued and not yet submitted (refused or fault-injected ones are not
    /// queued).
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// Hands every queued operation to the engine at once.
    pub fn submit(self) {
        // Drop does the work.
    }

    fn queue(&mut self, dev: &Arc<Device>, op: Op) -> BufFuture {
        match self.engine.prepare(dev, op) {
            Ok((request, rx)) => {
                self.requests.push(request);
                BufFuture::waiting(rx)
            }
            Err(done) => BufFuture::ready(done),
        }
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        if !self.requests.is_empty() {
            self.engine.dispatch(std::mem::take(&mut self.requests));
        }
    }
}

impl fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("queued", &self.requests.len())
            .finish_non_exhaustive()
    }
}

/// The result of a read or write: yields the buffer and the byte count (or the error).
///
/// The operation is already submitted; dropping this only discards the result (see
/// [`IoEngine`]'s "Cancellation"). When the engine's thread died (a bug, logged), it yields an
/// empty buffer and [`RequestError::EngineStopped`], because the real buffer may still be in
/// the kernel's hands.
#[must_use = "the operation runs anyway; dropping the future discards its result and buffer"]
pub struct BufFuture {
    state: FutureState,
}

enum FutureState {
    Ready(Option<Completion>),
    Waiting(oneshot::Receiver<Completion>),
}

impl BufFuture {
    fn ready(done: Completion) -> BufFuture {
        BufFuture {
            state: FutureState::Ready(Some(done)),
        }
    }

    fn waiting(rx: oneshot::Receiver<Completion>) -> BufFuture {
        BufFuture {
            state: FutureState::Waiting(rx),
        }
    }
}

impl Future for BufFuture {
    type Output = (AlignedBuf, io::Result<usize>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let done = match &mut self.state {
            FutureState::Ready(done) => done.take().expect("BufFuture polled after it completed"),
            FutureState::Waiting(rx) => match ready!(Pin::new(rx).poll(cx)) {
                Ok(done) => done,
                Err(_) => Completion {
                    buf: AlignedBuf::new(),
                    result: Err(RequestError::EngineStopped.into_io()),
                },
            },
        };
        self.state = FutureState::Ready(None);
        // Lengths fit usize: reads and writes are at most MAX_IO_LEN.
        Poll::Ready((done.buf, done.result.map(|n| n as usize)))
    }
}

impl fmt::Debug for BufFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            FutureState::Ready(Some(_)) => "ready",
            FutureState::Ready(None) => "finished",
            FutureState::Waiting(_) => "waiting",
        };
        f.debug_struct("BufFuture").field("state", &state).finish()
    }
}
