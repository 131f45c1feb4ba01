//! POLYVAL on x86-64 with VPCLMULQDQ: 32 blocks per reduction, on 512-bit registers (AVX-512)
//! or on 256-bit ones (AVX2: AMD Zen 3, Intel client cores without AVX-512).
//!
//! POLYVAL's step is `S = dot(S ^ X, H)` with `dot(a, b) = a * b * x^-128` in GF(2^128)
//! (RFC 8452). `dot` is bilinear, so 32 steps are one sum:
//! `S' = dot(S ^ X_0, H^32) ^ dot(X_1, H^31) ^ ... ^ dot(X_31, H^1)`, where `H^1 = H` and
//! `H^(i+1) = dot(H^i, H)`. The kernel multiplies four blocks per instruction (one per 128-bit
//! lane of a 512-bit register; two with AVX2) without reducing, sums the 256-bit products, and
//! reduces once. Each product takes three multiplications (Karatsuba). On 512-bit registers the
//! sums are kept in two sets so that no long chain of dependent additions holds up the next run
//! (see [`Sums512`]). The 256-bit kernel keeps one set: the CPUs that run it (AVX2 without
//! AVX-512) are held back by the multiplications themselves. On an AMD Zen 3 guest, where
//! VPCLMULQDQ on 256-bit registers issues about every other cycle, three multiplications instead
//! of four hashed 14.7-15.0 GiB/s in cache against 11.1-11.3 (on a Zen 4 guest, which runs the
//! 512-bit kernel, the 256-bit one had measured 13.0-13.1 against 13.3 with the change).
//! Fewer than 32 blocks left (`r` of them) are summed the same way against `H^r..H^1`.

use std::arch::x86_64::{
    __m128i, __m256i, __m512i, _MM_PERM_BADC, _mm_clmulepi64_si128, _mm_loadu_si128,
    _mm_set_epi64x, _mm_setzero_si128, _mm_shuffle_epi32, _mm_slli_si128, _mm_srli_si128,
    _mm_storeu_si128, _mm_xor_si128, _mm256_bslli_epi128, _mm256_bsrli_epi128,
    _mm256_castsi256_si128, _mm256_clmulepi64_epi128, _mm256_extracti128_si256, _mm256_loadu_si256,
    _mm256_setzero_si256, _mm256_shuffle_epi32, _mm256_xor_si256, _mm256_zextsi128_si256,
    _mm512_bslli_epi128, _mm512_bsrli_epi128, _mm512_castsi512_si256, _mm512_clmulepi64_epi128,
    _mm512_extracti64x4_epi64, _mm512_loadu_si512, _mm512_setzero_si512, _mm512_shuffle_epi32,
    _mm512_xor_si512, _mm512_zextsi128_si512,
};

use super::BLOCK;

/// Blocks hashed per reduction.
const WIDE: usize = 32;

/// The SIMD width a [`WideKeys`] runs at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// 512-bit registers: AVX-512 F and BW with VPCLMULQDQ.
    Avx512,
    /// 256-bit registers: AVX2 with VPCLMULQDQ.
    Avx2,
}

impl Kernel {
    /// Whether this CPU has every feature the kernel enables.
    fn detected(self) -> bool {
        let common = std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("vpclmulqdq")
            && std::arch::is_x86_feature_detected!("pclmulqdq");
        match self {
            Kernel::Avx512 => {
                common
                    && std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
            }
            Kernel::Avx2 => common,
        }
    }

    /// Its name in [`crate::MacKey::kernel`].
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kernel::Avx512 => "avx512-vpclmulqdq",
            Kernel::Avx2 => "avx2-vpclmulqdq",
        }
    }
}

/// `H^32, H^31, ..., H^1`: the multiplier of each block of a run of 32, in block order; and the
/// kernel that uses them.
pub(crate) struct WideKeys {
    powers: [[u8; BLOCK]; WIDE],
    kernel: Kernel,
}

impl WideKeys {
    /// The powers of `h` for the widest kernel this CPU can run, if any.
    pub(crate) fn new(h: &[u8; BLOCK]) -> Option<WideKeys> {
        [Kernel::Avx512, Kernel::Avx2]
            .into_iter()
            .find_map(|kernel| WideKeys::with_kernel(h, kernel))
    }

    /// The powers of `h` for `kernel`, if this CPU can run it.
    pub(crate) fn with_kernel(h: &[u8; BLOCK], kernel: Kernel) -> Option<WideKeys> {
        if !kernel.detected() {
            return None;
        }
        let mut powers = [[0u8; BLOCK]; WIDE];
        powers[WIDE - 1] = *h;
        for i in (0..WIDE - 1).rev() {
            // SAFETY: PCLMULQDQ (and SSE2, part of x86-64) were detected above.
            powers[i] = unsafe { dot_bytes(&powers[i + 1], h) };
        }
        Some(WideKeys { powers, kernel })
    }

    pub(crate) fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// POLYVAL's accumulator after `blocks` (a whole number of blocks) from `acc`.
    pub(crate) fn absorb(&self, acc: [u8; BLOCK], blocks: &[u8]) -> [u8; BLOCK] {
        assert_eq!(blocks.len() % BLOCK, 0, "POLYVAL hashes whole blocks");
        match self.kernel {
            // SAFETY: a `WideKeys` exists only where `with_kernel` detected every feature its
            // kernel enables.
            Kernel::Avx512 => unsafe { absorb(&self.powers, acc, blocks) },
            // SAFETY: as above.
            Kernel::Avx2 => unsafe { absorb_avx2(&self.powers, acc, blocks) },
        }
    }
}

/// `dot(a, b)` of two blocks in memory.
#[target_feature(enable = "pclmulqdq,sse2")]
fn dot_bytes(a: &[u8; BLOCK], b: &[u8; BLOCK]) -> [u8; BLOCK] {
    store(dot(load(a), load(b)))
}

#[target_feature(enable = "sse2")]
fn load(b: &[u8; BLOCK]) -> __m128i {
    // SAFETY: `b` is 16 readable bytes; the load has no alignment requirement.
    unsafe { _mm_loadu_si128(b.as_ptr().cast()) }
}

#[target_feature(enable = "sse2")]
fn store(v: __m128i) -> [u8; BLOCK] {
    let mut out = [0u8; BLOCK];
    // SAFETY: `out` is 16 writable bytes; the store has no alignment requirement.
    unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), v) };
    out
}

/// `lo ^ hi * x^128`, a 256-bit carry-less product, times `x^-128` modulo POLYVAL's
/// polynomial `x^128 + x^127 + x^126 + x^121 + 1` (two folds by its low terms, Montgomery
/// style).
#[target_feature(enable = "pclmulqdq,sse2")]
fn reduce(lo: __m128i, hi: __m128i) -> __m128i {
    let poly = _mm_set_epi64x(0xc200_0000_0000_0000_u64 as i64, 1);
    let t = _mm_clmulepi64_si128::<0x10>(lo, poly);
    let lo = _mm_xor_si128(_mm_shuffle_epi32::<0x4e>(lo), t);
    let t = _mm_clmulepi64_si128::<0x10>(lo, poly);
    let lo = _mm_xor_si128(_mm_shuffle_epi32::<0x4e>(lo), t);
    _mm_xor_si128(lo, hi)
}

/// `dot(a, b) = a * b * x^-128`.
#[target_feature(enable = "pclmulqdq,sse2")]
fn dot(a: __m128i, b: __m128i) -> __m128i {
    let (mut lo, mut hi) = (_mm_setzero_si128(), _mm_setzero_si128());
    mul_add(&mut lo, &mut hi, a, b);
    reduce(lo, hi)
}

/// Adds the 256-bit carry-less product `x * k` to `lo` (its low half) and `hi` (its high half).
#[target_feature(enable = "pclmulqdq,sse2")]
fn mul_add(lo: &mut __m128i, hi: &mut __m128i, x: __m128i, k: __m128i) {
    *lo = _mm_xor_si128(*lo, _mm_clmulepi64_si128::<0x00>(x, k));
    *hi = _mm_xor_si128(*hi, _mm_clmulepi64_si128::<0x11>(x, k));
    let m = _mm_xor_si128(
        _mm_clmulepi64_si128::<0x01>(x, k),
        _mm_clmulepi64_si128::<0x10>(x, k),
    );
    *lo = _mm_xor_si128(*lo, _mm_slli_si128::<8>(m));
    *hi = _mm_xor_si128(*hi, _mm_srli_si128::<8>(m));
}

/// The four 128-bit lanes of `z`, summed.
#[target_feature(enable = "avx512f,avx2")]
fn fold(z: __m512i) -> __m128i {
    let y = _mm256_xor_si256(_mm512_castsi512_si256(z), _mm512_extracti64x4_epi64::<1>(z));
    _mm_xor_si128(_mm256_castsi256_si128(y), _mm256_extracti128_si256::<1>(y))
}

#[target_feature(enable = "avx512f")]
fn load4(bytes: &[u8]) -> __m512i {
    assert!(bytes.len() >= 64);
    // SAFETY: at least 64 readable bytes (asserted); the load has no alignment requirement.
    unsafe { _mm512_loadu_si512(bytes.as_ptr().cast()) }
}

#[target_feature(enable = "avx512f,avx512bw,avx2,vpclmulqdq,pclmulqdq,sse2")]
fn absorb(powers: &[[u8; BLOCK]; WIDE], acc: [u8; BLOCK], blocks: &[u8]) -> [u8; BLOCK] {
    let flat = powers.as_flattened();
    let zero = _mm512_setzero_si512();
    let mut keys = [Key512 {
        k: zero,
        halves: zero,
    }; WIDE / 4];
    for (m, k) in keys.iter_mut().enumerate() {
        *k = Key512::new(load4(&flat[m * 64..]));
    }
    let mut acc = load(&acc);
    let mut runs = blocks.chunks_exact(WIDE * BLOCK);
    for run in &mut runs {
        // Two sets of sums, even and odd quads, halve the chains of dependent additions; the
        // first quad, which carries the previous run's reduced sum, goes in last, so that the
        // other products of this run need not wait for that reduction.
        let mut even = Sums512::new();
        let mut odd = Sums512::new();
        for (m, k) in keys.iter().enumerate().skip(1) {
            let sums = if m % 2 == 0 { &mut even } else { &mut odd };
            sums.add(load4(&run[m * 64..]), k);
        }
        even.add(
            _mm512_xor_si512(load4(run), _mm512_zextsi128_si512(acc)),
            &keys[0],
        );
        let (lo, hi) = even.merge(odd).fold();
        acc = reduce(lo, hi);
    }
    let rest = runs.remainder();
    if !rest.is_empty() {
        acc = absorb_short(flat, acc, rest);
    }
    store(acc)
}

/// Four multipliers (one per 128-bit lane) and, for Karatsuba's middle product, each lane's two
/// 64-bit halves summed.
#[derive(Clone, Copy)]
struct Key512 {
    k: __m512i,
    halves: __m512i,
}

impl Key512 {
    #[target_feature(enable = "avx512f")]
    fn new(k: __m512i) -> Key512 {
        Key512 {
            k,
            halves: halves_summed(k),
        }
    }
}

/// Each 128-bit lane of `x` with its two 64-bit halves summed, in the low half (the only one
/// the middle product reads).
#[target_feature(enable = "avx512f")]
fn halves_summed(x: __m512i) -> __m512i {
    _mm512_xor_si512(x, _mm512_shuffle_epi32::<_MM_PERM_BADC>(x))
}

/// Sums of products of data and keys, lane by lane, without reduction, by Karatsuba: three
/// multiplications per product instead of four, the third `(d_lo ^ d_hi) * (k_lo ^ k_hi)`,
/// from which the sums of the low and the high products are taken once, after the last (every
/// sum is linear). With a quarter fewer multiplications and the sums split in two (see
/// [`absorb`]), a 2-core AMD Zen 4 guest hashed 512 KiB from L2 at 26 GiB/s against 23
/// (fastest of 3,000 each, alternating binaries).
#[derive(Clone, Copy)]
struct Sums512 {
    lo: __m512i,
    hi: __m512i,
    mid: __m512i,
}

impl Sums512 {
    #[target_feature(enable = "avx512f")]
    fn new() -> Sums512 {
        Sums512 {
            lo: _mm512_setzero_si512(),
            hi: _mm512_setzero_si512(),
            mid: _mm512_setzero_si512(),
        }
    }

    /// Adds the product of `d` and `key`, lane by lane.
    #[target_feature(enable = "avx512f,vpclmulqdq")]
    fn add(&mut self, d: __m512i, key: &Key512) {
        self.lo = _mm512_xor_si512(self.lo, _mm512_clmulepi64_epi128::<0x00>(d, key.k));
        self.hi = _mm512_xor_si512(self.hi, _mm512_clmulepi64_epi128::<0x11>(d, key.k));
        let mid = _mm512_clmulepi64_epi128::<0x00>(halves_summed(d), key.halves);
        self.mid = _mm512_xor_si512(self.mid, mid);
    }

    #[target_feature(enable = "avx512f")]
    fn merge(self, other: Sums512) -> Sums512 {
        Sums512 {
            lo: _mm512_xor_si512(self.lo, other.lo),
            hi: _mm512_xor_si512(self.hi, other.hi),
            mid: _mm512_xor_si512(self.mid, other.mid),
        }
    }

    /// The sums of all four lanes, as a low and a high 128-bit half.
    #[target_feature(enable = "avx512f,avx512bw,avx2")]
    fn fold(self) -> (__m128i, __m128i) {
        let mid = _mm512_xor_si512(self.mid, _mm512_xor_si512(self.lo, self.hi));
        let lo = _mm512_xor_si512(self.lo, _mm512_bslli_epi128::<8>(mid));
        let hi = _mm512_xor_si512(self.hi, _mm512_bsrli_epi128::<8>(mid));
        (fold(lo), fold(hi))
    }
}

/// [`absorb`] of fewer than [`WIDE`] blocks: one sum against the last `r` powers (`H^r..H^1`),
/// four blocks per multiplication while four are left, then one, and one reduction. (One step
/// per block instead made a chain of dependent multiplications: 4 KiB values fed after a
/// header of any length left 31 blocks to each of them.)
#[target_feature(enable = "avx512f,avx512bw,avx2,vpclmulqdq,pclmulqdq,sse2")]
fn absorb_short(flat: &[u8], acc: __m128i, rest: &[u8]) -> __m128i {
    let r = rest.len() / BLOCK;
    debug_assert!(r > 0 && r < WIDE && rest.len().is_multiple_of(BLOCK));
    let keys = &flat[(WIDE - r) * BLOCK..];
    let quads = r / 4;
    let mut sums = Sums512::new();
    for m in 0..quads {
        let mut d = load4(&rest[m * 64..]);
        if m == 0 {
            d = _mm512_xor_si512(d, _mm512_zextsi128_si512(acc));
        }
        sums.add(d, &Key512::new(load4(&keys[m * 64..])));
    }
    let (mut lo, mut hi) = sums.fold();
    for j in quads * 4..r {
        let mut x = load(rest[j * BLOCK..].first_chunk().expect("a whole block"));
        if j == 0 {
            x = _mm_xor_si128(x, acc);
        }
        let k = load(keys[j * BLOCK..].first_chunk().expect("a whole block"));
        mul_add(&mut lo, &mut hi, x, k);
    }
    reduce(lo, hi)
}

/// The two 128-bit lanes of `y`, summed.
#[target_feature(enable = "avx2")]
fn fold2(y: __m256i) -> __m128i {
    _mm_xor_si128(_mm256_castsi256_si128(y), _mm256_extracti128_si256::<1>(y))
}

#[target_feature(enable = "avx")]
fn load2(bytes: &[u8]) -> __m256i {
    assert!(bytes.len() >= 32);
    // SAFETY: at least 32 readable bytes (asserted); the load has no alignment requirement.
    unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) }
}

/// Sums of products of `d` and `k`, lane by lane, without reduction: three multiplications per
/// product (Karatsuba), the middle term's sum corrected once in [`Sums256::fold`].
#[derive(Clone, Copy)]
struct Sums256 {
    lo: __m256i,
    hi: __m256i,
    /// The sum of `(d.lo + d.hi) * (k.lo + k.hi)`: the middle terms plus `lo` and `hi`.
    mid: __m256i,
}

impl Sums256 {
    #[target_feature(enable = "avx2")]
    fn new() -> Sums256 {
        Sums256 {
            lo: _mm256_setzero_si256(),
            hi: _mm256_setzero_si256(),
            mid: _mm256_setzero_si256(),
        }
    }

    #[target_feature(enable = "avx2,vpclmulqdq")]
    fn add(&mut self, d: __m256i, k: __m256i) {
        self.lo = _mm256_xor_si256(self.lo, _mm256_clmulepi64_epi128::<0x00>(d, k));
        self.hi = _mm256_xor_si256(self.hi, _mm256_clmulepi64_epi128::<0x11>(d, k));
        // Each lane's halves summed, in its low half (the shuffle swaps a lane's halves).
        let d_halves = _mm256_xor_si256(d, _mm256_shuffle_epi32::<0x4e>(d));
        let k_halves = _mm256_xor_si256(k, _mm256_shuffle_epi32::<0x4e>(k));
        self.mid = _mm256_xor_si256(
            self.mid,
            _mm256_clmulepi64_epi128::<0x00>(d_halves, k_halves),
        );
    }

    /// The sums of both lanes, as a low and a high 128-bit half.
    #[target_feature(enable = "avx2")]
    fn fold(self) -> (__m128i, __m128i) {
        let mid = _mm256_xor_si256(self.mid, _mm256_xor_si256(self.lo, self.hi));
        let lo = _mm256_xor_si256(self.lo, _mm256_bslli_epi128::<8>(mid));
        let hi = _mm256_xor_si256(self.hi, _mm256_bsrli_epi128::<8>(mid));
        (fold2(lo), fold2(hi))
    }
}

/// [`absorb`] on 256-bit registers: two blocks per multiplication.
#[target_feature(enable = "avx2,vpclmulqdq,pclmulqdq,sse2")]
fn absorb_avx2(powers: &[[u8; BLOCK]; WIDE], acc: [u8; BLOCK], blocks: &[u8]) -> [u8; BLOCK] {
    let flat = powers.as_flattened();
    let mut acc = load(&acc);
    let mut runs = blocks.chunks_exact(WIDE * BLOCK);
    for run in &mut runs {
        let mut sums = Sums256::new();
        for m in 0..WIDE / 2 {
            let mut d = load2(&run[m * 32..]);
            if m == 0 {
                d = _mm256_xor_si256(d, _mm256_zextsi128_si256(acc));
            }
            sums.add(d, load2(&flat[m * 32..]));
        }
        let (lo, hi) = sums.fold();
        acc = reduce(lo, hi);
    }
    let rest = runs.remainder();
    if !rest.is_empty() {
        // Fewer than 32 blocks: against `H^r..H^1`, two at a time, then one.
        let r = rest.len() / BLOCK;
        let keys = &flat[(WIDE - r) * BLOCK..];
        let pairs = r / 2;
        let mut sums = Sums256::new();
        for m in 0..pairs {
            let mut d = load2(&rest[m * 32..]);
            if m == 0 {
                d = _mm256_xor_si256(d, _mm256_zextsi128_si256(acc));
            }
            sums.add(d, load2(&keys[m * 32..]));
        }
        let (mut lo, mut hi) = sums.fold();
        if r % 2 == 1 {
            let j = r - 1;
            let mut x = load(rest[j * BLOCK..].first_chunk().expect("a whole block"));
            if j == 0 {
                x = _mm_xor_si128(x, acc);
            }
            let k = load(keys[j * BLOCK..].first_chunk().expect("a whole block"));
            mul_add(&mut lo, &mut hi, x, k);
        }
        acc = reduce(lo, hi);
    }
    store(acc)
}
