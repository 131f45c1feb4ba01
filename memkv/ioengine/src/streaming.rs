//! Copies into memory that is kept, not read soon: non-temporal ("streaming") stores, which
//! write whole cache lines to memory without first reading them into the cache and without
//! evicting what the cache holds.
//!
//! A server lands each received value in memory of its own, usually not in the cache (a
//! buffer freed by a value written long ago). An ordinary copy there, the kernel's copy out of
//! the socket included, reads every destination line from memory before overwriting it and
//! leaves the whole value in the cache, where it pushes out the socket's buffers and the
//! other core's working set. [`extend_streaming`] writes the lines without either. On x86-64
//! (SSE2, present on every such CPU) it uses `MOVNTDQ`; elsewhere it is an ordinary copy.

/// Appends `src` to `dst`, writing the bytes that fill whole 64-byte lines of `dst` with
/// non-temporal stores (the few bytes before the first line boundary and after the last are
/// copied as usual), then fences, so that the bytes are in order with every later store of
/// this thread (the lock or channel that hands `dst` to another thread included).
///
/// For destinations that will not be read soon: a buffer read right after this call is read
/// from memory, not from the cache.
pub fn extend_streaming(dst: &mut Vec<u8>, src: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    x86::extend_streaming(dst, src);
    #[cfg(not(target_arch = "x86_64"))]
    dst.extend_from_slice(src);
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_sfence, _mm_stream_si128};

    /// A cache line: the unit non-temporal stores fill.
    const LINE: usize = 64;
    /// Copies shorter than this gain nothing from streaming (a line or two of a value).
    const MIN_STREAMED: usize = 4 * LINE;

    pub(super) fn extend_streaming(dst: &mut Vec<u8>, src: &[u8]) {
        if src.len() < MIN_STREAMED {
            dst.extend_from_slice(src);
            return;
        }
        dst.reserve(src.len());
        let old_len = dst.len();
        let base = dst.as_mut_ptr().wrapping_add(old_len);
        // Bytes up to the first line boundary of the destination (less than a line, since
        // `src` is longer than one).
        let head = (LINE - base.addr() % LINE) % LINE;
        let lines = (src.len() - head) / LINE;
        let body_end = head + lines * LINE;
        // SAFETY: `reserve` made room for `src.len()` bytes after `old_len`, so `base` and
        // every offset below `src.len()` lie inside `dst`'s allocation; `src` is a shared
        // borrow, so it cannot overlap the spare capacity of `dst`, borrowed mutably. The
        // body's destination addresses are 64-byte aligned (`head` brings the first there and
        // each step adds a line), which `_mm_stream_si128` requires (16 bytes); the loads
        // from `src` are unaligned loads. SSE2, which both intrinsics need, is part of every
        // x86-64 CPU. The fence orders the weakly ordered streaming stores before every
        // later store, and `set_len` then covers exactly the bytes written.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), base, head);
            let mut at = head;
            while at < body_end {
                let from = src.as_ptr().add(at).cast::<__m128i>();
                let to = base.add(at).cast::<__m128i>();
                let a = _mm_loadu_si128(from);
                let b = _mm_loadu_si128(from.add(1));
                let c = _mm_loadu_si128(from.add(2));
                let d = _mm_loadu_si128(from.add(3));
                _mm_stream_si128(to, a);
                _mm_stream_si128(to.add(1), b);
                _mm_stream_si128(to.add(2), c);
                _mm_stream_si128(to.add(3), d);
                at += LINE;
            }
            std::ptr::copy_nonoverlapping(
                src.as_ptr().add(body_end),
                base.add(body_end),
                src.len() - body_end,
            );
            _mm_sfence();
            dst.set_len(old_len + src.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    #[test]
    fn appends_exactly_the_source_at_every_alignment_and_length() {
        for start in [0usize, 1, 15, 16, 63, 64, 65, 4095] {
            for len in [0usize, 1, 63, 64, 255, 256, 257, 1000, 4096, 65_537] {
                let prefix = pattern(start, 7);
                let src = pattern(len, 3);
                let mut dst = prefix.clone();
                extend_streaming(&mut dst, &src);
                assert_eq!(dst.len(), start + len, "start {start} len {len}");
                assert_eq!(
                    &dst[..start],
                    &prefix[..],
                    "prefix kept: start {start} len {len}"
                );
                assert_eq!(&dst[start..], &src[..], "copied: start {start} len {len}");
            }
        }
    }

    #[test]
    fn appends_into_spare_capacity_without_touching_what_follows() {
        // Capacity far beyond what is appended: only `len` bytes become part of the vector.
        let mut dst = Vec::with_capacity(1 << 20);
        dst.extend_from_slice(&[9u8; 3]);
        let src = pattern(300_001, 11);
        extend_streaming(&mut dst, &src);
        extend_streaming(&mut dst, &src[..517]);
        assert_eq!(dst.len(), 3 + 300_001 + 517);
        assert_eq!(&dst[..3], &[9, 9, 9]);
        assert_eq!(&dst[3..300_004], &src[..]);
        assert_eq!(&dst[300_004..], &src[..517]);
    }
}
