//! Arithmetic modulo the CRC32C polynomial, bit-reflected as the CRC itself is.

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
pub(crate) fn mul(a: u32, b: u32) -> u32 {
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
pub(crate) fn x_pow_8n(mut n: u64) -> u32 {
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

/// `x^n` modulo the polynomial, at compile time: the constants of the carry-less kernel.
#[cfg_attr(
    not(target_arch = "x86_64"),
    allow(dead_code, reason = "only the x86-64 kernel has such constants")
)]
pub(crate) const fn x_pow(mut n: u64) -> u32 {
    let mut p = ONE;
    let mut square = ONE >> 1; // x^1
    while n != 0 {
        if n & 1 != 0 {
            p = mul_bitwise(p, square);
        }
        square = mul_bitwise(square, square);
        n >>= 1;
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
    fn compile_time_powers_agree_with_the_run_time_ones() {
        for n in [
            0u64,
            1,
            2,
            3,
            4,
            5,
            17,
            2_176,
            17_408,
            1 << 20,
            u64::from(u32::MAX),
        ] {
            assert_eq!(x_pow(8 * n), x_pow_8n(n), "x^(8 * {n})");
        }
        assert_eq!(x_pow(0), ONE);
        assert_eq!(x_pow(1), ONE >> 1);
        assert_eq!(x_pow(33), times_x(x_pow(32)));
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
