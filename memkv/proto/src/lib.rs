//! memkv wire protocol, sans-IO.
//!
//! This crate owns everything two memkv peers must agree on byte for byte: the 64-byte frame
//! header, opcodes and status codes, the integrity modes and their tags, the handshake that binds
//! every tag to one connection, and the codecs of each message's control section. It performs no
//! I/O and reads no clock: callers pass bytes in and the current time where it matters, so the
//! server, the client and the fuzzers all drive exactly the same code.
//!
//! A frame is `header (64 B) | ctrl (ctrl_len B) | data (data_len B)`. `ctrl` carries the
//! structured part of a message (keys, lengths, checksums) and `data` carries value bytes, so a
//! value is never copied into an encoding buffer: senders write it straight from where it lives.
//! See `docs/protocol.md` for the full description.

mod auth;
mod clock;
mod codec;
mod header;
pub mod msg;
mod opcode;

pub use auth::{
    AuthKey, AuthKeyError, Integrity, NONCE_LEN, Nonce, ParseIntegrityError, Session, TAG_LEN,
    VerifyError,
};
pub use clock::{ClockDrift, ReplayGuard, check_clock};
pub use codec::{DecodeError, Decoder, Encoder};
pub use header::{FrameError, HEADER_LEN, Header, Limits, MAGIC, VERSION};
pub use opcode::{Opcode, Status};

/// Largest key the protocol carries, in bytes. Longer keys are refused with
/// [`Status::KeyTooLong`]; integrations hash longer identifiers down to a digest.
pub const MAX_KEY_LEN: usize = 512;

/// CRC32C (Castagnoli) of `data`: the end-to-end value checksum and the payload checksum of
/// `checksum` integrity mode.
#[inline]
pub fn crc32c(data: &[u8]) -> u32 {
    ::crc32c::crc32c(data)
}

/// Extends a running CRC32C with more bytes, as if they followed the bytes already summed.
#[inline]
pub fn crc32c_append(crc: u32, data: &[u8]) -> u32 {
    ::crc32c::crc32c_append(crc, data)
}

/// CRC32C of `a ++ b` from the CRC32C of `a`, the CRC32C of `b` and the length of `b`, without
/// reading any bytes: batch frames derive their payload checksum from the per-value checksums.
#[inline]
pub fn crc32c_combine(crc_a: u32, crc_b: u32, len_b: usize) -> u32 {
    ::crc32c::crc32c_combine(crc_a, crc_b, len_b)
}
