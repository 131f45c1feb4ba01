//! The io_uring engine: one submission thread owns the ring.
//!
//! # How it works
//!
//! Callers send [`Request`]s over a channel and, if the thread may be asleep, write to an
//! eventfd. The thread loops:
//!
//! 1. take every queued message off the channel;
//! 2. turn queued requests into SQEs while fewer than `queue_depth` operations are in flight
//!    (the rest wait in `pending`, in order);
//! 3. make one `io_uring_enter` that submits all new SQEs and waits for at least one
//!    completion; a poll SQE on the eventfd is always armed, so new work also ends the wait;
//! 4. reap every completion and hand each result to its caller.
//!
//! # Ownership (the safety argument)
//!
//! An SQE points into a buffer and names a descriptor. From the moment the SQE is pushed until
//! its CQE is reaped, the [`Request`] that owns that buffer and an `Arc<Device>` (keeping the
//! descriptor open) sits in [`Slots`], indexed by the SQE's `user_data`. Nothing else can reach
//! it: the caller's future only holds the receiving end of a oneshot channel. A caller that
//! drops its future therefore cannot free the buffer; the request is completed (and the buffer
//! dropped) only after the kernel reported completion. If this thread panics, [`Slots`] leaks
//! the buffers of operations still in flight rather than freeing memory the kernel may write.
//!
//! Operations io_uring cannot do (discard on a block device, an ioctl) run on one helper
//! thread, which reports back through the same channel; they occupy a slot too, so they count
//! against the queue depth.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use io_uring::{IoUring, opcode, squeue, types};

use crate::device::Device;
use crate::error::EngineError;
use crate::metrics::Metrics;
use crate::request::{Op, Request};
use crate::sys;

/// `user_data` of the eventfd poll SQE; slot indexes are far below it.
const WAKE_TOKEN: u64 = u64::MAX;

/// A message to the submission thread.
enum Msg {
    /// Requests to run, in order. One message per batch, so a batch reaches the ring whole.
    Submit(Vec<Request>),
    /// The helper thread finished the operation in `slot`.
    HelperDone {
        slot: usize,
        result: io::Result<u64>,
    },
    /// Finish everything queued and in flight, then exit.
    Shutdown,
}

/// The eventfd that wakes the submission thread, and the flag that says whether it may be
/// waiting (so busy periods cost no extra syscalls).
struct Wake {
    eventfd: File,
    may_sleep: AtomicBool,
}

impl Wake {
    /// Called after sending a message. Pairs with the thread's "set flag, fence, re-check
    /// channel" in [`Driver::run`]: either the thread sees the message or we see the flag.
    fn notify(&self) {
        fence(Ordering::SeqCst);
        if self.may_sleep.swap(false, Ordering::SeqCst) {
            self.kick();
        }
    }

    fn kick(&self) {
        // Fails only with EAGAIN when the counter is about to overflow, which still wakes.
        let _ = (&self.eventfd).write(&1u64.to_ne_bytes());
    }

    fn drain(&self) {
        let mut counter = [0u8; 8];
        // Non-blocking; EAGAIN just means someone else drained it already.
        let _ = (&self.eventfd).read(&mut counter);
    }
}

/// The caller's side of the io_uring engine.
pub(crate) struct UringEngine {
    tx: mpsc::Sender<Msg>,
    wake: Arc<Wake>,
    thread: Option<JoinHandle<()>>,
    metrics: Arc<Metrics>,
}

impl UringEngine {
    pub(crate) fn start(
        queue_depth: u32,
        metrics: Arc<Metrics>,
    ) -> Result<UringEngine, EngineError> {
        let eventfd = sys::eventfd().map_err(|source| EngineError::Spawn { source })?;
        let wake = Arc::new(Wake {
            eventfd: File::from(eventfd),
            may_sleep: AtomicBool::new(false),
        });
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let thread = {
            let wake = Arc::clone(&wake);
            let metrics = Arc::clone(&metrics);
            let driver_tx = tx.clone();
            std::thread::Builder::new()
                .name("memkv-io-uring".to_string())
                .spawn(move || {
                    // The ring is created on this thread, which is its only submitter.
                    let ring = match build_ring(queue_depth) {
                        Ok(ring) => {
                            let _ = ready_tx.send(Ok(()));
                            ring
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    Driver::new(ring, rx, driver_tx, wake, metrics, queue_depth as usize).run();
                })
                .map_err(|source| EngineError::Spawn { source })?
        };
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(UringEngine {
                tx,
                wake,
                thread: Some(thread),
                metrics,
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(EngineError::Spawn {
                    source: io::Error::other("the io_uring thread exited during setup"),
                })
            }
        }
    }

    pub(crate) fn submit(&self, requests: Vec<Request>) {
        if let Err(mpsc::SendError(msg)) = self.tx.send(Msg::Submit(requests)) {
            // The thread is gone (it panicked); the kernel never saw these.
            if let Msg::Submit(requests) = msg {
                for request in requests {
                    request.engine_stopped(&self.metrics);
                }
            }
            return;
        }
        self.wake.notify();
    }
}

impl Drop for UringEngine {
    fn drop(&mut self) {
        if self.tx.send(Msg::Shutdown).is_ok() {
            self.wake.notify();
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!(
                "the io_uring submission thread panicked; buffers of its in-flight operations were leaked on purpose"
            );
        }
    }
}

/// Checks that io_uring works here and supports every operation the engine uses.
pub(crate) fn probe() -> Result<(), EngineError> {
    build_ring(1).map(drop)
}

fn build_ring(queue_depth: u32) -> Result<IoUring, EngineError> {
    // One extra entry for the eventfd poll.
    let entries = (queue_depth + 1).next_power_of_two();
    // The ring has a single submitter (this thread); these flags (Linux 5.19/6.0) let the
    // kernel skip locking and interrupts. Older kernels reject them with EINVAL.
    let ring = IoUring::builder()
        .setup_single_issuer()
        .setup_coop_taskrun()
        .build(entries)
        .or_else(|_| IoUring::new(entries))
        .map_err(|source| EngineError::UringUnavailable { source })?;
    let mut probe = io_uring::Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(|source| EngineError::UringUnavailable { source })?;
    let needed = [
        ("read", opcode::Read::CODE),
        ("write", opcode::Write::CODE),
        ("fsync", opcode::Fsync::CODE),
        ("fallocate", opcode::Fallocate::CODE),
        ("poll", opcode::PollAdd::CODE),
    ];
    for (name, code) in needed {
        if !probe.is_supported(code) {
            return Err(EngineError::UringOpcodeMissing { opcode: name });
        }
    }
    Ok(ring)
}

/// Requests whose operation the kernel (or the helper) currently owns, by slot index.
struct Slots {
    entries: Vec<Option<Request>>,
    free: Vec<usize>,
    used: usize,
}

impl Slots {
    fn new(capacity: usize) -> Slots {
        Slots {
            entries: (0..capacity).map(|_| None).collect(),
            free: (0..capacity).rev().collect(),
            used: 0,
        }
    }

    fn is_full(&self) -> bool {
        self.free.is_empty()
    }

    fn insert(&mut self, request: Request) -> usize {
        let slot = self.free.pop().expect("callers check is_full first");
        self.entries[slot] = Some(request);
        self.used += 1;
        slot
    }

    fn remove(&mut self, slot: usize) -> Request {
        let request = self.entries[slot]
            .take()
            .expect("a completion for an occupied slot");
        self.free.push(slot);
        self.used -= 1;
        request
    }

    /// The request in an occupied slot.
    fn get_mut(&mut self, slot: usize) -> &mut Request {
        self.entries[slot].as_mut().expect("slot was just filled")
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        // Only reached with occupied slots when the thread panics: the kernel may still read
        // or write those buffers, so leak them (and the devices, keeping fds open) instead of
        // freeing. The caller gets an error and an empty buffer.
        for request in self.entries.iter_mut().filter_map(Option::take) {
            let Request { dev, mut op, reply } = request;
            std::mem::forget(op.take_buf());
            std::mem::forget(dev);
            let _ = reply.send(crate::request::Completion {
                buf: crate::AlignedBuf::new(),
                result: Err(crate::RequestError::EngineStopped.into_io()),
            });
        }
    }
}

/// A job for the helper thread: discard on a block device.
struct HelperJob {
    slot: usize,
    dev: Arc<Device>,
    offset: u64,
    len: u64,
}

struct Helper {
    tx: mpsc::Sender<HelperJob>,
    thread: JoinHandle<()>,
}

/// The submission thread's state. Field order matters: the ring is dropped (closed) first.
struct Driver {
    ring: IoUring,
    rx: mpsc::Receiver<Msg>,
    /// A sender for the helper thread's replies.
    tx: mpsc::Sender<Msg>,
    wake: Arc<Wake>,
    metrics: Arc<Metrics>,
    slots: Slots,
    pending: VecDeque<Request>,
    poll_armed: bool,
    shutting_down: bool,
    /// I/O SQEs pushed since the last `io_uring_enter`.
    unsubmitted_io: usize,
    helper: Option<Helper>,
    cqes: Vec<(u64, i32)>,
}

impl Driver {
    fn new(
        ring: IoUring,
        rx: mpsc::Receiver<Msg>,
        tx: mpsc::Sender<Msg>,
        wake: Arc<Wake>,
        metrics: Arc<Metrics>,
        depth: usize,
    ) -> Driver {
        Driver {
            ring,
            rx,
            tx,
            wake,
            metrics,
            slots: Slots::new(depth),
            pending: VecDeque::new(),
            poll_armed: false,
            shutting_down: false,
            unsubmitted_io: 0,
            helper: None,
            cqes: Vec::with_capacity(depth + 1),
        }
    }

    fn run(mut self) {
        loop {
            while let Ok(msg) = self.rx.try_recv() {
                self.handle(msg);
            }
            self.fill_ring();
            if self.shutting_down && self.pending.is_empty() && self.slots.used == 0 {
                break;
            }
            self.arm_poll();
            // Tell senders we may sleep, then look once more: a message sent before this
            // point is seen here; one sent after it sees the flag and writes the eventfd.
            self.wake.may_sleep.store(true, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            if let Ok(msg) = self.rx.try_recv() {
                self.wake.may_sleep.store(false, Ordering::SeqCst);
                self.handle(msg);
                continue;
            }
            self.enter();
            self.wake.may_sleep.store(false, Ordering::SeqCst);
            self.reap();
        }
        if let Some(helper) = self.helper.take() {
            drop(helper.tx);
            if helper.thread.join().is_err() {
                tracing::error!("the I/O helper thread panicked");
            }
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Submit(requests) => self.pending.extend(requests),
            Msg::HelperDone { slot, result } => {
                let request = self.slots.remove(slot);
                self.metrics.end_in_flight();
                request.complete(result, &self.metrics);
            }
            Msg::Shutdown => self.shutting_down = true,
        }
    }

    /// Moves pending requests into the ring while the queue depth allows.
    fn fill_ring(&mut self) {
        while !self.slots.is_full() {
            let Some(request) = self.pending.pop_front() else {
                break;
            };
            if let Op::Discard { offset, len } = request.op
                && request.dev.is_block_device()
            {
                self.send_to_helper(request, offset, len);
                continue;
            }
            let slot = self.slots.insert(request);
            self.metrics.start_in_flight();
            let request = self.slots.get_mut(slot);
            let fd = types::Fd(request.dev.as_raw_fd());
            let entry = match &mut request.op {
                Op::Read { buf, offset } => {
                    opcode::Read::new(fd, buf.as_mut_ptr(), io_len(buf.len()))
                        .offset(*offset)
                        .build()
                }
                Op::Write { buf, offset } => {
                    opcode::Write::new(fd, buf.as_mut_ptr().cast_const(), io_len(buf.len()))
                        .offset(*offset)
                        .build()
                }
                Op::WriteShared { data, offset } => {
                    opcode::Write::new(fd, data.as_ptr(), io_len(data.len()))
                        .offset(*offset)
                        .build()
                }
                Op::Fdatasync => opcode::Fsync::new(fd)
                    .flags(types::FsyncFlags::DATASYNC)
                    .build(),
                Op::Discard { offset, len } => opcode::Fallocate::new(fd, *len)
                    .offset(*offset)
                    .mode(sys::PUNCH_HOLE)
                    .build(),
            };
            // SAFETY: the SQE points into the `AlignedBuf` (at most `buf.len() <= capacity`
            // bytes) or the `Bytes` (exactly its `len()` bytes, which the kernel only reads;
            // the request's reference keeps them alive, and `Bytes` are immutable) of the
            // request in `slot`, and names the fd of that request's `Arc<Device>`. The request
            // stays in `self.slots` untouched until `reap` removes it after this `user_data`'s
            // CQE (or `Slots::drop` leaks it on a panic); moving the request does not move the
            // buffer's heap memory. `slots` holds at most `depth` requests, so at most `depth`
            // I/O SQEs are outstanding. Fsync and fallocate SQEs carry no pointers.
            unsafe { self.push(&entry.user_data(slot as u64)) };
            self.unsubmitted_io += 1;
        }
    }

    /// Puts one SQE into the submission queue (the kernel sees it at the next `enter`).
    ///
    /// # Safety
    ///
    /// Every buffer and descriptor `entry` names must stay valid, and no buffer it names may
    /// be read or written by Rust code, until the CQE carrying `entry`'s `user_data` has been
    /// reaped. For I/O SQEs that `user_data` must be the slot whose [`Request`] owns the
    /// buffer and the device. The queue must have room: at most `depth` I/O SQEs and one poll
    /// SQE may be outstanding.
    unsafe fn push(&mut self, entry: &squeue::Entry) {
        let mut sq = self.ring.submission();
        // SAFETY: the caller guarantees what `SubmissionQueue::push` requires (the entry's
        // buffers and fds stay valid for the whole operation); the SQ holds at least
        // `depth + 1` entries, so with the caller's bound the push cannot fail.
        unsafe { sq.push(entry) }.expect("the submission queue has room for depth + 1 entries");
    }

    fn arm_poll(&mut self) {
        if self.poll_armed {
            return;
        }
        let fd = types::Fd(self.wake.eventfd.as_raw_fd());
        let entry = opcode::PollAdd::new(fd, libc::POLLIN as u32)
            .build()
            .user_data(WAKE_TOKEN);
        // SAFETY: a poll SQE carries no buffer; it names the eventfd owned by `self.wake`,
        // which outlives the ring (`ring` is the first field of `Driver`, dropped first).
        // `poll_armed` keeps at most one poll SQE outstanding.
        unsafe { self.push(&entry) };
        self.poll_armed = true;
    }

    /// One `io_uring_enter`: submit everything pushed and wait for a completion (or a wake).
    fn enter(&mut self) {
        let submitted_io = self.unsubmitted_io > 0;
        let result = self.ring.submit_and_wait(1);
        self.metrics.uring_enter(submitted_io);
        match result {
            Ok(_) => self.unsubmitted_io = 0,
            // Interrupted by a signal, or a temporary shortage: the loop reaps and retries.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)
                ) => {}
            Err(e) => panic!("io_uring_enter failed unexpectedly: {e}"),
        }
    }

    fn reap(&mut self) {
        self.cqes.clear();
        self.cqes.extend(
            self.ring
                .completion()
                .map(|cqe| (cqe.user_data(), cqe.result())),
        );
        for i in 0..self.cqes.len() {
            let (user_data, res) = self.cqes[i];
            if user_data == WAKE_TOKEN {
                self.poll_armed = false;
                self.wake.drain();
                continue;
            }
            let slot = usize::try_from(user_data).expect("slot indexes fit usize");
            let request = self.slots.remove(slot);
            self.metrics.end_in_flight();
            let result = if res < 0 {
                Err(io::Error::from_raw_os_error(-res))
            } else {
                Ok(res as u64)
            };
            request.complete(result, &self.metrics);
        }
    }

    /// Hands a block-device discard to the helper thread, starting it on first use.
    fn send_to_helper(&mut self, request: Request, offset: u64, len: u64) {
        if self.helper.is_none() {
            match spawn_helper(self.tx.clone(), Arc::clone(&self.wake)) {
                Ok(helper) => self.helper = Some(helper),
                Err(e) => {
                    request.complete(Err(e), &self.metrics);
                    return;
                }
            }
        }
        let dev = Arc::clone(&request.dev);
        let slot = self.slots.insert(request);
        self.metrics.start_in_flight();
        let helper = self.helper.as_ref().expect("started above");
        let job = HelperJob {
            slot,
            dev,
            offset,
            len,
        };
        if helper.tx.send(job).is_err() {
            // The helper panicked; fail this operation rather than hang it.
            let request = self.slots.remove(slot);
            self.metrics.end_in_flight();
            request.complete(
                Err(io::Error::other("the I/O helper thread stopped")),
                &self.metrics,
            );
        }
    }
}

fn spawn_helper(tx: mpsc::Sender<Msg>, wake: Arc<Wake>) -> io::Result<Helper> {
    let (job_tx, job_rx) = mpsc::channel::<HelperJob>();
    let thread = std::thread::Builder::new()
        .name("memkv-io-helper".to_string())
        .spawn(move || {
            for job in job_rx {
                let result = job.dev.discard_blocking(job.offset, job.len).map(|()| 0);
                drop(job.dev);
                if tx
                    .send(Msg::HelperDone {
                        slot: job.slot,
                        result,
                    })
                    .is_err()
                {
                    return;
                }
                wake.notify();
            }
        })?;
    Ok(Helper { tx: job_tx, thread })
}

/// The length field of a read/write SQE. The front end refuses longer operations.
fn io_len(len: usize) -> u32 {
    u32::try_from(len).expect("the front end limits I/O length to MAX_IO_LEN")
}
