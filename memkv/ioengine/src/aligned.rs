//! The raw aligned heap allocation under [`AlignedBuf`](crate::AlignedBuf).
//!
//! This is the only file that allocates or frees direct-I/O memory. [`RawBuf`] is a
//! `Box<[u8]>` with a guaranteed alignment of [`ALIGN`] bytes: it owns one allocation, is
//! always fully initialised (zeroed when allocated), and frees it on drop.
//!
//! Small buffers come from the global allocator. Large ones (at least [`MMAP_MIN`]) come
//! straight from an anonymous `mmap`: the kernel hands out zeroed pages lazily, whereas an
//! aligned `alloc_zeroed` has to `memset` the whole buffer (the allocator's calloc shortcut
//! does not apply to over-aligned requests), which for multi-MiB values costs more than the
//! I/O.

use std::alloc::{self, Layout};
use std::ptr::NonNull;

/// Alignment of every buffer's start address, in bytes. A multiple of every logical block
/// size the engine accepts, so the address is always valid for `O_DIRECT`.
pub(crate) const ALIGN: usize = 4096;

/// Capacities from this size up are mapped with `mmap` instead of the global allocator.
const MMAP_MIN: usize = 256 * 1024;

/// One owned, zero-initialised, [`ALIGN`]-aligned heap allocation of `cap` bytes.
///
/// `cap` is a multiple of [`ALIGN`]; `cap == 0` means "no allocation" (the pointer is dangling
/// and is never dereferenced or freed).
pub(crate) struct RawBuf {
    ptr: NonNull<u8>,
    cap: usize,
}

// SAFETY: `RawBuf` uniquely owns its allocation, like `Box<[u8]>`; nothing else holds the
// pointer, so moving it to another thread cannot create shared mutable access.
unsafe impl Send for RawBuf {}
// SAFETY: `&RawBuf` only hands out `&[u8]` (shared, read-only) views; mutation needs
// `&mut RawBuf`, so shared references across threads are as safe as for `Box<[u8]>`.
unsafe impl Sync for RawBuf {}

impl RawBuf {
    /// An empty buffer that owns no memory.
    pub(crate) const fn empty() -> RawBuf {
        RawBuf {
            ptr: NonNull::<[u8; ALIGN]>::dangling().cast(),
            cap: 0,
        }
    }

    /// Allocates `cap` zeroed bytes aligned to [`ALIGN`]. `cap` is rounded up to a multiple of
    /// [`ALIGN`]. Aborts the process on allocation failure, like `Vec`.
    ///
    /// Large sizes are mapped, not allocated, so they cost nothing until their pages are
    /// touched (see the module docs).
    pub(crate) fn zeroed(cap: usize) -> RawBuf {
        let cap = cap.div_ceil(ALIGN) * ALIGN;
        if cap == 0 {
            return RawBuf::empty();
        }
        let layout = layout(cap);
        let ptr = if cap >= MMAP_MIN {
            // SAFETY: an anonymous private mapping with a null hint creates new memory and
            // touches no existing mapping; `cap` is non-zero. The result is checked below.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    cap,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            // mmap returns page-aligned, zero-filled memory; pages are 4096 bytes on the
            // platforms this crate builds for (larger pages are multiples of it).
            if ptr == libc::MAP_FAILED {
                std::ptr::null_mut()
            } else {
                ptr.cast::<u8>()
            }
        } else {
            // SAFETY: `layout` has a non-zero size (cap > 0 checked above) and a valid
            // power-of-two alignment, which is all `alloc_zeroed` requires.
            unsafe { alloc::alloc_zeroed(layout) }
        };
        match NonNull::new(ptr) {
            Some(ptr) => RawBuf { ptr, cap },
            None => alloc::handle_alloc_error(layout),
        }
    }

    /// The capacity in bytes (a multiple of [`ALIGN`], or 0).
    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }

    /// The whole allocation as a slice.
    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` points to `cap` initialised bytes owned by `self` (or is a dangling,
        // well-aligned pointer with `cap == 0`, which `from_raw_parts` allows); the borrow of
        // `self` keeps the memory alive and unaliased by writers for the slice's lifetime.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.cap) }
    }

    /// The whole allocation as a mutable slice.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`; the exclusive borrow of `self` guarantees no other
        // reference to the memory exists while the slice lives.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.cap) }
    }

    /// The start address, for handing to the kernel. Writing through it is allowed while the
    /// caller holds the `RawBuf` exclusively (the submission thread does, for in-flight ops).
    pub(crate) fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl Drop for RawBuf {
    fn drop(&mut self) {
        if self.cap == 0 {
            return;
        }
        if self.cap >= MMAP_MIN {
            // SAFETY: `ptr` and `cap` describe exactly the mapping made in `zeroed` (the
            // capacity never changes and decides which allocator was used); it is unmapped
            // only here, once, and no reference into it outlives `self`.
            let ret = unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.cap) };
            debug_assert_eq!(ret, 0, "munmap of an owned mapping failed");
        } else {
            // SAFETY: `ptr` came from `alloc_zeroed` with exactly `layout(self.cap)` (the
            // capacity never changes after allocation) and is freed only here, once.
            unsafe { alloc::dealloc(self.ptr.as_ptr(), layout(self.cap)) };
        }
    }
}

fn layout(cap: usize) -> Layout {
    Layout::from_size_align(cap, ALIGN).expect("buffer capacity overflows isize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_is_aligned_zeroed_and_rounded() {
        let mut raw = RawBuf::zeroed(5000);
        assert_eq!(raw.capacity(), 8192);
        assert_eq!(raw.as_mut_ptr() as usize % ALIGN, 0);
        assert!(raw.as_slice().iter().all(|&b| b == 0));
        raw.as_mut_slice()[8191] = 7;
        assert_eq!(raw.as_slice()[8191], 7);
    }

    #[test]
    fn large_buffers_are_mapped_zeroed_and_aligned() {
        let mut raw = RawBuf::zeroed(MMAP_MIN + 1);
        assert_eq!(raw.capacity(), MMAP_MIN + ALIGN);
        assert_eq!(raw.as_mut_ptr() as usize % ALIGN, 0);
        assert!(raw.as_slice().iter().all(|&b| b == 0));
        raw.as_mut_slice()[MMAP_MIN] = 1;
        assert_eq!(raw.as_slice()[MMAP_MIN], 1);
    }

    #[test]
    fn empty_owns_nothing() {
        let raw = RawBuf::zeroed(0);
        assert_eq!(raw.capacity(), 0);
        assert!(raw.as_slice().is_empty());
    }
}
