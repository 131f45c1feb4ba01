//! [`SegBuf`]: the bytes appended to a drive's open segment, staged where the flusher can
//! write them as they are.
//!
//! Records are appended into an aligned buffer taken from the store's pool of extent-sized
//! buffers (`Inner::part_bufs`), and the flusher hands that very buffer to the I/O engine:
//! no fresh memory is mapped and faulted in per write, and the buffer returns to the pool when
//! the write completes.
//!
//! A large value that arrived in a block-aligned buffer is not copied at all
//! ([`SegBuf::extend_shared`]): its place in the buffer is left untouched (a *hole*) and
//! [`SegBuf::take`] hands out the value's own bytes for it, between slices of the buffer.

use bytes::Bytes;
use memkv_ioengine::{AlignedBuf, BufPool};

/// An append-only staging buffer of at most one extent, filled from a [`BufPool`].
pub(crate) struct SegBuf {
    pool: BufPool,
    buf: AlignedBuf,
    /// Stretches of the buffer written from other bytes: (offset in the buffer, the bytes),
    /// in order.
    holes: Vec<(usize, Bytes)>,
}

/// Staged bytes to write: (offset from the start of the staging buffer, the bytes), in order
/// and back to back.
pub(crate) type Pieces = Vec<(usize, Bytes)>;

impl SegBuf {
    /// An empty buffer; memory is taken from `pool` on the first append.
    pub(crate) fn new(pool: BufPool) -> SegBuf {
        SegBuf {
            pool,
            buf: AlignedBuf::new(),
            holes: Vec::new(),
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

    /// Appends `data` without copying it: the flusher writes these bytes themselves. For
    /// direct I/O the caller makes sure that `data` starts on a block boundary in memory and
    /// that both `len()` and `data.len()` are multiples of the drive's block size.
    pub(crate) fn extend_shared(&mut self, data: Bytes) {
        let at = self.len();
        // The hole's bytes in the buffer are never read or written: only the length moves.
        self.grow(at + data.len());
        self.holes.push((at, data));
    }

    /// Takes the staged bytes, leaving the buffer empty: slices of the buffer and, for its
    /// holes, the bytes appended with [`extend_shared`](Self::extend_shared).
    pub(crate) fn take(&mut self) -> Pieces {
        let buf = std::mem::take(&mut self.buf);
        let len = buf.len();
        let holes = std::mem::take(&mut self.holes);
        if len == 0 {
            return Vec::new();
        }
        if holes.is_empty() {
            return vec![(0, buf.into_bytes())];
        }
        let whole = buf.into_bytes();
        let mut pieces = Vec::with_capacity(2 * holes.len() + 1);
        let mut at = 0;
        for (start, data) in holes {
            if start > at {
                pieces.push((at, whole.slice(at..start)));
            }
            at = start + data.len();
            pieces.push((start, data));
        }
        if len > at {
            pieces.push((at, whole.slice(at..len)));
        }
        pieces
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
    fn shared_bytes_are_handed_out_in_their_place_without_a_copy() {
        let pool = BufPool::new(64 * 1024, 2);
        let mut seg = SegBuf::new(pool.clone());
        seg.extend(b"head");
        seg.zero_to(4096);
        let value = AlignedBuf::from_slice(&[9u8; 8192]).into_bytes();
        seg.extend_shared(value.clone());
        seg.extend(b"tail");
        seg.zero_to(4 * 4096);
        let value2 = AlignedBuf::from_slice(&[5u8; 4096]).into_bytes();
        seg.extend_shared(value2.clone());
        assert_eq!(seg.len(), 5 * 4096);
        let pieces = seg.take();
        assert!(seg.is_empty());
        let layout: Vec<(usize, usize)> = pieces.iter().map(|(at, b)| (*at, b.len())).collect();
        assert_eq!(
            layout,
            [(0, 4096), (4096, 8192), (3 * 4096, 4096), (4 * 4096, 4096)],
            "back to back, holes in their places"
        );
        assert_eq!(&pieces[0].1[..4], b"head");
        assert!(pieces[0].1[4..].iter().all(|&b| b == 0));
        assert_eq!(
            pieces[1].1.as_ptr(),
            value.as_ptr(),
            "the value's own bytes, not a copy"
        );
        assert_eq!(&pieces[2].1[..4], b"tail");
        assert!(pieces[2].1[4..].iter().all(|&b| b == 0));
        assert_eq!(pieces[3].1.as_ptr(), value2.as_ptr());
        assert_eq!(pool.outstanding(), 1, "the slices hold the staging buffer");
        drop(pieces);
        assert_eq!(pool.outstanding(), 0, "and give it back when written");
    }

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
        let mut pieces = seg.take();
        assert_eq!(pieces.len(), 1, "no holes: the buffer in one piece");
        let (at, buf) = pieces.pop().expect("one piece");
        assert_eq!(at, 0);
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
