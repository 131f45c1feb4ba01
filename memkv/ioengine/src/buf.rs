//! [`AlignedBuf`], the owned I/O buffer, and [`BufPool`], which recycles them.
//!
//! Every read and write goes through an [`AlignedBuf`]: its start address is aligned to
//! 4096 bytes, so it is valid for `O_DIRECT` on any device the engine accepts. The operation
//! takes the buffer by value and hands it back with the result; while the kernel may touch the
//! memory, nobody else can.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;

use crate::aligned::{ALIGN, RawBuf};

/// Alignment of every [`AlignedBuf`]'s start address, in bytes.
pub const BUF_ALIGN: usize = ALIGN;

/// An owned heap buffer whose start address is aligned to [`BUF_ALIGN`] (4096) bytes.
///
/// The memory is always initialised: a new buffer is zeroed, a buffer from a [`BufPool`] holds
/// whatever its previous user left in it. [`len`](Self::len) is the number of bytes an
/// operation reads or writes; for direct I/O it must be a multiple of the device's logical
/// block size, which the engine checks before submitting (see
/// [`RequestError::Unaligned`](crate::RequestError::Unaligned)). The allocation
/// ([`capacity`](Self::capacity)) is rounded up to a multiple of 4096.
///
/// Dropping a buffer that came from a [`BufPool`] returns its memory to the pool.
pub struct AlignedBuf {
    raw: RawBuf,
    len: usize,
    pool: Option<Arc<PoolShared>>,
}

impl AlignedBuf {
    /// An empty buffer that owns no memory (length and capacity 0).
    pub const fn new() -> AlignedBuf {
        AlignedBuf {
            raw: RawBuf::empty(),
            len: 0,
            pool: None,
        }
    }

    /// A zero-filled buffer of `len` bytes.
    pub fn with_len(len: usize) -> AlignedBuf {
        AlignedBuf {
            raw: RawBuf::zeroed(len),
            len,
            pool: None,
        }
    }

    /// A buffer holding a copy of `data` (length `data.len()`; the capacity tail is zero).
    pub fn from_slice(data: &[u8]) -> AlignedBuf {
        let mut buf = AlignedBuf::with_len(data.len());
        buf.copy_from_slice(data);
        buf
    }

    /// The number of bytes an operation on this buffer transfers.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether [`len`](Self::len) is 0.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The size of the allocation, a multiple of 4096 (0 for [`AlignedBuf::new`]).
    pub fn capacity(&self) -> usize {
        self.raw.capacity()
    }

    /// Sets the length. Bytes between the old and the new length keep whatever they held
    /// (zero, or data from an earlier use).
    ///
    /// # Panics
    ///
    /// When `len` exceeds [`capacity`](Self::capacity).
    pub fn set_len(&mut self, len: usize) {
        assert!(
            len <= self.capacity(),
            "AlignedBuf::set_len({len}) exceeds the capacity {}",
            self.capacity()
        );
        self.len = len;
    }

    /// Shortens the buffer to `len` bytes; does nothing if it is already that short. Use it
    /// after a short read to keep only the bytes that arrived.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// The first [`len`](Self::len) bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.raw.as_slice()[..self.len]
    }

    /// The first [`len`](Self::len) bytes, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let len = self.len;
        &mut self.raw.as_mut_slice()[..len]
    }

    /// Turns the buffer into [`Bytes`] without copying: the `Bytes` own the allocation (and
    /// return it to its pool, if any, when the last clone is dropped).
    pub fn into_bytes(self) -> Bytes {
        Bytes::from_owner(self)
    }

    /// The start address, for the kernel. Only the submission code uses it, while it owns the
    /// buffer exclusively.
    pub(crate) fn as_mut_ptr(&mut self) -> *mut u8 {
        self.raw.as_mut_ptr()
    }
}

impl Default for AlignedBuf {
    fn default() -> AlignedBuf {
        AlignedBuf::new()
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsMut<[u8]> for AlignedBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}

impl fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("len", &self.len)
            .field("capacity", &self.capacity())
            .field("pooled", &self.pool.is_some())
            .finish()
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.put_back(std::mem::replace(&mut self.raw, RawBuf::empty()));
        }
    }
}

/// A pool of equally sized [`AlignedBuf`]s, so hot paths do not allocate and fault in fresh
/// memory for every operation.
///
/// Cloning the pool is cheap (it is shared). A buffer taken with [`get`](Self::get) returns to
/// the pool when dropped, also when it was turned into [`Bytes`] with
/// [`AlignedBuf::into_bytes`]; the pool keeps at most `max_idle` buffers and frees the rest.
#[derive(Clone)]
pub struct BufPool {
    shared: Arc<PoolShared>,
}

struct PoolShared {
    buf_len: usize,
    max_idle: usize,
    idle: Mutex<Vec<RawBuf>>,
    outstanding: AtomicUsize,
    allocations: AtomicU64,
}

impl PoolShared {
    fn put_back(&self, raw: RawBuf) {
        self.outstanding.fetch_sub(1, Ordering::AcqRel);
        let mut idle = self.idle.lock();
        if idle.len() < self.max_idle {
            idle.push(raw);
        }
    }
}

impl BufPool {
    /// A pool of buffers of `buf_len` bytes that keeps up to `max_idle` unused ones.
    pub fn new(buf_len: usize, max_idle: usize) -> BufPool {
        BufPool {
            shared: Arc::new(PoolShared {
                buf_len,
                max_idle,
                idle: Mutex::new(Vec::with_capacity(max_idle.min(1024))),
                outstanding: AtomicUsize::new(0),
                allocations: AtomicU64::new(0),
            }),
        }
    }

    /// A buffer of [`buf_len`](Self::buf_len) bytes. Its contents are unspecified: zero when
    /// freshly allocated, an earlier user's data when recycled. Fill it or read into it.
    pub fn get(&self) -> AlignedBuf {
        let recycled = self.shared.idle.lock().pop();
        let raw = recycled.unwrap_or_else(|| {
            self.shared.allocations.fetch_add(1, Ordering::Relaxed);
            RawBuf::zeroed(self.shared.buf_len)
        });
        self.shared.outstanding.fetch_add(1, Ordering::AcqRel);
        AlignedBuf {
            raw,
            len: self.shared.buf_len,
            pool: Some(Arc::clone(&self.shared)),
        }
    }

    /// The length of the buffers this pool hands out.
    pub fn buf_len(&self) -> usize {
        self.shared.buf_len
    }

    /// Buffers handed out and not yet returned (dropped). Tests use it to prove that an
    /// abandoned operation's buffer was released.
    pub fn outstanding(&self) -> usize {
        self.shared.outstanding.load(Ordering::Acquire)
    }

    /// Unused buffers kept for reuse.
    pub fn idle(&self) -> usize {
        self.shared.idle.lock().len()
    }

    /// How many buffers the pool has allocated fresh (the rest were recycled).
    pub fn allocations(&self) -> u64 {
        self.shared.allocations.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for BufPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufPool")
            .field("buf_len", &self.shared.buf_len)
            .field("max_idle", &self.shared.max_idle)
            .field("outstanding", &self.outstanding())
            .field("idle", &self.idle())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_len_is_zeroed_and_aligned() {
        let mut buf = AlignedBuf::with_len(512);
        assert_eq!(buf.len(), 512);
        assert_eq!(buf.capacity(), 4096);
        assert_eq!(buf.as_mut_ptr() as usize % BUF_ALIGN, 0);
        assert!(buf.iter().all(|&b| b == 0));
    }

    #[test]
    fn into_bytes_keeps_contents_and_returns_to_pool() {
        let pool = BufPool::new(8192, 4);
        let mut buf = pool.get();
        buf.fill(0xab);
        buf.truncate(100);
        let bytes = buf.into_bytes();
        assert_eq!(bytes.len(), 100);
        assert!(bytes.iter().all(|&b| b == 0xab));
        assert_eq!(pool.outstanding(), 1);
        let clone = bytes.slice(10..20);
        drop(bytes);
        assert_eq!(pool.outstanding(), 1, "a live slice keeps the buffer");
        drop(clone);
        assert_eq!(pool.outstanding(), 0);
        assert_eq!(pool.idle(), 1);
        let again = pool.get();
        assert_eq!(
            again.len(),
            8192,
            "a recycled buffer comes back at full length"
        );
        assert_eq!(
            pool.allocations(),
            1,
            "the second get reused the first allocation"
        );
    }

    #[test]
    fn pool_frees_beyond_max_idle() {
        let pool = BufPool::new(4096, 1);
        let a = pool.get();
        let b = pool.get();
        drop(a);
        drop(b);
        assert_eq!(pool.idle(), 1);
        assert_eq!(pool.outstanding(), 0);
    }

    #[test]
    fn from_slice_copies() {
        let buf = AlignedBuf::from_slice(b"hello");
        assert_eq!(&buf[..], b"hello");
    }
}
