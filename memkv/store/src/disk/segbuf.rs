//! [`SegBuf`]: the bytes appended to a drive's open segment, staged where the flusher can
//! write them as they are.
//!
//! Records are appended into an aligned buffer taken from the store's pool of extent-sized
//! buffers (`Inner::part_bufs`), and the flusher hands that very buffer to the I/O engine: a
//! put's value is copied once, from the request into the buffer, and no fresh memory is mapped
//! and faulted in per write. The buffer returns to the pool when the write completes.

use memkv_ioengine::{AlignedBuf, BufPool};

/// An append-only staging buffer of at most one extent, filled from a [`BufPool`].
pub(crate) struct SegBuf {
    pool: BufPool,
    buf: AlignedBuf,
}

impl SegBuf {
    /// An empty buffer; memory is taken from `pool` on the first append.
    pub(crate) fn new(pool: BufPool) -> SegBuf {
        SegBuf {
            pool,
            buf: AlignedBuf::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Grows the buffer to `new_len` bytes and returns the new bytes, whose contents are
    /// unspecified (a recycled buffer holds an earlier user's data).
    fn grow(&mut self, new_len: usize) -> &mut [u8] {
        if self.buf.capacity() == 0 {
            self.buf = self.pool.get();
            self.buf.set_len(0);
        }
        let at = self.buf.len();
        self.buf.set_len(new_len);
        &mut self.buf[at..]
    }

    /// Appends `data`.
    ///
    /// # Panics
    ///
    /// When the buffer would exceed one extent (the pool's buffer length): the lane never
    /// appends past the end of its segment.
    pub(crate) fn extend(&mut self, data: &[u8]) {
        let new_len = self.len() + data.len();
        self.grow(new_len).copy_from_slice(data);
    }

    /// Appends `n` bytes for the caller to fill (their contents are unspecified until then).
    pub(crate) fn append_slot(&mut self, n: usize) -> &mut [u8] {
        let new_len = self.len() + n;
        self.grow(new_len)
    }

    /// Zero-fills up to `new_len` bytes (record and block padding: no stale bytes of a
    /// recycled buffer ever reach the drive). Does nothing if the buffer is that long.
    pub(crate) fn zero_to(&mut self, new_len: usize) {
        if new_len > self.len() {
            self.grow(new_len).fill(0);
        }
    }

    /// Takes the staged bytes, leaving the buffer empty.
    pub(crate) fn take(&mut self) -> AlignedBuf {
        std::mem::take(&mut self.buf)
    }
}

impl std::fmt::Debug for SegBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegBuf").field("len", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_and_padding_are_exact_in_a_recycled_buffer() {
        let pool = BufPool::new(64 * 1024, 2);
        // Leave garbage in a pooled buffer, then reuse it.
        let mut dirty = pool.get();
        dirty.fill(0xAB);
        drop(dirty);
        let mut seg = SegBuf::new(pool.clone());
        assert!(seg.is_empty());
        seg.append_slot(3).copy_from_slice(b"hea");
        seg.extend(b"der");
        seg.zero_to(16);
        seg.extend(&[7u8; 100]);
        seg.zero_to(4096);
        assert_eq!(seg.len(), 4096);
        let buf = seg.take();
        assert!(seg.is_empty());
        assert_eq!(&buf[..6], b"header");
        assert!(buf[6..16].iter().all(|&b| b == 0));
        assert!(buf[16..116].iter().all(|&b| b == 7));
        assert!(
            buf[116..].iter().all(|&b| b == 0),
            "padding is zero, not stale"
        );
        assert_eq!(pool.outstanding(), 1);
        drop(buf);
        assert_eq!(
            pool.outstanding(),
            0,
            "the written buffer returns to the pool"
        );
    }
}
