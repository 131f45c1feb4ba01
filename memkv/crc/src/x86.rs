//! CRC32C on x86-64 CPUs with VPCLMULQDQ on 256-bit registers but without AVX-512 (AMD Zen 3):
//! carry-less folding and the CRC32 instruction, run side by side on separate parts of a block.
//!
//! On such a CPU the CRC32 instruction (one 8-byte step per cycle, three streams to hide its
//! latency) and carry-less multiplication (two products per 32 bytes folded) each sum about
//! 22-24 GiB/s, and they use different execution units. A block is cut in four: the first part
//! is folded on four 256-bit registers, the other three are summed by three CRC32-instruction
//! streams, all in one loop, and the four sums are joined at the end of the block.
//!
//! The arithmetic, with bits reflected as the CRC is (a register's bit `i` is the coefficient of
//! `x^(127 - i)`; a 64-bit half's bit `i` that of `x^(63 - i)`):
//!
//! - Folding. A 128-bit lane `L * x^64 + H` (`L`: its low 64 bits) moved `d` bits further on is
//!   `L * x^(64 + d) + H * x^d`, the same modulo the polynomial as
//!   `clmul(L, x^(63 + d)) + clmul(H, x^(d - 1))`: a carry-less product of reflected halves
//!   comes out one bit short (it carries `x` once more), and each power is reduced to 32 bits,
//!   so the sum fits in 128 bits again. Adding the next data to it continues the message.
//! - Leaving the vectors. A lane `X` stands for the message folded into it, so the CRC register
//!   of everything folded is that of the 16 bytes of `X` summed from zero: two CRC32
//!   instructions.
//! - Joining. A register `r` followed by `n` more bytes whose own register (from zero) is `s`
//!   is `r * x^(8 n) + s`; `r * x^(8 n)` is the CRC32 instruction of the 64-bit carry-less
//!   product `clmul(r, x^(8 n - 33))` (32 bits of shift, and one more for the product's).
//!
//! Every constant is computed at compile time from the polynomial ([`crate::gf2`]). The tests
//! hold the kernel against the CRC32 instruction at every length around each boundary.

use std::arch::x86_64::{
    __m128i, __m256i, _mm_clmulepi64_si128, _mm_crc32_u64, _mm_cvtsi32_si128, _mm_cvtsi128_si64,
    _mm_extract_epi64, _mm_set_epi64x, _mm_xor_si128, _mm256_castsi256_si128,
    _mm256_clmulepi64_epi128, _mm256_extracti128_si256, _mm256_loadu_si256, _mm256_set_epi64x,
    _mm256_xor_si256, _mm256_zextsi128_si256,
};

use crate::gf2::x_pow;

/// 256-bit registers folded side by side.
const REGISTERS: usize = 4;
/// Bytes folded per step: one register's worth for each.
const FOLD_STEP: usize = REGISTERS * 32;
/// Bytes each CRC32-instruction stream sums per step: about what the folding does in the same
/// time on AMD Zen 3 (5 to 8 words measured alike; 6 slightly ahead).
const STREAM_STEP: usize = STREAM_WORDS * 8;
/// The same in 8-byte words.
const STREAM_WORDS: usize = 6;
/// Bytes per step: the folded part's and the three streams'.
const STEP: usize = FOLD_STEP + 3 * STREAM_STEP;
/// Steps in a large block. Each block ends with about 20 multiplications that join its sums,
/// so blocks are long: 17 KiB. Socket reads hand the kernel 64-256 KiB at a time.
const LARGE: usize = 64;
/// Steps in a small block, for what is left after the large ones: 2 KiB.
const SMALL: usize = 8;

/// The multipliers that fold a 128-bit lane `bits` further on: `x^(63 + bits)` for its low
/// half, `x^(bits - 1)` for its high half, each reduced to 32 bits and placed in the high half
/// of its 64-bit operand (where a reflected 64-bit half keeps the terms of degree below 32).
const fn fold_by(bits: u64) -> [i64; 2] {
    [
        ((x_pow(63 + bits) as u64) << 32) as i64,
        ((x_pow(bits - 1) as u64) << 32) as i64,
    ]
}

/// The multipliers that fold the lane `k` places (of 128 bits) from the last one onto it, for
/// `k` in `1..8`.
const LANE_FOLDS: [[i64; 2]; 2 * REGISTERS] = {
    let mut table = [[0; 2]; 2 * REGISTERS];
    let mut k = 1;
    while k < 2 * REGISTERS {
        table[k] = fold_by(128 * k as u64);
        k += 1;
    }
    table
};

/// The multipliers of one folding step: each register moves on past the whole folded step.
const STEP_FOLD: [i64; 2] = fold_by(8 * FOLD_STEP as u64);

/// Proof that this CPU has every feature the kernel enables: made only by [`Fused::detect`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fused(());

impl Fused {
    /// The kernel, if this CPU can run it.
    pub(crate) fn detect() -> Option<Fused> {
        let all = std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("vpclmulqdq")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
            && std::arch::is_x86_feature_detected!("sse4.2");
        all.then_some(Fused(()))
    }

    /// Extends the CRC32C `crc` (finalised, as `crc32c::crc32c_append` takes it) with `data`.
    pub(crate) fn append(self, crc: u32, data: &[u8]) -> u32 {
        // SAFETY: a `Fused` exists only where `detect` found every feature `update` enables.
        let register = unsafe { update(!crc, data) };
        !register
    }
}

/// The CRC register `register` after `data`: large blocks, then small ones, then the rest
/// (under 2 KiB) by the CRC32 instruction alone.
#[target_feature(enable = "avx2,vpclmulqdq,pclmulqdq,sse4.2")]
fn update(mut register: u32, data: &[u8]) -> u32 {
    let mut large = data.chunks_exact(LARGE * STEP);
    for block in &mut large {
        register = self::block::<LARGE>(register, block);
    }
    let mut small = large.remainder().chunks_exact(SMALL * STEP);
    for block in &mut small {
        register = self::block::<SMALL>(register, block);
    }
    !crc32c::crc32c_append(!register, small.remainder())
}

/// The CRC register `register` after `block`, `STEPS` steps long: its first part folded, the
/// other three summed by one CRC32-instruction stream each, in the same loop.
#[target_feature(enable = "avx2,vpclmulqdq,pclmulqdq,sse4.2")]
fn block<const STEPS: usize>(register: u32, block: &[u8]) -> u32 {
    assert_eq!(block.len(), STEPS * STEP);
    let (folded, streamed) = block.split_at(STEPS * FOLD_STEP);
    let (folded, _) = folded.as_chunks::<FOLD_STEP>();
    let (words, _) = streamed.as_chunks::<8>();
    let (steps0, rest) = words.split_at(STEPS * STREAM_WORDS);
    let (steps1, steps2) = rest.split_at(STEPS * STREAM_WORDS);
    let (steps0, _) = steps0.as_chunks::<STREAM_WORDS>();
    let (steps1, _) = steps1.as_chunks::<STREAM_WORDS>();
    let (steps2, _) = steps2.as_chunks::<STREAM_WORDS>();

    // The register enters the block as the first 32 bits of its first lane (a CRC's initial
    // value is a sum with the message's first bytes).
    let mut registers = [load(&folded[0], 0); REGISTERS];
    for (i, r) in registers.iter_mut().enumerate().skip(1) {
        *r = load(&folded[0], i);
    }
    registers[0] = _mm256_xor_si256(
        registers[0],
        _mm256_zextsi128_si256(_mm_cvtsi32_si128(register as i32)),
    );
    let (mut r0, mut r1, mut r2) = (0u64, 0u64, 0u64);
    let step_fold = _mm256_set_epi64x(STEP_FOLD[1], STEP_FOLD[0], STEP_FOLD[1], STEP_FOLD[0]);
    let steps = folded.iter().zip(steps0).zip(steps1.iter().zip(steps2));
    for (step, ((lanes, words0), (words1, words2))) in steps.enumerate() {
        if step > 0 {
            for (i, r) in registers.iter_mut().enumerate() {
                let low = _mm256_clmulepi64_epi128::<0x00>(*r, step_fold);
                let high = _mm256_clmulepi64_epi128::<0x11>(*r, step_fold);
                *r = _mm256_xor_si256(_mm256_xor_si256(low, high), load(lanes, i));
            }
        }
        for w in 0..STREAM_WORDS {
            r0 = _mm_crc32_u64(r0, u64::from_le_bytes(words0[w]));
            r1 = _mm_crc32_u64(r1, u64::from_le_bytes(words1[w]));
            r2 = _mm_crc32_u64(r2, u64::from_le_bytes(words2[w]));
        }
    }

    // The eight lanes, in message order, folded onto the last one.
    let mut lane = _mm256_extracti128_si256::<1>(registers[REGISTERS - 1]);
    for (i, r) in registers.iter().enumerate() {
        for (half, l) in [
            _mm256_castsi256_si128(*r),
            _mm256_extracti128_si256::<1>(*r),
        ]
        .into_iter()
        .enumerate()
        {
            let k = 2 * (REGISTERS - 1 - i) + 1 - half;
            if k > 0 {
                lane = _mm_xor_si128(lane, fold_lane(l, LANE_FOLDS[k]));
            }
        }
    }
    let low = _mm_cvtsi128_si64(lane) as u64;
    let high = _mm_extract_epi64::<1>(lane) as u64;
    let folded_register = _mm_crc32_u64(_mm_crc32_u64(0, low), high) as u32;

    let shift = const { x_pow(8 * (STEPS * STREAM_STEP) as u64 - 33) };
    let joined = past_stream(folded_register, shift) ^ r0 as u32;
    let joined = past_stream(joined, shift) ^ r1 as u32;
    past_stream(joined, shift) ^ r2 as u32
}

/// `register * x^(8 n)`, with `shift` = `x^(8 n - 33)`: the register moved past a stream of `n`
/// bytes.
#[target_feature(enable = "pclmulqdq,sse4.2")]
fn past_stream(register: u32, shift: u32) -> u32 {
    let product = _mm_clmulepi64_si128::<0x00>(
        _mm_cvtsi32_si128(register as i32),
        _mm_cvtsi32_si128(shift as i32),
    );
    _mm_crc32_u64(0, _mm_cvtsi128_si64(product) as u64) as u32
}

/// `lane` folded on by the multipliers `k` (see [`fold_by`]).
#[target_feature(enable = "pclmulqdq,sse2")]
fn fold_lane(lane: __m128i, k: [i64; 2]) -> __m128i {
    let k = _mm_set_epi64x(k[1], k[0]);
    _mm_xor_si128(
        _mm_clmulepi64_si128::<0x00>(lane, k),
        _mm_clmulepi64_si128::<0x11>(lane, k),
    )
}

/// The 32 bytes of register `i` of a folding step.
#[target_feature(enable = "avx")]
fn load(step: &[u8; FOLD_STEP], i: usize) -> __m256i {
    let bytes = &step[32 * i..32 * (i + 1)];
    // SAFETY: `bytes` is 32 readable bytes (the slice above panics otherwise); the load has no
    // alignment requirement.
    unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) }
}
