//! Deterministic per-key value patterns, and the pre-generated key/value sets a sweep uses.
//!
//! Every value is a sequence of little-endian u64 words `base + i * STEP`, where `base` is
//! derived from the run's seed and the key. Words never repeat inside a value, and two keys (or
//! two seeds) give different bases, so a value served for the wrong key, at the wrong offset, or
//! damaged anywhere does not compare equal. Generation has no serial dependency between words,
//! so it vectorises; so does checking, which regenerates the expected words on the fly.

use std::sync::Arc;

/// Increment between consecutive words of a value (an odd constant: the 64-bit golden ratio).
const STEP: u64 = 0x9E37_79B9_7F4A_7C15;

/// FNV-1a over the key bytes.
fn fnv1a(key: &[u8]) -> u64 {
    key.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// SplitMix64 finaliser: spreads nearby inputs over the whole range.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The first word of `key`'s value under `seed`.
fn base(seed: u64, key: &[u8]) -> u64 {
    splitmix64(seed ^ fnv1a(key))
}

/// Fills `buf` with `key`'s pattern under `seed`.
pub fn fill(seed: u64, key: &[u8], buf: &mut [u8]) {
    let base = base(seed, key);
    let mut chunks = buf.chunks_exact_mut(8);
    let mut word = base;
    for chunk in &mut chunks {
        chunk.copy_from_slice(&word.to_le_bytes());
        word = word.wrapping_add(STEP);
    }
    let tail = chunks.into_remainder();
    let n = tail.len();
    tail.copy_from_slice(&word.to_le_bytes()[..n]);
}

/// `key`'s value of `len` bytes under `seed`.
pub fn generate(seed: u64, key: &[u8], len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    fill(seed, key, &mut v);
    v
}

/// Whether `data` is exactly `key`'s value of `len` bytes under `seed`.
///
/// The expected words are generated on the fly, so only `data` is read: comparing against a
/// pre-generated copy read the copy from memory as well, and ran at half the speed (7.8 against
/// 15 GiB/s for 4 MiB values on a 2-core VM), which the benchmark client's share of the
/// machine paid for every get.
pub fn matches(seed: u64, key: &[u8], len: usize, data: &[u8]) -> bool {
    if data.len() != len {
        return false;
    }
    let mut word = base(seed, key);
    let mut chunks = data.chunks_exact(8);
    let mut diff = 0u64;
    for chunk in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        diff |= u64::from_le_bytes(w) ^ word;
        word = word.wrapping_add(STEP);
    }
    let tail = chunks.remainder();
    diff == 0 && tail == &word.to_le_bytes()[..tail.len()]
}

/// The name of key number `i` (the same names at every value size, so a sweep overwrites
/// instead of accumulating data on the server).
pub fn key_name(i: usize) -> Vec<u8> {
    format!("mkb/{i:08}").into_bytes()
}

/// Keys and their values for one value size: what puts send and what gets are checked
/// against. Shared by every task of a cell.
#[derive(Debug)]
pub struct ValueSet {
    /// Value length in bytes.
    pub size: usize,
    /// Key names.
    pub keys: Vec<Vec<u8>>,
    /// Values written, `values[i]` under `keys[i]` (pattern of the write seed).
    pub values: Vec<Vec<u8>>,
    /// The seed reads are checked against.
    verify_seed: u64,
}

impl ValueSet {
    /// Generates `count` keys of `size`-byte values written under `seed` and checked against
    /// `verify_seed`.
    pub fn new(size: usize, count: usize, seed: u64, verify_seed: u64) -> Arc<ValueSet> {
        let keys: Vec<Vec<u8>> = (0..count).map(key_name).collect();
        let values = keys.iter().map(|k| generate(seed, k, size)).collect();
        Arc::new(ValueSet {
            size,
            keys,
            values,
            verify_seed,
        })
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set has no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether `got` is exactly what a read of key `i` must return.
    pub fn is_expected(&self, i: usize, got: &[u8]) -> bool {
        matches(self.verify_seed, &self.keys[i], self.size, got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_values_match_and_other_keys_or_seeds_do_not() {
        for len in [0usize, 1, 7, 8, 9, 4096, 4099] {
            let v = generate(7, b"a", len);
            assert!(matches(7, b"a", len, &v), "len {len}");
            if len >= 8 {
                assert!(!matches(7, b"b", len, &v), "other key, len {len}");
                assert!(!matches(8, b"a", len, &v), "other seed, len {len}");
                let mut damaged = v.clone();
                damaged[len / 2] ^= 1;
                assert!(!matches(7, b"a", len, &damaged), "flipped bit, len {len}");
            }
            assert!(!matches(7, b"a", len + 1, &v), "short value");
        }
    }

    #[test]
    fn words_do_not_repeat_inside_a_value() {
        let v = generate(1, b"k", 64 * 1024);
        let mut words: Vec<&[u8]> = v.chunks_exact(8).collect();
        words.sort_unstable();
        words.dedup();
        assert_eq!(words.len(), 8 * 1024);
    }

    #[test]
    fn value_set_expects_the_verify_seed() {
        let same = ValueSet::new(64, 3, 1, 1);
        assert!(same.is_expected(2, &same.values[2]));
        assert!(!same.is_expected(1, &same.values[2]), "another key's value");
        let other = ValueSet::new(64, 3, 1, 2);
        assert!(!other.is_expected(2, &other.values[2]));
        assert!(other.is_expected(2, &generate(2, &other.keys[2], 64)));
    }
}
