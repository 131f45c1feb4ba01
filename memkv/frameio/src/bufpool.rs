//! Reusable receive buffers for large frame data.
//!
//! A received value usually becomes a long-lived [`Bytes`] (a stored value on the server, a
//! value handed to the caller on the client). Allocating a fresh multi-MiB buffer for each one
//! made the kernel fault in and zero new pages every time, because allocators hand freed large
//! blocks back to the kernel. A [`BufPool`] keeps such buffers instead: [`BufPool::freeze`]
//! wraps a filled buffer in a `Bytes` that returns it to the pool when its last reference
//! drops, and [`BufPool::take`] hands it out again. Idle buffers are bounded by the pool's
//! `max_idle` bytes; beyond that they are freed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;

/// Data at least this large is worth a pooled buffer; smaller allocations are cheap.
pub const POOLED_MIN: usize = 64 * 1024;
/// Pooled buffer sizes are rounded up to this, so values of nearly equal size share buffers.
const GRANULE: usize = 4096;

/// Idle receive buffers by capacity (see the module documentation).
#[derive(Debug)]
pub struct BufPool {
    idle: Mutex<Idle>,
    max_idle: usize,
}

#[derive(Debug, Default)]
struct Idle {
    by_capacity: HashMap<usize, Vec<Vec<u8>>>,
    bytes: usize,
}

impl BufPool {
    /// A pool that keeps at most `max_idle` bytes of idle buffers.
    pub fn new(max_idle: usize) -> Self {
        BufPool {
            idle: Mutex::default(),
            max_idle,
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Idle> {
        // The critical sections cannot panic half-way; a poisoned lock holds consistent data.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An empty buffer with room for `len` bytes: a recycled one when there is one. Below
    /// [`POOLED_MIN`] always a fresh one.
    pub fn take(&self, len: usize) -> Vec<u8> {
        if len < POOLED_MIN {
            return Vec::with_capacity(len);
        }
        let capacity = len.div_ceil(GRANULE) * GRANULE;
        let mut idle = self.idle();
        if let Some(buf) = idle.by_capacity.get_mut(&capacity).and_then(Vec::pop) {
            idle.bytes -= buf.capacity();
            return buf;
        }
        drop(idle);
        Vec::with_capacity(capacity)
    }

    /// Returns a buffer that is no longer needed (its contents are discarded).
    pub fn give_back(&self, mut buf: Vec<u8>) {
        let capacity = buf.capacity();
        if capacity < POOLED_MIN || capacity % GRANULE != 0 {
            return;
        }
        buf.clear();
        let mut idle = self.idle();
        if idle.bytes + capacity <= self.max_idle {
            idle.bytes += capacity;
            idle.by_capacity.entry(capacity).or_default().push(buf);
        }
    }

    /// Freezes a filled buffer; a pooled one returns to `pool` when the last reference to the
    /// returned `Bytes` (or any slice of it) drops.
    pub fn freeze(pool: &Arc<BufPool>, buf: Vec<u8>) -> Bytes {
        if buf.capacity() < POOLED_MIN {
            return Bytes::from(buf);
        }
        Bytes::from_owner(Pooled {
            buf,
            pool: Arc::clone(pool),
        })
    }

    /// Bytes held by idle buffers.
    pub fn idle_bytes(&self) -> usize {
        self.idle().bytes
    }
}

/// A pooled buffer inside a [`Bytes`].
struct Pooled {
    buf: Vec<u8>,
    pool: Arc<BufPool>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_returns_when_the_last_reference_drops_and_is_reused() {
        let pool = Arc::new(BufPool::new(64 << 20));
        let len = POOLED_MIN * 3 + 5;
        let mut buf = pool.take(len);
        buf.resize(len, 7);
        let first = buf.as_ptr();
        let value = BufPool::freeze(&pool, buf);
        let slice = value.slice(10..20);
        drop(value);
        assert_eq!(pool.idle_bytes(), 0, "a slice still holds the buffer");
        assert_eq!(&slice[..], &[7; 10]);
        drop(slice);
        assert_eq!(pool.idle_bytes(), len.div_ceil(GRANULE) * GRANULE);
        let again = pool.take(len);
        assert_eq!(
            again.as_ptr(),
            first,
            "the idle buffer was handed out again"
        );
        assert!(again.is_empty());
        assert_eq!(pool.idle_bytes(), 0);
    }

    #[test]
    fn small_buffers_are_not_pooled() {
        let pool = Arc::new(BufPool::new(64 << 20));
        let mut buf = pool.take(100);
        buf.resize(100, 1);
        drop(BufPool::freeze(&pool, buf));
        assert_eq!(pool.idle_bytes(), 0);
    }

    #[test]
    fn idle_buffers_are_bounded() {
        let pool = BufPool::new(40 << 20);
        let bufs: Vec<Vec<u8>> = (0..5).map(|_| pool.take(16 << 20)).collect();
        for b in bufs {
            pool.give_back(b);
        }
        assert_eq!(pool.idle_bytes(), 32 << 20);
    }
}
