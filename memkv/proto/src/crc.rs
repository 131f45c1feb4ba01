//! CRC32C (Castagnoli): the end-to-end value checksum and the payload checksum of `checksum`
//! integrity mode, with the kernel that computes it fastest on the CPU at hand.
//!
//! Two kernels, chosen once per process ([`CrcKernel::detected`]):
//!
//! - [`CrcKernel::Clmul`] (`crc-fast`): carry-less multiplication fused with the CRC32
//!   instruction. With AVX-512 and VPCLMULQDQ it folds 64 bytes per instruction: about 50 GiB/s
//!   in cache on the Intel guests, twice the CRC32 instruction. On aarch64 it is the PMULL kernel.
//! - [`CrcKernel::Crc32Instruction`] (the `crc32c` crate): three interleaved streams of the SSE4.2
//!   CRC32 instruction. Without AVX-512, `crc-fast` falls back to 128-bit PCLMULQDQ, which on an
//!   AMD EPYC (Zen 3) guest ran at 10-16 GiB/s where the CRC32 instruction ran at 16-22
//!   (docs/benchmarks.md): such x86-64 CPUs use this one.
//!
//! Both compute the same function; the tests hold each against the other and against known
//! answers, so the choice changes speed, never a checksum.

use std::sync::OnceLock;

/// A CRC32C implementation. Every kernel computes the same checksum of the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrcKernel {
    /// `crc-fast`: carry-less multiplication (VPCLMULQDQ with AVX-512, PCLMULQDQ, PMULL).
    Clmul,
    /// The `crc32c` crate: the SSE4.2 (or ARMv8) CRC32C instruction, three streams at once
    /// (a table-driven fallback on CPUs without it).
    Crc32Instruction,
}

impl CrcKernel {
    /// Every kernel, for tests and benchmarks that compare them.
    pub const ALL: [CrcKernel; 2] = [CrcKernel::Clmul, CrcKernel::Crc32Instruction];

    /// The kernel this process uses: [`CrcKernel::Clmul`] where it folds 512-bit vectors
    /// (x86-64 with AVX-512VL and VPCLMULQDQ) or on a CPU other than x86-64, else
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
            } else {
                CrcKernel::Crc32Instruction
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            CrcKernel::Clmul
        }
    }

    /// A short name for logs and benchmark reports.
    pub fn name(self) -> &'static str {
        match self {
            CrcKernel::Clmul => "clmul",
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
            CrcKernel::Crc32Instruction => crc32c::crc32c_append(crc, data),
        }
    }
}

/// CRC32C (Castagnoli) of `data`: the end-to-end value checksum and the payload checksum of
/// `checksum` integrity mode.
#[inline]
pub fn crc32c(data: &[u8]) -> u32 {
    match CrcKernel::detected() {
        CrcKernel::Clmul => crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, data) as u32,
        CrcKernel::Crc32Instruction => crc32c::crc32c(data),
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

/// Arithmetic modulo the CRC32C polynomial, bit-reflected as the CRC itself is.
mod gf2 {
    /// CRC32C (Castagnoli) polynomial, reflected.
    const POLY: u32 = 0x82f6_3b78;
    /// `1` (that is, `x^0`) in reflected form.
    const ONE: u32 = 1 << 31;

    /// `b * x` modulo the polynomial.
    const fn times_x(b: u32) -> u32 {
        if b & 1 != 0 { (b >> 1) ^ POLY } else { b >> 1 }
    }

    /// `a * b` modulo the polynomial, one bit of `a` at a time: the reference, and the
    /// compile-time tables' arithmetic.
    const fn mul_bitwise(a: u32, mut b: u32) -> u32 {
        let mut m = ONE;
        let mut p = 0;
        while m != 0 {
            if a & m != 0 {
                p ^= b;
            }
            b = times_x(b);
            m >>= 1;
        }
        p
    }

    /// `m * x^4` for each value `m` of a word's low four bits (the terms `x^28..x^31`): what
    /// those bits become, reduced, when a word is multiplied by `x^4`.
    const TIMES_X4_LOW: [u32; 16] = {
        let mut table = [0u32; 16];
        let mut m = 0;
        while m < 16 {
            table[m] = times_x(times_x(times_x(times_x(m as u32))));
            m += 1;
        }
        table
    };

    /// `a * b` modulo the polynomial, four bits of `a` at a time (Horner's rule over `a`'s
    /// nibbles, from `x^28..x^31` down to `x^0..x^3`): about a third of the work of
    /// [`mul_bitwise`], which batch frames pay twice per value for their data CRC.
    pub(super) fn mul(a: u32, b: u32) -> u32 {
        // `b` times each polynomial of degree < 4; a nibble's bit 3 is its `x^0` term.
        let mut multiples = [0u32; 16];
        let mut shifted = b;
        for bit in [8, 4, 2, 1] {
            multiples[bit] = shifted;
            shifted = times_x(shifted);
        }
        for n in 1..16usize {
            let low = n & n.wrapping_neg();
            multiples[n] = multiples[n & (n - 1)] ^ multiples[low];
        }
        let mut p = 0u32;
        for k in 0..8 {
            // Nibble k from the low end of the word holds the terms x^(31-4k-3)..x^(31-4k).
            let nibble = (a >> (4 * k)) & 0xf;
            p = (p >> 4) ^ TIMES_X4_LOW[(p & 0xf) as usize] ^ multiples[nibble as usize];
        }
        p
    }

    /// `x^(2^k)` modulo the polynomial, for k in 0..64.
    const X_POW_2K: [u32; 64] = {
        let mut table = [0u32; 64];
        let mut p = ONE >> 1; // x^1
        let mut k = 0;
        while k < 64 {
            table[k] = p;
            p = mul_bitwise(p, p);
            k += 1;
        }
        table
    };

    /// `x^(8 n)` modulo the polynomial: the factor that shifts a CRC past `n` zero bytes.
    pub(super) fn x_pow_8n(mut n: u64) -> u32 {
        let mut p = ONE;
        // One step per bit set in n (8 n = n * 2^3): a batch of 4 KiB values takes one.
        while n != 0 {
            let k = (n.trailing_zeros() + 3) as usize;
            // Times one is the factor itself: a power of two costs no multiplication.
            p = if p == ONE {
                X_POW_2K[k % 64]
            } else {
                mul(X_POW_2K[k % 64], p)
            };
            n &= n - 1;
        }
        p
    }

    #[cfg(test)]
    mod tests {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #[test]
            fn nibble_multiplication_is_bitwise_multiplication(a: u32, b: u32) {
                prop_assert_eq!(mul(a, b), mul_bitwise(a, b));
            }
        }

        #[test]
        fn nibble_multiplication_agrees_on_the_edges() {
            for a in [0, ONE, ONE >> 1, 1, u32::MAX, POLY] {
                for b in [0, ONE, 1, u32::MAX, POLY, 0xdead_beef] {
                    assert_eq!(mul(a, b), mul_bitwise(a, b), "{a:#x} * {b:#x}");
                }
            }
        }
    }
}
