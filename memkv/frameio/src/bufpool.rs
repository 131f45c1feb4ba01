//! Reusable receive buffers for frame data.
//!
//! A received value usually becomes a long-lived [`Bytes`] (a stored value on the server, a
//! value handed to the caller on the client). Allocating a fresh multi-MiB buffer for each one
//! made the kernel fault in and zero new pages every time, because allocators hand freed large
//! blocks back to the kernel. Values of a few KiB cost in another way: they are too large for
//! glibc's per-thread cache, so each one took the arena's lock to be allocated on one thread
//! and again to be freed on another when a put replaced it (15% of the server's CPU on 4 KiB
//! batch puts with 8 clients; batch puts were slower still with their values pooled, and keep
//! the allocator). The server now allocates with jemalloc, whose thread caches take such
//! blocks back without a lock; leaving 1-64 KiB buffers to it measured the same as the pool
//! (`bench/results/2026-12-06-2core-intel-session14/ab-small-pool-tried.txt`), and the pool
//! still spares a client, which runs on its host process's allocator.
//!
//! A [`BufPool`] keeps such buffers instead: [`BufPool::freeze`] wraps a filled buffer in a
//! `Bytes` that returns it to the pool when its last reference drops, and [`BufPool::take`]
//! hands it out again. Idle buffers are bounded by the pool's `max_idle` bytes; beyond that
//! they are freed.
//!
//! The data of a pooled buffer starts on a page boundary ([`PAGE`]): a disk store can then
//! hand a received value's bytes to `O_DIRECT` I/O as they are, without copying them into an
//! aligned buffer first. The alignment is had without `unsafe`: the buffer is a `Vec` one page
//! longer than needed, and the data starts at the first page boundary inside it.
//!
//! A pool also says how data lands in its buffers ([`Landing`]): a memory store's values are
//! kept, not read soon, and land through a small buffer that stays in the cache, from which
//! non-temporal stores write them ([`Landing::Streamed`]); a client's replies, read by the
//! caller next, and a disk store's values, written to a drive next, land with ordinary copies
//! ([`Landing::Cached`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;

/// Data at least this large gets a pooled buffer whose data starts on a [`PAGE`] boundary.
pub const POOLED_MIN: usize = 64 * 1024;
/// Pooled buffer sizes are rounded up to this, so values of nearly equal size share buffers.
const GRANULE: usize = 4096;
/// Data at least this large and below [`POOLED_MIN`] gets a pooled buffer of its own size
/// (rounded up to 64 bytes), unaligned; smaller data is left to the allocator, whose
/// per-thread cache serves it without a lock.
pub const SMALL_POOLED_MIN: usize = 1024 + 1;
/// Small pooled buffer sizes are rounded up to this.
const SMALL_GRANULE: usize = 64;
/// The alignment of a pooled buffer's data: a page, a multiple of every logical block size
/// that direct I/O asks memory to be aligned to.
pub const PAGE: usize = 4096;

/// How received data is written into a pool's buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Landing {
    /// The socket's copy writes the buffer directly: for data read soon after (a client's
    /// reply, which its caller reads next; a disk store's value, written to a drive next).
    Cached,
    /// Data of at least [`STREAMED_MIN`] bytes is read into a small buffer that stays in the
    /// cache (where the frame's verifier sums it), then written to the buffer with
    /// non-temporal stores ([`memkv_ioengine::extend_streaming`]): for data kept and not read
    /// soon (a memory store's values). The socket's copy into a buffer not in the cache read
    /// every line of it from memory first and left the value in the cache, evicting the
    /// socket's buffers and the other core's working set; streamed, 8-client puts of 64 KiB to
    /// 4 MiB values ran 6-9% faster (2-core VM, paired rounds; `docs/benchmarks.md`).
    Streamed,
}

/// Data at least this large lands through the cache-resident buffer of a
/// [`Landing::Streamed`] pool; shorter data is copied directly.
pub const STREAMED_MIN: usize = POOLED_MIN;

/// Idle receive buffers by capacity (see the module documentation).
#[derive(Debug)]
pub struct BufPool {
    idle: Mutex<Idle>,
    max_idle: usize,
    landing: Landing,
}

#[derive(Debug, Default)]
struct Idle {
    /// By size class (the data capacity, a multiple of [`GRANULE`]).
    by_class: HashMap<usize, Vec<Vec<u8>>>,
    bytes: usize,
}

/// A buffer being filled: a `Vec` whose bytes from `start` on are the data. For pooled sizes
/// `start` puts the data on a [`PAGE`] boundary; below [`POOLED_MIN`] it is 0.
#[derive(Debug)]
pub struct RecvBuf {
    buf: Vec<u8>,
    start: usize,
    /// The pool's size class (0: not pooled).
    class: usize,
}

impl RecvBuf {
    /// Bytes of data so far.
    pub fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Whether no data has been added.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The data so far.
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// The vector to append data to (with `read_buf`, `extend_from_slice`, ...): bytes
    /// appended to it are data. Its first `start` bytes are not, and must be left alone.
    pub(crate) fn appender(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }
}

impl BufPool {
    /// A pool that keeps at most `max_idle` bytes of idle buffers, into which data lands
    /// with ordinary copies ([`Landing::Cached`]).
    pub fn new(max_idle: usize) -> Self {
        Self::with_landing(max_idle, Landing::Cached)
    }

    /// A pool that keeps at most `max_idle` bytes of idle buffers, into which data lands as
    /// `landing` says.
    pub fn with_landing(max_idle: usize, landing: Landing) -> Self {
        BufPool {
            idle: Mutex::default(),
            max_idle,
            landing,
        }
    }

    /// How data lands in this pool's buffers.
    pub fn landing(&self) -> Landing {
        self.landing
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Idle> {
        // The critical sections cannot panic half-way; a poisoned lock holds consistent data.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An empty buffer with room for `len` bytes of data: a recycled one when there is one.
    /// From [`POOLED_MIN`] on its data starts on a page boundary; below [`SMALL_POOLED_MIN`] it
    /// is always a fresh one.
    pub fn take(&self, len: usize) -> RecvBuf {
        if len < SMALL_POOLED_MIN {
            return RecvBuf {
                buf: Vec::with_capacity(len),
                start: 0,
                class: 0,
            };
        }
        if len < POOLED_MIN {
            let class = len.div_ceil(SMALL_GRANULE) * SMALL_GRANULE;
            let buf = self
                .recycled(class)
                .unwrap_or_else(|| Vec::with_capacity(class));
            return RecvBuf {
                buf,
                start: 0,
                class,
            };
        }
        let class = len.div_ceil(GRANULE) * GRANULE;
        let recycled = self.recycled(class);
        let mut buf = recycled.unwrap_or_else(|| Vec::with_capacity(class + PAGE));
        // The first page boundary in the buffer; the page of slack leaves `class` bytes
        // after it.
        let start = (PAGE - buf.as_ptr().addr() % PAGE) % PAGE;
        buf.resize(start, 0);
        RecvBuf { buf, start, class }
    }

    /// An idle buffer of size class `class`, if there is one.
    fn recycled(&self, class: usize) -> Option<Vec<u8>> {
        let mut idle = self.idle();
        let buf = idle.by_class.get_mut(&class).and_then(Vec::pop);
        if let Some(buf) = &buf {
            idle.bytes -= buf.capacity();
        }
        buf
    }

    /// Returns a buffer that is no longer needed (its contents are discarded).
    pub fn give_back(&self, buf: RecvBuf) {
        let RecvBuf { mut buf, class, .. } = buf;
        if class == 0 {
            return;
        }
        buf.clear();
        let capacity = buf.capacity();
        let mut idle = self.idle();
        if idle.bytes + capacity <= self.max_idle {
            idle.bytes += capacity;
            idle.by_class.entry(class).or_default().push(buf);
        }
    }

    /// Freezes a filled buffer; a pooled one returns to `pool` when the last reference to the
    /// returned `Bytes` (or any slice of it) drops. The pool lives as long as the process (a
    /// `static`): a reference count on it, incremented for every value by one thread and
    /// decremented by another, cost 15% of the server's CPU on 4 KiB batch puts.
    pub fn freeze(pool: &'static BufPool, buf: RecvBuf) -> Bytes {
        if buf.class == 0 {
            return Bytes::from(buf.buf);
        }
        Bytes::from_owner(Pooled {
            buf: Some(buf),
            pool,
        })
    }

    /// Bytes held by idle buffers.
    pub fn idle_bytes(&self) -> usize {
        self.idle().bytes
    }
}

/// Bounce buffers a thread keeps idle for its next streamed reads.
const IDLE_BOUNCES: usize = 4;

thread_local! {
    static BOUNCES: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// The cache-resident buffer a [`Landing::Streamed`] read lands each piece in first: one per
/// read in progress, taken from the thread's idle ones (or allocated) and given back to them
/// when dropped, up to [`IDLE_BOUNCES`] per thread. Small enough (one read piece) to stay in
/// a core's L2 cache between the socket's copy, the verifier's sum and the streaming copy out.
#[derive(Debug)]
pub(crate) struct Bounce(Vec<u8>);

impl Bounce {
    /// A bounce buffer of one read piece.
    pub(crate) fn take() -> Bounce {
        let idle = BOUNCES.with_borrow_mut(Vec::pop);
        Bounce(idle.unwrap_or_else(|| vec![0; crate::READ_PIECE]))
    }

    /// Its bytes.
    pub(crate) fn bytes(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl Drop for Bounce {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.0);
        // A thread being torn down has no list left to keep it in: the buffer is freed.
        let _ = BOUNCES.try_with(|idle| {
            let mut idle = idle.borrow_mut();
            if idle.len() < IDLE_BOUNCES {
                idle.push(buf);
            }
        });
    }
}

/// A pooled buffer inside a [`Bytes`].
struct Pooled {
    /// Always `Some` until dropped.
    buf: Option<RecvBuf>,
    pool: &'static BufPool,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        self.buf.as_ref().map_or(&[], RecvBuf::data)
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(buf) = self.buf.take() {
            self.pool.give_back(buf);
        }
    }
}

/// A pool that lives as long as the process, for tests.
#[cfg(test)]
pub(crate) fn leaked(pool: BufPool) -> &'static BufPool {
    Box::leak(Box::new(pool))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_reuses_its_bounce_buffers_and_keeps_a_few() {
        std::thread::spawn(|| {
            let mut first = Bounce::take();
            assert_eq!(first.bytes().len(), crate::READ_PIECE);
            let at = first.bytes().as_ptr();
            drop(first);
            assert_eq!(Bounce::take().bytes().as_ptr(), at, "taken again");
            // Many in use at once (readers of one thread interleaved): all are allocated,
            // and a few are kept when they come back.
            let many: Vec<Bounce> = (0..IDLE_BOUNCES + 3).map(|_| Bounce::take()).collect();
            drop(many);
            assert_eq!(BOUNCES.with_borrow(Vec::len), IDLE_BOUNCES);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn small_buffers_are_pooled_by_their_own_size_and_tiny_ones_are_not() {
        let pool = leaked(BufPool::new(1 << 20));
        let mut buf = pool.take(4096);
        buf.appender().extend_from_slice(&[3; 4096]);
        let first = buf.data().as_ptr();
        drop(BufPool::freeze(pool, buf));
        assert_eq!(pool.idle_bytes(), 4096, "no page of slack below POOLED_MIN");
        let again = pool.take(4090);
        assert_eq!(
            again.data().as_ptr(),
            first,
            "4090 bytes share the 4096 class"
        );
        assert_eq!(pool.idle_bytes(), 0);
        pool.give_back(again);
        // A size class of its own (rounded up to 64 bytes); nothing to reuse yet.
        let other = pool.take(1500);
        assert_ne!(other.data().as_ptr(), first);
        pool.give_back(other);
        assert_eq!(pool.idle_bytes(), 4096 + 1536);
    }

    #[test]
    fn a_buffer_returns_when_the_last_reference_drops_and_is_reused() {
        let pool = leaked(BufPool::new(64 << 20));
        let len = POOLED_MIN * 3 + 5;
        let mut buf = pool.take(len);
        assert!(buf.is_empty());
        buf.appender().extend(std::iter::repeat_n(7, len));
        assert_eq!(buf.len(), len);
        let first = buf.data().as_ptr();
        let value = BufPool::freeze(pool, buf);
        assert_eq!(value.len(), len);
        let slice = value.slice(10..20);
        drop(value);
        assert_eq!(pool.idle_bytes(), 0, "a slice still holds the buffer");
        assert_eq!(&slice[..], &[7; 10]);
        drop(slice);
        let class = len.div_ceil(GRANULE) * GRANULE;
        assert_eq!(pool.idle_bytes(), class + PAGE);
        let again = pool.take(len);
        assert_eq!(
            again.data().as_ptr(),
            first,
            "the idle buffer was handed out again"
        );
        assert!(again.is_empty());
        assert_eq!(pool.idle_bytes(), 0);
    }

    #[test]
    fn pooled_data_starts_on_a_page_boundary_with_room_for_the_whole_class() {
        let pool = leaked(BufPool::new(64 << 20));
        for len in [POOLED_MIN, POOLED_MIN + 1, 1 << 20, (4 << 20) + 100] {
            let mut buf = pool.take(len);
            assert_eq!(buf.data().as_ptr().addr() % PAGE, 0, "{len}");
            let before = buf.appender().as_ptr();
            let at = buf.appender().len();
            buf.appender().resize(at + len, 1);
            assert_eq!(
                buf.appender().as_ptr(),
                before,
                "filling {len} bytes did not move the buffer"
            );
            let value = BufPool::freeze(pool, buf);
            assert_eq!(
                value.as_ptr().addr() % PAGE,
                0,
                "{len}: the frozen bytes too"
            );
            assert_eq!(value.len(), len);
            assert!(value.iter().all(|&b| b == 1));
        }
    }

    #[test]
    fn tiny_buffers_are_left_to_the_allocator() {
        // Below SMALL_POOLED_MIN the allocator's per-thread cache does better than a lock.
        let pool = leaked(BufPool::new(64 << 20));
        for len in [100, SMALL_POOLED_MIN - 1] {
            let mut buf = pool.take(len);
            buf.appender().resize(len, 1);
            drop(BufPool::freeze(pool, buf));
            pool.give_back(pool.take(len));
        }
        assert_eq!(pool.idle_bytes(), 0);
    }

    #[test]
    fn idle_buffers_are_bounded() {
        let pool = BufPool::new(40 << 20);
        let bufs: Vec<RecvBuf> = (0..5).map(|_| pool.take(16 << 20)).collect();
        for b in bufs {
            pool.give_back(b);
        }
        assert_eq!(pool.idle_bytes(), 2 * ((16 << 20) + PAGE));
    }
}
