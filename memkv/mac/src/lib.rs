//! memkv's frame MAC: a message hashed with POLYVAL, the hash encrypted with AES-256.
//!
//! ```text
//! H = BLAKE3.derive_key("memkv frame mac v1 polyval", k)[0..16]
//! K = BLAKE3.derive_key("memkv frame mac v1 aes-256", k)
//! tag(M) = AES-256_K( POLYVAL_H( M ‖ 0^p ‖ le64(|M|) ‖ le64(0) ) )
//! ```
//!
//! `k` is a connection's 32-byte session key, `0^p` pads `M` to a whole number of 16-byte
//! blocks, and `|M|` is its length in bytes. POLYVAL (RFC 8452) is a polynomial hash over
//! GF(2^128): two different messages of at most `n` blocks collide for at most `n + 1` of the
//! 2^128 keys `H`, and the length block makes the padding unambiguous. AES-256 under a key of
//! its own then turns that hash into a pseudorandom tag (a "hash, then PRF" MAC): nothing about
//! `H` leaks through the tags, and unlike GMAC there is no nonce to get wrong. A forgery tried
//! after `q` tags were seen succeeds with probability about `q * (n + 1) / 2^128` (n: blocks of
//! the longest message) plus AES's distinguishing advantage (docs/protocol.md).
//!
//! Why not keyed BLAKE3, which memkv used before: a MAC over every byte on both ends is the
//! default integrity mode's whole cost above a bare transfer. POLYVAL is one carry-less
//! multiplication per 16 bytes; with VPCLMULQDQ (on AVX-512 or AVX2 registers), [`Mac::update`]
//! hashes 32 blocks per reduction, several times BLAKE3's speed on the same core
//! (docs/protocol.md). Where neither kernel can run, the `polyval` crate's own code does
//! (PCLMULQDQ, ARMv8 PMULL or constant-time software), with the same result.
//!
//! ```
//! use memkv_mac::{Mac, MacKey};
//!
//! let key = MacKey::derive(&[7; 32]);
//! let mut mac = Mac::new(&key);
//! mac.update(b"header ");
//! let header_tag = mac.tag();
//! mac.update(b"and data");
//! let mut whole = Mac::new(&key);
//! whole.update(b"header and data");
//! assert_eq!(mac.tag(), whole.tag());
//! assert_ne!(mac.tag(), header_tag);
//! ```

use std::fmt;
use std::sync::Arc;

use aes::Aes256Enc;
use aes::cipher::{BlockEncrypt, KeyInit};
use polyval::Polyval;
use polyval::universal_hash::UniversalHash;

// The only unsafe code of the crate: SIMD intrinsics behind a safe API.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86;

/// Bytes of a POLYVAL block.
const BLOCK: usize = 16;

/// Bytes of a tag.
pub const TAG_LEN: usize = 16;

/// Bytes of a digest ([`Mac::digest`]).
pub const DIGEST_LEN: usize = BLOCK;

const POLYVAL_CONTEXT: &str = "memkv frame mac v1 polyval";
const AES_CONTEXT: &str = "memkv frame mac v1 aes-256";

/// The keys of one session's MACs, derived once and shared by every [`Mac`] made from them
/// (cloning is cheap).
#[derive(Clone)]
pub struct MacKey(Arc<Keys>);

struct Keys {
    h: [u8; BLOCK],
    aes: Aes256Enc,
    /// Powers of `H` for a VPCLMULQDQ kernel, where the CPU has one.
    #[cfg(target_arch = "x86_64")]
    wide: Option<x86::WideKeys>,
}

impl MacKey {
    /// The MAC keys of the 32-byte key `key`.
    pub fn derive(key: &[u8; 32]) -> MacKey {
        let mut h = [0u8; BLOCK];
        h.copy_from_slice(&blake3::derive_key(POLYVAL_CONTEXT, key)[..BLOCK]);
        let aes_key = blake3::derive_key(AES_CONTEXT, key);
        MacKey(Arc::new(Keys {
            h,
            aes: Aes256Enc::new(&aes_key.into()),
            #[cfg(target_arch = "x86_64")]
            wide: x86::WideKeys::new(&h),
        }))
    }

    /// Which POLYVAL code runs: `"avx512-vpclmulqdq"`, `"avx2-vpclmulqdq"` or
    /// `"polyval-crate"`.
    pub fn kernel(&self) -> &'static str {
        #[cfg(target_arch = "x86_64")]
        if let Some(wide) = &self.0.wide {
            return wide.kernel().name();
        }
        "polyval-crate"
    }
}

impl fmt::Debug for MacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MacKey")
            .field("kernel", &self.kernel())
            .finish_non_exhaustive()
    }
}

/// The running MAC of a message fed piece by piece.
#[derive(Clone)]
pub struct Mac {
    key: MacKey,
    state: State,
    /// Bytes fed that do not fill a block yet.
    partial: [u8; BLOCK],
    partial_len: usize,
    len: u64,
}

#[derive(Clone)]
enum State {
    /// The POLYVAL accumulator of a VPCLMULQDQ kernel.
    #[cfg(target_arch = "x86_64")]
    Wide([u8; BLOCK]),
    Portable(Box<Polyval>),
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mac")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl Mac {
    /// A MAC of the empty message so far.
    pub fn new(key: &MacKey) -> Mac {
        Mac {
            key: key.clone(),
            state: State::empty(&key.0),
            partial: [0; BLOCK],
            partial_len: 0,
            len: 0,
        }
    }

    /// Forgets the bytes fed: the MAC of the empty message again, under the same key (cheaper
    /// than [`Mac::new`] for one message after another).
    pub fn reset(&mut self) {
        self.state = State::empty(&self.key.0);
        self.partial_len = 0;
        self.len = 0;
    }

    /// Feeds the next bytes of the message.
    pub fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if self.partial_len > 0 {
            let n = (BLOCK - self.partial_len).min(data.len());
            self.partial[self.partial_len..self.partial_len + n].copy_from_slice(&data[..n]);
            self.partial_len += n;
            data = &data[n..];
            if self.partial_len < BLOCK {
                return;
            }
            let block = self.partial;
            self.absorb(&block);
            self.partial_len = 0;
        }
        let whole = data.len() / BLOCK * BLOCK;
        if whole > 0 {
            self.absorb(&data[..whole]);
        }
        let rest = &data[whole..];
        self.partial[..rest.len()].copy_from_slice(rest);
        self.partial_len = rest.len();
    }

    /// The tag of the bytes fed so far; the MAC goes on from where it was.
    pub fn tag(&self) -> [u8; TAG_LEN] {
        let mut block = self.digest().into();
        self.key.0.aes.encrypt_block(&mut block);
        block.into()
    }

    /// The POLYVAL hash of the bytes fed so far and their length, `POLYVAL_H(M ‖ 0^p ‖
    /// le64(|M|) ‖ le64(0))`: the tag before its encryption. Not a MAC: it is linear in the
    /// message and reveals `H` to whoever sees it next to its message, so it may only be hashed
    /// again under a MAC whose output alone is seen (a value's digest inside a frame's data tag,
    /// docs/protocol.md). Two different messages of at most `n` blocks have the same digest for
    /// at most `n + 1` of the 2^128 keys `H`.
    pub fn digest(&self) -> [u8; DIGEST_LEN] {
        let mut tail = [0u8; 2 * BLOCK];
        let padded = if self.partial_len > 0 {
            tail[..self.partial_len].copy_from_slice(&self.partial[..self.partial_len]);
            BLOCK
        } else {
            0
        };
        tail[padded..padded + 8].copy_from_slice(&self.len.to_le_bytes());
        let tail = &tail[..padded + BLOCK];
        let mut state = self.state.clone();
        state.absorb(&self.key.0, tail);
        state.hash()
    }

    /// Hashes whole blocks.
    fn absorb(&mut self, blocks: &[u8]) {
        self.state.absorb(&self.key.0, blocks);
    }
}

impl State {
    /// The state of no blocks, for the fastest code `keys` allow.
    fn empty(keys: &Keys) -> State {
        #[cfg(target_arch = "x86_64")]
        if keys.wide.is_some() {
            return State::Wide([0; BLOCK]);
        }
        State::Portable(Box::new(Polyval::new(&keys.h.into())))
    }

    /// Hashes whole blocks.
    fn absorb(&mut self, keys: &Keys, blocks: &[u8]) {
        debug_assert_eq!(blocks.len() % BLOCK, 0);
        match self {
            #[cfg(target_arch = "x86_64")]
            State::Wide(acc) => {
                let wide = keys.wide.as_ref().expect("a wide state has wide keys");
                *acc = wide.absorb(*acc, blocks);
            }
            State::Portable(p) => p.update_padded(blocks),
        }
    }

    /// POLYVAL of the blocks hashed.
    fn hash(self) -> [u8; BLOCK] {
        match self {
            #[cfg(target_arch = "x86_64")]
            State::Wide(acc) => acc,
            State::Portable(p) => p.finalize().into(),
        }
    }
}

/// The tag of `message` under `key`, at once.
pub fn tag(key: &MacKey, message: &[u8]) -> [u8; TAG_LEN] {
    let mut mac = Mac::new(key);
    mac.update(message);
    mac.tag()
}

#[cfg(test)]
mod tests;
