//! Recycled aligned buffers for reading records from drives.
//!
//! A fresh [`AlignedBuf`] of 256 KiB or more is a new anonymous mapping: an `O_DIRECT` read
//! into it faults in and zeroes every page before the device writes it, and dropping it
//! unmaps it again (a TLB shootdown on every core). On 4 MiB gets from a cold cache that was
//! a fifth of the server's CPU. Reads of that size take their buffer from one of a few pools
//! of power-of-two sizes instead; the buffer returns to its pool when the value it holds is
//! dropped (after it was sent, or evicted from the RAM cache).

use memkv_ioengine::{AlignedBuf, BufPool};

/// Reads shorter than this use a fresh buffer from the allocator, which is cheap at that
/// size (and such buffers are not mappings of their own).
const MIN_POOLED: usize = 256 * 1024;

/// Idle bytes (of address space) each size class may keep for reuse. A class keeps up to a
/// full queue of buffers: with 16 MiB, 32 cold 4 MiB gets in flight (each read takes an 8 MiB
/// buffer: the value and its header block) kept two, and the other reads faulted in and
/// zeroed fresh mappings, 18% of the server's CPU. Only the pages reads touched are
/// resident: about the size of the values read.
const IDLE_BYTES_PER_CLASS: usize = 256 << 20;

/// Size-classed pools of read buffers, from [`MIN_POOLED`] up to the first power of two that
/// holds a whole extent.
pub(crate) struct ReadBufs {
    classes: Vec<BufPool>,
}

impl ReadBufs {
    /// Pools for reads of up to `max_len` bytes (an extent); each keeps at most `queue_depth`
    /// idle buffers and at most [`IDLE_BYTES_PER_CLASS`] bytes (at least one buffer).
    pub(crate) fn new(max_len: u64, queue_depth: u32) -> ReadBufs {
        let mut classes = Vec::new();
        let mut len = MIN_POOLED;
        loop {
            let idle = (IDLE_BYTES_PER_CLASS / len).clamp(1, queue_depth.max(1) as usize);
            classes.push(BufPool::new(len, idle));
            if len as u64 >= max_len {
                break;
            }
            len *= 2;
        }
        ReadBufs { classes }
    }

    /// A buffer of exactly `len` bytes whose contents are unspecified: read into all of it.
    pub(crate) fn get(&self, len: usize) -> AlignedBuf {
        if len < MIN_POOLED {
            return AlignedBuf::with_len(len);
        }
        match self.classes.iter().find(|p| p.buf_len() >= len) {
            Some(pool) => {
                let mut buf = pool.get();
                buf.set_len(len);
                buf
            }
            None => AlignedBuf::with_len(len),
        }
    }

    /// Buffers handed out and not yet returned, over every class.
    #[cfg(test)]
    pub(crate) fn outstanding(&self) -> usize {
        self.classes.iter().map(BufPool::outstanding).sum()
    }

    /// Buffers allocated fresh, over every class (the rest were recycled).
    #[cfg(test)]
    pub(crate) fn allocations(&self) -> u64 {
        self.classes.iter().map(BufPool::allocations).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_get_exact_lengths_and_large_buffers_are_recycled() {
        let bufs = ReadBufs::new(8 << 20, 32);
        // Small reads come from the allocator, not a pool.
        assert_eq!(bufs.get(4096).len(), 4096);
        assert_eq!(bufs.allocations(), 0);
        // Each large read has the length asked for, in the smallest class that holds it.
        for len in [MIN_POOLED, 300 << 10, 4 << 20, (4 << 20) + 4096, 8 << 20] {
            let buf = bufs.get(len);
            assert_eq!(buf.len(), len);
            assert!(buf.capacity() >= len);
            assert!(buf.capacity() < 2 * len.next_power_of_two());
        }
        assert_eq!(
            bufs.outstanding(),
            0,
            "dropped buffers return to their pools"
        );
        let fresh = bufs.allocations();
        // The same sizes again: every buffer is recycled, also through `Bytes`.
        for len in [MIN_POOLED, 300 << 10, 4 << 20, (4 << 20) + 4096, 8 << 20] {
            let bytes = bufs.get(len).into_bytes();
            assert_eq!(bufs.outstanding(), 1);
            drop(bytes);
        }
        assert_eq!(bufs.allocations(), fresh);
        // Larger than an extent: a fresh buffer, still of the right length.
        assert_eq!(bufs.get(16 << 20).len(), 16 << 20);
    }

    #[test]
    fn a_full_queue_of_4_mib_reads_is_recycled() {
        let bufs = ReadBufs::new(32 << 20, 32);
        let len = (4 << 20) + 8192;
        let first: Vec<AlignedBuf> = (0..32).map(|_| bufs.get(len)).collect();
        let fresh = bufs.allocations();
        assert_eq!(fresh, 32);
        drop(first);
        let again: Vec<AlignedBuf> = (0..32).map(|_| bufs.get(len)).collect();
        assert_eq!(
            bufs.allocations(),
            fresh,
            "32 reads in flight at once take the 32 buffers of the last 32"
        );
        drop(again);
    }
}
