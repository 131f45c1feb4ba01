//! CRC32C (Castagnoli): the end-to-end checksum of every value, the payload checksum of
//! `checksum` integrity mode and the checksum of the disk engine's records, computed with the
//! kernel that is fastest on the CPU at hand, and combined without the bytes
//! ([`crc32c_combine`]).
//!
//! Three kernels, one chosen per process ([`CrcKernel::detected`]):
//!
//! - [`CrcKernel::Clmul`] (`crc-fast`): carry-less multiplication fused with the CRC32
//!   instruction. With AVX-512 and VPCLMULQDQ it folds 64 bytes per instruction: about 50 GiB/s
//!   in cache on the Intel guests, twice the CRC32 instruction. On aarch64 it is the PMULL kernel.
//! - [`CrcKernel::Fused`] (this crate's `x86` module): on x86-64 CPUs with VPCLMULQDQ but not
//!   AVX-512 (AMD Zen 3), 256-bit carry-less folding and three CRC32-instruction streams side by
//!   side, on separate execution units: 36-38 GiB/s in cache at 64 KiB to 4 MiB on a Zen 3 guest,
//!   where either alone sums 22-24 (`crc-fast`'s 128-bit fallback there: 15-17).
//! - [`CrcKernel::Crc32Instruction`] (the `crc32c` crate): three interleaved streams of the SSE4.2
//!   CRC32 instruction, on x86-64 CPUs with neither.
//!
//! All compute the same function; the tests hold each against the others and against known
//! answers, so the choice changes speed, never a checksum.

use std::sync::OnceLock;

// The only unsafe code of the crate: SIMD intrinsics behind a safe API.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86;

mod gf2;

/// A CRC32C implementation. Every kernel computes the same checksum of the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrcKernel {
    /// `crc-fast`: carry-less multiplication (VPCLMULQDQ with AVX-512, PCLMULQDQ, PMULL).
    Clmul,
    /// 256-bit VPCLMULQDQ folding and the CRC32 instruction side by side (x86-64 with AVX2 and
    /// VPCLMULQDQ). On a CPU without them it computes with [`CrcKernel::Crc32Instruction`].
    Fused,
    /// The `crc32c` crate: the SSE4.2 (or ARMv8) CRC32C instruction, three streams at once
    /// (a table-driven fallback on CPUs without it).
    Crc32Instruction,
}

impl CrcKernel {
    /// Every kernel, for tests and benchmarks that compare them.
    pub const ALL: [CrcKernel; 3] = [
        CrcKernel::Clmul,
        CrcKernel::Fused,
        CrcKernel::Crc32Instruction,
    ];

    /// The kernel this process uses: [`CrcKernel::Clmul`] where it folds 512-bit vectors
    /// (x86-64 with AVX-512VL and VPCLMULQDQ) or on a CPU other than x86-64;
    /// [`CrcKernel::Fused`] on other x86-64 CPUs with AVX2 and VPCLMULQDQ; else
    /// [`CrcKernel::Crc32Instruction`]. Detected on first use, then fixed.
    pub fn detected() -> CrcKernel {
        static KERNEL: OnceLock<CrcKernel> = OnceLock::new();
        *KERNEL.get_or_init(Self::detect)
    }

    fn detect() -> CrcKernel {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("vpclmulqdq")
            {
                CrcKernel::Clmul
            } else if fused().is_some() {
                CrcKernel::Fused
            } else {
                CrcKernel::Crc32Instruction
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            CrcKernel::Clmul
        }
    }

    /// Whether this CPU runs the kernel itself (rather than the fallback it names).
    pub fn runs_here(self) -> bool {
        match self {
            CrcKernel::Clmul | CrcKernel::Crc32Instruction => true,
            #[cfg(target_arch = "x86_64")]
            CrcKernel::Fused => fused().is_some(),
            #[cfg(not(target_arch = "x86_64"))]
            CrcKernel::Fused => false,
        }
    }

    /// A short name for logs and benchmark reports.
    pub fn name(self) -> &'static str {
        match self {
            CrcKernel::Clmul => "clmul",
            CrcKernel::Fused => "vpclmul256-crc32",
            CrcKernel::Crc32Instruction => "crc32-instruction",
        }
    }

    /// Extends a running CRC32C with more bytes with this kernel (see [`crc32c_append`]).
    #[inline]
    pub fn append(self, crc: u32, data: &[u8]) -> u32 {
        match self {
            CrcKernel::Clmul => {
                // The digest's state is the register before the final inversion; a CRC-32
                // register is 32 bits wide, held in the low half of the u64.
                let mut digest = crc_fast::Digest::new_with_init_state(
                    crc_fast::CrcAlgorithm::Crc32Iscsi,
                    u64::from(crc ^ 0xffff_ffff),
                );
                digest.update(data);
                digest.finalize() as u32
            }
            #[cfg(target_arch = "x86_64")]
            CrcKernel::Fused => match fused() {
                Some(kernel) => kernel.append(crc, data),
                None => crc32c::crc32c_append(crc, data),
            },
            #[cfg(not(target_arch = "x86_64"))]
            CrcKernel::Fused => crc32c::crc32c_append(crc, data),
            CrcKernel::Crc32Instruction => crc32c::crc32c_append(crc, data),
        }
    }
}

/// The fused kernel, where this CPU runs it (detected once).
#[cfg(target_arch = "x86_64")]
fn fused() -> Option<x86::Fused> {
    static FUSED: OnceLock<Option<x86::Fused>> = OnceLock::new();
    *FUSED.get_or_init(x86::Fused::detect)
}

/// CRC32C (Castagnoli) of `data`: the end-to-end value checksum and the payload checksum of
/// `checksum` integrity mode.
#[inline]
pub fn crc32c(data: &[u8]) -> u32 {
    match CrcKernel::detected() {
        CrcKernel::Clmul => crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, data) as u32,
        kernel => kernel.append(0, data),
    }
}

/// Extends a running CRC32C with more bytes, as if they followed the bytes already summed.
#[inline]
pub fn crc32c_append(crc: u32, data: &[u8]) -> u32 {
    CrcKernel::detected().append(crc, data)
}

/// CRC32C of `a ++ b` from the CRC32C of `a`, the CRC32C of `b` and the length of `b`, without
/// reading any bytes: batch frames derive their payload checksum from the per-value checksums.
///
/// Computed as `crc_a * x^(8 len_b) + crc_b` in GF(2)\[x\] modulo the CRC32C polynomial, with the
/// power built from a table of `x^(2^k)`: about `log2(len_b)` multiplications of 32 steps each,
/// where the `crc32c` crate's matrix method costs tens of microseconds per call.
#[inline]
pub fn crc32c_combine(crc_a: u32, crc_b: u32, len_b: usize) -> u32 {
    gf2::mul(gf2::x_pow_8n(len_b as u64), crc_a) ^ crc_b
}
